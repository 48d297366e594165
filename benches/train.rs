//! cisformer side of `bench/train.sh`: trains the encoder on random tokens and prints
//! training and inference sequences/s (median over steps) and peak RSS.
//! Usage: cargo bench --bench train -- D HEADS LAYERS TOKENS BATCH STEPS
use std::time::Instant;

use cisformer::model::{ForwardOptions, Model, ModelConfig, OptimConfig, Optimizer};
use rand::{RngExt, SeedableRng};

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let [d, h, n, l, b, steps] = args[..] else {
        eprintln!("usage: train D HEADS LAYERS TOKENS BATCH STEPS");
        std::process::exit(2);
    };
    let cfg = ModelConfig {
        d_model: d,
        n_heads: h,
        n_kv_heads: h,
        n_layers: n,
        ffn_dim: 4 * d,
        dropout: 0.0,
        ..ModelConfig::default()
    };
    let mut model = Model::new(&cfg, 0).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let ids: Vec<Vec<u32>> = (0..b)
        .map(|_| {
            (0..l)
                .map(|_| rng.random_range(5..cfg.vocab_size as u32))
                .collect()
        })
        .collect();
    let y: Vec<Vec<f32>> = (0..b).map(|_| vec![rng.random::<f32>()]).collect();
    let mut opt = Optimizer::new(
        &model,
        OptimConfig {
            warmup_steps: 0,
            clip_norm: 0.0,
            ..OptimConfig::default()
        },
    );
    let (mut tr, mut inf, mut att) = (vec![], vec![], vec![]);
    for i in 0..steps + 2 {
        let t = Instant::now();
        opt.step(&mut model, &ids, &y).unwrap();
        if i >= 2 {
            tr.push(t.elapsed().as_secs_f64());
        }
        let t = Instant::now();
        model.forward(&ids, &ForwardOptions::default()).unwrap();
        if i >= 2 {
            inf.push(t.elapsed().as_secs_f64());
        }
        let t = Instant::now();
        let with_attention = ForwardOptions {
            attention: true,
            ..Default::default()
        };
        model.forward(&ids, &with_attention).unwrap();
        if i >= 2 {
            att.push(t.elapsed().as_secs_f64());
        }
    }
    att.sort_by(f64::total_cmp);
    tr.sort_by(f64::total_cmp);
    inf.sort_by(f64::total_cmp);
    println!(
        "cisformer: train {:.1} seq/s, infer {:.1} seq/s, peak RSS {:.0} MiB \
         (infer returning all attention maps: {:.1} seq/s)",
        b as f64 / tr[tr.len() / 2],
        b as f64 / inf[inf.len() / 2],
        peak_rss_mib(),
        b as f64 / att[att.len() / 2],
    );
}
