//! The per-sequence causal test of a motif pair: in-silico double mutants, one value per
//! sequence, so that the sequence is the unit of replication.
//!
//! In a sequence with a site `a` of one motif and a site `b` of another (the closest
//! non-overlapping pair), every *other* motif site is first replaced by background, so
//! the pair stands on its own. From that sequence six variants are scored: as it is, `a`
//! replaced, `b` replaced, both replaced, `b` moved to another place in the same
//! sequence, and `a` replaced with `b` moved (which of the two sites moves is drawn).
//! Two numbers come out per sequence:
//!
//! - the **epistasis** `f(ab) − f(a̶b) − f(ab̶) + f(a̶b̶)`: how far the pair departs from
//!   adding up in this sequence;
//! - the **arrangement-specific epistasis** `[f(ab) − f(a̶b)] − [f(ab′) − f(a̶b′)]`: how
//!   much more `a` adds next to `b` where it is than next to the same `b` bases moved
//!   elsewhere in the same sequence.
//!
//! A model is never exactly additive, even on data with no interaction at all: an
//! output that saturates makes every pair of important motifs sub-additive, so the plain
//! epistasis of a pair that merely matters and co-occurs is not zero, and with hundreds
//! of sequences any such bias becomes "significant". The arrangement control keeps both
//! motifs, their bases, their main effects and the saturation they cause, and changes
//! only where `b` sits relative to `a`: non-additivity that comes from the presence of
//! both cancels, while cooperativity that depends on spacing or orientation (composite
//! elements, helical phasing, a long-range loop) does not. Third motifs are removed
//! because moving `b` would otherwise also break `b`'s own links to them, and the
//! output's level, and so `a`'s effect under saturation, would move with it.
//! Replacement bases follow the sequence's own composition; every draw comes from a
//! stream keyed by (seed, sequence, pair), so results do not depend on batching or
//! threads.
use std::ops::Range;

use rand::RngExt;

use super::{base_from, composition, keyed_rng};
use crate::motif::Site;
use crate::stats::MeanTest;

/// Effects below a tenth of the predictions' spread are not called: a model is never
/// exactly additive, and with hundreds of sequences a t-test against exactly 0 calls its
/// smallest quirks (measured: docs/calibration.md). The margin of both the interaction
/// table's causal columns and `validate`.
pub const DEFAULT_MIN_EFFECT_SD: f64 = 0.1;
use crate::stats::MeanSums;

/// Variants per tested pair in [`SeqVariants`]: the pair alone (other sites replaced),
/// then from it a̶, b̶, a̶b̶, b moved, a̶ + b moved.
pub const PER_PAIR: usize = 6;

/// One tested pair of a sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestedPair {
    /// The pair's key (motif or cluster ids, smaller first).
    pub key: (usize, usize),
    /// The site kept in place and the site moved (bp spans).
    pub kept: Range<usize>,
    pub moved: Range<usize>,
    /// Where the moved site's bases go; `None` when no place was free (then the
    /// arrangement test has no value for this sequence).
    pub to: Option<usize>,
}

/// The variants of one sequence: the original first, then [`PER_PAIR`] per pair.
#[derive(Clone, Debug)]
pub struct SeqVariants {
    pub pairs: Vec<TestedPair>,
    pub variants: Vec<Vec<u8>>,
}

/// One sequence's values for one pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PairValues {
    pub key: (usize, usize),
    pub epistasis: f64,
    /// `None` when the site could not be moved.
    pub specific: Option<f64>,
}

