//! Fused CPU kernels with hand-written backward passes, as candle custom ops.
//!
//! The plain candle formulation spends most of a training step in GELU, softmax
//! and many small per-head matmuls. These ops do each in one pass over memory,
//! parallel over rows or heads with rayon, and call `gemm` once per head with no
//! inner threading (heads are the parallel unit). The PyTorch golden test checks
//! the forward values and, through one AdamW step, the gradients.
use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::portable;

type CResult<T> = candle_core::Result<T>;

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> CResult<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(v) => v.as_slice(),
        _ => candle_core::bail!("{what}: expected f32"),
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{what}: input must be contiguous"),
    }
}

/// Runs the body compiled for AVX-512 or AVX2+FMA when the CPU has them, else the baseline build.
macro_rules! dispatch_simd {
    ($name:ident, ($($arg:ident : $ty:ty),*), $body:expr) => {
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn wide($($arg: $ty),*) {
                    $body
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn fast($($arg: $ty),*) {
                    $body
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the feature was just detected (AVX-512F implies AVX2 and FMA).
                    unsafe { wide($($arg),*) };
                    return;
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the features were just detected.
                    unsafe { fast($($arg),*) };
                    return;
                }
            }
            $body
        }
    };
}

/// `exp` for f32, branch-free so loops over it vectorise (Cephes polynomial, ~1 ulp).
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    // 2ⁿ from the bits of n + 127 + 2²³, whose low mantissa bits hold n + 127 exactly
    // (n ∈ [-126, 127] after the clamp): the same value as `(n as i32 + 127) << 23`
    // without a saturating float-to-int cast, which kept the loops scalar.
    y * f32::from_bits((n + (127.0 + 8_388_608.0)).to_bits() << 23)
}

/// `erf` for f32: Eigen's rational approximation on [-4, 4] (a few ulp), branch-free.
#[inline(always)]
pub fn erf_f32(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_600_2e-3;
    p = p * x2 - 1.609_603_3e-2;
    p *= x;
    let mut q = -1.456_607_2e-5f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329e-3;
    q = q * x2 - 1.426_474e-2;
    p / q
}

const INV_SQRT2: f32 = std::f32::consts::FRAC_1_SQRT_2;
const INV_SQRT_2PI: f32 = 0.398_942_3;

dispatch_simd!(gelu_slice, (x: &[f32], y: &mut [f32]), {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = 0.5 * x * (1.0 + erf_f32(x * INV_SQRT2));
    }
});

/// GELU's derivative `Φ(x) + x·φ(x)`.
#[inline(always)]
fn gelu_grad(x: f32) -> f32 {
    let cdf = 0.5 * (1.0 + erf_f32(x * INV_SQRT2));
    let pdf = exp_f32(-0.5 * x * x) * INV_SQRT_2PI;
    cdf + x * pdf
}

dispatch_simd!(gelu_bwd_slice, (x: &[f32], g: &[f32], dx: &mut [f32]), {
    for ((d, &x), &g) in dx.iter_mut().zip(x).zip(g) {
        *d = g * gelu_grad(x);
    }
});

const CHUNK: usize = 1 << 14;

/// Exact (erf) GELU, as `torch.nn.functional.gelu` with its default `approximate='none'`.
struct Gelu;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "cisformer-gelu"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let x = contiguous(s, l, "gelu")?;
        let mut y = vec![0f32; x.len()];
        y.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK))
            .for_each(|(y, x)| gelu_slice(x, y));
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }
    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> CResult<Option<Tensor>> {
        Ok(Some(arg.apply_op2_no_bwd(&grad.contiguous()?, &GeluBwd)?))
    }
}

struct GeluBwd;

impl CustomOp2 for GeluBwd {
    fn name(&self) -> &'static str {
        "cisformer-gelu-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "gelu-bwd")?;
        let g = contiguous(s2, l2, "gelu-bwd")?;
        let mut dx = vec![0f32; x.len()];
        dx.par_chunks_mut(CHUNK)
            .zip(x.par_chunks(CHUNK).zip(g.par_chunks(CHUNK)))
            .for_each(|(d, (x, g))| gelu_bwd_slice(x, g, d));
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// GELU (erf form) with a fused backward.
pub fn gelu(x: &Tensor) -> CResult<Tensor> {
    if portable::active(x) {
        return portable::gelu(x);
    }
    x.contiguous()?.apply_op1(Gelu)
}

/// Layer norm over the last dimension with affine weight and bias.
struct LayerNorm {
    eps: f32,
}

fn ln_row(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], eps: f32) {
    let d = x.len() as f32;
    let mean = x.iter().sum::<f32>() / d;
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / d;
    let rstd = 1.0 / (var + eps).sqrt();
    for i in 0..x.len() {
        y[i] = (x[i] - mean) * rstd * w[i] + b[i];
    }
}

/// Layer norm of every `w.len()`-wide row of `x` into `y`, in parallel over rows.
fn layer_norm_rows(x: &[f32], w: &[f32], b: &[f32], y: &mut [f32], eps: f32) {
    let d = w.len();
    y.par_chunks_mut(d * 64)
        .zip(x.par_chunks(d * 64))
        .for_each(|(y, x)| {
            for (y, x) in y.chunks_mut(d).zip(x.chunks(d)) {
                ln_row(x, w, b, y, eps);
            }
        });
}

impl CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "cisformer-layer-norm"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "layer-norm")?;
        let w = contiguous(s2, l2, "layer-norm")?;
        let b = contiguous(s3, l3, "layer-norm")?;
        let mut y = vec![0f32; x.len()];
        layer_norm_rows(x, w, b, &mut y, self.eps);
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = w.elem_count();
        let n = x.elem_count();
        let packed = x.apply_op3_no_bwd(w, &grad.contiguous()?, &LayerNormBwd { eps: self.eps })?;
        let dx = packed.narrow(0, 0, n)?.reshape(x.shape())?;
        let dw = packed.narrow(0, n, d)?.reshape(w.shape())?;
        let db = packed.narrow(0, n + d, d)?.reshape(w.shape())?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

struct LayerNormBwd {
    eps: f32,
}

impl CustomOp3 for LayerNormBwd {
    fn name(&self) -> &'static str {
        "cisformer-layer-norm-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "layer-norm-bwd")?;
        let w = contiguous(s2, l2, "layer-norm-bwd")?;
        let g = contiguous(s3, l3, "layer-norm-bwd")?;
        let (d, n) = (w.len(), x.len());
        let mut out = vec![0f32; n + 2 * d];
        let (dx, dwb) = out.split_at_mut(n);
        layer_norm_bwd_rows(x, w, g, dx, dwb, self.eps);
        Ok((CpuStorage::F32(out), Shape::from(n + 2 * d)))
    }
}

/// Backward of [`layer_norm_rows`] for the upstream gradient `g`: writes dX and adds dW then
/// dB (`dwb`, `2·w.len()`) to what `dwb` holds.
fn layer_norm_bwd_rows(x: &[f32], w: &[f32], g: &[f32], dx: &mut [f32], dwb: &mut [f32], eps: f32) {
    let d = w.len();
    let rows = 64;
    // Each chunk of rows returns its partial dW and dB; summed in chunk order (deterministic).
    let partials: Vec<Vec<f32>> = dx
        .par_chunks_mut(d * rows)
        .zip(x.par_chunks(d * rows).zip(g.par_chunks(d * rows)))
        .map(|(dx, (x, g))| {
            let mut acc = vec![0f32; 2 * d];
            let mut xhat = vec![0f32; d];
            for ((dx, x), g) in dx.chunks_mut(d).zip(x.chunks(d)).zip(g.chunks(d)) {
                let df = d as f32;
                let mean = x.iter().sum::<f32>() / df;
                let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / df;
                let rstd = 1.0 / (var + eps).sqrt();
                let (mut mg, mut mgx) = (0f32, 0f32);
                for i in 0..d {
                    xhat[i] = (x[i] - mean) * rstd;
                    let gw = g[i] * w[i];
                    mg += gw;
                    mgx += gw * xhat[i];
                    acc[i] += g[i] * xhat[i];
                    acc[d + i] += g[i];
                }
                mg /= df;
                mgx /= df;
                for i in 0..d {
                    dx[i] = rstd * (g[i] * w[i] - mg - xhat[i] * mgx);
                }
            }
            acc
        })
        .collect();
    for p in partials {
        for (a, v) in dwb.iter_mut().zip(p) {
            *a += v;
        }
    }
}

/// Layer norm of the last dimension (`torch.nn.LayerNorm` semantics, biased variance).
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f32) -> CResult<Tensor> {
    if portable::active(x) {
        return portable::layer_norm(x, w, b, eps);
    }
    x.contiguous()?.apply_op3(w, b, LayerNorm { eps })
}

/// One row-major matrix product `dst (m×n) = α·dst + lhs (m×k) · rhs (k×n)` with explicit
/// strides `(row, col)` for each operand; single-threaded (callers parallelise over heads).
#[allow(clippy::too_many_arguments)]
fn gemm_into(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_s: (usize, usize),
    rhs: &[f32],
    rhs_s: (usize, usize),
    scale: f32,
) {
    gemm_with(
        m,
        n,
        k,
        dst,
        accumulate,
        lhs,
        lhs_s,
        rhs,
        rhs_s,
        scale,
        gemm::Parallelism::None,
    )
}

/// [`gemm_into`] with a choice of threading (the big projections use the rayon pool).
#[allow(clippy::too_many_arguments)]
fn gemm_with(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    accumulate: bool,
    lhs: &[f32],
    lhs_s: (usize, usize),
    rhs: &[f32],
    rhs_s: (usize, usize),
    scale: f32,
    par: gemm::Parallelism,
) {
    gemm_raw(
        m, n, k, dst, n, accumulate, lhs, lhs_s, rhs, rhs_s, scale, par,
    )
}

/// The general form: `dst` rows are `dst_rs` apart (≥ n).
#[allow(clippy::too_many_arguments)]
fn gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    lhs: &[f32],
    lhs_s: (usize, usize),
    rhs: &[f32],
    rhs_s: (usize, usize),
    scale: f32,
    par: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for r in dst.chunks_mut(dst_rs).take(m) {
                r[..n].fill(0.0);
            }
        }
        return;
    }
    debug_assert!(dst.len() >= (m - 1) * dst_rs + n);
    debug_assert!(lhs.len() > (m - 1) * lhs_s.0 + (k - 1) * lhs_s.1);
    debug_assert!(rhs.len() > (k - 1) * rhs_s.0 + (n - 1) * rhs_s.1);
    // SAFETY: the slices cover every element addressed by the shapes and strides (checked above
    // in debug builds; callers derive them from tensor shapes).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_s.1 as isize,
            lhs_s.0 as isize,
            rhs.as_ptr(),
            rhs_s.1 as isize,
            rhs_s.0 as isize,
            1.0,
            scale,
            false,
            false,
            false,
            par,
        );
    }
}

fn pool_par() -> gemm::Parallelism {
    match rayon::current_num_threads() {
        0 | 1 => gemm::Parallelism::None,
        n => gemm::Parallelism::Rayon(n),
    }
}

