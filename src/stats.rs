//! The crate's statistics, in one place: correlations and R² as scipy and scikit-learn
//! compute them (checked in `tests/train_golden.rs`), Benjamini–Hochberg, and exact,
//! mergeable statistics: fixed-point sums, integer histograms, and the tests computed from
//! them (Mann–Whitney from histograms, ACAT).
//!
//! Every accumulated quantity is an integer, so adding sequences in any order, in any
//! number of shards or threads, gives the same state bit for bit.

use serde::{Deserialize, Serialize};

/// Pearson correlation (`scipy.stats.pearsonr`), computed with centred sums in `f64`.
///
/// ```
/// use cisformer::stats::pearson;
/// assert!((pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 7.0]) - 0.9933992677987828).abs() < 1e-12);
/// assert!(pearson(&[1.0, 1.0], &[1.0, 2.0]).is_nan());
/// ```
pub fn pearson(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "pearson: lengths differ");
    let n = x.len();
    if n < 2 {
        return f64::NAN;
    }
    let mx = mean(x);
    let my = mean(y);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (dx, dy) = (a - mx, b - my);
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if sxx == 0.0 || syy == 0.0 {
        return f64::NAN;
    }
    (sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0)
}

/// Spearman rank correlation (`scipy.stats.spearmanr`): Pearson of the ranks, ties
/// getting their average rank.
///
/// ```
/// use cisformer::stats::spearman;
/// let rho = spearman(&[1.0, 2.0, 3.0, 4.0], &[10.0, 20.0, 30.0, 1000.0]);
/// assert!((rho - 1.0).abs() < 1e-12);
/// ```
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    assert_eq!(x.len(), y.len(), "spearman: lengths differ");
    if x.iter().chain(y).any(|v| v.is_nan()) {
        return f64::NAN;
    }
    pearson(&average_ranks(x), &average_ranks(y))
}

/// Coefficient of determination (`sklearn.metrics.r2_score(target, pred)`), including
/// its convention for a constant target: 1 for a perfect prediction, else 0.
///
/// ```
/// use cisformer::stats::r2;
/// assert_eq!(r2(&[1.0, 2.0, 3.0], &[1.0, 2.0, 3.0]), 1.0);
/// assert_eq!(r2(&[2.0, 2.0, 2.0], &[1.0, 2.0, 3.0]), 0.0);
/// assert_eq!(r2(&[3.0, 2.0, 1.0], &[1.0, 2.0, 3.0]), -3.0);
/// ```
pub fn r2(pred: &[f64], target: &[f64]) -> f64 {
    assert_eq!(pred.len(), target.len(), "r2: lengths differ");
    if target.is_empty() {
        return f64::NAN;
    }
    let m = mean(target);
    let ss_tot: f64 = target.iter().map(|t| (t - m) * (t - m)).sum();
    let ss_res: f64 = pred
        .iter()
        .zip(target)
        .map(|(p, t)| (t - p) * (t - p))
        .sum();
    if ss_tot == 0.0 {
        return if ss_res == 0.0 { 1.0 } else { 0.0 };
    }
    1.0 - ss_res / ss_tot
}

