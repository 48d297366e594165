//! Activation patching: run the corrupted input while one head's output is replaced by
//! its output on the clean input, and measure how much of the clean–corrupt difference
//! comes back.
//!
//! `restored = (mean f(patched) − mean f(corrupt)) / (mean f(clean) − mean f(corrupt))`,
//! a ratio of means over all pairs (stable when single pairs barely differ). It is
//! undefined (NaN, written `NA`) when the clean and corrupted means are equal.
use std::io::Write;

use rayon::prelude::*;

use super::{Readout, fmt_num, fmt_sig};
use crate::model::{ForwardOptions, HeadId, HeadPatch, Model};
use crate::{Error, Result};

/// Patching result of one head.
#[derive(Clone, Debug, PartialEq)]
pub struct PatchRow {
    pub head: HeadId,
    /// Fraction of the clean − corrupt difference restored (NaN when undefined).
    pub restored: f64,
    pub mean_clean: f64,
    pub mean_corrupt: f64,
    pub mean_patched: f64,
    /// Number of (clean, corrupted) pairs.
    pub n: usize,
}

/// Patches every head of `model` in turn; rows in (layer, head) order. `clean[i]` and
/// `corrupt[i]` must have the same length. `progress` gets the pairs done per batch.
pub fn patch_heads(
    model: &Model,
    readout: Readout,
    clean: &[Vec<u8>],
    corrupt: &[Vec<u8>],
    batch: usize,
    progress: &(dyn Fn(usize) + Sync),
) -> Result<Vec<PatchRow>> {
    if clean.len() != corrupt.len() {
        return Err(Error::Invalid(format!(
            "patching needs as many corrupted as clean sequences ({} vs {})",
            corrupt.len(),
            clean.len()
        )));
    }
    if clean.is_empty() {
        return Err(Error::Invalid(
            "patching needs at least one sequence pair".into(),
        ));
    }
    if let Some(i) = (0..clean.len()).find(|&i| clean[i].len() != corrupt[i].len()) {
        return Err(Error::Invalid(format!(
            "pair {}: clean and corrupted sequences differ in length ({} vs {} bp)",
            i + 1,
            clean[i].len(),
            corrupt[i].len()
        )));
    }
    let cfg = model.config();
    let heads: Vec<HeadId> = (0..cfg.n_layers)
        .flat_map(|layer| (0..cfg.n_heads).map(move |head| HeadId { layer, head }))
        .collect();
    let tok = model.tokenizer();
    let b = batch.max(1);
    let parts: Vec<(f64, f64, Vec<f64>)> = clean
        .par_chunks(b)
        .zip(corrupt.par_chunks(b))
        .map(|(c, k)| {
            let ids_c: Vec<Vec<u32>> = c.iter().map(|s| tok.encode(s)).collect();
            let ids_k: Vec<Vec<u32>> = k.iter().map(|s| tok.encode(s)).collect();
            let sum = |out: &[Vec<f32>]| out.iter().map(|r| readout.apply(r)).sum::<f64>();
            let clean_out = model.forward(
                &ids_c,
                &ForwardOptions {
                    capture: heads.clone(),
                    ..Default::default()
                },
            )?;
            let corrupt_out = model.forward(&ids_k, &ForwardOptions::default())?;
            let mut patched = Vec::with_capacity(heads.len());
            for cap in clean_out.heads {
                let opts = ForwardOptions {
                    patches: vec![HeadPatch {
                        head: cap.head,
                        values: cap.values,
                    }],
                    ..Default::default()
                };
                patched.push(sum(&model.forward(&ids_k, &opts)?.output));
            }
            progress(c.len());
            Ok((sum(&clean_out.output), sum(&corrupt_out.output), patched))
        })
        .collect::<Result<_>>()?;
    let n = clean.len();
    let (mut sc, mut sk) = (0.0, 0.0);
    let mut sp = vec![0.0; heads.len()];
    for (c, k, p) in parts {
        sc += c;
        sk += k;
        for (a, v) in sp.iter_mut().zip(p) {
            *a += v;
        }
    }
    let nf = n as f64;
    let (mc, mk) = (sc / nf, sk / nf);
    Ok(heads
        .iter()
        .zip(sp)
        .map(|(&head, s)| {
            let mp = s / nf;
            let denom = mc - mk;
            PatchRow {
                head,
                restored: if denom.abs() > 1e-12 {
                    (mp - mk) / denom
                } else {
                    f64::NAN
                },
                mean_clean: mc,
                mean_corrupt: mk,
                mean_patched: mp,
                n,
            }
        })
        .collect())
}

