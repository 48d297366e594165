//! End-to-end tests of `train`, `predict`, `evaluate` and `info` on a tiny model.
use std::path::{Path, PathBuf};

mod common;
use common::{cisformer, ok};

/// A small planted-grammar data set (sequences 80 bp).
fn sim(dir: &Path) -> PathBuf {
    let g = dir.join("g.toml");
    std::fs::write(
        &g,
        "length = 80\nnoise_sd = 0.2\n[[single]]\nmotif = \"Spi1\"\nrate = 0.5\neffect = 2.0\n\
         [[single]]\nmotif = \"CTCF\"\nrate = 0.3\neffect = -1.0\n",
    )
    .unwrap();
    let out = dir.join("sim");
    ok(cisformer()
        .args(["simulate", "-q", "--n", "240", "--seed", "3", "--grammar"])
        .arg(&g)
        .arg("--out")
        .arg(&out));
    out
}

/// A tiny model of the default recipe; 8 epochs of batch 16 (120 steps on 240 sequences)
/// let it learn the strong planted effects.
const TINY: [&str; 14] = [
    "--k",
    "3",
    "--d-model",
    "16",
    "--heads",
    "2",
    "--layers",
    "1",
    "--ffn",
    "32",
    "--epochs",
    "8",
    "--batch-size",
    "16",
];

fn train(sim: &Path, out: &Path, extra: &[&str]) {
    common::train_on(sim, out, &[&TINY[..], extra].concat());
}

