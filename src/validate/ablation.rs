//! Motif ablation: epistasis `f(AB) − f(A) − f(B) + f(∅)` of a motif pair in the
//! sequences that hold both.
//!
//! In each sequence with non-overlapping sites of A and B, four variants are scored: the
//! original (AB), B replaced (A only), A replaced (B only), and both replaced (∅). For a
//! pair of different motifs *every* site of each motif is replaced, so a second copy
//! elsewhere cannot keep the motif present; a sequence where a site of A overlaps a site
//! of B is skipped (replacing one would destroy the other). For a homotypic pair (A = B)
//! the two nearest non-overlapping sites are the two "motifs". Replacement bases are
//! drawn i.i.d. from the sequence's own base composition (pseudocount 1), `draws` times
//! with independent streams per (seed, pair, sequence, draw, motif); ∅ reuses the A-only
//! and B-only draws, so the per-draw contrast is exact. The 95% interval is a
//! percentile bootstrap over sequences (seeded; `bootstrap` resamples).
use std::ops::Range;

use rand::RngExt;

use super::{base_from, composition, keyed_rng, predict_all};
use crate::Result;
use crate::motif::Site;

/// Options of the ablation experiment.
#[derive(Clone, Debug, PartialEq)]
pub struct AblationConfig {
    /// Background replacements per sequence (averaged).
    pub draws: usize,
    pub seed: u64,
    /// Use at most this many sequences (the first eligible ones, in input order).
    pub max_seqs: usize,
    /// Bootstrap resamples for the interval.
    pub bootstrap: usize,
    /// Replacement base frequencies (A, C, G, T) instead of each sequence's composition.
    pub background: Option<[f64; 4]>,
}

impl Default for AblationConfig {
    fn default() -> Self {
        AblationConfig {
            draws: 10,
            seed: 1,
            max_seqs: 200,
            bootstrap: 2000,
            background: None,
        }
    }
}

/// Result of one ablation experiment (all means over sequences).
#[derive(Clone, Debug, PartialEq)]
pub struct Ablation {
    pub n_seqs: usize,
    /// Mean of `f(AB) − f(A) − f(B) + f(∅)`.
    pub epistasis: f64,
    /// 95% percentile-bootstrap interval of the mean (NaN with fewer than 2 sequences).
    pub ci_low: f64,
    pub ci_high: f64,
    /// Mean of `f(A) − f(∅)`: motif A on its own.
    pub effect_a: f64,
    /// Mean of `f(B) − f(∅)`.
    pub effect_b: f64,
    /// Mean `f(AB)` and `f(∅)`.
    pub mean_intact: f64,
    pub mean_none: f64,
}

impl Ablation {
    fn empty() -> Ablation {
        Ablation {
            n_seqs: 0,
            epistasis: f64::NAN,
            ci_low: f64::NAN,
            ci_high: f64::NAN,
            effect_a: f64::NAN,
            effect_b: f64::NAN,
            mean_intact: f64::NAN,
            mean_none: f64::NAN,
        }
    }

    /// Whether the interval excludes zero.
    pub fn significant(&self) -> bool {
        self.ci_low > 0.0 || self.ci_high < 0.0
    }
}

/// Base-pair spans `[start, end)` of sites.
pub type Spans = Vec<Range<usize>>;

/// The spans to replace for motif `a` and motif `b` in a sequence with `sites`, or `None`
/// when it has no non-overlapping pair of them (or, for `a != b`, when an `a` site
/// overlaps a `b` site).
pub fn pair_sites(sites: &[Site], a: usize, b: usize) -> Option<(Spans, Spans)> {
    let overlap = |x: &Site, y: &Site| x.start < y.end && y.start < x.end;
    let mut best: Option<(usize, usize, usize)> = None;
    for (i, x) in sites.iter().enumerate().filter(|(_, s)| s.motif == a) {
        for (j, y) in sites.iter().enumerate().filter(|(_, s)| s.motif == b) {
            if i == j || overlap(x, y) {
                continue;
            }
            let gap = if x.end <= y.start {
                y.start - x.end
            } else {
                x.start - y.end
            };
            if best.is_none_or(|(g, _, _)| gap < g) {
                best = Some((gap, i, j));
            }
        }
    }
    let (_, i, j) = best?;
    if a == b {
        let (x, y) = (&sites[i], &sites[j]);
        let span = |s: &Site| std::iter::once(s.start..s.end).collect::<Spans>();
        return Some((span(x), span(y)));
    }
    let sa: Vec<&Site> = sites.iter().filter(|s| s.motif == a).collect();
    let sb: Vec<&Site> = sites.iter().filter(|s| s.motif == b).collect();
    if sa.iter().any(|x| sb.iter().any(|y| overlap(x, y))) {
        return None;
    }
    Some((
        sa.iter().map(|s| s.start..s.end).collect(),
        sb.iter().map(|s| s.start..s.end).collect(),
    ))
}

