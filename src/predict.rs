//! Prediction with trained models: raw outputs in batches (optionally averaged over both
//! strands), ensembles on the label scale, and the input-length check of models with
//! learned positions. Training lives in [`crate::train`].
use std::path::Path;

use crate::model::{ForwardOptions, Meta, Model, Task};
use crate::{Error, Result};

/// Runs `model` over `seqs` in chunks of `batch` (no dropout, no gradients).
pub fn predict_raw(model: &Model, seqs: &[&[u8]], batch: usize) -> Result<Vec<Vec<f32>>> {
    let tok = model.tokenizer();
    let mut out = Vec::with_capacity(seqs.len());
    for chunk in seqs.chunks(batch.max(1)) {
        let ids: Vec<Vec<u32>> = chunk.iter().map(|s| tok.encode(s)).collect();
        out.extend(model.forward(&ids, &ForwardOptions::default())?.output);
    }
    Ok(out)
}

/// [`predict_raw`], optionally averaged with the predictions of the reverse complements
/// (the model is trained with RC augmentation, so both strands are estimates of the same
/// activity and their mean has less variance).
pub fn predict_raw_rc(
    model: &Model,
    seqs: &[&[u8]],
    batch: usize,
    rc_average: bool,
) -> Result<Vec<Vec<f32>>> {
    let mut raw = predict_raw(model, seqs, batch)?;
    if rc_average {
        let rc: Vec<Vec<u8>> = seqs
            .iter()
            .map(|s| crate::tokenizer::Tokenizer::reverse_complement(s))
            .collect();
        let rc: Vec<&[u8]> = rc.iter().map(Vec::as_slice).collect();
        let back = predict_raw(model, &rc, batch)?;
        for (a, b) in raw.iter_mut().zip(back) {
            for (x, y) in a.iter_mut().zip(b) {
                *x = 0.5 * (*x + y);
            }
        }
    }
    Ok(raw)
}

/// Refuses a sequence longer than a model with learned positions can place, naming
/// `source` and the record (the model itself only knows a batch's token count).
pub fn check_lengths<S: AsRef<[u8]>>(
    model: &Model,
    ids: &[String],
    seqs: &[S],
    source: &Path,
) -> Result<()> {
    let Some(limit) = LengthLimit::of(model) else {
        return Ok(());
    };
    for (i, (id, s)) in ids.iter().zip(seqs).enumerate() {
        limit.check(i, id, s.as_ref().len(), source)?;
    }
    Ok(())
}

/// The longest input a model with learned positions can place, for readers that stream
/// records one at a time (`heads`, `interactions`) and so cannot use [`check_lengths`].
#[derive(Clone, Copy, Debug)]
pub struct LengthLimit {
    tokenizer: crate::tokenizer::Tokenizer,
    max_tokens: usize,
}

impl LengthLimit {
    /// The limit of `model`; `None` when its positions do not bound the length.
    pub fn of(model: &Model) -> Option<Self> {
        let cfg = model.config();
        (cfg.positional == crate::model::Positional::Learned).then(|| Self {
            tokenizer: *model.tokenizer(),
            max_tokens: cfg.max_tokens,
        })
    }

    /// Refuses record `index` (0-based) of `source`, `id`, of `len` bp when it is too long.
    pub fn check(&self, index: usize, id: &str, len: usize, source: &Path) -> Result<()> {
        let n = self.tokenizer.n_tokens(len);
        if n > self.max_tokens {
            return Err(Error::Invalid(format!(
                "{}: record {} ('{id}') is {len} bp = {n} tokens, more than this model's max_tokens {} (learned positions; shorten or split the sequence)",
                source.display(),
                index + 1,
                self.max_tokens
            )));
        }
        Ok(())
    }
}

/// Loads the model directories of an ensemble (or of one model), in order.
pub fn load_models(dirs: &[std::path::PathBuf]) -> Result<Vec<(Model, Meta)>> {
    dirs.iter().map(crate::model_dir::load).collect()
}

/// Predictions on the label scale of one model, or the mean of several (an ensemble, e.g.
/// of seeds: their errors partly cancel). All must predict the same outputs with the same
/// task; each tokenizes the sequences itself, so their k may differ.
pub fn predict_ensemble(
    models: &[(Model, Meta)],
    seqs: &[&[u8]],
    batch: usize,
    rc_average: bool,
) -> Result<Vec<Vec<f32>>> {
    let Some(((first, first_meta), rest)) = models.split_first() else {
        return Err(Error::Invalid("no model to predict with".into()));
    };
    for (m, meta) in rest {
        if meta.label_names != first_meta.label_names || m.config().task != first.config().task {
            return Err(Error::Invalid(format!(
                "the models of an ensemble must predict the same outputs: {:?} ({:?}) vs {:?} ({:?})",
                first_meta.label_names,
                first.config().task,
                meta.label_names,
                m.config().task
            )));
        }
    }
    let mut sum = vec![vec![0f64; first.config().n_outputs]; seqs.len()];
    for (m, meta) in models {
        let pred = to_label_scale(m, meta, predict_raw_rc(m, seqs, batch, rc_average)?);
        for (a, r) in sum.iter_mut().zip(pred) {
            for (x, v) in a.iter_mut().zip(r) {
                *x += f64::from(v);
            }
        }
    }
    let n = models.len() as f64;
    Ok(sum
        .into_iter()
        .map(|r| r.into_iter().map(|x| (x / n) as f32).collect())
        .collect())
}

/// Maps model outputs back to the label scale: z-scores → activities for regression,
/// logits → probabilities for binary outputs.
pub fn to_label_scale(model: &Model, meta: &Meta, raw: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    let binary = model.config().task == Task::Binary;
    raw.into_iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(o, &x)| {
                    if binary {
                        1.0 / (1.0 + (-x).exp())
                    } else if let Some(n) = meta.normalization.get(o) {
                        (f64::from(x) * n.std + n.mean) as f32
                    } else {
                        x
                    }
                })
                .collect()
        })
        .collect()
}
