//! Integer-scaled log-odds matrices and exact p-values, computed as FIMO (MEME 5.4.1) does.
//!
//! FIMO smooths the motif with a pseudocount, takes `log2(p / bg)` (with MEME's
//! constant 1.44269504 for 1/ln 2), shifts and scales every cell to an integer in
//! `0..=1000`, and sums integers per window. The p-value of a window is the exact
//! tail probability of its integer score under the background, found by dynamic
//! programming over the `w·1000 + 1` possible scores (`get_pv_lookup` in pssm.c).
//! Both the reported score and p-value are rounded to 10 significant digits, as
//! FIMO does, so printed values match it digit for digit.

use super::{Background, Motif};

/// Scaled scores per cell lie in `0..=RANGE` (MEME's `PSSM_RANGE`).
pub const RANGE: i32 = 1000;

/// One orientation of a motif: scaled cells, the scaling, and the p-value table.
#[derive(Clone, Debug)]
pub struct Strand {
    /// Scaled integer score of each base (A, C, G, T) at each position.
    pub cells: Vec<[i32; 4]>,
    /// Scaled score = round((log-odds − offset) · scale), per cell.
    pub scale: f64,
    /// Integer offset subtracted from every cell before scaling.
    pub offset: f64,
    /// `pv[s - pv_start]` = probability that a background window scores at least `s`.
    pub pv: Vec<f64>,
    /// Lowest score with a tabulated p-value (0 unless built for a threshold).
    pub pv_start: usize,
}

impl Strand {
    /// With `tail = Some(p)` only the p-values of scores that can reach `p` are tabulated.
    fn new(probs: &[[f64; 4]], bg: &[f64; 4], tail: Option<f64>) -> Self {
        let w = probs.len();
        // log2 odds exactly as MEME's my_log2: ln(x) * 1.44269504; log(0) is SMALL_POS.
        let lo: Vec<[f64; 4]> = probs
            .iter()
            .map(|r| {
                let mut o = [0.0; 4];
                for a in 0..4 {
                    o[a] = meme_log2(r[a] / bg[a]);
                }
                o
            })
            .collect();
        let mut small = f64::INFINITY;
        let mut large = f64::NEG_INFINITY;
        for r in &lo {
            for &x in r {
                small = small.min(x);
                large = large.max(x);
            }
        }
        if large == small {
            small = large - 1.0;
        }
        let offset = small.floor();
        let scale = (f64::from(RANGE) / (large - offset)).floor();
        let cells: Vec<[i32; 4]> = lo
            .iter()
            .map(|r| r.map(|x| nint((x - offset) * scale)))
            .collect();
        let (pv, pv_start) = match tail {
            None => (pv_lookup(&cells, bg, w, 0), 0),
            Some(p) => {
                // Tabulate from `lo` up, widening until the table holds a p-value above
                // `p`, so the threshold score lies inside it.
                let max_total: usize = cells
                    .iter()
                    .map(|r| *r.iter().max().unwrap_or(&0) as usize)
                    .sum();
                let mut width = RANGE as usize;
                loop {
                    let lo = max_total.saturating_sub(width);
                    let pv = pv_lookup(&cells, bg, w, lo);
                    if lo == 0 || rnd10(pv[0]) > p {
                        break (pv, lo);
                    }
                    width *= 4;
                }
            }
        };
        Self {
            cells,
            scale,
            offset,
            pv,
            pv_start,
        }
    }

    /// The score FIMO reports for a scaled window score (bits, 10 significant digits).
    pub fn score_of(&self, scaled: i32) -> f64 {
        rnd10(f64::from(scaled) / self.scale + self.cells.len() as f64 * self.offset)
    }

    /// The p-value FIMO reports for a scaled window score (10 significant digits).
    /// Scores below the table of a thresholded PSSM get 1 (they never pass); use
    /// [`Self::pvalue_checked`] to tell.
    pub fn pvalue_of(&self, scaled: i32) -> f64 {
        self.pvalue_checked(scaled).unwrap_or(1.0)
    }

    /// The reported p-value, or `None` when the score lies below the tabulated range.
    pub fn pvalue_checked(&self, scaled: i32) -> Option<f64> {
        let top = (self.pv_start + self.pv.len()) as i32 - 1;
        let s = scaled.clamp(0, top) as usize;
        (s >= self.pv_start).then(|| rnd10(self.pv[s - self.pv_start]))
    }

