//! End-to-end tests of `validate` and `patch` on a tiny trained model.
use std::path::{Path, PathBuf};

use assert_cmd::Command;

mod common;
use common::{cisformer, fails, ok, sim_and_tiny_model};

/// Simulated data, a tiny model trained on it, and its interaction table.
fn setup(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let (sim, model) = sim_and_tiny_model(dir, 150, 120);
    let inter = dir.join("interactions.tsv");
    ok(cisformer()
        .args(["interactions", "-q", "--min-pairs", "1", "--model"])
        .arg(&model)
        .arg("--fasta")
        .arg(sim.join("seqs.fa"))
        .arg("--motifs")
        .arg(sim.join("motifs.meme"))
        .arg("-o")
        .arg(&inter));
    (sim, model, inter)
}

/// `validate` with small settings so a debug build stays fast.
fn validate(sim: &Path, model: &Path, inter: &Path) -> Command {
    validate_on(&sim.join("seqs.fa"), sim, model, inter)
}

fn validate_on(fasta: &Path, sim: &Path, model: &Path, inter: &Path) -> Command {
    let mut c = cisformer();
    c.args(["validate", "-q", "--model"])
        .arg(model)
        .arg("--fasta")
        .arg(fasta)
        .arg("--motifs")
        .arg(sim.join("motifs.meme"))
        .arg("--interactions")
        .arg(inter)
        .args([
            "--top",
            "3",
            "--draws",
            "2",
            "--max-seqs",
            "15",
            "--bootstrap",
            "200",
            "--spacing-n",
            "3",
            "--spacing-max",
            "20",
            "--spacing-step",
            "5",
        ]);
    c
}

const VERDICTS: [&str; 5] = [
    "confirmed",
    "attention-only",
    "effect-only",
    "neither",
    "untested",
];