/// `y = x Wᵀ + b` for x `[N, in]`, W `[out, in]`, b `[out]`: one GEMM with the bias as its
/// starting value, and a backward that produces dX, dW and db without intermediate tensors.
struct LinearOp;

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        "cisformer-linear"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "linear")?;
        let w = contiguous(s2, l2, "linear")?;
        let b = contiguous(s3, l3, "linear")?;
        let (d_out, d_in) = l2.shape().dims2()?;
        let n = x.len() / d_in;
        let mut y = bias_rows(b, n);
        gemm_with(
            n,
            d_out,
            d_in,
            &mut y,
            true,
            x,
            (d_in, 1),
            w,
            (1, d_in),
            1.0,
            pool_par(),
        );
        let mut dims = l1.shape().dims().to_vec();
        *dims.last_mut().expect("rank ≥ 1") = d_out;
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }
    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (d_out, d_in) = w.dims2()?;
        let nx = x.elem_count();
        if !w.track_op() && !b.track_op() {
            // Frozen weights (gradients with respect to activations only, e.g. attention ×
            // gradient on a loaded model): dW and db would be thrown away, skip their GEMM.
            let dx = x.apply_op3_no_bwd(w, &grad.contiguous()?, &LinearBwd { weights: false })?;
            return Ok((Some(dx.reshape(x.shape())?), None, None));
        }
        let packed = x.apply_op3_no_bwd(w, &grad.contiguous()?, &LinearBwd { weights: true })?;
        let dx = packed.narrow(0, 0, nx)?.reshape(x.shape())?;
        let dw = packed.narrow(0, nx, d_out * d_in)?.reshape((d_out, d_in))?;
        let db = packed.narrow(0, nx + d_out * d_in, d_out)?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

/// dX, then (when `weights`) dW and db, packed in one buffer.
struct LinearBwd {
    weights: bool,
}

dispatch_simd!(add_rows, (acc: &mut [f32], g: &[f32]), {
    for r in g.chunks(acc.len()) {
        for (a, v) in acc.iter_mut().zip(r) {
            *a += v;
        }
    }
});

impl CustomOp3 for LinearBwd {
    fn name(&self) -> &'static str {
        "cisformer-linear-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "linear-bwd")?;
        let w = contiguous(s2, l2, "linear-bwd")?;
        let g = contiguous(s3, l3, "linear-bwd")?;
        let (d_out, d_in) = l2.shape().dims2()?;
        let n = x.len() / d_in;
        let wlen = if self.weights {
            d_out * d_in + d_out
        } else {
            0
        };
        let mut out = vec![0f32; n * d_in + wlen];
        let (dx, rest) = out.split_at_mut(n * d_in);
        // dX (n×in) = G (n×out) · W (out×in)
        gemm_with(
            n,
            d_in,
            d_out,
            dx,
            false,
            g,
            (d_out, 1),
            w,
            (d_in, 1),
            1.0,
            pool_par(),
        );
        if !self.weights {
            let len = out.len();
            return Ok((CpuStorage::F32(out), Shape::from(len)));
        }
        let (dw, db) = rest.split_at_mut(d_out * d_in);
        // dW (out×in) = Gᵀ (out×n) · X (n×in)
        gemm_with(
            d_out,
            d_in,
            n,
            dw,
            false,
            g,
            (1, d_out),
            x,
            (d_in, 1),
            1.0,
            pool_par(),
        );
        add_rows(db, g);
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

/// Fused affine layer (see [`LinearOp`]); `x` is `[..., in]`.
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> CResult<Tensor> {
    if portable::active(x) {
        return portable::linear(x, w, b);
    }
    x.contiguous()?.apply_op3(w, b, LinearOp)
}

/// Geometry of one attention call: batch, query heads, key/value heads, length, head width,
/// and the number of real (non-padding) tokens of each sequence; padding sits at the end.
#[derive(Clone, Debug)]
pub struct AttnGeom {
    pub b: usize,
    pub h: usize,
    pub kv: usize,
    pub l: usize,
    pub dh: usize,
    pub lens: Vec<usize>,
}

impl AttnGeom {
    fn group(&self) -> usize {
        self.h / self.kv
    }
}

/// Max with 16 independent lanes, so the loop vectorises (so do the sums below: a strict
/// left-to-right float reduction does not).
#[inline(always)]
fn max_lanes(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; 16];
    let chunks = x.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for i in 0..16 {
            acc[i] = acc[i].max(c[i]);
        }
    }
    acc.iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |m, &v| m.max(v))
}

#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let ca = a.chunks_exact(16);
    let cb = b.chunks_exact(16);
    let rest: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + rest
}

dispatch_simd!(softmax_rows, (p: &mut [f32], l: usize, valid: usize), {
    for row in p.chunks_mut(l) {
        let (live, dead) = row.split_at_mut(valid);
        let m = max_lanes(live);
        // exp and its sum in one pass, 16 lanes wide.
        let mut acc = [0f32; 16];
        let mut chunks = live.chunks_exact_mut(16);
        for c in &mut chunks {
            for i in 0..16 {
                let e = exp_f32(c[i] - m);
                c[i] = e;
                acc[i] += e;
            }
        }
        // The tail through one 16-lane pass too (padding far below the maximum), summed
        // in order as before.
        let tail = chunks.into_remainder();
        let mut buf = [m - 100.0; 16];
        buf[..tail.len()].copy_from_slice(tail);
        for v in buf.iter_mut() {
            *v = exp_f32(*v - m);
        }
        tail.copy_from_slice(&buf[..tail.len()]);
        let mut sum = 0f32;
        for v in tail.iter() {
            sum += *v;
        }
        let inv = 1.0 / (acc.iter().sum::<f32>() + sum);
        for v in live.iter_mut() {
            *v *= inv;
        }
        dead.fill(0.0);
    }
});

// `dS = P ⊙ (dP − rowsum(dP ⊙ P))` for the first `valid` columns of each row.
dispatch_simd!(softmax_bwd_rows, (p: &[f32], dp: &[f32], ds: &mut [f32], l: usize, valid: usize), {
    for ((pr, gr), dr) in p.chunks(l).zip(dp.chunks(l)).zip(ds.chunks_mut(l)) {
        let (pr, gr, dr) = (&pr[..valid], &gr[..valid], &mut dr[..valid]);
        let dot = dot_lanes(pr, gr);
        for t in 0..valid {
            dr[t] = pr[t] * (gr[t] - dot);
        }
    }
});

/// One head's probabilities in place: `p[:, :valid] = softmax(scale · Q Kᵀ + bias)` over the
/// first `valid` keys, zeros past them; Q and K are read with the given `(row, col)` strides
/// (head-major blocks or columns of a token-major projection), `bias` is this head's `[L,L]`.
#[allow(clippy::too_many_arguments)]
fn head_probs(
    p: &mut [f32],
    l: usize,
    valid: usize,
    dh: usize,
    q: &[f32],
    q_s: (usize, usize),
    k: &[f32],
    k_s: (usize, usize),
    scale: f32,
    bias: Option<&[f32]>,
) {
    // S[:, :valid] = scale · Q Kᵀ, written in place with row stride l.
    gemm_raw(
        l,
        valid,
        dh,
        p,
        l,
        false,
        q,
        q_s,
        k,
        k_s,
        scale,
        gemm::Parallelism::None,
    );
    if let Some(bias) = bias {
        for (row, br) in p.chunks_mut(l).zip(bias.chunks(l)) {
            for (s, &v) in row[..valid].iter_mut().zip(&br[..valid]) {
                *s += v;
            }
        }
    }
    softmax_rows(p, l, valid);
}

/// The gradient of a bias shared by the batch: `dbias` `[H,L,L]` = Σ_batch dS over each
/// sequence's real keys, from `ds` `[B,H,L,L]`. One task per (head, query row), summed over
/// the batch in order (deterministic whatever the thread count); columns past a sequence's
/// length are never read, so `ds` need not be zero there.
fn sum_bias_grad(dbias: &mut [f32], ds: &[f32], g: &AttnGeom) {
    let (h, l) = (g.h, g.l);
    dbias.par_chunks_mut(l).enumerate().for_each(|(row, acc)| {
        let (hi, r) = (row / l, row % l);
        for (bi, &valid) in g.lens.iter().enumerate() {
            let at = ((bi * h + hi) * l + r) * l;
            for (a, &d) in acc[..valid].iter_mut().zip(&ds[at..at + valid]) {
                *a += d;
            }
        }
    });
}

/// `softmax(Q Kᵀ / √d_h + bias)` with padded keys masked out: Q `[B,H,L,dh]`, K `[B,KV,L,dh]`
/// and an optional per-head bias `[H,L,L]` (shared by the batch) → P `[B,H,L,L]`.
struct AttnProbs {
    g: AttnGeom,
    scale: f32,
}

impl AttnProbs {
    fn fwd(&self, q: &[f32], k: &[f32], bias: Option<&[f32]>) -> (CpuStorage, Shape) {
        let AttnGeom { b, h, l, dh, .. } = self.g;
        let grp = self.g.group();
        let mut p = vec![0f32; b * h * l * l];
        p.par_chunks_mut(l * l).enumerate().for_each(|(bh, p)| {
            let (bi, hi) = (bh / h, bh % h);
            let valid = self.g.lens[bi];
            let qo = bh * l * dh;
            let ko = (bi * self.g.kv + hi / grp) * l * dh;
            let bias = bias.map(|b| &b[hi * l * l..(hi + 1) * l * l]);
            head_probs(
                p,
                l,
                valid,
                dh,
                &q[qo..qo + l * dh],
                (dh, 1),
                &k[ko..ko + l * dh],
                (1, dh),
                self.scale,
                bias,
            );
        });
        (CpuStorage::F32(p), Shape::from((b, h, l, l)))
    }

    /// dQ and dK (and, with a bias, Σ_batch dS as the bias gradient) from P and dP.
    fn bwd_packed(
        &self,
        q: &Tensor,
        k: &Tensor,
        p: &Tensor,
        grad: &Tensor,
        bias: bool,
    ) -> CResult<(Tensor, Tensor, Option<Tensor>)> {
        let AttnGeom {
            b, h, kv, l, dh, ..
        } = self.g;
        let qk = Tensor::cat(&[q.flatten_all()?, k.flatten_all()?], 0)?;
        let packed = qk.apply_op3_no_bwd(
            p,
            &grad.contiguous()?,
            &AttnProbsBwd {
                g: self.g.clone(),
                scale: self.scale,
                keep_ds: bias,
            },
        )?;
        let nq = b * h * l * dh;
        let nk = b * kv * l * dh;
        let dq = packed.narrow(0, 0, nq)?.reshape((b, h, l, dh))?;
        let dk = packed.narrow(0, nq, nk)?.reshape((b, kv, l, dh))?;
        let dbias = match bias {
            true => Some(packed.narrow(0, nq + nk, h * l * l)?.reshape((h, l, l))?),
            false => None,
        };
        Ok((dq, dk, dbias))
    }
}

impl CustomOp2 for AttnProbs {
    fn name(&self) -> &'static str {
        "cisformer-attn-probs"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let q = contiguous(s1, l1, "attention")?;
        let k = contiguous(s2, l2, "attention")?;
        Ok(self.fwd(q, k, None))
    }
    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        p: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>)> {
        let (dq, dk, _) = self.bwd_packed(q, k, p, grad, false)?;
        Ok((Some(dq), Some(dk)))
    }
}

/// [`AttnProbs`] with the bias as a third input.
struct AttnProbsBiased(AttnProbs);

