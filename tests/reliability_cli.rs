//! Bad or dangerous use fails cleanly: an output that is an input, absurd thread counts,
//! shards of different runs, interrupts, stale files under --force, degenerate training
//! data, a model folder whose config does not fit its weights, and the small messages
//! that used to mislead (BOM, negative numbers, standard input).
use std::path::{Path, PathBuf};

mod common;
use common::{TINY_MODEL, cisformer, fails, ok, sim_and_tiny_model, train_on};

/// A folder with a two-contig genome and a BED of two regions.
fn genome_and_bed() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let g = d.path().join("g.fa");
    std::fs::write(&g, ">c1\nACGTACGTACGTACGTACGT\n>c2\nGGGGCCCCAAAATTTT\n").unwrap();
    let b = d.path().join("r.bed");
    std::fs::write(&b, "c1\t2\t10\nc2\t0\t8\n").unwrap();
    (d, g, b)
}

fn usage_error(args: &[&str], dir: &Path, needle: &str) {
    let o = cisformer().current_dir(dir).args(args).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected `{needle}` in: {err}"
    );
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let (d, g, _) = genome_and_bed();
    let genome = std::fs::read(&g).unwrap();
    let dir = d.path();
    let refused = |args: &[&str]| {
        let o = cisformer().current_dir(dir).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("is the input"), "{args:?}: {err}");
        assert_eq!(std::fs::read(&g).unwrap(), genome, "{args:?} changed g.fa");
    };
    refused(&["extract", "-f", "g.fa", "-b", "r.bed", "-o", "g.fa"]);
    refused(&["extract", "-f", "g.fa", "-b", "r.bed", "-o", "./g.fa"]);
    refused(&["extract", "-f", "g.fa", "-b", "r.bed", "-o", "r.bed"]);
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(&g, dir.join("link.fa")).unwrap();
        refused(&["extract", "-f", "g.fa", "-b", "r.bed", "-o", "link.fa"]);
    }
    refused(&["index", "g.fa", "-o", "g.fa"]);
    let motifs = common::root().join("data/motifs/sim_motifs.meme");
    let m = motifs.to_str().unwrap();
    refused(&["scan", "-m", m, "-f", "g.fa", "-o", "g.fa"]);
    refused(&["scan", "-m", m, "-f", "g.fa", "--bed-out", "g.fa"]);
    // Model-reading commands check before loading anything, so no model is needed here.
    refused(&["predict", "--model", "m", "--fasta", "g.fa", "-o", "g.fa"]);
    std::fs::write(dir.join("l.tsv"), "id\ty\nc1\t1\nc2\t2\n").unwrap();
    refused(&[
        "evaluate", "--model", "m", "--fasta", "g.fa", "--labels", "l.tsv", "-o", "l.tsv",
    ]);
    refused(&[
        "predict",
        "--model",
        "m",
        "--fasta",
        "g.fa",
        "-o",
        "m/meta.json",
    ]);
    refused(&["merge", "g.fa", "-o", "g.fa"]);
    std::fs::create_dir(dir.join("mdl")).unwrap();
    std::fs::copy(dir.join("l.tsv"), dir.join("mdl/predictions.tsv")).unwrap();
    refused(&[
        "train",
        "--fasta",
        "g.fa",
        "--labels",
        "mdl/predictions.tsv",
        "--out",
        "mdl",
        "--force",
    ]);
    assert!(dir.join("mdl/predictions.tsv").exists());
    // The default `--dump` file (SEQ_ID.bedGraph) is an output too.
    std::fs::copy(&g, dir.join("c1.bedGraph")).unwrap();
    let kept = std::fs::read(dir.join("c1.bedGraph")).unwrap();
    let o = cisformer()
        .current_dir(dir)
        .args([
            "heads",
            "--model",
            "m",
            "--fasta",
            "c1.bedGraph",
            "-o",
            "h.tsv",
        ])
        .args(["--dump", "c1"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("c1.bedGraph") && err.contains("is the input"),
        "{err}"
    );
    assert_eq!(std::fs::read(dir.join("c1.bedGraph")).unwrap(), kept);
    // Two outputs on one file are refused too.
    let o = cisformer()
        .current_dir(dir)
        .args([
            "scan",
            "-m",
            m,
            "-f",
            "g.fa",
            "-o",
            "x.tsv",
            "--bed-out",
            "x.tsv",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("same file"));
    // A distinct output still works.
    ok(cisformer()
        .current_dir(dir)
        .args(["extract", "-f", "g.fa", "-b", "r.bed", "-o", "out.fa"]));
}

#[test]
fn thread_counts_are_bounded_at_parsing() {
    let (d, _, _) = genome_and_bed();
    for j in ["2000", "99999999999", "0"] {
        usage_error(&["-j", j, "index", "g.fa"], d.path(), "--threads");
    }
    ok(cisformer()
        .current_dir(d.path())
        .args(["-j", "2", "index", "g.fa"]));
}

#[test]
fn merge_refuses_shards_of_other_models_or_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (sim, model) = sim_and_tiny_model(d, 60, 160);
    // Same architecture, another seed.
    let other = d.join("other");
    train_on(&sim, &other, &[&TINY_MODEL[..], &["--seed", "9"]].concat());
    // The same sequences but one base changed.
    let seqs = std::fs::read_to_string(sim.join("seqs.fa")).unwrap();
    let mut edited: Vec<String> = seqs.lines().map(String::from).collect();
    let last = edited.len() - 1;
    let flipped = if edited[last].starts_with('A') {
        "C"
    } else {
        "A"
    };
    edited[last].replace_range(0..1, flipped);
    let other_fa = d.join("other.fa");
    std::fs::write(&other_fa, edited.join("\n") + "\n").unwrap();
    let part = |model: &Path, fasta: &Path, shard: &str, out: &str| {
        ok(cisformer()
            .args(["heads", "-q", "--model"])
            .arg(model)
            .arg("--fasta")
            .arg(fasta)
            .arg("--motifs")
            .arg(sim.join("motifs.meme"))
            .args(["--shard", shard, "-o"])
            .arg(d.join(out)));
    };
    let fa = sim.join("seqs.fa");
    part(&model, &fa, "1/2", "a1.json");
    part(&model, &fa, "2/2", "a2.json");
    part(&other, &fa, "2/2", "b2.json");
    part(&model, &other_fa, "2/2", "c2.json");
    let merge = |second: &str, needle: &str| {
        fails(
            cisformer()
                .args(["merge", "-o"])
                .arg(d.join("m.tsv"))
                .arg(d.join("a1.json"))
                .arg(d.join(second)),
            needle,
        );
        let err = String::from_utf8_lossy(
            &cisformer()
                .args(["merge", "-o"])
                .arg(d.join("m.tsv"))
                .arg(d.join("a1.json"))
                .arg(d.join(second))
                .output()
                .unwrap()
                .stderr,
        )
        .into_owned();
        assert!(err.contains("a1.json") && err.contains(second), "{err}");
        assert!(!d.join("m.tsv").exists());
    };
    merge("b2.json", "different model weights");
    merge("c2.json", "different input sequences");
    ok(cisformer()
        .args(["merge", "-q", "-o"])
        .arg(d.join("m.tsv"))
        .arg(d.join("a1.json"))
        .arg(d.join("a2.json")));
}