    /// Smallest scaled score whose reported p-value is `<= p` (FIMO keeps `p-value <= thresh`);
    /// one past the maximum when no window can reach `p`.
    /// For a PSSM built with [`Pssm::with_threshold`], valid for `p` up to that threshold.
    pub fn score_threshold(&self, p: f64) -> i32 {
        // pv is non-increasing: binary search for the first index that passes.
        let (mut lo, mut hi) = (0usize, self.pv.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if rnd10(self.pv[mid]) <= p {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        (self.pv_start + lo) as i32
    }

    /// Scaled score of a window of base codes (0..4 = A, C, G, T); `None` if any code is not a base.
    pub fn scaled_score(&self, codes: &[u8]) -> Option<i32> {
        let mut s = 0;
        for (row, &c) in self.cells.iter().zip(codes) {
            s += *row.get(usize::from(c))?;
        }
        Some(s)
    }
}

/// A motif ready for scanning: both orientations scored and tabulated as FIMO does.
///
/// The reverse orientation is built from the reverse-complemented motif with its
/// own scaling and table, exactly like FIMO's separate `rev_pssm`.
#[derive(Clone, Debug)]
pub struct Pssm {
    /// Motif id.
    pub id: String,
    /// Motif alternative name.
    pub name: String,
    /// Forward orientation.
    pub fwd: Strand,
    /// Reverse-complement orientation (scores the `-` strand of a forward window).
    pub rev: Strand,
}

/// FIMO's default motif pseudocount (`--motif-pseudo 0.1`).
pub const FIMO_PSEUDOCOUNT: f64 = 0.1;

/// The PSSMs `scan` builds by default (uniform background, FIMO's pseudocount); the
/// analyses and the simulator's site filter use the same so their sites are `scan` hits.
pub fn uniform_pssms(motifs: &[Motif]) -> Vec<Pssm> {
    let bg = Background::uniform();
    motifs
        .iter()
        .map(|m| Pssm::new(m, &bg, FIMO_PSEUDOCOUNT))
        .collect()
}

impl Pssm {
    /// Builds the PSSM of `motif` against `bg`, smoothing with FIMO's motif pseudocount
    /// (`p' = (p·n + pseudo·bg) / (n + pseudo)`, n = nsites truncated, 20 when unknown).
    ///
    /// For FIMO-identical results scanning both strands, pass a background that is
    /// [`Background::symmetrized`] (FIMO averages complementary bases then).
    pub fn new(motif: &Motif, bg: &Background, pseudo: f64) -> Pssm {
        Self::build(motif, bg, pseudo, None)
    }

    /// Like [`Pssm::new`], but tabulates only the p-values of scores that can reach
    /// `p` (the top of the distribution), which is several times faster: for scanning
    /// at thresholds up to `p`. Scores and p-values of hits are identical; windows
    /// below the table get `None` from [`Pssm::window_pvalue`].
    pub fn with_threshold(motif: &Motif, bg: &Background, pseudo: f64, p: f64) -> Pssm {
        Self::build(motif, bg, pseudo, Some(p))
    }

    fn build(motif: &Motif, bg: &Background, pseudo: f64, tail: Option<f64>) -> Pssm {
        let bgf = bg.freqs();
        let probs = smooth(motif, &bgf, pseudo);
        let rc: Vec<[f64; 4]> = probs
            .iter()
            .rev()
            .map(|r| [r[3], r[2], r[1], r[0]])
            .collect();
        Pssm {
            id: motif.id.clone(),
            name: motif.name.clone(),
            fwd: Strand::new(&probs, &bgf, tail),
            rev: Strand::new(&rc, &bgf, tail),
        }
    }

    /// Motif width.
    pub fn width(&self) -> usize {
        self.fwd.cells.len()
    }

    /// p-value of the forward-orientation score of `window` (exactly `width` bases,
    /// case-insensitive, U read as T); `None` for another length or a non-ACGT base.
    pub fn window_pvalue(&self, window: &[u8]) -> Option<f64> {
        let s = self.window_scaled(window)?;
        self.fwd.pvalue_checked(s)
    }

    /// Score in bits (as FIMO reports it) of the forward orientation on `window`.
    pub fn window_score(&self, window: &[u8]) -> Option<f64> {
        let s = self.window_scaled(window)?;
        Some(self.fwd.score_of(s))
    }

    fn window_scaled(&self, window: &[u8]) -> Option<i32> {
        if window.len() != self.width() {
            return None;
        }
        let codes: Vec<u8> = window
            .iter()
            .map(|&b| crate::seq::base_code_u_as_t(b))
            .collect();
        self.fwd.scaled_score(&codes)
    }

    /// Scaled forward score threshold for p-value `p`: windows scoring at least this pass.
    pub fn score_threshold(&self, p: f64) -> i32 {
        self.fwd.score_threshold(p)
    }

    /// Smallest p-value any window can reach (forward orientation).
    pub fn min_pvalue(&self) -> f64 {
        let max: i32 = self
            .fwd
            .cells
            .iter()
            .map(|r| *r.iter().max().unwrap_or(&0))
            .sum();
        self.fwd.pvalue_of(max)
    }
}

/// FIMO's motif smoothing (motif.c `apply_pseudocount_to_motif`), after MEME's row
/// normalisation (rows off by more than 1e-5 are divided by their sum).
fn smooth(motif: &Motif, bg: &[f64; 4], pseudo: f64) -> Vec<[f64; 4]> {
    let mut probs = motif.probs.clone();
    for r in &mut probs {
        let t: f64 = r.iter().sum();
        if t > 0.0 && !(1.0 - 0.00001..=1.0 + 0.00001).contains(&t) {
            *r = r.map(|x| x / t);
        }
    }
    if pseudo <= 0.0 {
        return probs;
    }
    // C stores nsites in an int: truncation, and 20 (DEFAULT_SITE_COUNT) when it is not positive.
    let sites = if motif.nsites > 0.0 {
        f64::from(motif.nsites.min(f64::from(i32::MAX)) as i32)
    } else {
        20.0
    };
    let total = sites + pseudo;
    for r in &mut probs {
        for a in 0..4 {
            r[a] = (r[a] * sites + pseudo * bg[a]) / total;
        }
    }
    probs
}

/// MEME's truncated 1/ln 2; using the exact constant would shift some scaled cells.
#[allow(clippy::approx_constant)]
const MEME_LOG2_E: f64 = 1.44269504;
/// MEME's `mylog10` divisor.
#[allow(clippy::approx_constant)]
const MEME_LN_10: f64 = 2.30258509299405;

fn meme_log2(x: f64) -> f64 {
    if x > 0.0 {
        let lx = x.ln();
        let lx = if lx < -0.5e10 { -1.0e10 } else { lx };
        lx * MEME_LOG2_E
    } else {
        1e-300
    }
}

fn nint(x: f64) -> i32 {
    if x >= 0.0 {
        (x + 0.5) as i32
    } else {
        (x - 0.5) as i32
    }
}

/// Exact tail probabilities `P(score >= s)` for `s >= lo` (pssm.c `get_pdf_table` +
/// `get_pv_lookup`), with the same loop order so sums round identically.
///
/// Partial scores that cannot reach `lo` even with the best remaining bases are never
/// expanded: they add nothing to any score `>= lo`, and every other state receives
/// exactly the additions, in the same order, that the full table gives it, so the
/// tabulated values are bit-identical to FIMO's. Returns the table from `lo` up.
fn pv_lookup(cells: &[[i32; 4]], bg: &[f64; 4], w: usize, lo: usize) -> Vec<f64> {
    let range = RANGE as usize;
    let size = w * range + 1;
    // rem[i] = best score of rows i.. (rem[w] = 0).
    let mut rem = vec![0usize; w + 1];
    for i in (0..w).rev() {
        rem[i] = rem[i + 1] + *cells[i].iter().max().unwrap_or(&0) as usize;
    }
    let mut old = vec![0.0f64; size];
    let mut new = vec![0.0f64; size];
    new[0] = 1.0;
    // Reachable partial scores after i rows lie in [min_pref, max_pref]; cells outside
    // are zero, and adding 0·b leaves a sum bit-identical, so skipping them (and
    // FIMO's `old != 0` test) changes nothing while letting the loop vectorise.
    let (mut min_pref, mut max_pref) = (0usize, 0usize);
    for (i, row) in cells.iter().enumerate() {
        let max = i * range;
        std::mem::swap(&mut old, &mut new);
        let from = lo.saturating_sub(rem[i]).min(max);
        let upto = (max + range).min(size - 1);
        new[from..=upto].iter_mut().for_each(|x| *x = 0.0);
        let k0 = from.max(min_pref);
        let k1 = max_pref.min(max);
        if k0 <= k1 {
            for (a, &s) in row.iter().enumerate() {
                let s = s as usize;
                let b = bg[a];
                let src = &old[k0..=k1];
                let dst = &mut new[k0 + s..=k1 + s];
                for (d, &o) in dst.iter_mut().zip(src) {
                    *d += o * b;
                }
            }
        }
        min_pref += *row.iter().min().unwrap_or(&0) as usize;
        max_pref += *row.iter().max().unwrap_or(&0) as usize;
    }
    let lo = lo.min(size - 1);
    let mut pv = new;
    for i in (lo..size - 1).rev() {
        let p = pv[i] + pv[i + 1];
        pv[i] = p.min(1.0);
    }
    pv.drain(..lo);
    pv
}

/// Round to 10 significant digits as MEME's `RND(x, 10, y)` (round half to even via rint).
pub(crate) fn rnd10(x: f64) -> f64 {
    if x == 0.0 {
        return 0.0;
    }
    let a = x.abs();
    let z = 10f64.powf((10.0 - 1.0 - a.ln() / MEME_LN_10).ceil());
    let y = (z * a).round_ties_even() / z;
    if x < 0.0 { -y } else { y }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arnt() -> Motif {
        crate::motif::parse_str(
            ">MA0004.1 Arnt\nA [4 19 0 0 0 0]\nC [16 0 20 0 0 0]\nG [0 1 0 20 0 20]\nT [0 0 0 0 20 0]\n",
            "arnt",
            None,
        )
        .unwrap()
        .motifs
        .remove(0)
    }

    #[test]
    fn fimo_documented_arnt_values() {
        // shared/data/README.md: FIMO scores CACGTG as 11.55 with p = 1/4096.
        let p = Pssm::new(&arnt(), &Background::uniform(), 0.1);
        assert_eq!(p.width(), 6);
        let pv = p.window_pvalue(b"CACGTG").unwrap();
        assert!((pv - 0.000244140625).abs() < 1e-12, "{pv}");
        let s = p.window_score(b"cacgtg").unwrap();
        assert!((s - 11.55).abs() < 0.005, "{s}");
        assert_eq!(p.window_pvalue(b"CACGTN"), None);
        assert_eq!(p.window_pvalue(b"CACGT"), None);
        assert!(
            p.score_threshold(1e-4) > p.fwd.cells.iter().map(|r| *r.iter().max().unwrap()).sum()
        );
        assert_eq!(p.min_pvalue(), pv);
    }

    #[test]
    fn pvalues_are_exact_tail_probabilities() {
        // Brute force over all 4^w windows for a small motif.
        let m = Motif {
            id: "m".into(),
            name: String::new(),
            probs: vec![
                [0.7, 0.1, 0.1, 0.1],
                [0.2, 0.3, 0.4, 0.1],
                [0.05, 0.05, 0.1, 0.8],
                [0.25; 4],
            ],
            nsites: 10.0,
            url: None,
        };
        let bg = Background::from_freqs([0.3, 0.2, 0.2, 0.3]);
        let p = Pssm::new(&m, &bg, 0.1);
        let mut scores = Vec::new();
        for x in 0..256u32 {
            let codes: Vec<u8> = (0..4).map(|k| ((x >> (2 * k)) & 3) as u8).collect();
            let pr: f64 = codes.iter().map(|&c| bg.freqs()[c as usize]).product();
            scores.push((p.fwd.scaled_score(&codes).unwrap(), pr));
        }
        for &(s, _) in &scores {
            let tail: f64 = scores.iter().filter(|(t, _)| *t >= s).map(|(_, q)| q).sum();
            assert!((p.fwd.pvalue_of(s) - tail).abs() < 1e-12);
        }
        // Threshold is consistent with the table.
        for t in [1e-1, 1e-2, 4e-3] {
            let s = p.score_threshold(t);
            assert!(p.fwd.pvalue_of(s) <= t);
            assert!(s == 0 || p.fwd.pvalue_of(s - 1) > t);
        }
        // The reverse orientation of a symmetric background is the mirrored table.
        let ps = Pssm::new(&m, &bg.symmetrized(), 0.1);
        let mut rc: Vec<[i32; 4]> = ps
            .fwd
            .cells
            .iter()
            .rev()
            .map(|r| [r[3], r[2], r[1], r[0]])
            .collect();
        assert_eq!(rc, ps.rev.cells);
        rc.clear();
    }

    #[test]
    fn thresholded_tables_are_bit_identical_tails() {
        let f = crate::motif::jaspar2024();
        let mut pruned = 0;
        for m in f.motifs.iter().step_by(37) {
            let full = Pssm::new(m, &Background::uniform(), 0.1);
            for p in [1e-3, 1e-4, 1e-6] {
                let t = Pssm::with_threshold(m, &Background::uniform(), 0.1, p);
                for (a, b) in [(&full.fwd, &t.fwd), (&full.rev, &t.rev)] {
                    pruned += usize::from(b.pv_start > 0);
                    assert_eq!(&a.pv[b.pv_start..], &b.pv[..], "{} p={p}", m.id);
                    assert_eq!(a.score_threshold(p), b.score_threshold(p));
                }
            }
        }
        assert!(pruned > 100, "{pruned}");
    }

    #[test]
    fn rnd10_matches_meme() {
        assert_eq!(rnd10(0.000244140625), 0.000244140625);
        assert_eq!(rnd10(1.23456789012345), 1.23456789);
        assert_eq!(rnd10(-2.5), -2.5);
        assert_eq!(rnd10(0.0), 0.0);
    }
}
