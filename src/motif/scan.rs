//! Motif scanning with FIMO's scores and p-values, fast.
//!
//! Sequences are encoded once (A, C, G, T → 0..4; everything else, N and IUPAC
//! codes included, → 4, which FIMO never scores). A window passes when its
//! integer score reaches the threshold derived from the p-value, so the p-value
//! table is consulted only for hits. Positions are visited most-informative first
//! and a window is abandoned as soon as even the best remaining bases could not
//! reach the threshold; most windows are rejected after two or three bases.

use super::{Pssm, pssm::Strand};

/// Code of bases FIMO does not score (N, IUPAC codes, gaps, anything else).
pub const INVALID: u8 = crate::seq::INVALID_BASE;

/// A window that passed the threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Hit {
    /// 0-based start of the window.
    pub start: usize,
    /// 0-based exclusive end (`start + width`).
    pub end: usize,
    /// `true` for the `+` strand (forward motif), `false` for `-` (reverse complement).
    pub plus: bool,
    /// Score in bits as FIMO reports it.
    pub score: f64,
    /// Exact p-value as FIMO reports it.
    pub pvalue: f64,
    /// Integer-scaled score behind `score` and `pvalue`.
    pub scaled: i32,
}

/// Base code: A/a 0, C/c 1, G/g 2, T/t/U/u 3, anything else [`INVALID`].
#[inline]
pub fn base_code(b: u8) -> u8 {
    crate::seq::base_code_u_as_t(b)
}

/// Encodes a sequence for [`Scanner::scan_encoded`].
pub fn encode(seq: &[u8]) -> Vec<u8> {
    seq.iter().map(|&b| base_code(b)).collect()
}

/// Dinucleotide codes for the SIMD filter: `pairs[i] = 4·(c[i] & 3) + (c[i+1] & 3)`
/// (invalid bases read as A; the exact rescoring rejects their windows). Shared by
/// all motifs scanning the same sequence.
pub fn pair_codes(codes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(codes.len());
    for i in 0..codes.len() {
        let next = codes.get(i + 1).copied().unwrap_or(0);
        out.push(((codes[i] & 3) << 2) | (next & 3));
    }
    out
}

/// Number of windows of width `w` containing only A, C, G, T (FIMO's scorable windows).
pub fn count_scorable_windows(codes: &[u8], w: usize) -> u64 {
    if w == 0 || codes.len() < w {
        return 0;
    }
    let mut bad = codes[..w].iter().filter(|&&c| c == INVALID).count();
    let mut n = u64::from(bad == 0);
    for i in w..codes.len() {
        bad += usize::from(codes[i] == INVALID);
        bad -= usize::from(codes[i - w] == INVALID);
        n += u64::from(bad == 0);
    }
    n
}

/// One orientation prepared for early-abandon scanning.
#[derive(Clone, Debug)]
struct Prepared {
    /// Positions, most discriminative first.
    order: Vec<usize>,
    /// Cells in `order`, with a fifth, hugely negative column for invalid bases.
    cells: Vec<[i32; 5]>,
    /// `bound[k]` = best possible score of positions `order[k..]`.
    bound: Vec<i32>,
    /// Windows scoring at least this pass.
    threshold: i32,
}

/// Low enough that one invalid base sinks any window (w·1000 ≪ 2^20).
const NEG: i32 = -(1 << 20);

impl Prepared {
    fn new(s: &Strand, threshold: i32) -> Self {
        let w = s.cells.len();
        let mut order: Vec<usize> = (0..w).collect();
        // Spread between best and mean cell: positions that punish mismatches most go first.
        let key = |i: usize| {
            let r = s.cells[i];
            let mx = *r.iter().max().unwrap_or(&0);
            let sum: i32 = r.iter().sum();
            4 * mx - sum
        };
        order.sort_by_key(|&i| (std::cmp::Reverse(key(i)), i));
        let cells: Vec<[i32; 5]> = order
            .iter()
            .map(|&i| {
                let r = s.cells[i];
                [r[0], r[1], r[2], r[3], NEG]
            })
            .collect();
        let mut bound = vec![0; w + 1];
        for k in (0..w).rev() {
            bound[k] = bound[k + 1] + cells[k][..4].iter().max().copied().unwrap_or(0);
        }
        Self {
            order,
            cells,
            bound,
            threshold,
        }
    }