/// 1-based ranks with ties averaged (`scipy.stats.rankdata(method="average")`).
///
/// ```
/// assert_eq!(cisformer::stats::average_ranks(&[3.0, 1.0, 3.0, 2.0]), [3.5, 1.0, 3.5, 2.0]);
/// ```
pub fn average_ranks(x: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..x.len()).collect();
    order.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ranks = vec![0.0; x.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && x[order[j]] == x[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j share their mean.
        let r = (i + 1 + j) as f64 / 2.0;
        for &k in &order[i..j] {
            ranks[k] = r;
        }
        i = j;
    }
    ranks
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Fixed-point scale of accumulated sums: 2^40 (about 1e-12 resolution).
const FX_SCALE: f64 = (1u64 << 40) as f64;

/// Converts a value to fixed point; non-finite values count as 0.
#[inline]
pub(crate) fn fx(x: f64) -> i128 {
    if x.is_finite() {
        (x * FX_SCALE).round() as i128
    } else {
        0
    }
}

/// Converts a fixed-point sum back to a float.
#[inline]
pub(crate) fn unfx(s: i128) -> f64 {
    s as f64 / FX_SCALE
}

/// Histogram bins per octave of |value| (1.1 % wide: values that differ by more than
/// that are ranked, not tied).
const BINS_PER_OCTAVE: f64 = 64.0;
/// Smallest |value| told apart from 0: 2^-40.
const LOG2_FLOOR: f64 = -40.0;
/// Largest bin magnitude (|value| up to 2^24 stays distinct).
const MAX_BIN: i32 = 64 * 64;

/// Bin of a value on a signed log scale: 64 bins per octave, 0 for |v| < 2^-40.
///
/// Only the order of bins matters to the rank test, and a log scale keeps attention
/// (around 1/n) and attention×gradient (any scale, any sign) equally resolved.
#[inline]
pub(crate) fn bin_of(v: f64) -> i16 {
    if !v.is_finite() {
        return if v > 0.0 {
            MAX_BIN as i16
        } else if v < 0.0 {
            -(MAX_BIN as i16)
        } else {
            0
        };
    }
    let a = v.abs();
    if a == 0.0 {
        return 0;
    }
    let l = a.log2();
    if l < LOG2_FLOOR {
        return 0;
    }
    // Offset by half a bin so that round values (1 = uniform) sit mid-bin, where float
    // noise cannot flip them between bins.
    let b = (1 + ((l - LOG2_FLOOR) * BINS_PER_OCTAVE + 0.5).floor() as i32).min(MAX_BIN) as i16;
    if v < 0.0 { -b } else { b }
}

/// Width of a histogram's bin counts: `u32` for the (pair, head) histograms that live for
/// the whole run (6 bytes a bin, not 10: those bins are what a long run's memory grows
/// by), `u64` for pools summed over them.
pub(crate) trait Count: Copy + Default + Ord + Into<u64> + std::fmt::Debug {
    fn checked_add(self, o: Self) -> Option<Self>;
}

impl Count for u32 {
    fn checked_add(self, o: Self) -> Option<Self> {
        u32::checked_add(self, o)
    }
}

impl Count for u64 {
    fn checked_add(self, o: Self) -> Option<Self> {
        u64::checked_add(self, o)
    }
}

/// A bin count passed what its histogram's counts can hold.
#[derive(Debug)]
pub(crate) struct Overflow;

impl From<Overflow> for crate::Error {
    fn from(_: Overflow) -> Self {
        crate::Error::Invalid(format!(
            "more than {} values fell in one rank-test histogram bin: too many sequences \
             for one table",
            u32::MAX
        ))
    }
}

/// A sparse histogram of integer bin counts, sorted by bin.
///
/// Bins and counts live in separate arrays so that the binary search of an update
/// touches 2 bytes per entry: with thousands of (pair, head) histograms per sequence,
/// cache misses of that search are the cost of the whole interaction pass.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Hist<C = u32> {
    bins: Vec<i16>,
    counts: Vec<C>,
}

impl Hist<u32> {
    /// Counts one value; fails rather than wrap when its bin is full.
    #[inline]
    pub fn add(&mut self, bin: i16) -> Result<(), Overflow> {
        match self.bins.binary_search(&bin) {
            Ok(i) => self.counts[i] = self.counts[i].checked_add(1).ok_or(Overflow)?,
            Err(i) => {
                self.bins.insert(i, bin);
                self.counts.insert(i, 1);
            }
        }
        Ok(())
    }
}

