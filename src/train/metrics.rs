//! Regression and classification metrics, computed as scipy and scikit-learn do
//! (checked against them to 1e-9 in `tests/train_golden.rs`).
//!
//! Undefined values (a constant input for a correlation, a class that never occurs
//! for AUROC/AUPRC) are `NaN`, never a panic.
use serde::Serialize;

pub use crate::stats::{average_ranks, pearson, r2, spearman};

/// Mean squared error.
///
/// ```
/// assert_eq!(cisformer::train::metrics::mse(&[1.0, 3.0], &[2.0, 1.0]), 2.5);
/// ```
pub fn mse(pred: &[f64], target: &[f64]) -> f64 {
    assert_eq!(pred.len(), target.len(), "mse: lengths differ");
    if target.is_empty() {
        return f64::NAN;
    }
    pred.iter()
        .zip(target)
        .map(|(p, t)| (p - t) * (p - t))
        .sum::<f64>()
        / target.len() as f64
}

/// Area under the ROC curve (`sklearn.metrics.roc_auc_score`); targets ≥ 0.5 are
/// positives. Tied scores count half (Mann–Whitney with average ranks).
///
/// ```
/// use cisformer::train::metrics::auroc;
/// assert_eq!(auroc(&[0.1, 0.4, 0.35, 0.8], &[0.0, 0.0, 1.0, 1.0]), 0.75);
/// ```
pub fn auroc(score: &[f64], target: &[f64]) -> f64 {
    assert_eq!(score.len(), target.len(), "auroc: lengths differ");
    if score.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let ranks = average_ranks(score);
    let (mut n_pos, mut rank_sum) = (0.0f64, 0.0f64);
    for (r, &t) in ranks.iter().zip(target) {
        if t >= 0.5 {
            n_pos += 1.0;
            rank_sum += r;
        }
    }
    let n_neg = score.len() as f64 - n_pos;
    if n_pos == 0.0 || n_neg == 0.0 {
        return f64::NAN;
    }
    (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

/// Area under the precision–recall curve as average precision
/// (`sklearn.metrics.average_precision_score`): `Σ (R_k − R_{k−1}) P_k` over the
/// distinct score thresholds, highest first, with no interpolation.
///
/// ```
/// use cisformer::train::metrics::auprc;
/// let ap = auprc(&[0.1, 0.4, 0.35, 0.8], &[0.0, 0.0, 1.0, 1.0]);
/// assert!((ap - 0.8333333333333333).abs() < 1e-15);
/// ```
pub fn auprc(score: &[f64], target: &[f64]) -> f64 {
    assert_eq!(score.len(), target.len(), "auprc: lengths differ");
    if score.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let n_pos = target.iter().filter(|&&t| t >= 0.5).count() as f64;
    if n_pos == 0.0 {
        return f64::NAN;
    }
    let mut order: Vec<usize> = (0..score.len()).collect();
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let (mut tp, mut fp, mut ap, mut prev_recall) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut i = 0;
    while i < order.len() {
        let s = score[order[i]];
        while i < order.len() && score[order[i]] == s {
            if target[order[i]] >= 0.5 {
                tp += 1.0;
            } else {
                fp += 1.0;
            }
            i += 1;
        }
        let recall = tp / n_pos;
        ap += (recall - prev_recall) * (tp / (tp + fp));
        prev_recall = recall;
    }
    ap
}

/// All metrics of one output on one set of rows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// Number of rows.
    pub n: usize,
    /// Pearson r.
    pub pearson: f64,
    /// Spearman rho.
    pub spearman: f64,
    /// R².
    pub r2: f64,
    /// Mean squared error.
    pub mse: f64,
    /// AUROC, for binary outputs.
    pub auroc: Option<f64>,
    /// Average precision, for binary outputs.
    pub auprc: Option<f64>,
}

impl Metrics {
    /// Column names of [`Metrics::tsv_fields`].
    pub const TSV_HEADER: &'static str = "n\tpearson\tspearman\tr2\tmse\tauroc\tauprc";

    /// Computes every metric of `pred` against `target`; AUROC and AUPRC only
    /// when `binary` (targets 0/1).
    ///
    /// ```
    /// use cisformer::train::metrics::Metrics;
    /// let m = Metrics::compute(&[0.2, 0.9, 0.4], &[0.0, 1.0, 1.0], true);
    /// assert_eq!((m.n, m.auroc), (3, Some(1.0)));
    /// ```
    pub fn compute(pred: &[f64], target: &[f64], binary: bool) -> Metrics {
        Metrics {
            n: pred.len(),
            pearson: pearson(pred, target),
            spearman: spearman(pred, target),
            r2: r2(pred, target),
            mse: mse(pred, target),
            auroc: binary.then(|| auroc(pred, target)),
            auprc: binary.then(|| auprc(pred, target)),
        }
    }

    /// Metrics per output for row-major predictions and targets (`pred[row][output]`).
    pub fn per_output(pred: &[Vec<f32>], target: &[Vec<f32>], binary: &[bool]) -> Vec<Metrics> {
        assert_eq!(pred.len(), target.len(), "per_output: row counts differ");
        (0..binary.len())
            .map(|o| {
                let p: Vec<f64> = pred.iter().map(|r| f64::from(r[o])).collect();
                let t: Vec<f64> = target.iter().map(|r| f64::from(r[o])).collect();
                Metrics::compute(&p, &t, binary[o])
            })
            .collect()
    }

    /// Tab-separated values for [`Metrics::TSV_HEADER`], 6 decimals, `NA` when undefined.
    pub fn tsv_fields(&self) -> String {
        let f = |v: Option<f64>| match v {
            Some(v) if v.is_finite() => format!("{v:.6}"),
            _ => "NA".to_string(),
        };
        format!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.n,
            f(Some(self.pearson)),
            f(Some(self.spearman)),
            f(Some(self.r2)),
            f(Some(self.mse)),
            f(self.auroc),
            f(self.auprc)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_cases_are_nan() {
        assert!(pearson(&[], &[]).is_nan());
        assert!(spearman(&[1.0, f64::NAN], &[1.0, 2.0]).is_nan());
        assert!(auroc(&[0.1, 0.2], &[1.0, 1.0]).is_nan());
        assert!(auprc(&[0.1, 0.2], &[0.0, 0.0]).is_nan());
        assert!(mse(&[], &[]).is_nan());
        assert_eq!(r2(&[1.0, 2.0], &[2.0, 2.0]), 0.0);
    }

    #[test]
    fn ties_in_scores() {
        // All scores tied: a coin flip for AUROC, prevalence for AP.
        assert_eq!(auroc(&[1.0; 4], &[0.0, 1.0, 0.0, 1.0]), 0.5);
        assert_eq!(auprc(&[1.0; 4], &[0.0, 1.0, 0.0, 0.0]), 0.25);
        assert_eq!(average_ranks(&[2.0, 2.0, 2.0]), [2.0, 2.0, 2.0]);
    }

    #[test]
    fn tsv_marks_undefined() {
        let m = Metrics::compute(&[1.0, 1.0], &[1.0, 2.0], false);
        assert!(
            m.tsv_fields().starts_with("2\tNA\tNA\t"),
            "{}",
            m.tsv_fields()
        );
        assert!(m.tsv_fields().ends_with("\tNA\tNA"));
    }
}
