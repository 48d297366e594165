//! The Transformer as a [`Learner`]: tokenises batches, steps AdamW, saves the model
//! directory (`config.json`, `model.safetensors`, `meta.json`) plus the optimiser state
//! needed to resume exactly.
use std::path::Path;

use super::trainer::{Batch, Learner, LrSchedule, TrainState, TrainerConfig};
use super::{Normalizer, OptimConfig, Optimizer};
use crate::model::{Meta, Model, ModelConfig, Normalization};
use crate::predict::predict_raw;
use crate::{Error, Result};

/// A [`Model`] with its optimiser, trained by [`super::trainer::Trainer`].
pub struct TransformerLearner {
    model: Model,
    optim: Optimizer,
    seed: u64,
    /// Where the model trains; a resumed checkpoint moves there too.
    device: candle_core::Device,
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
            device: candle_core::Device::Cpu,
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
            device: candle_core::Device::Cpu,
            meta_extra: serde_json::Value::Null,
        }
    }

    /// This learner training on `device` from here on (AdamW's moments follow the
    /// parameters at the first step).
    pub fn into_device(mut self, device: &candle_core::Device) -> Result<Self> {
        self.model = self.model.into_device(device)?;
        self.device = device.clone();
        Ok(self)
    }

    /// The optimiser, e.g. to set an [`super::OrthoAnchor`].
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
        self.model = model.into_device(&self.device)?;
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