#[test]
fn validate_writes_the_concordance_table_the_same_for_any_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (sim, model, inter) = setup(d);
    let (v1, s1, v2, s2) = (
        d.join("v1.tsv"),
        d.join("s1.tsv"),
        d.join("v2.tsv"),
        d.join("s2.tsv"),
    );
    ok(validate(&sim, &model, &inter)
        .args(["-j", "1", "-o"])
        .arg(&v1)
        .arg("--spacing-out")
        .arg(&s1));
    ok(validate(&sim, &model, &inter)
        .args(["-j", "2", "-o"])
        .arg(&v2)
        .arg("--spacing-out")
        .arg(&s2));
    let text = std::fs::read_to_string(&v1).unwrap();
    assert_eq!(text, std::fs::read_to_string(&v2).unwrap());
    assert_eq!(
        std::fs::read_to_string(&s1).unwrap(),
        std::fs::read_to_string(&s2).unwrap()
    );
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    for col in [
        "motif_a",
        "motif_b",
        "coattention_rank",
        "epistasis",
        "epistasis_ci_low",
        "epistasis_ci_high",
        "best_spacing_bp",
        "head_ablation_effect",
        "verdict",
    ] {
        assert!(header.contains(&col), "{col} missing from {header:?}");
    }
    let rows: Vec<Vec<&str>> = lines
        .clone()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), header.len());
        assert_eq!(r[col("coattention_rank")], (i + 1).to_string());
        assert!(VERDICTS.contains(&r[col("verdict")]), "{r:?}");
        let n: usize = r[col("n_seqs")].parse().unwrap();
        assert!(n <= 15);
        if n >= 2 {
            let e: f64 = r[col("epistasis")].parse().unwrap();
            let lo: f64 = r[col("epistasis_ci_low")].parse().unwrap();
            let hi: f64 = r[col("epistasis_ci_high")].parse().unwrap();
            assert!(lo <= e && e <= hi, "{r:?}");
        }
    }
    assert!(text.contains("# spearman(coattention_effect, epistasis) = "));
    // spacing curves: 3 pairs x 4 orientations x gaps 0,5,..,20
    let sp = std::fs::read_to_string(&s1).unwrap();
    assert!(sp.starts_with("motif_a\tmotif_b\torientation\tdistance_bp\tcooperativity"));
    assert_eq!(sp.lines().count(), 1 + 3 * 4 * 5);
    // a different seed changes the draws
    let v3 = d.join("v3.tsv");
    ok(validate(&sim, &model, &inter)
        .args(["--seed", "9", "-o"])
        .arg(&v3));
    assert_ne!(text, std::fs::read_to_string(&v3).unwrap());
    // The effect evidence names its test; the cooperativity test is one-sided on the plain
    // epistasis, so its value and interval are the epistasis columns' of the causal sums
    // and its p-value is at most 0.5 exactly when the estimate is above the margin.
    for r in &rows {
        assert_eq!(r[col("effect_test")], "specific");
        assert_eq!(r[col("effect")], r[col("specific")]);
    }
    let v4 = d.join("v4.tsv");
    ok(validate(&sim, &model, &inter)
        .args(["--causal", "cooperative", "-o"])
        .arg(&v4));
    let coop = std::fs::read_to_string(&v4).unwrap();
    assert!(coop.contains("effect = cooperativity (epistasis, one-sided) test"));
    let coop_rows: Vec<Vec<&str>> = coop
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
        .collect();
    for (r, plain) in coop_rows.iter().zip(&rows) {
        assert_eq!(r[col("effect_test")], "cooperative");
        // Same sites, same draws: in the same gap band the specific columns do not depend
        // on the test chosen (which picks the band).
        if r[col("gap_band")] == plain[col("gap_band")] {
            assert_eq!(r[col("specific")], plain[col("specific")]);
        }
        let q: f64 = r[col("effect_q")].parse().unwrap();
        let p: f64 = r[col("effect_p")].parse().unwrap();
        assert!(q >= p && q <= 1.0, "{r:?}");
    }

    // Without --spacing-max the scan reaches at least 50 bp and every pair's distances in
    // the data (here: its median distance in the interaction table), not a fixed 20 bp.
    let s5 = d.join("s5.tsv");
    let mut c = cisformer();
    c.args(["validate", "-q", "--model"])
        .arg(&model)
        .arg("--fasta")
        .arg(sim.join("seqs.fa"))
        .arg("--motifs")
        .arg(sim.join("motifs.meme"))
        .arg("--interactions")
        .arg(&inter)
        .args([
            "--top",
            "3",
            "--draws",
            "1",
            "--max-seqs",
            "5",
            "--bootstrap",
            "50",
            "--spacing-n",
            "2",
            "--spacing-step",
            "5",
            "-o",
            "-",
            "--spacing-out",
        ])
        .arg(&s5);
    ok(&mut c);
    let table = std::fs::read_to_string(&inter).unwrap();
    let mut t = table.lines();
    let head: Vec<&str> = t.next().unwrap().split('\t').collect();
    let at = |n: &str| head.iter().position(|h| *h == n).unwrap();
    let median = |a: &str, b: &str| -> usize {
        t.clone()
            .map(|l| l.split('\t').collect::<Vec<_>>())
            .find(|f| f[at("motif_a")] == a && f[at("motif_b")] == b)
            .map(|f| f[at("median_distance_bp")].parse().unwrap())
            .unwrap()
    };
    let curves = std::fs::read_to_string(&s5).unwrap();
    let mut reach: Vec<(String, String, usize)> = Vec::new();
    for l in curves.lines().skip(1) {
        let f: Vec<&str> = l.split('\t').collect();
        let d: usize = f[3].parse().unwrap();
        match reach.iter_mut().find(|r| r.0 == f[0] && r.1 == f[1]) {
            Some(r) => r.2 = r.2.max(d),
            None => reach.push((f[0].into(), f[1].into(), d)),
        }
    }
    assert_eq!(reach.len(), 3, "{curves}");
    for (a, b, max) in &reach {
        assert!(
            *max >= 50 && *max >= median(a, b),
            "{a}-{b} scanned to {max} bp"
        );
        assert!(*max <= 120, "{a}-{b} beyond the sequence length");
    }

    // The report shows the concordance table and the curves.
    let html = ok(cisformer()
        .args(["report", "-q", "--model"])
        .arg(&model)
        .arg("--validation")
        .arg(&v1)
        .arg("--spacing")
        .arg(&s1)
        .args(["-o", "-"]));
    assert!(html.contains("id=\"validation\"") && html.contains("Checked pairs"));
}

#[test]
fn validate_with_a_site_table_equals_scanning() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, model, inter) = setup(dir.path());
    let scanned = ok(validate(&sim, &model, &inter).args(["--no-spacing", "-o", "-"]));
    let sites = dir.path().join("sites.tsv");
    common::scan_to(&sim, &sites);
    let read = ok(validate(&sim, &model, &inter)
        .args(["--no-spacing", "-o", "-", "--sites"])
        .arg(&sites));
    assert_eq!(scanned, read);
    // A table naming a sequence the FASTA lacks is an error with file and line.
    let text = std::fs::read_to_string(&sites).unwrap();
    let first = text.lines().nth(1).unwrap();
    let name = first.split('\t').nth(2).unwrap();
    std::fs::write(&sites, text.replacen(name, "nowhere", 1)).unwrap();
    fails(
        validate(&sim, &model, &inter)
            .args(["--no-spacing", "--sites"])
            .arg(&sites),
        "sites.tsv:2: sequence 'nowhere' is not in the FASTA",
    );
}

