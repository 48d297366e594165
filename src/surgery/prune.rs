//! Choosing heads to prune (greedy, with the validation metric re-measured after each
//! removal) and physical head pruning ([`Model::prune`]): a new model whose removed heads'
//! parameters are gone.
//!
//! Removing query head `h` of a layer drops its rows of W_Q (and b_Q) and its columns of
//! W_O; its K/V rows go too once no remaining query head reads them (always for MHA, a
//! whole group for GQA, never for MQA's single K/V head). The result computes exactly
//! what the original computes with those heads' gates at 0 (up to float summation order).
use std::{collections::HashMap, path::Path};

use candle_core::{Device, Tensor};

use super::{Scoring, mean_pearson, set_gates};
use crate::analysis::heads::HeadTableRow;
use crate::model::{HeadId, Model, cerr};
use crate::{Error, Result};

/// How [`rank_units`] orders the units to remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranking {
    /// Least change of the metric when masked first (from the heads table when it has
    /// every head's importance, else measured).
    Importance,
    /// The heads table's prune candidates first, then low entropy and high redundancy.
    EntropyRedundancy,
}

impl Ranking {
    /// The name `prune --by` and `prune.tsv` use.
    pub fn as_str(self) -> &'static str {
        match self {
            Ranking::Importance => "importance",
            Ranking::EntropyRedundancy => "entropy-redundancy",
        }
    }
}

/// A score per unit (lower is removed first): the mean over its heads of the heads
/// table's (`table`, read from `source`) criterion, or, for [`Ranking::Importance`]
/// without every head's importance in a table, the masking importance measured on `s`.
pub fn rank_units(
    model: &mut Model,
    units: &[Vec<HeadId>],
    by: Ranking,
    table: Option<(&HashMap<HeadId, HeadTableRow>, &Path)>,
    s: &Scoring<'_>,
    progress: &mut dyn FnMut(),
) -> Result<Vec<f64>> {
    let from_table = |(t, source): (&HashMap<HeadId, HeadTableRow>, &Path),
                      f: &dyn Fn(&HeadTableRow) -> f64| {
        units
            .iter()
            .map(|u| {
                let mut sum = 0.0;
                for h in u {
                    let row = t.get(h).ok_or_else(|| {
                        Error::Invalid(format!(
                            "{}: no row for head {}.{} of the model",
                            source.display(),
                            h.layer,
                            h.head
                        ))
                    })?;
                    sum += f(row);
                }
                Ok(sum / u.len().max(1) as f64)
            })
            .collect::<Result<Vec<f64>>>()
    };
    match (by, table) {
        (Ranking::EntropyRedundancy, None) => Err(Error::Invalid(
            "ranking by entropy and redundancy needs the heads table (from `cisformer heads`)"
                .into(),
        )),
        (Ranking::EntropyRedundancy, Some(t)) => from_table(t, &|r| {
            (if r.prune_candidate { -10.0 } else { 0.0 }) + r.entropy - r.redundancy
        }),
        (Ranking::Importance, Some(t))
            if units
                .iter()
                .flatten()
                .all(|h| t.0.get(h).is_some_and(|r| r.importance.is_some())) =>
        {
            from_table(t, &|r| r.importance.unwrap_or(0.0))
        }
        (Ranking::Importance, _) => super::masking_importance(model, units, s, progress),
    }
}

/// What `prune` measured: the plan, the pruned model's metric and size, and the predict
/// time of both models on the same sequences.
#[derive(Debug, Clone)]
pub struct PruneReport {
    pub by: Ranking,
    pub plan: PrunePlan,
    /// Mean Pearson r of the physically pruned model.
    pub metric_pruned: f64,
    pub params_before: usize,
    pub params_after: usize,
    /// Seconds to predict the scoring sequences: before, after (best of three, alternating).
    pub predict_seconds: [f64; 2],
}

impl PruneReport {
    /// Measures `pruned` against `model` on `s`.
    pub fn measure(
        by: Ranking,
        plan: PrunePlan,
        model: &Model,
        pruned: &Model,
        s: &Scoring<'_>,
    ) -> Result<Self> {
        let metric_pruned = mean_pearson(pruned, s)?;
        let mut best = [f64::INFINITY; 2];
        for _ in 0..3 {
            for (i, m) in [model, pruned].into_iter().enumerate() {
                let t = std::time::Instant::now();
                crate::predict::predict_raw(m, s.seqs, s.batch)?;
                best[i] = best[i].min(t.elapsed().as_secs_f64());
            }
        }
        Ok(Self {
            by,
            plan,
            metric_pruned,
            params_before: model.n_params(),
            params_after: pruned.n_params(),
            predict_seconds: best,
        })
    }

    /// Predict-time ratio, before over after.
    pub fn speedup(&self) -> f64 {
        self.predict_seconds[0] / self.predict_seconds[1].max(1e-9)
    }

    /// The summary `meta.json` keeps under `extra.prune`.
    pub fn summary_json(&self, limits: PruneLimits) -> serde_json::Value {
        serde_json::json!({
            "by": self.by.as_str(),
            "keep": limits.keep,
            "max_drop": limits.max_drop,
            "removed": self.plan.removed.iter().map(|h| [h.layer, h.head]).collect::<Vec<_>>(),
            "metric_before": self.plan.metric_before,
            "metric_after": self.metric_pruned,
            "params_before": self.params_before,
            "params_after": self.params_after,
        })
    }

