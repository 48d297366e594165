//! Head surgery on trained models: the masking importance of heads, choosing heads to
//! prune (greedy, with the validation metric re-measured after each removal) and the
//! per-head forgetting index between a model before and after fine-tuning.
//!
//! The pruning metric is the mean over outputs of Pearson r between predictions and
//! labels (scale-free, so the model's label normalisation does not matter); the head
//! atlas's importance ([`head_importance`]) keeps its own, the first output's r.
use crate::analysis::heads::HeadImportance;
use crate::model::{ForwardOptions, HeadId, Model};
use crate::stats::pearson;
use crate::train::transformer::predict_raw;
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

/// The smallest sets of heads that can be pruned on their own: single heads for MHA and
/// MQA, whole K/V groups for GQA. Already pruned heads are left out.
pub fn prune_units(model: &Model) -> Vec<Vec<HeadId>> {
    let cfg = model.config();
    let group = cfg.n_heads / cfg.n_kv_heads;
    let gqa = cfg.n_kv_heads > 1 && group > 1;
    let mut units = Vec::new();
    for layer in 0..cfg.n_layers {
        let kept = cfg.kept_heads(layer);
        if gqa {
            for g in 0..cfg.n_kv_heads {
                let u: Vec<HeadId> = kept
                    .iter()
                    .filter(|&&h| h / group == g)
                    .map(|&head| HeadId { layer, head })
                    .collect();
                if !u.is_empty() {
                    units.push(u);
                }
            }
        } else {
            units.extend(kept.iter().map(|&head| vec![HeadId { layer, head }]));
        }
    }
    units
}

/// Heads still present in a model.
pub fn n_kept_heads(model: &Model) -> usize {
    let cfg = model.config();
    (0..cfg.n_layers).map(|l| cfg.layer_heads(l)).sum()
}

fn set_gates(model: &mut Model, unit: &[HeadId], gate: f32) -> Result<()> {
    for h in unit {
        model.set_head_mask(h.layer, h.head, gate)?;
    }
    Ok(())
}

/// Masking importance of each unit: metric with everything minus metric with the unit's
/// gates at 0 (larger = more important). The model's gates are restored.
pub fn masking_importance(
    model: &mut Model,
    units: &[Vec<HeadId>],
    s: &Scoring<'_>,
    progress: &mut dyn FnMut(),
) -> Result<Vec<f64>> {
    let base = mean_pearson(model, s)?;
    let mut out = Vec::with_capacity(units.len());
    for u in units {
        let saved: Vec<f32> = u
            .iter()
            .map(|h| model.head_mask()[h.layer][h.head])
            .collect();
        set_gates(model, u, 0.0)?;
        let m = mean_pearson(model, s);
        for (h, g) in u.iter().zip(saved) {
            model.set_head_mask(h.layer, h.head, g)?;
        }
        out.push(base - m?);
        progress();
    }
    Ok(out)
}

/// Sequences per forward pass of [`head_importance`].
const IMPORTANCE_BATCH: usize = 64;

/// Importance of every kept head as the head atlas reports it: each head is masked in
/// turn on `seqs`; `dmetric` is the drop of Pearson r of the first output against
/// `truth` (without it: against the unmasked predictions), `dpred` the mean
/// |Δprediction| times `label_scale` (predictions are z-scores; this puts |Δ| on the
/// label scale). Unlike [`masking_importance`] (the mean over outputs, an undefined r
/// counted as 0, for ranking), an undefined r stays NaN so the table shows it as such.
/// The model's gates are restored; `progress` is called once per head.
pub fn head_importance(
    model: &mut Model,
    seqs: &[&[u8]],
    truth: Option<&[f64]>,
    label_scale: f64,
    progress: &mut dyn FnMut(),
) -> Result<Vec<HeadImportance>> {
    let first = |p: Vec<Vec<f32>>| -> Vec<f64> { p.iter().map(|r| f64::from(r[0])).collect() };
    let full = first(predict_raw(model, seqs, IMPORTANCE_BATCH)?);
    let reference = truth.unwrap_or(&full);
    let base = pearson(&full, reference);
    let cfg = model.config().clone();
    let mut out = Vec::new();
    for layer in 0..cfg.n_layers {
        for head in cfg.kept_heads(layer) {
            let saved = model.head_mask()[layer][head];
            model.set_head_mask(layer, head, 0.0)?;
            let masked = predict_raw(model, seqs, IMPORTANCE_BATCH);
            model.set_head_mask(layer, head, saved)?;
            let masked = first(masked?);
            let dpred = masked
                .iter()
                .zip(&full)
                .map(|(a, b)| (a - b).abs())
                .sum::<f64>()
                / masked.len().max(1) as f64;
            out.push(HeadImportance {
                layer,
                head,
                dmetric: base - pearson(&masked, reference),
                dpred: Some(dpred * label_scale),
            });
            progress();
        }
    }
    Ok(out)
}

