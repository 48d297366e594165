//! A k-mer ridge-regression baseline: what a Transformer has to beat.
//!
//! Features are k-mer counts for every k in a range, both strands summed (each
//! k-mer counted as its canonical form, the smaller of itself and its reverse
//! complement), standardised on the training rows. Ridge is solved in closed
//! form — Cholesky on the normal equations `(ZᵀZ + αI) w = Zᵀy`, or on the dual
//! `(ZZᵀ + αI) a = y` when there are fewer training rows than features — for each
//! α of a small grid, and the α with the best mean validation R² is kept.
//!
//! Deterministic whatever the thread count: the Gram matrix of the (integer)
//! counts is accumulated in exact integer arithmetic before it turns into floats.
use std::ops::ControlFlow;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::{
    Error, Result,
    train::{Dataset, Split, metrics},
};

/// Largest supported k: 1..=6 gives 2,772 canonical features, whose dense Gram
/// matrix and Cholesky factor still fit comfortably in memory and time.
pub const MAX_K: usize = 6;

/// Counts k-mers of a range of lengths into a sparse feature vector.
///
/// ```
/// use cisformer::baseline::KmerFeaturizer;
/// let f = KmerFeaturizer::new(1, 2, true).unwrap();
/// assert_eq!(f.n_features(), 2 + 10);
/// // A/T and C/G are one feature each; "AC" and "GT" are one canonical 2-mer.
/// let x = f.counts(b"ACGTN");
/// assert_eq!(f.feature_names()[0], "A");
/// assert_eq!(x.iter().map(|&(_, c)| c).sum::<u32>(), 4 + 3);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmerFeaturizer {
    kmin: usize,
    kmax: usize,
    canonical: bool,
    /// For each k (index k - kmin), k-mer code → feature index.
    maps: Vec<Vec<u32>>,
    names: Vec<String>,
}

impl KmerFeaturizer {
    /// Features for every k in `kmin..=kmax`; `canonical` merges reverse complements.
    pub fn new(kmin: usize, kmax: usize, canonical: bool) -> Result<Self> {
        if kmin == 0 || kmin > kmax || kmax > MAX_K {
            return Err(Error::Invalid(format!(
                "k-mer range {kmin}-{kmax} is not valid (need 1 <= kmin <= kmax <= {MAX_K})"
            )));
        }
        let mut maps = Vec::new();
        let mut names = Vec::new();
        for k in kmin..=kmax {
            let n = 1usize << (2 * k);
            let mut map = vec![u32::MAX; n];
            for code in 0..n {
                let rc = revcomp_code(code, k);
                let rep = if canonical { code.min(rc) } else { code };
                if map[rep] == u32::MAX {
                    map[rep] = names.len() as u32;
                    names.push(decode(rep, k));
                }
                map[code] = map[rep];
            }
            maps.push(map);
        }
        Ok(KmerFeaturizer {
            kmin,
            kmax,
            canonical,
            maps,
            names,
        })
    }

    /// Number of features.
    pub fn n_features(&self) -> usize {
        self.names.len()
    }

    /// The k-mer each feature counts (its canonical form), in feature order.
    pub fn feature_names(&self) -> &[String] {
        &self.names
    }

    /// Sparse counts `(feature, count)`, sorted by feature. Windows holding a
    /// base other than A, C, G, T (either case) are skipped.
    pub fn counts(&self, seq: &[u8]) -> Vec<(u32, u32)> {
        let mut hits: Vec<u32> = Vec::with_capacity(seq.len() * (self.kmax - self.kmin + 1));
        for (ki, k) in (self.kmin..=self.kmax).enumerate() {
            let mask = (1usize << (2 * k)) - 1;
            let map = &self.maps[ki];
            let (mut code, mut valid) = (0usize, 0usize);
            for &b in seq {
                let Some(v) = crate::seq::base_index(b) else {
                    valid = 0;
                    continue;
                };
                code = ((code << 2) | v) & mask;
                valid += 1;
                if valid >= k {
                    hits.push(map[code]);
                }
            }
        }
        hits.sort_unstable();
        let mut out: Vec<(u32, u32)> = Vec::new();
        for h in hits {
            match out.last_mut() {
                Some((f, c)) if *f == h => *c += 1,
                _ => out.push((h, 1)),
            }
        }
        out
    }
}

