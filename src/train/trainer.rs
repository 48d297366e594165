//! A model-agnostic training loop: seeded shuffling, mini-batches, reverse-complement
//! augmentation, learning-rate schedule, validation every epoch, early stopping,
//! checkpoints and exact resume.
//!
//! Reproducibility: the shuffle order and the augmentation choices of epoch `e`
//! come from a ChaCha8 stream derived from `(seed, e)` alone, so a run resumed
//! from the checkpoint of epoch `e` draws exactly what an uninterrupted run draws.
//! The learner must save and restore its own state (weights, optimiser moments)
//! in [`Learner::save`] / [`Learner::load`]; given that, a resumed run ends with
//! the same bytes as an uninterrupted one.
//!
//! Output directory layout:
//! * `OUT/` — the best model so far ([`Learner::save`] is called there whenever the
//!   monitored validation metric improves) and `train_log.tsv`;
//! * `OUT/checkpoint/` — the latest epoch's learner state plus `train_state.json`.
use std::{
    fs,
    io::Write,
    ops::ControlFlow,
    path::{Path, PathBuf},
    time::Instant,
};

use rand::{RngExt, SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{Dataset, Metrics, Normalizer, Split};
use crate::{Error, Result, io::output::Output};

/// Version of `train_state.json`; loading another version is an error.
pub const STATE_FORMAT_VERSION: u32 = 1;
/// Name of the checkpoint subdirectory of the output directory.
pub const CHECKPOINT_DIR: &str = "checkpoint";
/// File name of the serialised [`TrainState`] inside a checkpoint.
pub const STATE_FILE: &str = "train_state.json";
/// File name of the per-epoch log in the output directory.
pub const LOG_FILE: &str = "train_log.tsv";

/// One mini-batch, as the learner receives it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// Data set row of each example.
    pub rows: Vec<usize>,
    /// Sequences, already reverse-complemented where [`Batch::reversed`] says so.
    pub seqs: Vec<Vec<u8>>,
    /// Normalised targets (see [`Normalizer`]), one row per example.
    pub targets: Vec<Vec<f32>>,
    /// Whether each example was reverse-complemented by augmentation.
    pub reversed: Vec<bool>,
    /// Learning rate for this step (the schedule is the trainer's).
    pub lr: f64,
}

/// What a model implements to be trained by [`Trainer`]. It works on the
/// normalised target scale throughout.
pub trait Learner {
    /// One optimisation step on `batch`; returns the batch's mean training loss.
    /// `step` counts steps from 0 over the whole run (use it to seed dropout).
    fn train_batch(&mut self, batch: &Batch, step: usize) -> Result<f32>;
    /// Predictions (normalised scale), one row of outputs per sequence.
    fn predict(&self, seqs: &[&[u8]]) -> Result<Vec<Vec<f32>>>;
    /// Writes everything needed to predict and to continue training into `dir`
    /// (which exists). `state` carries the normaliser, output names and progress.
    fn save(&self, dir: &Path, state: &TrainState) -> Result<()>;
    /// Restores what [`Learner::save`] wrote (used to resume).
    fn load(&mut self, dir: &Path) -> Result<()>;
}

/// The validation quantity that decides "best epoch" and early stopping
/// (averaged over outputs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Monitor {
    /// Pearson r (higher is better).
    #[default]
    Pearson,
    /// Spearman rho (higher is better).
    Spearman,
    /// R² (higher is better).
    R2,
    /// MSE on the normalised scale (lower is better).
    Loss,
    /// AUROC, binary outputs (higher is better).
    Auroc,
    /// Average precision, binary outputs (higher is better).
    Auprc,
}

/// How the learning rate moves over the run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// `lr` throughout (after warm-up).
    Constant,
    /// Cosine decay from `lr` to `lr * min_lr_fraction` over all planned steps.
    #[default]
    Cosine,
}

