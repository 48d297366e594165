//! End-to-end tests of `cisformer simulate`: determinism, planted sites are scanner hits,
//! summary and motif files, and bad input.
use std::{collections::HashMap, path::Path};

use assert_cmd::Command;
use cisformer::motif::{self, Background, Pssm, scan};

fn cisformer() -> Command {
    Command::cargo_bin("cisformer").unwrap()
}

fn simulate(dir: &Path, extra: &[&str]) {
    let out = cisformer()
        .args(["simulate", "-q", "--n", "400", "--out"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const FILES: [&str; 7] = [
    "seqs.fa",
    "labels.tsv",
    "noise_free.tsv",
    "sites.bed",
    "truth.tsv",
    "motifs.meme",
    "summary.json",
];

#[test]
fn same_seed_same_bytes_other_seed_other_data_any_threads() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let c = tempfile::tempdir().unwrap();
    simulate(a.path(), &["--seed", "7", "-j", "1"]);
    simulate(b.path(), &["--seed", "7", "-j", "2"]);
    simulate(c.path(), &["--seed", "8"]);
    for f in FILES {
        let x = std::fs::read(a.path().join(f)).unwrap();
        assert!(!x.is_empty(), "{f} is empty");
        assert_eq!(x, std::fs::read(b.path().join(f)).unwrap(), "{f} differs");
    }
    for f in ["seqs.fa", "labels.tsv", "sites.bed"] {
        assert_ne!(
            std::fs::read(a.path().join(f)).unwrap(),
            std::fs::read(c.path().join(f)).unwrap(),
            "{f} does not depend on the seed"
        );
    }
}

/// Every row of sites.bed is a hit of its motif at p < 1e-4 found by the scanner on
/// the written sequences, with the written motifs.
#[test]
fn every_planted_site_is_a_scanner_hit() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), &["--seed", "3"]);
    let motifs = motif::load(&dir.path().join("motifs.meme"), None)
        .unwrap()
        .motifs;
    assert_eq!(motifs.len(), 12);
    let bg = Background::uniform();
    let fasta = std::fs::read_to_string(dir.path().join("seqs.fa")).unwrap();
    let mut seqs = HashMap::new();
    let mut lines = fasta.lines();
    while let (Some(h), Some(s)) = (lines.next(), lines.next()) {
        seqs.insert(h.trim_start_matches('>').to_string(), s.as_bytes().to_vec());
    }
    let sites = std::fs::read_to_string(dir.path().join("sites.bed")).unwrap();
    let mut n = 0;
    for row in sites.lines() {
        let f: Vec<&str> = row.split('\t').collect();
        let (start, end): (usize, usize) = (f[1].parse().unwrap(), f[2].parse().unwrap());
        let m = motifs.iter().find(|m| m.id == f[3]).unwrap();
        let pssm = Pssm::new(m, &bg, 0.1);
        let hits = scan::scan_sequence(&pssm, &seqs[f[0]], 1e-4, true);
        assert!(
            hits.iter()
                .any(|h| h.start == start && h.end == end && h.plus == (f[5] == "+")),
            "planted site is not a scanner hit: {row}"
        );
        n += 1;
    }
    assert!(n > 400, "only {n} sites planted in 400 sequences");
}

#[test]
fn summary_reports_the_noise_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    simulate(dir.path(), &["--seed", "5"]);
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("summary.json")).unwrap()).unwrap();
    let r = s["outputs"][0]["noise_ceiling"].as_f64().unwrap();
    assert!(r > 0.5 && r < 1.0, "noise ceiling {r}");
    assert_eq!(s["n"], 400);
    assert_eq!(s["pairs"].as_array().unwrap().len(), 5);
}

#[test]
fn custom_motifs_and_grammar_files() {
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("g.toml");
    std::fs::write(
        &g,
        "length = 60\nnoise_sd = 0.1\n[[single]]\nmotif = \"Spi1\"\nrate = 1.0\neffect = 1.0\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    simulate(&out, &["--grammar", g.to_str().unwrap()]);
    let fa = std::fs::read_to_string(out.join("seqs.fa")).unwrap();
    assert!(fa.lines().nth(1).unwrap().len() == 60);
    assert_eq!(
        std::fs::read_to_string(out.join("sites.bed"))
            .unwrap()
            .lines()
            .count(),
        400
    );
}

fn fails_with(args: &[&str], dir: &Path, needle: &str) {
    let out = cisformer()
        .arg("simulate")
        .arg("--out")
        .arg(dir.join("o"))
        .args(args)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "stderr lacks '{needle}': {err}");
    assert!(!dir.join("o").join("seqs.fa").exists());
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bad = d.join("bad.toml");
    std::fs::write(
        &bad,
        "length = 200\n[[single]]\nmotif = \"NoSuchTF\"\nrate = 0.5\n",
    )
    .unwrap();
    fails_with(&["--grammar", bad.to_str().unwrap()], d, "NoSuchTF");
    let typo = d.join("typo.toml");
    std::fs::write(&typo, "length = 200\nlenght = 3\n").unwrap();
    fails_with(&["--grammar", typo.to_str().unwrap()], d, "typo.toml");
    let motifs = d.join("m.txt");
    std::fs::write(&motifs, "this is not a motif file\n").unwrap();
    fails_with(&["--motifs", motifs.to_str().unwrap()], d, "m.txt");
    fails_with(&["--len", "10"], d, "bp");
    fails_with(&["--n", "0"], d, "--n");
}