impl CustomOp3 for AttnProbsBiased {
    fn name(&self) -> &'static str {
        "cisformer-attn-probs-biased"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let q = contiguous(s1, l1, "attention")?;
        let k = contiguous(s2, l2, "attention")?;
        let bias = contiguous(s3, l3, "attention bias")?;
        Ok(self.0.fwd(q, k, Some(bias)))
    }
    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        bias: &Tensor,
        p: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // A frozen bias (inference weights, e.g. attention × gradient scoring) needs no
        // gradient: skip keeping every head's dS.
        let (dq, dk, dbias) = self.0.bwd_packed(q, k, p, grad, bias.track_op())?;
        Ok((Some(dq), Some(dk), dbias))
    }
}

/// Backward of [`AttnProbs`]: `dS = P ⊙ (dP − rowsum(dP ⊙ P))`, `dQ = scale·dS K`,
/// `dK = scale·Σ_group dSᵀ Q`. Input 1 is Q and K concatenated (flattened). With `keep_ds`
/// the output also holds Σ_batch dS `[H,L,L]` (the gradient of a bias shared by the batch).
struct AttnProbsBwd {
    g: AttnGeom,
    scale: f32,
    keep_ds: bool,
}

impl CustomOp3 for AttnProbsBwd {
    fn name(&self) -> &'static str {
        "cisformer-attn-probs-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let qk = contiguous(s1, l1, "attention-bwd")?;
        let p = contiguous(s2, l2, "attention-bwd")?;
        let dp = contiguous(s3, l3, "attention-bwd")?;
        let AttnGeom {
            b, h, kv, l, dh, ..
        } = self.g;
        let grp = self.g.group();
        let nq = b * h * l * dh;
        let (q, k) = qk.split_at(nq);
        let nk = b * kv * l * dh;
        let (n_ds, n_bias) = match self.keep_ds {
            true => (b * h * l * l, h * l * l),
            false => (0, 0),
        };
        let mut out = vec![0f32; nq + nk + n_bias];
        let mut ds_all = vec![0f32; n_ds];
        let (dq, rest) = out.split_at_mut(nq);
        let (dk, dbias) = rest.split_at_mut(nk);
        // Without `keep_ds`, each task reuses one scratch block instead.
        let blocks: Vec<Option<&mut [f32]>> = match self.keep_ds {
            true => ds_all.chunks_mut(grp * l * l).map(Some).collect(),
            false => (0..b * kv).map(|_| None).collect(),
        };
        // One task per (sequence, K/V head): it owns that dK block and the dQ blocks of its group.
        dq.par_chunks_mut(grp * l * dh)
            .zip(dk.par_chunks_mut(l * dh))
            .zip(blocks.into_par_iter())
            .enumerate()
            .for_each(|(bk, ((dq, dk), mut kept))| {
                let bi = bk / kv;
                let valid = self.g.lens[bi];
                let kblk = &k[bk * l * dh..(bk + 1) * l * dh];
                let mut scratch = match kept {
                    Some(_) => Vec::new(),
                    None => vec![0f32; l * l],
                };
                for j in 0..grp {
                    let bh = bk * grp + j;
                    let pp = &p[bh * l * l..(bh + 1) * l * l];
                    let gp = &dp[bh * l * l..(bh + 1) * l * l];
                    let ds: &mut [f32] = match kept.as_deref_mut() {
                        Some(all) => &mut all[j * l * l..(j + 1) * l * l],
                        None => &mut scratch,
                    };
                    softmax_bwd_rows(pp, gp, ds, l, valid);
                    let ds: &[f32] = ds;
                    let qblk = &q[bh * l * dh..(bh + 1) * l * dh];
                    // dQ_h (l×dh) = scale · dS (l×valid) · K[:valid]
                    gemm_into(
                        l,
                        dh,
                        valid,
                        &mut dq[j * l * dh..(j + 1) * l * dh],
                        false,
                        ds,
                        (l, 1),
                        kblk,
                        (dh, 1),
                        self.scale,
                    );
                    // dK[:valid] (valid×dh) += scale · dSᵀ (valid×l) · Q_h
                    gemm_into(
                        valid,
                        dh,
                        l,
                        dk,
                        j > 0,
                        ds,
                        (1, l),
                        qblk,
                        (dh, 1),
                        self.scale,
                    );
                }
            });
        sum_bias_grad(dbias, &ds_all, &self.g);
        let n = out.len();
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }
}

/// Attention probabilities `[B,H,L,L]` of Q `[B,H,L,dh]` and K `[B,KV,L,dh]` (contiguous),
/// with keys at or past each sequence's length masked to zero. `bias` `[H,L,L]`, when given,
/// is added to every sequence's scores before the softmax (and receives their gradient).
pub fn attention_probs(
    q: &Tensor,
    k: &Tensor,
    bias: Option<&Tensor>,
    g: &AttnGeom,
) -> CResult<Tensor> {
    if portable::active(q) {
        return portable::attention_probs(q, k, bias, g);
    }
    let op = AttnProbs {
        g: g.clone(),
        scale: 1.0 / (g.dh as f32).sqrt(),
    };
    let (q, k) = (q.contiguous()?, k.contiguous()?);
    match bias {
        Some(bias) => q.apply_op3(&k, &bias.contiguous()?, AttnProbsBiased(op)),
        None => q.apply_op2(&k, op),
    }
}

/// `O = P V` per head: P `[B,H,L,L]`, V `[B,KV,L,dh]` → O `[B,H,L,dh]`.
struct AttnApply {
    g: AttnGeom,
}

impl CustomOp2 for AttnApply {
    fn name(&self) -> &'static str {
        "cisformer-attn-apply"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let p = contiguous(s1, l1, "attention-apply")?;
        let v = contiguous(s2, l2, "attention-apply")?;
        let AttnGeom {
            b, h, kv, l, dh, ..
        } = self.g;
        let grp = self.g.group();
        let mut o = vec![0f32; b * h * l * dh];
        o.par_chunks_mut(l * dh).enumerate().for_each(|(bh, o)| {
            let (bi, hi) = (bh / h, bh % h);
            let valid = self.g.lens[bi];
            let vo = (bi * kv + hi / grp) * l * dh;
            gemm_into(
                l,
                dh,
                valid,
                o,
                false,
                &p[bh * l * l..(bh + 1) * l * l],
                (l, 1),
                &v[vo..vo + l * dh],
                (dh, 1),
                1.0,
            );
        });
        Ok((CpuStorage::F32(o), Shape::from((b, h, l, dh))))
    }
    fn bwd(
        &self,
        p: &Tensor,
        v: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>)> {
        let AttnGeom {
            b, h, kv, l, dh, ..
        } = self.g;
        let pv = Tensor::cat(&[p.flatten_all()?, v.flatten_all()?], 0)?;
        let packed =
            pv.apply_op2_no_bwd(&grad.contiguous()?, &AttnApplyBwd { g: self.g.clone() })?;
        let np = b * h * l * l;
        let dp = packed.narrow(0, 0, np)?.reshape((b, h, l, l))?;
        let dv = packed
            .narrow(0, np, b * kv * l * dh)?
            .reshape((b, kv, l, dh))?;
        Ok((Some(dp), Some(dv)))
    }
}

/// Backward of [`AttnApply`]: `dP = dO Vᵀ`, `dV = Σ_group Pᵀ dO` (only real keys get P mass).
struct AttnApplyBwd {
    g: AttnGeom,
}

impl CustomOp2 for AttnApplyBwd {
    fn name(&self) -> &'static str {
        "cisformer-attn-apply-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let pv = contiguous(s1, l1, "attention-apply-bwd")?;
        let dout = contiguous(s2, l2, "attention-apply-bwd")?;
        let AttnGeom {
            b, h, kv, l, dh, ..
        } = self.g;
        let grp = self.g.group();
        let np = b * h * l * l;
        let (p, v) = pv.split_at(np);
        let mut out = vec![0f32; np + b * kv * l * dh];
        let (dp, dv) = out.split_at_mut(np);
        dp.par_chunks_mut(grp * l * l)
            .zip(dv.par_chunks_mut(l * dh))
            .enumerate()
            .for_each(|(bk, (dp, dv))| {
                let valid = self.g.lens[bk / kv];
                let vblk = &v[bk * l * dh..(bk + 1) * l * dh];
                for j in 0..grp {
                    let bh = bk * grp + j;
                    let go = &dout[bh * l * dh..(bh + 1) * l * dh];
                    // dP = dO · Vᵀ (all keys: exact even where P is masked to zero)
                    let dpb = &mut dp[j * l * l..(j + 1) * l * l];
                    gemm_into(l, l, dh, dpb, false, go, (dh, 1), vblk, (1, dh), 1.0);
                    // dV[:valid] += P[:, :valid]ᵀ · dO
                    gemm_into(
                        valid,
                        dh,
                        l,
                        dv,
                        j > 0,
                        &p[bh * l * l..(bh + 1) * l * l],
                        (1, l),
                        go,
                        (dh, 1),
                        1.0,
                    );
                }
            });
        let n = out.len();
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }
}

/// Per-head `P V` (see [`AttnApply`]); P and V are made contiguous first.
pub fn attention_apply(p: &Tensor, v: &Tensor, g: &AttnGeom) -> CResult<Tensor> {
    if portable::active(p) {
        return portable::attention_apply(p, v, g);
    }
    p.contiguous()?
        .apply_op2(&v.contiguous()?, AttnApply { g: g.clone() })
}

/// Spare `[B,H,L,L]`-sized buffers: the probabilities a training step keeps for its backward
/// come back here when the step's graph is dropped, and the next step overwrites them instead
/// of zero-filling fresh memory (with freed memory kept in the process, every fresh buffer
/// is a recycled one that `calloc` must clear).
static SPARE: std::sync::Mutex<Vec<Vec<f32>>> = std::sync::Mutex::new(Vec::new());

/// A buffer of `n` floats whose contents are arbitrary (callers overwrite what they read).
fn take_spare(n: usize) -> Vec<f32> {
    let mut spare = SPARE.lock().expect("spare buffers lock");
    match spare.iter().position(|v| v.capacity() >= n) {
        Some(i) => {
            let mut v = spare.swap_remove(i);
            v.truncate(n);
            v.resize(n, 0.0);
            v
        }
        None => vec![0f32; n],
    }
}

/// Returns a buffer for [`take_spare`]; a few are kept, one per layer of a deep model.
fn give_spare(v: Vec<f32>) {
    let mut spare = SPARE.lock().expect("spare buffers lock");
    if spare.len() < 16 && v.capacity() > 0 {
        spare.push(v);
    }
}

/// Returns what an op kept for its backward to the spare buffers, when the op is dropped.
fn give_saved(saved: &mut std::sync::Mutex<Vec<f32>>) {
    if let Ok(v) = saved.get_mut() {
        give_spare(std::mem::take(v));
    }
}

/// Whole self-attention on one fused Q/K/V projection: `qkv` `[B·L, (H + 2·KV)·dh]`
/// token-major (queries, then keys, then values, as one linear layer writes them) and an
/// optional bias `[H,L,L]` → head outputs token-major `[B·L, H·dh]`, ready for W_O.
///
/// Training and plain inference need neither P as a tensor nor head-major copies: the
/// separate ops cost a split copy per projection and a merge copy, and made candle zero-fill
/// and accumulate `[B,H,L,L]` gradients. Here P stays inside the op for the backward (only
/// when a gradient can be asked for) and the backward writes dQ, dK and dV straight into one
/// `[B·L, (H + 2·KV)·dh]` gradient.
struct FusedAttn {
    g: AttnGeom,
    scale: f32,
    /// Keep P for the backward (the inputs track gradients).
    keep: bool,
    probs: std::sync::Mutex<Vec<f32>>,
}