    /// Scaled score of the window at `p` if it reaches the threshold.
    #[inline]
    fn score(&self, codes: &[u8], p: usize) -> Option<i32> {
        let win = &codes[p..p + self.order.len()];
        let mut s = 0i32;
        for (k, (&i, row)) in self.order.iter().zip(&self.cells).enumerate() {
            s += row[usize::from(win[i])];
            if s + self.bound[k + 1] < self.threshold {
                return None;
            }
        }
        Some(s)
    }
}

/// A motif prepared to scan many sequences at one p-value threshold.
pub struct Scanner<'a> {
    pssm: &'a Pssm,
    fwd: Prepared,
    rev: Option<Prepared>,
    /// AVX2 filter tables (forward, reverse) when the CPU has AVX2 and scores fit in u16.
    #[cfg(target_arch = "x86_64")]
    simd: Option<(simd::Tables, Option<simd::Tables>)>,
}

impl<'a> Scanner<'a> {
    /// Prepares `pssm` for windows with p-value `<= thresh_p` (FIMO's `--thresh`).
    pub fn new(pssm: &'a Pssm, thresh_p: f64, both_strands: bool) -> Self {
        let fwd = Prepared::new(&pssm.fwd, pssm.fwd.score_threshold(thresh_p));
        let rev =
            both_strands.then(|| Prepared::new(&pssm.rev, pssm.rev.score_threshold(thresh_p)));
        Self {
            #[cfg(target_arch = "x86_64")]
            simd: simd::Tables::new(&fwd).and_then(|f| match &rev {
                Some(r) => simd::Tables::new(r).map(|r| (f, Some(r))),
                None => Some((f, None)),
            }),
            pssm,
            fwd,
            rev,
        }
    }

    /// The motif width.
    pub fn width(&self) -> usize {
        self.pssm.width()
    }

    /// Appends the hits among windows starting in `from..to` of an [`encode`]d sequence,
    /// by position, `+` before `-` (FIMO's order). Windows must fit inside `codes`.
    pub fn scan_encoded(&self, codes: &[u8], from: usize, to: usize, out: &mut Vec<Hit>) {
        let pairs = if cfg!(target_arch = "x86_64") && self.has_simd() {
            pair_codes(codes)
        } else {
            Vec::new()
        };
        self.scan_encoded_pairs(codes, &pairs, from, to, out);
    }

    fn has_simd(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        return self.simd.is_some();
        #[cfg(not(target_arch = "x86_64"))]
        return false;
    }

    /// As [`Self::scan_encoded`], with the sequence's [`pair_codes`] computed once by the
    /// caller (an empty slice disables the SIMD filter).
    pub fn scan_encoded_pairs(
        &self,
        codes: &[u8],
        pairs: &[u8],
        from: usize,
        to: usize,
        out: &mut Vec<Hit>,
    ) {
        let w = self.width();
        if w == 0 || codes.len() < w {
            return;
        }
        let to = to.min(codes.len() - w + 1);
        let fwd_max = self.fwd.bound[0] >= self.fwd.threshold;
        let rev_max = self.rev.as_ref().is_some_and(|r| r.bound[0] >= r.threshold);
        if !fwd_max && !rev_max {
            return;
        }
        #[allow(unused_mut)]
        let mut from = from;
        #[cfg(not(target_arch = "x86_64"))]
        let _ = pairs;
        #[cfg(target_arch = "x86_64")]
        if let (Some((tf, tr)), true) = (&self.simd, pairs.len() == codes.len()) {
            // Blocks of 32 windows whose 32-byte loads stay inside `pairs`.
            let last_block = codes.len().saturating_sub(w + 31);
            while from + 32 <= to && from <= last_block {
                // SAFETY: Tables exist only when AVX2 was detected; loads end at
                // from + w - 1 + 32 <= codes.len().
                let (mf, mr) = unsafe { simd::block_masks(tf, tr.as_ref(), pairs, from) };
                let mf = if fwd_max { mf } else { 0 };
                let mr = if rev_max { mr } else { 0 };
                let mut m = mf | mr;
                while m != 0 {
                    let i = m.trailing_zeros();
                    m &= m - 1;
                    let p = from + i as usize;
                    if mf >> i & 1 == 1
                        && let Some(s) = self.fwd.score(codes, p)
                    {
                        out.push(self.hit(&self.pssm.fwd, p, true, s));
                    }
                    if mr >> i & 1 == 1
                        && let Some(s) = self.rev.as_ref().and_then(|r| r.score(codes, p))
                    {
                        out.push(self.hit(&self.pssm.rev, p, false, s));
                    }
                }
                from += 32;
            }
        }
        for p in from..to {
            if fwd_max && let Some(s) = self.fwd.score(codes, p) {
                out.push(self.hit(&self.pssm.fwd, p, true, s));
            }
            if rev_max && let Some(s) = self.rev.as_ref().and_then(|r| r.score(codes, p)) {
                out.push(self.hit(&self.pssm.rev, p, false, s));
            }
        }
    }