/// Builds the variants of sequence `seq_index` for every pair of groups (`group` maps a
/// site's motif to its motif or cluster id) that has two non-overlapping sites at most
/// `max_gap` bp apart.
pub fn build(
    seed: u64,
    seq_index: usize,
    seq: &[u8],
    sites: &[Site],
    group: &dyn Fn(usize) -> usize,
    max_gap: u64,
) -> SeqVariants {
    let mut sorted: Vec<Site> = sites
        .iter()
        .copied()
        .filter(|s| s.start < s.end && s.end <= seq.len())
        .collect();
    sorted.sort_by_key(|s| (s.start, s.end, s.motif, s.plus));
    sorted.dedup();
    // Per pair of groups: the closest non-overlapping site pair (first in order on ties).
    let mut best: std::collections::BTreeMap<(usize, usize), (u64, usize, usize)> =
        Default::default();
    for (i, x) in sorted.iter().enumerate() {
        for (j, y) in sorted.iter().enumerate().skip(i + 1) {
            if y.start < x.end {
                continue;
            }
            let gap = (y.start - x.end) as u64;
            if gap > max_gap {
                continue;
            }
            let (gx, gy) = (group(x.motif), group(y.motif));
            let key = (gx.min(gy), gx.max(gy));
            let e = best.entry(key).or_insert((gap, i, j));
            if gap < e.0 {
                *e = (gap, i, j);
            }
        }
    }
    let freq = composition([seq]);
    let mut out = SeqVariants {
        pairs: Vec::with_capacity(best.len()),
        variants: Vec::with_capacity(1 + PER_PAIR * best.len()),
    };
    out.variants.push(seq.to_vec());
    for (key, (_, i, j)) in best {
        let mut rng = keyed_rng(seed, &[seq_index as u64, key.0 as u64, key.1 as u64]);
        // Which of the two moves is drawn, so neither motif is favoured.
        let (k, m) = if rng.random_bool(0.5) { (i, j) } else { (j, i) };
        let (kept, moved) = (
            sorted[k].start..sorted[k].end,
            sorted[m].start..sorted[m].end,
        );
        let w = moved.len();
        // Free places: inside the sequence, touching no site (the moved one included).
        let free: Vec<usize> = (0..=seq.len() - w)
            .filter(|&p| !sorted.iter().any(|s| p < s.end && s.start < p + w))
            .collect();
        let to = (!free.is_empty()).then(|| free[rng.random_range(0..free.len())]);
        let fill = |v: &mut Vec<u8>, r: &Range<usize>, rng: &mut rand_chacha::ChaCha8Rng| {
            for p in r.clone() {
                v[p] = base_from(&freq, rng.random::<f64>());
            }
        };
        // The pair on its own: every other site replaced (bases of the pair's own sites
        // kept where they overlap), so that moving a site cannot also break its link to a
        // third motif, which would shift the output's level and, through saturation, the
        // other site's effect.
        let mut iso = seq.to_vec();
        for (x, s) in sorted.iter().enumerate() {
            if x != k && x != m {
                for (p, b) in iso.iter_mut().enumerate().take(s.end).skip(s.start) {
                    if !kept.contains(&p) && !moved.contains(&p) {
                        *b = base_from(&freq, rng.random::<f64>());
                    }
                }
            }
        }
        // One background draw per span, shared by every variant that replaces it, so the
        // differences compare like with like.
        let mut no_kept = iso.clone();
        fill(&mut no_kept, &kept, &mut rng);
        let mut no_moved = iso.clone();
        fill(&mut no_moved, &moved, &mut rng);
        let mut none = no_kept.clone();
        none[moved.clone()].copy_from_slice(&no_moved[moved.clone()]);
        let (shifted, shifted_no_kept) = match to {
            Some(t) => {
                let mut s = no_moved.clone();
                s[t..t + w].copy_from_slice(&seq[moved.clone()]);
                let mut s0 = s.clone();
                s0[kept.clone()].copy_from_slice(&no_kept[kept.clone()]);
                (s, s0)
            }
            // Placeholders (scored like any variant, never used).
            None => (no_moved.clone(), none.clone()),
        };
        out.variants
            .extend([iso, no_kept, no_moved, none, shifted, shifted_no_kept]);
        out.pairs.push(TestedPair {
            key,
            kept,
            moved,
            to,
        });
    }
    out
}

impl SeqVariants {
    /// The per-pair values from the predictions of [`variants`](Self::variants), in order.
    pub fn values(&self, f: &[f64]) -> Vec<PairValues> {
        self.pairs
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let v = &f[1 + PER_PAIR * i..1 + PER_PAIR * (i + 1)];
                let (f0, no_kept, no_moved, none, shifted, shifted_no_kept) =
                    (v[0], v[1], v[2], v[3], v[4], v[5]);
                PairValues {
                    key: p.key,
                    epistasis: f0 - no_kept - no_moved + none,
                    specific: p.to.map(|_| (f0 - no_kept) - (shifted - shifted_no_kept)),
                }
            })
            .collect()
    }
}

/// Which in-silico quantity the causal test of a pair asks about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CausalKind {
    /// The arrangement-specific epistasis: what the pair adds where it is, over the same
    /// bases moved elsewhere in the sequence. Non-additivity of the output (saturation)
    /// cancels; spacing- and orientation-dependent cooperativity remains.
    #[default]
    Specific,
    /// The plain double-mutant epistasis `f(AB) − f(A) − f(B) + f(∅)`, either sign.
    Epistasis,
    /// Cooperativity: the plain epistasis tested one-sided, `> margin`. Redundancy (two
    /// sites of one motif where one suffices) and an output that saturates both make
    /// epistasis negative; only super-additive pairs, what cooperative binding predicts,
    /// are called.
    Cooperative,
}