/// Training hyperparameters (the `[train]` table of a config file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainerConfig {
    /// Maximum number of passes over the training rows.
    pub epochs: usize,
    /// Examples per mini-batch (the last batch of an epoch may be smaller).
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Linear warm-up from `lr / warmup_steps` to `lr` over this many steps.
    pub warmup_steps: usize,
    /// Schedule after warm-up.
    pub lr_schedule: LrSchedule,
    /// Floor of the cosine schedule, as a fraction of `lr`.
    pub min_lr_fraction: f64,
    /// Stop after this many epochs without improvement (0: never stop early).
    pub patience: usize,
    /// Reverse-complement each training example with probability 1/2.
    pub rc_augment: bool,
    /// Offsets to the pooling grid drawn per batch (0 or 1: none): each batch is shifted by
    /// 0..n−1 leading Ns and padded behind to whole windows of n bases, so a
    /// translation-invariant model that pools n bases sees every site at every offset, as
    /// prediction averages them ([`crate::predict::Averaging`]). Absent (0) in configs
    /// written before it existed, and then not written.
    #[serde(skip_serializing_if = "crate::model::is_zero")]
    pub shift_augment: usize,
    /// Seed of shuffling and augmentation.
    pub seed: u64,
    /// Metric that picks the best epoch.
    pub monitor: Monitor,
    /// Sequences per [`Learner::predict`] call during validation.
    pub eval_batch_size: usize,
}

impl Default for TrainerConfig {
    fn default() -> Self {
        TrainerConfig {
            epochs: 20,
            batch_size: 64,
            lr: 1e-3,
            warmup_steps: 0,
            lr_schedule: LrSchedule::Cosine,
            min_lr_fraction: 0.01,
            patience: 5,
            rc_augment: true,
            shift_augment: 0,
            seed: 1,
            monitor: Monitor::Pearson,
            eval_batch_size: 256,
        }
    }
}

impl TrainerConfig {
    fn check(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Invalid(format!("training config: {m}")));
        if self.epochs == 0 {
            return bad("epochs must be at least 1");
        }
        if self.batch_size == 0 || self.eval_batch_size == 0 {
            return bad("batch sizes must be at least 1");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr must be a positive number");
        }
        if !(0.0..=1.0).contains(&self.min_lr_fraction) {
            return bad("min_lr_fraction must be between 0 and 1");
        }
        Ok(())
    }

    /// The learning rate at `step` of a run of `total_steps`.
    pub fn lr_at(&self, step: usize, total_steps: usize) -> f64 {
        let warm = if self.warmup_steps > 0 && step < self.warmup_steps {
            (step + 1) as f64 / self.warmup_steps as f64
        } else {
            1.0
        };
        let decay = match self.lr_schedule {
            LrSchedule::Constant => 1.0,
            LrSchedule::Cosine => {
                let span = total_steps.saturating_sub(self.warmup_steps).max(1) as f64;
                let t = (step.saturating_sub(self.warmup_steps) as f64 / span).min(1.0);
                let cos = 0.5 * (1.0 + (std::f64::consts::PI * t).cos());
                self.min_lr_fraction + (1.0 - self.min_lr_fraction) * cos
            }
        };
        self.lr * warm * decay
    }
}

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// More epochs to go (or interrupted).
    Running,
    /// Stopped because the monitored metric stopped improving.
    EarlyStopped,
    /// Ran every planned epoch.
    Completed,
}

/// Which random stream the next epoch draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RngState {
    /// The run's seed.
    pub seed: u64,
    /// ChaCha stream of the next epoch (epoch index + 1; stream 0 is the split's).
    pub stream: u64,
}

