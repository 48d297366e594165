//! cisformer side of `bench/train.sh`: trains on random sequences and prints training and
//! inference sequences/s (median over steps) and peak RSS, for one of two configurations:
//!
//! * `encoder`: d_model 128, 8 heads, 4 layers, 200 k-mer tokens (k 6, learned positions),
//!   ffn 512, batch 32, no clipping — the encoder DNABERT-style tools train;
//! * `recipe`: `train --preset default` (k 1, conv stem, pool 4, relative bias learning
//!   30x faster, clipping) on 200-bp sequences, batch 64 — what `cisformer train` runs.
//!
//! Usage: cargo bench --bench train -- CONFIG STEPS [cpu|cuda]   (cuda: a build with
//! `--features cuda`, see bench/gpu.sh)
use std::time::Instant;

use cisformer::model::{ForwardOptions, Model, ModelConfig};
use cisformer::tokenizer::Tokenizer;
use cisformer::train::{OptimConfig, Optimizer, Preset};
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    cisformer::alloc::retain_freed_memory();
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let (Some(config), Some(Ok(steps))) = (args.first(), args.get(1).map(|s| s.parse::<usize>()))
    else {
        eprintln!("usage: train encoder|recipe STEPS [cpu|cuda]");
        std::process::exit(2);
    };
    let device = match args.get(2).map(String::as_str) {
        None | Some("cpu") => candle_core::Device::Cpu,
        Some("cuda") => candle_core::Device::new_cuda(0).unwrap_or_else(|e| {
            eprintln!("no CUDA device: {e}");
            std::process::exit(2);
        }),
        Some(other) => {
            eprintln!("unknown device {other:?}: cpu or cuda");
            std::process::exit(2);
        }
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let (cfg, optim, ids) = match config.as_str() {
        "encoder" => {
            let d = 128;
            let cfg = ModelConfig {
                d_model: d,
                n_heads: 8,
                n_kv_heads: 8,
                n_layers: 4,
                ffn_dim: 4 * d,
                dropout: 0.0,
                // No convolution stem: the encoder reads k-mer embeddings plus positions.
                conv_kernel: 0,
                ..ModelConfig::default()
            };
            let ids: Vec<Vec<u32>> = (0..32)
                .map(|_| {
                    (0..200)
                        .map(|_| rng.random_range(5..cfg.vocab_size as u32))
                        .collect()
                })
                .collect();
            let optim = OptimConfig {
                warmup_steps: 0,
                clip_norm: 0.0,
                ..OptimConfig::default()
            };
            (cfg, optim, ids)
        }
        "recipe" => {
            let mut cfg = Preset::Default.model();
            let tok = Tokenizer::new(cfg.k, cfg.stride).unwrap();
            cfg.vocab_size = tok.vocab_size();
            cfg.n_outputs = 1;
            let ids: Vec<Vec<u32>> = (0..64)
                .map(|_| {
                    let seq: Vec<u8> = (0..200).map(|_| b"ACGT"[rng.random_range(0..4)]).collect();
                    tok.encode(&seq)
                })
                .collect();
            let optim = OptimConfig {
                warmup_steps: 0,
                ..Preset::Default.optim()
            };
            (cfg, optim, ids)
        }
        other => {
            eprintln!("unknown config {other:?}: encoder or recipe");
            std::process::exit(2);
        }
    };
    let b = ids.len();
    let mut model = Model::new(&cfg, 0).unwrap().into_device(&device).unwrap();
    let y: Vec<Vec<f32>> = (0..b).map(|_| vec![rng.random::<f32>()]).collect();
    let mut opt = Optimizer::new(&model, optim);
    let (mut tr, mut inf, mut att) = (vec![], vec![], vec![]);
    let with_attention = ForwardOptions {
        attention: true,
        ..Default::default()
    };
    for i in 0..steps + 2 {
        let t = Instant::now();
        opt.step(&mut model, &ids, &y).unwrap();
        let train = t.elapsed().as_secs_f64();
        let t = Instant::now();
        model.forward(&ids, &ForwardOptions::default()).unwrap();
        let infer = t.elapsed().as_secs_f64();
        let t = Instant::now();
        model.forward(&ids, &with_attention).unwrap();
        if i >= 2 {
            tr.push(train);
            inf.push(infer);
            att.push(t.elapsed().as_secs_f64());
        }
    }
    println!(
        "cisformer {config} on {} [d {} h {} n {} ffn {} conv {} pool {} rel {} b {b}]: train {:.1} seq/s, infer {:.1} seq/s, \
         peak RSS {:.0} MiB (infer returning all attention maps: {:.1} seq/s)",
        if device.is_cpu() { "cpu" } else { "cuda" },
        cfg.d_model,
        cfg.n_heads,
        cfg.n_layers,
        cfg.ffn_dim,
        cfg.conv_kernel,
        cfg.pool_width(),
        cfg.relative_bias,
        b as f64 / median(tr),
        b as f64 / median(inf),
        peak_rss_mib(),
        b as f64 / median(att),
    );
}