impl FusedAttn {
    fn width(&self) -> usize {
        (self.g.h + 2 * self.g.kv) * self.g.dh
    }

    /// Column offsets of query head `hi`, and of its key and value heads, within a row.
    fn cols(&self, hi: usize) -> (usize, usize, usize) {
        let AttnGeom { h, kv, dh, .. } = self.g;
        let kh = hi / self.g.group();
        (hi * dh, (h + kh) * dh, (h + kv + kh) * dh)
    }

    fn fwd(&self, qkv: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let AttnGeom { b, h, l, dh, .. } = self.g;
        let (w, od) = (self.width(), h * dh);
        let mut o = vec![0f32; b * l * od];
        // One task per sequence: it owns that sequence's output rows and P blocks (all heads
        // when P is kept, else one reused block).
        let step = if self.keep { l * l } else { 0 };
        let head = |bi: usize, o: &mut [f32], p: &mut [f32]| {
            let valid = self.g.lens[bi];
            let x = &qkv[bi * l * w..(bi + 1) * l * w];
            for hi in 0..h {
                let (qc, kc, vc) = self.cols(hi);
                let p = &mut p[hi * step..hi * step + l * l];
                let head_bias = bias.map(|b| &b[hi * l * l..(hi + 1) * l * l]);
                head_probs(
                    p,
                    l,
                    valid,
                    dh,
                    &x[qc..],
                    (w, 1),
                    &x[kc..],
                    (1, w),
                    self.scale,
                    head_bias,
                );
                // O_h = P[:, :valid] · V[:valid], into this head's columns
                gemm_raw(
                    l,
                    dh,
                    valid,
                    &mut o[hi * dh..],
                    od,
                    false,
                    p,
                    (l, 1),
                    &x[vc..],
                    (w, 1),
                    1.0,
                    gemm::Parallelism::None,
                );
            }
        };
        if self.keep {
            // Every element is written: scores of real keys, zeros past them.
            let mut p = take_spare(b * h * l * l);
            o.par_chunks_mut(l * od)
                .zip(p.par_chunks_mut(h * l * l))
                .enumerate()
                .for_each(|(bi, (o, p))| head(bi, o, p));
            *self.probs.lock().expect("attention probabilities lock") = p;
        } else {
            o.par_chunks_mut(l * od)
                .enumerate()
                .for_each_init(|| vec![0f32; l * l], |p, (bi, o)| head(bi, o, p));
        }
        o
    }
}

impl Drop for FusedAttn {
    fn drop(&mut self) {
        give_saved(&mut self.probs);
    }
}

impl CustomOp1 for FusedAttn {
    fn name(&self) -> &'static str {
        "cisformer-fused-attention"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let qkv = contiguous(s, l, "attention")?;
        let o = self.fwd(qkv, None);
        Ok((CpuStorage::F32(o), self.out_shape()))
    }
    fn bwd(&self, qkv: &Tensor, _res: &Tensor, grad: &Tensor) -> CResult<Option<Tensor>> {
        let (dqkv, _) = self.bwd_tensors(qkv, grad, false)?;
        Ok(Some(dqkv))
    }
}

/// [`FusedAttn`] with the bias as a second input.
struct FusedAttnBiased(FusedAttn);

impl CustomOp2 for FusedAttnBiased {
    fn name(&self) -> &'static str {
        "cisformer-fused-attention-biased"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let qkv = contiguous(s1, l1, "attention")?;
        let bias = contiguous(s2, l2, "attention bias")?;
        let o = self.0.fwd(qkv, Some(bias));
        Ok((CpuStorage::F32(o), self.0.out_shape()))
    }
    fn bwd(
        &self,
        qkv: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>)> {
        let (dqkv, dbias) = self.0.bwd_tensors(qkv, grad, bias.track_op())?;
        Ok((Some(dqkv), dbias))
    }
}

impl FusedAttn {
    fn out_shape(&self) -> Shape {
        Shape::from((self.g.b * self.g.l, self.g.h * self.g.dh))
    }

    /// dQKV `[B·L, width]` and, with `bias`, Σ_batch dS `[H,L,L]`.
    fn bwd_tensors(
        &self,
        qkv: &Tensor,
        grad: &Tensor,
        bias: bool,
    ) -> CResult<(Tensor, Option<Tensor>)> {
        if !self.keep {
            candle_core::bail!("attention: backward through an op that kept no probabilities");
        }
        let AttnGeom { b, h, l, .. } = self.g;
        let n = b * l * self.width();
        let packed = qkv.apply_op2_no_bwd(
            &grad.contiguous()?,
            &FusedAttnBwd {
                fwd: self,
                keep_ds: bias,
            },
        )?;
        let dqkv = packed.narrow(0, 0, n)?.reshape((b * l, self.width()))?;
        let dbias = match bias {
            true => Some(packed.narrow(0, n, h * l * l)?.reshape((h, l, l))?),
            false => None,
        };
        Ok((dqkv, dbias))
    }
}

/// Backward of [`FusedAttn`] on (qkv, dO): per sequence and head `dP = dO Vᵀ`,
/// `dV += Pᵀ dO`, `dS = P ⊙ (dP − rowsum(dP ⊙ P))`, `dQ = scale·dS K`, `dK += scale·dSᵀ Q`
/// (over real keys only), packed as dQKV then, with `keep_ds`, Σ_batch dS.
struct FusedAttnBwd<'a> {
    fwd: &'a FusedAttn,
    keep_ds: bool,
}

impl CustomOp2 for FusedAttnBwd<'_> {
    fn name(&self) -> &'static str {
        "cisformer-fused-attention-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let qkv = contiguous(s1, l1, "attention-bwd")?;
        let dout = contiguous(s2, l2, "attention-bwd")?;
        let out = self.fwd.bwd_slices(qkv, dout, self.keep_ds);
        let n = out.len();
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }
}

impl FusedAttn {
    /// The backward on slices: dQKV then, with `keep_ds`, Σ_batch dS (see [`FusedAttnBwd`]).
    fn bwd_slices(&self, qkv: &[f32], dout: &[f32], keep_ds: bool) -> Vec<f32> {
        let f = self;
        let AttnGeom { b, h, l, dh, .. } = f.g;
        let (w, od) = (f.width(), h * dh);
        let probs = f.probs.lock().expect("attention probabilities lock");
        let n_bias = if keep_ds { h * l * l } else { 0 };
        let mut out = vec![0f32; b * l * w + n_bias];
        // Only the columns of real keys are written, and only those are summed below.
        let mut ds_all = match keep_ds {
            true => take_spare(b * h * l * l),
            false => Vec::new(),
        };
        let (dqkv, dbias) = out.split_at_mut(b * l * w);
        let ds_step = if keep_ds { l * l } else { 0 };
        let seq = |bi: usize, dx: &mut [f32], ds_blk: &mut [f32], scratch: &mut Vec<f32>| {
            let valid = f.g.lens[bi];
            let x = &qkv[bi * l * w..(bi + 1) * l * w];
            let go_all = &dout[bi * l * od..(bi + 1) * l * od];
            let p_all = &probs[bi * h * l * l..(bi + 1) * h * l * l];
            scratch.resize(2 * l * l, 0.0);
            let (dp, ds_tmp) = scratch.split_at_mut(l * l);
            for hi in 0..h {
                let (qc, kc, vc) = f.cols(hi);
                // The first head of a K/V group writes dK and dV, the others add to them.
                let first = hi % f.g.group() == 0;
                let p = &p_all[hi * l * l..(hi + 1) * l * l];
                let go = &go_all[hi * dh..];
                // dP[:, :valid] = dO · V[:valid]ᵀ
                gemm_raw(
                    l,
                    valid,
                    dh,
                    dp,
                    l,
                    false,
                    go,
                    (od, 1),
                    &x[vc..],
                    (1, w),
                    1.0,
                    gemm::Parallelism::None,
                );
                // dV[:valid] (+)= P[:, :valid]ᵀ · dO
                gemm_raw(
                    valid,
                    dh,
                    l,
                    &mut dx[vc..],
                    w,
                    !first,
                    p,
                    (1, l),
                    go,
                    (od, 1),
                    1.0,
                    gemm::Parallelism::None,
                );
                let ds: &mut [f32] = match ds_step {
                    0 => &mut ds_tmp[..],
                    s => &mut ds_blk[hi * s..(hi + 1) * s],
                };
                softmax_bwd_rows(p, dp, ds, l, valid);
                let ds: &[f32] = ds;
                // dQ_h = scale · dS[:, :valid] · K[:valid]
                gemm_raw(
                    l,
                    dh,
                    valid,
                    &mut dx[qc..],
                    w,
                    false,
                    ds,
                    (l, 1),
                    &x[kc..],
                    (w, 1),
                    f.scale,
                    gemm::Parallelism::None,
                );
                // dK[:valid] (+)= scale · dS[:, :valid]ᵀ · Q_h
                gemm_raw(
                    valid,
                    dh,
                    l,
                    &mut dx[kc..],
                    w,
                    !first,
                    ds,
                    (1, l),
                    &x[qc..],
                    (w, 1),
                    f.scale,
                    gemm::Parallelism::None,
                );
            }
        };
        if keep_ds {
            dqkv.par_chunks_mut(l * w)
                .zip(ds_all.par_chunks_mut(h * l * l))
                .enumerate()
                .for_each_init(Vec::new, |s, (bi, (dx, ds))| seq(bi, dx, ds, s));
        } else {
            dqkv.par_chunks_mut(l * w)
                .enumerate()
                .for_each_init(Vec::new, |s, (bi, dx)| seq(bi, dx, &mut [], s));
        }
        sum_bias_grad(dbias, &ds_all, &f.g);
        give_spare(ds_all);
        out
    }
}

/// Self-attention through [`FusedAttn`]: `qkv` `[B·L, (H + 2·KV)·dh]` (one projection
/// whose columns hold every query head, then every key head, then every value head) and an
/// optional bias `[H,L,L]` shared by the batch → head outputs `[B·L, H·dh]`, token-major.
/// P is kept for a backward only when `qkv` or the bias tracks gradients.
pub fn attention_fused(qkv: &Tensor, bias: Option<&Tensor>, g: &AttnGeom) -> CResult<Tensor> {
    let keep = qkv.track_op() || bias.is_some_and(|b| b.track_op());
    let op = FusedAttn {
        g: g.clone(),
        scale: 1.0 / (g.dh as f32).sqrt(),
        keep,
        probs: Default::default(),
    };
    let width = op.width();
    if qkv.dims() != [g.b * g.l, width] {
        candle_core::bail!(
            "attention: qkv is {:?}, expected [{}, {width}]",
            qkv.dims(),
            g.b * g.l
        );
    }
    if portable::active(qkv) {
        return portable::attention_fused(qkv, bias, g);
    }
    let qkv = qkv.contiguous()?;
    match bias {
        Some(bias) => qkv.apply_op2(&bias.contiguous()?, FusedAttnBiased(op)),
        None => qkv.apply_op1(op),
    }
}