#[test]
fn validate_reports_bad_input_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (sim, model, inter) = setup(d);
    // not an interaction table
    let bad = d.join("bad.tsv");
    std::fs::write(&bad, "motif\tscore\nA\t1\n").unwrap();
    fails(
        validate(&sim, &model, &bad)
            .args(["-o"])
            .arg(d.join("o.tsv")),
        "not an interaction table",
    );
    // a motif that is not in the motif file, named with its line
    let text = std::fs::read_to_string(&inter).unwrap();
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let first = lines[1].split('\t').nth(1).unwrap().to_string();
    lines[1] = lines[1].replacen(&first, "NoSuchTF", 1);
    let unknown = d.join("unknown.tsv");
    std::fs::write(&unknown, lines.join("\n") + "\n").unwrap();
    fails(
        validate(&sim, &model, &unknown)
            .args(["-o"])
            .arg(d.join("o.tsv")),
        ":2: motif 'NoSuchTF' is not in the motif file",
    );
    // no sequence holds both sites: rows marked untested, not a crash
    let plain = d.join("plain.fa");
    let seq: String = (0..120).map(|i| ['G', 'T'][(i * i / 3) % 2]).collect();
    std::fs::write(&plain, format!(">s1\n{seq}\n")).unwrap();
    let out = ok(validate_on(&plain, &sim, &model, &inter).args([
        "--no-spacing",
        "--pair",
        "TEAD1,CTCF",
        "-o",
        "-",
    ]));
    let rows: Vec<&str> = out
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert!((3..=4).contains(&rows.len()), "{out}");
    assert!(
        rows.iter()
            .any(|r| r.contains("TEAD1\tCTCF\t") || r.contains("CTCF\tTEAD1\t")),
        "{out}"
    );
    for r in rows {
        assert_eq!(r.split('\t').nth(17), Some("untested"), "{r}");
        assert_eq!(r.split('\t').nth(5), Some("0"), "{r}");
    }
    fails(
        validate(&sim, &model, &inter).args(["--pair", "TEAD1,NoSuchTF"]),
        "motif 'NoSuchTF' is not in the motif file",
    );
    fails(
        cisformer()
            .args(["validate", "--top", "0", "--model"])
            .arg(&model)
            .arg("--fasta")
            .arg(&plain)
            .arg("--interactions")
            .arg(&inter),
        "--top must be at least 1",
    );
    // --top 0 with --pair checks only the named pairs.
    let out = ok(cisformer()
        .args([
            "validate",
            "-q",
            "--top",
            "0",
            "--no-spacing",
            "--draws",
            "2",
        ])
        .args(["--pair", "TEAD1,CTCF", "--model"])
        .arg(&model)
        .arg("--fasta")
        .arg(&plain)
        .arg("--motifs")
        .arg(sim.join("motifs.meme"))
        .arg("--interactions")
        .arg(&inter)
        .args(["-o", "-"]));
    let rows: Vec<&str> = out
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with('#'))
        .collect();
    assert_eq!(rows.len(), 1, "{out}");
    assert!(rows[0].starts_with("TEAD1\tCTCF\t"), "{out}");
}

#[test]
fn patch_ranks_heads_by_restoration() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (sim, model, _) = setup(d);
    let patch = |extra: &[&str]| {
        let mut c = cisformer();
        c.args(["patch", "-q", "--model"])
            .arg(&model)
            .arg("--fasta")
            .arg(sim.join("seqs.fa"))
            .args(["--batch-size", "8"])
            .args(extra);
        c
    };
    let motifs = sim.join("motifs.meme");
    let m = motifs.to_str().unwrap();
    let a = ok(&mut patch(&[
        "--pair",
        "Spi1,Irf1",
        "--motifs",
        m,
        "-j",
        "1",
    ]));
    let b = ok(&mut patch(&[
        "--pair",
        "Spi1,Irf1",
        "--motifs",
        m,
        "-j",
        "2",
    ]));
    assert_eq!(a, b);
    let lines: Vec<&str> = a.lines().collect();
    assert_eq!(
        lines[0],
        "layer\thead\trestored\tmean_clean\tmean_corrupt\tmean_patched\tn"
    );
    let heads: Vec<(String, String)> = lines[1..]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[0].to_string(), f[1].to_string())
        })
        .collect();
    let want: Vec<(String, String)> = [(0, 0), (0, 1), (1, 0), (1, 1)]
        .iter()
        .map(|(l, h)| (l.to_string(), h.to_string()))
        .collect();
    assert_eq!(heads, want);
    // The report draws the heatmap from it.
    let pt = d.join("patch.tsv");
    std::fs::write(&pt, &a).unwrap();
    let html = ok(cisformer()
        .args(["report", "-q", "--model"])
        .arg(&model)
        .arg("--patch")
        .arg(&pt)
        .args(["-o", "-"]));
    assert!(html.contains("id=\"patching\""));
    // Clean == corrupted: nothing to restore, written NA.
    let fa = sim.join("seqs.fa");
    let same = ok(&mut patch(&["--corrupt", fa.to_str().unwrap()]));
    for l in same.lines().skip(1) {
        assert_eq!(l.split('\t').nth(2), Some("NA"), "{l}");
    }
    // Bad inputs.
    let short = d.join("short.fa");
    std::fs::write(&short, ">x\nACGTACGTAC\n").unwrap();
    fails(
        &mut patch(&["--corrupt", short.to_str().unwrap()]),
        "paired with clean ones by order",
    );
    fails(
        &mut patch(&["--pair", "Spi1", "--motifs", m]),
        "expected two motifs as A,B",
    );
    fails(
        &mut patch(&["--pair", "Spi1,NoSuchTF", "--motifs", m]),
        "motif 'NoSuchTF' is not in the motif file",
    );
    let out = patch(&[]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "--corrupt or --pair is required"
    );
}