/// When to stop removing heads.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PruneLimits {
    /// Keep at least this many heads in the whole model.
    pub keep: Option<usize>,
    /// Skip any removal that would lower the metric by more than this from the start.
    pub max_drop: Option<f64>,
}

/// One candidate the greedy pass looked at, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct PruneStep {
    pub heads: Vec<HeadId>,
    /// The ranking score it was taken in order of (lower goes first).
    pub score: f64,
    /// Metric with this and all previously accepted units masked (when measured).
    pub metric: Option<f64>,
    /// Whether it was removed; else why not.
    pub outcome: Result<(), String>,
}

/// Outcome of [`plan_prune`].
#[derive(Debug, Clone, PartialEq)]
pub struct PrunePlan {
    pub metric_before: f64,
    /// Metric with every removed head masked.
    pub metric_after: f64,
    pub removed: Vec<HeadId>,
    pub steps: Vec<PruneStep>,
}

/// Greedy pruning: takes `ranked` units (unit, score) lowest score first, masks each in
/// turn on top of those already taken, and keeps it unless the metric would fall more than
/// `max_drop` below the start or the unit would empty a layer; stops at `keep` heads.
/// The model's gates are restored before returning.
pub fn plan_prune(
    model: &mut Model,
    mut ranked: Vec<(Vec<HeadId>, f64)>,
    limits: PruneLimits,
    s: &Scoring<'_>,
    progress: &mut dyn FnMut(),
) -> Result<PrunePlan> {
    let cfg = model.config().clone();
    let total = n_kept_heads(model);
    if limits.keep.is_none() && limits.max_drop.is_none() {
        return Err(Error::Invalid(
            "prune: give --keep N or --max-drop X".into(),
        ));
    }
    if let Some(k) = limits.keep {
        if k > total {
            return Err(Error::Invalid(format!(
                "prune: --keep {k} is more than the {total} heads the model has"
            )));
        }
        if k < cfg.n_layers {
            return Err(Error::Invalid(format!(
                "prune: --keep {k} would leave a layer without heads ({} layers need at least one each)",
                cfg.n_layers
            )));
        }
    }
    if let Some(d) = limits.max_drop
        && !(d.is_finite() && d >= 0.0)
    {
        return Err(Error::Invalid(format!(
            "prune: --max-drop {d} must be a finite number ≥ 0"
        )));
    }
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1));
    let saved = model.head_mask().to_vec();
    let base = mean_pearson(model, s)?;
    let mut left: Vec<usize> = (0..cfg.n_layers).map(|l| cfg.layer_heads(l)).collect();
    let mut removed: Vec<HeadId> = Vec::new();
    let mut steps = Vec::new();
    let mut current = base;
    for (unit, score) in ranked {
        let remaining = total - removed.len();
        if limits.keep.is_some_and(|k| remaining <= k) {
            break;
        }
        let mut step = PruneStep {
            heads: unit.clone(),
            score,
            metric: None,
            outcome: Ok(()),
        };
        let empties = (0..cfg.n_layers)
            .any(|l| left[l] > 0 && unit.iter().filter(|h| h.layer == l).count() >= left[l]);
        if empties {
            step.outcome = Err("would remove the last head of its layer".into());
        } else if limits.keep.is_some_and(|k| remaining - unit.len() < k) {
            step.outcome = Err("would go below --keep".into());
        } else {
            set_gates(model, &unit, 0.0)?;
            if let Some(d) = limits.max_drop {
                let m = mean_pearson(model, s)?;
                step.metric = Some(m);
                if base - m > d {
                    for h in &unit {
                        model.set_head_mask(h.layer, h.head, saved[h.layer][h.head])?;
                    }
                    step.outcome = Err(format!("metric drop {:.4} > {d}", base - m));
                } else {
                    current = m;
                }
            }
            if step.outcome.is_ok() {
                for h in &unit {
                    left[h.layer] -= 1;
                }
                removed.extend(unit.iter().copied());
            }
        }
        steps.push(step);
        progress();
    }
    if limits.max_drop.is_none() {
        current = mean_pearson(model, s)?;
    }
    for (l, row) in saved.iter().enumerate() {
        for (h, &g) in row.iter().enumerate() {
            model.set_head_mask(l, h, g)?;
        }
    }
    removed.sort();
    Ok(PrunePlan {
        metric_before: base,
        metric_after: current,
        removed,
        steps,
    })
}