/// The pre-LN feed-forward block with its residual, `x + W₂·gelu(W₁·LN(x) + b₁) + b₂`, as one
/// op on `x` `[N, d]` and the block's parameters packed flat (`ln.w`, `ln.b`, `W₁` `[f, d]`,
/// `b₁`, `W₂` `[d, f]`, `b₂`). The separate ops left four `[N, d]`/`[N, f]` activations in the
/// autograd graph, each of whose gradients candle zero-fills and accumulates; here they stay
/// inside the op (kept for the backward only when a gradient can be asked for).
struct FfnBlock {
    d: usize,
    f: usize,
    eps: f32,
    keep: bool,
    /// LN(x) `[N, d]`, the pre-activation `[N, f]` and its GELU `[N, f]`, back to back.
    saved: std::sync::Mutex<Vec<f32>>,
}

/// Splits `v` into consecutive pieces of the given lengths.
fn split_lens<'a, T>(mut v: &'a mut [T], lens: &[usize]) -> Vec<&'a mut [T]> {
    lens.iter()
        .map(|&n| {
            let (a, rest) = std::mem::take(&mut v).split_at_mut(n);
            v = rest;
            a
        })
        .collect()
}

impl FfnBlock {
    fn lens(&self) -> [usize; 6] {
        let (d, f) = (self.d, self.f);
        [d, d, f * d, f, d * f, d]
    }

    fn fwd(&self, x: &[f32], p: &[f32]) -> Vec<f32> {
        let (d, f) = (self.d, self.f);
        let n = x.len() / d;
        let [ln_w, ln_b, w1, b1, w2, b2] = split_ref(p, &self.lens());
        let mut saved = take_spare(n * (d + 2 * f));
        let (h, rest) = saved.split_at_mut(n * d);
        let (a, g) = rest.split_at_mut(n * f);
        layer_norm_rows(x, ln_w, ln_b, h, self.eps);
        // a = h W₁ᵀ + b₁ (the bias as the GEMM's starting value)
        fill_rows(a, b1);
        gemm_with(n, f, d, a, true, h, (d, 1), w1, (1, d), 1.0, pool_par());
        g.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK))
            .for_each(|(g, a)| gelu_slice(a, g));
        // y = x + (g W₂ᵀ + b₂), summed in the order of the separate ops (the same bits)
        let mut y = bias_rows(b2, n);
        gemm_with(
            n,
            d,
            f,
            &mut y,
            true,
            g,
            (f, 1),
            w2,
            (1, f),
            1.0,
            pool_par(),
        );
        add_into(&mut y, x);
        match self.keep {
            true => *self.saved.lock().expect("saved activations lock") = saved,
            false => give_spare(saved),
        }
        y
    }
}

impl Drop for FfnBlock {
    fn drop(&mut self) {
        give_saved(&mut self.saved);
    }
}

impl CustomOp2 for FfnBlock {
    fn name(&self) -> &'static str {
        "cisformer-ffn-block"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "feed-forward")?;
        let p = contiguous(s2, l2, "feed-forward")?;
        Ok((CpuStorage::F32(self.fwd(x, p)), l1.shape().clone()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        p: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>)> {
        if !self.keep {
            candle_core::bail!("feed-forward: backward through an op that kept no activations");
        }
        let n = x.elem_count();
        let packed = x.apply_op3_no_bwd(p, &grad.contiguous()?, &FfnBlockBwd(self))?;
        let dx = packed.narrow(0, 0, n)?.reshape(x.shape())?;
        let dp = packed.narrow(0, n, p.elem_count())?;
        Ok((Some(dx), p.track_op().then_some(dp)))
    }
}

/// Backward of [`FfnBlock`] on (x, packed parameters, dY): dX then the parameters' gradient.
struct FfnBlockBwd<'a>(&'a FfnBlock);

impl CustomOp3 for FfnBlockBwd<'_> {
    fn name(&self) -> &'static str {
        "cisformer-ffn-block-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "feed-forward-bwd")?;
        let p = contiguous(s2, l2, "feed-forward-bwd")?;
        let dy = contiguous(s3, l3, "feed-forward-bwd")?;
        let blk = self.0;
        let (d, f) = (blk.d, blk.f);
        let n = x.len() / d;
        let [ln_w, _, w1, _, w2, _] = split_ref(p, &blk.lens());
        let saved = blk.saved.lock().expect("saved activations lock");
        let (h, rest) = saved.split_at(n * d);
        let (a, g) = rest.split_at(n * f);
        let mut out = vec![0f32; n * d + p.len()];
        let (dx, dp) = out.split_at_mut(n * d);
        let (dln, dp) = dp.split_at_mut(2 * d);
        let parts = split_lens(dp, &blk.lens()[2..]);
        let [dw1, db1, dw2, db2] = <[&mut [f32]; 4]>::try_from(parts).expect("four parts");
        // dW₂ = dYᵀ g, db₂ = Σ dY
        gemm_with(d, f, n, dw2, false, dy, (1, d), g, (f, 1), 1.0, pool_par());
        add_rows(db2, dy);
        // dA = (dY W₂) ⊙ gelu′(a)
        let mut dg = take_spare(n * f);
        gemm_with(
            n,
            f,
            d,
            &mut dg,
            false,
            dy,
            (d, 1),
            w2,
            (f, 1),
            1.0,
            pool_par(),
        );
        let mut da = take_spare(n * f);
        da.par_chunks_mut(CHUNK)
            .zip(a.par_chunks(CHUNK).zip(dg.par_chunks(CHUNK)))
            .for_each(|(da, (a, dg))| gelu_bwd_slice(a, dg, da));
        give_spare(dg);
        // dW₁ = dAᵀ h, db₁ = Σ dA, dH = dA W₁
        gemm_with(f, d, n, dw1, false, &da, (1, f), h, (d, 1), 1.0, pool_par());
        add_rows(db1, &da);
        let mut dh = take_spare(n * d);
        gemm_with(
            n,
            d,
            f,
            &mut dh,
            false,
            &da,
            (f, 1),
            w1,
            (d, 1),
            1.0,
            pool_par(),
        );
        give_spare(da);
        // Through the norm (dLN.w and dLN.b sit side by side), then the residual:
        // dX = LN′(dH) + dY.
        layer_norm_bwd_rows(x, ln_w, &dh, dx, dln, blk.eps);
        give_spare(dh);
        add_into(dx, dy);
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }
}

/// `x + W₂·gelu(W₁·LN(x) + b₁) + b₂` for `x` `[N, d]` (see [`FfnBlock`]); `params` packs
/// `ln.w`, `ln.b`, `W₁` `[f, d]`, `b₁`, `W₂` `[d, f]` and `b₂`, flattened, in that order.
pub fn ffn_block(x: &Tensor, params: &Tensor, f: usize, eps: f32) -> CResult<Tensor> {
    let d = x.dim(candle_core::D::Minus1)?;
    if portable::active(x) {
        return portable::ffn_block(x, params, f, eps);
    }
    let op = FfnBlock {
        d,
        f,
        eps,
        keep: x.track_op() || params.track_op(),
        saved: Default::default(),
    };
    let want: usize = op.lens().iter().sum();
    if params.dims() != [want] {
        candle_core::bail!(
            "feed-forward: parameters are {:?}, expected [{want}]",
            params.dims()
        );
    }
    x.contiguous()?.apply_op2(&params.contiguous()?, op)
}

/// The pre-LN attention block with its residual, `x + W_O·attn(W_QKV·LN(x) + b_QKV) + b_O`, as
/// one op on `x` `[N, d]`, the block's parameters packed flat (`ln.w`, `ln.b`, `W_QKV`
/// `[(H + 2·KV)·dh, d]`, `b_QKV`, `W_O` `[d, H·dh]`, `b_O`) and an optional bias `[H,L,L]`.
/// Like [`FfnBlock`], it keeps the norm, projection and head outputs inside the op instead
/// of as autograd nodes; the attention itself is [`FusedAttn`].
struct AttnBlock {
    attn: FusedAttn,
    d: usize,
    eps: f32,
    /// LN(x) `[N, d]`, QKV `[N, width]` and the head outputs `[N, H·dh]`, back to back.
    saved: std::sync::Mutex<Vec<f32>>,
}

impl AttnBlock {
    fn lens(&self) -> [usize; 6] {
        let (d, w, od) = (self.d, self.attn.width(), self.attn.g.h * self.attn.g.dh);
        [d, d, w * d, w, d * od, d]
    }

    fn fwd(&self, x: &[f32], p: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let (d, w, od) = (self.d, self.attn.width(), self.attn.g.h * self.attn.g.dh);
        let n = x.len() / d;
        let [ln_w, ln_b, wqkv, bqkv, wo, bo] = split_ref(p, &self.lens());
        let mut saved = take_spare(n * (d + w));
        let (h, qkv) = saved.split_at_mut(n * d);
        layer_norm_rows(x, ln_w, ln_b, h, self.eps);
        fill_rows(qkv, bqkv);
        gemm_with(n, w, d, qkv, true, h, (d, 1), wqkv, (1, d), 1.0, pool_par());
        let o = self.attn.fwd(qkv, bias);
        // y = x + (O W_Oᵀ + b_O), summed in the order of the separate ops (the same bits)
        let mut y = bias_rows(bo, n);
        gemm_with(
            n,
            d,
            od,
            &mut y,
            true,
            &o,
            (od, 1),
            wo,
            (1, od),
            1.0,
            pool_par(),
        );
        add_into(&mut y, x);
        match self.attn.keep {
            true => {
                saved.extend_from_slice(&o);
                *self.saved.lock().expect("saved activations lock") = saved;
            }
            false => give_spare(saved),
        }
        y
    }

    /// dX, the parameters' gradient and (with `keep_ds`) the bias gradient, packed.
    fn bwd(&self, x: &[f32], p: &[f32], dy: &[f32], keep_ds: bool) -> Vec<f32> {
        let (d, w, od) = (self.d, self.attn.width(), self.attn.g.h * self.attn.g.dh);
        let n = x.len() / d;
        let [ln_w, _, wqkv, _, wo, _] = split_ref(p, &self.lens());
        let saved = self.saved.lock().expect("saved activations lock");
        let (h, rest) = saved.split_at(n * d);
        let (qkv, o) = rest.split_at(n * w);
        let mut out = vec![0f32; n * d + p.len()];
        let (dx, dp) = out.split_at_mut(n * d);
        let (dln, dp) = dp.split_at_mut(2 * d);
        let parts = split_lens(dp, &self.lens()[2..]);
        let [dwqkv, dbqkv, dwo, dbo] = <[&mut [f32]; 4]>::try_from(parts).expect("four parts");
        // dW_O = dYᵀ O, db_O = Σ dY, dO = dY W_O
        gemm_with(
            d,
            od,
            n,
            dwo,
            false,
            dy,
            (1, d),
            o,
            (od, 1),
            1.0,
            pool_par(),
        );
        add_rows(dbo, dy);
        let mut d_o = take_spare(n * od);
        gemm_with(
            n,
            od,
            d,
            &mut d_o,
            false,
            dy,
            (d, 1),
            wo,
            (od, 1),
            1.0,
            pool_par(),
        );
        let mut attn = self.attn.bwd_slices(qkv, &d_o, keep_ds);
        give_spare(d_o);
        let dqkv = &attn[..n * w];
        // dW_QKV = dQKVᵀ LN(x), db_QKV = Σ dQKV, dH = dQKV W_QKV
        gemm_with(
            w,
            d,
            n,
            dwqkv,
            false,
            dqkv,
            (1, w),
            h,
            (d, 1),
            1.0,
            pool_par(),
        );
        add_rows(dbqkv, dqkv);
        let mut dh = take_spare(n * d);
        gemm_with(
            n,
            d,
            w,
            &mut dh,
            false,
            dqkv,
            (w, 1),
            wqkv,
            (d, 1),
            1.0,
            pool_par(),
        );
        layer_norm_bwd_rows(x, ln_w, &dh, dx, dln, self.eps);
        give_spare(dh);
        add_into(dx, dy);
        out.extend_from_slice(&attn.split_off(n * w));
        out
    }

