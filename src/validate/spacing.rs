//! Spacing scan (DeepSTARR-style): implant motif instances A and B into background
//! sequences at gaps `d` and in each strand combination, and measure the cooperativity
//! `f(AB_d) − f(A) − f(B_d) + f(∅)` per (orientation, d).
//!
//! Backgrounds are `n` i.i.d. sequences from the given base composition, the same for
//! every pair (keyed by seed and background index), so curves of different pairs are
//! paired. A sits at a fixed anchor (centred so the largest gap still fits) and B is
//! placed to its right, `d` bp after A's end (the simulator's gap convention).
//! Orientation labels give the strands of A (left) and B (right): `++` and `--` are
//! tandem, `+-` convergent, `-+` divergent. B on the left needs no scan of its own: the
//! reverse complement of `B A` in strands (x, y) is `A B` in strands (ȳ, x̄), one of these
//! four, and training augments with reverse complements.
use rand::RngExt;

use super::ablation::mean;
use super::{base_from, keyed_rng, predict_all};
use crate::Result;
use crate::motif::Motif;
use crate::motif::Site;
use crate::seq::reverse_complement_in_place;

/// Options of the spacing scan.
#[derive(Clone, Debug, PartialEq)]
pub struct SpacingConfig {
    /// Background sequences.
    pub n: usize,
    /// Their length in bp.
    pub len: usize,
    /// Largest gap and step of the grid `0, step, 2·step, … ≤ max_gap`.
    pub max_gap: usize,
    pub step: usize,
    /// Extend `max_gap` to the largest gap at which the pair's sites occur in the data
    /// (see [`scan_max_gap`]), so the scan covers every spacing the model has seen.
    pub cover_observed: bool,
    pub seed: u64,
    /// Background base frequencies (A, C, G, T).
    pub composition: [f64; 4],
}

impl Default for SpacingConfig {
    fn default() -> Self {
        SpacingConfig {
            n: 32,
            len: 200,
            max_gap: 50,
            step: 2,
            cover_observed: true,
            seed: 1,
            composition: [0.25; 4],
        }
    }
}

/// Cooperativity at one (orientation, gap).
#[derive(Clone, Debug, PartialEq)]
pub struct SpacingPoint {
    /// `++`, `+-`, `-+` or `--` (strands of A, then B).
    pub orientation: &'static str,
    pub gap: usize,
    /// Mean over backgrounds of `f(AB) − f(A) − f(B) + f(∅)`.
    pub cooperativity: f64,
    /// Mean `f(AB)`.
    pub mean_ab: f64,
}

/// The curves of one pair and their maximum.
#[derive(Clone, Debug, PartialEq)]
pub struct SpacingCurve {
    /// Orientation-major, gaps ascending.
    pub points: Vec<SpacingPoint>,
}

impl SpacingCurve {
    /// The point of highest cooperativity (the first on ties); `None` when empty.
    pub fn best(&self) -> Option<&SpacingPoint> {
        self.points
            .iter()
            .filter(|p| p.cooperativity.is_finite())
            .fold(None, |b: Option<&SpacingPoint>, p| match b {
                Some(q) if q.cooperativity >= p.cooperativity => Some(q),
                _ => Some(p),
            })
    }
}

/// The largest gap (bp from the end of the left site to the start of the right one) between
/// a site of motif `a` and a site of motif `b` in any sequence; `None` when no sequence
/// holds both without overlap.
pub fn observed_max_gap(sites: &[Vec<Site>], a: usize, b: usize) -> Option<usize> {
    let mut best = None;
    for s in sites {
        for (i, x) in s.iter().enumerate().filter(|(_, x)| x.motif == a) {
            for (j, y) in s.iter().enumerate().filter(|(_, y)| y.motif == b) {
                if i == j {
                    continue;
                }
                let gap = if x.end <= y.start {
                    y.start - x.end
                } else if y.end <= x.start {
                    x.start - y.end
                } else {
                    continue;
                };
                best = best.max(Some(gap));
            }
        }
    }
    best
}

/// The scan's largest gap for motifs `a`, `b`: `cfg.max_gap`, or with `cover_observed`
/// at least their largest observed gap, rounded up to the grid step so the grid reaches it.
/// (Gaps that do not fit the background length are still left out by [`spacing_scan`].)
pub fn scan_max_gap(cfg: &SpacingConfig, sites: &[Vec<Site>], a: usize, b: usize) -> usize {
    let step = cfg.step.max(1);
    match observed_max_gap(sites, a, b).filter(|_| cfg.cover_observed) {
        Some(g) => cfg.max_gap.max(g.div_ceil(step) * step),
        None => cfg.max_gap,
    }
}

