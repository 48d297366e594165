//! The model's non-CPU path, end to end through the CLI.
//!
//! On a GPU (`--device cuda`, a build with `--features cuda`) the model runs candle's own
//! ops instead of the fused CPU kernels. `CISFORMER_PORTABLE_OPS=1` puts the CPU on that
//! same path, so this runs on every machine; the `cuda` test repeats it on the GPU.
use std::path::{Path, PathBuf};

mod common;
use common::{TINY_MODEL, cisformer, ok};

/// The files one pipeline run writes.
struct Run {
    predictions: PathBuf,
    heads: PathBuf,
    interactions: PathBuf,
    validation: PathBuf,
    patching: PathBuf,
}

/// `train` (one epoch), `predict`, `heads`, `interactions`, then `validate` and `patch` on
/// the top pair, into `out`, with `env` set and `device` given to every command.
fn pipeline(sim: &Path, out: &Path, env: &[(&str, &str)], device: &str) -> Run {
    let model = out.join("model");
    let run = |command: &str| {
        let mut cmd = cisformer();
        cmd.args([command, "-q", "--device", device]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd
    };
    let fa = sim.join("seqs.fa");
    let motifs = sim.join("motifs.meme");
    ok(run("train")
        .arg("--fasta")
        .arg(&fa)
        .arg("--labels")
        .arg(sim.join("labels.tsv"))
        .arg("--out")
        .arg(&model)
        .args(TINY_MODEL));
    let r = Run {
        predictions: out.join("pred.tsv"),
        heads: out.join("heads.tsv"),
        interactions: out.join("pairs.tsv"),
        validation: out.join("validate.tsv"),
        patching: out.join("patch.tsv"),
    };
    ok(run("predict")
        .arg("--model")
        .arg(&model)
        .arg("--fasta")
        .arg(&fa)
        .arg("-o")
        .arg(&r.predictions));
    // The analyses read the model, the sequences and the motifs.
    let analysis = |command: &str, to: &Path, extra: &[&str]| {
        ok(run(command)
            .arg("--model")
            .arg(&model)
            .arg("--fasta")
            .arg(&fa)
            .arg("--motifs")
            .arg(&motifs)
            .arg("-o")
            .arg(to)
            .args(extra));
    };
    analysis("heads", &r.heads, &[]);
    analysis("interactions", &r.interactions, &["--min-pairs", "1"]);
    let interactions = r.interactions.to_str().unwrap();
    analysis(
        "validate",
        &r.validation,
        &[
            "--interactions",
            interactions,
            "--top",
            "2",
            "--draws",
            "2",
            "--max-seqs",
            "20",
            "--bootstrap",
            "200",
            "--spacing-n",
            "4",
            "--spacing-max",
            "20",
            "--spacing-step",
            "5",
        ],
    );
    let pairs = std::fs::read_to_string(&r.interactions).unwrap();
    let top: Vec<&str> = pairs.lines().nth(1).unwrap().split('\t').collect();
    let pair = format!("{},{}", top[1], top[2]);
    analysis("patch", &r.patching, &["--pair", &pair, "--draws", "2"]);
    r
}

/// Two TSVs with the same header, rows and text cells; numbers within 1e-3 of
/// max(|a|, |b|, 1), so relative above 1 and absolute below: the in-silico effects are
/// differences of predictions, whose rounding is that of the predictions, not of the small
/// difference. P- and q-values of rank tests (Mann-Whitney over many attention values)
/// move when near-equal values swap order, and far more in the tail than their z-scores
/// do, so they are compared as z = −Φ⁻¹(p): within 0.02 + 1e-3·|z|.
/// (`bench/compare_tables.py` applies the same rule on the GPU machine.)
fn same_table(a: &Path, b: &Path) {
    let (ta, tb) = (
        std::fs::read_to_string(a).unwrap(),
        std::fs::read_to_string(b).unwrap(),
    );
    let (la, lb): (Vec<&str>, Vec<&str>) = (ta.lines().collect(), tb.lines().collect());
    assert_eq!(
        la.len(),
        lb.len(),
        "{} vs {}: row counts",
        a.display(),
        b.display()
    );
    assert!(la.len() > 1, "{}: no rows", a.display());
    let header: Vec<&str> = la[0].split('\t').collect();
    let mut off = Vec::new();
    for (i, (ra, rb)) in la.iter().zip(&lb).enumerate() {
        for (j, (x, y)) in ra.split('\t').zip(rb.split('\t')).enumerate() {
            let name = header[j];
            let rank_test =
                name.ends_with("_p") || name.ends_with("_q") || name == "p" || name == "q";
            let same = match (x.parse::<f64>(), y.parse::<f64>()) {
                (Ok(u), Ok(v)) if u.is_finite() && v.is_finite() => match rank_test {
                    true => {
                        let (za, zb) = (z(u), z(v));
                        (za - zb).abs() <= 0.02 + 1e-3 * za.abs().max(zb.abs())
                    }
                    false => (u - v).abs() <= 1e-3 * u.abs().max(v.abs()).max(1.0),
                },
                _ => x == y,
            };
            if !same {
                off.push(format!("line {}, {}: {x} vs {y}", i + 1, header[j]));
            }
        }
    }
    assert!(
        off.is_empty(),
        "{} vs {}: {} cells differ:\n{}",
        a.display(),
        b.display(),
        off.len(),
        off.join("\n")
    );
}

/// The z-score of a one-sided p-value.
fn z(p: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    -Normal::standard().inverse_cdf(p.clamp(1e-300, 1.0 - 1e-16))
}

fn compare(a: &Run, b: &Run) {
    same_table(&a.predictions, &b.predictions);
    same_table(&a.heads, &b.heads);
    same_table(&a.interactions, &b.interactions);
    same_table(&a.validation, &b.validation);
    same_table(&a.patching, &b.patching);
}

fn simulated(dir: &Path) -> PathBuf {
    let sim = dir.join("sim");
    ok(cisformer()
        .args([
            "simulate", "-q", "--seed", "4", "--n", "200", "--len", "160", "--out",
        ])
        .arg(&sim));
    sim
}

#[test]
fn the_portable_ops_give_the_cpu_results_through_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let sim = simulated(dir.path());
    let fused = pipeline(&sim, &dir.path().join("fused"), &[], "cpu");
    let portable = pipeline(
        &sim,
        &dir.path().join("portable"),
        &[("CISFORMER_PORTABLE_OPS", "1")],
        "cpu",
    );
    compare(&fused, &portable);
}