/// Progress of a run, saved with every checkpoint and handed to [`Learner::save`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// [`STATE_FORMAT_VERSION`].
    pub format_version: u32,
    /// The configuration of the run.
    pub config: TrainerConfig,
    /// Epochs completed.
    pub epoch: usize,
    /// Optimisation steps completed.
    pub step: usize,
    /// Best monitored value so far (`None` while none has been finite).
    pub best_metric: Option<f64>,
    /// Epoch (1-based) that reached it.
    pub best_epoch: Option<usize>,
    /// Epochs since the last improvement.
    pub epochs_since_best: usize,
    /// Whether the run goes on.
    pub status: Status,
    /// Random state for the next epoch.
    pub rng: RngState,
    /// Target normalisation (fitted on the training rows).
    pub normalizer: Normalizer,
    /// Output names.
    pub output_names: Vec<String>,
    /// Which outputs are binary (0/1).
    pub binary: Vec<bool>,
    /// Digest of the training and validation data, to refuse resuming on other data.
    pub data_digest: String,
    /// Rows of `train_log.tsv` so far (without header).
    pub log: Vec<String>,
}

/// Events reported to the progress callback.
#[derive(Debug)]
pub enum Progress<'a> {
    /// Before the first batch.
    Start {
        /// First epoch to run (0-based; > 0 when resumed).
        first_epoch: usize,
        /// Planned epochs.
        epochs: usize,
        /// Batches per epoch.
        batches_per_epoch: usize,
    },
    /// After each optimisation step.
    Batch {
        /// Epoch, 0-based.
        epoch: usize,
        /// Batch within the epoch, 0-based.
        batch: usize,
        /// Global step, 0-based.
        step: usize,
        /// This batch's loss.
        loss: f32,
    },
    /// After validation, logging and checkpointing of an epoch.
    Epoch {
        /// The state just saved.
        state: &'a TrainState,
        /// Mean validation metrics per output (original scale).
        val_metrics: &'a [Metrics],
        /// Whether this epoch became the best.
        improved: bool,
    },
}

/// Runs a [`Learner`] over a [`Dataset`] and its [`Split`].
pub struct Trainer<'a> {
    config: TrainerConfig,
    data: &'a Dataset,
    split: &'a Split,
    normalizer: Normalizer,
    binary: Vec<bool>,
    digest: String,
}

impl<'a> Trainer<'a> {
    /// Checks the configuration and split and fits the normaliser on the training rows.
    pub fn new(config: TrainerConfig, data: &'a Dataset, split: &'a Split) -> Result<Self> {
        config.check()?;
        split.check_usable()?;
        if let Some(&bad) = [&split.train[..], &split.val, &split.test]
            .concat()
            .iter()
            .find(|&&i| i >= data.len())
        {
            return Err(Error::Invalid(format!(
                "split row {bad} is out of range for {} sequences",
                data.len()
            )));
        }
        let binary = data.binary_outputs();
        let normalizer = Normalizer::fit(&data.targets, &split.train, &data.output_names, &binary);
        let digest = data_digest(data, split);
        Ok(Trainer {
            config,
            data,
            split,
            normalizer,
            binary,
            digest,
        })
    }

    /// The target normalisation the learner is trained on.
    pub fn normalizer(&self) -> &Normalizer {
        &self.normalizer
    }

    /// Number of batches in one epoch.
    pub fn batches_per_epoch(&self) -> usize {
        self.split.train.len().div_ceil(self.config.batch_size)
    }

    /// Whether `out_dir` holds a checkpoint to resume from.
    pub fn has_checkpoint(out_dir: &Path) -> bool {
        out_dir.join(CHECKPOINT_DIR).join(STATE_FILE).is_file()
    }

    /// Reads the [`TrainState`] of a checkpoint directory.
    pub fn read_state(checkpoint: &Path) -> Result<TrainState> {
        let path = checkpoint.join(STATE_FILE);
        let text = fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let state: TrainState = serde_json::from_str(&text)
            .map_err(|e| Error::parse(&path, e.line() as u64, e.to_string()))?;
        if state.format_version != STATE_FORMAT_VERSION {
            return Err(Error::version(
                &path,
                "training checkpoint",
                Some(state.format_version),
                STATE_FORMAT_VERSION,
            ));
        }
        Ok(state)
    }

