//! End-to-end tests of `cisformer simulate`: determinism, planted sites are scanner hits,
//! summary and motif files, and bad input.
use std::{collections::HashMap, path::Path};

use cisformer::motif::{self, Background, Pssm, scan};

mod common;
use common::{cisformer, ok};

fn simulate(dir: &Path, extra: &[&str]) {
    ok(cisformer()
        .args(["simulate", "-q", "--n", "400", "--out"])
        .arg(dir)
        .args(extra));
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

/// Recomputes every noise-free activity from truth.tsv and sites.bed alone (an
/// independent reading of the grammar): single effects for motifs present, pair effects
/// only when two sites sit in the pair's gap window and orientation. Decoy pairs must
/// co-occur at their rate and add nothing.
#[test]
fn noise_free_activity_follows_the_truth_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = cisformer()
        .args(["simulate", "-q", "--n", "3000", "--seed", "11", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let read = |f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    let truth = read("truth.tsv");
    let rows: Vec<Vec<&str>> = truth
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    let mut sites: HashMap<String, Vec<(usize, usize, String, bool)>> = HashMap::new();
    for l in read("sites.bed").lines() {
        let f: Vec<&str> = l.split('\t').collect();
        sites.entry(f[0].to_string()).or_default().push((
            f[1].parse().unwrap(),
            f[2].parse().unwrap(),
            f[3].to_string(),
            f[5] == "+",
        ));
    }
    let in_window = |s: &[(usize, usize, String, bool)], r: &[&str]| {
        let (lo, hi): (usize, usize) = (r[8].parse().unwrap(), r[9].parse().unwrap());
        s.iter().any(|x| {
            s.iter().any(|y| {
                let names = (x.2 == r[1] && y.2 == r[2]) || (x.2 == r[2] && y.2 == r[1]);
                if !names || x.0 > y.0 || y.0 < x.1 || std::ptr::eq(x, y) {
                    return false;
                }
                let orient = match (x.3, y.3) {
                    (true, false) => "convergent",
                    (false, true) => "divergent",
                    _ => "tandem",
                };
                (lo..=hi).contains(&(y.0 - x.1)) && (r[10] == "any" || r[10] == orient)
            })
        })
    };
    let empty = Vec::new();
    let (mut n, mut coop_on, mut coop_off, mut decoy_planted) = (0, 0, 0, 0);
    for l in read("noise_free.tsv").lines().skip(1) {
        let (id, v) = l.split_once('\t').unwrap();
        let got: f64 = v.parse().unwrap();
        let s = sites.get(id).unwrap_or(&empty);
        let mut want = 0.0;
        for r in &rows {
            let effect: f64 = r[6].parse().unwrap();
            if r[0] == "single" {
                if s.iter().any(|x| x.2 == r[1]) {
                    want += effect;
                }
            } else if in_window(s, r) {
                want += effect;
            }
        }
        assert!(
            (got - want).abs() < 1e-5,
            "{id}: noise-free {got}, truth table gives {want}"
        );
        let coop = &rows[12];
        let both = s.iter().any(|x| x.2 == coop[1]) && s.iter().any(|x| x.2 == coop[2]);
        if both && in_window(s, coop) {
            coop_on += 1;
        } else if both {
            coop_off += 1;
        }
        let planted_decoy = read_decoy(s, &rows[15]);
        decoy_planted += planted_decoy as usize;
        n += 1;
    }
    assert_eq!(n, 3000);
    assert!(
        coop_on > 300,
        "cooperative pair in window in only {coop_on} sequences"
    );
    assert!(
        coop_off > 0,
        "no sequence holds both cooperative motifs outside the window"
    );
    // Planted in its window at rate 0.3 and, independently, outside it at 0.25.
    let rate = decoy_planted as f64 / n as f64;
    let asked = 1.0 - (1.0 - 0.3) * (1.0 - 0.25);
    assert!(
        (rate - asked).abs() < 0.04,
        "decoy pair co-occurs in {rate} of sequences, asked {asked}"
    );
}

fn read_decoy(s: &[(usize, usize, String, bool)], r: &[&str]) -> bool {
    s.iter().any(|x| x.2 == r[1]) && s.iter().any(|x| x.2 == r[2])
}

/// Binary labels by rank: exactly the top (1 - q) fraction is 1 even when activities tie
/// (no noise, one output with a single effect), and two outputs get their own labels.
#[test]
fn binary_labels_and_two_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("g.toml");
    std::fs::write(
        &g,
        "outputs = [\"liver\", \"blood\"]\nlength = 120\nbinary_quantile = 0.7\n\
         [[single]]\nmotif = \"HNF1A\"\nrate = 0.3\neffect = [1.0, 0.0]\n\
         [[single]]\nmotif = \"Spi1\"\nrate = 0.3\neffect = [0.0, 1.0]\n",
    )
    .unwrap();
    let out = dir.path().join("o");
    simulate(&out, &["--grammar", g.to_str().unwrap()]);
    let labels = std::fs::read_to_string(out.join("labels.tsv")).unwrap();
    let rows: Vec<Vec<&str>> = labels.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows[0], ["id", "liver", "blood"]);
    for col in [1, 2] {
        let ones = rows[1..].iter().filter(|r| r[col] == "1").count();
        assert_eq!(
            ones, 120,
            "column {col}: {ones} of 400 labelled 1, expected 30 %"
        );
        assert!(rows[1..].iter().all(|r| r[col] == "0" || r[col] == "1"));
    }
    let same = rows[1..].iter().filter(|r| r[1] == r[2]).count();
    assert!(same < 400, "the two outputs have identical labels");
}

