//! Model architecture and checkpoint metadata (`config.json`, `meta.json`).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::tokenizer::{Tokenizer, TokenizerConfig};
use crate::{Error, Result};

/// Version of the model directory layout; loading any other version is an error.
pub const FORMAT_VERSION: u32 = 1;

/// How a sequence's token states become one vector for the output head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// The final state of `[CLS]`.
    Cls,
    /// Mean over all non-padding tokens (including `[CLS]` and `[SEP]`).
    Mean,
    /// Per-feature maximum over all non-padding tokens, then the final norm: one token
    /// that sees a motif or a motif pair can set the summary alone instead of being
    /// diluted by the length.
    Max,
}

/// Position encoding added to the token embeddings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Positional {
    /// A trained table of `max_tokens` rows.
    Learned,
    /// Fixed sin/cos (Vaswani et al.), any length.
    Sinusoidal,
    /// No absolute position at all: the token embeddings (and a convolution stem over
    /// them) read the same motif identically wherever it sits, as activity that depends only
    /// on which sites are present and their spacing does; order then enters through the
    /// stem's zero padding and a relative-position bias, which should be set with it.
    None,
}

/// What the outputs mean, which fixes the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Real-valued outputs, mean squared error.
    Regression,
    /// Logits of independent binary labels, BCE with logits.
    Binary,
}

/// Architecture of a pre-LN Transformer encoder over k-mer tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// K-mer length of the tokenizer.
    pub k: usize,
    /// Tokenizer stride in bases.
    pub stride: usize,
    /// Embedding rows; must equal the tokenizer's vocabulary (5 + 4ᵏ).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub d_model: usize,
    /// Query heads per layer.
    pub n_heads: usize,
    /// Key/value heads per layer: `n_heads` (MHA), 1 (MQA) or a divisor in between (GQA).
    pub n_kv_heads: usize,
    /// Encoder layers.
    pub n_layers: usize,
    /// Hidden width of the feed-forward block.
    pub ffn_dim: usize,
    /// Dropout on embeddings and residual branches during training.
    pub dropout: f32,
    /// Longest input in tokens (positional table size when learned; sinusoidal has no limit).
    pub max_tokens: usize,
    /// Sequence summary for the head.
    pub pooling: Pooling,
    /// Position encoding.
    pub positional: Positional,
    /// Regression or binary classification.
    pub task: Task,
    /// Number of outputs (activity columns or labels).
    pub n_outputs: usize,
    /// Layer-norm epsilon.
    pub layer_norm_eps: f32,
    /// Width in tokens of a convolution over neighbouring token embeddings, added to them
    /// before the first layer (0: none). It lets attention compare motif-sized words rather
    /// than single k-mers; every token keeps its own position, so token↔bp maps are
    /// unchanged. Absent in config files written before it existed, which means 0.
    #[serde(default)]
    pub conv_kernel: usize,
    /// Relative-position attention bias: each head learns one score offset per key−query
    /// distance in −R..=R tokens (farther pairs share the ±R value), so a head can prefer a
    /// spacing between two words wherever they sit. 0: none, and then not written, so
    /// configs without it are unchanged.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub relative_bias: usize,
    /// Max-pooling window in tokens between the convolution stem and the first layer (0 or
    /// 1: none). Attention then runs over one position per `pool` tokens (`[CLS]` and
    /// `[SEP]` keep their own; a remainder shorter than the window is dropped): the stem
    /// finds motifs at base resolution, attention compares them at `pool`-token resolution
    /// for a `pool`² smaller score matrix, as Basenji-style models pool before attending.
    /// 0 when absent, and then not written, so configs without it are unchanged.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pool: usize,
    /// Heads removed by `cisformer prune`, per layer (original indices, sorted); empty when
    /// nothing was pruned, and then not written, so unpruned `config.json` files are unchanged.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pruned_heads: Vec<Vec<usize>>,
}

impl Default for ModelConfig {
    fn default() -> Self {
        let tok = TokenizerConfig::default();
        Self {
            k: tok.k,
            stride: tok.stride,
            vocab_size: 5 + (1 << (2 * tok.k)),
            d_model: 128,
            n_heads: 8,
            n_kv_heads: 8,
            n_layers: 4,
            ffn_dim: 512,
            dropout: 0.1,
            max_tokens: 1024,
            pooling: Pooling::Mean,
            positional: Positional::Learned,
            task: Task::Regression,
            n_outputs: 1,
            layer_norm_eps: 1e-5,
            conv_kernel: 9,
            relative_bias: 0,
            pool: 0,
            pruned_heads: Vec::new(),
        }
    }
}

