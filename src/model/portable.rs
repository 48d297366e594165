//! The model's operations in candle's own tensor ops, for devices other than the CPU.
//!
//! The fused kernels in [`super::kernels`] run on the CPU only. On any other device (CUDA)
//! their entry points call these formulations instead, which candle runs and differentiates
//! on that device. Each one computes what the fused op computes; the tests here check that
//! on the CPU, value and gradient, with the CPU forced onto this path (see [`forced`]).
use candle_core::{D, Tensor};

use super::kernels::AttnGeom;

type CResult<T> = candle_core::Result<T>;

thread_local! {
    static FORCE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether `t` takes this module's formulations: on any device but the CPU, and on the
/// CPU when `CISFORMER_PORTABLE_OPS=1` is set (the whole process) or inside [`forced`]
/// (this thread). The forced CPU runs are how the GPU path is checked without a GPU.
pub(crate) fn active(t: &Tensor) -> bool {
    static ENV: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    !t.device().is_cpu()
        || FORCE.with(|f| f.get())
        || *ENV.get_or_init(|| std::env::var_os("CISFORMER_PORTABLE_OPS").is_some_and(|v| v == "1"))
}

/// Runs `f` with this thread's CPU ops on the portable path.
#[cfg(test)]
pub(crate) fn forced<R>(f: impl FnOnce() -> R) -> R {
    let before = FORCE.with(|c| c.replace(true));
    let r = f();
    FORCE.with(|c| c.set(before));
    r
}

pub(crate) fn gelu(x: &Tensor) -> CResult<Tensor> {
    x.gelu_erf()
}

/// Biased variance, as `torch.nn.LayerNorm`.
pub(crate) fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f32) -> CResult<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    xc.broadcast_div(&(var + eps as f64)?.sqrt()?)?
        .broadcast_mul(w)?
        .broadcast_add(b)
}

/// `x W^T + b` over the last dimension of `x`.
pub(crate) fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> CResult<Tensor> {
    let dims = x.dims();
    let (rows, d_in) = (x.elem_count() / dims[dims.len() - 1], dims[dims.len() - 1]);
    let y = x.reshape((rows, d_in))?.matmul(&w.t()?)?.broadcast_add(b)?;
    let mut out = dims.to_vec();
    *out.last_mut().expect("x has a last dimension") = w.dim(0)?;
    y.reshape(out)
}

/// `[B, KV, L, dh]` → `[B, H, L, dh]`: each key/value head repeated for its query heads.
fn expand_kv(t: &Tensor, g: &AttnGeom) -> CResult<Tensor> {
    if g.kv == g.h {
        return Ok(t.clone());
    }
    t.unsqueeze(2)?
        .broadcast_as((g.b, g.kv, g.h / g.kv, g.l, g.dh))?
        .reshape((g.b, g.h, g.l, g.dh))
}

/// `[B, 1, 1, L]`: 0 for real keys, −∞ for padding, on `dev`.
fn key_mask(g: &AttnGeom, dev: &candle_core::Device) -> CResult<Tensor> {
    let mask: Vec<f32> = (0..g.b * g.l)
        .map(|i| {
            if i % g.l < g.lens[i / g.l] {
                0.0
            } else {
                f32::NEG_INFINITY
            }
        })
        .collect();
    Tensor::from_vec(mask, (g.b, 1, 1, g.l), dev)
}

pub(crate) fn attention_probs(
    q: &Tensor,
    k: &Tensor,
    bias: Option<&Tensor>,
    g: &AttnGeom,
) -> CResult<Tensor> {
    let k = expand_kv(&k.contiguous()?, g)?;
    let s = (q.contiguous()?.matmul(&k.t()?)? / (g.dh as f64).sqrt())?;
    let s = match bias {
        Some(bias) => s.broadcast_add(bias)?,
        None => s,
    };
    candle_nn::ops::softmax(&s.broadcast_add(&key_mask(g, q.device())?)?, D::Minus1)
}

pub(crate) fn attention_apply(p: &Tensor, v: &Tensor, g: &AttnGeom) -> CResult<Tensor> {
    p.contiguous()?.matmul(&expand_kv(&v.contiguous()?, g)?)
}