/// The first output column of a `predict` TSV.
fn values(tsv: &str) -> Vec<f64> {
    tsv.lines()
        .skip(1)
        .map(|l| l.split('\t').nth(1).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn train_predict_evaluate_info_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path());
    let m = dir.path().join("model");
    train(&s, &m, &["--seed", "5", "-j", "1"]);
    for f in [
        "config.json",
        "model.safetensors",
        "meta.json",
        "train_log.tsv",
        "metrics.tsv",
        "predictions.tsv",
        "split.tsv",
        "ridge.json",
        "checkpoint/train_state.json",
    ] {
        assert!(m.join(f).is_file(), "{f} missing");
    }
    // The preset's optimiser: the relative-bias tables learn 30x faster.
    let opt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m.join("optimizer.json")).unwrap()).unwrap();
    assert_eq!(opt["config"]["relative_bias_lr"], 30.0, "{opt}");
    let log = std::fs::read_to_string(m.join("train_log.tsv")).unwrap();
    assert_eq!(log.lines().count(), 1 + 8, "{log}");
    assert!(log.starts_with("epoch\tstep\ttrain_loss"));

    // Same seed, other thread count: the same bytes.
    let m2 = dir.path().join("model2");
    train(&s, &m2, &["--seed", "5", "-j", "2"]);
    assert_eq!(
        std::fs::read(m.join("model.safetensors")).unwrap(),
        std::fs::read(m2.join("model.safetensors")).unwrap()
    );
    // Another seed: other weights.
    let m3 = dir.path().join("model3");
    train(&s, &m3, &["--seed", "6"]);
    assert_ne!(
        std::fs::read(m.join("model.safetensors")).unwrap(),
        std::fs::read(m3.join("model.safetensors")).unwrap()
    );

    let pred = ok(cisformer()
        .args(["predict", "--model"])
        .arg(&m)
        .arg("--fasta")
        .arg(s.join("seqs.fa")));
    let lines: Vec<&str> = pred.lines().collect();
    assert_eq!(lines[0], "id\tactivity");
    assert_eq!(lines.len(), 241);
    assert!(lines[1].starts_with("sim000001\t"));
    // By default a prediction averages both strands and the 4 offsets to the pooling grid;
    // `--average` picks fewer passes, each giving other numbers.
    let with = |average: &str| {
        ok(cisformer()
            .args(["predict", "--average", average, "--model"])
            .arg(&m)
            .arg("--fasta")
            .arg(s.join("seqs.fa")))
    };
    let (strands, one) = (with("strands"), with("none"));
    assert_eq!(with("all"), pred);
    assert_ne!(strands, pred, "--average strands changed nothing");
    assert_ne!(one, strands, "--average none changed nothing");
    // train scores its rows as predict does by default.
    let trained = values(&std::fs::read_to_string(m.join("predictions.tsv")).unwrap());
    assert_eq!(trained.len(), 240);
    for (x, y) in trained.iter().zip(values(&pred)) {
        assert!((x - y).abs() <= 2e-6, "train {x} vs predict {y}");
    }

    let evaluate = |extra: &[&str]| {
        ok(cisformer()
            .args(["evaluate", "-q"])
            .args(extra)
            .arg("--model")
            .arg(&m)
            .arg("--fasta")
            .arg(s.join("seqs.fa"))
            .arg("--labels")
            .arg(s.join("labels.tsv")))
    };
    let eval = evaluate(&[]);
    let rows: Vec<Vec<&str>> = eval.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(rows[0][..4], ["model", "set", "output", "n"]);
    assert_eq!(rows[1][..4], ["transformer", "all", "activity", "240"]);
    assert_eq!(rows[2][..4], ["ridge", "all", "activity", "240"]);
    // The planted effect is strong: even this tiny model learns some of it.
    let r: f64 = rows[1][4].parse().unwrap();
    assert!(r > 0.2, "transformer r = {r}");
    // --average none scores single-pass predictions (other numbers, same ridge).
    let eval_rc = evaluate(&["--average", "none"]);
    let rc_rows: Vec<Vec<&str>> = eval_rc.lines().map(|l| l.split('\t').collect()).collect();
    assert_ne!(rc_rows[1], rows[1]);
    assert_eq!(rc_rows[2], rows[2]);

    // Two models: the mean of their predictions, scored beside the first model's ridge.
    let other = ok(cisformer()
        .args(["predict", "--model"])
        .arg(&m3)
        .arg("--fasta")
        .arg(s.join("seqs.fa")));
    let both = ok(cisformer()
        .args(["predict", "--model"])
        .arg(&m)
        .arg("--model")
        .arg(&m3)
        .arg("--fasta")
        .arg(s.join("seqs.fa")));
    assert!(both.starts_with("id\tactivity\nsim000001\t"), "{both}");
    let (a, b, mean) = (values(&pred), values(&other), values(&both));
    assert_eq!(mean.len(), 240);
    assert!(a.iter().zip(&b).any(|(x, y)| (x - y).abs() > 1e-3));
    for ((x, y), z) in a.iter().zip(&b).zip(&mean) {
        // each printed to 6 decimals
        assert!((0.5 * (x + y) - z).abs() <= 2e-6, "{x} {y} -> {z}");
    }
    let eval_both = ok(cisformer()
        .args(["evaluate", "-q", "--model"])
        .arg(&m)
        .arg("--model")
        .arg(&m3)
        .arg("--fasta")
        .arg(s.join("seqs.fa"))
        .arg("--labels")
        .arg(s.join("labels.tsv")));
    let both_rows: Vec<Vec<&str>> = eval_both.lines().map(|l| l.split('\t').collect()).collect();
    assert_ne!(both_rows[1], rows[1]);
    assert_eq!(both_rows[2], rows[2]);

    let info = ok(cisformer().args(["info", "--model"]).arg(&m));
    assert!(info.contains("architecture\t1 layers x 2 heads"), "{info}");
    assert!(info.contains("train_log\t8 epochs"), "{info}");
    assert!(
        info.contains("pool\t4 tokens per attention position (6 bp each, every 4 bp)"),
        "{info}"
    );
}

#[test]
fn stride_is_kept_in_the_model_and_used_by_predict() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path());
    let m = dir.path().join("model");
    train(&s, &m, &["--stride", "2"]);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["stride"], 2);
    // 80 bp at k = 3: 78 k-mers at stride 1, 39 at stride 2 (plus [CLS] and [SEP]).
    let model = cisformer::model::Model::load(&m).unwrap().0;
    assert_eq!(model.tokenizer().encode(&[b'A'; 80]).len(), 39 + 2);
    let pred = ok(cisformer()
        .args(["predict", "-q", "--model"])
        .arg(&m)
        .arg("--fasta")
        .arg(s.join("seqs.fa")));
    assert!(pred.lines().count() > 1, "{pred}");
}

