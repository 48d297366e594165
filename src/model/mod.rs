//! The k-mer DNA Transformer: a pre-LN encoder whose attention is inspectable.
//!
//! Attention is computed explicitly as `softmax(QKᵀ/√d_h)·V` so that
//! [`Model::forward`] can return every layer's and head's probabilities on request
//! (training never copies them out). Each layer has a per-head gate
//! ([`Model::set_head_mask`], for ablation and pruning) and a head-output hook
//! ([`ForwardOptions::capture`] / [`ForwardOptions::patches`], for activation
//! patching) placed before the output projection W_O. Inputs of any length are
//! accepted (learned positions up to `max_tokens`); inference holds one layer's
//! `B·H·L²` probabilities at a time.
//!
//! ```
//! use cisformer::model::{ForwardOptions, Model, ModelConfig};
//! let cfg = ModelConfig { k: 3, vocab_size: 5 + 64, d_model: 16, n_heads: 4, n_kv_heads: 4,
//!                         n_layers: 1, ffn_dim: 32, ..ModelConfig::default() };
//! let model = Model::new(&cfg, 7).unwrap();
//! let ids = model.tokenizer().encode(b"ACGTACGTAC");
//! let out = model.forward(&[ids], &ForwardOptions { attention: true, ..Default::default() }).unwrap();
//! assert_eq!(out.output[0].len(), 1);
//! let maps = &out.attention.unwrap()[0];
//! let row: f32 = maps.row(0, 2, 3).iter().sum();
//! assert!((row - 1.0).abs() < 1e-5);
//! ```
mod config;
mod kernels;
mod layers;
mod portable;

/// Whether a tensor takes candle's generic ops (off the CPU, or forced: see `portable`).
pub(crate) use portable::active as portable_ops;
#[cfg(test)]
pub(crate) use portable::forced as forced_portable_ops;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Mutex;

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use rayon::prelude::*;

pub(crate) use config::is_zero;
pub use config::{FORMAT_VERSION, Meta, ModelConfig, Normalization, Pooling, Positional, Task};
pub use kernels::{erf_f32, exp_f32};

use crate::tokenizer::{PAD, Tokenizer};
use crate::{Error, Result};
use kernels::AttnGeom;
use layers::Weights;

/// Calls `f` on a CPU tensor's values in row-major order without copying them out when
/// they are contiguous (attention batches are tens of megabytes).
fn with_values<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    {
        let (storage, layout) = t.storage_and_layout();
        if let (candle_core::Storage::Cpu(cpu), Some((a, b))) =
            (&*storage, layout.contiguous_offsets())
        {
            return Ok(f(&cpu.as_slice::<f32>().map_err(cerr)?[a..b]));
        }
    }
    let v = t
        .flatten_all()
        .and_then(|t| t.to_vec1::<f32>())
        .map_err(cerr)?;
    Ok(f(&v))
}

/// A hook on each layer's probabilities `[B,H,L,L]` and head outputs `[B,H,L,dh]` that
/// returns the head outputs to use (see `Model::run`).
type OnLayer<'a> = dyn FnMut(usize, &Tensor, Tensor) -> Result<Tensor> + 'a;

/// Turns a candle error into the library's error type.
pub(crate) fn cerr(e: candle_core::Error) -> Error {
    Error::tensor("model", e)
}

/// One attention head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HeadId {
    pub layer: usize,
    pub head: usize,
}

/// Replacement output of one head for every sequence of a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadPatch {
    pub head: HeadId,
    /// Per sequence, its tokens × head width, row-major (`len · d_head` values).
    pub values: Vec<Vec<f32>>,
}

/// What [`Model::forward`] should return besides the outputs.
#[derive(Debug, Clone, Default)]
pub struct ForwardOptions {
    /// Return the attention probabilities of every layer and head.
    pub attention: bool,
    /// Return these heads' outputs (after the head gate, before W_O).
    pub capture: Vec<HeadId>,
    /// Replace these heads' outputs before W_O (activation patching).
    pub patches: Vec<HeadPatch>,
}

/// Attention probabilities of one sequence: `[layer][head][query][key]`, unpadded.
#[derive(Debug, Clone, PartialEq)]
pub struct AttentionMaps {
    pub n_layers: usize,
    pub n_heads: usize,
    /// Tokens in the sequence (including `[CLS]` and `[SEP]`).
    pub len: usize,
    /// Row-major `n_layers · n_heads · len · len` values.
    pub data: Vec<f32>,
}

impl AttentionMaps {
    /// The `len × len` map of one head.
    pub fn map(&self, layer: usize, head: usize) -> &[f32] {
        let n = self.len * self.len;
        let o = (layer * self.n_heads + head) * n;
        &self.data[o..o + n]
    }
    /// Attention of query token `q` over all keys.
    pub fn row(&self, layer: usize, head: usize, q: usize) -> &[f32] {
        &self.map(layer, head)[q * self.len..(q + 1) * self.len]
    }
    /// Probability that query `q` attends to key `k`.
    pub fn get(&self, layer: usize, head: usize, q: usize, k: usize) -> f32 {
        self.row(layer, head, q)[k]
    }

    fn zeros(n_layers: usize, n_heads: usize, len: usize) -> Self {
        AttentionMaps {
            n_layers,
            n_heads,
            len,
            data: vec![0.0; n_layers * n_heads * len * len],
        }
    }

