//! Causal checks of what the attention analysis claims: in-silico motif ablation
//! (epistasis of a pair), spacing scans, head ablation, and activation patching.
//!
//! Co-attention is a correlation; these experiments ask the model itself. The core
//! functions take any batch predictor `Fn(&[Vec<u8>]) -> Result<Vec<f64>>` (one number
//! per sequence), so they are tested against closed-form toy predictors and run on a
//! [`Model`] through [`model_predictor`]. Every random draw comes from a ChaCha8 stream
//! keyed by (seed, pair, sequence, draw) and batches have a fixed composition, so the
//! results are the same bytes whatever the thread count.
//!
//! ```
//! use cisformer::analysis::Site;
//! use cisformer::validate::{AblationConfig, AblationSet};
//! // f = 1·[A] + 2·[B] + 3·[A∧B], with A = "AAAA" and B = "CCCC" present when intact.
//! let f = |seqs: &[Vec<u8>]| -> cisformer::Result<Vec<f64>> {
//!     Ok(seqs.iter().map(|s| {
//!         let a = s.windows(4).any(|w| w == b"AAAA") as u8 as f64;
//!         let b = s.windows(4).any(|w| w == b"CCCC") as u8 as f64;
//!         a + 2.0 * b + 3.0 * a * b
//!     }).collect())
//! };
//! let seq = b"GTGTAAAAGTGTCCCCGTGT".to_vec();
//! let sites = vec![Site { motif: 0, start: 4, end: 8, plus: true },
//!                  Site { motif: 1, start: 12, end: 16, plus: true }];
//! // Replacement bases drawn from G and T only, so an ablated site never rebuilds AAAA
//! // or CCCC (by default they follow each sequence's own composition).
//! let cfg = AblationConfig { background: Some([0.0, 0.0, 0.5, 0.5]), ..AblationConfig::default() };
//! let set = AblationSet::build(&[seq.as_slice()], &[sites], 0, 1, &cfg);
//! let r = set.score(&f, 8).unwrap();
//! assert_eq!(r.n_seqs, 1);
//! assert!((r.epistasis - 3.0).abs() < 1e-12);
//! ```
pub mod ablation;
pub mod causal;
pub mod concordance;
pub mod patch;
pub mod spacing;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

pub use ablation::{Ablation, AblationConfig, AblationSet, pair_sites};
pub use concordance::{
    ConcordanceRow, PairCandidate, ValidateConfig, Verdict, decide, find_motif, read_candidates,
    spearman, validate_pair, write_concordance_tsv, write_spacing_tsv,
};
pub use patch::{PatchRow, patch_heads, write_patch_tsv};
pub use spacing::{
    SpacingConfig, SpacingCurve, SpacingPoint, consensus, observed_max_gap, scan_max_gap,
    spacing_scan,
};

use crate::model::{ForwardOptions, Meta, Model, Task};
use crate::{Error, Result};

/// How one model output becomes the number the experiments compare: regression outputs
/// on the label scale (z-score undone), binary outputs as logits (additive effects are
/// natural there; probabilities saturate).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Readout {
    pub output: usize,
    scale: f64,
    offset: f64,
}

impl Readout {
    /// The readout of output `output` of `model` (an error when it has no such output).
    pub fn new(model: &Model, meta: &Meta, output: usize) -> Result<Readout> {
        let cfg = model.config();
        if output >= cfg.n_outputs {
            return Err(Error::NoSuchOutput {
                output,
                n_outputs: cfg.n_outputs,
            });
        }
        let (scale, offset) = match (cfg.task, meta.normalization.get(output)) {
            (Task::Binary, _) | (_, None) => (1.0, 0.0),
            (_, Some(n)) => (n.std, n.mean),
        };
        Ok(Readout {
            output,
            scale,
            offset,
        })
    }

    /// The value of one sequence's raw output row.
    pub fn apply(&self, row: &[f32]) -> f64 {
        f64::from(row[self.output]) * self.scale + self.offset
    }
}

/// A predictor over `model`'s output `readout` (one forward pass per call, no gradients).
pub fn model_predictor(
    model: &Model,
    readout: Readout,
) -> impl Fn(&[Vec<u8>]) -> Result<Vec<f64>> + Sync + '_ {
    move |seqs: &[Vec<u8>]| {
        let tok = model.tokenizer();
        let ids: Vec<Vec<u32>> = seqs.iter().map(|s| tok.encode(s)).collect();
        let out = model.forward(&ids, &ForwardOptions::default())?;
        Ok(out.output.iter().map(|r| readout.apply(r)).collect())
    }
}

