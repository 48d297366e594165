//! The small version of the recovery benchmark (bench/recovery.sh): train on a planted
//! grammar with two cooperative pairs and two decoy pairs, run `interactions`, and check
//! the ranked pairs against the simulator's truth. A lower bar than the full benchmark
//! (minutes in a debug build, not hours), but one that a model which did not learn the
//! pairs, or an analysis that lost them, fails.
use cisformer::analysis::recovery::{Truth, pair_recovery};

mod common;
use common::{cisformer, ok};

const GRAMMAR: &str = r#"
length = 100
gc = 0.42
noise_sd = 0.3
[[pair]]
kind = "cooperative"
a = "Spi1"
b = "Irf1"
rate = 0.3
min_gap = 2
max_gap = 12
orientation = "tandem"
effect = 2.0
[[pair]]
kind = "cooperative"
a = "CEBPA"
b = "NFKB1"
rate = 0.3
min_gap = 5
max_gap = 25
orientation = "convergent"
effect = 2.0
[[pair]]
kind = "decoy"
a = "HNF1A"
b = "Nrf1"
rate = 0.3
min_gap = 5
max_gap = 25
[[pair]]
kind = "decoy"
a = "TEAD1"
b = "MEF2C"
rate = 0.3
min_gap = 5
max_gap = 25
"#;

/// `(motif_a, motif_b)` of one score's rows of a per-pair table, in rank order.
fn ranked(tsv: &str, score: &str) -> Vec<(String, String)> {
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| header.iter().position(|c| *c == n).unwrap();
    let (a, b, s) = (col("motif_a"), col("motif_b"), col("score"));
    lines
        .map(|l| l.split('\t').collect::<Vec<&str>>())
        .filter(|f| f[s] == score)
        .map(|f| (f[a].to_string(), f[b].to_string()))
        .collect()
}

#[test]
fn planted_pairs_are_recovered_above_decoys() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("g.toml"), GRAMMAR).unwrap();
    let sim = d.join("sim");
    ok(cisformer()
        .args(["simulate", "-q", "--n", "2000", "--seed", "3", "--grammar"])
        .arg(d.join("g.toml"))
        .arg("--out")
        .arg(&sim));
    let model = d.join("model");
    common::train_on(
        &sim,
        &model,
        &[
            "--k",
            "6",
            "--stride",
            "3",
            "--d-model",
            "32",
            "--heads",
            "4",
            "--layers",
            "2",
            "--ffn",
            "64",
            "--epochs",
            "4",
            "--batch-size",
            "32",
            "--pooling",
            "mean",
            // The architecture these bars were measured on (before the pooled presets):
            // one position per token, learned positions, conv stem 9, dropout 0.1.
            "--pool",
            "0",
            "--conv-kernel",
            "9",
            "--positional",
            "learned",
            "--relative-bias",
            "0",
            "--dropout",
            "0.1",
            "--no-baseline",
        ],
    );
    let truth = Truth::read(sim.join("truth.tsv")).unwrap();
    // (ranking, score, AUPRC bar, planted above decoys required): the attention ranking
    // (site) with the full benchmark's bar; the others, kept for comparison, with bars
    // just under what they reach. The default (joint) orders by the causal effect, which
    // this small model barely learnt (its decoys carry no main effects, so attention
    // alone can tell them apart here; docs/calibration.md has the case it cannot).
    let bars = [
        ("site", "attn_grad", 0.9, true),
        ("site", "attention", 0.9, true),
        ("joint", "attn_grad", 0.1, false),
        ("auc-lower", "attention", 0.1, true),
        ("auc-lower", "attn_grad", 0.2, true),
        ("p-value", "attention", 0.6, true),
        ("p-value", "attn_grad", 0.8, true),
    ];
    let mut tables = std::collections::BTreeMap::new();
    for (rank_by, score, min_auprc, above) in bars {
        let tsv = tables.entry(rank_by).or_insert_with(|| {
            let pairs = d.join(format!("pairs_{rank_by}.tsv"));
            ok(cisformer()
                .args([
                    "interactions",
                    "-q",
                    "--score",
                    "both",
                    "--rank-by",
                    rank_by,
                ])
                .arg("--model")
                .arg(&model)
                .arg("--fasta")
                .arg(sim.join("seqs.fa"))
                .arg("--motifs")
                .arg(sim.join("motifs.meme"))
                .arg("--per-pair")
                .arg(&pairs)
                .args(["-o", "-"]));
            std::fs::read_to_string(&pairs).unwrap()
        });
        let r = pair_recovery(&ranked(tsv, score), &truth);
        let what = format!("{rank_by}/{score}");
        // 50-odd motif pairs are ranked, so chance AUPRC is about 2/50 = 0.04.
        assert!(r.n_pairs >= 20, "{what}: only {} pairs ranked", r.n_pairs);
        assert!(
            r.planted_above_decoys || !above,
            "{what}: a decoy outranks a planted pair: {:?} vs {:?}",
            r.interacting_ranks,
            r.decoy_ranks
        );
        eprintln!("{what}: AUPRC {:.3}", r.auprc);
        assert!(
            r.auprc >= min_auprc,
            "{what}: AUPRC {} < {min_auprc} ({:?})",
            r.auprc,
            r.interacting_ranks
        );
    }
}