/// Largest `pool` window.
pub const MAX_POOL: usize = 64;

/// Largest `relative_bias`: a table of 2R+1 values per head, far beyond any input here.
pub const MAX_RELATIVE_BIAS: usize = 1 << 16;

pub(crate) fn is_zero(v: &usize) -> bool {
    *v == 0
}

impl ModelConfig {
    /// Width of one head.
    pub fn head_dim(&self) -> usize {
        self.d_model / self.n_heads
    }

    /// Original indices of the heads a layer still has (all `n_heads` unless pruned).
    pub fn kept_heads(&self, layer: usize) -> Vec<usize> {
        let gone = self.pruned_heads.get(layer).map_or(&[][..], Vec::as_slice);
        (0..self.n_heads).filter(|h| !gone.contains(h)).collect()
    }

    /// Query heads physically present in a layer.
    pub fn layer_heads(&self, layer: usize) -> usize {
        let gone = self.pruned_heads.get(layer).map_or(0, Vec::len);
        self.n_heads - gone.min(self.n_heads)
    }

    /// The key/value head a query head (original index) reads.
    pub fn kv_of(&self, head: usize) -> usize {
        head / (self.n_heads / self.n_kv_heads.max(1)).max(1)
    }

    /// Key/value heads physically present in a layer: MQA keeps its one; MHA and GQA keep
    /// the groups that still have a query head (pruning removes whole GQA groups).
    pub fn layer_kv_heads(&self, layer: usize) -> usize {
        let mut kv: Vec<usize> = self
            .kept_heads(layer)
            .iter()
            .map(|&h| self.kv_of(h))
            .collect();
        kv.dedup();
        kv.len()
    }

    /// Tokens per attention position (1 without pooling).
    pub fn pool_width(&self) -> usize {
        self.pool.max(1)
    }

    /// Bases covered by one attention position and bases between consecutive ones, as
    /// `(k, stride)` of an equivalent tokenizer: position `i` covers the tokens
    /// `[i·p, i·p + p)`, i.e. bp `[i·p·stride, (i·p + p − 1)·stride + k)`.
    pub fn position_span(&self) -> (usize, usize) {
        let p = self.pool_width();
        ((p - 1) * self.stride + self.k, p * self.stride)
    }

    /// The tokenizer this model reads.
    pub fn tokenizer(&self) -> Result<Tokenizer> {
        Tokenizer::new(self.k, self.stride)
    }

    /// Checks that the numbers fit together; every constructor calls this.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(format!("model config: {m}")));
        let tok = self.tokenizer()?;
        if self.vocab_size != tok.vocab_size() {
            return bad(format!(
                "vocab_size {} does not match k={} (expected {})",
                self.vocab_size,
                self.k,
                tok.vocab_size()
            ));
        }
        if self.d_model == 0 || self.n_heads == 0 || self.n_layers == 0 || self.ffn_dim == 0 {
            return bad("d_model, n_heads, n_layers and ffn_dim must be positive".into());
        }
        if !self.d_model.is_multiple_of(self.n_heads) {
            return bad(format!(
                "d_model {} is not divisible by n_heads {}",
                self.d_model, self.n_heads
            ));
        }
        if self.n_kv_heads == 0 || !self.n_heads.is_multiple_of(self.n_kv_heads) {
            return bad(format!(
                "n_kv_heads {} must divide n_heads {}",
                self.n_kv_heads, self.n_heads
            ));
        }
        if !self.pruned_heads.is_empty() {
            self.validate_pruned()?;
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} is not in [0, 1)", self.dropout));
        }
        if self.max_tokens < 2 {
            return bad("max_tokens must be at least 2".into());
        }
        if self.n_outputs == 0 {
            return bad("n_outputs must be positive".into());
        }
        if self.conv_kernel > 0 && self.conv_kernel.is_multiple_of(2) {
            return bad(format!(
                "conv_kernel {} must be odd (centred on each token) or 0",
                self.conv_kernel
            ));
        }
        if self.relative_bias > MAX_RELATIVE_BIAS {
            return bad(format!(
                "relative_bias {} is larger than {MAX_RELATIVE_BIAS} tokens",
                self.relative_bias
            ));
        }
        if self.pool > MAX_POOL {
            return bad(format!(
                "pool {} is larger than {MAX_POOL} tokens",
                self.pool
            ));
        }
        if self.layer_norm_eps.is_nan() || self.layer_norm_eps <= 0.0 {
            return bad("layer_norm_eps must be positive".into());
        }
        Ok(())
    }
}

