//! Head surgery on trained models: the masking importance of heads (`importance.rs`),
//! choosing heads to prune and removing them (`prune.rs`, which also holds
//! [`Model::prune`]) and the per-head forgetting index between a model before and after
//! fine-tuning (`forgetting.rs`); their items are re-exported here, as `surgery::X`.
//!
//! The pruning metric is the mean over outputs of Pearson r between predictions and
//! labels (scale-free, so the model's label normalisation does not matter); the head
//! atlas's importance ([`head_importance`]) keeps its own, the first output's r.
mod forgetting;
mod importance;
mod prune;

pub use forgetting::{HeadForgetting, check_comparable, forgetting, kl_row};
pub use importance::{head_importance, masking_importance};
pub use prune::{
    PruneLimits, PrunePlan, PruneReport, PruneStep, Ranking, n_kept_heads, plan_prune, prune_units,
    rank_units,
};

use crate::model::{HeadId, Model};
use crate::predict::predict_raw;
use crate::stats::pearson;
use crate::{Error, Result};

/// Sequences with labels to score a model on.
#[derive(Debug, Clone, Copy)]
pub struct Scoring<'a> {
    pub seqs: &'a [&'a [u8]],
    /// One row of label values per sequence, one column per model output.
    pub targets: &'a [Vec<f32>],
    /// Sequences per forward pass.
    pub batch: usize,
}

/// Mean over outputs of Pearson r between `model`'s predictions and the targets
/// (an undefined r, e.g. constant predictions, counts as 0).
pub fn mean_pearson(model: &Model, s: &Scoring<'_>) -> Result<f64> {
    let pred = predict_raw(model, s.seqs, s.batch)?;
    pearson_of(&pred, s.targets)
}

/// Mean over outputs of Pearson r of prediction rows against target rows.
pub fn pearson_of(pred: &[Vec<f32>], targets: &[Vec<f32>]) -> Result<f64> {
    if pred.len() != targets.len() || pred.is_empty() {
        return Err(Error::Invalid(format!(
            "{} predictions for {} label rows",
            pred.len(),
            targets.len()
        )));
    }
    let n_out = targets[0].len().min(pred[0].len());
    if n_out == 0 {
        return Err(Error::Invalid("no outputs to score".into()));
    }
    let mut sum = 0.0;
    for o in 0..n_out {
        let p: Vec<f64> = pred.iter().map(|r| f64::from(r[o])).collect();
        let t: Vec<f64> = targets.iter().map(|r| f64::from(r[o])).collect();
        let r = pearson(&p, &t);
        sum += if r.is_finite() { r } else { 0.0 };
    }
    Ok(sum / n_out as f64)
}

fn set_gates(model: &mut Model, unit: &[HeadId], gate: f32) -> Result<()> {
    for h in unit {
        model.set_head_mask(h.layer, h.head, gate)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_of_checks_rows() {
        assert!(pearson_of(&[vec![1.0]], &[]).is_err());
        let r = pearson_of(
            &[vec![1.0], vec![2.0], vec![3.0]],
            &[vec![2.0], vec![4.0], vec![6.5]],
        )
        .unwrap();
        assert!(r > 0.99);
    }
}