fn revcomp_code(mut code: usize, k: usize) -> usize {
    let mut rc = 0;
    for _ in 0..k {
        rc = (rc << 2) | (3 - (code & 3));
        code >>= 2;
    }
    rc
}

fn decode(code: usize, k: usize) -> String {
    (0..k)
        .rev()
        .map(|i| b"ACGT"[(code >> (2 * i)) & 3] as char)
        .collect()
}

/// Settings of [`RidgeBaseline::fit`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RidgeOptions {
    /// Shortest k-mer.
    pub kmin: usize,
    /// Longest k-mer.
    pub kmax: usize,
    /// Sum both strands (canonical k-mers).
    pub canonical: bool,
    /// Candidate penalties; the best on the validation rows is kept.
    pub alphas: Vec<f64>,
}

impl Default for RidgeOptions {
    fn default() -> Self {
        RidgeOptions {
            kmin: 1,
            kmax: 5,
            canonical: true,
            alphas: vec![0.1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5],
        }
    }
}

/// A fitted k-mer ridge model (serialisable, e.g. to `ridge.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RidgeBaseline {
    /// The settings it was fitted with.
    pub options: RidgeOptions,
    /// Output names.
    pub output_names: Vec<String>,
    /// The chosen penalty.
    pub alpha: f64,
    /// Mean validation R² of every candidate α, in grid order.
    pub alpha_scores: Vec<(f64, f64)>,
    /// Training mean of each feature.
    pub feature_mean: Vec<f64>,
    /// 1 / training standard deviation of each feature (0 for constant features).
    pub feature_scale: Vec<f64>,
    /// Per output, the weight of each raw count (standardisation folded in).
    pub weights: Vec<Vec<f64>>,
    /// Per output, the prediction for a sequence with all counts zero.
    pub intercept: Vec<f64>,
    /// Number of training rows.
    pub n_train: usize,
}

impl RidgeBaseline {
    /// Fits on `split.train`, choosing α on `split.val`.
    ///
    /// ```
    /// use cisformer::{baseline::{RidgeBaseline, RidgeOptions}, train::{Dataset, Split}};
    /// // Activity = number of 'A's: learnable exactly from 1-mers.
    /// let seqs: Vec<Vec<u8>> = (0..40u32).map(|i| (0..8).map(|j| b"ACGA"[((i * 7 + j * 3) % 4) as usize]).collect()).collect();
    /// let targets = seqs.iter().map(|s| vec![s.iter().filter(|&&b| b == b'A').count() as f32]).collect();
    /// let ds = Dataset { ids: (0..40).map(|i| format!("s{i}")).collect(), seqs, targets, output_names: vec!["y".into()], ..Default::default() };
    /// let split = Split { train: (0..30).collect(), val: (30..40).collect(), test: vec![] };
    /// let opts = RidgeOptions { kmin: 1, kmax: 1, canonical: false, alphas: vec![1e-6] };
    /// let m = RidgeBaseline::fit(&ds, &split, &opts).unwrap();
    /// let p = m.predict(&[b"AAAACCCC"]);
    /// assert!((p[0][0] - 4.0).abs() < 1e-3);
    /// ```
    pub fn fit(data: &Dataset, split: &Split, opts: &RidgeOptions) -> Result<RidgeBaseline> {
        Self::fit_with_progress(data, split, opts, &mut |_| ControlFlow::Continue(()))
    }