/// The hidden temporary files `Output` writes next to an output.
fn temp_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".cisformer-") && n.ends_with(".tmp"))
        .collect()
}

#[cfg(unix)]
#[test]
fn an_interrupt_removes_the_temporary_output() {
    use std::io::Write;
    let (d, g, _) = genome_and_bed();
    let dir = d.path();
    // Millions of intervals past the contig end: each is skipped (no output), so the
    // run spends its time with the temporary output open and empty.
    let bed = dir.join("big.bed");
    let mut w = std::io::BufWriter::new(std::fs::File::create(&bed).unwrap());
    for i in 0..4_000_000u32 {
        writeln!(w, "c1\t{}\t{}", 100 + i % 1000, 2000).unwrap();
    }
    w.flush().unwrap();
    drop(w);
    let out_dir = dir.join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let bin = assert_cmd::cargo::cargo_bin("cisformer");
    let mut child = std::process::Command::new(bin)
        .args(["extract", "-q", "-f"])
        .arg(&g)
        .arg("-b")
        .arg(&bed)
        .arg("-o")
        .arg(out_dir.join("x.fa"))
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while temp_files(&out_dir).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "extract ended before its temporary output was seen"
        );
        assert!(t0.elapsed().as_secs() < 60, "no temporary output appeared");
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_eq!(temp_files(&out_dir), Vec::<String>::new());
    assert!(!out_dir.join("x.fa").exists());
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn force_leaves_only_what_the_run_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (sim, model) = sim_and_tiny_model(d, 60, 160);
    // train: a run with the baseline, then --force without it.
    let with_ridge = d.join("ridge_model");
    let no_baseline: Vec<&str> = TINY_MODEL
        .iter()
        .copied()
        .filter(|a| *a != "--no-baseline")
        .collect();
    train_on(&sim, &with_ridge, &no_baseline);
    assert!(with_ridge.join("ridge.json").exists());
    std::fs::write(with_ridge.join("notes.txt"), "mine").unwrap();
    train_on(&sim, &with_ridge, &[&TINY_MODEL[..], &["--force"]].concat());
    assert!(
        !with_ridge.join("ridge.json").exists(),
        "a stale ridge.json survived train --force"
    );
    assert_eq!(
        std::fs::read_to_string(with_ridge.join("notes.txt")).unwrap(),
        "mine"
    );
    // prune --force into a folder holding a trained model.
    let prune = |force: bool| {
        let mut c = cisformer();
        c.args(["prune", "-q", "--model"])
            .arg(&model)
            .arg("--fasta")
            .arg(sim.join("seqs.fa"))
            .arg("--labels")
            .arg(sim.join("labels.tsv"))
            .args(["--keep", "3", "--out"])
            .arg(&with_ridge);
        if force {
            c.arg("--force");
        }
        c
    };
    fails(&mut prune(false), "--force");
    ok(&mut prune(true));
    assert_eq!(
        files_in(&with_ridge),
        [
            "config.json",
            "meta.json",
            "model.safetensors",
            "notes.txt",
            "prune.tsv"
        ]
    );
}