impl<C: Count> Hist<C> {
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|&c| c.into()).sum()
    }

    /// Whether the arrays are consistent (for states read from files).
    pub fn is_valid(&self) -> bool {
        self.bins.len() == self.counts.len() && self.bins.windows(2).all(|w| w[0] < w[1])
    }

    /// This histogram less `other`, whose counts it holds (a pool less one member).
    pub fn minus<D: Count>(&self, other: &Hist<D>) -> Hist<u64> {
        let mut out = Hist::default();
        let mut j = 0;
        for (i, &b) in self.bins.iter().enumerate() {
            let mut c: u64 = self.counts[i].into();
            if j < other.bins.len() && other.bins[j] == b {
                c -= other.counts[j].into().min(c);
                j += 1;
            }
            if c > 0 {
                out.bins.push(b);
                out.counts.push(c);
            }
        }
        out
    }

    /// Adds `other`'s counts. In place when all its bins are already here (the usual case
    /// once a pair has been seen often); otherwise rebuilt at the exact union size, since
    /// thousands of these live for the whole run and slack would grow with the input.
    /// Fails, leaving `self` unspecified, when a bin's count would overflow.
    pub fn merge<D: Count + Into<C>>(&mut self, other: &Hist<D>) -> Result<(), Overflow> {
        if other.bins.is_empty() {
            return Ok(());
        }
        // Position of each of `other`'s bins here, or None (one forward walk).
        let find = |walk: &mut usize, b: i16| {
            *walk += self.bins[*walk..].partition_point(|&x| x < b);
            (self.bins.get(*walk) == Some(&b)).then_some(*walk)
        };
        let mut walk = 0;
        let new = other
            .bins
            .iter()
            .filter(|&&b| find(&mut walk, b).is_none())
            .count();
        let sum = |a: C, b: D| a.checked_add(b.into()).ok_or(Overflow);
        if new == 0 {
            let mut walk = 0;
            for (&b, &c) in other.bins.iter().zip(&other.counts) {
                let i = find(&mut walk, b).expect("every bin is present");
                self.counts[i] = sum(self.counts[i], c)?;
            }
            return Ok(());
        }
        let n = self.bins.len() + new;
        let (mut bins, mut counts) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut i, mut j) = (0, 0);
        let (a, b) = (&self.bins, &other.bins);
        while i < a.len() || j < b.len() {
            if j == b.len() || (i < a.len() && a[i] < b[j]) {
                bins.push(a[i]);
                counts.push(self.counts[i]);
                i += 1;
            } else if i == a.len() || b[j] < a[i] {
                bins.push(b[j]);
                counts.push(other.counts[j].into());
                j += 1;
            } else {
                bins.push(a[i]);
                counts.push(sum(self.counts[i], other.counts[j])?);
                i += 1;
                j += 1;
            }
        }
        self.bins = bins;
        self.counts = counts;
        Ok(())
    }
}

/// One-sided Mann–Whitney test that `obs` tends to exceed `null`, from binned values.
///
/// Values in the same bin count as ties (U gets half); the normal approximation uses
/// the variance *without* tie correction, with continuity correction. Ties here come
/// from binning, and when nearly all values share a bin the tie-corrected variance
/// collapses and turns a single outlier into p ~ 1e-3; the untied variance is larger,
/// so the test stays conservative. Returns `(p, auc)` with `auc = U / (n1 n2)`;
/// `p = 1` when either side is empty.
pub(crate) fn mann_whitney<C: Count, D: Count>(obs: &Hist<C>, null: &Hist<D>) -> (f64, f64) {
    let (n1, n2) = (obs.total(), null.total());
    if n1 == 0 || n2 == 0 {
        return (1.0, f64::NAN);
    }
    // 2U = sum over obs bins of count * (2 * null below + null in bin): exact integers.
    let mut two_u: u128 = 0;
    let mut below: u128 = 0;
    let (a, b) = (&obs.bins, &null.bins);
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        let (co, cn, take_i, take_j) = if j == b.len() || (i < a.len() && a[i] < b[j]) {
            (obs.counts[i].into() as u128, 0u128, true, false)
        } else if i == a.len() || b[j] < a[i] {
            (0, null.counts[j].into() as u128, false, true)
        } else {
            (
                obs.counts[i].into() as u128,
                null.counts[j].into() as u128,
                true,
                true,
            )
        };
        two_u += co * (2 * below + cn);
        below += cn;
        i += take_i as usize;
        j += take_j as usize;
    }
    let (f1, f2) = (n1 as f64, n2 as f64);
    let n = f1 + f2;
    let u = two_u as f64 / 2.0;
    let auc = u / (f1 * f2);
    let var = f1 * f2 / 12.0 * (n + 1.0);
    let z = (u - f1 * f2 / 2.0 - 0.5) / var.sqrt();
    (normal_upper(z).clamp(0.0, 1.0), auc)
}

/// Upper tail of the standard normal, accurate to ~1e-7 relative even far out.
pub(crate) fn normal_upper(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes `erfcc`, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let ans = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { ans } else { 2.0 - ans }
}

/// Sums of one value per sequence (fixed point, so merging is exact): the state of a
/// one-sample t-test with the sequence as the unit of replication.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MeanSums {
    pub n: u64,
    sum: i128,
    sum_sq: i128,
}

/// A mean over sequences with its 95% t-interval and two-sided p-value against 0.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MeanTest {
    pub n: u64,
    pub mean: f64,
    pub lo: f64,
    pub hi: f64,
    pub p: f64,
}