    fn bwd_tensors(
        &self,
        x: &Tensor,
        p: &Tensor,
        grad: &Tensor,
        bias: bool,
    ) -> CResult<(Tensor, Option<Tensor>, Option<Tensor>)> {
        if !self.attn.keep {
            candle_core::bail!("attention: backward through an op that kept no activations");
        }
        let (n, np) = (x.elem_count(), p.elem_count());
        let packed = x.apply_op3_no_bwd(
            p,
            &grad.contiguous()?,
            &AttnBlockBwd {
                blk: self,
                keep_ds: bias,
            },
        )?;
        let dx = packed.narrow(0, 0, n)?.reshape(x.shape())?;
        let dp = p.track_op().then(|| packed.narrow(0, n, np)).transpose()?;
        let AttnGeom { h, l, .. } = self.attn.g;
        let dbias = match bias {
            true => Some(packed.narrow(0, n + np, h * l * l)?.reshape((h, l, l))?),
            false => None,
        };
        Ok((dx, dp, dbias))
    }
}

/// `n` copies of the row `b`, each element written once (never zero-filled first).
fn bias_rows(b: &[f32], n: usize) -> Vec<f32> {
    let mut y = Vec::with_capacity(n * b.len());
    for _ in 0..n {
        y.extend_from_slice(b);
    }
    y
}

/// Overwrites every `b.len()`-wide row of `y` with `b`, in parallel (a recycled buffer's
/// counterpart of [`bias_rows`]).
fn fill_rows(y: &mut [f32], b: &[f32]) {
    let d = b.len();
    y.par_chunks_mut(d * 64)
        .for_each(|c| c.chunks_mut(d).for_each(|r| r.copy_from_slice(b)));
}

/// `y += x` elementwise, in parallel.
fn add_into(y: &mut [f32], x: &[f32]) {
    y.par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| add_rows(y, x));
}

/// Splits `v` into six consecutive pieces of the given lengths.
fn split_ref<'a>(v: &'a [f32], lens: &[usize; 6]) -> [&'a [f32]; 6] {
    let mut at = 0;
    lens.map(|n| {
        at += n;
        &v[at - n..at]
    })
}

impl Drop for AttnBlock {
    fn drop(&mut self) {
        give_saved(&mut self.saved);
    }
}

/// Backward of [`AttnBlock`] on (x, packed parameters, dY).
struct AttnBlockBwd<'a> {
    blk: &'a AttnBlock,
    keep_ds: bool,
}

impl CustomOp3 for AttnBlockBwd<'_> {
    fn name(&self) -> &'static str {
        "cisformer-attention-block-bwd"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "attention-block-bwd")?;
        let p = contiguous(s2, l2, "attention-block-bwd")?;
        let dy = contiguous(s3, l3, "attention-block-bwd")?;
        let out = self.blk.bwd(x, p, dy, self.keep_ds);
        let n = out.len();
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }
}

impl CustomOp2 for AttnBlock {
    fn name(&self) -> &'static str {
        "cisformer-attention-block"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "attention-block")?;
        let p = contiguous(s2, l2, "attention-block")?;
        Ok((CpuStorage::F32(self.fwd(x, p, None)), l1.shape().clone()))
    }
    fn bwd(
        &self,
        x: &Tensor,
        p: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>)> {
        let (dx, dp, _) = self.bwd_tensors(x, p, grad, false)?;
        Ok((Some(dx), dp))
    }
}

/// [`AttnBlock`] with the bias as a third input.
struct AttnBlockBiased(AttnBlock);

impl CustomOp3 for AttnBlockBiased {
    fn name(&self) -> &'static str {
        "cisformer-attention-block-biased"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "attention-block")?;
        let p = contiguous(s2, l2, "attention-block")?;
        let bias = contiguous(s3, l3, "attention bias")?;
        Ok((
            CpuStorage::F32(self.0.fwd(x, p, Some(bias))),
            l1.shape().clone(),
        ))
    }
    fn bwd(
        &self,
        x: &Tensor,
        p: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (dx, dp, dbias) = self.0.bwd_tensors(x, p, grad, bias.track_op())?;
        Ok((Some(dx), dp, dbias))
    }
}

/// `x + W_O·attn(W_QKV·LN(x) + b_QKV) + b_O` for `x` `[B·L, d]` (see [`AttnBlock`]);
/// `params` packs `ln.w`, `ln.b`, `W_QKV`, `b_QKV`, `W_O` and `b_O`, flattened, in that
/// order, and `bias` `[H,L,L]` is added to every sequence's scores.
pub fn attn_block(
    x: &Tensor,
    params: &Tensor,
    bias: Option<&Tensor>,
    g: &AttnGeom,
    eps: f32,
) -> CResult<Tensor> {
    let d = x.dim(candle_core::D::Minus1)?;
    let keep = x.track_op() || params.track_op() || bias.is_some_and(|b| b.track_op());
    let blk = AttnBlock {
        attn: FusedAttn {
            g: g.clone(),
            scale: 1.0 / (g.dh as f32).sqrt(),
            keep,
            probs: Default::default(),
        },
        d,
        eps,
        saved: Default::default(),
    };
    let want: usize = blk.lens().iter().sum();
    if params.dims() != [want] || x.dims() != [g.b * g.l, d] {
        candle_core::bail!(
            "attention block: x {:?} and parameters {:?}, expected [{}, {d}] and [{want}]",
            x.dims(),
            params.dims(),
            g.b * g.l
        );
    }
    if portable::active(x) {
        return portable::attn_block(x, params, bias, g, eps);
    }
    let (x, params) = (x.contiguous()?, params.contiguous()?);
    match bias {
        Some(bias) => x.apply_op3(&params, &bias.contiguous()?, AttnBlockBiased(blk)),
        None => x.apply_op2(&params, blk),
    }
}

/// Sliding windows of `kernel` rows of each sequence, zero beyond its ends: `[B·L, d]` →
/// `[B·L, kernel·d]`, row `(b, t)` holding rows `t − kernel/2 ..` side by side. The conv
/// stem is then one GEMM; this op's backward is the matching fold (a sum of shifted rows),
/// where building it from narrow + cat made candle allocate one full-size zero tensor per
/// shift and dominated the training step.
struct Unfold {
    b: usize,
    l: usize,
    kernel: usize,
}

impl Unfold {
    /// Source row of window slot `j` for position `t`, when inside the sequence.
    fn source(&self, t: usize, j: usize) -> Option<usize> {
        (t + j).checked_sub(self.kernel / 2).filter(|&s| s < self.l)
    }
}

impl CustomOp1 for Unfold {
    fn name(&self) -> &'static str {
        "cisformer-unfold"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let x = contiguous(s, l, "unfold")?;
        let (n, d) = l.shape().dims2()?;
        if n != self.b * self.l {
            candle_core::bail!("unfold: {n} rows for {} × {}", self.b, self.l);
        }
        let k = self.kernel;
        let mut y = vec![0f32; n * k * d];
        y.par_chunks_mut(k * d).enumerate().for_each(|(row, out)| {
            let (bi, t) = (row / self.l, row % self.l);
            for (j, slot) in out.chunks_mut(d).enumerate() {
                if let Some(s) = self.source(t, j) {
                    let src = (bi * self.l + s) * d;
                    slot.copy_from_slice(&x[src..src + d]);
                }
            }
        });
        Ok((CpuStorage::F32(y), Shape::from((n, k * d))))
    }
    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> CResult<Option<Tensor>> {
        let fold = Fold {
            l: self.l,
            kernel: self.kernel,
        };
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&fold)?))
    }
}

/// The adjoint of [`Unfold`]: each source row gathers the window slots that copied it.
struct Fold {
    l: usize,
    kernel: usize,
}

impl CustomOp1 for Fold {
    fn name(&self) -> &'static str {
        "cisformer-fold"
    }
    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let g = contiguous(s, l, "fold")?;
        let (n, kd) = l.shape().dims2()?;
        let k = self.kernel;
        let d = kd / k;
        let half = k / 2;
        let mut dx = vec![0f32; n * d];
        dx.par_chunks_mut(d).enumerate().for_each(|(row, acc)| {
            let (bi, s) = (row / self.l, row % self.l);
            // Slot j of position t reads row t + j − half, so row s is slot j of t = s + half − j.
            for j in 0..k {
                let Some(t) = (s + half).checked_sub(j).filter(|&t| t < self.l) else {
                    continue;
                };
                let src = (bi * self.l + t) * kd + j * d;
                for (a, v) in acc.iter_mut().zip(&g[src..src + d]) {
                    *a += v;
                }
            }
        });
        Ok((CpuStorage::F32(dx), Shape::from((n, d))))
    }
}

/// `y[r] = Σ_j table[idx[r·K + j]]`: a convolution over token embeddings written as a sum of
/// per-offset rows of a `[K·V + 1, d]` table (see `ConvStem::forward_table`). Slot `j` only
/// ever reads block `j` (rows `j·V..(j+1)·V`) or the final zero row, so the backward pass
/// scatters each slot into its own block, one thread per slot, with no write conflicts.
struct TableSum {
    kernel: usize,
    vocab: usize,
}

impl TableSum {
    fn index<'a>(s: &'a CpuStorage, l: &Layout) -> CResult<&'a [u32]> {
        match (s, l.contiguous_offsets()) {
            (CpuStorage::U32(v), Some((a, b))) => Ok(&v[a..b]),
            _ => candle_core::bail!("table-sum: the index must be a contiguous u32 tensor"),
        }
    }
}

impl CustomOp2 for TableSum {
    fn name(&self) -> &'static str {
        "cisformer-table-sum"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let table = contiguous(s1, l1, "table-sum")?;
        let idx = Self::index(s2, l2)?;
        let (rows, d) = l1.shape().dims2()?;
        let k = self.kernel;
        if rows != k * self.vocab + 1 || !idx.len().is_multiple_of(k) {
            candle_core::bail!("table-sum: {rows} table rows, {} indices", idx.len());
        }
        let v = self.vocab;
        let in_block = |(j, &i): (usize, &u32)| {
            let i = i as usize;
            i == rows - 1 || (j * v..(j + 1) * v).contains(&i)
        };
        if !idx.chunks(k).all(|s| s.iter().enumerate().all(in_block)) {
            candle_core::bail!("table-sum: an index reads outside its slot's block");
        }
        let n = idx.len() / k;
        let mut y = vec![0f32; n * d];
        y.par_chunks_mut(d)
            .zip(idx.par_chunks(k))
            .for_each(|(out, slots)| {
                for &i in slots {
                    let src = i as usize * d;
                    for (a, v) in out.iter_mut().zip(&table[src..src + d]) {
                        *a += v;
                    }
                }
            });
        Ok((CpuStorage::F32(y), Shape::from((n, d))))
    }
    fn bwd(
        &self,
        table: &Tensor,
        idx: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>)> {
        let (rows, d) = table.dims2()?;
        let g = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let idx = idx.contiguous()?.to_vec1::<u32>()?;
        let (k, v) = (self.kernel, self.vocab);
        let mut dt = vec![0f32; rows * d];
        // Block j holds the rows of slot j; the zero row (last) gets no gradient.
        dt[..k * v * d]
            .par_chunks_mut(v * d)
            .enumerate()
            .for_each(|(j, block)| {
                for (r, gr) in g.chunks_exact(d).enumerate() {
                    let i = idx[r * k + j] as usize;
                    if i == rows - 1 {
                        continue;
                    }
                    let dst = (i - j * v) * d;
                    for (a, x) in block[dst..dst + d].iter_mut().zip(gr) {
                        *a += x;
                    }
                }
            });
        let dt = Tensor::from_vec(dt, (rows, d), table.device())?;
        Ok((Some(dt), None))
    }
}