#[test]
fn without_a_terminal_each_epoch_prints_a_line() {
    // assert_cmd's stderr is a pipe, as in a pipeline or under nohup: no bar, but one line
    // per epoch; -q silences them.
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path());
    let run = |quiet: bool, out: &str| {
        let mut cmd = cisformer();
        cmd.arg("train");
        if quiet {
            cmd.arg("-q");
        }
        let o = cmd
            .arg("--fasta")
            .arg(s.join("seqs.fa"))
            .arg("--labels")
            .arg(s.join("labels.tsv"))
            .arg("--out")
            .arg(dir.path().join(out))
            // TINY's model flags, with 3 epochs instead of its 8.
            .args(&TINY[..10])
            .args(["--epochs", "3", "--batch-size", "16", "--no-baseline"])
            .output()
            .unwrap();
        let err = String::from_utf8(o.stderr).unwrap();
        assert!(o.status.success(), "{err}");
        err
    };
    let err = run(false, "m");
    for e in 1..=3 {
        assert!(
            err.contains(&format!("train: epoch {e}/3: val r ")),
            "{err}"
        );
    }
    // The summary names the held-out sets, not the rows the model was fitted on.
    assert!(
        err.contains("train: validation activity: pearson "),
        "{err}"
    );
    assert!(err.contains("train: test activity: pearson "), "{err}");
    assert!(!err.contains("train: training "), "{err}");
    assert!(!run(true, "mq").contains("train: epoch"));
}

#[test]
fn relative_bias_is_learnt_saved_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path());
    let m = dir.path().join("model");
    train(
        &s,
        &m,
        &[
            "--relative-bias",
            "6",
            "--relative-bias-lr",
            "5",
            "--no-baseline",
        ],
    );
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["relative_bias"], 6);
    let opt: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m.join("optimizer.json")).unwrap()).unwrap();
    assert_eq!(opt["config"]["relative_bias_lr"], 5.0, "{opt}");
    let model = cisformer::model::Model::load(&m).unwrap().0;
    let rel: Vec<f32> = model
        .named_parameters()
        .into_iter()
        .find(|(n, _)| n == "layers.0.attn.rel.bias")
        .map(|(_, t)| t.flatten_all().unwrap().to_vec1().unwrap())
        .expect("a bias table");
    // Two heads × offsets −6..=6, initialised at 0 and moved by training.
    assert_eq!(rel.len(), 2 * 13);
    assert!(rel.iter().any(|&v| v != 0.0), "{rel:?}");
    let info = ok(cisformer().args(["info", "--model"]).arg(&m));
    assert!(
        info.contains("relative_bias\tper head, offsets up to ±6 positions"),
        "{info}"
    );
    let pred = ok(cisformer()
        .args(["predict", "-q", "--model"])
        .arg(&m)
        .arg("--fasta")
        .arg(s.join("seqs.fa")));
    assert_eq!(pred.lines().count(), 241, "{pred}");
}

/// Trains with `flags`, checks that config.json records `key = value` and that `predict`
/// and `info` use the saved setting.
fn setting_is_saved_and_used(flags: &[&str], key: &str, value: &str, info_says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path());
    let m = dir.path().join("model");
    let mut args = flags.to_vec();
    args.push("--no-baseline");
    train(&s, &m, &args);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(m.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg[key], value);
    let pred = ok(cisformer()
        .args(["predict", "-q", "--model"])
        .arg(&m)
        .arg("--fasta")
        .arg(s.join("seqs.fa")));
    let values = values(&pred);
    assert_eq!(values.len(), 240);
    assert!(values.iter().all(|v| v.is_finite()), "{pred}");
    assert!(
        values.iter().any(|&v| v != values[0]),
        "constant predictions"
    );
    let info = ok(cisformer().args(["info", "--model"]).arg(&m));
    assert!(info.contains(info_says), "{info}");
}

#[test]
fn max_pooling_is_saved_and_used_by_predict() {
    setting_is_saved_and_used(&["--pooling", "max"], "pooling", "max", "Max pooling");
}

#[test]
fn no_absolute_positions_is_saved_and_used_by_predict() {
    setting_is_saved_and_used(
        &["--positional", "none", "--relative-bias", "20"],
        "positional",
        "none",
        "None positions",
    );
}