impl MeanSums {
    pub fn add(&mut self, v: f64) {
        self.n += 1;
        self.sum += fx(v);
        self.sum_sq += fx(v * v);
    }

    pub fn merge(&mut self, o: &MeanSums) {
        self.n += o.n;
        self.sum += o.sum;
        self.sum_sq += o.sum_sq;
    }

    /// Student's t-test of mean 0 (NaN mean and p = 1 without values; NaN interval and
    /// p = 1 with one value, or none of spread).
    pub fn test(&self) -> MeanTest {
        self.test_beyond(0.0)
    }

    /// Standard deviation of the values (NaN with fewer than two).
    pub fn sd(&self) -> f64 {
        if self.n < 2 {
            return f64::NAN;
        }
        let n = self.n as f64;
        let mean = unfx(self.sum) / n;
        ((unfx(self.sum_sq) - n * mean * mean) / (n - 1.0))
            .max(0.0)
            .sqrt()
    }

    /// The t-test of the interval null `|mean| <= margin` (a minimum-effect test): its
    /// p-value is the chance, at the worst case `|mean| = margin`, of an estimate as far
    /// out as the one seen. A margin of 0 is the two-sided test of mean 0. The interval
    /// is the plain 95% t-interval of the mean.
    pub fn test_beyond(&self, margin: f64) -> MeanTest {
        let n = self.n as f64;
        let mean = if self.n > 0 {
            unfx(self.sum) / n
        } else {
            f64::NAN
        };
        let var = if self.n > 1 {
            ((unfx(self.sum_sq) - n * mean * mean) / (n - 1.0)).max(0.0)
        } else {
            f64::NAN
        };
        let se = (var / n).sqrt();
        if se.is_nan() || se <= 0.0 {
            return MeanTest {
                n: self.n,
                mean,
                lo: f64::NAN,
                hi: f64::NAN,
                p: 1.0,
            };
        }
        use statrs::distribution::{ContinuousCDF, StudentsT};
        let t = StudentsT::new(0.0, 1.0, n - 1.0).expect("n > 1 degrees of freedom");
        let crit = t.inverse_cdf(0.975);
        MeanTest {
            n: self.n,
            mean,
            lo: mean - crit * se,
            hi: mean + crit * se,
            p: (t.sf((mean.abs() - margin) / se) + t.sf((mean.abs() + margin) / se))
                .clamp(0.0, 1.0),
        }
    }
}

impl MeanTest {
    /// One-sided p-value of the interval null `mean <= margin` against `mean > margin`, from
    /// the same t-statistic as the interval; 1 without an interval (too few values, no
    /// spread).
    pub fn p_above(&self, margin: f64) -> f64 {
        let half = self.hi - self.mean;
        if self.n < 2 || !half.is_finite() || half <= 0.0 {
            return 1.0;
        }
        use statrs::distribution::{ContinuousCDF, StudentsT};
        let t = StudentsT::new(0.0, 1.0, self.n as f64 - 1.0).expect("n > 1 degrees of freedom");
        let se = half / t.inverse_cdf(0.975);
        t.sf((self.mean - margin) / se).clamp(0.0, 1.0)
    }

    /// One-sided p-value that the mean exceeds 0 (or the margin of
    /// [`MeanSums::test_beyond`], which this test's `p` was computed with).
    pub fn p_greater(&self) -> f64 {
        if self.p >= 1.0 || !self.mean.is_finite() {
            return if self.mean > 0.0 { 0.5 } else { 1.0 };
        }
        if self.mean > 0.0 {
            self.p / 2.0
        } else {
            1.0 - self.p / 2.0
        }
    }
}

/// Benjamini–Hochberg q-values, in the order of `p`, over the tests in `p`.
pub fn bh(p: &[f64]) -> Vec<f64> {
    bh_qvalues(p, p.len() as u64)
}