#[test]
fn simulate_refuses_to_overwrite_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let sim = dir.path().join("sim");
    let run = |extra: &[&str]| {
        let mut c = cisformer();
        c.args(["simulate", "-q", "--n", "20", "--len", "160", "--out"])
            .arg(&sim)
            .args(extra);
        c
    };
    ok(&mut run(&["--seed", "1"]));
    let before = std::fs::read(sim.join("seqs.fa")).unwrap();
    fails(&mut run(&["--seed", "2"]), "--force");
    assert_eq!(std::fs::read(sim.join("seqs.fa")).unwrap(), before);
    ok(&mut run(&["--seed", "2", "--force"]));
    assert_ne!(std::fs::read(sim.join("seqs.fa")).unwrap(), before);
}

#[test]
fn degenerate_training_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut fa = String::new();
    let mut labels = String::from("id\tgood\tflat\n");
    for i in 0..40 {
        let seq: String = (0..50)
            .map(|j| b"ACGT"[(i * 7 + j * j) % 4] as char)
            .collect();
        fa.push_str(&format!(">s{i}\n{seq}\n"));
        labels.push_str(&format!("s{i}\t{}\t1\n", i % 5));
    }
    std::fs::write(d.join("s.fa"), &fa).unwrap();
    std::fs::write(d.join("l.tsv"), &labels).unwrap();
    let train = |fasta: &str, labels: &str, extra: &[&str]| {
        let mut c = cisformer();
        c.current_dir(d)
            .args([
                "train", "-q", "--fasta", fasta, "--labels", labels, "--out", "m",
            ])
            .args(TINY_MODEL)
            .args(extra);
        c
    };
    fails(&mut train("s.fa", "l.tsv", &[]), "l.tsv: column 'flat'");
    fails(
        cisformer()
            .current_dir(d)
            .args(["baseline", "--fasta", "s.fa", "--labels", "l.tsv"]),
        "same value",
    );
    // Mostly N: refused unless asked for.
    let ns = fa
        .lines()
        .map(|l| {
            if l.starts_with('>') {
                l.to_string()
            } else {
                "N".repeat(l.len())
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(d.join("n.fa"), ns + "\n").unwrap();
    let good: String = labels
        .lines()
        .map(|l| l.rsplit_once('\t').unwrap().0.to_string() + "\n")
        .collect();
    std::fs::write(d.join("g.tsv"), good).unwrap();
    fails(&mut train("n.fa", "g.tsv", &[]), "--allow-unknown");
    assert!(!d.join("m").join("model.safetensors").exists());
    ok(&mut train("n.fa", "g.tsv", &["--allow-unknown"]));
}

#[test]
fn a_model_folder_is_checked_against_its_weights() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (sim, model) = sim_and_tiny_model(d, 40, 160);
    // A record longer than the learned positions: the error names the file and record.
    // (The default recipe has no absolute positions and so no length limit.)
    let learned = d.join("learned");
    train_on(
        &sim,
        &learned,
        &[&TINY_MODEL[..], &["--positional", "learned"]].concat(),
    );
    let long = d.join("long.fa");
    std::fs::write(
        &long,
        format!(
            ">short\n{}\n>toolong\n{}\n",
            "ACGT".repeat(10),
            "ACGT".repeat(300)
        ),
    )
    .unwrap();
    fails(
        cisformer()
            .args(["predict", "--model"])
            .arg(&learned)
            .arg("--fasta")
            .arg(&long),
        "long.fa: record 2 ('toolong')",
    );
    // `heads` and `interactions` stream their records and say the same.
    let motifs = sim.join("motifs.meme");
    for cmd in ["heads", "interactions"] {
        fails(
            cisformer()
                .args([cmd, "--model"])
                .arg(&learned)
                .arg("--fasta")
                .arg(&long)
                .arg("--motifs")
                .arg(&motifs)
                .arg("-o")
                .arg(d.join(format!("{cmd}.tsv"))),
            "long.fa: record 2 ('toolong') is 1200 bp",
        );
    }
    // A wrong d_model: one line naming the tensor, even with backtraces on.
    let edited = d.join("edited");
    std::fs::create_dir(&edited).unwrap();
    for f in ["config.json", "meta.json", "model.safetensors"] {
        std::fs::copy(model.join(f), edited.join(f)).unwrap();
    }
    let cfg = std::fs::read_to_string(model.join("config.json")).unwrap();
    assert!(cfg.contains("\"d_model\": 16"), "{cfg}");
    std::fs::write(
        edited.join("config.json"),
        cfg.replace("\"d_model\": 16", "\"d_model\": 24"),
    )
    .unwrap();
    for cmd in [
        &["info", "--model"][..],
        &["predict", "--fasta", "x.fa", "--model"],
    ] {
        let o = cisformer()
            .env("RUST_BACKTRACE", "1")
            .args(cmd)
            .arg(&edited)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.contains("tensor '") && err.contains("d_model 24"),
            "{err}"
        );
    }
    // A format version that is not a number is not "missing".
    std::fs::write(edited.join("config.json"), &cfg).unwrap();
    let meta = std::fs::read_to_string(model.join("meta.json")).unwrap();
    let banana = meta.replacen("\"format_version\": 1", "\"format_version\": \"banana\"", 1);
    assert_ne!(banana, meta);
    std::fs::write(edited.join("meta.json"), banana).unwrap();
    fails(
        cisformer().args(["info", "--model"]).arg(&edited),
        "format_version \"banana\" is not a number",
    );
}