/// Forgetting index of one head.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadForgetting {
    pub head: HeadId,
    /// Mean over every query token of every sequence of KL(before ‖ after) in nats.
    pub kl: f64,
}

/// Checks that two models read the same tokens and have the same heads.
pub fn check_comparable(before: &Model, after: &Model) -> Result<()> {
    let (a, b) = (before.config(), after.config());
    if (a.k, a.stride) != (b.k, b.stride) {
        return Err(Error::Invalid(format!(
            "the models use different tokenizers (k={} stride={} vs k={} stride={}); attention over the same tokens cannot be compared",
            a.k, a.stride, b.k, b.stride
        )));
    }
    if (a.n_layers, a.n_heads) != (b.n_layers, b.n_heads) || a.pruned_heads != b.pruned_heads {
        return Err(Error::Invalid(format!(
            "the models have different heads ({} layers × {} heads vs {} × {}, or other pruned heads)",
            a.n_layers, a.n_heads, b.n_layers, b.n_heads
        )));
    }
    Ok(())
}

/// Per-head forgetting index over `seqs`: mean KL divergence between each query token's
/// attention row before and after (rows of pruned heads are skipped).
pub fn forgetting(
    before: &Model,
    after: &Model,
    seqs: &[&[u8]],
    batch: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<HeadForgetting>> {
    check_comparable(before, after)?;
    let cfg = before.config();
    let (nl, nh) = (cfg.n_layers, cfg.n_heads);
    let mut sum = vec![0f64; nl * nh];
    let mut rows = 0usize;
    let tok = before.tokenizer();
    let opts = ForwardOptions {
        attention: true,
        ..Default::default()
    };
    for chunk in seqs.chunks(batch.max(1)) {
        let ids: Vec<Vec<u32>> = chunk.iter().map(|s| tok.encode(s)).collect();
        let pa = before.forward(&ids, &opts)?.attention.unwrap_or_default();
        let pb = after.forward(&ids, &opts)?.attention.unwrap_or_default();
        for (ma, mb) in pa.iter().zip(&pb) {
            rows += ma.len;
            for layer in 0..nl {
                for head in 0..nh {
                    let mut kl = 0f64;
                    for q in 0..ma.len {
                        kl += kl_row(ma.row(layer, head, q), mb.row(layer, head, q));
                    }
                    sum[layer * nh + head] += kl;
                }
            }
        }
        progress(chunk.len());
    }
    let n = rows.max(1) as f64;
    let mut out = Vec::with_capacity(nl * nh);
    for layer in 0..nl {
        let kept = cfg.kept_heads(layer);
        for head in kept {
            out.push(HeadForgetting {
                head: HeadId { layer, head },
                kl: sum[layer * nh + head] / n,
            });
        }
    }
    Ok(out)
}

/// KL(p ‖ q) in nats; `q` is floored at 1e-12 so a vanished key stays finite.
pub fn kl_row(p: &[f32], q: &[f32]) -> f64 {
    p.iter()
        .zip(q)
        .filter(|(p, _)| **p > 0.0)
        .map(|(&p, &q)| {
            let (p, q) = (f64::from(p), f64::from(q).max(1e-12));
            p * (p / q).ln()
        })
        .sum::<f64>()
        .max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_is_zero_for_equal_rows_and_positive_otherwise() {
        assert_eq!(kl_row(&[0.5, 0.5], &[0.5, 0.5]), 0.0);
        let k = kl_row(&[0.9, 0.1], &[0.5, 0.5]);
        assert!((k - (0.9f64 * (1.8f64).ln() + 0.1 * (0.2f64).ln())).abs() < 1e-6);
        assert!(kl_row(&[1.0, 0.0], &[0.0, 1.0]) > 20.0);
    }

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