    fn hit(&self, strand: &Strand, p: usize, plus: bool, s: i32) -> Hit {
        Hit {
            start: p,
            end: p + self.width(),
            plus,
            score: strand.score_of(s),
            pvalue: strand.pvalue_of(s),
            scaled: s,
        }
    }

    /// All hits in `seq` (raw bases), by position, `+` before `-`.
    pub fn scan(&self, seq: &[u8]) -> Vec<Hit> {
        let codes = encode(seq);
        let mut out = Vec::new();
        self.scan_encoded(&codes, 0, codes.len(), &mut out);
        out
    }
}

#[cfg(target_arch = "x86_64")]
mod simd {
    //! AVX2 filter: 32 windows at a time. Cells are quantised to `c >> 4` (0..=62);
    //! each pair of motif positions has a 16-entry table (one per dinucleotide) of
    //! quantised sums (≤ 125), looked up with one byte shuffle; two pairs are added in
    //! u8 (≤ 250) before widening into u16 lanes (lightmotif's shuffle-lookup idea, on
    //! integers). Since `c ≤ 16·(c >> 4) + 15`, a window whose exact score reaches T has
    //! `16·Q + 15·w ≥ T`: the filter never drops a hit. Candidates (invalid bases read
    //! as A) are scored exactly by the scalar path, which also rejects invalid bases.
    use std::arch::x86_64::*;

    use super::Prepared;

    pub struct Tables {
        /// Per position pair: the 16 quantised dinucleotide sums, twice (both lanes).
        q: Vec<[u8; 32]>,
        threshold: u16,
    }

    impl Tables {
        /// `None` without AVX2.
        pub fn new(prep: &Prepared) -> Option<Self> {
            if !std::is_x86_feature_detected!("avx2") {
                return None;
            }
            let w = prep.order.len();
            let mut cells = vec![[0i32; 4]; w];
            for (k, &i) in prep.order.iter().enumerate() {
                cells[i].copy_from_slice(&prep.cells[k][..4]);
            }
            let quant = |c: i32| u8::try_from(c >> 4).ok().filter(|&v| v <= 62);
            let nq = w.div_ceil(2);
            let mut q = vec![[0u8; 32]; nq];
            for (p, tbl) in q.iter_mut().enumerate() {
                for c1 in 0..4 {
                    for c2 in 0..4 {
                        let second = match cells.get(2 * p + 1) {
                            Some(r) => quant(r[c2])?,
                            None => 0,
                        };
                        let v = quant(cells[2 * p][c1])? + second;
                        tbl[c1 * 4 + c2] = v;
                        tbl[16 + c1 * 4 + c2] = v;
                    }
                }
            }
            // Q >= ceil((T - 15 w) / 16); Q ≤ 62 w fits u16 for any motif under ~1000 bp.
            let need = (prep.threshold - 15 * w as i32).max(0);
            let threshold = u16::try_from((need + 15) / 16).ok()?;
            Some(Self { q, threshold })
        }
    }

