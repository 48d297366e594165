//! The per-sequence causal test of a motif pair: in-silico double mutants, one value per
//! sequence, so that the sequence is the unit of replication.
//!
//! In a sequence with a site `a` of one motif and a site `b` of another, every *other*
//! motif site is first replaced by background, so the pair stands on its own. From that
//! sequence six variants are scored: as it is, `a` replaced, `b` replaced, both replaced,
//! `b` moved to another place in the same sequence, and `a` replaced with `b` moved
//! (which of the two sites moves is drawn).
//!
//! The pair is chosen per **gap band** ([`GAP_BANDS`]: 0–15, 16–63 and 64 bp or more
//! between the two sites): in each band, the closest non-overlapping pair in it, and
//! the moved site goes to a place whose gap to the kept one lies outside the band. Chance
//! matches of short motifs pair up at every distance, so a single test of each
//! sequence's closest pair would test the wrong sites in exactly the sequences where an
//! interaction lives at a longer range, and moving a site anywhere would often leave it
//! in its range. Each band is its own test; a pair's p-value is the smallest over its
//! bands times the number of bands tested (Bonferroni), and the band is reported.
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

/// The gap bands, `[lo, hi)` bp between the two sites, in which a pair is tested apart:
/// near (composite elements, helical neighbours), mid and far (a loop of the
/// sequence's length). Bands of equal ratio, so each holds a comparable range of
/// spacings on the log scale at which cooperativity decays.
pub const GAP_BANDS: [(u64, u64); 3] = [(0, 16), (16, 64), (64, u64::MAX)];

/// The band of a gap.
pub fn band_of(gap: u64) -> usize {
    GAP_BANDS
        .iter()
        .position(|&(lo, hi)| (lo..hi).contains(&gap))
        .expect("the bands cover every gap")
}

/// A band as tables write it: `0-15`, `16-63`, `64+`.
pub fn band_name(band: usize) -> String {
    match GAP_BANDS[band] {
        (lo, u64::MAX) => format!("{lo}+"),
        (lo, hi) => format!("{lo}-{}", hi - 1),
    }
}

/// The gap in bp between two non-overlapping spans.
fn gap(x: &Range<usize>, y: &Range<usize>) -> u64 {
    if x.end <= y.start {
        (y.start - x.end) as u64
    } else {
        x.start.saturating_sub(y.end) as u64
    }
}

/// Variants per tested pair in [`SeqVariants`]: the pair alone (other sites replaced),
/// then from it a̶, b̶, a̶b̶, b moved, a̶ + b moved.
pub const PER_PAIR: usize = 6;

/// One tested pair of a sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestedPair {
    /// The pair's key (motif or cluster ids, smaller first).
    pub key: (usize, usize),
    /// The gap band the pair was chosen in (an index into [`GAP_BANDS`]).
    pub band: usize,
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
    pub band: usize,
    pub epistasis: f64,
    /// `None` when the site could not be moved.
    pub specific: Option<f64>,
}

/// Builds the variants of sequence `seq_index` for every pair of groups (`group` maps a
/// site's motif to its motif or cluster id) and gap band that has two non-overlapping
/// sites at most `max_gap` bp apart in the band.
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
    // A site at least half covered by another group's sites is as much that motif's:
    // knocking it out or moving it would move the other motif too, so it is not tested
    // (it is still replaced, like any third site, when other pairs are tested).
    let ambiguous: Vec<bool> = sorted
        .iter()
        .map(|x| {
            let covered = (x.start..x.end)
                .filter(|&p| {
                    sorted
                        .iter()
                        .any(|y| group(y.motif) != group(x.motif) && y.start <= p && p < y.end)
                })
                .count();
            2 * covered >= x.end - x.start
        })
        .collect();
    // Per pair of groups and band: the closest non-overlapping site pair in the band
    // (first in order on ties).
    let mut best: std::collections::BTreeMap<(usize, usize, usize), (u64, usize, usize)> =
        Default::default();
    for (i, x) in sorted.iter().enumerate() {
        for (j, y) in sorted.iter().enumerate().skip(i + 1) {
            if y.start < x.end || ambiguous[i] || ambiguous[j] {
                continue;
            }
            let gap = (y.start - x.end) as u64;
            if gap > max_gap {
                continue;
            }
            let (gx, gy) = (group(x.motif), group(y.motif));
            let key = (gx.min(gy), gx.max(gy), band_of(gap));
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
    for ((ga, gb, band), (_, i, j)) in best {
        let key = (ga, gb);
        let mut rng = keyed_rng(seed, &[seq_index as u64, ga as u64, gb as u64, band as u64]);
        // Which of the two moves is drawn, so neither motif is favoured.
        let (k, m) = if rng.random_bool(0.5) { (i, j) } else { (j, i) };
        let (kept, moved) = (
            sorted[k].start..sorted[k].end,
            sorted[m].start..sorted[m].end,
        );
        let w = moved.len();
        // Free places: inside the sequence, touching no site (the moved one included), at
        // a gap to the kept site outside the band.
        let free: Vec<usize> = (0..=seq.len() - w)
            .filter(|&p| {
                !sorted.iter().any(|s| p < s.end && s.start < p + w)
                    && band_of(gap(&(p..p + w), &kept)) != band
            })
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
            band,
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
                    band: p.band,
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

/// One gap band's causal values summed over sequences (fixed point, so merging is exact).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct BandSums {
    epistasis: MeanSums,
    specific: MeanSums,
    /// The predictions of the sequences tested: their spread sets the margin.
    native: MeanSums,
}

impl BandSums {
    fn merge(&mut self, o: &BandSums) {
        self.epistasis.merge(&o.epistasis);
        self.specific.merge(&o.specific);
        self.native.merge(&o.native);
    }
}

/// A motif pair's causal values summed over sequences, per gap band, and the tests from
/// them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PairSums {
    bands: [BandSums; GAP_BANDS.len()],
}

/// A pair's causal tests in the band its chosen test found strongest.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CausalTest {
    pub epistasis: MeanTest,
    pub specific: MeanTest,
    /// `min_effect_sd` × the SD of the predictions of the band's sequences.
    pub margin: f64,
    /// The band (an index into [`GAP_BANDS`]); `None` when no band was tested.
    pub band: Option<usize>,
    /// The chosen test's p in that band. This p and the two tests' are multiplied by the
    /// number of bands tested (at most 1).
    pub p: f64,
}