impl CausalKind {
    /// The name on the command line and in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            CausalKind::Specific => "specific",
            CausalKind::Epistasis => "epistasis",
            CausalKind::Cooperative => "cooperative",
        }
    }

    /// The kind named `name` (as [`as_str`](Self::as_str) writes it, e.g. in
    /// validation.tsv's `effect_test`).
    pub fn from_name(name: &str) -> Option<CausalKind> {
        [
            CausalKind::Specific,
            CausalKind::Epistasis,
            CausalKind::Cooperative,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    /// What the test measures, in words for logs and table comments.
    pub fn describe(self) -> &'static str {
        match self {
            CausalKind::Specific => "arrangement-specific epistasis",
            CausalKind::Epistasis => "plain epistasis",
            CausalKind::Cooperative => "cooperativity (epistasis, one-sided)",
        }
    }

    /// The effect this kind tests, its p-value against `margin`: the interval null
    /// `|effect| <= margin`, or for [`Cooperative`](Self::Cooperative) `effect <= margin`.
    pub fn effect(self, epistasis: &MeanTest, specific: &MeanTest, margin: f64) -> MeanTest {
        match self {
            CausalKind::Specific => *specific,
            CausalKind::Epistasis => *epistasis,
            CausalKind::Cooperative => MeanTest {
                p: epistasis.p_above(margin),
                ..*epistasis
            },
        }
    }
}

/// A motif pair's causal values summed over sequences (fixed point, so merging is exact),
/// and the tests from them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PairSums {
    epistasis: MeanSums,
    specific: MeanSums,
    /// The predictions of the sequences tested: their spread sets the margin.
    native: MeanSums,
}

impl PairSums {
    /// Adds one sequence's values of the pair, with the sequence's own prediction.
    pub fn add(&mut self, native: Option<f64>, v: &PairValues) {
        if let Some(f) = native {
            self.native.add(f);
        }
        self.epistasis.add(v.epistasis);
        if let Some(d) = v.specific {
            self.specific.add(d);
        }
    }

    pub fn merge(&mut self, o: &PairSums) {
        self.epistasis.merge(&o.epistasis);
        self.specific.merge(&o.specific);
        self.native.merge(&o.native);
    }

    /// The epistasis and arrangement-specific tests against the interval null |effect| <=
    /// margin, with margin = `min_effect_sd` × the SD of the predictions (0 with fewer
    /// than two); returns (epistasis, specific, margin).
    pub fn test(&self, min_effect_sd: f64) -> (MeanTest, MeanTest, f64) {
        let sd = self.native.sd();
        let margin = if sd.is_finite() {
            min_effect_sd * sd
        } else {
            0.0
        };
        (
            self.epistasis.test_beyond(margin),
            self.specific.test_beyond(margin),
            margin,
        )
    }
}

/// One sequence's causal values: its own prediction (`None` when it holds no pair and
/// was not scored) and its pairs' values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeqValues {
    pub native: Option<f64>,
    pub pairs: Vec<PairValues>,
}