/// The variants of every eligible sequence for one pair, ready to score.
///
/// Layout per sequence: the original, then per draw: A only (B replaced), B only
/// (A replaced), ∅ (both replaced).
#[derive(Clone, Debug)]
pub struct AblationSet {
    /// Input positions of the sequences used.
    pub seq_indices: Vec<usize>,
    draws: usize,
    variants: Vec<Vec<u8>>,
    boot_seed: (u64, u64, u64),
    bootstrap: usize,
}

impl AblationSet {
    /// Builds the variants of motifs `a` and `b` over `seqs` with their `sites`.
    pub fn build(
        seqs: &[&[u8]],
        sites: &[Vec<Site>],
        a: usize,
        b: usize,
        cfg: &AblationConfig,
    ) -> AblationSet {
        let draws = cfg.draws.max(1);
        let mut seq_indices = Vec::new();
        let mut variants = Vec::new();
        for (i, (seq, s)) in seqs.iter().zip(sites).enumerate() {
            if seq_indices.len() >= cfg.max_seqs {
                break;
            }
            let Some((ra, rb)) = pair_sites(s, a, b) else {
                continue;
            };
            if ra.iter().chain(&rb).any(|r| r.end > seq.len()) {
                continue;
            }
            let freq = cfg.background.unwrap_or_else(|| composition([*seq]));
            seq_indices.push(i);
            variants.push(seq.to_vec());
            for d in 0..draws {
                let key = |m: u64| [a as u64, b as u64, i as u64, d as u64, m];
                let mut only_a = seq.to_vec();
                replace(&mut only_a, &rb, &freq, &mut keyed_rng(cfg.seed, &key(1)));
                let mut only_b = seq.to_vec();
                replace(&mut only_b, &ra, &freq, &mut keyed_rng(cfg.seed, &key(0)));
                let mut none = only_b.clone();
                for r in &rb {
                    none[r.clone()].copy_from_slice(&only_a[r.clone()]);
                }
                variants.push(only_a);
                variants.push(only_b);
                variants.push(none);
            }
        }
        AblationSet {
            seq_indices,
            draws,
            variants,
            boot_seed: (cfg.seed, a as u64, b as u64),
            bootstrap: cfg.bootstrap,
        }
    }

    /// Number of sequences used.
    pub fn n_seqs(&self) -> usize {
        self.seq_indices.len()
    }

    /// Draws per sequence.
    pub fn draws(&self) -> usize {
        self.draws
    }

    /// All variants in the documented layout.
    pub fn variants(&self) -> &[Vec<u8>] {
        &self.variants
    }

    /// (clean, corrupted) sequence pairs for activation patching: each original with,
    /// per draw, its B-replaced variant (`ablate_b`) or its A-replaced one.
    pub fn clean_corrupt_pairs(&self, ablate_b: bool) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
        let per = 1 + 3 * self.draws;
        let (mut clean, mut corrupt) = (Vec::new(), Vec::new());
        for s in 0..self.n_seqs() {
            for d in 0..self.draws {
                clean.push(self.variants[s * per].clone());
                let v = s * per + 1 + 3 * d + usize::from(!ablate_b);
                corrupt.push(self.variants[v].clone());
            }
        }
        (clean, corrupt)
    }

    /// Scores every variant with `predict` (in chunks of `batch`) and summarises.
    pub fn score<F>(&self, predict: &F, batch: usize) -> Result<Ablation>
    where
        F: Fn(&[Vec<u8>]) -> Result<Vec<f64>> + Sync,
    {
        let f = predict_all(&self.variants, batch, predict)?;
        Ok(self.summarise(&f))
    }

    /// Summarises predictions of [`variants`](Self::variants), in that order.
    pub fn summarise(&self, f: &[f64]) -> Ablation {
        let n = self.n_seqs();
        if n == 0 {
            return Ablation::empty();
        }
        let per = 1 + 3 * self.draws;
        let nd = self.draws as f64;
        let (mut epi, mut ea, mut eb, mut ab, mut none) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for s in 0..n {
            let v = &f[s * per..(s + 1) * per];
            let (mut fa, mut fb, mut f0) = (0.0, 0.0, 0.0);
            for d in 0..self.draws {
                fa += v[1 + 3 * d];
                fb += v[2 + 3 * d];
                f0 += v[3 + 3 * d];
            }
            let (fa, fb, f0) = (fa / nd, fb / nd, f0 / nd);
            epi.push(v[0] - fa - fb + f0);
            ea.push(fa - f0);
            eb.push(fb - f0);
            ab.push(v[0]);
            none.push(f0);
        }
        let (s, a, b) = self.boot_seed;
        let mut rng = keyed_rng(s, &[a, b, u64::MAX]);
        let (ci_low, ci_high) = bootstrap_ci(&epi, self.bootstrap, &mut rng);
        Ablation {
            n_seqs: n,
            epistasis: mean(&epi),
            ci_low,
            ci_high,
            effect_a: mean(&ea),
            effect_b: mean(&eb),
            mean_intact: mean(&ab),
            mean_none: mean(&none),
        }
    }
}