/// Benjamini–Hochberg q-values of `p` given `m` ≥ `p.len()` tests in total (e.g. motif
/// hits, the smallest p-values of all `m` scored windows, so their ranks are global ranks).
///
/// ```
/// let q = cisformer::stats::bh_qvalues(&[0.01, 0.001, 0.01], 10);
/// assert!((q[1] - 0.01).abs() < 1e-15 && (q[0] - 1.0 / 30.0).abs() < 1e-15);
/// ```
pub fn bh_qvalues(p: &[f64], m: u64) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..p.len()).collect();
    idx.sort_by(|&a, &b| p[a].total_cmp(&p[b]).then(a.cmp(&b)));
    let mut q = vec![1.0; p.len()];
    let mut run = 1.0f64;
    for (rank, &i) in idx.iter().enumerate().rev() {
        let v = (p[i] * m as f64 / (rank + 1) as f64).min(1.0);
        run = run.min(v);
        q[i] = run;
    }
    q
}

/// Cauchy combination (ACAT, Liu & Xie 2020) of p-values with equal weights: valid
/// under arbitrary dependence, which heads of one model certainly have.
pub(crate) fn acat(p: &[f64]) -> f64 {
    if p.is_empty() {
        return 1.0;
    }
    let mut t = 0.0;
    for &pi in p {
        let pi = pi.clamp(1e-300, 1.0 - 1e-15);
        t += if pi < 1e-15 {
            1.0 / (pi * std::f64::consts::PI)
        } else {
            ((0.5 - pi) * std::f64::consts::PI).tan()
        };
    }
    t /= p.len() as f64;
    if t > 1e15 {
        (1.0 / (t * std::f64::consts::PI)).min(1.0)
    } else {
        (0.5 - t.atan() / std::f64::consts::PI).clamp(0.0, 1.0)
    }
}

/// Formats a float for tables: `NA` when not finite.
pub(crate) fn fmt_f(x: f64, digits: usize) -> String {
    if x.is_finite() {
        format!("{x:.digits$}")
    } else {
        "NA".into()
    }
}

/// The smallest p- or q-value a table prints. Tails beyond it underflow to 0 in double
/// precision; writing the floor (read it as "< 1e-300") keeps the column numeric for R
/// and pandas instead of printing a p-value of 0.
pub const P_FLOOR: f64 = 1e-300;

/// Formats a p- or q-value in scientific notation, at least [`P_FLOOR`].
pub(crate) fn fmt_p(x: f64) -> String {
    if x.is_finite() {
        format!("{:.3e}", x.max(P_FLOOR))
    } else {
        "NA".into()
    }
}

/// `p ln p` with `0 ln 0 = 0`, branch- and division-free so that row loops vectorise.
///
/// ln splits into the exponent and a degree-7 least-squares polynomial of t = m - 1
/// for a mantissa m in [0.707, 1.414) (absolute error below 3e-7), several times
/// cheaper than `ln`.
#[inline(always)]
pub(crate) fn p_ln_p(p: f32) -> f32 {
    let x = p.max(1e-30);
    let bits = x.to_bits();
    let mut e = ((bits >> 23) & 0xff) as i32 - 127;
    let mut m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000); // in [1, 2)
    let big = m > std::f32::consts::SQRT_2;
    m = if big { m * 0.5 } else { m };
    e += big as i32;
    let t = m - 1.0;
    let ln_m = t
        * (1.000_004
            + t * (-0.500_014_5
                + t * (0.332_989_55
                    + t * (-0.248_981_2
                        + t * (0.206_738_35 + t * (-0.187_792_08 + t * 0.114_490_83))))));
    let ln = e as f32 * std::f32::consts::LN_2 + ln_m;
    if p > 0.0 { p * ln } else { 0.0 }
}

#[cfg(test)]
mod tests {

    #[test]
    fn p_values_print_the_floor_not_zero() {
        use super::fmt_p;
        assert_eq!(fmt_p(0.0), "1.000e-300");
        assert_eq!(fmt_p(1e-320), "1.000e-300");
        assert_eq!(fmt_p(0.0123), "1.230e-2");
        assert_eq!(fmt_p(f64::NAN), "NA");
    }

    #[test]
    fn one_sided_margin_test_matches_r() {
        let mut m = MeanSums::default();
        for v in [1.0, 2.0, 3.0, 4.0, 5.0] {
            m.add(v);
        }
        // R: t.test(1:5, mu = 2, alternative = "greater") -> t = 1.4142, df = 4, p = 0.1151.
        let t = m.test_beyond(2.0);
        assert!((t.p_above(2.0) - 0.1151).abs() < 1e-4, "{}", t.p_above(2.0));
        // At the margin itself the evidence is even; far below it there is none.
        assert!((t.p_above(3.0) - 0.5).abs() < 1e-9);
        assert!(t.p_above(10.0) > 0.99);
        let mut flat = MeanSums::default();
        flat.add(1.0);
        flat.add(1.0);
        assert_eq!(flat.test_beyond(0.0).p_above(0.0), 1.0);
    }

