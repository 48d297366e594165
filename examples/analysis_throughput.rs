//! Cost of the attention analysis per sequence for a 4-layer × 8-head model over 200
//! tokens, single-threaded, on synthetic softmax attention with ~6 motif sites per
//! sequence. Compare with a plain model prediction (~1–3 ms per sequence on one core
//! for a model of this size); the goal is at most 2× that.
//!
//! ```sh
//! cargo run --release --example analysis_throughput -- [N_SEQS] [SITES_PER_SEQ]
//! ```

use std::time::Instant;

use cisformer::analysis::heads::{HeadAccumulator, HeadConfig};
use cisformer::analysis::interactions::{InteractionAccumulator, InteractionConfig};
use cisformer::analysis::{SeqAttention, Site, TokenGeometry, add_sequence};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const LAYERS: usize = 4;
const HEADS: usize = 8;

fn main() {
    let n_seqs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let n_sites: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let geom = TokenGeometry {
        k: 6,
        stride: 1,
        n_specials_before: 1,
        seq_len_bp: 203,
        has_sep: true,
    };
    let n = geom.n_tokens();
    assert_eq!(n, 200);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let data: Vec<(SeqAttention, Vec<Site>)> = (0..n_seqs)
        .map(|i| {
            let mut attn = vec![0f32; LAYERS * HEADS * n * n];
            for row in attn.chunks_exact_mut(n) {
                let mut s = 0.0;
                for v in row.iter_mut() {
                    *v = (3.0 * rng.random::<f32>()).exp();
                    s += *v;
                }
                row.iter_mut().for_each(|v| *v /= s);
            }
            let sites = (0..n_sites)
                .map(|_| {
                    let start = rng.random_range(0..190usize);
                    Site {
                        motif: rng.random_range(0..16usize),
                        start,
                        end: start + rng.random_range(8..14usize).min(203 - start),
                        plus: rng.random_bool(0.5),
                    }
                })
                .collect();
            (
                SeqAttention {
                    seq_index: i,
                    n_tokens: n,
                    n_layers: LAYERS,
                    n_heads: HEADS,
                    attn,
                },
                sites,
            )
        })
        .collect();

    // CPU time of this process (the build machine is shared, so wall time overstates).
    let per_seq = |t: (Instant, Option<f64>)| {
        let secs = match (t.1, cpu_seconds()) {
            (Some(a), Some(b)) => b - a,
            _ => t.0.elapsed().as_secs_f64(),
        };
        secs * 1e3 / n_seqs as f64
    };
    let now = || (Instant::now(), cpu_seconds());

    let mut h = HeadAccumulator::new(HeadConfig::new(LAYERS, HEADS));
    let t = now();
    for (a, s) in &data {
        h.add(a, s, &geom).unwrap();
    }
    let heads_ms = per_seq(t);

    let mut cfg = HeadConfig::new(LAYERS, HEADS);
    cfg.redundancy_every = usize::MAX;
    let mut h0 = HeadAccumulator::new(cfg);
    let t = now();
    for (a, s) in &data {
        h0.add(a, s, &geom).unwrap();
    }
    let heads_nored_ms = per_seq(t);

    let mut it = InteractionAccumulator::new(InteractionConfig::new(LAYERS, HEADS));
    let t = now();
    for (a, s) in &data {
        it.add(a, s, &geom).unwrap();
    }
    let inter_ms = per_seq(t);

    let mut h2 = HeadAccumulator::new(HeadConfig::new(LAYERS, HEADS));
    let mut it2 = InteractionAccumulator::new(InteractionConfig::new(LAYERS, HEADS));
    let t = now();
    for (a, s) in &data {
        add_sequence(Some(&mut h2), Some(&mut it2), a, s, &geom).unwrap();
    }
    let both_ms = per_seq(t);

    let t = now();
    let rows = it2.finish();
    let atlas = h2.finish();
    let finish_ms = per_seq(t) * n_seqs as f64;

    println!(
        "analysis of {n_seqs} sequences, {LAYERS} layers x {HEADS} heads x {n} tokens, \
         {n_sites} sites/sequence, 1 thread, CPU time"
    );
    println!("  head atlas            {heads_ms:8.3} ms/seq");
    println!("    without redundancy  {heads_nored_ms:8.3} ms/seq");
    println!("  interactions          {inter_ms:8.3} ms/seq");
    println!("  both (shared pass)    {both_ms:8.3} ms/seq");
    println!(
        "  finish                {finish_ms:8.1} ms total ({} interaction rows, {} heads)",
        rows.len(),
        atlas.len()
    );
    for pred in [1.0, 3.0] {
        println!(
            "  vs a {pred:.0} ms/seq prediction: analysis/prediction = {:.2}",
            both_ms / pred
        );
    }
}

/// User + system CPU seconds of this process, from /proc (Linux); `None` elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
