//! Differentiable penalties on attention maps, added to the training loss with their weights.
//!
//! Each takes one layer's probabilities `P [B,H,L,L]` and a query mask `[B,1,L,1]`
//! (1 for real tokens, 0 for padding) and returns a scalar; the optimiser averages
//! them over layers. Heads that all look at the same thing are redundant, so
//! diversity and orthogonality push them apart; entropy sharpens (positive weight)
//! or spreads (negative weight) attention.
use candle_core::{D, Tensor};
use serde::{Deserialize, Serialize};

type CResult<T> = candle_core::Result<T>;

/// Weights of the attention regularisers (0 = off, and then nothing is computed).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegularizerWeights {
    /// Mean pairwise cosine similarity of the heads' attention maps within a layer.
    pub diversity: f64,
    /// Mean `‖A_i A_jᵀ‖_F` over head pairs `i ≠ j` of a layer.
    pub orthogonality: f64,
    /// Mean attention entropy (nats) of a query row.
    pub entropy: f64,
}

impl RegularizerWeights {
    /// Whether any regulariser is on (then the training forward keeps the probabilities).
    pub fn any(&self) -> bool {
        self.diversity != 0.0 || self.orthogonality != 0.0 || self.entropy != 0.0
    }
}

fn masked(p: &Tensor, qmask: &Tensor) -> CResult<Tensor> {
    p.broadcast_mul(qmask)
}

/// Mean over sequences and head pairs `i ≠ j` of `cos(A_i, A_j)` (maps flattened).
pub fn attention_diversity(p: &Tensor, qmask: &Tensor) -> CResult<Tensor> {
    let (b, h, l, _) = p.dims4()?;
    if h < 2 {
        return Tensor::new(0f32, p.device());
    }
    let a = masked(p, qmask)?.reshape((b, h, l * l))?;
    let norm = (a.sqr()?.sum_keepdim(D::Minus1)? + 1e-12)?.sqrt()?;
    let an = a.broadcast_div(&norm)?;
    let gram = an.matmul(&an.t()?)?; // [B,H,H]
    let diag = an.sqr()?.sum_all()?;
    (gram.sum_all()? - diag)? / (b * h * (h - 1)) as f64
}

/// Mean over sequences and head pairs `i ≠ j` of `‖A_i A_jᵀ‖_F`, computed as
/// `sqrt(⟨A_iᵀA_i, A_jᵀA_j⟩_F)` so the cost is `H·L³ + H²·L²` rather than `H²·L³`.
pub fn attention_orthogonality(p: &Tensor, qmask: &Tensor) -> CResult<Tensor> {
    let (b, h, l, _) = p.dims4()?;
    if h < 2 {
        return Tensor::new(0f32, p.device());
    }
    let a = masked(p, qmask)?.contiguous()?;
    let gram = a.t()?.matmul(&a)?.reshape((b, h, l * l))?; // A_iᵀ A_i
    let inner = gram.matmul(&gram.t()?)?; // [B,H,H]
    let off: Vec<f32> = (0..h * h)
        .map(|i| if i / h == i % h { 0.0 } else { 1.0 })
        .collect();
    let off = Tensor::from_vec(off, (1, h, h), p.device())?;
    let norms = (inner.relu()? + 1e-12)?.sqrt()?.broadcast_mul(&off)?;
    norms.sum_all()? / (b * h * (h - 1)) as f64
}

/// Mean entropy `−Σ_k p log p` of the real query rows of every head.
pub fn attention_entropy(p: &Tensor, qmask: &Tensor) -> CResult<Tensor> {
    let (_, h, _, _) = p.dims4()?;
    let plogp = (p * (p + 1e-12)?.log()?)?.sum_keepdim(D::Minus1)?; // [B,H,L,1]
    let rows = (qmask.sum_all()? * h as f64)?;
    let total = plogp.broadcast_mul(qmask)?.sum_all()?.neg()?;
    total.div(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn values_on_small_maps() {
        let dev = Device::Cpu;
        // Two heads: identity and uniform over 2 tokens.
        let p = Tensor::from_vec(
            vec![1f32, 0., 0., 1., 0.5, 0.5, 0.5, 0.5],
            (1, 2, 2, 2),
            &dev,
        )
        .unwrap();
        let qm = Tensor::ones((1, 1, 2, 1), candle_core::DType::F32, &dev).unwrap();
        let s = |t: Tensor| t.to_scalar::<f32>().unwrap();
        // cos(I, U) = (0.5 + 0.5) / (sqrt(2) · 1) = 0.7071
        assert!((s(attention_diversity(&p, &qm).unwrap()) - 0.70710677).abs() < 1e-5);
        // I Uᵀ = U, ‖U‖_F = 1
        assert!((s(attention_orthogonality(&p, &qm).unwrap()) - 1.0).abs() < 1e-5);
        // entropies: 0 for identity rows, ln 2 for uniform rows
        assert!((s(attention_entropy(&p, &qm).unwrap()) - 0.5 * 2f32.ln()).abs() < 1e-5);
    }
}