/// `qkv` `[B·L, (H + 2·KV)·dh]` → head outputs `[B·L, H·dh]`, as the fused attention.
pub(crate) fn attention_fused(
    qkv: &Tensor,
    bias: Option<&Tensor>,
    g: &AttnGeom,
) -> CResult<Tensor> {
    let heads = |at: usize, n: usize| -> CResult<Tensor> {
        qkv.narrow(1, at * g.dh, n * g.dh)?
            .reshape((g.b, g.l, n, g.dh))?
            .transpose(1, 2)?
            .contiguous()
    };
    let (q, k, v) = (heads(0, g.h)?, heads(g.h, g.kv)?, heads(g.h + g.kv, g.kv)?);
    let p = attention_probs(&q, &k, bias, g)?;
    attention_apply(&p, &v, g)?
        .transpose(1, 2)?
        .reshape((g.b * g.l, g.h * g.dh))
}

/// A pre-LN block's packed parameters (see `kernels::ffn_block`): the norm's weight and
/// bias, the first linear layer `[a, d]` and bias, the second `[d, c]` and bias.
fn unpack(p: &Tensor, d: usize, a: usize, c: usize) -> CResult<[Tensor; 6]> {
    let lens = [d, d, a * d, a, d * c, d];
    let mut at = 0;
    let mut piece = |n: usize| -> CResult<Tensor> {
        at += n;
        p.narrow(0, at - n, n)
    };
    Ok([
        piece(lens[0])?,
        piece(lens[1])?,
        piece(lens[2])?.reshape((a, d))?,
        piece(lens[3])?,
        piece(lens[4])?.reshape((d, c))?,
        piece(lens[5])?,
    ])
}

pub(crate) fn ffn_block(x: &Tensor, params: &Tensor, f: usize, eps: f32) -> CResult<Tensor> {
    let d = x.dim(D::Minus1)?;
    let [ln_w, ln_b, w1, b1, w2, b2] = unpack(params, d, f, f)?;
    let h = layer_norm(x, &ln_w, &ln_b, eps)?;
    x + linear(&gelu(&linear(&h, &w1, &b1)?)?, &w2, &b2)?
}

pub(crate) fn attn_block(
    x: &Tensor,
    params: &Tensor,
    bias: Option<&Tensor>,
    g: &AttnGeom,
    eps: f32,
) -> CResult<Tensor> {
    let d = x.dim(D::Minus1)?;
    let width = (g.h + 2 * g.kv) * g.dh;
    let [ln_w, ln_b, wqkv, bqkv, wo, bo] = unpack(params, d, width, g.h * g.dh)?;
    let h = layer_norm(x, &ln_w, &ln_b, eps)?;
    let o = attention_fused(&linear(&h, &wqkv, &bqkv)?, bias, g)?;
    x + linear(&o, &wo, &bo)?
}

/// `Σ_j table[idx[r·kernel + j]]` for each row `r`.
pub(crate) fn table_sum(table: &Tensor, idx: &Tensor, kernel: usize) -> CResult<Tensor> {
    let d = table.dim(1)?;
    let rows = idx.elem_count() / kernel;
    table
        .index_select(idx, 0)?
        .reshape((rows, kernel, d))?
        .sum(1)
}

/// The convolution stem over token embeddings and the max-pooling after it (see
/// `kernels::stem_pool`), as an index-select, a sum, GELU and a max.
pub(crate) fn stem_pool(
    emb: &Tensor,
    table: &Tensor,
    bias: &Tensor,
    plan: &super::kernels::StemPlan,
) -> CResult<Tensor> {
    let dev = emb.device();
    let d = emb.dim(1)?;
    let u32s = |v: &[u32]| Tensor::from_vec(v.to_vec(), v.len(), dev);
    let conv = table_sum(table, &u32s(&plan.rows)?, plan.kernel)?.broadcast_add(bias)?;
    let y = (emb.index_select(&u32s(&plan.ids)?, 0)? + gelu(&conv)?)?;
    // Row `B·T` of the windows stands for "outside the sequence": far below any value.
    let floor = Tensor::full(-1e9f32, (1, d), dev)?;
    Tensor::cat(&[&y, &floor], 0)?
        .index_select(&u32s(&plan.window)?, 0)?
        .reshape((plan.window.len() / plan.pool, plan.pool, d))?
        .max(1)
}