#[test]
#[cfg_attr(
    not(feature = "cuda"),
    ignore = "needs a build with `--features cuda` and an NVIDIA GPU (bench/gpu.sh)"
)]
fn the_gpu_gives_the_cpu_results_through_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let sim = simulated(dir.path());
    let cpu = pipeline(&sim, &dir.path().join("cpu"), &[], "cpu");
    let gpu = pipeline(&sim, &dir.path().join("gpu"), &[], "cuda");
    compare(&cpu, &gpu);
}

/// Without the `cuda` feature, every command that runs a model refuses `--device cuda`
/// before it reads anything, and says how to get a GPU build.
#[test]
#[cfg(not(feature = "cuda"))]
fn cuda_in_a_cpu_build_is_a_clear_error_in_every_command() {
    let m = "no-such-path";
    let commands: [&[&str]; 7] = [
        &["train", "--fasta", m, "--labels", m, "--out", m],
        &["predict", "--model", m, "--fasta", m],
        &["evaluate", "--model", m, "--fasta", m, "--labels", m],
        &["heads", "--model", m, "--fasta", m],
        &["interactions", "--model", m, "--fasta", m],
        &["validate", "--model", m, "--fasta", m, "--interactions", m],
        &["patch", "--model", m, "--fasta", m, "--corrupt", m],
    ];
    for args in commands {
        common::fails(
            cisformer().args(args).args(["--device", "cuda"]),
            "built without CUDA support (build it with `--features cuda`",
        );
    }
}