const ORIENTS: [(&str, bool, bool); 4] = [
    ("++", true, true),
    ("+-", true, false),
    ("-+", false, true),
    ("--", false, false),
];

/// The best-scoring instance of a motif: the most probable base at each position.
pub fn consensus(m: &Motif) -> Vec<u8> {
    m.probs
        .iter()
        .map(|p| {
            let mut bi = 0;
            for i in 1..4 {
                if p[i] > p[bi] {
                    bi = i;
                }
            }
            b"ACGT"[bi]
        })
        .collect()
}

/// Scans gaps and orientations of instances `a` and `b` (given on their plus strand).
/// Gaps that do not fit in `cfg.len` are left out; an empty curve when none fits.
pub fn spacing_scan<F>(
    a: &[u8],
    b: &[u8],
    cfg: &SpacingConfig,
    batch: usize,
    predict: &F,
) -> Result<SpacingCurve>
where
    F: Fn(&[Vec<u8>]) -> Result<Vec<f64>> + Sync,
{
    let (wa, wb) = (a.len(), b.len());
    if cfg.n == 0 || wa + wb > cfg.len {
        return Ok(SpacingCurve { points: Vec::new() });
    }
    let anchor = cfg.len.saturating_sub(wa + cfg.max_gap + wb) / 2;
    let step = cfg.step.max(1);
    let gaps: Vec<usize> = (0..=cfg.max_gap)
        .step_by(step)
        .filter(|g| anchor + wa + g + wb <= cfg.len)
        .collect();
    let strand = |s: &[u8], plus: bool| {
        let mut v = s.to_vec();
        if !plus {
            reverse_complement_in_place(&mut v);
        }
        v
    };
    let (a_s, b_s) = (
        [strand(a, true), strand(a, false)],
        [strand(b, true), strand(b, false)],
    );
    let ng = gaps.len();
    // Per background: ∅, A+, A−, then per gap: B+, B−, AB in the four orientations.
    let per = 3 + 6 * ng;
    let mut seqs = Vec::with_capacity(cfg.n * per);
    for j in 0..cfg.n {
        let mut rng = keyed_rng(cfg.seed, &[j as u64]);
        let bg: Vec<u8> = (0..cfg.len)
            .map(|_| base_from(&cfg.composition, rng.random::<f64>()))
            .collect();
        let put = |s: &mut Vec<u8>, at: usize, inst: &[u8]| {
            s[at..at + inst.len()].copy_from_slice(inst);
        };
        seqs.push(bg.clone());
        for inst in &a_s {
            let mut s = bg.clone();
            put(&mut s, anchor, inst);
            seqs.push(s);
        }
        for &g in &gaps {
            let at = anchor + wa + g;
            for inst in &b_s {
                let mut s = bg.clone();
                put(&mut s, at, inst);
                seqs.push(s);
            }
            for &(_, pa, pb) in &ORIENTS {
                let mut s = bg.clone();
                put(&mut s, anchor, &a_s[usize::from(!pa)]);
                put(&mut s, at, &b_s[usize::from(!pb)]);
                seqs.push(s);
            }
        }
    }
    let f = predict_all(&seqs, batch, predict)?;
    let mut points = Vec::with_capacity(4 * ng);
    for &(name, pa, pb) in &ORIENTS {
        for (gi, &g) in gaps.iter().enumerate() {
            let oi = ORIENTS.iter().position(|o| o.0 == name).unwrap_or(0);
            let (mut coop, mut ab) = (Vec::with_capacity(cfg.n), Vec::with_capacity(cfg.n));
            for j in 0..cfg.n {
                let v = &f[j * per..(j + 1) * per];
                let base = 3 + 6 * gi;
                let f_ab = v[base + 2 + oi];
                let f_a = v[1 + usize::from(!pa)];
                let f_b = v[base + usize::from(!pb)];
                coop.push(f_ab - f_a - f_b + v[0]);
                ab.push(f_ab);
            }
            points.push(SpacingPoint {
                orientation: name,
                gap: g,
                cooperativity: mean(&coop),
                mean_ab: mean(&ab),
            });
        }
    }
    Ok(SpacingCurve { points })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"AAAAAC";
    const B: &[u8] = b"CCACCA";

    fn find(s: &[u8], m: &[u8]) -> Option<usize> {
        s.windows(m.len()).position(|w| w == m)
    }

    /// Rewards A followed by B (either strand) with a gap in 10..=20.
    fn windowed(seqs: &[Vec<u8>]) -> Result<Vec<f64>> {
        let rc = |m: &[u8]| {
            let mut v = m.to_vec();
            reverse_complement_in_place(&mut v);
            v
        };
        let (ar, br) = (rc(A), rc(B));
        Ok(seqs
            .iter()
            .map(|s| {
                let pa = find(s, A).or_else(|| find(s, &ar));
                let pb = find(s, B).or_else(|| find(s, &br));
                let mut f = 0.3 * f64::from(u8::from(pa.is_some()));
                f += 0.2 * f64::from(u8::from(pb.is_some()));
                if let (Some(x), Some(y)) = (pa, pb)
                    && y >= x + A.len()
                    && (10..=20).contains(&(y - x - A.len()))
                {
                    f += 1.0;
                }
                f
            })
            .collect())
    }

    #[test]
    fn recovers_a_planted_spacing_window() {
        let cfg = SpacingConfig {
            n: 4,
            len: 100,
            max_gap: 40,
            step: 1,
            // all-G background: the instances (and their reverse complements) occur
            // only where implanted
            composition: [0.0, 0.0, 1.0, 0.0],
            ..SpacingConfig::default()
        };
        let curve = spacing_scan(A, B, &cfg, 16, &windowed).unwrap();
        assert_eq!(curve.points.len(), 4 * 41);
        for p in &curve.points {
            let want = if (10..=20).contains(&p.gap) { 1.0 } else { 0.0 };
            assert!((p.cooperativity - want).abs() < 1e-12, "{p:?}");
        }
        let best = curve.best().unwrap();
        assert_eq!((best.orientation, best.gap), ("++", 10));
    }

    #[test]
    fn gaps_that_do_not_fit_are_dropped() {
        let cfg = SpacingConfig {
            n: 2,
            len: 30,
            max_gap: 40,
            step: 5,
            ..SpacingConfig::default()
        };
        let curve = spacing_scan(A, B, &cfg, 8, &windowed).unwrap();
        let gaps: Vec<usize> = curve
            .points
            .iter()
            .take_while(|p| p.orientation == "++")
            .map(|p| p.gap)
            .collect();
        assert_eq!(gaps, vec![0, 5, 10, 15]);
        let tiny = SpacingConfig { len: 8, ..cfg };
        assert!(
            spacing_scan(A, B, &tiny, 8, &windowed)
                .unwrap()
                .best()
                .is_none()
        );
    }

    #[test]
    fn the_scan_reaches_the_largest_observed_gap() {
        let site = |motif, start, end| Site {
            motif,
            start,
            end,
            plus: true,
        };
        // A–B at gaps 10 and 115 (B left of A in the second sequence); an overlap and a
        // third motif do not count.
        let sites = vec![
            vec![site(0, 0, 6), site(1, 16, 22), site(2, 150, 156)],
            vec![site(1, 4, 10), site(0, 125, 131), site(1, 128, 134)],
        ];
        assert_eq!(observed_max_gap(&sites, 0, 1), Some(115));
        assert_eq!(observed_max_gap(&sites, 0, 3), None);
        assert_eq!(observed_max_gap(&sites, 1, 1), Some(118));
        let cfg = SpacingConfig {
            max_gap: 40,
            step: 4,
            n: 2,
            len: 200,
            composition: [0.0, 0.0, 1.0, 0.0],
            ..SpacingConfig::default()
        };
        assert_eq!(scan_max_gap(&cfg, &sites, 0, 1), 116);
        assert_eq!(scan_max_gap(&cfg, &sites, 0, 3), 40);
        let fixed = SpacingConfig {
            cover_observed: false,
            ..cfg.clone()
        };
        assert_eq!(scan_max_gap(&fixed, &sites, 0, 1), 40);
        let wide = SpacingConfig {
            max_gap: scan_max_gap(&cfg, &sites, 0, 1),
            ..cfg
        };
        let curve = spacing_scan(A, B, &wide, 16, &windowed).unwrap();
        assert_eq!(curve.points.iter().map(|p| p.gap).max(), Some(116));
    }

    #[test]
    fn consensus_takes_the_most_probable_base() {
        let m = Motif {
            id: "m".into(),
            name: String::new(),
            probs: vec![
                [0.7, 0.1, 0.1, 0.1],
                [0.1, 0.1, 0.1, 0.7],
                [0.2, 0.5, 0.2, 0.1],
            ],
            nsites: 20.0,
            url: None,
        };
        assert_eq!(consensus(&m), b"ATC");
    }
}