    /// [`RidgeBaseline::fit`], reporting each finished α (index into `opts.alphas`);
    /// `Break` stops with an error.
    pub fn fit_with_progress(
        data: &Dataset,
        split: &Split,
        opts: &RidgeOptions,
        progress: &mut dyn FnMut(usize) -> ControlFlow<()>,
    ) -> Result<RidgeBaseline> {
        split.check_usable()?;
        if opts.alphas.is_empty() || opts.alphas.iter().any(|a| !(a.is_finite() && *a > 0.0)) {
            return Err(Error::Invalid(
                "ridge penalties (alphas) must be positive numbers".into(),
            ));
        }
        let feat = KmerFeaturizer::new(opts.kmin, opts.kmax, opts.canonical)?;
        let p = feat.n_features();
        let k = data.n_outputs();
        let train_x: Vec<Vec<(u32, u32)>> = split
            .train
            .par_iter()
            .map(|&i| feat.counts(&data.seqs[i]))
            .collect();
        let val_x: Vec<Vec<(u32, u32)>> = split
            .val
            .par_iter()
            .map(|&i| feat.counts(&data.seqs[i]))
            .collect();
        let n = train_x.len();
        let nf = n as f64;

        // Column sums and sums of squares, exact in integers.
        let mut sum = vec![0u64; p];
        let mut sumsq = vec![0u64; p];
        for row in &train_x {
            for &(j, c) in row {
                sum[j as usize] += u64::from(c);
                sumsq[j as usize] += u64::from(c) * u64::from(c);
            }
        }
        let mean: Vec<f64> = sum.iter().map(|&s| s as f64 / nf).collect();
        let scale: Vec<f64> = (0..p)
            .map(|j| {
                // n·Σx² − (Σx)², exact, is n² times the population variance.
                let num = (n as u128) * u128::from(sumsq[j]) - u128::from(sum[j]).pow(2);
                if num == 0 {
                    0.0
                } else {
                    nf / (num as f64).sqrt()
                }
            })
            .collect();

        // Targets centred per output.
        let y: Vec<Vec<f64>> = (0..k)
            .map(|o| {
                split
                    .train
                    .iter()
                    .map(|&i| f64::from(data.targets[i][o]))
                    .collect()
            })
            .collect();
        let y_mean: Vec<f64> = y.iter().map(|c| c.iter().sum::<f64>() / nf).collect();
        let yc: Vec<Vec<f64>> = y
            .iter()
            .zip(&y_mean)
            .map(|(c, m)| c.iter().map(|v| v - m).collect())
            .collect();

        let solver = if n >= p {
            Solver::primal(&train_x, &mean, &scale, &yc, p)
        } else {
            Solver::dual(&train_x, &mean, &scale, &yc, p)
        };

        let val_y: Vec<Vec<f64>> = (0..k)
            .map(|o| {
                split
                    .val
                    .iter()
                    .map(|&i| f64::from(data.targets[i][o]))
                    .collect()
            })
            .collect();
        let mut best: Option<(f64, usize, Vec<Vec<f64>>)> = None;
        let mut alpha_scores = Vec::with_capacity(opts.alphas.len());
        for (ai, &alpha) in opts.alphas.iter().enumerate() {
            let w_std = solver.solve(alpha)?;
            let (weights, intercept) = fold_scaling(&w_std, &mean, &scale, &y_mean);
            let mut score = 0.0;
            for o in 0..k {
                let pred: Vec<f64> = val_x
                    .iter()
                    .map(|x| dot_sparse(x, &weights[o]) + intercept[o])
                    .collect();
                score += metrics::r2(&pred, &val_y[o]);
            }
            score /= k as f64;
            alpha_scores.push((alpha, score));
            if best
                .as_ref()
                .is_none_or(|(s, _, _)| score > *s || s.is_nan())
            {
                best = Some((score, ai, w_std));
            }
            if progress(ai).is_break() {
                return Err(Error::Invalid("ridge fit interrupted".into()));
            }
        }
        let (_, ai, w_std) = best.expect("at least one alpha");
        let (weights, intercept) = fold_scaling(&w_std, &mean, &scale, &y_mean);
        Ok(RidgeBaseline {
            options: opts.clone(),
            output_names: data.output_names.clone(),
            alpha: opts.alphas[ai],
            alpha_scores,
            feature_mean: mean,
            feature_scale: scale,
            weights,
            intercept,
            n_train: n,
        })
    }

    /// Predictions, one row of outputs per sequence.
    pub fn predict(&self, seqs: &[&[u8]]) -> Vec<Vec<f32>> {
        let feat = self.featurizer();
        seqs.par_iter()
            .map(|s| {
                let x = feat.counts(s);
                self.weights
                    .iter()
                    .zip(&self.intercept)
                    .map(|(w, b)| (dot_sparse(&x, w) + b) as f32)
                    .collect()
            })
            .collect()
    }

