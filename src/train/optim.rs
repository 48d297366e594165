//! Losses and AdamW with linear warm-up, cosine decay and gradient-norm clipping.
//!
//! AdamW follows `torch.optim.AdamW` exactly (decoupled weight decay on every
//! parameter, bias-corrected moments, `eps` added after the square root) and
//! clipping follows `torch.nn.utils.clip_grad_norm_`, so one step matches the
//! PyTorch reference (see the golden test). Where the parameters live off the CPU (a GPU),
//! the same update runs as tensor ops on their device, with the moments kept there.
use std::collections::HashMap;
use std::path::Path;

use candle_core::backprop::GradStore;
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use super::OrthoAnchor;
use super::regularizers::{self, RegularizerWeights};
use crate::model::{Model, Task, cerr, portable_ops};
use crate::{Error, Result};

/// Optimiser, schedule and regulariser settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// Learning rate at the end of the cosine decay.
    pub min_lr: f64,
    /// Steps of linear warm-up from `lr / warmup_steps` to `lr`.
    pub warmup_steps: usize,
    /// Total steps of the schedule (cosine decay runs from the end of warm-up to here).
    pub total_steps: usize,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// Maximum global gradient L2 norm (0 = no clipping).
    pub clip_norm: f64,
    /// Attention regulariser weights.
    pub regularizers: RegularizerWeights,
    /// Learning-rate multiplier of the relative-position bias tables: one entry per offset
    /// gets gradient only from token pairs at that offset, and Adam's steps of about `lr`
    /// left them near zero in a training run. Scales the step and the weight decay alike
    /// (a PyTorch parameter group with `lr · relative_bias_lr`).
    pub relative_bias_lr: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            lr: 1e-3,
            min_lr: 1e-5,
            warmup_steps: 100,
            total_steps: 10_000,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.01,
            clip_norm: 1.0,
            regularizers: RegularizerWeights::default(),
            relative_bias_lr: 1.0,
        }
    }
}

impl OptimConfig {
    /// Learning rate of 0-based step `t`.
    pub fn lr_at(&self, t: usize) -> f64 {
        if t < self.warmup_steps {
            return self.lr * (t + 1) as f64 / self.warmup_steps as f64;
        }
        let span = self.total_steps.saturating_sub(self.warmup_steps).max(1);
        let progress = ((t - self.warmup_steps) as f64 / span as f64).min(1.0);
        self.min_lr
            + (self.lr - self.min_lr) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

/// What `optimizer.json` holds.
#[derive(Serialize, Deserialize)]
struct OptimState {
    config: OptimConfig,
    step: usize,
}

/// Loss parts of one step.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StepStats {
    /// Task loss (MSE or BCE) plus weighted regularisers: what was minimised.
    pub loss: f32,
    /// Task loss alone.
    pub task_loss: f32,
    /// Unweighted regulariser values, averaged over layers.
    pub diversity: f32,
    pub orthogonality: f32,
    pub entropy: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f32,
    /// Weighted orthogonal fine-tuning penalty (0 without an [`OrthoAnchor`]); in `loss`.
    pub orthogonal: f32,
    /// Learning rate used.
    pub lr: f64,
}

fn targets_tensor(targets: &[Vec<f32>], n_out: usize, dev: &Device) -> Result<Tensor> {
    if targets.iter().any(|t| t.len() != n_out) {
        return Err(Error::Invalid(format!(
            "model: every target row must have {n_out} values"
        )));
    }
    let flat: Vec<f32> = targets.iter().flatten().copied().collect();
    Tensor::from_vec(flat, (targets.len(), n_out), dev).map_err(cerr)
}

/// Mean squared error or mean BCE-with-logits of outputs `[B, n]` against targets.
fn task_loss(task: Task, out: &Tensor, y: &Tensor) -> candle_core::Result<Tensor> {
    match task {
        Task::Regression => (out - y)?.sqr()?.mean_all(),
        Task::Binary => {
            // max(x,0) − x·y + log(1 + e^{−|x|}), the stable form torch uses.
            let a = (out.relu()? - (out * y)?)?;
            let b = ((out.abs()?.neg()?.exp()? + 1.0)?).log()?;
            (a + b)?.mean_all()
        }
    }
}

/// The task loss of a model on a batch, without dropout or gradients (validation loss).
pub fn loss_value(model: &Model, batch_ids: &[Vec<u32>], targets: &[Vec<f32>]) -> Result<f32> {
    let out = model.forward(batch_ids, &Default::default())?;
    let o: Vec<Vec<f32>> = out.output;
    let flat_o = Tensor::from_vec(
        o.iter().flatten().copied().collect::<Vec<f32>>(),
        (o.len(), model.config().n_outputs),
        &Device::Cpu,
    )
    .map_err(cerr)?;
    if targets.len() != o.len() {
        return Err(Error::Invalid(
            "model: one target row per sequence is needed".into(),
        ));
    }
    let y = targets_tensor(targets, model.config().n_outputs, &Device::Cpu)?;
    task_loss(model.config().task, &flat_o, &y)
        .and_then(|t| t.to_scalar::<f32>())
        .map_err(cerr)
}

/// AdamW state for one model.
#[derive(Debug, Clone)]
pub struct Optimizer {
    cfg: OptimConfig,
    step: usize,
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    /// The moments on the parameters' device, once a step has run there; they are then the
    /// current ones (`save` writes them, a later host step reads them back into `m`, `v`).
    on_device: Option<(Vec<Tensor>, Vec<Tensor>)>,
    last: StepStats,
    /// Orthogonal fine-tuning penalty, when set.
    anchor: Option<OrthoAnchor>,
}

/// The AdamW coefficients of one step.
#[derive(Clone, Copy)]
struct Coeffs {
    lr: f32,
    b1: f32,
    b2: f32,
    /// `lr / (1 − β₁ᵗ)`.
    step_size: f32,
    /// `√(1 − β₂ᵗ)`.
    bc2_sqrt: f32,
    eps: f32,
}

impl Optimizer {
    /// Zero moments for every parameter of `model`.
    pub fn new(model: &Model, cfg: OptimConfig) -> Self {
        let sizes: Vec<usize> = model.vars().iter().map(|(_, v)| v.elem_count()).collect();
        Self {
            cfg,
            step: 0,
            m: sizes.iter().map(|&n| vec![0.0; n]).collect(),
            v: sizes.iter().map(|&n| vec![0.0; n]).collect(),
            on_device: None,
            last: StepStats::default(),
            anchor: None,
        }
    }