fn replace(seq: &mut [u8], spans: &[Range<usize>], freq: &[f64; 4], rng: &mut impl RngExt) {
    for r in spans {
        for p in r.clone() {
            seq[p] = base_from(freq, rng.random::<f64>());
        }
    }
}

pub(crate) fn mean(x: &[f64]) -> f64 {
    if x.is_empty() {
        return f64::NAN;
    }
    x.iter().sum::<f64>() / x.len() as f64
}

/// Percentile bootstrap 95% interval of the mean; NaN with fewer than 2 values.
fn bootstrap_ci(x: &[f64], reps: usize, rng: &mut impl RngExt) -> (f64, f64) {
    let n = x.len();
    if n < 2 || reps == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mut means: Vec<f64> = (0..reps)
        .map(|_| (0..n).map(|_| x[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    (quantile(&means, 0.025), quantile(&means, 0.975))
}

/// Linear-interpolation quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let w = pos - lo as f64;
    if lo == hi {
        sorted[lo]
    } else {
        sorted[lo] * (1.0 - w) + sorted[hi] * w
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const A: &[u8] = b"AAAAAA";
    const B: &[u8] = b"CCCCCC";

    /// A plus-strand site of `motif` at `start`, `len` bp long.
    pub(crate) fn site(motif: usize, start: usize, len: usize) -> Site {
        Site {
            motif,
            start,
            end: start + len,
            plus: true,
        }
    }

    /// Sequences of G/T background with A at 10 and B at 30, some with a second A.
    fn data(n: usize) -> (Vec<Vec<u8>>, Vec<Vec<Site>>) {
        let mut seqs = Vec::new();
        let mut sites = Vec::new();
        for i in 0..n {
            let mut s: Vec<u8> = (0..60).map(|j| b"GT"[(i * 7 + j * 3) % 2]).collect();
            s[10..16].copy_from_slice(A);
            s[30..36].copy_from_slice(B);
            let mut st = vec![site(0, 10, 6), site(1, 30, 6)];
            if i % 3 == 0 {
                s[45..51].copy_from_slice(A);
                st.push(site(0, 45, 6));
            }
            seqs.push(s);
            sites.push(st);
        }
        (seqs, sites)
    }

    fn has(s: &[u8], m: &[u8]) -> f64 {
        f64::from(u8::from(s.windows(m.len()).any(|w| w == m)))
    }

    fn additive(a: f64, b: f64, c: f64) -> impl Fn(&[Vec<u8>]) -> Result<Vec<f64>> + Sync {
        move |seqs: &[Vec<u8>]| {
            Ok(seqs
                .iter()
                .map(|s| {
                    let (x, y) = (has(s, A), has(s, B));
                    a * x + b * y + c * x * y
                })
                .collect())
        }
    }

    fn cfg() -> AblationConfig {
        AblationConfig {
            draws: 3,
            background: Some([0.0, 0.0, 0.5, 0.5]),
            ..AblationConfig::default()
        }
    }

    #[test]
    fn epistasis_is_the_interaction_term() {
        let (seqs, sites) = data(20);
        let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
        let set = AblationSet::build(&refs, &sites, 0, 1, &cfg());
        assert_eq!(set.n_seqs(), 20);
        let r = set.score(&additive(0.5, 1.5, 2.0), 7).unwrap();
        assert!((r.epistasis - 2.0).abs() < 1e-9, "{r:?}");
        assert!(r.ci_low <= 2.0 + 1e-9 && r.ci_high >= 2.0 - 1e-9, "{r:?}");
        assert!((r.effect_a - 0.5).abs() < 1e-9 && (r.effect_b - 1.5).abs() < 1e-9);
        assert!(r.significant());
        // No interaction: the interval covers 0, even with noise in the predictor.
        let noisy = |seqs: &[Vec<u8>]| -> Result<Vec<f64>> {
            Ok(seqs
                .iter()
                .map(|s| {
                    let h = s
                        .iter()
                        .fold(7u64, |h, &b| h.wrapping_mul(31) ^ u64::from(b));
                    has(s, A) + 2.0 * has(s, B) + (h % 1000) as f64 / 2000.0
                })
                .collect())
        };
        let r = set.score(&noisy, 5).unwrap();
        assert!(r.ci_low < 0.0 && r.ci_high > 0.0, "{r:?}");
        assert!(r.epistasis.abs() < 0.2);
    }

    #[test]
    fn every_copy_of_a_motif_is_replaced() {
        let (seqs, sites) = data(3);
        let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
        let set = AblationSet::build(&refs, &sites, 0, 1, &cfg());
        let v = set.variants();
        assert_eq!(v.len(), 3 * (1 + 3 * 3));
        // sequence 0 holds two copies of A: B-only has none left
        assert_eq!(has(&v[2], A), 0.0);
        assert_eq!(has(&v[2], B), 1.0);
        assert_eq!(has(&v[1], A), 1.0);
        assert_eq!(has(&v[3], A) + has(&v[3], B), 0.0);
    }

    #[test]
    fn sequences_without_both_sites_are_skipped() {
        let (seqs, mut sites) = data(4);
        sites[1].retain(|s| s.motif == 0);
        sites[2] = vec![site(0, 10, 6), site(1, 12, 6)]; // overlapping sites
        let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
        let set = AblationSet::build(&refs, &sites, 0, 1, &cfg());
        assert_eq!(set.seq_indices, vec![0, 3]);
        let none = AblationSet::build(&refs, &sites, 0, 5, &cfg());
        let r = none.score(&additive(1.0, 1.0, 1.0), 4).unwrap();
        assert_eq!(r.n_seqs, 0);
        assert!(r.epistasis.is_nan() && !r.significant());
    }

    #[test]
    fn homotypic_pairs_use_the_two_nearest_sites() {
        let s = [site(0, 0, 6), site(0, 40, 6), site(0, 10, 6)];
        let (a, b) = pair_sites(&s, 0, 0).unwrap();
        assert_eq!((a[0].clone(), b[0].clone()), (0..6, 10..16));
        assert_eq!((a.len(), b.len()), (1, 1));
        assert!(pair_sites(&s[..1], 0, 0).is_none());
    }

    #[test]
    fn results_do_not_depend_on_batching() {
        let (seqs, sites) = data(10);
        let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
        let c = AblationConfig {
            background: None,
            ..cfg()
        };
        let set = AblationSet::build(&refs, &sites, 0, 1, &c);
        let f = additive(1.0, 0.0, 1.0);
        assert_eq!(set.score(&f, 1).unwrap(), set.score(&f, 64).unwrap());
        let again = AblationSet::build(&refs, &sites, 0, 1, &c);
        assert_eq!(set.variants(), again.variants());
        let other = AblationSet::build(
            &refs,
            &sites,
            0,
            1,
            &AblationConfig {
                seed: 2,
                ..c.clone()
            },
        );
        assert_ne!(set.variants(), other.variants());
    }

    #[test]
    fn patching_pairs_line_up() {
        let (seqs, sites) = data(2);
        let refs: Vec<&[u8]> = seqs.iter().map(|s| s.as_slice()).collect();
        let set = AblationSet::build(&refs, &sites, 0, 1, &cfg());
        let (clean, corrupt) = set.clean_corrupt_pairs(true);
        assert_eq!(clean.len(), 6);
        for (c, k) in clean.iter().zip(&corrupt) {
            assert_eq!(has(c, B), 1.0);
            assert_eq!(has(k, B), 0.0);
            assert_eq!(has(k, A), 1.0);
        }
    }
}