impl PairSums {
    /// Adds one sequence's values of the pair, with the sequence's own prediction.
    pub fn add(&mut self, native: Option<f64>, v: &PairValues) {
        let b = &mut self.bands[v.band];
        if let Some(f) = native {
            b.native.add(f);
        }
        b.epistasis.add(v.epistasis);
        if let Some(d) = v.specific {
            b.specific.add(d);
        }
    }

    pub fn merge(&mut self, o: &PairSums) {
        for (b, ob) in self.bands.iter_mut().zip(&o.bands) {
            b.merge(ob);
        }
    }

    /// The epistasis and arrangement-specific tests against the interval null |effect| <=
    /// margin (margin = `min_effect_sd` × the SD of the predictions, 0 with fewer than
    /// two), in the band where `kind`'s p is smallest; that p is multiplied by the number
    /// of bands tested, so choosing the band costs what it gains.
    pub fn test(&self, min_effect_sd: f64, kind: CausalKind) -> CausalTest {
        let mut out = CausalTest {
            epistasis: MeanSums::default().test_beyond(0.0),
            specific: MeanSums::default().test_beyond(0.0),
            margin: 0.0,
            band: None,
            p: 1.0,
        };
        let mut tested = 0;
        for (i, b) in self.bands.iter().enumerate() {
            if b.epistasis.n == 0 {
                continue;
            }
            tested += 1;
            let sd = b.native.sd();
            let margin = if sd.is_finite() {
                min_effect_sd * sd
            } else {
                0.0
            };
            let (e, s) = (
                b.epistasis.test_beyond(margin),
                b.specific.test_beyond(margin),
            );
            let p = kind.effect(&e, &s, margin).p;
            if out.band.is_none() || p < out.p {
                out = CausalTest {
                    epistasis: e,
                    specific: s,
                    margin,
                    band: Some(i),
                    p,
                };
            }
        }
        let adjust = |p: f64| (p * tested.max(1) as f64).min(1.0);
        out.p = adjust(out.p);
        out.epistasis.p = adjust(out.epistasis.p);
        out.specific.p = adjust(out.specific.p);
        out
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
            // The site moves out of its band, so out of the window: the whole interaction.
            assert!((v.specific.unwrap() - 1.0).abs() < 1e-12, "{v:?}");
        }
    }

    #[test]
    fn variants_move_one_site_and_keep_the_other() {
        let s = seq();
        let sites = [site(0, 10, 6), site(1, 20, 6), site(2, 60, 6)];
        let v = build(3, 7, &s, &sites, &|m| m, 1000);
        // Pairs (0,1), (0,2), (1,2), each its closest sites, in their gap bands.
        let keys: Vec<_> = v.pairs.iter().map(|p| (p.key, p.band)).collect();
        assert_eq!(keys, vec![((0, 1), 0), ((0, 2), 1), ((1, 2), 1)]);
        let p = &v.pairs[0];
        let to = p.to.unwrap();
        let shifted = &v.variants[1 + 4];
        let moved_bases = &s[p.moved.clone()];
        assert_eq!(&shifted[to..to + 6], moved_bases);
        assert_eq!(&shifted[p.kept.clone()], &s[p.kept.clone()]);
        // The new place touches no site and lies outside the pair's band.
        assert!(sites.iter().all(|x| to + 6 <= x.start || x.end <= to));
        assert_ne!(band_of(gap(&(to..to + 6), &p.kept)), p.band);
        // Same inputs, same bytes; another sequence index, other draws.
        let again = build(3, 7, &s, &sites, &|m| m, 1000);
        assert_eq!(v.variants, again.variants);
        let other = build(3, 8, &s, &sites, &|m| m, 1000);
        assert_ne!(v.variants, other.variants);
        // Too far apart: no pair; groups merge motifs.
        assert!(build(3, 7, &s, &sites[..2], &|m| m, 3).pairs.is_empty());
        let merged = build(3, 7, &s, &sites, &|m| m.min(1), 1000);
        let keys: Vec<_> = merged.pairs.iter().map(|p| (p.key, p.band)).collect();
        assert_eq!(keys, vec![((0, 1), 0), ((0, 1), 1), ((1, 1), 1)]);
    }

    /// A chance match of B next to A, and the B that acts 30 bp away: the closest pair
    /// alone would test the wrong B; the mid band tests the one that acts.
    #[test]
    fn each_gap_band_tests_its_own_site_pair() {
        let mut s: Vec<u8> = (0..120).map(|j| b"GT"[j % 2]).collect();
        s[10..16].copy_from_slice(A);
        s[20..26].copy_from_slice(B);
        s[46..52].copy_from_slice(B);
        let sites = [site(0, 10, 6), site(1, 20, 6), site(1, 46, 6)];
        // Cooperation when some B starts 30–40 bp after A.
        let f = |s: &[u8]| {
            let a = has(s, A);
            let far = a.is_some_and(|a| {
                s.windows(6)
                    .enumerate()
                    .any(|(p, w)| w == B && (a + 30..=a + 40).contains(&p))
            });
            a.is_some() as u8 as f64 + has(s, B).is_some() as u8 as f64 + 2.0 * far as u8 as f64
        };
        for seed in 0..20 {
            let v = build(seed, 0, &s, &sites, &|m| m, 1000);
            let fs: Vec<f64> = v.variants.iter().map(|x| f(x)).collect();
            let vals = v.values(&fs);
            let band = |b: usize| {
                vals.iter()
                    .find(|x| x.key == (0, 1) && x.band == b)
                    .unwrap()
            };
            assert_eq!(band(0).epistasis, 0.0, "{vals:?}");
            assert_eq!(band(0).specific, Some(0.0), "{vals:?}");
            assert!((band(1).epistasis - 2.0).abs() < 1e-12, "{vals:?}");
            assert!((band(1).specific.unwrap() - 2.0).abs() < 1e-12, "{vals:?}");
        }
    }

    /// The band with the smallest p is reported, its p times the bands tested.
    #[test]
    fn a_pair_is_called_in_its_band_at_a_bonferroni_price() {
        let mut sums = PairSums::default();
        for i in 0..40 {
            let jitter = (i % 5) as f64 * 0.01;
            for (band, effect) in [(0, 0.0), (2, 1.0)] {
                let v = PairValues {
                    key: (0, 1),
                    band,
                    epistasis: effect + jitter,
                    specific: Some(effect - jitter),
                };
                sums.add(Some(i as f64), &v);
            }
        }
        let t = sums.test(0.0, CausalKind::Specific);
        assert_eq!(t.band, Some(2));
        assert!((t.specific.mean - 0.98).abs() < 1e-9, "{t:?}");
        let mut far = PairSums::default();
        far.bands[2] = sums.bands[2];
        let alone = far.test(0.0, CausalKind::Specific);
        assert_eq!(alone.band, Some(2));
        assert!(
            alone.p > 0.0 && (t.p / alone.p - 2.0).abs() < 1e-9,
            "{t:?} {alone:?}"
        );
        assert_eq!(
            PairSums::default().test(0.1, CausalKind::Specific).band,
            None
        );
        assert_eq!(band_name(0), "0-15");
        assert_eq!(band_name(2), "64+");
        assert_eq!((band_of(15), band_of(16), band_of(10_000)), (0, 1, 2));
    }

    /// A match of one motif mostly inside another motif's site is not tested: moving it
    /// would move the other motif too.
    #[test]
    fn a_site_mostly_inside_another_motifs_site_is_not_tested() {
        let s = seq();
        // Motif 2's site covers 4 of motif 1's 6 bases at 20..26; motif 0 at 10 pairs
        // with motif 2 only, and motif 1 with nothing.
        let sites = [
            site(0, 10, 6),
            site(1, 20, 6),
            site(2, 22, 10),
            site(0, 50, 6),
        ];
        let v = build(1, 0, &s, &sites, &|m| m, 1000);
        let keys: Vec<_> = v.pairs.iter().map(|p| p.key).collect();
        assert!(!keys.iter().any(|&(a, b)| a == 1 || b == 1), "{keys:?}");
        assert!(keys.contains(&(0, 2)), "{keys:?}");
        // Two bases of overlap (a third) leave it testable.
        let sites = [site(0, 10, 6), site(1, 20, 6), site(2, 24, 10)];
        let v = build(1, 0, &s, &sites, &|m| m, 1000);
        assert!(v.pairs.iter().any(|p| p.key == (0, 1)));
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