    /// Adds (or removes) the orthogonal fine-tuning penalty to every following step.
    pub fn set_anchor(&mut self, anchor: Option<OrthoAnchor>) {
        self.anchor = anchor;
    }

    /// Writes the moments and step count (`optimizer.safetensors`, `optimizer.json`) into
    /// `dir`, so that training can resume exactly.
    pub fn save(&self, model: &Model, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut tensors = HashMap::new();
        for (i, (name, var)) in model.vars().iter().enumerate() {
            let (m, v) = match &self.on_device {
                Some((m, v)) => (
                    m[i].to_device(&Device::Cpu).map_err(cerr)?,
                    v[i].to_device(&Device::Cpu).map_err(cerr)?,
                ),
                None => {
                    let t = |v: &Vec<f32>| Tensor::from_vec(v.clone(), var.shape(), &Device::Cpu);
                    (t(&self.m[i]).map_err(cerr)?, t(&self.v[i]).map_err(cerr)?)
                }
            };
            tensors.insert(format!("m.{name}"), m);
            tensors.insert(format!("v.{name}"), v);
        }
        let path = dir.join("optimizer.safetensors");
        candle_core::safetensors::save(&tensors, &path)
            .map_err(|e| Error::tensor(path.display(), e))?;
        let state = OptimState {
            config: self.cfg,
            step: self.step,
        };
        let path = dir.join("optimizer.json");
        let text = serde_json::to_string_pretty(&state).expect("optimizer state serialises");
        std::fs::write(&path, text + "\n").map_err(|e| Error::io(&path, e))
    }