    fn fresh_state(&self) -> TrainState {
        TrainState {
            format_version: STATE_FORMAT_VERSION,
            config: self.config.clone(),
            epoch: 0,
            step: 0,
            best_metric: None,
            best_epoch: None,
            epochs_since_best: 0,
            status: Status::Running,
            rng: RngState {
                seed: self.config.seed,
                stream: 1,
            },
            normalizer: self.normalizer.clone(),
            output_names: self.data.output_names.clone(),
            binary: self.binary.clone(),
            data_digest: self.digest.clone(),
            log: Vec::new(),
        }
    }

    fn resumed_state<L: Learner>(&self, learner: &mut L, out_dir: &Path) -> Result<TrainState> {
        let ckpt = out_dir.join(CHECKPOINT_DIR);
        let mut state = Self::read_state(&ckpt)?;
        let mut theirs = state.config.clone();
        theirs.epochs = self.config.epochs;
        theirs.patience = self.config.patience;
        if theirs != self.config {
            return Err(Error::incompatible(
                &ckpt,
                "the checkpoint was made with other training settings (only epochs and patience may change on resume)",
            ));
        }
        if state.data_digest != self.digest {
            return Err(Error::incompatible(
                &ckpt,
                "the checkpoint was made on other training/validation data",
            ));
        }
        learner.load(&ckpt)?;
        if state.config.epochs != self.config.epochs
            || state.config.patience != self.config.patience
        {
            state.config.epochs = self.config.epochs;
            state.config.patience = self.config.patience;
            if state.status != Status::Running && state.epoch < self.config.epochs {
                state.status = Status::Running;
            }
        }
        Ok(state)
    }

