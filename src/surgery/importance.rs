//! Head importance by masking: how much the metric falls when a head's (or a unit's)
//! gates are set to 0.
use super::{Scoring, mean_pearson, set_gates};
use crate::Result;
use crate::analysis::heads::HeadImportance;
use crate::model::{HeadId, Model};
use crate::predict::predict_raw;
use crate::stats::pearson;

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