    /// `prune.tsv`: `#` lines with the summary, then one row per head of every candidate
    /// looked at ([`crate::io::tables::PRUNE`]).
    pub fn write_tsv(&self, w: &mut impl std::io::Write) -> std::io::Result<()> {
        writeln!(w, "# by={}", self.by.as_str())?;
        writeln!(w, "# metric=mean_pearson")?;
        writeln!(w, "# metric_before={:.6}", self.plan.metric_before)?;
        writeln!(w, "# metric_after={:.6}", self.metric_pruned)?;
        writeln!(w, "# params_before={}", self.params_before)?;
        writeln!(w, "# params_after={}", self.params_after)?;
        writeln!(w, "# predict_seconds_before={:.4}", self.predict_seconds[0])?;
        writeln!(w, "# predict_seconds_after={:.4}", self.predict_seconds[1])?;
        writeln!(w, "# speedup={:.3}", self.speedup())?;
        writeln!(w, "{}", crate::io::tables::PRUNE.header())?;
        for (i, s) in self.plan.steps.iter().enumerate() {
            for h in &s.heads {
                writeln!(
                    w,
                    "{}\t{}\t{}\t{:.6}\t{}\t{}\t{}",
                    h.layer,
                    h.head,
                    i + 1,
                    s.score,
                    s.metric.map_or("NA".into(), |m| format!("{m:.6}")),
                    s.outcome.is_ok() as u8,
                    s.outcome.as_ref().err().map_or(".", String::as_str)
                )?;
            }
        }
        Ok(())
    }
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

impl Model {
    /// A copy without `heads` (original indices; already pruned heads may be listed again).
    /// Errors when a head does not exist, when a layer would lose every head, or when a GQA
    /// group would be only partly removed.
    pub fn prune(&self, heads: &[HeadId]) -> Result<Model> {
        let cfg = self.config();
        for h in heads {
            if h.layer >= cfg.n_layers || h.head >= cfg.n_heads {
                return Err(Error::NoSuchHead {
                    layer: h.layer,
                    head: h.head,
                    n_layers: cfg.n_layers,
                    n_heads: cfg.n_heads,
                });
            }
        }
        let mut new_cfg = cfg.clone();
        if new_cfg.pruned_heads.is_empty() {
            new_cfg.pruned_heads = vec![Vec::new(); cfg.n_layers];
        }
        for h in heads {
            new_cfg.pruned_heads[h.layer].push(h.head);
        }
        for p in &mut new_cfg.pruned_heads {
            p.sort_unstable();
            p.dedup();
        }
        if new_cfg.pruned_heads.iter().all(Vec::is_empty) {
            new_cfg.pruned_heads.clear();
        }
        new_cfg
            .validate()
            .map_err(|e| Error::Invalid(format!("prune: {e}")))?;

        let dh = cfg.head_dim();
        let mut tensors: HashMap<String, Tensor> = self.named_parameters().into_iter().collect();
        for layer in 0..cfg.n_layers {
            let old_q = cfg.kept_heads(layer);
            let new_q = new_cfg.kept_heads(layer);
            if old_q == new_q {
                continue;
            }
            let kv_list = |q: &[usize]| {
                let mut kv: Vec<usize> = q.iter().map(|&h| cfg.kv_of(h)).collect();
                kv.dedup();
                kv
            };
            let q_rows = rows_of(&old_q, &new_q, dh)?;
            let kv_rows = rows_of(&kv_list(&old_q), &kv_list(&new_q), dh)?;
            let p = |n: &str| format!("layers.{layer}.attn.{n}");
            let mut moves = vec![
                (p("q.weight"), &q_rows, 0),
                (p("q.bias"), &q_rows, 0),
                (p("k.weight"), &kv_rows, 0),
                (p("v.weight"), &kv_rows, 0),
                (p("v.bias"), &kv_rows, 0),
                (p("o.weight"), &q_rows, 1),
            ];
            let rel;
            if cfg.relative_bias > 0 {
                rel = rows_of(&old_q, &new_q, 1)?;
                moves.push((p("rel.bias"), &rel, 0));
            }
            for (name, rows, dim) in moves {
                let t = tensors.get(&name).ok_or_else(|| {
                    Error::Invalid(format!("prune: the model has no tensor {name}"))
                })?;
                let t = rows
                    .to_device(t.device())
                    .and_then(|rows| t.index_select(&rows, dim))
                    .map_err(cerr)?;
                tensors.insert(name, t);
            }
        }
        let mut m = Model::build(&new_cfg, tensors, self.seed(), self.device())?;
        for (l, row) in self.head_mask().iter().enumerate() {
            for (h, &g) in row.iter().enumerate() {
                m.set_head_mask(l, h, g)?;
            }
        }
        Ok(m)
    }
}

/// Index tensor of the rows (`dh` per head) that heads `new` occupy among heads `old`.
fn rows_of(old: &[usize], new: &[usize], dh: usize) -> Result<Tensor> {
    let mut idx = Vec::with_capacity(new.len() * dh);
    for h in new {
        let p = old
            .iter()
            .position(|o| o == h)
            .ok_or_else(|| Error::Invalid(format!("prune: head {h} is not in the model")))?;
        idx.extend((p * dh..(p + 1) * dh).map(|i| i as u32));
    }
    let n = idx.len();
    Tensor::from_vec(idx, n, &Device::Cpu).map_err(cerr)
}