    /// Trains `learner`, writing the best model and `train_log.tsv` to `out_dir`
    /// (created if missing) and a checkpoint after every epoch. With `resume`, the
    /// run continues from `out_dir/checkpoint` (an error when there is none).
    ///
    /// Returning [`ControlFlow::Break`] from `progress` stops the run at once (the
    /// last checkpoint stays valid); the returned state then has
    /// [`Status::Running`].
    pub fn run<L: Learner>(
        &self,
        learner: &mut L,
        out_dir: &Path,
        resume: bool,
        progress: &mut dyn FnMut(Progress<'_>) -> ControlFlow<()>,
    ) -> Result<TrainState> {
        fs::create_dir_all(out_dir).map_err(|e| Error::io(out_dir, e))?;
        let mut state = if resume {
            if !Self::has_checkpoint(out_dir) {
                return Err(Error::Invalid(format!(
                    "{}: no checkpoint to resume from",
                    out_dir.join(CHECKPOINT_DIR).display()
                )));
            }
            self.resumed_state(learner, out_dir)?
        } else {
            self.fresh_state()
        };
        let batches = self.batches_per_epoch();
        let total_steps = batches * self.config.epochs;
        if progress(Progress::Start {
            first_epoch: state.epoch,
            epochs: self.config.epochs,
            batches_per_epoch: batches,
        })
        .is_break()
        {
            return Ok(state);
        }
        while state.status == Status::Running && state.epoch < self.config.epochs {
            let t0 = Instant::now();
            let epoch = state.epoch;
            let mut rng = epoch_rng(self.config.seed, epoch);
            let mut order = self.split.train.clone();
            order.shuffle(&mut rng);
            let reversed: Vec<bool> = order
                .iter()
                .map(|_| self.config.rc_augment && rng.random_bool(0.5))
                .collect();
            // Drawn after the strands, and only when on, so runs without it keep their draws.
            let shift = self.config.shift_augment;
            let offsets: Vec<usize> = order
                .chunks(self.config.batch_size)
                .map(|_| {
                    if shift > 1 {
                        rng.random_range(0..shift)
                    } else {
                        0
                    }
                })
                .collect();
            let (mut loss_sum, mut loss_n) = (0.0f64, 0usize);
            let mut lr = self.config.lr;
            for (b, ((rows, rev), &offset)) in order
                .chunks(self.config.batch_size)
                .zip(reversed.chunks(self.config.batch_size))
                .zip(&offsets)
                .enumerate()
            {
                lr = self.config.lr_at(state.step, total_steps);
                let mut batch = self.batch(rows, rev, lr);
                if shift > 1 {
                    for s in &mut batch.seqs {
                        *s = crate::predict::shifted(s, false, offset, shift);
                    }
                }
                let loss = learner.train_batch(&batch, state.step)?;
                if !loss.is_finite() {
                    return Err(Error::Invalid(format!(
                        "training diverged: loss is {loss} at epoch {} step {} (lower the learning rate?)",
                        epoch + 1,
                        state.step
                    )));
                }
                loss_sum += f64::from(loss) * rows.len() as f64;
                loss_n += rows.len();
                let step = state.step;
                state.step += 1;
                let flow = progress(Progress::Batch {
                    epoch,
                    batch: b,
                    step,
                    loss,
                });
                if flow.is_break() {
                    return Ok(state);
                }
            }
            let (val_loss, val_metrics) = self.validate(learner)?;
            let monitored = monitored_value(self.config.monitor, val_loss, &val_metrics);
            // The first epoch always counts as best, even with an undefined metric
            // (constant predictions), so the output directory always holds a model.
            let improved = match state.best_metric {
                _ if state.best_epoch.is_none() => true,
                None => monitored.is_finite(),
                Some(best) => {
                    monitored.is_finite()
                        && if self.config.monitor == Monitor::Loss {
                            monitored < best
                        } else {
                            monitored > best
                        }
                }
            };
            state.epoch = epoch + 1;
            state.rng.stream = epoch as u64 + 2;
            if improved {
                state.best_metric = monitored.is_finite().then_some(monitored);
                state.best_epoch = Some(epoch + 1);
                state.epochs_since_best = 0;
            } else {
                state.epochs_since_best += 1;
            }
            state.log.push(log_row(
                epoch + 1,
                state.step,
                loss_sum / loss_n.max(1) as f64,
                val_loss,
                &val_metrics,
                lr,
                t0.elapsed().as_secs_f64(),
            ));
            if self.config.patience > 0 && state.epochs_since_best >= self.config.patience {
                state.status = Status::EarlyStopped;
            } else if state.epoch >= self.config.epochs {
                state.status = Status::Completed;
            }
            if improved {
                learner.save(out_dir, &state)?;
            }
            self.checkpoint(learner, out_dir, &state)?;
            write_log(out_dir, &state)?;
            let flow = progress(Progress::Epoch {
                state: &state,
                val_metrics: &val_metrics,
                improved,
            });
            if flow.is_break() {
                return Ok(state);
            }
        }
        Ok(state)
    }

    fn batch(&self, rows: &[usize], rev: &[bool], lr: f64) -> Batch {
        Batch {
            rows: rows.to_vec(),
            seqs: rows
                .iter()
                .zip(rev)
                .map(|(&i, &r)| {
                    if r {
                        crate::seq::reverse_complement(&self.data.seqs[i])
                    } else {
                        self.data.seqs[i].clone()
                    }
                })
                .collect(),
            targets: rows
                .iter()
                .map(|&i| self.normalizer.transform(&self.data.targets[i]))
                .collect(),
            reversed: rev.to_vec(),
            lr,
        }
    }

    /// Mean normalised MSE and per-output metrics on the validation rows.
    fn validate<L: Learner>(&self, learner: &L) -> Result<(f64, Vec<Metrics>)> {
        let pred_norm = self.predict_normalised(learner, &self.split.val)?;
        let k = self.data.n_outputs();
        let mut se = 0.0f64;
        for (p, &i) in pred_norm.iter().zip(&self.split.val) {
            let t = self.normalizer.transform(&self.data.targets[i]);
            for o in 0..k {
                se += (f64::from(p[o]) - f64::from(t[o])).powi(2);
            }
        }
        let val_loss = se / (pred_norm.len() * k).max(1) as f64;
        let pred: Vec<Vec<f32>> = pred_norm
            .iter()
            .map(|p| self.normalizer.inverse(p))
            .collect();
        let target: Vec<Vec<f32>> = self
            .split
            .val
            .iter()
            .map(|&i| self.data.targets[i].clone())
            .collect();
        Ok((val_loss, Metrics::per_output(&pred, &target, &self.binary)))
    }

    fn predict_normalised<L: Learner>(&self, learner: &L, rows: &[usize]) -> Result<Vec<Vec<f32>>> {
        let k = self.data.n_outputs();
        let mut out = Vec::with_capacity(rows.len());
        for chunk in rows.chunks(self.config.eval_batch_size) {
            let seqs: Vec<&[u8]> = chunk
                .iter()
                .map(|&i| self.data.seqs[i].as_slice())
                .collect();
            let pred = learner.predict(&seqs)?;
            if pred.len() != chunk.len() || pred.iter().any(|p| p.len() != k) {
                return Err(Error::Invalid(format!(
                    "the model returned {} predictions for {} sequences (expected {k} outputs each)",
                    pred.len(),
                    chunk.len()
                )));
            }
            out.extend(pred);
        }
        Ok(out)
    }

    /// Predictions on the original scale for `rows`, and their metrics per output.
    pub fn evaluate<L: Learner>(
        &self,
        learner: &L,
        rows: &[usize],
    ) -> Result<(Vec<Vec<f32>>, Vec<Metrics>)> {
        let pred: Vec<Vec<f32>> = self
            .predict_normalised(learner, rows)?
            .iter()
            .map(|p| self.normalizer.inverse(p))
            .collect();
        let target: Vec<Vec<f32>> = rows.iter().map(|&i| self.data.targets[i].clone()).collect();
        let m = Metrics::per_output(&pred, &target, &self.binary);
        Ok((pred, m))
    }

    /// Saves the learner and the state into `OUT/checkpoint`, replacing the previous one
    /// only once the new one is complete.
    fn checkpoint<L: Learner>(
        &self,
        learner: &L,
        out_dir: &Path,
        state: &TrainState,
    ) -> Result<()> {
        let tmp = out_dir.join(format!(".{CHECKPOINT_DIR}.tmp"));
        let old = out_dir.join(format!(".{CHECKPOINT_DIR}.old"));
        let dst = out_dir.join(CHECKPOINT_DIR);
        for d in [&tmp, &old] {
            if d.exists() {
                fs::remove_dir_all(d).map_err(|e| Error::io(d, e))?;
            }
        }
        fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        learner.save(&tmp, state)?;
        let state_path = tmp.join(STATE_FILE);
        let json = serde_json::to_string_pretty(state).map_err(|e| Error::json(&state_path, e))?;
        fs::write(&state_path, json + "\n").map_err(|e| Error::io(&state_path, e))?;
        if dst.exists() {
            fs::rename(&dst, &old).map_err(|e| Error::io(&dst, e))?;
        }
        fs::rename(&tmp, &dst).map_err(|e| Error::io(&dst, e))?;
        if old.exists() {
            fs::remove_dir_all(&old).map_err(|e| Error::io(&old, e))?;
        }
        Ok(())
    }
}

/// The random stream of epoch `epoch` (0-based): stream 0 is left to the split.
fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64 + 1);
    rng
}

