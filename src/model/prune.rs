//! Physical head pruning: a new model whose removed heads' parameters are gone.
//!
//! Removing query head `h` of a layer drops its rows of W_Q (and b_Q) and its columns of
//! W_O; its K/V rows go too once no remaining query head reads them (always for MHA, a
//! whole group for GQA, never for MQA's single K/V head). The result computes exactly
//! what the original computes with those heads' gates at 0 (up to float summation order).
use std::collections::HashMap;

use candle_core::{Device, Tensor};

use super::{HeadId, Model, cerr};
use crate::{Error, Result};

impl Model {
    /// A copy without `heads` (original indices; already pruned heads may be listed again).
    /// Errors when a head does not exist, when a layer would lose every head, or when a GQA
    /// group would be only partly removed.
    pub fn prune(&self, heads: &[HeadId]) -> Result<Model> {
        let cfg = &self.cfg;
        for h in heads {
            if h.layer >= cfg.n_layers || h.head >= cfg.n_heads {
                return Err(Error::Invalid(format!(
                    "prune: head {}.{} does not exist ({} layers × {} heads)",
                    h.layer, h.head, cfg.n_layers, cfg.n_heads
                )));
            }
        }
        let mut new_cfg = cfg.clone();
        if new_cfg.pruned_heads.is_empty() {
            new_cfg.pruned_heads = vec![Vec::new(); cfg.n_layers];
        }
        for h in heads {
            new_cfg.pruned_heads[h.layer].push(h.head);
        }
        for p in &mut new_cfg.pruned_heads {
            p.sort_unstable();
            p.dedup();
        }
        if new_cfg.pruned_heads.iter().all(Vec::is_empty) {
            new_cfg.pruned_heads.clear();
        }
        new_cfg
            .validate()
            .map_err(|e| Error::Invalid(format!("prune: {e}")))?;

        let dh = cfg.head_dim();
        let mut tensors: HashMap<String, Tensor> = self.named_parameters().into_iter().collect();
        for layer in 0..cfg.n_layers {
            let old_q = cfg.kept_heads(layer);
            let new_q = new_cfg.kept_heads(layer);
            if old_q == new_q {
                continue;
            }
            let kv_list = |q: &[usize]| {
                let mut kv: Vec<usize> = q.iter().map(|&h| cfg.kv_of(h)).collect();
                kv.dedup();
                kv
            };
            let q_rows = rows_of(&old_q, &new_q, dh)?;
            let kv_rows = rows_of(&kv_list(&old_q), &kv_list(&new_q), dh)?;
            let p = |n: &str| format!("layers.{layer}.attn.{n}");
            let mut moves = vec![
                (p("q.weight"), &q_rows, 0),
                (p("q.bias"), &q_rows, 0),
                (p("k.weight"), &kv_rows, 0),
                (p("v.weight"), &kv_rows, 0),
                (p("v.bias"), &kv_rows, 0),
                (p("o.weight"), &q_rows, 1),
            ];
            let rel;
            if cfg.relative_bias > 0 {
                rel = rows_of(&old_q, &new_q, 1)?;
                moves.push((p("rel.bias"), &rel, 0));
            }
            for (name, rows, dim) in moves {
                let t = tensors.get(&name).ok_or_else(|| {
                    Error::Invalid(format!("prune: the model has no tensor {name}"))
                })?;
                let t = t.index_select(rows, dim).map_err(cerr)?;
                tensors.insert(name, t);
            }
        }
        let mut m = Model::build(&new_cfg, tensors, self.seed)?;
        for (l, row) in self.head_mask.iter().enumerate() {
            for (h, &g) in row.iter().enumerate() {
                m.set_head_mask(l, h, g)?;
            }
        }
        Ok(m)
    }
}

/// Index tensor of the rows (`dh` per head) that heads `new` occupy among heads `old`.
fn rows_of(old: &[usize], new: &[usize], dh: usize) -> Result<Tensor> {
    let mut idx = Vec::with_capacity(new.len() * dh);
    for h in new {
        let p = old
            .iter()
            .position(|o| o == h)
            .ok_or_else(|| Error::Invalid(format!("prune: head {h} is not in the model")))?;
        idx.extend((p * dh..(p + 1) * dh).map(|i| i as u32));
    }
    let n = idx.len();
    Tensor::from_vec(idx, n, &Device::Cpu).map_err(cerr)
}
