//! Prediction with trained models: raw outputs in batches (averaged by default over both
//! strands and the offsets to the pooling grid), ensembles on the label scale, and the input-length check of models with
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

/// Which passes one prediction averages. A model that reads both strands alike (trained with
/// reverse-complement augmentation) gives two estimates of the same activity, one per strand;
/// a translation-invariant model that max-pools `w` bp into one attention position sees a
/// site slightly differently at each of the `w` offsets to the pooling grid. Their mean has
/// less variance than any one pass: on the default preset's seed-7 model the held-out r rises
/// from 0.916 (one pass) to 0.930 (strands) and 0.935 (strands × 4 offsets), see
/// `docs/guide/train.md#averaging`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Averaging {
    /// Every average the model allows: both strands (when trained with RC augmentation)
    /// times each offset to its pooling grid (when it has no absolute positions).
    #[default]
    All,
    /// Both strands only (when trained with RC augmentation).
    Strands,
    /// One forward pass.
    None,
}

/// The passes [`Averaging`] comes to for one model: whether to add the reverse complement,
/// and how many offsets (1: none) to the pooling grid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passes {
    /// Also predict the reverse complement.
    pub strands: bool,
    /// Predict with 0..offsets bases of N in front (each padded behind to whole windows).
    pub offsets: usize,
}

impl Passes {
    /// One forward pass.
    pub const ONE: Self = Self {
        strands: false,
        offsets: 1,
    };

    /// The passes of `averaging` for `model`, whose `meta` says how it was trained (a
    /// model without that record is taken to be RC-augmented, `train`'s default).
    pub fn of(averaging: Averaging, model: &Model, meta: &Meta) -> Self {
        let rc_trained = meta.extra["train"]["rc_augment"].as_bool().unwrap_or(true);
        match averaging {
            Averaging::None => Self::ONE,
            Averaging::Strands => Self {
                strands: rc_trained,
                offsets: 1,
            },
            Averaging::All => Self {
                strands: rc_trained,
                offsets: pooling_offsets(model.config()).max(1),
            },
        }
    }

    /// Forward passes per sequence.
    pub fn count(self) -> usize {
        self.offsets * if self.strands { 2 } else { 1 }
    }
}

/// Most offsets averaged (a pooling window of more bases is sampled no finer).
const MAX_OFFSETS: usize = 8;

/// The offsets to its pooling grid a model reads a site at: the bases in one attention
/// position (stride × pool, at most [`MAX_OFFSETS`]) when the model has no absolute
/// positions, else 0 (a shifted site is another input). Prediction averages over them and
/// training draws from them (`TrainerConfig::shift_augment`).
pub fn pooling_offsets(cfg: &crate::model::ModelConfig) -> usize {
    let window = cfg.stride.max(1) * cfg.pool.max(1);
    if cfg.positional == crate::model::Positional::None && window > 1 {
        window.min(MAX_OFFSETS)
    } else {
        0
    }
}

/// [`predict_raw`] averaged over `passes`, one chunk of `batch` sequences at a time (the
/// shifted copies of a chunk only), summing in a fixed order so threads do not change it.
pub fn predict_averaged(
    model: &Model,
    seqs: &[&[u8]],
    batch: usize,
    passes: Passes,
) -> Result<Vec<Vec<f32>>> {
    if passes == Passes::ONE {
        return predict_raw(model, seqs, batch);
    }
    let offsets = passes.offsets.max(1);
    let mut out = Vec::with_capacity(seqs.len());
    let strands: &[bool] = if passes.strands {
        &[false, true]
    } else {
        &[false]
    };
    let mut variant: Vec<Vec<u8>> = Vec::new();
    for chunk in seqs.chunks(batch.max(1)) {
        let mut sum: Vec<Vec<f32>> = Vec::new();
        for &rc in strands {
            for offset in 0..offsets {
                variant.clear();
                variant.extend(chunk.iter().map(|s| shifted(s, rc, offset, offsets)));
                let views: Vec<&[u8]> = variant.iter().map(Vec::as_slice).collect();
                let pred = predict_raw(model, &views, batch)?;
                if sum.is_empty() {
                    sum = pred;
                } else {
                    for (a, b) in sum.iter_mut().zip(pred) {
                        a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                    }
                }
            }
        }
        let n = passes.count() as f32;
        out.extend(
            sum.into_iter()
                .map(|r| r.into_iter().map(|x| x / n).collect::<Vec<_>>()),
        );
    }
    Ok(out)
}