/// `--grammar null`: the default grammar's sequences, sites and main effects with every
/// interaction at zero; truth.tsv says so; `--grammar default` is the default.
#[test]
fn null_grammar_is_the_default_without_interactions() {
    let (d, n, x) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    simulate(d.path(), &["--seed", "5"]);
    simulate(n.path(), &["--seed", "5", "--grammar", "null"]);
    simulate(x.path(), &["--seed", "5", "--grammar", "default"]);
    let read =
        |dir: &tempfile::TempDir, f: &str| std::fs::read_to_string(dir.path().join(f)).unwrap();
    for f in ["seqs.fa", "labels.tsv", "truth.tsv"] {
        assert_eq!(read(&d, f), read(&x, f), "{f}");
    }
    assert_eq!(read(&d, "seqs.fa"), read(&n, "seqs.fa"));
    assert_ne!(read(&d, "labels.tsv"), read(&n, "labels.tsv"));
    let truth = read(&n, "truth.tsv");
    let header: Vec<&str> = truth.lines().next().unwrap().split('\t').collect();
    let col = |c: &str| header.iter().position(|h| *h == c).unwrap();
    let rows: Vec<Vec<&str>> = truth
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    let pairs: Vec<&Vec<&str>> = rows.iter().filter(|r| r[col("kind")] != "single").collect();
    assert_eq!(pairs.len(), 5);
    for r in &pairs {
        assert_eq!((r[col("kind")], r[col("effect")]), ("decoy", "0"), "{r:?}");
    }
    // The single effects are the default grammar's.
    let singles = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.starts_with("single"))
            .map(String::from)
            .collect()
    };
    assert_eq!(singles(&truth), singles(&read(&d, "truth.tsv")));
    // The default's decoy members carry main effects.
    let def = read(&d, "truth.tsv");
    let effect = |name: &str| -> f64 {
        def.lines()
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .find(|r| r[0] == "single" && r[col("name_a")] == name)
            .map(|r| r[col("effect")].parse().unwrap())
            .unwrap()
    };
    assert!(effect("HNF1A") + effect("Nrf1") >= 2.0);
}