#[test]
fn predictions_are_calibrated_onto_the_labels() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path());
    let (m, raw) = (dir.path().join("m"), dir.path().join("raw"));
    let extra = ["--dropout", "0.3", "--no-baseline"];
    train(&s, &m, &extra);
    train(&s, &raw, &[&extra[..], &["--no-calibration"]].concat());
    // Same training, so the same weights; only the output mapping differs.
    assert_eq!(
        std::fs::read(m.join("model.safetensors")).unwrap(),
        std::fs::read(raw.join("model.safetensors")).unwrap()
    );
    let meta = |d: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("meta.json")).unwrap()).unwrap()
    };
    let fit = &meta(&m)["extra"]["calibration"][0];
    assert_eq!(fit["output"], "activity", "{fit}");
    let slope = fit["slope"].as_f64().unwrap();
    assert!(slope > 0.0 && slope != 1.0, "{fit}");
    assert!(meta(&raw)["extra"].get("calibration").is_none());
    // On the training rows the calibrated predictions have the labels' mean.
    let rows = |d: &std::path::Path| -> Vec<(f64, f64)> {
        let labels = std::fs::read_to_string(s.join("labels.tsv")).unwrap();
        let y: std::collections::HashMap<&str, f64> = labels
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0], f[1].parse().unwrap())
            })
            .collect();
        std::fs::read_to_string(d.join("predictions.tsv"))
            .unwrap()
            .lines()
            .skip(1)
            .filter(|l| l.ends_with("\ttraining"))
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[1].parse().unwrap(), y[f[0]])
            })
            .collect()
    };
    let shift = |r: &[(f64, f64)]| r.iter().map(|(p, y)| p - y).sum::<f64>() / r.len() as f64;
    let (cal, unc) = (rows(&m), rows(&raw));
    assert!(shift(&cal).abs() < 1e-4, "calibrated shift {}", shift(&cal));
    assert!(
        shift(&unc).abs() > 10.0 * shift(&cal).abs(),
        "{}",
        shift(&unc)
    );
    // `predict` applies the same mapping.
    let pred = ok(cisformer()
        .args(["predict", "--model"])
        .arg(&m)
        .arg("--fasta")
        .arg(s.join("seqs.fa")));
    let first = pred.lines().nth(1).unwrap().split('\t').nth(1).unwrap();
    let in_train = std::fs::read_to_string(m.join("predictions.tsv")).unwrap();
    assert_eq!(
        in_train.lines().nth(1).unwrap().split('\t').nth(1).unwrap(),
        first
    );
}