/// Builds, scores and evaluates the variants of a batch of sequences `(input index, bases,
/// sites)`; one entry per sequence. Each sequence's variants are scored on their own, in
/// calls of at most `batch`, so the numbers of one sequence never depend on which others
/// share its batch (a forward pass's rounding can depend on the batch's shape).
pub fn score_batch<F>(
    seed: u64,
    seqs: &[(usize, &[u8], &[Site])],
    group: &(dyn Fn(usize) -> usize + Sync),
    max_gap: u64,
    predict: &F,
    batch: usize,
) -> crate::Result<Vec<SeqValues>>
where
    F: Fn(&[Vec<u8>]) -> crate::Result<Vec<f64>> + Sync,
{
    use rayon::prelude::*;
    seqs.par_iter()
        .map(|&(i, s, sites)| {
            let v = build(seed, i, s, sites, group, max_gap);
            // A sequence without a pair needs no prediction at all.
            if v.pairs.is_empty() {
                return Ok(SeqValues::default());
            }
            let f = super::predict_all(&v.variants, batch, predict)?;
            Ok(SeqValues {
                native: Some(f[0]),
                pairs: v.values(&f),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::ablation::tests::site;

    #[test]
    fn kinds_round_trip_their_names() {
        for k in [
            CausalKind::Specific,
            CausalKind::Epistasis,
            CausalKind::Cooperative,
        ] {
            assert_eq!(CausalKind::from_name(k.as_str()), Some(k));
            assert!(!k.describe().is_empty());
        }
        assert_eq!(CausalKind::from_name("banana"), None);
    }

    fn has(s: &[u8], m: &[u8]) -> Option<usize> {
        s.windows(m.len()).position(|w| w == m)
    }

    const A: &[u8] = b"AAAAAA";
    const B: &[u8] = b"CCCCCC";

    /// G/T background with A at 10 and B at 20 (gap 4).
    fn seq() -> Vec<u8> {
        let mut s: Vec<u8> = (0..80).map(|j| b"GT"[j % 2]).collect();
        s[10..16].copy_from_slice(A);
        s[20..26].copy_from_slice(B);
        s
    }

    fn values(f: impl Fn(&[u8]) -> f64, seed: u64) -> PairValues {
        let s = seq();
        let v = build(seed, 0, &s, &[site(0, 10, 6), site(1, 20, 6)], &|m| m, 1000);
        assert_eq!(v.pairs.len(), 1);
        assert_eq!(v.variants.len(), 1 + PER_PAIR);
        let f: Vec<f64> = v.variants.iter().map(|x| f(x)).collect();
        v.values(&f)[0]
    }

    /// Replacement bases come from the sequence's composition, which holds A and C: a
    /// replaced site rebuilds its motif with tiny probability, so the toy predictors look
    /// for the exact 6-mers.
    #[test]
    fn saturation_has_epistasis_but_no_arrangement_effect() {
        for seed in 0..20 {
            // A saturating output of two additive motifs: not additive, not arranged.
            let sat = |s: &[u8]| {
                let x = has(s, A).is_some() as u8 as f64 + 2.0 * has(s, B).is_some() as u8 as f64;
                (x / 2.0).tanh()
            };
            let v = values(sat, seed);
            assert!(v.epistasis < -0.1, "{v:?}");
            assert!(v.specific.unwrap().abs() < 1e-12, "{v:?}");
            // Cooperation only when B sits within 10 bp after A: both statistics see it.
            let coop = |s: &[u8]| match (has(s, A), has(s, B)) {
                (Some(a), Some(b)) if b > a && b - a <= 16 => 3.0,
                (a, b) => a.is_some() as u8 as f64 + b.is_some() as u8 as f64,
            };
            let v = values(coop, seed);
            assert!((v.epistasis - 1.0).abs() < 1e-12, "{v:?}");
            let d = v.specific.unwrap();
            // Moved out of the window: the whole interaction; moved into it: none.
            assert!((d - 1.0).abs() < 1e-12 || d.abs() < 1e-12, "{v:?}");
        }
    }

    #[test]
    fn variants_move_one_site_and_keep_the_other() {
        let s = seq();
        let sites = [site(0, 10, 6), site(1, 20, 6), site(2, 60, 6)];
        let v = build(3, 7, &s, &sites, &|m| m, 1000);
        // Pairs (0,1), (0,2), (1,2), each its closest sites.
        let keys: Vec<_> = v.pairs.iter().map(|p| p.key).collect();
        assert_eq!(keys, vec![(0, 1), (0, 2), (1, 2)]);
        let p = &v.pairs[0];
        let to = p.to.unwrap();
        let shifted = &v.variants[1 + 4];
        let moved_bases = &s[p.moved.clone()];
        assert_eq!(&shifted[to..to + 6], moved_bases);
        assert_eq!(&shifted[p.kept.clone()], &s[p.kept.clone()]);
        // The new place touches no site.
        assert!(sites.iter().all(|x| to + 6 <= x.start || x.end <= to));
        // Same inputs, same bytes; another sequence index, other draws.
        let again = build(3, 7, &s, &sites, &|m| m, 1000);
        assert_eq!(v.variants, again.variants);
        let other = build(3, 8, &s, &sites, &|m| m, 1000);
        assert_ne!(v.variants, other.variants);
        // Too far apart: no pair; groups merge motifs.
        assert!(build(3, 7, &s, &sites[..2], &|m| m, 3).pairs.is_empty());
        let merged = build(3, 7, &s, &sites, &|m| m.min(1), 1000);
        let keys: Vec<_> = merged.pairs.iter().map(|p| p.key).collect();
        assert_eq!(keys, vec![(0, 1), (1, 1)]);
    }

    #[test]
    fn no_free_place_means_no_arrangement_value() {
        let s = b"AAAAAACCCCCC".to_vec();
        let v = build(1, 0, &s, &[site(0, 0, 6), site(1, 6, 6)], &|m| m, 100);
        assert_eq!(v.pairs[0].to, None);
        let f = vec![1.0; v.variants.len()];
        let x = v.values(&f)[0];
        assert_eq!((x.epistasis, x.specific), (0.0, None));
    }
}
