//! End-to-end tests of `heads`, `interactions` and `merge` on a tiny trained model.
use std::path::{Path, PathBuf};

mod common;
use common::{cisformer, ok, sim_and_tiny_model};

/// Simulated data (default grammar, 160 bp) and a tiny model trained on it.
fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    sim_and_tiny_model(dir, 200, 160)
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
    // The default recipe pools 4 tokens (k 3, stride 1) into each attention position, so
    // each interval is one position's 4-bp start step.
    assert!(
        bg.lines().nth(1).unwrap().starts_with("sim000003\t0\t4\t"),
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

/// The streaming pass reads the FASTA a batch at a time: batch size, shards and
/// --active-only (ranked over the whole FASTA) must not change a byte, and BEDPE rows
/// must name the sequence whose sites they join.
#[test]
fn streaming_batches_shards_and_active_only_agree() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, model) = setup(dir.path());
    let d = dir.path();
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
    let common = [
        "--min-pairs",
        "1",
        "--active-only",
        "0.4",
        "--score",
        "both",
    ];
    let run = |name: &str, extra: &[&str]| {
        let bedpe = d.join(format!("{name}.bedpe"));
        let bed_args = ["--bedpe", bedpe.to_str().unwrap()];
        let extra = [&common[..], &bed_args[..], extra].concat();
        analysis(
            "interactions",
            &sim,
            &model,
            &d.join(format!("{name}.tsv")),
            &extra,
        );
        (read(d.join(format!("{name}.tsv"))), read(bedpe))
    };
    let (table, bedpe) = run("default", &[]);
    assert!(table.lines().count() > 5, "{table}");
    assert!(bedpe.lines().count() > 5, "{bedpe}");
    for b in ["1", "7"] {
        let (t, p) = run(&format!("b{b}"), &["--batch-size", b]);
        assert_eq!(t, table, "--batch-size {b}");
        assert_eq!(p, bedpe, "--batch-size {b}");
    }
    // Without --active-only the table differs: the option did select sequences.
    let all = d.join("all.tsv");
    analysis(
        "interactions",
        &sim,
        &model,
        &all,
        &["--min-pairs", "1", "--score", "both"],
    );
    assert_ne!(read(all), table);

    // Shards with different batch sizes merge to the single run's bytes.
    for (i, b) in [(1, "1"), (2, "7"), (3, "16")] {
        let shard = format!("{i}/3");
        analysis(
            "interactions",
            &sim,
            &model,
            &d.join(format!("p{i}.json")),
            &[&common[..], &["--shard", &shard, "--batch-size", b]].concat(),
        );
    }
    let merged = d.join("merged.tsv");
    ok(cisformer()
        .args(["merge", "-q", "-o"])
        .arg(&merged)
        .args((1..=3).map(|i| d.join(format!("p{i}.json")))));
    assert_eq!(read(merged), table);

    // Every BEDPE end is a scanned site of the sequence the row names.
    let sites = d.join("sites.tsv");
    common::scan_to(&sim, &sites);
    let scanned: std::collections::HashSet<(String, u64, u64)> = read(sites)
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let start: u64 = f[3].parse().unwrap();
            (f[2].to_string(), start - 1, f[4].parse().unwrap())
        })
        .collect();
    for row in bedpe.lines() {
        let f: Vec<&str> = row.split('\t').collect();
        let name = f.last().unwrap().to_string();
        assert_eq!(f[0], name, "{row}");
        // Browsers read column 8 as an integer score in 0..=1000.
        let score: u32 = f[7].parse().expect("an integer score");
        assert!(score <= 1000, "{row}");
        assert_eq!(f.len(), 16, "{row}");
        for (s, e) in [(f[1], f[2]), (f[4], f[5])] {
            let key = (name.clone(), s.parse().unwrap(), e.parse().unwrap());
            assert!(scanned.contains(&key), "{row}: no site {key:?}");
        }
    }
}

#[test]
fn short_or_missing_sequences_are_errors_before_any_output() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, model) = setup(dir.path());
    let d = dir.path();
    let out = d.join("x.tsv");
    let short = d.join("short.fa");
    // The short record comes last, after a batch has been analysed.
    let mut fa = std::fs::read_to_string(sim.join("seqs.fa")).unwrap();
    fa.push_str(">tiny\nAC\n");
    std::fs::write(&short, fa).unwrap();
    let empty = d.join("empty.fa");
    std::fs::write(&empty, "").unwrap();
    for (fa, needle, extra) in [
        (
            &short,
            "sequence 'tiny' is 2 bp, shorter than the model's k = 3",
            &[][..],
        ),
        (&short, "'tiny' is 2 bp", &["--active-only", "0.5"][..]),
        (&empty, "empty.fa:1: no FASTA records", &[][..]),
    ] {
        for cmd in ["interactions", "heads"] {
            let o = cisformer()
                .args([cmd, "-q", "--model"])
                .arg(&model)
                .arg("--fasta")
                .arg(fa)
                .arg("-o")
                .arg(&out)
                .args(extra.iter().filter(|_| cmd == "interactions"))
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{cmd} {extra:?}: {err}");
            assert!(err.contains(needle), "stderr lacks '{needle}': {err}");
            assert!(
                err.contains(fa.file_name().unwrap().to_str().unwrap()),
                "{err}"
            );
            assert!(!out.exists());
        }
    }
}

/// Without a terminal (pipelines, nohup) a long step still says how far it is: a plain
/// progress line, not a hidden bar.
#[test]
fn progress_is_a_plain_line_in_logs() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, model) = setup(dir.path());
    let out = cisformer()
        .env("CISFORMER_LOG_INTERVAL", "0")
        .args(["heads", "--model"])
        .arg(&model)
        .arg("--fasta")
        .arg(sim.join("seqs.fa"))
        .arg("-o")
        .arg(dir.path().join("h.tsv"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("cisformer heads") && l.ends_with(" sequences"))
        .unwrap_or_else(|| panic!("no progress line in:\n{err}"));
    assert!(
        !line.contains('\u{1b}'),
        "terminal escapes in a log: {line:?}"
    );
}