    fn featurizer(&self) -> KmerFeaturizer {
        KmerFeaturizer::new(self.options.kmin, self.options.kmax, self.options.canonical)
            .expect("options were checked at fit time")
    }
}

fn dot_sparse(x: &[(u32, u32)], w: &[f64]) -> f64 {
    x.iter().map(|&(j, c)| f64::from(c) * w[j as usize]).sum()
}

/// Turns weights on standardised features into weights on raw counts and an intercept.
fn fold_scaling(
    w_std: &[Vec<f64>],
    mean: &[f64],
    scale: &[f64],
    y_mean: &[f64],
) -> (Vec<Vec<f64>>, Vec<f64>) {
    let weights: Vec<Vec<f64>> = w_std
        .iter()
        .map(|w| w.iter().zip(scale).map(|(a, s)| a * s).collect())
        .collect();
    let intercept = weights
        .iter()
        .zip(y_mean)
        .map(|(w, ym)| ym - w.iter().zip(mean).map(|(a, m)| a * m).sum::<f64>())
        .collect();
    (weights, intercept)
}

/// The linear system shared by every α.
enum Solver {
    /// `ZᵀZ` (p×p, row-major) and `Zᵀy` per output.
    Primal {
        gram: Vec<f64>,
        rhs: Vec<Vec<f64>>,
        p: usize,
    },
    /// `ZZᵀ` (n×n), the dense standardised rows `Z`, and `y` per output.
    Dual {
        gram: Vec<f64>,
        z: Vec<Vec<f64>>,
        y: Vec<Vec<f64>>,
        p: usize,
    },
}

/// Rows per parallel task when accumulating the Gram matrix.
const GRAM_CHUNK: usize = 1024;

impl Solver {
    fn primal(
        x: &[Vec<(u32, u32)>],
        mean: &[f64],
        scale: &[f64],
        yc: &[Vec<f64>],
        p: usize,
    ) -> Solver {
        // XᵀX in exact integers: the reduction order cannot change the result.
        let xtx: Vec<u64> = x
            .par_chunks(GRAM_CHUNK)
            .map(|rows| {
                let mut g = vec![0u64; p * p];
                for row in rows {
                    for (a, &(i, ci)) in row.iter().enumerate() {
                        let gi = &mut g[i as usize * p..(i as usize + 1) * p];
                        let ci = u64::from(ci);
                        for &(j, cj) in &row[a..] {
                            gi[j as usize] += ci * u64::from(cj);
                        }
                    }
                }
                g
            })
            .reduce_with(|mut a, b| {
                a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                a
            })
            .unwrap_or_else(|| vec![0u64; p * p]);
        let nf = x.len() as f64;
        let mut gram = vec![0.0; p * p];
        for i in 0..p {
            for j in i..p {
                // Centred cross-product, then standardised.
                let c = (xtx[i * p + j] as f64 - nf * mean[i] * mean[j]) * scale[i] * scale[j];
                gram[i * p + j] = c;
                gram[j * p + i] = c;
            }
        }
        let rhs = yc
            .iter()
            .map(|y| {
                let mut r = vec![0.0; p];
                for (row, &yi) in x.iter().zip(y) {
                    for &(j, c) in row {
                        r[j as usize] += f64::from(c) * yi;
                    }
                }
                // Σ (x − μ) y_c = Σ x y_c because Σ y_c = 0.
                r.iter_mut().zip(scale).for_each(|(v, s)| *v *= s);
                r
            })
            .collect();
        Solver::Primal { gram, rhs, p }
    }

    fn dual(
        x: &[Vec<(u32, u32)>],
        mean: &[f64],
        scale: &[f64],
        yc: &[Vec<f64>],
        p: usize,
    ) -> Solver {
        let z: Vec<Vec<f64>> = x
            .iter()
            .map(|row| {
                let mut d: Vec<f64> = mean.iter().zip(scale).map(|(m, s)| -m * s).collect();
                for &(j, c) in row {
                    d[j as usize] += f64::from(c) * scale[j as usize];
                }
                d
            })
            .collect();
        let n = z.len();
        let rows: Vec<Vec<f64>> = (0..n)
            .into_par_iter()
            .map(|i| (0..n).map(|j| dot(&z[i], &z[j])).collect())
            .collect();
        let gram = rows.concat();
        Solver::Dual {
            gram,
            z,
            y: yc.to_vec(),
            p,
        }
    }