/// Runs `predict` over `seqs` in chunks of `batch` (in parallel; the chunks are fixed by
/// `batch` alone, so results do not depend on the thread count).
pub fn predict_all<F>(seqs: &[Vec<u8>], batch: usize, predict: &F) -> Result<Vec<f64>>
where
    F: Fn(&[Vec<u8>]) -> Result<Vec<f64>> + Sync,
{
    let parts: Vec<Vec<f64>> = seqs
        .par_chunks(batch.max(1))
        .map(|c| {
            let v = predict(c)?;
            if v.len() != c.len() {
                return Err(Error::Invalid(format!(
                    "predictor returned {} values for {} sequences",
                    v.len(),
                    c.len()
                )));
            }
            Ok(v)
        })
        .collect::<Result<_>>()?;
    Ok(parts.concat())
}

/// A random stream for one (seed, key...) tuple: SplitMix64 over the key, so nearby
/// keys give unrelated streams.
pub(crate) fn keyed_rng(seed: u64, key: &[u64]) -> ChaCha8Rng {
    let mut h = splitmix(seed ^ 0x6a09_e667_f3bc_c908);
    for &k in key {
        h = splitmix(h ^ k);
    }
    ChaCha8Rng::seed_from_u64(h)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Base frequencies (A, C, G, T) of `seqs`, with a pseudocount of one per base so a
/// missing base stays possible; non-ACGT letters are ignored.
pub fn composition<'a>(seqs: impl IntoIterator<Item = &'a [u8]>) -> [f64; 4] {
    let mut c = [1u64; 4];
    for s in seqs {
        for &b in s {
            match b {
                b'A' | b'a' => c[0] += 1,
                b'C' | b'c' => c[1] += 1,
                b'G' | b'g' => c[2] += 1,
                b'T' | b't' => c[3] += 1,
                _ => {}
            }
        }
    }
    let n: u64 = c.iter().sum();
    c.map(|x| x as f64 / n as f64)
}

/// Draws one base from `freq` (A, C, G, T) given a uniform `u` in [0, 1).
pub(crate) fn base_from(freq: &[f64; 4], u: f64) -> u8 {
    let mut acc = 0.0;
    for (i, &f) in freq.iter().enumerate() {
        acc += f;
        if u < acc {
            return b"ACGT"[i];
        }
    }
    b'T'
}

/// Formats a number for the tables: `NA` when not finite, else 4 significant digits.
pub(crate) fn fmt_num(v: f64) -> String {
    fmt_sig(v, 4)
}

/// A p- or q-value: as [`fmt_num`], at least [`crate::stats::P_FLOOR`].
pub(crate) fn fmt_pq(v: f64) -> String {
    fmt_num(if v.is_finite() {
        v.max(crate::stats::P_FLOOR)
    } else {
        v
    })
}

/// `NA` when not finite, else `sig` significant digits (plain or scientific notation).
pub(crate) fn fmt_sig(v: f64, sig: usize) -> String {
    let sig = sig.max(1) as i32;
    if !v.is_finite() {
        return "NA".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if (1e-3..1e5).contains(&a) {
        let digits = (sig - 1 - a.log10().floor() as i32).max(0) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    } else {
        let p = (sig - 1) as usize;
        format!("{v:.p$e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_format_compactly() {
        assert_eq!(fmt_num(f64::NAN), "NA");
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(1.5), "1.5");
        assert_eq!(fmt_num(-0.123456), "-0.1235");
        assert_eq!(fmt_num(1234.5678), "1235");
        assert_eq!(fmt_num(1e-6), "1.000e-6");
        assert_eq!(fmt_sig(2.0689123456, 7), "2.068912");
        assert_eq!(fmt_pq(0.0), "1.000e-300");
        assert_eq!(fmt_pq(0.25), "0.25");
        assert_eq!(fmt_pq(f64::NAN), "NA");
    }

    #[test]
    fn composition_has_pseudocounts() {
        let c = composition([b"AAAA".as_slice()]);
        assert!((c[0] - 5.0 / 8.0).abs() < 1e-12);
        assert!((c.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn keyed_streams_differ() {
        use rand::RngExt;
        let a: u64 = keyed_rng(1, &[0, 1]).random();
        let b: u64 = keyed_rng(1, &[1, 0]).random();
        let c: u64 = keyed_rng(1, &[0, 1]).random();
        assert_ne!(a, b);
        assert_eq!(a, c);
    }
}