impl ModelConfig {
    fn validate_pruned(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(format!("model config: pruned_heads: {m}")));
        if self.pruned_heads.len() != self.n_layers {
            return bad(format!(
                "{} lists for {} layers",
                self.pruned_heads.len(),
                self.n_layers
            ));
        }
        let group = self.n_heads / self.n_kv_heads;
        for (layer, gone) in self.pruned_heads.iter().enumerate() {
            if gone.windows(2).any(|w| w[0] >= w[1]) {
                return bad(format!("layer {layer}: indices must be sorted and unique"));
            }
            if let Some(h) = gone.iter().find(|&&h| h >= self.n_heads) {
                return bad(format!("layer {layer}: head {h} does not exist"));
            }
            if gone.len() == self.n_heads {
                return bad(format!("layer {layer} would have no head left"));
            }
            if self.n_kv_heads > 1 && group > 1 {
                for g in 0..self.n_kv_heads {
                    let n = gone.iter().filter(|&&h| h / group == g).count();
                    if n != 0 && n != group {
                        return bad(format!(
                            "layer {layer}: GQA group {g} is only partly removed (remove whole groups of {group} heads)"
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Mean and standard deviation used to standardise one output column during training.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mean: f64,
    pub std: f64,
}

/// Everything about a trained model that is not architecture: `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Meta {
    /// Directory layout version ([`FORMAT_VERSION`]).
    pub format_version: u32,
    /// cisformer version that wrote the directory.
    pub crate_version: String,
    /// Training seed.
    pub seed: u64,
    /// Names of the output columns.
    pub label_names: Vec<String>,
    /// Per-output standardisation (empty when targets were used as is).
    pub normalization: Vec<Normalization>,
    /// Digest of the training data.
    pub data_digest: String,
    /// Named evaluation metrics.
    pub metrics: BTreeMap<String, f64>,
    /// Free-form extra fields for later stages.
    pub extra: serde_json::Value,
}

impl Default for Meta {
    fn default() -> Self {
        Self {
            format_version: FORMAT_VERSION,
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            seed: 0,
            label_names: Vec::new(),
            normalization: Vec::new(),
            data_digest: String::new(),
            metrics: BTreeMap::new(),
            extra: serde_json::Value::Null,
        }
    }
}

/// A model small enough for unit tests in debug builds: k-mers of `k`, width 16, two layers
/// of four heads.
#[cfg(test)]
impl ModelConfig {
    pub(crate) fn tiny(k: usize) -> ModelConfig {
        ModelConfig {
            k,
            vocab_size: 5 + (1 << (2 * k)),
            d_model: 16,
            n_heads: 4,
            n_kv_heads: 4,
            n_layers: 2,
            ffn_dim: 32,
            max_tokens: 64,
            ..ModelConfig::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_round_trips() {
        let c = ModelConfig::default();
        c.validate().unwrap();
        let s = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<ModelConfig>(&s).unwrap(), c);
        let partial: ModelConfig =
            serde_json::from_str(r#"{"pooling":"cls","n_kv_heads":1}"#).unwrap();
        assert_eq!(partial.pooling, Pooling::Cls);
        partial.validate().unwrap();
        let bad = ModelConfig {
            n_kv_heads: 3,
            ..ModelConfig::default()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("n_kv_heads")
        );
        assert!(serde_json::from_str::<ModelConfig>(r#"{"nope":1}"#).is_err());
        // Absent in old files: no stem; an even width has no centre and is refused.
        assert_eq!(
            serde_json::from_str::<ModelConfig>("{}")
                .unwrap()
                .conv_kernel,
            0
        );
        let even = ModelConfig {
            conv_kernel: 4,
            ..ModelConfig::default()
        };
        assert!(
            even.validate()
                .unwrap_err()
                .to_string()
                .contains("conv_kernel 4")
        );
    }
}