#[test]
fn small_messages_say_what_is_wrong() {
    let (d, g, _) = genome_and_bed();
    let dir = d.path();
    // A byte-order mark before the labels header is not part of `id`.
    let mut fa = String::new();
    let mut labels = String::from("\u{feff}id\ty\n");
    for i in 0..30 {
        let seq: String = (0..40)
            .map(|j| b"ACGT"[(i * 3 + j * j) % 4] as char)
            .collect();
        fa.push_str(&format!(">s{i}\n{seq}\n"));
        labels.push_str(&format!("s{i}\t{}\n", (i % 7) as f64 * 0.5));
    }
    std::fs::write(dir.join("s.fa"), fa).unwrap();
    std::fs::write(dir.join("l.tsv"), labels).unwrap();
    ok(cisformer().current_dir(dir).args([
        "baseline", "-q", "--fasta", "s.fa", "--labels", "l.tsv", "--k", "1-2",
    ]));
    // `baseline --out` keeps an earlier result (or a model's metrics) unless --force.
    let baseline = [
        "baseline", "-q", "--fasta", "s.fa", "--labels", "l.tsv", "--k", "1-2", "--out", "ridge",
    ];
    ok(cisformer().current_dir(dir).args(baseline));
    std::fs::write(dir.join("ridge/metrics.tsv"), "earlier\n").unwrap();
    fails(
        cisformer().current_dir(dir).args(baseline),
        "metrics.tsv exists; use --force to overwrite it",
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("ridge/metrics.tsv")).unwrap(),
        "earlier\n"
    );
    ok(cisformer().current_dir(dir).args(baseline).arg("--force"));
    assert_ne!(
        std::fs::read_to_string(dir.join("ridge/metrics.tsv")).unwrap(),
        "earlier\n"
    );
    // A negative p-value is a range error, not an unknown argument.
    let motifs = common::root().join("data/motifs/sim_motifs.meme");
    fails(
        cisformer()
            .arg("scan")
            .arg("-m")
            .arg(&motifs)
            .arg("-f")
            .arg(&g)
            .args(["--thresh", "-1"]),
        "--thresh must be in (0, 1]",
    );
    for cmd in ["heads", "interactions"] {
        fails(
            cisformer()
                .current_dir(dir)
                .args([cmd, "--model", "m", "--fasta"])
                .arg(&g)
                .args(["--thresh", "-1", "-o", "o.tsv"]),
            "--thresh must be in (0, 1]",
        );
    }
    // The genome on standard input is indexed when -o names the index.
    let want = {
        ok(cisformer().arg("index").arg(&g));
        std::fs::read_to_string(dir.join("g.fa.fai")).unwrap()
    };
    ok(cisformer()
        .current_dir(dir)
        .args(["index", "-", "-o", "stdin.fai"])
        .pipe_stdin(&g)
        .unwrap());
    assert_eq!(
        std::fs::read_to_string(dir.join("stdin.fai")).unwrap(),
        want
    );
}