/// `[B·L, d]` → `[B·L, kernel·d]` sliding windows with zero padding.
pub(crate) fn unfold(x: &Tensor, b: usize, l: usize, kernel: usize) -> CResult<Tensor> {
    let d = x.dim(1)?;
    let padded = x
        .reshape((b, l, d))?
        .pad_with_zeros(1, kernel / 2, kernel - 1 - kernel / 2)?;
    let cols = (0..kernel)
        .map(|j| padded.narrow(1, j, l))
        .collect::<CResult<Vec<_>>>()?;
    Tensor::cat(&cols, 2)?.reshape((b * l, kernel * d))
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};
    use rand::{RngExt, SeedableRng};

    use super::forced;
    use crate::model::kernels::{self, AttnGeom};
    use crate::model::{
        ForwardOptions, HeadId, HeadPatch, Model, ModelConfig, Pooling, Positional,
    };

    type CResult<T> = candle_core::Result<T>;

    fn flat(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
        assert_eq!(a.len(), b.len(), "{what}: lengths");
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            assert!(
                (x - y).abs() <= tol * (1.0 + y.abs()),
                "{what}[{i}]: {x} vs {y}"
            );
        }
    }

    /// `f` on the fused kernels and on the portable path: equal values and gradients (of a
    /// random projection of the output) with respect to every input.
    fn same_both_ways(inputs: &[Tensor], f: impl Fn(&[Tensor]) -> CResult<Tensor>) {
        let run = || {
            let vars: Vec<Var> = inputs
                .iter()
                .map(|t| Var::from_tensor(t).unwrap())
                .collect();
            let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
            let y = f(&ts).unwrap();
            let n = y.elem_count();
            let w: Vec<f32> = (0..n)
                .map(|i| ((i * 7919) % 13) as f32 / 6.0 - 1.0)
                .collect();
            let w = Tensor::from_vec(w, y.shape(), y.device()).unwrap();
            let grads = (&y * &w).unwrap().sum_all().unwrap().backward().unwrap();
            let gs: Vec<Vec<f32>> = vars
                .iter()
                .map(|v| grads.get(v).map(flat).unwrap_or_default())
                .collect();
            (flat(&y), gs)
        };
        let (y1, g1) = run();
        let (y2, g2) = forced(run);
        close(&y2, &y1, 1e-5, "value");
        for (i, (a, b)) in g2.iter().zip(&g1).enumerate() {
            close(a, b, 1e-4, &format!("gradient {i}"));
        }
    }

    fn randn(shape: &[usize], seed: u64) -> Tensor {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let n = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.random::<f32>() * 2.0 - 1.0).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn the_elementwise_and_linear_ops_match() {
        let (n, d, o) = (6, 8, 5);
        same_both_ways(&[randn(&[n, d], 1)], |t| kernels::gelu(&t[0]));
        same_both_ways(&[randn(&[n, d], 2), randn(&[d], 3), randn(&[d], 4)], |t| {
            kernels::layer_norm(&t[0], &t[1], &t[2], 1e-5)
        });
        same_both_ways(
            &[randn(&[2, 3, d], 5), randn(&[o, d], 6), randn(&[o], 7)],
            |t| kernels::linear(&t[0], &t[1], &t[2]),
        );
        same_both_ways(&[randn(&[2 * 7, 3], 8), randn(&[2 * 7, 5 * 3], 9)], |t| {
            kernels::unfold(&t[0], 2, 7, 5)? * &t[1]
        });
        // Slot j of a table sum reads block j or the final zero row.
        let (k, v) = (3, 4);
        let idx: Vec<u32> = (0..5 * k as u32)
            .map(|i| (i % 3) * 4 + (i * 5) % 5)
            .collect();
        let idx = Tensor::from_vec(idx, 5 * k, &Device::Cpu).unwrap();
        same_both_ways(&[randn(&[k * v + 1, d], 10)], |t| {
            kernels::table_sum(&t[0], &idx, k, v)
        });
    }

    #[test]
    fn the_attention_ops_match_with_grouped_heads_padding_and_a_bias() {
        let (b, h, kv, l, dh) = (3, 4, 2, 6, 3);
        let g = AttnGeom {
            b,
            h,
            kv,
            l,
            dh,
            lens: vec![6, 2, 4],
        };
        let (q, k, v) = (
            randn(&[b, h, l, dh], 1),
            randn(&[b, kv, l, dh], 2),
            randn(&[b, kv, l, dh], 3),
        );
        let bias = randn(&[h, l, l], 4);
        same_both_ways(&[q.clone(), k.clone(), bias.clone()], |t| {
            kernels::attention_probs(&t[0], &t[1], Some(&t[2]), &g)
        });
        same_both_ways(&[q.clone(), k.clone(), v.clone()], |t| {
            let p = kernels::attention_probs(&t[0], &t[1], None, &g)?;
            kernels::attention_apply(&p, &t[2], &g)
        });
        let width = (h + 2 * kv) * dh;
        same_both_ways(&[randn(&[b * l, width], 5), bias.clone()], |t| {
            kernels::attention_fused(&t[0], Some(&t[1]), &g)
        });
        let d = 8;
        let n_attn = 2 * d + width * d + width + d * h * dh + d;
        same_both_ways(&[randn(&[b * l, d], 6), randn(&[n_attn], 7), bias], |t| {
            kernels::attn_block(&t[0], &t[1], Some(&t[2]), &g, 1e-5)
        });
        let f = 12;
        let n_ffn = 2 * d + 2 * f * d + f + d;
        same_both_ways(&[randn(&[b * l, d], 8), randn(&[n_ffn], 9)], |t| {
            kernels::ffn_block(&t[0], &t[1], f, 1e-5)
        });
    }

    /// One training forward and backward, then predictions and attention maps, from the
    /// same seed on each path: the recipe's architecture (convolution stem over bare
    /// tokens, pooling, relative bias, dropout) and a plain encoder (learned positions,
    /// grouped K/V heads).
    #[test]
    fn a_model_gives_the_same_outputs_and_gradients_on_the_portable_path() {
        let recipe = ModelConfig {
            pooling: Pooling::Max,
            positional: Positional::None,
            conv_kernel: 5,
            relative_bias: 6,
            pool: 3,
            ..ModelConfig::tiny(1)
        };
        let encoder = ModelConfig {
            n_kv_heads: 2,
            conv_kernel: 0,
            ..ModelConfig::tiny(3)
        };
        let seqs: [&[u8]; 3] = [b"ACGTTGCAACGTAGGCTA", b"TTGACA", b"GGGCCCATATCGATCGAT"];
        for cfg in [recipe, encoder] {
            let run = || {
                let model = Model::new(&cfg, 11).unwrap();
                let ids: Vec<Vec<u32>> = seqs.iter().map(|s| model.tokenizer().encode(s)).collect();
                let (out, _) = model
                    .forward_train(&model.batch(&ids).unwrap(), 3, false)
                    .unwrap();
                let grads = out.sqr().unwrap().sum_all().unwrap().backward().unwrap();
                let g: Vec<f32> = model
                    .vars()
                    .iter()
                    .flat_map(|(_, v)| flat(grads.get(v.as_tensor()).unwrap()))
                    .collect();
                // Read-outs with a head switched off, one captured and one patched head.
                let mut model = model;
                model.set_head_mask(1, 2, 0.0).unwrap();
                let head = HeadId { layer: 0, head: 1 };
                let patched = HeadId { layer: 1, head: 0 };
                let shape = ForwardOptions {
                    capture: vec![patched],
                    ..Default::default()
                };
                let before = model.forward(&ids, &shape).unwrap().heads.remove(0);
                let patch = HeadPatch {
                    head: patched,
                    values: before.values.iter().map(|v| vec![0.25; v.len()]).collect(),
                };
                let opts = ForwardOptions {
                    attention: true,
                    capture: vec![head],
                    patches: vec![patch],
                };
                let eval = model.forward(&ids, &opts).unwrap();
                let maps: Vec<f32> = eval
                    .attention
                    .unwrap()
                    .into_iter()
                    .flat_map(|m| m.data)
                    .collect();
                let captured: Vec<f32> = eval
                    .heads
                    .into_iter()
                    .flat_map(|h| h.values.concat())
                    .collect();
                let (_, att_grad) = model.attention_gradients(&ids, 0).unwrap();
                let att_grad: Vec<f32> = att_grad.into_iter().flat_map(|m| m.data).collect();
                (
                    flat(&out),
                    g,
                    eval.output.concat(),
                    maps,
                    captured,
                    att_grad,
                )
            };
            let (t1, g1, o1, m1, c1, a1) = run();
            let (t2, g2, o2, m2, c2, a2) = forced(run);
            close(&t2, &t1, 1e-4, "training output");
            close(&g2, &g1, 1e-3, "gradient");
            close(&o2, &o1, 1e-4, "output");
            close(&m2, &m1, 1e-4, "attention");
            close(&c2, &c1, 1e-4, "captured head");
            close(&a2, &a1, 1e-3, "attention gradient");
        }
    }
}
