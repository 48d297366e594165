//! cisformer's encoder against the PyTorch reference (`tests/oracle/torch_reference.py`):
//! same weights, same batches → same outputs and attention (1e-5), and one AdamW step gives
//! the same loss and parameters (1e-4).
use std::path::PathBuf;

use cisformer::model::{ForwardOptions, Model};
use cisformer::train::{OptimConfig, Optimizer};
use serde::Deserialize;

#[derive(Deserialize)]
struct Golden {
    optim: OptimConfig,
    gate: Option<(usize, usize)>,
    ids: Vec<Vec<u32>>,
    targets: Vec<Vec<f32>>,
    output: Vec<Vec<f32>>,
    /// Per sequence, [layer][head] flattened len×len maps.
    attention: Vec<Vec<Vec<Vec<f32>>>>,
    /// ∂ output[0] / ∂ attention, same layout.
    attention_grad: Vec<Vec<Vec<Vec<f32>>>>,
    loss: f32,
    grad_norm: f32,
}

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/model")
}

fn load(name: &str) -> (Model, Golden) {
    let (mut model, _meta) = Model::load(data().join(name)).unwrap();
    let text = std::fs::read_to_string(data().join(format!("{name}_golden.json"))).unwrap();
    let golden: Golden = serde_json::from_str(&text).unwrap();
    if let Some((l, h)) = golden.gate {
        model.set_head_mask(l, h, 0.0).unwrap();
    }
    (model, golden)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn check_forward(name: &str) {
    let (model, g) = load(name);
    let opts = ForwardOptions {
        attention: true,
        ..Default::default()
    };
    let out = model.forward(&g.ids, &opts).unwrap();
    for (got, want) in out.output.iter().zip(&g.output) {
        let d = max_abs_diff(got, want);
        assert!(
            d <= 1e-5,
            "{name}: output differs by {d}: {got:?} vs {want:?}"
        );
    }
    let maps = out.attention.unwrap();
    assert_eq!(maps.len(), g.attention.len());
    for (s, (m, want)) in maps.iter().zip(&g.attention).enumerate() {
        for (l, layer) in want.iter().enumerate() {
            for (h, head) in layer.iter().enumerate() {
                let d = max_abs_diff(m.map(l, h), head);
                assert!(
                    d <= 1e-5,
                    "{name}: seq {s} layer {l} head {h} attention differs by {d}"
                );
            }
        }
    }
}

fn check_step(name: &str) {
    let (mut model, g) = load(name);
    let mut opt = Optimizer::new(&model, g.optim);
    let loss = opt.step(&mut model, &g.ids, &g.targets).unwrap();
    assert!(
        (loss - g.loss).abs() <= 1e-4,
        "{name}: loss {loss} vs {}",
        g.loss
    );
    let gn = opt.last_stats().grad_norm;
    assert!(
        (gn - g.grad_norm).abs() <= 1e-4 * (1.0 + g.grad_norm),
        "{name}: grad norm {gn} vs {}",
        g.grad_norm
    );
    let want = candle_core::safetensors::load(
        data().join(format!("{name}_after_step.safetensors")),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let params = model.named_parameters();
    assert_eq!(params.len(), want.len());
    for (pname, t) in params {
        let got = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let w = want[&pname]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let d = max_abs_diff(&got, &w);
        assert!(
            d <= 1e-4,
            "{name}: parameter {pname} differs by {d} after one step"
        );
    }
}

#[test]
fn mha_forward_matches_torch() {
    check_forward("mha");
}

#[test]
fn gqa_forward_matches_torch() {
    check_forward("gqa");
}

#[test]
fn mha_adamw_step_matches_torch() {
    check_step("mha");
}

#[test]
fn gqa_adamw_step_with_regularisers_matches_torch() {
    check_step("gqa");
}

#[test]
fn conv_stem_forward_matches_torch() {
    check_forward("conv");
}

#[test]
fn conv_stem_adamw_step_matches_torch() {
    check_step("conv");
}

#[test]
fn relative_bias_forward_matches_torch() {
    check_forward("relbias");
}

#[test]
fn relative_bias_adamw_step_matches_torch() {
    check_step("relbias");
}

#[test]
fn max_pooling_forward_matches_torch() {
    check_forward("maxpool");
}

#[test]
fn max_pooling_adamw_step_matches_torch() {
    check_step("maxpool");
}

#[test]
fn no_absolute_positions_forward_matches_torch() {
    check_forward("nopos");
}

#[test]
fn no_absolute_positions_adamw_step_matches_torch() {
    check_step("nopos");
}

#[test]
fn pooled_positions_forward_matches_torch() {
    check_forward("pooled");
}

#[test]
fn pooled_positions_adamw_step_matches_torch() {
    check_step("pooled");
}

/// Attention gradients within 1e-5 of the largest |gradient| (they span many magnitudes).
fn check_attention_grad(name: &str) {
    let (model, g) = load(name);
    let (maps, grads) = model.attention_gradients(&g.ids, 0).unwrap();
    assert_eq!(grads.len(), g.attention_grad.len());
    let scale = g
        .attention_grad
        .iter()
        .flatten()
        .flatten()
        .flatten()
        .fold(0f32, |m, v| m.max(v.abs()));
    assert!(scale > 0.0, "{name}: golden gradients are all zero");
    for (s, (m, want)) in grads.iter().zip(&g.attention_grad).enumerate() {
        for (l, layer) in want.iter().enumerate() {
            for (h, head) in layer.iter().enumerate() {
                let d = max_abs_diff(m.map(l, h), head);
                assert!(
                    d <= 1e-5 * scale.max(1.0),
                    "{name}: seq {s} layer {l} head {h} attention gradient differs by {d}"
                );
                let p = max_abs_diff(maps[s].map(l, h), &g.attention[s][l][h]);
                assert!(
                    p <= 1e-5,
                    "{name}: attention beside the gradient differs by {p}"
                );
            }
        }
    }
}

#[test]
fn attention_gradients_match_torch() {
    for name in [
        "mha", "gqa", "conv", "relbias", "maxpool", "nopos", "pooled",
    ] {
        check_attention_grad(name);
    }
}