/// `Σ_j table[idx[r·kernel + j]]` for each row `r` (see [`TableSum`]).
pub fn table_sum(table: &Tensor, idx: &Tensor, kernel: usize, vocab: usize) -> CResult<Tensor> {
    if portable::active(table) {
        return portable::table_sum(table, idx, kernel);
    }
    table
        .contiguous()?
        .apply_op2(idx, TableSum { kernel, vocab })
}

/// The index plan of [`stem_pool`] for one batch.
#[derive(Debug)]
pub(crate) struct StemPlan {
    /// Token id of each of the batch's `B·T` token rows.
    pub ids: Vec<u32>,
    /// `[B·T·K]`: the table row of each token and stem offset (`K·V`, the zero row, outside
    /// the sequence), as [`table_sum`] reads it.
    pub rows: Vec<u32>,
    /// `[B·L·P]`: the token rows each attention position takes the maximum of; `B·T` stands
    /// for a row far below any value.
    pub window: Vec<u32>,
    pub kernel: usize,
    pub vocab: usize,
    pub pool: usize,
}

/// The convolution stem over bare token embeddings and the max-pooling after it, as one
/// operation: `out[r] = max_{i ∈ window(r)} (E[ids[i]] + gelu(b + Σ_j T[rows[i, j]]))`.
/// Unfused, that is eight tensors at base resolution per batch, each allocated, zeroed
/// and summed again by the backward pass; here only the pooled output is, and the
/// backward pass touches only the row each maximum came from (the first, on a tie).
struct StemPool {
    plan: std::sync::Arc<StemPlan>,
    /// The winning token row of each output element, from the last forward pass.
    argmax: std::sync::Mutex<Vec<u32>>,
}

impl StemPool {
    fn conv_sum(&self, table: &[f32], bias: &[f32], i: usize, out: &mut [f32]) {
        let (d, k) = (bias.len(), self.plan.kernel);
        out.copy_from_slice(bias);
        for &row in &self.plan.rows[i * k..(i + 1) * k] {
            let src = row as usize * d;
            for (a, v) in out.iter_mut().zip(&table[src..src + d]) {
                *a += v;
            }
        }
    }
}

impl CustomOp3 for StemPool {
    fn name(&self) -> &'static str {
        "cisformer-stem-pool"
    }
    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let emb = contiguous(s1, l1, "stem-pool")?;
        let table = contiguous(s2, l2, "stem-pool")?;
        let bias = contiguous(s3, l3, "stem-pool")?;
        let plan = &self.plan;
        let (v, d) = l1.shape().dims2()?;
        let (n_tok, p) = (plan.ids.len(), plan.pool);
        if l2.shape().dims2()? != (plan.kernel * plan.vocab + 1, d)
            || bias.len() != d
            || v != plan.vocab
            || plan.rows.len() != n_tok * plan.kernel
            || !plan.window.len().is_multiple_of(p)
            || plan
                .rows
                .iter()
                .any(|&r| r as usize > plan.kernel * plan.vocab)
            || plan.ids.iter().any(|&t| t as usize >= v)
            || plan.window.iter().any(|&w| w as usize > n_tok)
        {
            candle_core::bail!("stem-pool: the plan does not fit the tensors");
        }
        // Every token row's stem output (rows no window reads cost little: padding only).
        let mut z = vec![0f32; n_tok * d];
        // One scratch row per worker, not one allocation per token.
        z.par_chunks_mut(d).enumerate().for_each_init(
            || vec![0f32; d],
            |s, (i, zi)| {
                self.conv_sum(table, bias, i, s);
                gelu_slice(s, zi);
                let e = &emb[plan.ids[i] as usize * d..][..d];
                for (a, b) in zi.iter_mut().zip(e) {
                    *a += b;
                }
            },
        );
        let n_out = plan.window.len() / p;
        let mut out = vec![0f32; n_out * d];
        let mut arg = vec![0u32; n_out * d];
        out.par_chunks_mut(d)
            .zip(arg.par_chunks_mut(d))
            .enumerate()
            .for_each(|(r, (o, a))| {
                o.fill(-1e9);
                a.fill(n_tok as u32);
                for &i in &plan.window[r * p..(r + 1) * p] {
                    if i as usize == n_tok {
                        continue;
                    }
                    let zi = &z[i as usize * d..][..d];
                    for c in 0..d {
                        if zi[c] > o[c] {
                            o[c] = zi[c];
                            a[c] = i;
                        }
                    }
                }
            });
        *self.argmax.lock().expect("stem-pool argmax lock") = arg;
        Ok((CpuStorage::F32(out), Shape::from((n_out, d))))
    }
    fn bwd(
        &self,
        emb: &Tensor,
        table: &Tensor,
        bias: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let plan = &self.plan;
        let (v, d) = emb.dims2()?;
        let rows = table.dim(0)?;
        let g = grad.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let tab = table.contiguous()?.flatten_all()?.to_vec1::<f32>()?;
        let b = bias.to_vec1::<f32>()?;
        let arg = self.argmax.lock().expect("stem-pool argmax lock");
        let (n_tok, k) = (plan.ids.len(), plan.kernel);
        let n_out = g.len() / d;
        // One task per feature column (the outputs of different columns never meet), rows
        // in order: the same sums whatever the thread count.
        let cols: Vec<(Vec<f32>, Vec<f32>, f32)> = (0..d)
            .into_par_iter()
            .map(|c| {
                let (mut de, mut dt, mut db) = (vec![0f32; v], vec![0f32; rows], 0f32);
                for r in 0..n_out {
                    let i = arg[r * d + c] as usize;
                    if i == n_tok {
                        continue;
                    }
                    let gr = g[r * d + c];
                    de[plan.ids[i] as usize] += gr;
                    let slots = &plan.rows[i * k..(i + 1) * k];
                    let x = b[c] + slots.iter().map(|&s| tab[s as usize * d + c]).sum::<f32>();
                    let dy = gr * gelu_grad(x);
                    db += dy;
                    for &s in slots {
                        dt[s as usize] += dy;
                    }
                }
                // The zero row is a constant, not a weight.
                dt[rows - 1] = 0.0;
                (de, dt, db)
            })
            .collect();
        let mut de = vec![0f32; v * d];
        let mut dt = vec![0f32; rows * d];
        let mut db = vec![0f32; d];
        for (c, (ce, ct, cb)) in cols.into_iter().enumerate() {
            for (row, x) in ce.into_iter().enumerate() {
                de[row * d + c] = x;
            }
            for (row, x) in ct.into_iter().enumerate() {
                dt[row * d + c] = x;
            }
            db[c] = cb;
        }
        let dev = emb.device();
        Ok((
            Some(Tensor::from_vec(de, (v, d), dev)?),
            Some(Tensor::from_vec(dt, (rows, d), dev)?),
            Some(Tensor::from_vec(db, d, dev)?),
        ))
    }
}

/// The stem and pooling of a batch in one operation (see [`StemPool`]): token embeddings
/// `emb` `[V, d]`, the stem's table `[K·V + 1, d]` (last row zero) and bias `[d]` →
/// `[B·L, d]` attention positions.
pub(crate) fn stem_pool(
    emb: &Tensor,
    table: &Tensor,
    bias: &Tensor,
    plan: std::sync::Arc<StemPlan>,
) -> CResult<Tensor> {
    if portable::active(emb) {
        return portable::stem_pool(emb, table, bias, &plan);
    }
    let op = StemPool {
        plan,
        argmax: std::sync::Mutex::new(Vec::new()),
    };
    emb.contiguous()?
        .apply_op3(&table.contiguous()?, &bias.contiguous()?, op)
}