/// Writes the patching table: `layer head restored mean_clean mean_corrupt mean_patched n`.
pub fn write_patch_tsv<W: Write>(w: &mut W, rows: &[PatchRow]) -> std::io::Result<()> {
    writeln!(w, "{}", crate::io::tables::PATCH.header())?;
    for r in rows {
        writeln!(
            w,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.head.layer,
            r.head.head,
            fmt_num(r.restored),
            fmt_sig(r.mean_clean, 7),
            fmt_sig(r.mean_corrupt, 7),
            fmt_sig(r.mean_patched, 7),
            r.n
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Meta, ModelConfig};

    fn model() -> Model {
        let cfg = ModelConfig {
            k: 3,
            vocab_size: 5 + 64,
            d_model: 16,
            n_heads: 2,
            n_kv_heads: 2,
            n_layers: 2,
            ffn_dim: 32,
            ..ModelConfig::default()
        };
        Model::new(&cfg, 3).unwrap()
    }

    fn seqs(n: usize, salt: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| {
                (0..40)
                    .map(|j| b"ACGT"[(i * 5 + j * j + salt * j) % 4])
                    .collect()
            })
            .collect()
    }

    #[test]
    fn identical_inputs_leave_restoration_undefined() {
        let m = model();
        let r = Readout::new(&m, &Meta::default(), 0).unwrap();
        let s = seqs(5, 0);
        let rows = patch_heads(&m, r, &s, &s, 2, &|_| {}).unwrap();
        assert_eq!(rows.len(), 4);
        for row in &rows {
            assert!(row.restored.is_nan());
            assert_eq!(row.mean_clean, row.mean_corrupt);
            assert_eq!(row.n, 5);
        }
        let mut out = Vec::new();
        write_patch_tsv(&mut out, &rows).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.lines().nth(1).unwrap().starts_with("0\t0\tNA\t"),
            "{text}"
        );
    }

    #[test]
    fn patching_a_head_moves_the_output_towards_clean() {
        let m = model();
        let r = Readout::new(&m, &Meta::default(), 0).unwrap();
        let (clean, corrupt) = (seqs(6, 0), seqs(6, 1));
        let rows = patch_heads(&m, r, &clean, &corrupt, 4, &|_| {}).unwrap();
        let order: Vec<(usize, usize)> = rows.iter().map(|x| (x.head.layer, x.head.head)).collect();
        assert_eq!(order, vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
        for row in &rows {
            assert!(row.restored.is_finite());
            assert_ne!(row.mean_patched, row.mean_corrupt);
        }
        // batching does not change the numbers (beyond summation order)
        let again = patch_heads(&m, r, &clean, &corrupt, 1, &|_| {}).unwrap();
        for (x, y) in rows.iter().zip(&again) {
            assert!((x.mean_patched - y.mean_patched).abs() < 1e-6);
        }
    }

    #[test]
    fn mismatched_inputs_are_errors() {
        let m = model();
        let r = Readout::new(&m, &Meta::default(), 0).unwrap();
        let s = seqs(2, 0);
        assert!(patch_heads(&m, r, &s, &s[..1], 2, &|_| {}).is_err());
        let short = vec![s[0].clone(), s[1][..30].to_vec()];
        let e = patch_heads(&m, r, &s, &short, 2, &|_| {}).unwrap_err();
        assert!(e.to_string().contains("pair 2"), "{e}");
        assert!(Readout::new(&m, &Meta::default(), 1).is_err());
    }
}
