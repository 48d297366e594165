//! The per-head forgetting index between a model before and after fine-tuning.
use crate::model::{ForwardOptions, HeadId, Model};
use crate::{Error, Result};

/// Forgetting index of one head.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeadForgetting {
    pub head: HeadId,
    /// Mean over every query token of every sequence of KL(before ‖ after) in nats.
    pub kl: f64,
}

/// Checks that two models read the same tokens and have the same heads.
pub fn check_comparable(before: &Model, after: &Model) -> Result<()> {
    let (a, b) = (before.config(), after.config());
    if (a.k, a.stride) != (b.k, b.stride) {
        return Err(Error::Invalid(format!(
            "the models use different tokenizers (k={} stride={} vs k={} stride={}); attention over the same tokens cannot be compared",
            a.k, a.stride, b.k, b.stride
        )));
    }
    if (a.n_layers, a.n_heads) != (b.n_layers, b.n_heads) || a.pruned_heads != b.pruned_heads {
        return Err(Error::Invalid(format!(
            "the models have different heads ({} layers × {} heads vs {} × {}, or other pruned heads)",
            a.n_layers, a.n_heads, b.n_layers, b.n_heads
        )));
    }
    Ok(())
}

/// Per-head forgetting index over `seqs`: mean KL divergence between each query token's
/// attention row before and after (rows of pruned heads are skipped).
pub fn forgetting(
    before: &Model,
    after: &Model,
    seqs: &[&[u8]],
    batch: usize,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<HeadForgetting>> {
    check_comparable(before, after)?;
    let cfg = before.config();
    let (nl, nh) = (cfg.n_layers, cfg.n_heads);
    let mut sum = vec![0f64; nl * nh];
    let mut rows = 0usize;
    let tok = before.tokenizer();
    let opts = ForwardOptions {
        attention: true,
        ..Default::default()
    };
    for chunk in seqs.chunks(batch.max(1)) {
        let ids: Vec<Vec<u32>> = chunk.iter().map(|s| tok.encode(s)).collect();
        let pa = before.forward(&ids, &opts)?.attention.unwrap_or_default();
        let pb = after.forward(&ids, &opts)?.attention.unwrap_or_default();
        for (ma, mb) in pa.iter().zip(&pb) {
            rows += ma.len;
            for layer in 0..nl {
                for head in 0..nh {
                    let mut kl = 0f64;
                    for q in 0..ma.len {
                        kl += kl_row(ma.row(layer, head, q), mb.row(layer, head, q));
                    }
                    sum[layer * nh + head] += kl;
                }
            }
        }
        progress(chunk.len());
    }
    let n = rows.max(1) as f64;
    let mut out = Vec::with_capacity(nl * nh);
    for layer in 0..nl {
        let kept = cfg.kept_heads(layer);
        for head in kept {
            out.push(HeadForgetting {
                head: HeadId { layer, head },
                kl: sum[layer * nh + head] / n,
            });
        }
    }
    Ok(out)
}

/// KL(p ‖ q) in nats; `q` is floored at 1e-12 so a vanished key stays finite.
pub fn kl_row(p: &[f32], q: &[f32]) -> f64 {
    p.iter()
        .zip(q)
        .filter(|(p, _)| **p > 0.0)
        .map(|(&p, &q)| {
            let (p, q) = (f64::from(p), f64::from(q).max(1e-12));
            p * (p / q).ln()
        })
        .sum::<f64>()
        .max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kl_is_zero_for_equal_rows_and_positive_otherwise() {
        assert_eq!(kl_row(&[0.5, 0.5], &[0.5, 0.5]), 0.0);
        let k = kl_row(&[0.9, 0.1], &[0.5, 0.5]);
        assert!((k - (0.9f64 * (1.8f64).ln() + 0.1 * (0.2f64).ln())).abs() < 1e-6);
        assert!(kl_row(&[1.0, 0.0], &[0.0, 1.0]) > 20.0);
    }
}
