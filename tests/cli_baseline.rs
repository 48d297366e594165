//! `cisformer baseline` end to end: outputs, determinism across thread counts, bad input.
use std::path::{Path, PathBuf};

use predicates::prelude::*;
use rand::{RngExt, SeedableRng};

mod common;
use common::{cisformer, ok, ok_with_stderr};

/// 300 random 50-mers; activity = 2·#GATA (either strand) + GC fraction + noise.
fn dataset(dir: &Path) -> (PathBuf, PathBuf) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let mut fa = String::new();
    let mut tsv = String::from("id\tactivity\n");
    for i in 0..300 {
        let mut s: Vec<u8> = (0..50)
            .map(|_| b"ACGT"[rng.random_range(0..4usize)])
            .collect();
        if rng.random_bool(0.5) {
            let at = rng.random_range(0..46usize);
            s[at..at + 4].copy_from_slice(b"GATA");
        }
        let text = String::from_utf8(s).unwrap();
        let gata = text.matches("GATA").count() + text.matches("TATC").count();
        let gc = text.bytes().filter(|&b| b == b'G' || b == b'C').count() as f64 / 50.0;
        let y = 2.0 * gata as f64 + gc + rng.random::<f64>() * 0.5;
        fa.push_str(&format!(">seq{i}\n{text}\n"));
        tsv.push_str(&format!("seq{i}\t{y:.4}\n"));
    }
    let (f, l) = (dir.join("s.fa"), dir.join("labels.tsv"));
    std::fs::write(&f, fa).unwrap();
    std::fs::write(&l, tsv).unwrap();
    (f, l)
}

fn run_out(fa: &Path, labels: &Path, out: &Path, threads: &str) {
    ok(cisformer()
        .args([
            "-j", threads, "baseline", "--k", "1-4", "--seed", "3", "--fasta",
        ])
        .arg(fa)
        .arg("--labels")
        .arg(labels)
        .arg("--out")
        .arg(out));
}

#[test]
fn writes_metrics_predictions_and_model_deterministically() {
    let dir = tempfile::tempdir().unwrap();
    let (fa, labels) = dataset(dir.path());
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    run_out(&fa, &labels, &a, "1");
    run_out(&fa, &labels, &b, "2");
    for f in ["metrics.tsv", "predictions.tsv", "ridge.json"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs between -j 1 and -j 2"
        );
    }
    let metrics = std::fs::read_to_string(a.join("metrics.tsv")).unwrap();
    let lines: Vec<&str> = metrics.lines().collect();
    assert_eq!(
        lines[0],
        "set\toutput\tn\tpearson\tspearman\tr2\tmse\tauroc\tauprc"
    );
    assert_eq!(lines.len(), 4);
    let test: Vec<&str> = lines[3].split('\t').collect();
    assert_eq!((test[0], test[1], test[2]), ("test", "activity", "30"));
    let r: f64 = test[3].parse().unwrap();
    assert!(
        r > 0.8,
        "held-out r {r}: the planted GATA signal should be easy"
    );
    let pred = std::fs::read_to_string(a.join("predictions.tsv")).unwrap();
    let plines: Vec<&str> = pred.lines().collect();
    assert_eq!(plines.len(), 301);
    assert_eq!(plines[0], "id\tactivity\tset");
    assert!(plines[1].starts_with("seq0\t"));
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("ridge.json")).unwrap()).unwrap();
    assert_eq!(model["options"]["kmax"], 4);
    assert_eq!(
        model["weights"][0].as_array().unwrap().len(),
        2 + 10 + 32 + 136
    );
}