    /// Adds one strand's quantised sums for pairs `p` (and `p + 1` when `two`).
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn step(
        t: &Tables,
        p: usize,
        c0: __m256i,
        c1: __m256i,
        two: bool,
        a0: &mut __m256i,
        a1: &mut __m256i,
    ) {
        let t0 = unsafe { _mm256_loadu_si256(t.q[p].as_ptr() as *const __m256i) };
        let mut s = _mm256_shuffle_epi8(t0, c0);
        if two {
            let t1 = unsafe { _mm256_loadu_si256(t.q[p + 1].as_ptr() as *const __m256i) };
            s = _mm256_add_epi8(s, _mm256_shuffle_epi8(t1, c1));
        }
        let zero = _mm256_setzero_si256();
        *a0 = _mm256_add_epi16(*a0, _mm256_unpacklo_epi8(s, zero));
        *a1 = _mm256_add_epi16(*a1, _mm256_unpackhi_epi8(s, zero));
    }

    /// Candidate masks (bit i = window `from + i`) for the forward and reverse tables.
    ///
    /// # Safety
    /// AVX2 must be available and `from + w - 1 + 32 <= pairs.len()` (w = motif width).
    #[target_feature(enable = "avx2")]
    pub unsafe fn block_masks(
        f: &Tables,
        r: Option<&Tables>,
        pairs: &[u8],
        from: usize,
    ) -> (u32, u32) {
        let nq = f.q.len();
        debug_assert!(from + 2 * (nq - 1) + 32 <= pairs.len());
        let zero = _mm256_setzero_si256();
        let (mut f0, mut f1, mut r0, mut r1) = (zero, zero, zero, zero);
        let base = unsafe { pairs.as_ptr().add(from) };
        let mut p = 0;
        while p < nq {
            let two = p + 1 < nq;
            // SAFETY: in bounds by the caller's contract; unaligned loads.
            let c0 = unsafe { _mm256_loadu_si256(base.add(2 * p) as *const __m256i) };
            let c1 = if two {
                unsafe { _mm256_loadu_si256(base.add(2 * p + 2) as *const __m256i) }
            } else {
                zero
            };
            unsafe { step(f, p, c0, c1, two, &mut f0, &mut f1) };
            if let Some(r) = r {
                unsafe { step(r, p, c0, c1, two, &mut r0, &mut r1) };
            }
            p += 2;
        }
        let mf = mask(f0, f1, f.threshold);
        let mr = match r {
            Some(r) => mask(r0, r1, r.threshold),
            None => 0,
        };
        (mf, mr)
    }

    /// Bit i set when window i's sum reaches `t` (unsigned compare). unpacklo/hi split
    /// each 128-bit lane's windows 0–7 / 8–15; packs restores window order.
    #[target_feature(enable = "avx2")]
    fn mask(a0: __m256i, a1: __m256i, t: u16) -> u32 {
        let tv = _mm256_set1_epi16(t as i16);
        let g0 = _mm256_cmpeq_epi16(_mm256_max_epu16(a0, tv), a0);
        let g1 = _mm256_cmpeq_epi16(_mm256_max_epu16(a1, tv), a1);
        _mm256_movemask_epi8(_mm256_packs_epi16(g0, g1)) as u32
    }
}