    /// Weights on standardised features, per output.
    fn solve(&self, alpha: f64) -> Result<Vec<Vec<f64>>> {
        match self {
            Solver::Primal { gram, rhs, p } => {
                let l = cholesky_with_ridge(gram, *p, alpha)?;
                Ok(rhs.iter().map(|b| cholesky_solve(&l, *p, b)).collect())
            }
            Solver::Dual { gram, z, y, p } => {
                let n = z.len();
                let l = cholesky_with_ridge(gram, n, alpha)?;
                Ok(y.iter()
                    .map(|yo| {
                        let a = cholesky_solve(&l, n, yo);
                        let mut w = vec![0.0; *p];
                        for (zi, ai) in z.iter().zip(&a) {
                            w.iter_mut().zip(zi).for_each(|(wj, zij)| *wj += ai * zij);
                        }
                        w
                    })
                    .collect())
            }
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Lower Cholesky factor of `A + αI` (row-major, n×n).
fn cholesky_with_ridge(a: &[f64], n: usize, alpha: f64) -> Result<Vec<f64>> {
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let (li, lj) = (&l[i * n..i * n + j], &l[j * n..j * n + j]);
            let s = dot(li, lj);
            let aij = a[i * n + j] + if i == j { alpha } else { 0.0 };
            if i == j {
                let d = aij - s;
                if d.is_nan() || d <= 0.0 {
                    return Err(Error::Invalid(format!(
                        "ridge system is not positive definite at alpha {alpha} (pivot {d})"
                    )));
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (aij - s) / l[j * n + j];
            }
        }
    }
    Ok(l)
}

/// Solves `L Lᵀ x = b`.
fn cholesky_solve(l: &[f64], n: usize, b: &[f64]) -> Vec<f64> {
    let mut y = vec![0.0; n];
    for i in 0..n {
        y[i] = (b[i] - dot(&l[i * n..i * n + i], &y[..i])) / l[i * n + i];
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let mut s = y[i];
        for k in i + 1..n {
            s -= l[k * n + i] * x[k];
        }
        x[i] = s / l[i * n + i];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_feature_counts() {
        for k in 1..=6 {
            let f = KmerFeaturizer::new(k, k, true).unwrap();
            let n = 1usize << (2 * k);
            let expected = if k % 2 == 0 {
                (n + (1 << k)) / 2
            } else {
                n / 2
            };
            assert_eq!(f.n_features(), expected, "k={k}");
        }
        assert_eq!(KmerFeaturizer::new(1, 5, true).unwrap().n_features(), 692);
        assert!(KmerFeaturizer::new(0, 2, true).is_err());
        assert!(KmerFeaturizer::new(3, 2, true).is_err());
        assert!(KmerFeaturizer::new(1, 7, true).is_err());
    }

    #[test]
    fn strand_symmetric_counts() {
        let f = KmerFeaturizer::new(1, 4, true).unwrap();
        let s = b"ACGGTTAGCAnNTTAGGaccgt";
        assert_eq!(f.counts(s), f.counts(&crate::seq::reverse_complement(s)));
        let g = KmerFeaturizer::new(2, 2, false).unwrap();
        let c = g.counts(b"AAAN");
        assert_eq!(c, [(0, 2)]);
        assert_eq!(g.feature_names()[0], "AA");
    }

    #[test]
    fn cholesky_solves() {
        let a = [4.0, 2.0, 2.0, 3.0];
        let l = cholesky_with_ridge(&a, 2, 1.0).unwrap();
        let x = cholesky_solve(&l, 2, &[1.0, 2.0]);
        // (A + I) x = b  with A + I = [[5,2],[2,4]].
        assert!((5.0 * x[0] + 2.0 * x[1] - 1.0).abs() < 1e-12);
        assert!((2.0 * x[0] + 4.0 * x[1] - 2.0).abs() < 1e-12);
        assert!(cholesky_with_ridge(&[-1.0], 1, 0.5).is_err());
    }

    fn toy(n: usize) -> (Dataset, Split) {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let seqs: Vec<Vec<u8>> = (0..n)
            .map(|_| {
                (0..30)
                    .map(|_| b"ACGT"[rng.random_range(0..4usize)])
                    .collect()
            })
            .collect();
        let targets = seqs
            .iter()
            .map(|s| {
                let gc = s.windows(2).filter(|w| w == b"GC").count() as f32;
                let a = s.iter().filter(|&&b| b == b'A').count() as f32;
                let strong = s.iter().filter(|&&b| b == b'C' || b == b'G').count() as f32;
                vec![gc - 0.2 * a + rng.random::<f32>() * 0.1, strong]
            })
            .collect();
        let ds = Dataset {
            ids: (0..n).map(|i| format!("s{i}")).collect(),
            seqs,
            targets,
            output_names: vec!["y".into(), "strong".into()],
            ..Default::default()
        };
        let split = crate::train::random_split(n, [0.6, 0.2, 0.2], 1).unwrap();
        (ds, split)
    }

    #[test]
    fn primal_and_dual_agree() {
        // 60 training rows and 1..=4-mers (170 features): `fit` takes the dual path.
        let (ds, split) = toy(100);
        let opts = RidgeOptions {
            kmin: 1,
            kmax: 4,
            canonical: true,
            alphas: vec![5.0],
        };
        let feat = KmerFeaturizer::new(1, 4, true).unwrap();
        let x: Vec<Vec<(u32, u32)>> = split
            .train
            .iter()
            .map(|&i| feat.counts(&ds.seqs[i]))
            .collect();
        let p = feat.n_features();
        let fit = RidgeBaseline::fit(&ds, &split, &opts).unwrap();
        let mean = fit.feature_mean.clone();
        let scale = fit.feature_scale.clone();
        let y: Vec<Vec<f64>> = (0..2)
            .map(|o| {
                let c: Vec<f64> = split
                    .train
                    .iter()
                    .map(|&i| f64::from(ds.targets[i][o]))
                    .collect();
                let m = c.iter().sum::<f64>() / c.len() as f64;
                c.iter().map(|v| v - m).collect()
            })
            .collect();
        let wp = Solver::primal(&x, &mean, &scale, &y, p).solve(5.0).unwrap();
        let wd = Solver::dual(&x, &mean, &scale, &y, p).solve(5.0).unwrap();
        for (a, b) in wp.iter().flatten().zip(wd.iter().flatten()) {
            assert!((a - b).abs() < 1e-8, "{a} vs {b}");
        }
        // The C+G count is one canonical 1-mer feature: near-perfect on validation.
        let one = RidgeOptions {
            kmax: 1,
            alphas: vec![1e-3],
            ..opts
        };
        let fit = RidgeBaseline::fit(&ds, &split, &one).unwrap();
        let pred = fit.predict(
            &split
                .val
                .iter()
                .map(|&i| ds.seqs[i].as_slice())
                .collect::<Vec<_>>(),
        );
        let t: Vec<f64> = split
            .val
            .iter()
            .map(|&i| f64::from(ds.targets[i][1]))
            .collect();
        let p1: Vec<f64> = pred.iter().map(|r| f64::from(r[1])).collect();
        assert!(metrics::pearson(&p1, &t) > 0.9999);
    }

    #[test]
    fn fit_is_deterministic_and_picks_an_alpha() {
        let (ds, split) = toy(300);
        let opts = RidgeOptions {
            kmax: 3,
            ..RidgeOptions::default()
        };
        let a = RidgeBaseline::fit(&ds, &split, &opts).unwrap();
        let b = RidgeBaseline::fit(&ds, &split, &opts).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.alpha_scores.len(), opts.alphas.len());
        let best = a
            .alpha_scores
            .iter()
            .map(|s| s.1)
            .fold(f64::NEG_INFINITY, f64::max);
        assert_eq!(
            a.alpha_scores.iter().find(|s| s.0 == a.alpha).unwrap().1,
            best
        );
    }
}