/// `[B·L, d]` → `[B·L, kernel·d]` sliding windows with zero padding (see [`Unfold`]).
pub fn unfold(x: &Tensor, b: usize, l: usize, kernel: usize) -> CResult<Tensor> {
    if portable::active(x) {
        return portable::unfold(x, b, l, kernel);
    }
    x.contiguous()?.apply_op1(Unfold { b, l, kernel })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{D, Device, Var};

    #[test]
    fn exp_and_erf_are_accurate() {
        let mut x = -20.0f32;
        while x < 20.0 {
            let e = exp_f32(x) as f64;
            let r = (x as f64).exp();
            assert!(((e - r) / r).abs() < 3e-7, "exp({x}) = {e}, want {r}");
            let ef = erf_f32(x) as f64;
            let rf = candle_core::cpu::erf::erf_f64(x as f64);
            assert!((ef - rf).abs() < 1e-6, "erf({x}) = {ef}, want {rf}");
            x += 0.01;
        }
    }

    #[test]
    fn exp_scale_is_the_power_of_two_over_the_whole_clamped_range() {
        // Every power of two inside the clamp [-87, 88], and both ends of it.
        for n in -125..=126 {
            let x = n as f32 * std::f32::consts::LN_2;
            let e = exp_f32(x) as f64;
            let r = (x as f64).exp();
            assert!(((e - r) / r).abs() < 3e-7, "exp({x}) = {e}, want {r}");
        }
        assert!(exp_f32(-1000.0) > 0.0 && exp_f32(-1000.0) < 1e-37);
        assert!(exp_f32(1000.0).is_finite() && exp_f32(1000.0) > 1e38);
    }

    #[test]
    fn softmax_rows_sum_to_one_for_every_tail_length() {
        for valid in 1..=40 {
            let l = valid + 3;
            let mut p: Vec<f32> = (0..2 * l).map(|i| ((i * 37) % 11) as f32 - 5.0).collect();
            let orig = p.clone();
            softmax_rows(&mut p, l, valid);
            for (row, o) in p.chunks(l).zip(orig.chunks(l)) {
                let m = o[..valid].iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let z: f64 = o[..valid].iter().map(|&v| ((v - m) as f64).exp()).sum();
                for t in 0..valid {
                    let want = ((o[t] - m) as f64).exp() / z;
                    assert!((row[t] as f64 - want).abs() < 1e-6, "valid {valid}, t {t}");
                }
                assert!(row[valid..].iter().all(|&v| v == 0.0));
            }
        }
    }

    fn reference_grads(
        f: impl Fn(&Tensor, &Tensor) -> CResult<Tensor>,
        g: impl Fn(&Tensor, &Tensor) -> CResult<Tensor>,
        a: &Tensor,
        b: &Tensor,
    ) {
        let (va, vb) = (Var::from_tensor(a).unwrap(), Var::from_tensor(b).unwrap());
        let w = Tensor::randn(0f32, 1., f(a, b).unwrap().shape(), a.device()).unwrap();
        let run = |h: &dyn Fn(&Tensor, &Tensor) -> CResult<Tensor>| {
            let y = h(va.as_tensor(), vb.as_tensor()).unwrap();
            let loss = (&y * &w).unwrap().sum_all().unwrap();
            let gs = loss.backward().unwrap();
            (
                y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                gs.get(&va)
                    .map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap()),
                gs.get(&vb)
                    .map(|t| t.flatten_all().unwrap().to_vec1::<f32>().unwrap()),
            )
        };
        let (y1, ga1, gb1) = run(&f);
        let (y2, ga2, gb2) = run(&g);
        let close = |x: &[f32], y: &[f32], what: &str| {
            assert_eq!(x.len(), y.len());
            for (i, (a, b)) in x.iter().zip(y).enumerate() {
                assert!(
                    (a - b).abs() < 2e-5 * (1.0 + b.abs()),
                    "{what}[{i}]: {a} vs {b}"
                );
            }
        };
        close(&y1, &y2, "value");
        close(&ga1.unwrap(), &ga2.unwrap(), "grad a");
        if let (Some(x), Some(y)) = (gb1, gb2) {
            close(&x, &y, "grad b");
        }
    }

    #[test]
    fn linear_matches_plain_candle() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1., (2, 7, 16), &dev).unwrap();
        let wb = Tensor::randn(0f32, 1., (5 * 16 + 5,), &dev).unwrap();
        let split = |wb: &Tensor| {
            (
                wb.narrow(0, 0, 80).unwrap().reshape((5, 16)).unwrap(),
                wb.narrow(0, 80, 5).unwrap(),
            )
        };
        reference_grads(
            |x, wb| {
                let (w, b) = split(wb);
                linear(x, &w, &b)
            },
            |x, wb| {
                let (w, b) = split(wb);
                portable::linear(x, &w, &b)
            },
            &x,
            &wb,
        );
    }

    #[test]
    fn gelu_and_layer_norm_match_plain_candle() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 2., (7, 16), &dev).unwrap();
        let w = Tensor::randn(1f32, 0.3, 16, &dev).unwrap();
        reference_grads(|x, _| gelu(x), |x, _| portable::gelu(x), &x, &w);
        let b = Tensor::randn(0f32, 0.3, 16, &dev).unwrap();
        let wb = Tensor::cat(&[&w, &b], 0).unwrap();
        let split = |wb: &Tensor| (wb.narrow(0, 0, 16).unwrap(), wb.narrow(0, 16, 16).unwrap());
        reference_grads(
            |x, wb| {
                let (w, b) = split(wb);
                layer_norm(x, &w, &b, 1e-5)
            },
            |x, wb| {
                let (w, b) = split(wb);
                portable::layer_norm(x, &w, &b, 1e-5)
            },
            &x,
            &wb,
        );
    }

    #[test]
    fn attention_matches_plain_candle_with_gqa_and_padding() {
        let dev = Device::Cpu;
        let (b, h, kv, l, dh) = (2, 4, 2, 5, 3);
        let geom = AttnGeom {
            b,
            h,
            kv,
            l,
            dh,
            lens: vec![5, 3],
        };
        let q = Tensor::randn(0f32, 1., (b, h, l, dh), &dev).unwrap();
        let k = Tensor::randn(0f32, 1., (b, kv, l, dh), &dev).unwrap();
        let v = Tensor::randn(0f32, 1., (b, kv, l, dh), &dev).unwrap();
        // The references: candle's own ops, as other devices run them.
        let plain_probs = |q: &Tensor, k: &Tensor| portable::attention_probs(q, k, None, &geom);
        reference_grads(
            |q, k| attention_probs(q, k, None, &geom),
            plain_probs,
            &q,
            &k,
        );
        // A per-head bias shared by the batch: its gradient sums over sequences.
        let bias = Tensor::randn(0f32, 1., (h, l, l), &dev).unwrap();
        let plain_biased = |q: &Tensor, k: &Tensor, bias: &Tensor| {
            portable::attention_probs(q, k, Some(bias), &geom)
        };
        reference_grads(
            |q, bias| attention_probs(q, &k, Some(bias), &geom),
            |q, bias| plain_biased(q, &k, bias),
            &q,
            &bias,
        );
        reference_grads(
            |k, bias| attention_probs(&q, k, Some(bias), &geom),
            |k, bias| plain_biased(&q, k, bias),
            &k,
            &bias,
        );
        let p = plain_probs(&q, &k).unwrap();
        reference_grads(
            |p, v| attention_apply(p, v, &geom),
            |p, v| portable::attention_apply(p, v, &geom),
            &p,
            &v,
        );
        let rows = attention_probs(&q, &k, Some(&bias), &geom)
            .unwrap()
            .sum(D::Minus1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert!(rows.iter().all(|s| (s - 1.0).abs() < 1e-5));
    }

    #[test]
    fn fused_attention_matches_the_separate_ops() {
        let dev = Device::Cpu;
        let (b, h, kv, l, dh) = (3, 4, 2, 6, 3);
        let geom = AttnGeom {
            b,
            h,
            kv,
            l,
            dh,
            lens: vec![6, 2, 4],
        };
        let w = (h + 2 * kv) * dh;
        let qkv = Tensor::randn(0f32, 1., (b * l, w), &dev).unwrap();
        let bias = Tensor::randn(0f32, 1., (h, l, l), &dev).unwrap();
        // The reference: split the columns into head-major Q, K, V, then the two ops and the
        // merge the layers used before.
        let split = |x: &Tensor, at: usize, heads: usize| -> CResult<Tensor> {
            x.narrow(1, at * dh, heads * dh)?
                .reshape((b, l, heads, dh))?
                .transpose(1, 2)?
                .contiguous()
        };
        let separate = |qkv: &Tensor, bias: Option<&Tensor>| -> CResult<Tensor> {
            let (q, k, v) = (
                split(qkv, 0, h)?,
                split(qkv, h, kv)?,
                split(qkv, h + kv, kv)?,
            );
            let p = attention_probs(&q, &k, bias, &geom)?;
            attention_apply(&p, &v, &geom)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b * l, h * dh))
        };
        // Twice: the second time P and dS land in the recycled (dirty) buffers of the first.
        for _ in 0..2 {
            reference_grads(
                |x, bias| attention_fused(x, Some(bias), &geom),
                |x, bias| separate(x, Some(bias)),
                &qkv,
                &bias,
            );
        }
        reference_grads(
            |x, _| attention_fused(x, None, &geom),
            |x, _| separate(x, None),
            &qkv,
            &bias,
        );
        // Without gradients the op keeps no probabilities and gives the same values.
        let plain = attention_fused(&qkv, Some(&bias), &geom).unwrap();
        let reference = separate(&qkv, Some(&bias)).unwrap();
        let diff = (plain - reference)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff < 1e-5, "{diff}");
    }

    #[test]
    fn ffn_block_matches_the_separate_ops() {
        let dev = Device::Cpu;
        // f < d and f > d: the backward's scratch buffers differ in size.
        for (n, d, f) in [(7, 6, 10), (5, 8, 3)] {
            let x = Tensor::randn(0f32, 1., (n, d), &dev).unwrap();
            let len = 2 * d + 2 * f * d + f + d;
            let params = Tensor::randn(0f32, 0.5, len, &dev).unwrap();
            let separate = |x: &Tensor, p: &Tensor| -> CResult<Tensor> {
                let ln_w = p.narrow(0, 0, d)?;
                let ln_b = p.narrow(0, d, d)?;
                let w1 = p.narrow(0, 2 * d, f * d)?.reshape((f, d))?;
                let b1 = p.narrow(0, 2 * d + f * d, f)?;
                let w2 = p.narrow(0, 2 * d + f * d + f, d * f)?.reshape((d, f))?;
                let b2 = p.narrow(0, 2 * d + 2 * f * d + f, d)?;
                let h = layer_norm(x, &ln_w, &ln_b, 1e-5)?;
                x + linear(&gelu(&linear(&h, &w1, &b1)?)?, &w2, &b2)?
            };
            // Twice: the second run's activations land in the first one's recycled buffers.
            for _ in 0..2 {
                reference_grads(|x, p| ffn_block(x, p, f, 1e-5), separate, &x, &params);
            }
            let plain = ffn_block(&x, &params, f, 1e-5).unwrap();
            let bits = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            assert_eq!(bits(plain), bits(separate(&x, &params).unwrap()));
        }
    }

    #[test]
    fn attention_block_matches_the_separate_ops() {
        let dev = Device::Cpu;
        let (b, h, kv, l, dh, d) = (3, 4, 2, 5, 3, 7);
        let geom = AttnGeom {
            b,
            h,
            kv,
            l,
            dh,
            lens: vec![5, 2, 4],
        };
        let (w, od) = ((h + 2 * kv) * dh, h * dh);
        let x = Tensor::randn(0f32, 1., (b * l, d), &dev).unwrap();
        let len = 2 * d + w * d + w + d * od + d;
        let params = Tensor::randn(0f32, 0.5, len, &dev).unwrap();
        let bias = Tensor::randn(0f32, 1., (h, l, l), &dev).unwrap();
        let separate = |x: &Tensor, p: &Tensor, bias: Option<&Tensor>| -> CResult<Tensor> {
            let mut at = 0;
            let mut take = |n: usize| {
                at += n;
                p.narrow(0, at - n, n)
            };
            let (ln_w, ln_b) = (take(d)?, take(d)?);
            let wqkv = take(w * d)?.reshape((w, d))?;
            let bqkv = take(w)?;
            let wo = take(d * od)?.reshape((d, od))?;
            let bo = take(d)?;
            let qkv = linear(&layer_norm(x, &ln_w, &ln_b, 1e-5)?, &wqkv, &bqkv)?;
            x + linear(&attention_fused(&qkv, bias, &geom)?, &wo, &bo)?
        };
        for _ in 0..2 {
            reference_grads(
                |x, p| attn_block(x, p, Some(&bias), &geom, 1e-5),
                |x, p| separate(x, p, Some(&bias)),
                &x,
                &params,
            );
            reference_grads(
                |x, bias| attn_block(x, &params, Some(bias), &geom, 1e-5),
                |x, bias| separate(x, &params, Some(bias)),
                &x,
                &bias,
            );
            reference_grads(
                |x, p| attn_block(x, p, None, &geom, 1e-5),
                |x, p| separate(x, p, None),
                &x,
                &params,
            );
        }
        // Bit for bit the separate ops' values: analyses that compare a hooked forward with
        // a plain one (activation patching) see no rounding difference.
        let plain = attn_block(&x, &params, Some(&bias), &geom, 1e-5).unwrap();
        let bits = |t: Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(
            bits(plain),
            bits(separate(&x, &params, Some(&bias)).unwrap())
        );
    }

    #[test]
    fn unfold_matches_shifted_copies() {
        let dev = Device::Cpu;
        let (b, l, d, k) = (2, 7, 3, 5);
        let x = Tensor::randn(0f32, 1., (b * l, d), &dev).unwrap();
        // A second input scales the windows, so the shared helper checks both gradients.
        let s = Tensor::randn(0f32, 1., (b * l, k * d), &dev).unwrap();
        let plain = |x: &Tensor, s: &Tensor| portable::unfold(x, b, l, k)? * s;
        reference_grads(|x, s| unfold(x, b, l, k)? * s, plain, &x, &s);
    }
}