    /// Restores what [`Optimizer::save`] wrote, for `model` (same parameter names and shapes).
    pub fn load(model: &Model, dir: impl AsRef<Path>) -> Result<Optimizer> {
        let dir = dir.as_ref();
        let path = dir.join("optimizer.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let state: OptimState = serde_json::from_str(&text).map_err(|e| Error::json(&path, e))?;
        let path = dir.join("optimizer.safetensors");
        let tensors = candle_core::safetensors::load(&path, &Device::Cpu)
            .map_err(|e| Error::tensor(path.display(), e))?;
        let mut opt = Optimizer::new(model, state.config);
        opt.step = state.step;
        for (i, (name, var)) in model.vars().iter().enumerate() {
            for (key, slot) in [("m", &mut opt.m[i]), ("v", &mut opt.v[i])] {
                let tensor = format!("{key}.{name}");
                let t = tensors.get(&tensor).ok_or_else(|| {
                    Error::Invalid(format!("{}: missing {tensor}", path.display()))
                })?;
                if t.shape() != var.shape() {
                    return Err(Error::Shape {
                        path: path.display().to_string(),
                        found: t.dims().to_vec(),
                        expected: var.dims().to_vec(),
                        tensor,
                        expected_by: "the model".into(),
                    });
                }
                *slot = t
                    .flatten_all()
                    .and_then(|t| t.to_vec1::<f32>())
                    .map_err(|e| Error::tensor(path.display(), e))?;
            }
        }
        Ok(opt)
    }

    /// Steps taken so far.
    pub fn steps(&self) -> usize {
        self.step
    }

    /// Settings.
    pub fn config(&self) -> &OptimConfig {
        &self.cfg
    }

    /// Loss parts of the last step.
    pub fn last_stats(&self) -> StepStats {
        self.last
    }

    /// One training step (dropout on) on a batch; returns the minimised loss.
    pub fn step(
        &mut self,
        model: &mut Model,
        batch_ids: &[Vec<u32>],
        targets: &[Vec<f32>],
    ) -> Result<f32> {
        if batch_ids.len() != targets.len() {
            return Err(Error::Invalid(format!(
                "model: {} sequences but {} target rows",
                batch_ids.len(),
                targets.len()
            )));
        }
        if self.m.len() != model.vars().len() {
            return Err(Error::Invalid(
                "model: optimizer was built for a different model".into(),
            ));
        }
        let cfg = model.config().clone();
        let y = targets_tensor(targets, cfg.n_outputs, model.device())?;
        let batch = model.batch(batch_ids)?;
        let reg = self.cfg.regularizers;
        let (out, probs) = model.forward_train(&batch, self.step as u64, reg.any())?;
        let mut stats = StepStats {
            lr: self.cfg.lr_at(self.step),
            ..Default::default()
        };
        let loss = {
            let mut go = || -> candle_core::Result<Tensor> {
                let task = task_loss(cfg.task, &out, &y)?;
                stats.task_loss = task.to_scalar::<f32>()?;
                let mut loss = task;
                if reg.any() {
                    let g = &batch.geom;
                    let qm: Vec<f32> = (0..g.b * g.l)
                        .map(|i| if i % g.l < g.lens[i / g.l] { 1.0 } else { 0.0 })
                        .collect();
                    let qm = Tensor::from_vec(qm, (g.b, 1, g.l, 1), model.device())?;
                    let n = probs.len() as f64;
                    type RegFn = fn(&Tensor, &Tensor) -> candle_core::Result<Tensor>;
                    let terms: [(f64, RegFn, &mut f32); 3] = [
                        (
                            reg.diversity,
                            regularizers::attention_diversity,
                            &mut stats.diversity,
                        ),
                        (
                            reg.orthogonality,
                            regularizers::attention_orthogonality,
                            &mut stats.orthogonality,
                        ),
                        (
                            reg.entropy,
                            regularizers::attention_entropy,
                            &mut stats.entropy,
                        ),
                    ];
                    for (w, f, slot) in terms {
                        if w == 0.0 {
                            continue;
                        }
                        let mut sum = Tensor::new(0f32, model.device())?;
                        for p in &probs {
                            sum = (sum + f(p, &qm)?)?;
                        }
                        let mean = (sum / n)?;
                        *slot = mean.to_scalar::<f32>()?;
                        loss = (loss + (mean * w)?)?;
                    }
                }
                Ok(loss)
            };
            go().map_err(cerr)?
        };
        stats.loss = loss.to_scalar::<f32>().map_err(cerr)?;
        if !stats.loss.is_finite() {
            return Err(Error::Invalid(format!(
                "model: loss is not finite ({}) at step {}",
                stats.loss, self.step
            )));
        }
        let grads = loss.backward().map_err(cerr)?;
        drop(probs);
        drop(out);
        let off_cpu = model
            .vars()
            .first()
            .is_some_and(|(_, v)| portable_ops(v.as_tensor()));
        stats.grad_norm = match (off_cpu, &self.anchor) {
            (true, None) => self.update_on_device(model, &grads)?,
            _ => self.update_on_host(model, &grads, &mut stats)?,
        };
        self.last = stats;
        Ok(stats.loss)
    }

    /// Starts the next step: its coefficients, with the 1-based step count advanced.
    fn advance(&mut self) -> Coeffs {
        self.step += 1;
        let bc1 = 1.0 - self.cfg.beta1.powi(self.step as i32);
        let bc2 = 1.0 - self.cfg.beta2.powi(self.step as i32);
        let lr = self.cfg.lr_at(self.step - 1);
        Coeffs {
            lr: lr as f32,
            b1: self.cfg.beta1 as f32,
            b2: self.cfg.beta2 as f32,
            step_size: (lr / bc1) as f32,
            bc2_sqrt: bc2.sqrt() as f32,
            eps: self.cfg.eps as f32,
        }
    }

    /// The factor gradients are scaled by, from their global norm (`clip_grad_norm_`).
    fn clip_factor(&self, norm: f64) -> f32 {
        if self.cfg.clip_norm > 0.0 {
            (self.cfg.clip_norm / (norm + 1e-6)).min(1.0) as f32
        } else {
            1.0
        }
    }

    /// Step size and weight-decay factor of one parameter (relative-bias tables learn
    /// `relative_bias_lr` times faster).
    fn rates(&self, c: &Coeffs, name: &str) -> (f32, f32) {
        let mult = if name.ends_with(".attn.rel.bias") {
            self.cfg.relative_bias_lr as f32
        } else {
            1.0
        };
        (
            c.step_size * mult,
            1.0 - c.lr * mult * self.cfg.weight_decay as f32,
        )
    }

    /// The update on CPU vectors, element by element as PyTorch does it; returns the
    /// gradient norm before clipping.
    fn update_on_host(
        &mut self,
        model: &Model,
        grads: &GradStore,
        stats: &mut StepStats,
    ) -> Result<f32> {
        // Moments last updated on the device come back first.
        if let Some((m, v)) = self.on_device.take() {
            let down = |t: &Tensor| t.flatten_all().and_then(|t| t.to_vec1::<f32>());
            for i in 0..m.len() {
                self.m[i] = down(&m[i]).map_err(cerr)?;
                self.v[i] = down(&v[i]).map_err(cerr)?;
            }
        }
        // Gradients in parameter order; a parameter the loss does not touch gets zeros.
        let mut gs: Vec<Option<Vec<f32>>> = Vec::with_capacity(self.m.len());
        let mut sq = 0f64;
        for (_, var) in model.vars() {
            let g = match grads.get(var.as_tensor()) {
                Some(g) => Some(
                    g.flatten_all()
                        .and_then(|t| t.to_vec1::<f32>())
                        .map_err(cerr)?,
                ),
                None => None,
            };
            if let Some(g) = &g {
                sq += g.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
            }
            gs.push(g);
        }
        if let Some(a) = &self.anchor {
            stats.orthogonal = a.add_gradient(model, &mut gs)?;
            stats.loss += stats.orthogonal;
            sq = gs
                .iter()
                .flatten()
                .flatten()
                .map(|&x| (x as f64) * (x as f64))
                .sum();
        }
        let norm = sq.sqrt();
        let clip = self.clip_factor(norm);
        let c = self.advance();
        let Coeffs {
            b1,
            b2,
            bc2_sqrt,
            eps,
            ..
        } = c;
        for (i, (name, var)) in model.vars().iter().enumerate() {
            let Some(g) = &gs[i] else { continue };
            let (step_size, decay) = self.rates(&c, name);
            let mut theta = var
                .as_tensor()
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(cerr)?;
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            for j in 0..theta.len() {
                let gj = g[j] * clip;
                theta[j] *= decay;
                m[j] = b1 * m[j] + (1.0 - b1) * gj;
                v[j] = b2 * v[j] + (1.0 - b2) * gj * gj;
                let denom = v[j].sqrt() / bc2_sqrt + eps;
                theta[j] -= step_size * m[j] / denom;
            }
            let t = Tensor::from_vec(theta, var.shape(), var.device()).map_err(cerr)?;
            var.set(&t).map_err(cerr)?;
        }
        Ok(norm as f32)
    }

    /// The same update as tensor ops on the parameters' device, moments kept there: reading
    /// every gradient back and every parameter up again would cost more than the step.
    fn update_on_device(&mut self, model: &Model, grads: &GradStore) -> Result<f32> {
        let vars = model.vars();
        let gs: Vec<Option<&Tensor>> = vars.iter().map(|(_, v)| grads.get(v.as_tensor())).collect();
        // One read-back for the norm: every gradient's sum of squares, in f64 as on the host.
        let sums = gs
            .iter()
            .flatten()
            .map(|g| g.to_dtype(DType::F64)?.sqr()?.sum_all())
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(cerr)?;
        let sq = match sums.is_empty() {
            true => 0.0,
            false => Tensor::stack(&sums, 0)
                .and_then(|t| t.sum_all()?.to_scalar::<f64>())
                .map_err(cerr)?,
        };
        let norm = sq.sqrt();
        let clip = self.clip_factor(norm) as f64;
        let c = self.advance();
        let (mut ms, mut vs) = match self.on_device.take() {
            Some(state) => state,
            None => {
                let up = |x: &[Vec<f32>]| -> Result<Vec<Tensor>> {
                    x.iter()
                        .zip(vars)
                        .map(|(x, (_, var))| {
                            Tensor::from_vec(x.clone(), var.shape(), var.device()).map_err(cerr)
                        })
                        .collect()
                };
                (up(&self.m)?, up(&self.v)?)
            }
        };
        let (b1, b2) = (c.b1 as f64, c.b2 as f64);
        for (i, (name, var)) in vars.iter().enumerate() {
            let Some(g) = gs[i] else { continue };
            let (step_size, decay) = self.rates(&c, name);
            let go = || -> candle_core::Result<(Tensor, Tensor, Tensor)> {
                let g = (g * clip)?;
                let m = ((&ms[i] * b1)? + (&g * (1.0 - b1))?)?;
                let v = ((&vs[i] * b2)? + (g.sqr()? * (1.0 - b2))?)?;
                let denom = ((v.sqrt()? / c.bc2_sqrt as f64)? + c.eps as f64)?;
                let theta =
                    ((var.as_tensor() * decay as f64)? - ((&m / &denom)? * step_size as f64)?)?;
                Ok((theta, m, v))
            };
            let (theta, m, v) = go().map_err(cerr)?;
            var.set(&theta).map_err(cerr)?;
            (ms[i], vs[i]) = (m, v);
        }
        self.on_device = Some((ms, vs));
        Ok(norm as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelConfig, forced_portable_ops};

    fn params(model: &Model) -> Vec<f32> {
        model
            .vars()
            .iter()
            .flat_map(|(_, v)| {
                v.as_tensor()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
            })
            .collect()
    }

    /// Three steps on the host, and on the device path (the CPU forced onto it) with a save
    /// and a load after the second: the same losses and parameters, within rounding.
    #[test]
    fn the_device_update_is_the_host_update() {
        let cfg = ModelConfig {
            relative_bias: 4,
            ..ModelConfig::tiny(3)
        };
        let ocfg = OptimConfig {
            warmup_steps: 1,
            clip_norm: 0.05,
            relative_bias_lr: 30.0,
            ..OptimConfig::default()
        };
        let seqs: [&[u8]; 3] = [b"ACGTTGCAACGTAGGCTA", b"TTGACA", b"GGGCCCATATCGATCGAT"];
        let targets = vec![vec![0.5], vec![-1.0], vec![2.0]];
        let dir = tempfile::tempdir().unwrap();
        let run = |resume: bool| {
            let mut model = Model::new(&cfg, 5).unwrap();
            let ids: Vec<Vec<u32>> = seqs.iter().map(|s| model.tokenizer().encode(s)).collect();
            let mut opt = Optimizer::new(&model, ocfg);
            let mut losses = Vec::new();
            for step in 0..3 {
                if resume && step == 2 {
                    opt.save(&model, dir.path()).unwrap();
                    opt = Optimizer::load(&model, dir.path()).unwrap();
                }
                losses.push(opt.step(&mut model, &ids, &targets).unwrap());
                assert!(opt.last.grad_norm > 0.0);
            }
            (losses, params(&model))
        };
        let (l1, p1) = run(false);
        let (l2, p2) = forced_portable_ops(|| run(true));
        for (a, b) in l1.iter().zip(&l2) {
            assert!((a - b).abs() < 1e-4 * (1.0 + a.abs()), "loss {a} vs {b}");
        }
        let worst = p1
            .iter()
            .zip(&p2)
            .map(|(a, b)| (a - b).abs() / (1.0 + a.abs()))
            .fold(0f32, f32::max);
        assert!(worst < 1e-4, "parameters differ by {worst}");
        // The update moved the parameters: a test of equal copies would pass vacuously.
        let start = params(&Model::new(&cfg, 5).unwrap());
        assert!(p2.iter().zip(&start).any(|(a, b)| (a - b).abs() > 1e-3));
    }
}
