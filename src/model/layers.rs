//! One struct per layer; `VarBuilder` prefixes mirror the checkpoint's tensor names
//! (`layers.{i}.attn.q.weight`, ...), as in candle's `bert.rs`.
use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use super::ModelConfig;
use super::kernels::{self, AttnGeom};

type CResult<T> = candle_core::Result<T>;

/// `y = x Wᵀ + b` on `[N, in]` rows (one GEMM for the whole batch).
#[derive(Clone, Debug)]
pub(crate) struct Linear {
    pub w: Tensor,
    pub b: Option<Tensor>,
}

impl Linear {
    fn load(vb: VarBuilder, d_in: usize, d_out: usize) -> CResult<Self> {
        Ok(Self {
            w: vb.get((d_out, d_in), "weight")?,
            b: Some(vb.get(d_out, "bias")?),
        })
    }
    /// Without bias: used for keys, whose bias only shifts every score of a query by the same
    /// amount, so softmax ignores it and its gradient is exactly zero.
    fn load_no_bias(vb: VarBuilder, d_in: usize, d_out: usize) -> CResult<Self> {
        Ok(Self {
            w: vb.get((d_out, d_in), "weight")?,
            b: None,
        })
    }
    fn detach(&self) -> Self {
        Self {
            w: self.w.detach(),
            b: self.b.as_ref().map(|b| b.detach()),
        }
    }

    /// The bias, or zeros for a layer without one.
    fn bias_or_zeros(&self) -> CResult<Tensor> {
        match &self.b {
            Some(b) => Ok(b.clone()),
            None => Tensor::zeros(self.w.dim(0)?, self.w.dtype(), self.w.device()),
        }
    }

    /// The bias of a layer that must have one (packed into a fused block's parameters).
    fn required_bias(&self) -> CResult<Tensor> {
        match &self.b {
            Some(b) => Ok(b.clone()),
            None => candle_core::bail!("a fused block's layer has no bias"),
        }
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        // Through the fused kernel even without bias, so all heavy work runs on the rayon pool
        // (and follows `-j`) rather than candle's own thread count.
        kernels::linear(x, &self.w, &self.bias_or_zeros()?)
    }
}

/// Layer norm with weight and bias (fused kernel, see [`kernels::layer_norm`]).
#[derive(Clone, Debug)]
pub(crate) struct LayerNorm {
    w: Tensor,
    b: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(vb: VarBuilder, d: usize, eps: f32) -> CResult<Self> {
        Ok(Self {
            w: vb.get(d, "weight")?,
            b: vb.get(d, "bias")?,
            eps,
        })
    }
    fn detach(&self) -> Self {
        Self {
            w: self.w.detach(),
            b: self.b.detach(),
            eps: self.eps,
        }
    }
}

impl Module for LayerNorm {
    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        kernels::layer_norm(x, &self.w, &self.b, self.eps)
    }
}

/// Multi-head self-attention with separate K/V head count (MHA / GQA / MQA).
#[derive(Clone, Debug)]
pub(crate) struct Attention {
    pub q: Linear,
    pub k: Linear,
    pub v: Linear,
    pub o: Linear,
    pub n_heads: usize,
    pub n_kv: usize,
    pub dh: usize,
    /// Learned score bias per head and key−query offset `[heads, 2R+1]`, offsets clipped to
    /// ±R tokens: it lets a head prefer a spacing whatever the absolute position.
    pub rel: Option<Tensor>,
}

impl Attention {
    /// Layer `layer`'s attention; a pruned layer has fewer heads of the same width.
    fn load(vb: VarBuilder, cfg: &ModelConfig, layer: usize) -> CResult<Self> {
        let dh = cfg.head_dim();
        let d = cfg.d_model;
        let (nh, nkv) = (cfg.layer_heads(layer), cfg.layer_kv_heads(layer));
        Ok(Self {
            q: Linear::load(vb.pp("q"), d, nh * dh)?,
            k: Linear::load_no_bias(vb.pp("k"), d, nkv * dh)?,
            v: Linear::load(vb.pp("v"), d, nkv * dh)?,
            o: Linear::load(vb.pp("o"), nh * dh, d)?,
            n_heads: nh,
            n_kv: nkv,
            dh,
            rel: match cfg.relative_bias {
                0 => None,
                r => Some(vb.pp("rel").get((nh, 2 * r + 1), "bias")?),
            },
        })
    }

