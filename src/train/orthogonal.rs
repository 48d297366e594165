//! Orthogonal fine-tuning: a penalty that keeps the attention projections' updates out of
//! the directions the old weights use, so a new task interferes less with the old one.
//!
//! For every attention projection weight `W` (Q, K, V, O of every layer; `out × in`) with
//! old value `W₀` the loss gains `λ · c · ‖W₀ᵀ (W − W₀)‖²_F`, `c = out / ‖W₀‖²_F` (so the
//! metric `c · W₀W₀ᵀ` has mean eigenvalue 1 and λ = 1 is an L2 anchor of average strength,
//! stronger along the old weights' dominant output directions, weaker elsewhere). Its
//! gradient `2λc · W₀W₀ᵀ (W − W₀)` is added to the task gradient before clipping; it is
//! zero at the first step and grows as the weights move.
use crate::model::{Model, cerr};
use crate::{Error, Result};

/// One anchored matrix: its parameter position, shape, `c·W₀W₀ᵀ` and `W₀`.
#[derive(Debug, Clone)]
struct Anchored {
    index: usize,
    out: usize,
    inp: usize,
    metric: Vec<f32>,
    w0: Vec<f32>,
}

/// The old attention projections and the penalty weight λ (see the module docs).
#[derive(Debug, Clone)]
pub struct OrthoAnchor {
    weight: f64,
    items: Vec<Anchored>,
}

fn is_attention_weight(name: &str) -> bool {
    name.contains(".attn.") && name.ends_with(".weight")
}

impl OrthoAnchor {
    /// Anchors `model`'s current attention projections with weight `weight` (≥ 0).
    pub fn new(model: &Model, weight: f64) -> Result<OrthoAnchor> {
        Self::with_scope(model, weight, false)
    }

    /// As [`OrthoAnchor::new`]; with `all`, every weight matrix except the embeddings
    /// (attention, feed-forward and output head) is anchored.
    pub fn with_scope(model: &Model, weight: f64, all: bool) -> Result<OrthoAnchor> {
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(Error::Invalid(format!(
                "orthogonal weight {weight} must be a finite number ≥ 0"
            )));
        }
        let mut items = Vec::new();
        for (index, (name, var)) in model.vars().iter().enumerate() {
            let matrix =
                name.ends_with(".weight") && !name.starts_with("embeddings.") && var.rank() == 2;
            if !(is_attention_weight(name) || all && matrix) {
                continue;
            }
            let (out, inp) = var.dims2().map_err(cerr)?;
            let w0 = var
                .as_tensor()
                .flatten_all()
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(cerr)?;
            let norm2: f64 = w0.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            let c = if norm2 > 0.0 { out as f64 / norm2 } else { 0.0 };
            let mut metric = vec![0f32; out * out];
            for i in 0..out {
                for j in i..out {
                    let (a, b) = (&w0[i * inp..(i + 1) * inp], &w0[j * inp..(j + 1) * inp]);
                    let dot: f64 = a
                        .iter()
                        .zip(b)
                        .map(|(&x, &y)| f64::from(x) * f64::from(y))
                        .sum();
                    metric[i * out + j] = (dot * c) as f32;
                    metric[j * out + i] = (dot * c) as f32;
                }
            }
            items.push(Anchored {
                index,
                out,
                inp,
                metric,
                w0,
            });
        }
        Ok(OrthoAnchor { weight, items })
    }

    /// Number of anchored matrices.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing is anchored.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The weighted penalty at `model`'s current weights.
    pub fn penalty(&self, model: &Model) -> Result<f64> {
        let mut total = 0.0;
        for it in &self.items {
            let (delta, mdelta) = self.delta(model, it)?;
            total += delta
                .iter()
                .zip(&mdelta)
                .map(|(&d, &m)| f64::from(d) * f64::from(m))
                .sum::<f64>();
        }
        Ok(self.weight * total)
    }

    /// `ΔW = W − W₀` and `c·W₀W₀ᵀ ΔW`, both row-major `out × in`.
    fn delta(&self, model: &Model, it: &Anchored) -> Result<(Vec<f32>, Vec<f32>)> {
        let (_, var) = model.vars().get(it.index).ok_or_else(|| {
            Error::Invalid("orthogonal anchor was built for a different model".into())
        })?;
        let w = var
            .as_tensor()
            .flatten_all()
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(cerr)?;
        if w.len() != it.w0.len() {
            return Err(Error::Invalid(
                "orthogonal anchor was built for a different model".into(),
            ));
        }
        let delta: Vec<f32> = w.iter().zip(&it.w0).map(|(a, b)| a - b).collect();
        let mut md = vec![0f32; it.out * it.inp];
        for i in 0..it.out {
            let row = &mut md[i * it.inp..(i + 1) * it.inp];
            for k in 0..it.out {
                let m = it.metric[i * it.out + k];
                if m == 0.0 {
                    continue;
                }
                for (r, &d) in row.iter_mut().zip(&delta[k * it.inp..(k + 1) * it.inp]) {
                    *r += m * d;
                }
            }
        }
        Ok((delta, md))
    }

    /// Adds the penalty's gradient to `grads` (parameter order); returns the weighted penalty.
    pub(crate) fn add_gradient(
        &self,
        model: &Model,
        grads: &mut [Option<Vec<f32>>],
    ) -> Result<f32> {
        let mut total = 0.0f64;
        let lw = self.weight as f32;
        for it in &self.items {
            let (delta, md) = self.delta(model, it)?;
            total += delta
                .iter()
                .zip(&md)
                .map(|(&d, &m)| f64::from(d) * f64::from(m))
                .sum::<f64>();
            let g = grads
                .get_mut(it.index)
                .ok_or_else(|| Error::Invalid("orthogonal anchor: no gradient slot".into()))?
                .get_or_insert_with(|| vec![0.0; md.len()]);
            for (g, &m) in g.iter_mut().zip(&md) {
                *g += 2.0 * lw * m;
            }
        }
        Ok((self.weight * total) as f32)
    }
}