    #[test]
    fn mean_test_matches_r_and_is_uniform_under_the_null() {
        let mut m = MeanSums::default();
        for v in [1.0, 2.0, 3.0, 4.0, 5.0] {
            m.add(v);
        }
        // R: t.test(1:5) -> t = 4.2426, df = 4, p = 0.01324, CI 1.036757 4.963243.
        let t = m.test();
        assert!((t.p - 0.01324).abs() < 1e-5, "{t:?}");
        assert!((t.lo - 1.036757).abs() < 1e-5 && (t.hi - 4.963243).abs() < 1e-5);
        assert!((t.p_greater() - 0.00662).abs() < 1e-5);
        // Merging is exact.
        let (mut a, mut b) = (MeanSums::default(), MeanSums::default());
        for (i, v) in [1.0, 2.0, 3.0, 4.0, 5.0].into_iter().enumerate() {
            if i % 2 == 0 { a.add(v) } else { b.add(v) }
        }
        a.merge(&b);
        assert_eq!(a, m);
        // Null data: p-values uniform (2000 tests of 15 values).
        use rand::SeedableRng;
        use rand_distr::{Distribution, Normal};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let normal = Normal::new(0.3, 2.0).unwrap();
        let mut ps: Vec<f64> = (0..2000)
            .map(|_| {
                let mut m = MeanSums::default();
                for _ in 0..15 {
                    m.add(normal.sample(&mut rng) - 0.3);
                }
                m.test().p
            })
            .collect();
        ps.sort_by(f64::total_cmp);
        let ks = ps
            .iter()
            .enumerate()
            .map(|(i, p)| (p - (i as f64 + 0.5) / ps.len() as f64).abs())
            .fold(0.0, f64::max);
        assert!(ks < 0.04, "KS distance {ks}");
        // An interval null: an effect of 3 is not beyond 2.9 with this spread, but is
        // beyond 1; and is "beyond" 0 exactly as the plain test says.
        assert!(m.test_beyond(2.9).p > 0.4);
        assert!(m.test_beyond(1.0).p < 0.05 && m.test_beyond(1.0).p > t.p);
        assert!((m.test_beyond(0.0).p - t.p).abs() < 1e-15);
        assert!((m.sd() - 1.5811388).abs() < 1e-6);
        // One value or none: no test.
        let mut one = MeanSums::default();
        assert_eq!(one.test().p, 1.0);
        one.add(2.0);
        assert!(one.test().lo.is_nan() && one.test().p == 1.0);
    }
    use super::*;

    fn hist(vals: &[f64]) -> Hist {
        let mut h = Hist::default();
        for &v in vals {
            h.add(bin_of(v)).unwrap();
        }
        h
    }

    #[test]
    fn fixed_point_round_trips_and_sums_exactly() {
        let xs = [0.1, 1e-9, 3.5, -2.25];
        let s: i128 = xs.iter().map(|&x| fx(x)).sum();
        let r: i128 = xs.iter().rev().map(|&x| fx(x)).sum();
        assert_eq!(s, r);
        assert!((unfx(s) - xs.iter().sum::<f64>()).abs() < 1e-11);
        assert_eq!(fx(f64::NAN), 0);
    }

    #[test]
    fn bins_are_monotone_and_signed() {
        let vals = [-1e3, -1.0, -1e-3, 0.0, 1e-13, 1e-3, 0.5, 1.0, 1.1, 1e3, 1e9];
        let bins: Vec<i16> = vals.iter().map(|&v| bin_of(v)).collect();
        assert!(bins.windows(2).all(|w| w[0] <= w[1]), "{bins:?}");
        assert_eq!(bin_of(0.0), 0);
        assert!(bin_of(1.0) < bin_of(1.1));
    }