    /// The batch geometry with this layer's head counts (differs only in pruned layers).
    fn geom<'a>(&self, g: &'a AttnGeom) -> std::borrow::Cow<'a, AttnGeom> {
        if g.h == self.n_heads && g.kv == self.n_kv {
            std::borrow::Cow::Borrowed(g)
        } else {
            std::borrow::Cow::Owned(AttnGeom {
                h: self.n_heads,
                kv: self.n_kv,
                ..g.clone()
            })
        }
    }
    fn detach(&self) -> Self {
        Self {
            q: self.q.detach(),
            k: self.k.detach(),
            v: self.v.detach(),
            o: self.o.detach(),
            rel: self.rel.as_ref().map(|r| r.detach()),
            ..*self
        }
    }

    /// `[N, d]` rows of `B` sequences of `L` tokens → head-major `[B, heads, L, dh]`.
    fn split(&self, x: &Tensor, heads: usize, g: &AttnGeom) -> CResult<Tensor> {
        x.reshape((g.b, g.l, heads, self.dh))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Attention probabilities `[B,H,L,L]` and per-head outputs `[B,H,L,dh]` (before W_O).
    /// `offsets` (`[L·L]`, the batch's bias-table column of every query/key pair) is given
    /// when the model has a relative-position bias. Optionally with `probe` (zeros, a
    /// variable) added to the probabilities before they weight the values, so that backprop
    /// leaves ∂output/∂p in the probe's gradient.
    pub fn heads_probed(
        &self,
        h: &Tensor,
        g: &AttnGeom,
        offsets: Option<&Tensor>,
        probe: Option<&Tensor>,
    ) -> CResult<(Tensor, Tensor)> {
        let g = &*self.geom(g);
        let q = self.split(&self.q.forward(h)?, self.n_heads, g)?;
        let k = self.split(&self.k.forward(h)?, self.n_kv, g)?;
        let v = self.split(&self.v.forward(h)?, self.n_kv, g)?;
        let bias = self.bias(g, offsets)?;
        let p = kernels::attention_probs(&q, &k, bias.as_ref(), g)?;
        let o = match probe {
            Some(z) => kernels::attention_apply(&(&p + z)?, &v, g)?,
            None => kernels::attention_apply(&p, &v, g)?,
        };
        Ok((p, o))
    }

    /// The layer's attention output `[N, d]` in one fused pass (see
    /// [`kernels::attention_fused`]): one Q/K/V projection, no probabilities as a tensor,
    /// no head split or merge. Same values as [`heads_probed`](Self::heads_probed) then
    /// [`merge`](Self::merge); used where nothing looks at P or the head outputs.
    pub fn fused(&self, h: &Tensor, g: &AttnGeom, offsets: Option<&Tensor>) -> CResult<Tensor> {
        let g = &*self.geom(g);
        let (w, b) = self.qkv_params()?;
        let qkv = kernels::linear(h, &w, &b)?;
        let bias = self.bias(g, offsets)?;
        self.o
            .forward(&kernels::attention_fused(&qkv, bias.as_ref(), g)?)
    }

    /// The Q, K and V projections as one: weight `[(H + 2·KV)·dh, d]` and bias (zeros for
    /// the keys, which have none).
    fn qkv_params(&self) -> CResult<(Tensor, Tensor)> {
        let w = Tensor::cat(&[&self.q.w, &self.k.w, &self.v.w], 0)?;
        let b = Tensor::cat(
            &[
                self.q.bias_or_zeros()?,
                self.k.bias_or_zeros()?,
                self.v.bias_or_zeros()?,
            ],
            0,
        )?;
        Ok((w, b))
    }

    /// The relative-position bias of every query/key pair `[H, L, L]`, when the layer has one.
    fn bias(&self, g: &AttnGeom, offsets: Option<&Tensor>) -> CResult<Option<Tensor>> {
        match (&self.rel, offsets) {
            (Some(rel), Some(idx)) => Ok(Some(rel.index_select(idx, 1)?.reshape((
                self.n_heads,
                g.l,
                g.l,
            ))?)),
            (Some(_), None) => candle_core::bail!("relative bias without the batch's offsets"),
            (None, _) => Ok(None),
        }
    }

    /// `[B,H,L,dh]` head outputs → `[N, d]` after W_O.
    pub fn merge(&self, o: &Tensor, g: &AttnGeom) -> CResult<Tensor> {
        let g = &*self.geom(g);
        let y = o
            .transpose(1, 2)?
            .contiguous()?
            .reshape((g.b * g.l, self.n_heads * self.dh))?;
        self.o.forward(&y)
    }
}

/// GELU feed-forward block.
#[derive(Clone, Debug)]
pub(crate) struct FeedForward {
    up: Linear,
    down: Linear,
}