    /// Reshapes in place, keeping the buffer: a batch's maps are megabytes, and fresh
    /// ones cost a page fault per 4 KiB. Values are left stale unless `zero` (needed
    /// only where pruned heads keep no map of their own).
    fn reset(&mut self, n_layers: usize, n_heads: usize, len: usize, zero: bool) {
        (self.n_layers, self.n_heads, self.len) = (n_layers, n_heads, len);
        self.data.resize(n_layers * n_heads * len * len, 0.0);
        if zero {
            self.data.fill(0.0);
        }
    }

    /// `maps` resized to one map per sequence of `lens`, reusing the buffers it holds;
    /// `kept` lists each layer's physical heads (zeroed maps where some were pruned).
    fn reuse(
        mut maps: Vec<AttentionMaps>,
        lens: &[usize],
        n_heads: usize,
        kept: &[Vec<usize>],
    ) -> Vec<AttentionMaps> {
        let zero = kept.iter().any(|k| k.len() < n_heads);
        maps.truncate(lens.len());
        maps.resize_with(lens.len(), || AttentionMaps::zeros(0, 0, 0));
        for (m, &n) in maps.iter_mut().zip(lens) {
            m.reset(kept.len(), n_heads, n, zero);
        }
        maps
    }

    /// Fills one layer of every sequence's maps from the padded `[B, H, L, L]` batch `t`
    /// (see [`fill_layer`](Self::fill_layer)), read in place.
    fn fill_batch_layer(
        maps: &mut [AttentionMaps],
        layer: usize,
        t: &Tensor,
        kept: &[usize],
        l: usize,
    ) -> Result<()> {
        with_values(t, |v| {
            maps.par_iter_mut()
                .enumerate()
                .for_each(|(bi, m)| m.fill_layer(layer, bi, v, kept, l));
        })
    }

    /// Copies sequence `bi`'s maps of one layer out of a padded `[B, H, L, L]` batch
    /// (`padded`, with `l` = L), physical head `hp` going to original head `kept[hp]`
    /// (pruned heads keep their zeros).
    fn fill_layer(&mut self, layer: usize, bi: usize, padded: &[f32], kept: &[usize], l: usize) {
        let n = self.len;
        for (hp, &h) in kept.iter().enumerate() {
            let src = ((bi * kept.len() + hp) * l) * l;
            let dst = (layer * self.n_heads + h) * n * n;
            for q in 0..n {
                self.data[dst + q * n..dst + (q + 1) * n]
                    .copy_from_slice(&padded[src + q * l..src + q * l + n]);
            }
        }
    }
}

/// Captured output of one head.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadOutput {
    pub head: HeadId,
    /// Per sequence, `len · d_head` values, row-major.
    pub values: Vec<Vec<f32>>,
}

/// Result of [`Model::forward`].
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutput {
    /// Per sequence, per output (logits for [`Task::Binary`]).
    pub output: Vec<Vec<f32>>,
    /// Per sequence, when [`ForwardOptions::attention`] was set.
    pub attention: Option<Vec<AttentionMaps>>,
    /// One entry per [`ForwardOptions::capture`] head, in that order.
    pub heads: Vec<HeadOutput>,
}

/// A padded batch: ids `[B·T]`, lengths, and the pooling matrix `[B, B·L]`, where `T` is
/// the longest token sequence and `L` the longest sequence of attention positions (`T`
/// unless the config pools).
pub(crate) struct Batch {
    ids: Tensor,
    /// Longest token sequence.
    t: usize,
    /// `[B·T, 1]`: 1 for real tokens, 0 for padding (what the stem reads).
    tok_valid: Tensor,
    /// With pooling, `[B·L·pool]`: the token rows each attention position takes the
    /// maximum of.
    window: Option<Tensor>,
    /// With a convolution stem over bare token embeddings, `[B·T·K]`: the stem's table row
    /// per token and offset (see `ConvStem::forward_table`).
    conv_rows: Option<Tensor>,
    /// With both a stem over bare token embeddings and pooling: the fused operation's
    /// plan (`window` and `conv_rows` are then not built).
    stem: Option<std::sync::Arc<kernels::StemPlan>>,
    pub(crate) geom: AttnGeom,
    pool: Tensor,
    /// `[B·L, 1]`: 1 for real positions, 0 for padding.
    valid: Tensor,
    /// With a relative-position bias, `[L·L]`: the table column of each (query, key) pair,
    /// `clip(key − query, ±R) + R`; built once per batch, shared by every layer.
    offsets: Option<Tensor>,
}

/// The encoder with its parameters.
pub struct Model {
    cfg: ModelConfig,
    tokenizer: Tokenizer,
    varmap: VarMap,
    /// Parameters by checkpoint name, sorted (a fixed order for init, clipping and AdamW).
    params: Vec<(String, Var)>,
    train_w: Weights,
    eval_w: Weights,
    head_mask: Vec<Vec<f32>>,
    seed: u64,
    dropout_rng: Mutex<ChaCha8Rng>,
    /// Where the parameters live and every batch is built (the CPU unless moved with
    /// [`Model::to_device`]).
    device: Device,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("cfg", &self.cfg)
            .field("n_params", &self.n_params())
            .finish()
    }
}