fn monitored_value(monitor: Monitor, val_loss: f64, m: &[Metrics]) -> f64 {
    let mean = |f: &dyn Fn(&Metrics) -> Option<f64>| {
        let v: Vec<f64> = m.iter().filter_map(f).collect();
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    match monitor {
        Monitor::Pearson => mean(&|x| Some(x.pearson)),
        Monitor::Spearman => mean(&|x| Some(x.spearman)),
        Monitor::R2 => mean(&|x| Some(x.r2)),
        Monitor::Loss => val_loss,
        Monitor::Auroc => mean(&|x| x.auroc),
        Monitor::Auprc => mean(&|x| x.auprc),
    }
}

fn log_row(
    epoch: usize,
    step: usize,
    train_loss: f64,
    val_loss: f64,
    m: &[Metrics],
    lr: f64,
    seconds: f64,
) -> String {
    let f = |v: f64| {
        if v.is_finite() {
            format!("{v:.6}")
        } else {
            "NA".to_string()
        }
    };
    let mean = |g: &dyn Fn(&Metrics) -> Option<f64>| {
        let v: Vec<f64> = m.iter().filter_map(g).collect();
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    format!(
        "{epoch}\t{step}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{lr:.6e}\t{seconds:.3}",
        f(train_loss),
        f(val_loss),
        f(mean(&|x| Some(x.pearson))),
        f(mean(&|x| Some(x.spearman))),
        f(mean(&|x| Some(x.r2))),
        f(mean(&|x| x.auroc)),
        f(mean(&|x| x.auprc)),
    )
}

fn write_log(out_dir: &Path, state: &TrainState) -> Result<()> {
    let path: PathBuf = out_dir.join(LOG_FILE);
    let mut out = Output::create(&path)?;
    writeln!(out, "{}", crate::io::tables::TRAIN_LOG.header()).map_err(|e| out.err(e))?;
    for row in &state.log {
        writeln!(out, "{row}").map_err(|e| out.err(e))?;
    }
    out.finish()
}

/// FNV-1a over the training and validation rows (ids, sequences, targets) and the
/// output names: cheap, stable across platforms, enough to catch a wrong data set.
fn data_digest(data: &Dataset, split: &Split) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    };
    for name in &data.output_names {
        eat(name.as_bytes());
    }
    for (tag, rows) in [(b"T", &split.train), (b"V", &split.val)] {
        eat(tag);
        for &i in rows {
            eat(data.ids[i].as_bytes());
            eat(&data.seqs[i]);
            for v in &data.targets[i] {
                eat(&v.to_le_bytes());
            }
        }
    }
    format!("fnv1a64:{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lr_schedule() {
        let c = TrainerConfig {
            lr: 1.0,
            warmup_steps: 4,
            min_lr_fraction: 0.0,
            ..TrainerConfig::default()
        };
        assert_eq!(c.lr_at(0, 104), 0.25);
        assert_eq!(c.lr_at(3, 104), 1.0);
        assert!((c.lr_at(54, 104) - 0.5).abs() < 1e-12);
        assert!(c.lr_at(104, 104).abs() < 1e-12);
        let k = TrainerConfig {
            lr_schedule: LrSchedule::Constant,
            lr: 0.1,
            ..TrainerConfig::default()
        };
        assert_eq!(k.lr_at(1000, 10), 0.1);
    }

    #[test]
    fn config_from_toml_with_defaults() {
        let c: TrainerConfig = toml::from_str("epochs = 3\nmonitor = \"loss\"\n").unwrap();
        assert_eq!((c.epochs, c.monitor, c.batch_size), (3, Monitor::Loss, 64));
        assert!(toml::from_str::<TrainerConfig>("epoch = 3").is_err());
    }

    #[test]
    fn epoch_streams_differ_and_repeat() {
        use rand::Rng;
        let a = epoch_rng(5, 0).next_u64();
        assert_eq!(a, epoch_rng(5, 0).next_u64());
        assert_ne!(a, epoch_rng(5, 1).next_u64());
    }
}