impl FeedForward {
    fn load(vb: VarBuilder, cfg: &ModelConfig) -> CResult<Self> {
        Ok(Self {
            up: Linear::load(vb.pp("up"), cfg.d_model, cfg.ffn_dim)?,
            down: Linear::load(vb.pp("down"), cfg.ffn_dim, cfg.d_model)?,
        })
    }
    fn detach(&self) -> Self {
        Self {
            up: self.up.detach(),
            down: self.down.detach(),
        }
    }
}

impl Module for FeedForward {
    fn forward(&self, x: &Tensor) -> CResult<Tensor> {
        self.down.forward(&kernels::gelu(&self.up.forward(x)?)?)
    }
}

/// Pre-LN encoder layer: `x + Attn(LN1 x)`, then `x + FFN(LN2 x)`.
#[derive(Clone, Debug)]
pub(crate) struct EncoderLayer {
    pub ln1: LayerNorm,
    pub attn: Attention,
    pub ln2: LayerNorm,
    pub ffn: FeedForward,
}

impl EncoderLayer {
    pub fn load(vb: VarBuilder, cfg: &ModelConfig, layer: usize) -> CResult<Self> {
        Ok(Self {
            ln1: LayerNorm::load(vb.pp("ln1"), cfg.d_model, cfg.layer_norm_eps)?,
            attn: Attention::load(vb.pp("attn"), cfg, layer)?,
            ln2: LayerNorm::load(vb.pp("ln2"), cfg.d_model, cfg.layer_norm_eps)?,
            ffn: FeedForward::load(vb.pp("ffn"), cfg)?,
        })
    }
    /// `x + Attn(LN₁ x)` as one op (see [`kernels::attn_block`]): where nothing looks at or
    /// changes the probabilities or head outputs, and no dropout mask sits in between.
    pub fn attn_residual(
        &self,
        x: &Tensor,
        g: &AttnGeom,
        offsets: Option<&Tensor>,
    ) -> CResult<Tensor> {
        let a = &self.attn;
        let g = &*a.geom(g);
        let (w, b) = a.qkv_params()?;
        let params = Tensor::cat(
            &[
                self.ln1.w.clone(),
                self.ln1.b.clone(),
                w.flatten_all()?,
                b,
                a.o.w.flatten_all()?,
                a.o.required_bias()?,
            ],
            0,
        )?;
        let bias = a.bias(g, offsets)?;
        kernels::attn_block(x, &params, bias.as_ref(), g, self.ln1.eps)
    }

    /// `x + FFN(LN₂ x)` as one op (see [`kernels::ffn_block`]).
    pub fn ffn_residual(&self, x: &Tensor) -> CResult<Tensor> {
        let (up, down) = (&self.ffn.up, &self.ffn.down);
        let params = Tensor::cat(
            &[
                self.ln2.w.clone(),
                self.ln2.b.clone(),
                up.w.flatten_all()?,
                up.required_bias()?,
                down.w.flatten_all()?,
                down.required_bias()?,
            ],
            0,
        )?;
        kernels::ffn_block(x, &params, up.w.dim(0)?, self.ln2.eps)
    }

    pub fn detach(&self) -> Self {
        Self {
            ln1: self.ln1.detach(),
            attn: self.attn.detach(),
            ln2: self.ln2.detach(),
            ffn: self.ffn.detach(),
        }
    }
}

/// Convolution over neighbouring token embeddings, added residually: `x + gelu(conv(x))`
/// with zero padding, weight `[d, d, kernel]` as PyTorch's `Conv1d` stores it.
#[derive(Clone, Debug)]
pub(crate) struct ConvStem {
    w: Tensor,
    b: Tensor,
    kernel: usize,
}

impl ConvStem {
    fn load(vb: VarBuilder, d: usize, kernel: usize) -> CResult<Self> {
        Ok(Self {
            w: vb.get((d, d, kernel), "weight")?,
            b: vb.get(d, "bias")?,
            kernel,
        })
    }
    fn detach(&self) -> Self {
        Self {
            w: self.w.detach(),
            b: self.b.detach(),
            kernel: self.kernel,
        }
    }

