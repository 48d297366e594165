//! End-to-end tests of `heads`, `interactions` and `merge` on a tiny trained model.
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn cisformer() -> Command {
    Command::cargo_bin("cisformer").unwrap()
}

fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Simulated data (default grammar, 100 bp) and a tiny model trained on it.
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let sim = dir.join("sim");
    ok(cisformer()
        .args([
            "simulate", "-q", "--n", "200", "--len", "160", "--seed", "4", "--out",
        ])
        .arg(&sim));
    let model = dir.join("model");
    ok(cisformer()
        .args(["train", "-q", "--fasta"])
        .arg(sim.join("seqs.fa"))
        .arg("--labels")
        .arg(sim.join("labels.tsv"))
        .arg("--out")
        .arg(&model)
        .args([
            "--k",
            "3",
            "--d-model",
            "16",
            "--heads",
            "2",
            "--layers",
            "2",
            "--ffn",
            "32",
            "--epochs",
            "1",
            "--no-baseline",
        ]));
    (sim, model)
}

fn analysis(cmd: &str, sim: &Path, model: &Path, out: &Path, extra: &[&str]) {
    ok(cisformer()
        .args([cmd, "-q", "--model"])
        .arg(model)
        .arg("--fasta")
        .arg(sim.join("seqs.fa"))
        .arg("--motifs")
        .arg(sim.join("motifs.meme"))
        .arg("-o")
        .arg(out)
        .args(extra));
}

#[test]
fn sharded_runs_merge_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, model) = setup(dir.path());
    let d = dir.path();
    let min = ["--min-pairs", "1"];
    analysis("interactions", &sim, &model, &d.join("all.tsv"), &min);
    let all = std::fs::read_to_string(d.join("all.tsv")).unwrap();
    let header = all.lines().next().unwrap();
    assert!(header.starts_with("rank\tmotif_a\tmotif_b\tlayer\thead\tn_pairs\tn_seqs"));
    assert!(all.lines().count() > 5, "{all}");
    for i in 1..=3 {
        let shard = format!("{i}/3");
        analysis(
            "interactions",
            &sim,
            &model,
            &d.join(format!("p{i}.json")),
            &[&min[..], &["--shard", &shard, "-j", "1"]].concat(),
        );
    }
    let merged = d.join("merged.tsv");
    ok(cisformer()
        .args(["merge", "-q", "-o"])
        .arg(&merged)
        .args((1..=3).map(|i| d.join(format!("p{i}.json")))));
    assert_eq!(all, std::fs::read_to_string(&merged).unwrap());
    // Two of three shards are not a complete run.
    let out = cisformer()
        .args(["merge", "-o"])
        .arg(d.join("x.tsv"))
        .args((1..=2).map(|i| d.join(format!("p{i}.json"))))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("every shard"));

    // The same for the head atlas.
    analysis(
        "heads",
        &sim,
        &model,
        &d.join("heads.tsv"),
        &["--importance-n", "0"],
    );
    for i in 1..=2 {
        let shard = format!("{i}/2");
        analysis(
            "heads",
            &sim,
            &model,
            &d.join(format!("h{i}.json")),
            &["--shard", &shard],
        );
    }
    ok(cisformer()
        .args(["merge", "-q", "-o"])
        .arg(d.join("heads_merged.tsv"))
        .args((1..=2).map(|i| d.join(format!("h{i}.json")))));
    assert_eq!(
        std::fs::read_to_string(d.join("heads.tsv")).unwrap(),
        std::fs::read_to_string(d.join("heads_merged.tsv")).unwrap()
    );
}

#[test]
fn head_atlas_has_one_row_per_head_with_importance() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, model) = setup(dir.path());
    let out = dir.path().join("heads.tsv");
    let labels = sim.join("labels.tsv");
    let dump = dir.path().join("one.bedGraph");
    analysis(
        "heads",
        &sim,
        &model,
        &out,
        &[
            "--labels",
            labels.to_str().unwrap(),
            "--dump",
            "sim000003",
            "--dump-out",
            dump.to_str().unwrap(),
        ],
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows.len(), 1 + 2 * 2, "{text}");
    let col = |name: &str| rows[0].iter().position(|c| *c == name).unwrap();
    for r in &rows[1..] {
        let e: f64 = r[col("entropy")].parse().unwrap();
        assert!((0.0..=1.0).contains(&e), "entropy {e}");
        assert_ne!(r[col("importance_dpred")], ".", "importance missing: {r:?}");
    }
    let bg = std::fs::read_to_string(&dump).unwrap();
    assert_eq!(bg.matches("track type=bedGraph").count(), 4);
    assert!(
        bg.lines().nth(1).unwrap().starts_with("sim000003\t0\t1\t"),
        "{bg}"
    );
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, model) = setup(dir.path());
    let out = dir.path().join("x.tsv");
    let run = |extra: &[&str], needle: &str| {
        let o = cisformer()
            .args(["interactions", "--model"])
            .arg(&model)
            .arg("--fasta")
            .arg(sim.join("seqs.fa"))
            .arg("-o")
            .arg(&out)
            .args(extra)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_ne!(o.status.code(), Some(0), "{extra:?}");
        assert!(err.contains(needle), "stderr lacks '{needle}': {err}");
        assert!(!out.exists());
    };
    run(&["--shard", "4/3"], "shard");
    let sites = dir.path().join("sites.tsv");
    std::fs::write(&sites, "motif_id\tmotif_alt_id\tsequence_name\tstart\tstop\tstrand\nMA9999.1\tX\tsim000001\t1\t10\t+\n").unwrap();
    run(&["--sites", sites.to_str().unwrap()], "sites.tsv:2");
    std::fs::write(&sites, "MA0080.7\tSpi1\tsim000001\t150\t999\t+\n").unwrap();
    run(&["--sites", sites.to_str().unwrap()], "does not fit");
}
