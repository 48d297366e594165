//! What the CLI test files share: the binary, success and failure checks, data paths and
//! the tiny trained model the analysis tests read. Each test crate uses a different part.
#![allow(dead_code)]

use std::{
    io::Read,
    path::{Path, PathBuf},
};

use assert_cmd::Command;

/// The repository root (where `data/` and `tests/data/` live).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn cisformer() -> Command {
    Command::cargo_bin("cisformer").unwrap()
}

/// Runs `cmd`, asserts success (showing stderr otherwise) and returns stdout.
pub fn ok(cmd: &mut Command) -> String {
    ok_with_stderr(cmd).0
}

/// Runs `cmd`, asserts success (showing stderr otherwise) and returns stdout and stderr.
pub fn ok_with_stderr(cmd: &mut Command) -> (String, String) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A small two-layer, four-head model config (k 3) for library-level tests.
pub fn small_config(n_kv_heads: usize) -> cisformer::model::ModelConfig {
    cisformer::model::ModelConfig {
        k: 3,
        vocab_size: 5 + 64,
        d_model: 32,
        n_heads: 4,
        n_kv_heads,
        n_layers: 2,
        ffn_dim: 64,
        dropout: 0.0,
        max_tokens: 128,
        ..cisformer::model::ModelConfig::default()
    }
}

/// Runs `cmd`, asserts exit code 1 and that stderr contains `needle`.
pub fn fails(cmd: &mut Command, needle: &str) {
    let out = cmd.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
}

/// The decompressed bytes of a gzip file.
pub fn gunzip(path: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// The smallest model settings that still have two layers of two heads (fast in debug builds).
pub const TINY_MODEL: [&str; 13] = [
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
];

/// `simulate --n N --len LEN --seed 4` (default grammar) into `dir/sim`, and a tiny model
/// trained on it one epoch into `dir/model`.
pub fn sim_and_tiny_model(dir: &Path, n: usize, len: usize) -> (PathBuf, PathBuf) {
    let sim = dir.join("sim");
    ok(cisformer()
        .args(["simulate", "-q", "--seed", "4", "--out"])
        .arg(&sim)
        .args(["--n", &n.to_string(), "--len", &len.to_string()]));
    let model = dir.join("model");
    train_on(&sim, &model, &TINY_MODEL);
    (sim, model)
}

/// `train` on a `simulate` directory's sequences and labels, writing the model to `out`.
pub fn train_on(sim: &Path, out: &Path, args: &[&str]) {
    ok(cisformer()
        .args(["train", "-q", "--fasta"])
        .arg(sim.join("seqs.fa"))
        .arg("--labels")
        .arg(sim.join("labels.tsv"))
        .arg("--out")
        .arg(out)
        .args(args));
}

/// `scan` of a `simulate` directory's sequences with its motifs (default threshold) to `out`.
pub fn scan_to(sim: &Path, out: &Path) {
    ok(cisformer()
        .args(["scan", "-q", "-m"])
        .arg(sim.join("motifs.meme"))
        .arg("-f")
        .arg(sim.join("seqs.fa"))
        .arg("-o")
        .arg(out));
}
