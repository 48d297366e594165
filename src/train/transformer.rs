//! The Transformer as a [`Learner`]: tokenises batches, steps AdamW, saves the model
//! directory (`config.json`, `model.safetensors`, `meta.json`) plus the optimiser state
//! needed to resume exactly.
use std::path::Path;

use super::Normalizer;
use super::trainer::{Batch, Learner, LrSchedule, TrainState, TrainerConfig};
use crate::model::{
    ForwardOptions, Meta, Model, ModelConfig, Normalization, OptimConfig, Optimizer, Task,
};
use crate::{Error, Result};

/// A [`Model`] with its optimiser, trained by [`super::trainer::Trainer`].
pub struct TransformerLearner {
    model: Model,
    optim: Optimizer,
    seed: u64,
    /// Extra `meta.json` fields (training options, baseline metrics) set by the caller.
    pub meta_extra: serde_json::Value,
}

impl TransformerLearner {
    /// A fresh model; the optimiser's schedule reproduces the trainer's
    /// (`warmup_steps`, cosine to `lr · min_lr_fraction` over `total_steps`).
    pub fn new(
        cfg: &ModelConfig,
        optim: OptimConfig,
        trainer: &TrainerConfig,
        total_steps: usize,
    ) -> Result<Self> {
        let model = Model::new(cfg, trainer.seed)?;
        let optim = Optimizer::new(&model, schedule(optim, trainer, total_steps));
        Ok(Self {
            model,
            optim,
            seed: trainer.seed,
            meta_extra: serde_json::Value::Null,
        })
    }

    /// Continues training an existing model (fine-tuning) with a fresh optimiser on the
    /// trainer's schedule; dropout keeps following the model's own seed.
    pub fn from_model(
        model: Model,
        optim: OptimConfig,
        trainer: &TrainerConfig,
        total_steps: usize,
    ) -> Self {
        let optim = Optimizer::new(&model, schedule(optim, trainer, total_steps));
        Self {
            model,
            optim,
            seed: trainer.seed,
            meta_extra: serde_json::Value::Null,
        }
    }

    /// The optimiser, e.g. to set an [`crate::model::OrthoAnchor`].
    pub fn optimizer_mut(&mut self) -> &mut Optimizer {
        &mut self.optim
    }

    /// The model being trained.
    pub fn model(&self) -> &Model {
        &self.model
    }
}

/// Copies the trainer's learning-rate schedule into the optimiser settings.
fn schedule(mut o: OptimConfig, t: &TrainerConfig, total_steps: usize) -> OptimConfig {
    o.lr = t.lr;
    o.warmup_steps = t.warmup_steps;
    o.total_steps = total_steps;
    o.min_lr = match t.lr_schedule {
        LrSchedule::Constant => t.lr,
        LrSchedule::Cosine => t.lr * t.min_lr_fraction,
    };
    o
}

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

/// Least-squares line from each output's predictions to its labels over `rows` (the
/// training rows), folded into the label normalisation: label = raw · std′ + mean′. With
/// dropout, the network runs without the noise it was trained with and its evaluation-mode
/// outputs come out shifted and spread (on the planted grammar +0.36 and 8 % wide); this
/// puts them back on the labels' scale. Pearson r is unchanged. An output whose slope is
/// not positive and finite keeps `base`. Returns the normalisation and, per output, the
/// (slope, intercept) applied on the label scale.
pub fn calibrate(
    base: &Normalizer,
    raw: &[Vec<f32>],
    targets: &[Vec<f32>],
    rows: &[usize],
) -> (Vec<Normalization>, Vec<(f64, f64)>) {
    let mut norm = normalization(base);
    let mut fits = vec![(1.0, 0.0); norm.len()];
    let n = rows.len() as f64;
    for (o, (nz, fit)) in norm.iter_mut().zip(fits.iter_mut()).enumerate() {
        let p: Vec<f64> = rows
            .iter()
            .map(|&i| f64::from(raw[i][o]) * nz.std + nz.mean)
            .collect();
        let y: Vec<f64> = rows.iter().map(|&i| f64::from(targets[i][o])).collect();
        let (mp, my) = (p.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
        let (mut sxy, mut sxx) = (0.0, 0.0);
        for (a, b) in p.iter().zip(&y) {
            sxy += (a - mp) * (b - my);
            sxx += (a - mp) * (a - mp);
        }
        let slope = sxy / sxx;
        if !(slope.is_finite() && slope > 0.0) {
            continue;
        }
        let intercept = my - slope * mp;
        *fit = (slope, intercept);
        *nz = Normalization {
            mean: slope * nz.mean + intercept,
            std: slope * nz.std,
        };
    }
    (norm, fits)
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

fn normalization(n: &Normalizer) -> Vec<Normalization> {
    n.mean
        .iter()
        .zip(&n.std)
        .map(|(&mean, &std)| Normalization { mean, std })
        .collect()
}

impl Learner for TransformerLearner {
    fn train_batch(&mut self, batch: &Batch, step: usize) -> Result<f32> {
        // Dropout draws depend on (model seed, optimiser step) only, and both are
        // restored on resume, so a resumed run replays them exactly.
        debug_assert_eq!(self.optim.steps(), step);
        let tok = self.model.tokenizer();
        let ids: Vec<Vec<u32>> = batch.seqs.iter().map(|s| tok.encode(s)).collect();
        self.optim.step(&mut self.model, &ids, &batch.targets)
    }

    fn predict(&self, seqs: &[&[u8]]) -> Result<Vec<Vec<f32>>> {
        predict_raw(&self.model, seqs, 64)
    }

    fn save(&self, dir: &Path, state: &TrainState) -> Result<()> {
        let mut metrics = std::collections::BTreeMap::new();
        if let Some(best) = state.best_metric {
            metrics.insert(format!("best_val_{}", monitor_name(state)), best);
        }
        let meta = Meta {
            seed: self.seed,
            label_names: state.output_names.clone(),
            normalization: normalization(&state.normalizer),
            data_digest: state.data_digest.clone(),
            metrics,
            extra: serde_json::json!({
                "train": state.config,
                "epochs_done": state.epoch,
                "steps_done": state.step,
                "best_epoch": state.best_epoch,
                "binary_outputs": state.binary,
                "details": self.meta_extra,
            }),
            ..Meta::default()
        };
        self.model.save(dir, &meta)?;
        self.optim.save(&self.model, dir)
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        let (model, meta) = crate::model_dir::load(dir)?;
        if model.config() != self.model.config() {
            return Err(Error::Invalid(format!(
                "{}: the checkpoint's architecture differs from the requested one",
                dir.display()
            )));
        }
        let optim = Optimizer::load(&model, dir)?;
        self.model = model;
        self.optim = optim;
        self.seed = meta.seed;
        Ok(())
    }
}

fn monitor_name(state: &TrainState) -> String {
    serde_json::to_value(state.config.monitor)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "metric".into())
}