/// `seq` (reverse-complemented when `rc`) behind `offset` Ns and padded behind with Ns to a
/// whole number of `window`s, so the pooling drops none of its bases; offset 0 of a
/// sequence already a whole number of windows long is the sequence itself.
pub(crate) fn shifted(seq: &[u8], rc: bool, offset: usize, window: usize) -> Vec<u8> {
    let tail = (window - (offset + seq.len()) % window) % window;
    let mut v = Vec::with_capacity(offset + seq.len() + tail);
    v.resize(offset, b'N');
    if rc {
        v.extend(crate::tokenizer::Tokenizer::reverse_complement(seq));
    } else {
        v.extend_from_slice(seq);
    }
    v.resize(offset + seq.len() + tail, b'N');
    v
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
pub fn load_models(
    dirs: &[std::path::PathBuf],
    device: &candle_core::Device,
) -> Result<Vec<(Model, Meta)>> {
    dirs.iter()
        .map(|d| {
            let (m, meta) = crate::model_dir::load(d)?;
            Ok((m.into_device(device)?, meta))
        })
        .collect()
}

/// Predictions on the label scale of one model, or the mean of several (an ensemble, e.g.
/// of seeds: their errors partly cancel). All must predict the same outputs with the same
/// task; each tokenizes the sequences itself, so their k may differ.
pub fn predict_ensemble(
    models: &[(Model, Meta)],
    seqs: &[&[u8]],
    batch: usize,
    averaging: Averaging,
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
        let passes = Passes::of(averaging, m, meta);
        let pred = to_label_scale(m, meta, predict_averaged(m, seqs, batch, passes)?);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ModelConfig, Positional};

    /// The presets' reading: single bases, a stem, 4-bp pooling, no absolute positions.
    fn pooled() -> ModelConfig {
        ModelConfig {
            k: 1,
            vocab_size: 5 + 4,
            conv_kernel: 5,
            pool: 4,
            relative_bias: 8,
            positional: Positional::None,
            ..ModelConfig::default()
        }
    }

    fn model(cfg: ModelConfig) -> Model {
        Model::new(
            &ModelConfig {
                d_model: 16,
                n_heads: 2,
                n_kv_heads: 2,
                ffn_dim: 32,
                n_outputs: 1,
                ..cfg
            },
            5,
        )
        .unwrap()
    }

    fn seqs() -> Vec<Vec<u8>> {
        (0..5)
            .map(|i| (0..37 + i).map(|j| b"ACGT"[(i * 7 + j * j) % 4]).collect())
            .collect()
    }

    #[test]
    fn shifted_pads_to_whole_windows_and_keeps_offset_zero() {
        assert_eq!(shifted(b"ACGTAC", false, 0, 3), b"ACGTAC");
        assert_eq!(shifted(b"ACGTAC", false, 1, 3), b"NACGTACNN");
        assert_eq!(shifted(b"ACGTAC", true, 2, 4), b"NNGTACGT");
        assert_eq!(shifted(b"ACGTA", false, 0, 4), b"ACGTANNN");
    }

    #[test]
    fn passes_follow_the_model() {
        let m = model(pooled());
        let meta = Meta::default();
        let all = Passes::of(Averaging::All, &m, &meta);
        assert_eq!((all.strands, all.offsets, all.count()), (true, 4, 8));
        let strands = Passes::of(Averaging::Strands, &m, &meta);
        assert_eq!((strands.strands, strands.offsets), (true, 1));
        assert_eq!(Passes::of(Averaging::None, &m, &meta), Passes::ONE);
        // Trained on one strand only: no strand average.
        let one_strand = Meta {
            extra: serde_json::json!({"train": {"rc_augment": false}}),
            ..Meta::default()
        };
        let p = Passes::of(Averaging::All, &m, &one_strand);
        assert_eq!((p.strands, p.offsets), (false, 4));
        // Learned positions: a shifted site is another input, so no offsets.
        let learned = model(ModelConfig {
            positional: Positional::Learned,
            ..pooled()
        });
        assert_eq!(Passes::of(Averaging::All, &learned, &meta).offsets, 1);
    }

    #[test]
    fn averaged_prediction_is_the_mean_of_its_passes() {
        let m = model(pooled());
        let data = seqs();
        let views: Vec<&[u8]> = data.iter().map(Vec::as_slice).collect();
        let passes = Passes::of(Averaging::All, &m, &Meta::default());
        let got = predict_averaged(&m, &views, 2, passes).unwrap();
        let mut want = vec![0f32; data.len()];
        for rc in [false, true] {
            for offset in 0..4 {
                let v: Vec<Vec<u8>> = data.iter().map(|s| shifted(s, rc, offset, 4)).collect();
                let v: Vec<&[u8]> = v.iter().map(Vec::as_slice).collect();
                for (w, p) in want.iter_mut().zip(predict_raw(&m, &v, 3).unwrap()) {
                    *w += p[0] / 8.0;
                }
            }
        }
        for (g, w) in got.iter().zip(&want) {
            assert!((g[0] - w).abs() < 1e-5, "{} vs {w}", g[0]);
        }
        // The passes differ, so the average is not any one of them.
        let one = predict_averaged(&m, &views, 2, Passes::ONE).unwrap();
        assert_eq!(one, predict_raw(&m, &views, 2).unwrap());
        assert!(
            one.iter()
                .zip(&got)
                .any(|(a, b)| (a[0] - b[0]).abs() > 1e-4)
        );
    }
}