impl Model {
    /// A freshly initialised model; the same `seed` always gives the same weights.
    ///
    /// Scale-preserving (LeCun) initialisation: every weight matrix or convolution
    /// N(0, σ² = 1/fan_in), learned positions N(0, 0.02²), zero biases, unit layer norms.
    /// GPT-style N(0, 0.02²) everywhere left the layers' pre-activations near 1e-2, where
    /// GELU is linear: motifs that do not add up linearly over k-mers (TEAD1, CTCF in the
    /// default grammar) were barely learnt and held-out r stalled at 0.77 on the 20k set.
    ///
    /// Token embeddings: N(0, 1) for k ≤ 4, where every k-mer is in every batch and Adam's
    /// fixed-size steps move a unit-scale row; N(0, 0.02²) for longer k-mers, whose rows are
    /// seen rarely and would otherwise stay random (k 6, 2,000 sequences: val r 0.89 with
    /// 0.02, 0.36 with 1).
    pub fn new(cfg: &ModelConfig, seed: u64) -> Result<Model> {
        let model = Self::build(cfg, HashMap::new(), seed, &Device::Cpu)?;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for (name, var) in &model.params {
            let shape = var.shape().clone();
            let n = shape.elem_count();
            let values: Vec<f32> = match init_for(name, shape.dims(), cfg.k) {
                Init::Zeros => vec![0.0; n],
                Init::Ones => vec![1.0; n],
                Init::Normal(std) => {
                    let normal = Normal::new(0f32, std).expect("valid normal");
                    (0..n).map(|_| normal.sample(&mut rng)).collect()
                }
            };
            var.set(&Tensor::from_vec(values, shape, &Device::Cpu).map_err(cerr)?)
                .map_err(cerr)?;
        }
        Ok(model)
    }