#[test]
fn metrics_to_stdout_and_seed_changes_the_split() {
    let dir = tempfile::tempdir().unwrap();
    let (fa, labels) = dataset(dir.path());
    let go = |seed: &str| {
        let (stdout, stderr) = ok_with_stderr(
            cisformer()
                .args(["-q", "baseline", "--k", "2", "--seed", seed, "--fasta"])
                .arg(&fa)
                .arg("--labels")
                .arg(&labels),
        );
        assert!(stderr.is_empty(), "--quiet prints nothing");
        stdout
    };
    let (s1, s1b, s2) = (go("1"), go("1"), go("2"));
    assert!(s1.starts_with("set\toutput\t"));
    assert_eq!(s1, s1b);
    assert_ne!(s1, s2);
    let text = ok(cisformer()
        .args([
            "-q",
            "baseline",
            "--k",
            "1",
            "--split",
            "random",
            "--fractions",
            "0.6,0.2,0.2",
            "--fasta",
        ])
        .arg(&fa)
        .arg("--labels")
        .arg(&labels));
    let n: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').nth(2).unwrap())
        .collect();
    assert_eq!(n, ["180", "60", "60"]);
    cisformer()
        .args(["baseline", "--split", "column", "--fasta"])
        .arg(&fa)
        .arg("--labels")
        .arg(&labels)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("no such column"));
}

#[test]
fn bad_input_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (fa, _) = dataset(dir.path());
    let bad = dir.path().join("bad.tsv");
    std::fs::write(&bad, "id\tactivity\nseq0\tNaN\n").unwrap();
    cisformer()
        .arg("baseline")
        .arg("--fasta")
        .arg(&fa)
        .arg("--labels")
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "bad.tsv:2: column 2 ('activity'): 'NaN' is not a finite number",
        ));
    let partial = dir.path().join("partial.tsv");
    std::fs::write(&partial, "id\tactivity\nseq0\t1\n").unwrap();
    cisformer()
        .arg("baseline")
        .arg("--fasta")
        .arg(&fa)
        .arg("--labels")
        .arg(&partial)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("299 of 300 records")
                .and(predicate::str::contains("'seq1', 'seq2'")),
        );
    // --fasta without --labels, a bad k range: usage errors.
    cisformer()
        .arg("baseline")
        .arg("--fasta")
        .arg(&fa)
        .assert()
        .code(2);
    cisformer()
        .args(["baseline", "--k", "3-9", "--fasta"])
        .arg(&fa)
        .arg("--labels")
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("MAX <= 6"));
    cisformer()
        .arg("baseline")
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--fasta FA --labels TSV"));
}

#[test]
fn bed_input_with_held_out_chromosomes() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
    let mut genome = String::new();
    let mut bed = String::new();
    for c in 1..=3 {
        let seq: Vec<u8> = (0..6000)
            .map(|_| b"ACGT"[rng.random_range(0..4usize)])
            .collect();
        for start in (0..5950).step_by(60) {
            let w = &seq[start..start + 50];
            let gc = w.iter().filter(|&&b| b == b'G' || b == b'C').count();
            bed.push_str(&format!("chr{c}\t{start}\t{}\tr\t0\t+\t{gc}\n", start + 50));
        }
        genome.push_str(&format!(">chr{c}\n{}\n", String::from_utf8(seq).unwrap()));
    }
    std::fs::write(dir.path().join("g.fa"), genome).unwrap();
    std::fs::write(dir.path().join("r.bed"), bed).unwrap();
    let text = ok(cisformer().current_dir(dir.path()).args([
        "-q",
        "baseline",
        "--bed",
        "r.bed",
        "--genome",
        "g.fa",
        "--label-col",
        "7",
        "--val-chroms",
        "chr2",
        "--test-chroms",
        "chr3",
        "--k",
        "1",
    ]));
    let test = text
        .lines()
        .find(|l| l.starts_with("test\tcol7\t"))
        .unwrap();
    let r: f64 = test.split('\t').nth(3).unwrap().parse().unwrap();
    assert!(r > 0.999, "GC count is linear in 1-mer counts: r = {r}");
    cisformer()
        .current_dir(dir.path())
        .args([
            "baseline",
            "--bed",
            "r.bed",
            "--genome",
            "g.fa",
            "--label-col",
            "7",
            "--val-chroms",
            "chrX",
        ])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("'chrX' has no regions"));
}