    #[test]
    fn mann_whitney_detects_shift_and_ignores_ties() {
        let obs = hist(&[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        let null = hist(&[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]);
        let (p, auc) = mann_whitney(&obs, &null);
        assert!(p < 1e-3, "{p}");
        assert_eq!(auc, 1.0);
        let (p, _) = mann_whitney(&null, &obs);
        assert!(p > 0.99);
        let same = hist(&[1.0; 10]);
        assert!(mann_whitney(&same, &same).0 > 0.5);
        // One outlier among ties is no evidence.
        let mut one = hist(&[1.0; 34]);
        one.add(bin_of(1.5)).unwrap();
        assert!(mann_whitney(&one, &hist(&[1.0; 280])).0 > 0.2);
        assert_eq!(mann_whitney(&Hist::<u32>::default(), &same).0, 1.0);
        // Matches the textbook value: n1 = n2 = 8, U = 64 -> z = 3.31, p = 4.6e-4.
        let z = (64.0 - 32.0 - 0.5) / (8.0f64 * 8.0 * 17.0 / 12.0).sqrt();
        assert!((p_upper_ref(z) - mann_whitney(&obs, &null).0).abs() < 1e-9);
    }

    fn p_upper_ref(z: f64) -> f64 {
        normal_upper(z)
    }

    #[test]
    fn normal_tail_is_accurate() {
        assert!((normal_upper(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_upper(1.959_963_985) - 0.025).abs() < 1e-8);
        let far = normal_upper(10.0);
        assert!((far / 7.619_853e-24 - 1.0).abs() < 1e-5, "{far}");
    }

    #[test]
    fn histogram_merge_is_a_sum() {
        let mut a = hist(&[1.0, 2.0, 2.0]);
        let b = hist(&[2.0, 4.0]);
        a.merge(&b).unwrap();
        assert_eq!(a, hist(&[1.0, 2.0, 2.0, 2.0, 4.0]));
        assert_eq!(a.bins.capacity(), a.bins.len(), "rebuilt without slack");
        // Only bins already present: added in place.
        a.merge(&hist(&[4.0, 1.0, 4.0])).unwrap();
        assert_eq!(a, hist(&[1.0, 1.0, 2.0, 2.0, 2.0, 4.0, 4.0, 4.0]));
        a.merge(&Hist::<u32>::default()).unwrap();
        a.merge(&hist(&[0.5, 8.0])).unwrap();
        assert_eq!(a, hist(&[0.5, 1.0, 1.0, 2.0, 2.0, 2.0, 4.0, 4.0, 4.0, 8.0]));
        // A u64 pool takes u32 members, and gives them back.
        let mut pool = Hist::<u64>::default();
        pool.merge(&a).unwrap();
        pool.merge(&b).unwrap();
        assert_eq!(pool.total(), 12);
        assert_eq!(pool.minus(&b).total(), a.total());
        assert_eq!(mann_whitney(&a, &pool.minus(&b)), mann_whitney(&a, &a));
    }

    #[test]
    fn full_bins_fail_instead_of_wrapping() {
        let bin = bin_of(1.0);
        let mut full = Hist {
            bins: vec![bin],
            counts: vec![u32::MAX],
        };
        assert!(full.add(bin).is_err());
        assert!(full.merge(&hist(&[1.0])).is_err());
        // Another bin still has room, and a pool is wide enough for the full one twice.
        assert!(full.clone().add(bin_of(2.0)).is_ok());
        let mut pool = Hist::<u64>::default();
        pool.merge(&full).unwrap();
        pool.merge(&full).unwrap();
        assert_eq!(pool.total(), 2 * u32::MAX as u64);
        let e: crate::Error = Overflow.into();
        assert!(e.to_string().contains("rank-test histogram bin"), "{e}");
    }

    #[test]
    fn bh_and_acat() {
        let q = bh(&[0.01, 0.04, 0.03, 0.5]);
        let want = [0.04, 0.16 / 3.0, 0.16 / 3.0, 0.5];
        assert!(
            q.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12),
            "{q:?}"
        );
        assert!((acat(&[0.5]) - 0.5).abs() < 1e-12);
        assert!(acat(&[1e-20, 0.9, 0.9]) < 1e-19);
        assert!(acat(&[1.0, 1.0]) > 0.99);
    }

    #[test]
    fn fast_entropy_term_is_close() {
        for &p in &[1e-8f32, 1e-4, 0.01, 0.3, 0.5, 0.999, 1.0] {
            let exact = p as f64 * (p as f64).ln();
            assert!((p_ln_p(p) as f64 - exact).abs() < 2e-5, "{p}");
        }
        assert_eq!(p_ln_p(0.0), 0.0);
    }
}