    /// Builds the layer structs over `tensors` (missing names are created as zeros) on
    /// `device`.
    pub(crate) fn build(
        cfg: &ModelConfig,
        tensors: HashMap<String, Tensor>,
        seed: u64,
        device: &Device,
    ) -> Result<Model> {
        cfg.validate()?;
        let varmap = VarMap::new();
        {
            let mut data = varmap.data().lock().expect("fresh varmap");
            for (name, t) in tensors {
                let t = t.to_device(device).map_err(cerr)?;
                data.insert(name, Var::from_tensor(&t).map_err(cerr)?);
            }
        }
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let train_w = Weights::load(vb, cfg).map_err(cerr)?;
        let eval_w = train_w.detach();
        let mut params: Vec<(String, Var)> = varmap
            .data()
            .lock()
            .expect("varmap lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        params.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Model {
            cfg: cfg.clone(),
            tokenizer: cfg.tokenizer()?,
            varmap,
            params,
            train_w,
            eval_w,
            head_mask: (0..cfg.n_layers)
                .map(|l| {
                    let kept = cfg.kept_heads(l);
                    (0..cfg.n_heads)
                        .map(|h| if kept.contains(&h) { 1.0 } else { 0.0 })
                        .collect()
                })
                .collect(),
            seed,
            dropout_rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed)),
            device: device.clone(),
        })
    }

    /// The same model (parameters and head gates) with its parameters on `device`, e.g.
    /// a GPU (see `--device`).
    pub fn to_device(&self, device: &Device) -> Result<Model> {
        let tensors = self
            .params
            .iter()
            .map(|(n, v)| {
                // `build` moves tensors to `device`; one already there needs its own copy.
                let t = v.as_tensor();
                let t = match t.device().same_device(device) {
                    true => t.copy().map_err(cerr)?,
                    false => t.clone(),
                };
                Ok((n.clone(), t))
            })
            .collect::<Result<HashMap<_, _>>>()?;
        let mut m = Self::build(&self.cfg, tensors, self.seed, device)?;
        m.head_mask = self.head_mask.clone();
        Ok(m)
    }

    /// This model on `device`: itself where it already is there, else a copy (see
    /// [`Model::to_device`]), so the default `--device cpu` copies nothing.
    pub fn into_device(self, device: &Device) -> Result<Model> {
        match self.device.same_device(device) {
            true => Ok(self),
            false => self.to_device(device),
        }
    }

    /// Where the parameters live.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The architecture.
    pub fn config(&self) -> &ModelConfig {
        &self.cfg
    }

    /// The tokenizer matching this model's vocabulary.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// An independent copy (own parameters and head gates), e.g. to prune or fine-tune one
    /// version while keeping the original.
    pub fn try_clone(&self) -> Result<Model> {
        self.to_device(&self.device)
    }

    /// Seed the model was created with (also seeds dropout).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Number of trainable scalars.
    pub fn n_params(&self) -> usize {
        self.params.iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Parameters by checkpoint name, sorted by name.
    pub fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.params
            .iter()
            .map(|(n, v)| (n.clone(), v.as_detached_tensor()))
            .collect()
    }

    pub(crate) fn vars(&self) -> &[(String, Var)] {
        &self.params
    }

    /// Gate of one head (1 = normal, 0 = ablated); applied in training and inference.
    /// A pruned head (see [`Model::prune`]) is gone and its gate stays 0.
    pub fn set_head_mask(&mut self, layer: usize, head: usize, gate: f32) -> Result<()> {
        let pruned = self
            .cfg
            .pruned_heads
            .get(layer)
            .is_some_and(|p| p.contains(&head));
        let (n_layers, n_heads) = (self.cfg.n_layers, self.cfg.n_heads);
        let g = self
            .head_mask
            .get_mut(layer)
            .and_then(|row| row.get_mut(head))
            .ok_or(Error::NoSuchHead {
                layer,
                head,
                n_layers,
                n_heads,
            })?;
        if !pruned {
            *g = gate;
        }
        Ok(())
    }

    /// Current gates, `[layer][head]`.
    pub fn head_mask(&self) -> &[Vec<f32>] {
        &self.head_mask
    }

    /// Writes `config.json`, `model.safetensors` and `meta.json` into `dir` (created if needed).
    pub fn save(&self, dir: impl AsRef<Path>, meta: &Meta) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tensors: HashMap<String, Tensor> = self.named_parameters().into_iter().collect();
        let path = dir.join("model.safetensors");
        let tmp = dir.join(".model.safetensors.tmp");
        candle_core::safetensors::save(&tensors, &tmp)
            .map_err(|e| Error::tensor(tmp.display(), e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        write_json(dir, "config.json", pretty(&self.cfg))?;
        Self::save_meta(dir, meta)
    }

    /// Rewrites only `meta.json` of a model directory (what changes when the weights do
    /// not, e.g. the output calibration `train` fits at the end).
    pub fn save_meta(dir: impl AsRef<Path>, meta: &Meta) -> Result<()> {
        let meta = Meta {
            format_version: FORMAT_VERSION,
            ..meta.clone()
        };
        write_json(dir.as_ref(), "meta.json", pretty(&meta))
    }

    /// Reads a model directory written by [`Model::save`]; a different `format_version`,
    /// a config that does not validate, or missing/extra/misshapen tensors are errors.
    pub fn load(dir: impl AsRef<Path>) -> Result<(Model, Meta)> {
        let dir = dir.as_ref();
        let read = |name: &str| -> Result<String> {
            let p = dir.join(name);
            std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))
        };
        let meta_path = dir.join("meta.json");
        let meta_v: serde_json::Value =
            serde_json::from_str(&read("meta.json")?).map_err(|e| Error::json(&meta_path, e))?;
        let version = meta_v.get("format_version").and_then(|v| v.as_u64());
        if version != Some(FORMAT_VERSION as u64) {
            return Err(Error::version(&meta_path, "model", version, FORMAT_VERSION));
        }
        let meta: Meta = serde_json::from_value(meta_v).map_err(|e| Error::json(&meta_path, e))?;
        let cfg_path = dir.join("config.json");
        let cfg: ModelConfig =
            serde_json::from_str(&read("config.json")?).map_err(|e| Error::json(&cfg_path, e))?;
        cfg.validate()
            .map_err(|e| Error::Invalid(format!("{}: {e}", cfg_path.display())))?;
        let st_path = dir.join("model.safetensors");
        let tensors = candle_core::safetensors::load(&st_path, &Device::Cpu)
            .map_err(|e| Error::tensor(st_path.display(), e))?;
        let mut names: Vec<String> = tensors.keys().cloned().collect();
        names.sort();
        let model = Self::build(&cfg, tensors, meta.seed, &Device::Cpu).map_err(|e| match e {
            Error::Tensor { source, .. } => Error::Tensor {
                context: st_path.display().to_string(),
                source,
            },
            other => Error::Invalid(format!("{}: {other}", st_path.display())),
        })?;
        let expected: Vec<&str> = model.params.iter().map(|(n, _)| n.as_str()).collect();
        if expected != names {
            let missing: Vec<&str> = expected
                .iter()
                .filter(|n| !names.iter().any(|m| m == *n))
                .copied()
                .collect();
            let extra: Vec<&String> = names
                .iter()
                .filter(|n| !expected.contains(&n.as_str()))
                .collect();
            return Err(Error::incompatible(
                &st_path,
                format!(
                    "tensors do not match config.json (missing: {missing:?}, unexpected: {extra:?})"
                ),
            ));
        }
        Ok((model, meta))
    }

    /// Pads `ids` into a batch; errors on empty input, unknown ids or over-long sequences.
    pub(crate) fn batch(&self, ids: &[Vec<u32>]) -> Result<Batch> {
        if ids.is_empty() {
            return Err(Error::Invalid("model: empty batch".into()));
        }
        let b = ids.len();
        let tok_lens: Vec<usize> = ids.iter().map(|s| s.len()).collect();
        let t = *tok_lens.iter().max().expect("non-empty");
        if tok_lens.contains(&0) {
            return Err(Error::Invalid("model: a sequence has no tokens".into()));
        }
        if self.cfg.positional == Positional::Learned && t > self.cfg.max_tokens {
            return Err(Error::Invalid(format!(
                "model: a sequence of {t} tokens exceeds max_tokens {} of this model",
                self.cfg.max_tokens
            )));
        }
        let p = self.cfg.pool_width();
        let lens: Vec<usize> = tok_lens.iter().map(|&n| pooled_len(n, p)).collect();
        let l = *lens.iter().max().expect("non-empty");
        let mut flat = vec![PAD; b * t];
        let mut tok_valid = vec![0f32; b * t];
        let mut pool = vec![0f32; b * b * l];
        let mut valid = vec![0f32; b * l];
        for (i, s) in ids.iter().enumerate() {
            if let Some(&bad) = s.iter().find(|&&t| t as usize >= self.cfg.vocab_size) {
                return Err(Error::Invalid(format!(
                    "model: token id {bad} is outside the vocabulary ({})",
                    self.cfg.vocab_size
                )));
            }
            flat[i * t..i * t + s.len()].copy_from_slice(s);
            tok_valid[i * t..i * t + s.len()].fill(1.0);
            let n = lens[i];
            valid[i * l..i * l + n].fill(1.0);
            let row = &mut pool[i * b * l + i * l..i * b * l + i * l + n];
            match self.cfg.pooling {
                Pooling::Cls => row[0] = 1.0,
                Pooling::Mean => row.fill(1.0 / n as f32),
                // Max pooling reads `valid` instead.
                Pooling::Max => {}
            }
        }
        let dev = self.device.clone();
        let rows = match (self.cfg.conv_kernel, self.cfg.positional) {
            (k, Positional::None) if k > 0 => Some(conv_rows(ids, t, k, self.cfg.vocab_size)),
            _ => None,
        };
        let windows = (p > 1).then(|| pool_windows(&tok_lens, t, l, p));
        let (conv_rows, window, stem) = match (rows, windows) {
            (Some(rows), Some(window)) => {
                let plan = kernels::StemPlan {
                    ids: flat.clone(),
                    rows,
                    window,
                    kernel: self.cfg.conv_kernel,
                    vocab: self.cfg.vocab_size,
                    pool: p,
                };
                (None, None, Some(std::sync::Arc::new(plan)))
            }
            (rows, window) => (
                rows.map(|r| Tensor::from_vec(r, b * t * self.cfg.conv_kernel, &dev))
                    .transpose()
                    .map_err(cerr)?,
                window
                    .map(|w| Tensor::from_vec(w, b * l * p, &dev))
                    .transpose()
                    .map_err(cerr)?,
                None,
            ),
        };
        let offsets = match self.cfg.relative_bias as i64 {
            0 => None,
            r => {
                let li = l as i64;
                let idx: Vec<u32> = (0..li)
                    .flat_map(|q| (0..li).map(move |k| ((k - q).clamp(-r, r) + r) as u32))
                    .collect();
                Some(Tensor::from_vec(idx, l * l, &dev).map_err(cerr)?)
            }
        };
        Ok(Batch {
            offsets,
            ids: Tensor::from_vec(flat, b * t, &dev).map_err(cerr)?,
            t,
            tok_valid: Tensor::from_vec(tok_valid, (b * t, 1), &dev).map_err(cerr)?,
            window,
            conv_rows,
            stem,
            pool: Tensor::from_vec(pool, (b, b * l), &dev).map_err(cerr)?,
            valid: Tensor::from_vec(valid, (b * l, 1), &dev).map_err(cerr)?,
            geom: AttnGeom {
                b,
                h: self.cfg.n_heads,
                kv: self.cfg.n_kv_heads,
                l,
                dh: self.cfg.head_dim(),
                lens,
            },
        })
    }

    fn sinusoidal(&self, l: usize) -> candle_core::Result<Tensor> {
        let d = self.cfg.d_model;
        let mut pe = vec![0f32; l * d];
        for pos in 0..l {
            for i in 0..d / 2 {
                let angle = pos as f64 / 10000f64.powf(2.0 * i as f64 / d as f64);
                pe[pos * d + 2 * i] = angle.sin() as f32;
                pe[pos * d + 2 * i + 1] = angle.cos() as f32;
            }
        }
        Tensor::from_vec(pe, (l, d), &self.device)
    }

    fn dropout(&self, x: Tensor, train: bool) -> candle_core::Result<Tensor> {
        let p = self.cfg.dropout;
        if !train || p == 0.0 {
            return Ok(x);
        }
        let scale = 1.0 / (1.0 - p);
        let mut rng = self.dropout_rng.lock().expect("dropout rng lock");
        let mask: Vec<f32> = (0..x.elem_count())
            .map(|_| if rng.random::<f32>() < p { 0.0 } else { scale })
            .collect();
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?;
        x * mask
    }

    fn gate_tensor(&self, layer: usize) -> candle_core::Result<Option<Tensor>> {
        let g = &self.head_mask[layer];
        let kept;
        let g = if self.cfg.pruned_heads.is_empty() {
            g
        } else {
            kept = self
                .cfg
                .kept_heads(layer)
                .iter()
                .map(|&h| g[h])
                .collect::<Vec<f32>>();
            &kept
        };
        if g.iter().all(|&v| v == 1.0) {
            return Ok(None);
        }
        Tensor::from_vec(g.clone(), (1, g.len(), 1, 1), &self.device).map(Some)
    }

    /// The network on a prepared batch. `on_layer` sees each layer's probabilities and head
    /// outputs and may replace the latter; returns the `[B, n_outputs]` outputs. Without it
    /// (and without probes or gated heads) each layer's attention is one fused op.
    fn run(
        &self,
        w: &Weights,
        batch: &Batch,
        train: bool,
        probes: &[Var],
        mut on_layer: Option<&mut OnLayer>,
    ) -> Result<Tensor> {
        let g = &batch.geom;
        let d = self.cfg.d_model;
        let go = || -> candle_core::Result<Tensor> {
            if let (Some(c), Some(plan)) = (&w.conv, &batch.stem) {
                let x = c.forward_table_pooled(&w.tokens, plan.clone())?;
                return self.dropout(x, train);
            }
            let t = batch.t;
            let x = w.tokens.index_select(&batch.ids, 0)?;
            let pos = match (&w.positions, self.cfg.positional) {
                (Some(p), _) => Some(p.narrow(0, 0, t)?),
                (None, Positional::None) => None,
                (None, _) => Some(self.sinusoidal(t)?),
            };
            let x = match pos {
                Some(pos) => x
                    .reshape((g.b, t, d))?
                    .broadcast_add(&pos)?
                    .reshape((g.b * t, d))?,
                None => x,
            };
            let x = match (&w.conv, &batch.conv_rows) {
                (Some(c), Some(rows)) => c.forward_table(&w.tokens, &x, rows)?,
                (Some(c), None) => c.forward(&x, &batch.tok_valid, g.b, t)?,
                (None, _) => x,
            };
            let x = match &batch.window {
                Some(idx) => Tensor::cat(&[&x, &Tensor::full(-1e9f32, (1, d), x.device())?], 0)?
                    .index_select(idx, 0)?
                    .reshape((g.b * g.l, self.cfg.pool_width(), d))?
                    .max(1)?,
                None => x,
            };
            self.dropout(x, train)
        };
        let mut x = go().map_err(cerr)?;
        // Without dropout masks between a block and its residual, each block is one op.
        let whole_blocks = !train || self.cfg.dropout == 0.0;
        for (i, layer) in w.layers.iter().enumerate() {
            let probe = probes.get(i).map(|z| z.as_tensor());
            let gate = self.gate_tensor(i).map_err(cerr)?;
            let plain = on_layer.is_none() && probe.is_none() && gate.is_none();
            let offsets = batch.offsets.as_ref();
            let x1 = if plain && whole_blocks {
                layer.attn_residual(&x, g, offsets).map_err(cerr)?
            } else {
                let h = layer.ln1.forward(&x).map_err(cerr)?;
                let a = if plain {
                    layer.attn.fused(&h, g, offsets).map_err(cerr)?
                } else {
                    let (p, mut o) = layer
                        .attn
                        .heads_probed(&h, g, offsets, probe)
                        .map_err(cerr)?;
                    if let Some(gate) = gate {
                        o = o.broadcast_mul(&gate).map_err(cerr)?;
                    }
                    if let Some(f) = on_layer.as_mut() {
                        o = f(i, &p, o)?;
                    }
                    layer.attn.merge(&o, g).map_err(cerr)?
                };
                let a = self.dropout(a, train).map_err(cerr)?;
                (&x + a).map_err(cerr)?
            };
            let step = || -> candle_core::Result<Tensor> {
                if whole_blocks {
                    return layer.ffn_residual(&x1);
                }
                let f = self.dropout(layer.ffn.forward(&layer.ln2.forward(&x1)?)?, train)?;
                x1 + f
            };
            x = step().map_err(cerr)?;
        }
        let out = || -> candle_core::Result<Tensor> {
            let pooled = match self.cfg.pooling {
                // The norm comes after the maximum: maxima of normalised tokens all sit
                // well above zero, a shared offset the head would first have to unlearn.
                Pooling::Max => {
                    // Padding sits 1e9 below every real value, so it is never the maximum.
                    let shift = ((&batch.valid - 1.0)? * 1e9)?;
                    let max = x.broadcast_add(&shift)?.reshape((g.b, g.l, d))?.max(1)?;
                    w.final_ln.forward(&max)?
                }
                Pooling::Cls | Pooling::Mean => batch.pool.matmul(&w.final_ln.forward(&x)?)?,
            };
            w.head.forward(&pooled)
        };
        out().map_err(cerr)
    }

    /// Outputs (and optionally attention and head outputs) for token-id sequences, each as
    /// returned by [`Tokenizer::encode`]; sequences may differ in length (padding is masked).
    pub fn forward(&self, ids: &[Vec<u32>], opts: &ForwardOptions) -> Result<ModelOutput> {
        self.forward_reusing(ids, opts, Vec::new())
    }

    /// [`forward`](Self::forward), returning the attention in the buffers of `reuse` (an
    /// earlier batch's maps): a streaming analysis then allocates them once, not per batch.
    pub fn forward_reusing(
        &self,
        ids: &[Vec<u32>],
        opts: &ForwardOptions,
        reuse: Vec<AttentionMaps>,
    ) -> Result<ModelOutput> {
        let batch = self.batch(ids)?;
        let g = &batch.geom;
        let (nl, nh, dh) = (self.cfg.n_layers, self.cfg.n_heads, self.cfg.head_dim());
        for h in opts
            .capture
            .iter()
            .chain(opts.patches.iter().map(|p| &p.head))
        {
            if h.layer >= nl || h.head >= nh {
                return Err(Error::NoSuchHead {
                    layer: h.layer,
                    head: h.head,
                    n_layers: nl,
                    n_heads: nh,
                });
            }
        }
        let kept: Vec<Vec<usize>> = (0..nl).map(|l| self.cfg.kept_heads(l)).collect();
        let phys = |h: &HeadId| kept[h.layer].iter().position(|&k| k == h.head);
        for p in &opts.patches {
            if phys(&p.head).is_none() {
                return Err(Error::Invalid(format!(
                    "model: head {}.{} was pruned and cannot be patched",
                    p.head.layer, p.head.head
                )));
            }
            if p.values.len() != g.b
                || p.values
                    .iter()
                    .zip(&g.lens)
                    .any(|(v, &n)| v.len() != n * dh)
            {
                return Err(Error::Invalid(format!(
                    "model: patch for head {}.{} must hold len·{dh} values for each of the {} sequences",
                    p.head.layer, p.head.head, g.b
                )));
            }
        }
        let mut attention = opts
            .attention
            .then(|| AttentionMaps::reuse(reuse, &g.lens, nh, &kept));
        let mut heads: Vec<HeadOutput> = opts
            .capture
            .iter()
            .map(|&head| HeadOutput {
                head,
                values: vec![Vec::new(); g.b],
            })
            .collect();
        // Nothing to see or change per layer: the fused attention.
        let plain = attention.is_none() && heads.is_empty() && opts.patches.is_empty();
        let l = g.l;
        let mut on_layer = |layer: usize, p: &Tensor, o: Tensor| -> Result<Tensor> {
            if let Some(maps) = attention.as_mut() {
                AttentionMaps::fill_batch_layer(maps, layer, p, &kept[layer], l)?;
            }
            let wants = heads.iter().any(|c| c.head.layer == layer)
                || opts.patches.iter().any(|p| p.head.layer == layer);
            if !wants {
                return Ok(o);
            }
            let mut ov = o
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(cerr)?;
            let nhl = kept[layer].len();
            let block = |bi: usize, hp: usize| ((bi * nhl + hp) * l) * dh;
            for c in heads.iter_mut().filter(|c| c.head.layer == layer) {
                let hp = phys(&c.head);
                for (bi, v) in c.values.iter_mut().enumerate() {
                    // A pruned head's output is zero.
                    *v = match hp {
                        Some(hp) => ov[block(bi, hp)..block(bi, hp) + g.lens[bi] * dh].to_vec(),
                        None => vec![0.0; g.lens[bi] * dh],
                    };
                }
            }
            for p in opts.patches.iter().filter(|p| p.head.layer == layer) {
                let hp = phys(&p.head).expect("checked above");
                for (bi, v) in p.values.iter().enumerate() {
                    let s = block(bi, hp);
                    ov[s..s + v.len()].copy_from_slice(v);
                }
            }
            Tensor::from_vec(ov, o.shape(), o.device()).map_err(cerr)
        };
        let out = match plain {
            true => self.run(&self.eval_w, &batch, false, &[], None)?,
            false => self.run(&self.eval_w, &batch, false, &[], Some(&mut on_layer))?,
        };
        let output = out.to_vec2::<f32>().map_err(cerr)?;
        Ok(ModelOutput {
            output,
            attention,
            heads,
        })
    }

    /// Attention probabilities and their gradients `∂ output[o] / ∂ p` (head gates applied,
    /// no dropout), both unpadded per sequence; attention × gradient is the activity-aware
    /// score of the interaction tables. Each output depends only on its own sequence, so
    /// one backward pass over the batch sum gives every sequence's gradient.
    pub fn attention_gradients(
        &self,
        ids: &[Vec<u32>],
        output: usize,
    ) -> Result<(Vec<AttentionMaps>, Vec<AttentionMaps>)> {
        self.attention_gradients_reusing(ids, output, (Vec::new(), Vec::new()))
    }

    /// [`attention_gradients`](Self::attention_gradients) in the buffers of an earlier
    /// batch's maps and gradients.
    pub fn attention_gradients_reusing(
        &self,
        ids: &[Vec<u32>],
        output: usize,
        reuse: (Vec<AttentionMaps>, Vec<AttentionMaps>),
    ) -> Result<(Vec<AttentionMaps>, Vec<AttentionMaps>)> {
        if output >= self.cfg.n_outputs {
            return Err(Error::NoSuchOutput {
                output,
                n_outputs: self.cfg.n_outputs,
            });
        }
        let batch = self.batch(ids)?;
        let g = &batch.geom;
        let (nl, nh, l) = (self.cfg.n_layers, self.cfg.n_heads, g.l);
        // Pruned models hold fewer physical heads in some layers; maps keep the original
        // numbering, with zeros for pruned heads.
        let kept: Vec<Vec<usize>> = (0..nl).map(|i| self.cfg.kept_heads(i)).collect();
        let probes = kept
            .iter()
            .map(|k| Var::zeros((g.b, k.len(), l, l), DType::F32, &self.device))
            .collect::<candle_core::Result<Vec<_>>>()
            .map_err(cerr)?;
        let mut probs: Vec<Tensor> = Vec::with_capacity(nl);
        let out = self.run(
            &self.eval_w,
            &batch,
            false,
            &probes,
            Some(&mut |_, p, o| {
                probs.push(p.detach());
                Ok(o)
            }),
        )?;
        let grads = out
            .narrow(1, output, 1)
            .and_then(|t| t.sum_all())
            .and_then(|t| t.backward())
            .map_err(cerr)?;
        let unpad = |layers: &[Tensor], reuse: Vec<AttentionMaps>| -> Result<Vec<AttentionMaps>> {
            let mut maps = AttentionMaps::reuse(reuse, &g.lens, nh, &kept);
            for (layer, t) in layers.iter().enumerate() {
                AttentionMaps::fill_batch_layer(&mut maps, layer, t, &kept[layer], l)?;
            }
            Ok(maps)
        };
        let grad_layers = probes
            .iter()
            .map(|z| {
                grads.get(z.as_tensor()).cloned().ok_or_else(|| {
                    Error::Invalid("model: attention gradient was not computed".into())
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((unpad(&probs, reuse.0)?, unpad(&grad_layers, reuse.1)?))
    }

    /// Differentiable forward for training: `[B, n_outputs]` outputs and, when `keep_probs`,
    /// each layer's probabilities `[B,H,L,L]` (for attention regularisers). Dropout masks
    /// depend only on the model seed and `step`, so a resumed run repeats them exactly.
    pub(crate) fn forward_train(
        &self,
        batch: &Batch,
        step: u64,
        keep_probs: bool,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        *self.dropout_rng.lock().expect("dropout rng lock") = ChaCha8Rng::seed_from_u64(
            self.seed ^ step.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let dropout = true;
        let mut probs = Vec::new();
        let mut keep = |_: usize, p: &Tensor, o: Tensor| -> Result<Tensor> {
            probs.push(p.clone());
            Ok(o)
        };
        let on_layer: Option<&mut OnLayer> = match keep_probs {
            true => Some(&mut keep),
            false => None,
        };
        let out = self.run(&self.train_w, batch, dropout, &[], on_layer)?;
        Ok((out, probs))
    }

    /// The parameters as a name → tensor map (what `model.safetensors` holds).
    pub fn state_dict(&self) -> BTreeMap<String, Tensor> {
        self.named_parameters().into_iter().collect()
    }

    #[allow(dead_code)]
    pub(crate) fn varmap(&self) -> &VarMap {
        &self.varmap
    }
}

/// How [`Model::new`] fills one parameter.
#[derive(Debug, PartialEq)]
enum Init {
    Zeros,
    Ones,
    Normal(f32),
}

/// For each token of each sequence (padded to `t`) and each of the `kernel` offsets, the
/// row of the stem's `[kernel·vocab + 1, d]` table it adds: `j·vocab + id` of the token at
/// offset `j − kernel/2`, or the zero row `kernel·vocab` past either end of the sequence.
fn conv_rows(ids: &[Vec<u32>], t: usize, kernel: usize, vocab: usize) -> Vec<u32> {
    let zero = (kernel * vocab) as u32;
    let half = kernel / 2;
    let mut rows = vec![zero; ids.len() * t * kernel];
    for (i, s) in ids.iter().enumerate() {
        for pos in 0..s.len() {
            let out = &mut rows[(i * t + pos) * kernel..(i * t + pos + 1) * kernel];
            for (j, r) in out.iter_mut().enumerate() {
                if let Some(&id) = (pos + j).checked_sub(half).and_then(|src| s.get(src)) {
                    *r = (j * vocab) as u32 + id;
                }
            }
        }
    }
    rows
}

/// Attention positions of a sequence of `n` tokens (`[CLS]` content… `[SEP]`) pooled by `p`:
/// both specials and one position per whole window of content tokens.
pub(crate) fn pooled_len(n: usize, p: usize) -> usize {
    match p {
        0 | 1 => n,
        _ => 2 + n.saturating_sub(2) / p,
    }
}

/// For each attention position of each sequence (padded to `l`), the `p` rows whose maximum
/// it takes, out of the batch's `b·t` token rows followed by one row far below any value
/// (index `b·t`). A special token takes its own row once and that low row otherwise, so it
/// passes through unchanged and gets its gradient once; padding positions read the
/// sequence's `[CLS]` the same way and are masked downstream.
fn pool_windows(tok_lens: &[usize], t: usize, l: usize, p: usize) -> Vec<u32> {
    let low = (tok_lens.len() * t) as u32;
    let mut idx = Vec::with_capacity(tok_lens.len() * l * p);
    for (i, &n) in tok_lens.iter().enumerate() {
        let base = i * t;
        let m = pooled_len(n, p);
        for j in 0..l {
            let alone = |row: usize| std::iter::once(row as u32).chain([low].repeat(p - 1));
            if j == 0 || j >= m {
                idx.extend(alone(base));
            } else if j == m - 1 {
                idx.extend(alone(base + n - 1));
            } else {
                idx.extend((0..p).map(|q| (base + 1 + (j - 1) * p + q) as u32));
            }
        }
    }
    idx
}

fn init_for(name: &str, dims: &[usize], k: usize) -> Init {
    let leaf = name.rsplit('.').nth(1).unwrap_or("");
    if name.ends_with(".bias") {
        Init::Zeros
    } else if leaf.contains("ln") {
        Init::Ones
    } else if name == "embeddings.tokens.weight" {
        Init::Normal(if k <= 4 { 1.0 } else { 0.02 })
    } else if name == "embeddings.positions.weight" {
        Init::Normal(0.02)
    } else {
        let fan_in: usize = dims.iter().skip(1).product();
        Init::Normal(1.0 / (fan_in.max(1) as f32).sqrt())
    }
}

fn pretty<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string_pretty(v).expect("config types serialise")
}

/// Writes `dir/name` through a temporary file, so a reader never sees it half written.
fn write_json(dir: &Path, name: &str, text: String) -> Result<()> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, text + "\n").map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
}