#[test]
fn ensemble_of_models_with_other_outputs_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path());
    let g = dir.path().join("other.toml");
    std::fs::write(
        &g,
        "outputs = [\"expression\"]\nlength = 80\n[[single]]\nmotif = \"Spi1\"\nrate = 0.5\neffect = 2.0\n",
    )
    .unwrap();
    let s2 = dir.path().join("sim2");
    ok(cisformer()
        .args(["simulate", "-q", "--n", "240", "--seed", "4", "--grammar"])
        .arg(&g)
        .arg("--out")
        .arg(&s2));
    let (m, m2) = (dir.path().join("m"), dir.path().join("m2"));
    train(&s, &m, &["--no-baseline"]);
    train(&s2, &m2, &["--no-baseline"]);
    let out = cisformer()
        .args(["predict", "--model"])
        .arg(&m)
        .arg("--model")
        .arg(&m2)
        .arg("--fasta")
        .arg(s.join("seqs.fa"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the models of an ensemble must predict the same outputs"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn refuses_to_overwrite_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path());
    let m = dir.path().join("model");
    train(&s, &m, &[]);
    let out = cisformer()
        .args(["train", "-q", "--fasta"])
        .arg(s.join("seqs.fa"))
        .arg("--labels")
        .arg(s.join("labels.tsv"))
        .arg("--out")
        .arg(&m)
        .args(TINY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--resume"));
    // Resuming a finished run trains nothing more and keeps the model.
    let before = std::fs::read(m.join("model.safetensors")).unwrap();
    train(&s, &m, &["--resume"]);
    assert_eq!(before, std::fs::read(m.join("model.safetensors")).unwrap());
}

fn fails(args: &[&str], needle: &str) {
    let out = cisformer().args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{args:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(needle), "stderr lacks '{needle}': {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let w = |name: &str, text: &str| {
        let p = d.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let fa = w("s.fa", ">a\nACGTACGTAC\n>b\nACGTTTGACA\n>c\nAC\n");
    let out = d.join("m").to_str().unwrap().to_string();
    let missing = w("missing.tsv", "id\ty\na\t1\n");
    fails(
        &["train", "--fasta", &fa, "--labels", &missing, "--out", &out],
        "'b', 'c'",
    );
    let nan = w("nan.tsv", "id\ty\na\t1\nb\tNaN\nc\t2\n");
    fails(
        &["train", "--fasta", &fa, "--labels", &nan, "--out", &out],
        "nan.tsv",
    );
    let good = w("good.tsv", "id\ty\na\t1\nb\t2\nc\t3\n");
    fails(
        &[
            "train", "--fasta", &fa, "--labels", &good, "--out", &out, "--k", "4",
        ],
        "shorter than k",
    );
    let empty = w("empty.fa", "");
    fails(
        &["train", "--fasta", &empty, "--labels", &good, "--out", &out],
        "empty.fa",
    );
    fails(
        &[
            "train", "--fasta", &fa, "--labels", &good, "--out", &out, "--device", "cuda",
        ],
        "CUDA",
    );
    let fa2 = w("s2.fa", ">a\nACGTACGTAC\n>b\nACGTTTGACA\n");
    let two = w("two.tsv", "id\ty\na\t1\nb\t2\n");
    fails(
        &[
            "train",
            "--fasta",
            &fa2,
            "--labels",
            &two,
            "--out",
            &out,
            "--relative-bias",
            "100000",
        ],
        "relative_bias 100000 is larger than 65536 tokens",
    );
    let base = ["train", "--fasta", &fa2, "--labels", &two, "--out", &out];
    fails(
        &[
            &base[..],
            &["--relative-bias", "0", "--relative-bias-lr", "10"],
        ]
        .concat(),
        "--relative-bias-lr needs a relative-position bias",
    );
    fails(
        &[
            &base[..],
            &["--relative-bias", "8", "--relative-bias-lr", "0"],
        ]
        .concat(),
        "--relative-bias-lr must be a positive number",
    );
    let cfg = w("optim.toml", "[optim]\nrelative_bias_lr = -1.0\n");
    fails(
        &[&base[..], &["--relative-bias", "8", "--config", &cfg]].concat(),
        "--relative-bias-lr must be a positive number (relative_bias_lr in [optim]), got -1",
    );
    // A configuration file's errors name the file, and the line or the table.
    let cfg = w("typo.toml", "[train]\nepochs = 2\n[modle]\nd_model = 8\n");
    fails(
        &[&base[..], &["--config", &cfg]].concat(),
        "typo.toml:3: unknown field `modle`",
    );
    let cfg = w("kind.toml", "[model]\nd_model = \"wide\"\n");
    fails(
        &[&base[..], &["--config", &cfg]].concat(),
        "kind.toml: [model]: ",
    );
}

#[test]
fn model_of_another_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path());
    let m = dir.path().join("model");
    train(&s, &m, &[]);
    let meta = std::fs::read_to_string(m.join("meta.json")).unwrap();
    std::fs::write(
        m.join("meta.json"),
        meta.replace("\"format_version\": 1", "\"format_version\": 99"),
    )
    .unwrap();
    let fa = s.join("seqs.fa");
    fails(
        &[
            "predict",
            "--model",
            m.to_str().unwrap(),
            "--fasta",
            fa.to_str().unwrap(),
        ],
        "format version 99",
    );
    fails(
        &["info", "--model", m.to_str().unwrap()],
        "format version 99",
    );
}

#[test]
fn shift_augmentation_follows_the_pooling_grid_unless_set() {
    let dir = tempfile::tempdir().unwrap();
    let s = sim(dir.path());
    let shift = |d: &Path| -> serde_json::Value {
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(d.join("meta.json")).unwrap()).unwrap();
        meta["extra"]["train"]["shift_augment"].clone()
    };
    let weights = |d: &Path| std::fs::read(d.join("model.safetensors")).unwrap();
    // The preset pools 4 bases into one position: 4 offsets.
    let (m, off, p2, learned) = (
        dir.path().join("m"),
        dir.path().join("off"),
        dir.path().join("p2"),
        dir.path().join("learned"),
    );
    let base = ["--no-baseline"];
    train(&s, &m, &base);
    assert_eq!(shift(&m), 4);
    train(&s, &off, &[&base[..], &["--shift-augment", "0"]].concat());
    assert!(shift(&off).is_null(), "0 is not written");
    assert_ne!(weights(&m), weights(&off), "the shifts changed nothing");
    // Other pooling: other offsets; absolute positions: none.
    train(&s, &p2, &[&base[..], &["--pool", "2"]].concat());
    assert_eq!(shift(&p2), 2);
    train(
        &s,
        &learned,
        &[&base[..], &["--positional", "learned"]].concat(),
    );
    assert!(shift(&learned).is_null());
}