/// Scans one sequence: windows with p-value `<= thresh_p`, on both strands unless
/// `both_strands` is false; 0-based coordinates, by position, `+` before `-`.
pub fn scan_sequence(pssm: &Pssm, seq: &[u8], thresh_p: f64, both_strands: bool) -> Vec<Hit> {
    Scanner::new(pssm, thresh_p, both_strands).scan(seq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motif::{Background, Motif};

    fn motif() -> Motif {
        Motif {
            id: "m".into(),
            name: "n".into(),
            probs: vec![
                [0.9, 0.03, 0.03, 0.04],
                [0.05, 0.85, 0.05, 0.05],
                [0.1, 0.1, 0.7, 0.1],
                [0.02, 0.02, 0.02, 0.94],
                [0.4, 0.3, 0.2, 0.1],
            ],
            nsites: 50.0,
            url: None,
        }
    }

    /// Exhaustive reference: every window scored in full.
    fn naive(p: &Pssm, seq: &[u8], t: f64, both: bool) -> Vec<Hit> {
        let codes = encode(seq);
        let w = p.width();
        let mut out = Vec::new();
        for i in 0..=(codes.len().saturating_sub(w)) {
            if codes.len() < w {
                break;
            }
            let win = &codes[i..i + w];
            for (strand, plus) in [(&p.fwd, true), (&p.rev, false)] {
                if !plus && !both {
                    continue;
                }
                if let Some(s) = strand.scaled_score(win) {
                    let pv = strand.pvalue_of(s);
                    if pv <= t {
                        out.push(Hit {
                            start: i,
                            end: i + w,
                            plus,
                            score: strand.score_of(s),
                            pvalue: pv,
                            scaled: s,
                        });
                    }
                }
            }
        }
        out
    }

    #[test]
    fn early_abandon_matches_exhaustive_scan() {
        let p = Pssm::new(&motif(), &Background::uniform(), 0.1);
        let mut x: u64 = 42;
        let seq: Vec<u8> = (0..5000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b"ACGTACGTacgtNRACGT"[(x % 18) as usize]
            })
            .collect();
        for t in [1.0, 0.3, 1e-2, 1e-3, 1e-4] {
            for both in [true, false] {
                assert_eq!(scan_sequence(&p, &seq, t, both), naive(&p, &seq, t, both));
            }
        }
        assert!(!scan_sequence(&p, &seq, 1e-2, true).is_empty());
    }

    #[test]
    fn finds_planted_sites_on_both_strands() {
        let p = Pssm::new(&motif(), &Background::uniform(), 0.1);
        // ACGTA forward at 3; its reverse complement TACGT at 12.
        let hits = scan_sequence(&p, b"GGGACGTAGGGGTACGTGGG", 1e-3, true);
        assert!(hits.iter().any(|h| h.start == 3 && h.plus), "{hits:?}");
        assert!(hits.iter().any(|h| h.start == 12 && !h.plus), "{hits:?}");
        assert!(
            scan_sequence(&p, b"GGGACGTAGGGGTACGTGGG", 1e-3, false)
                .iter()
                .all(|h| h.plus)
        );
        // N never matches; short sequences give nothing; the last window is scanned.
        assert!(scan_sequence(&p, b"ACNTA", 1.0, true).is_empty());
        assert!(scan_sequence(&p, b"ACGT", 1.0, true).is_empty());
        assert_eq!(scan_sequence(&p, b"ACGTA", 1.0, false).len(), 1);
        assert_eq!(scan_sequence(&p, b"acgta", 1e-3, false)[0].start, 0);
    }

    #[test]
    fn even_width_and_shared_pairs_match_exhaustive_scan() {
        let mut m = motif();
        m.probs.push([0.1, 0.1, 0.1, 0.7]);
        let p = Pssm::new(&m, &Background::uniform(), 0.1);
        let seq: Vec<u8> = (0..3000u32)
            .map(|i| b"ACGTTGCAAN"[(i * 7 % 10) as usize ^ (i as usize).is_multiple_of(3) as usize])
            .collect();
        for t in [1.0, 1e-2, 1e-3] {
            assert_eq!(scan_sequence(&p, &seq, t, true), naive(&p, &seq, t, true));
            let sc = Scanner::new(&p, t, true);
            let codes = encode(&seq);
            let mut out = Vec::new();
            sc.scan_encoded_pairs(&codes, &pair_codes(&codes), 0, codes.len(), &mut out);
            assert_eq!(out, naive(&p, &seq, t, true));
        }
    }

    #[test]
    fn counts_scorable_windows() {
        assert_eq!(count_scorable_windows(&encode(b"ACGTNACGT"), 3), 4);
        assert_eq!(count_scorable_windows(&encode(b"AC"), 3), 0);
    }
}