    /// `x` is `[B·L, d]`; `valid` `[B·L, 1]` zeroes padding so it never leaks into real tokens.
    /// Unfolds the K shifted copies and runs one matrix product (fused forward and backward).
    pub fn forward(&self, x: &Tensor, valid: &Tensor, b: usize, l: usize) -> CResult<Tensor> {
        let d = x.dim(1)?;
        let k = self.kernel;
        let unfolded = kernels::unfold(&x.broadcast_mul(valid)?, b, l, k)?;
        let w = self
            .w
            .permute((0, 2, 1))?
            .contiguous()?
            .reshape((d, k * d))?;
        let y = kernels::linear(&unfolded, &w, &self.b)?;
        x + kernels::gelu(&y)?
    }

    /// [`forward`](Self::forward) when `x` is the token embedding alone (no absolute
    /// positions), `x = emb[ids]`: the convolution is linear in the one-hot tokens, so
    /// `conv(x)[t] = Σ_j T_j[ids[t + j − K/2]]` with `T_j = emb · W_jᵀ`, a `[V, d]` table per
    /// offset. Building the `K` tables costs `K·V·d²` once per batch, against `B·L·K·d²` for
    /// the sliding product (`V` = 9 at k 1, 261 at k 4, well below `B·L`). `window` holds, per
    /// token and offset, the table row to add (`K·V`, a zero row, outside the sequence).
    pub fn forward_table(&self, emb: &Tensor, x: &Tensor, window: &Tensor) -> CResult<Tensor> {
        let v = emb.dim(0)?;
        let table = self.table(emb)?;
        let y = kernels::table_sum(&table, window, self.kernel, v)?.broadcast_add(&self.b)?;
        x + kernels::gelu(&y)?
    }

    /// [`forward_table`](Self::forward_table) and the max-pooling after it in one fused
    /// operation (`plan` holds the batch's token ids, table rows and pooling windows).
    pub fn forward_table_pooled(
        &self,
        emb: &Tensor,
        plan: std::sync::Arc<kernels::StemPlan>,
    ) -> CResult<Tensor> {
        kernels::stem_pool(emb, &self.table(emb)?, &self.b, plan)
    }

    /// `[K·V + 1, d]`: `emb · W_jᵀ` for each offset j, then a zero row.
    fn table(&self, emb: &Tensor) -> CResult<Tensor> {
        let (v, d) = emb.dims2()?;
        let k = self.kernel;
        // [K, d_in, d_out]: slot j's weights, transposed for emb · W_jᵀ.
        let wk = self.w.permute((2, 1, 0))?.contiguous()?;
        let table = emb
            .unsqueeze(0)?
            .broadcast_as((k, v, d))?
            .contiguous()?
            .matmul(&wk)?
            .reshape((k * v, d))?;
        let zero = Tensor::zeros((1, d), table.dtype(), table.device())?;
        Tensor::cat(&[&table, &zero], 0)
    }
}

/// All weights of the network, in one of two modes: tracked (training) or detached (inference).
#[derive(Clone, Debug)]
pub(crate) struct Weights {
    pub tokens: Tensor,
    pub positions: Option<Tensor>,
    pub conv: Option<ConvStem>,
    pub layers: Vec<EncoderLayer>,
    pub final_ln: LayerNorm,
    pub head: Linear,
}

impl Weights {
    pub fn load(vb: VarBuilder, cfg: &ModelConfig) -> CResult<Self> {
        let emb = vb.pp("embeddings");
        let tokens = emb
            .pp("tokens")
            .get((cfg.vocab_size, cfg.d_model), "weight")?;
        let positions = match cfg.positional {
            super::Positional::Learned => Some(
                emb.pp("positions")
                    .get((cfg.max_tokens, cfg.d_model), "weight")?,
            ),
            super::Positional::Sinusoidal | super::Positional::None => None,
        };
        let conv = match cfg.conv_kernel {
            0 => None,
            k => Some(ConvStem::load(emb.pp("conv"), cfg.d_model, k)?),
        };
        let layers = (0..cfg.n_layers)
            .map(|i| EncoderLayer::load(vb.pp("layers").pp(i), cfg, i))
            .collect::<CResult<Vec<_>>>()?;
        Ok(Self {
            tokens,
            positions,
            conv,
            layers,
            final_ln: LayerNorm::load(vb.pp("final_ln"), cfg.d_model, cfg.layer_norm_eps)?,
            head: Linear::load(vb.pp("head"), cfg.d_model, cfg.n_outputs)?,
        })
    }

    pub fn detach(&self) -> Self {
        Self {
            tokens: self.tokens.detach(),
            positions: self.positions.as_ref().map(|p| p.detach()),
            conv: self.conv.as_ref().map(|c| c.detach()),
            layers: self.layers.iter().map(|l| l.detach()).collect(),
            final_ln: self.final_ln.detach(),
            head: self.head.detach(),
        }
    }
}
