//! The training loop, driven by a tiny real learner (linear model over k-mer
//! counts, SGD with momentum): reproducibility, exact resume, early stopping.
use std::{
    fs,
    ops::ControlFlow,
    path::{Path, PathBuf},
};

use cisformer::{
    Error, Result,
    baseline::KmerFeaturizer,
    train::{
        Dataset, Split, random_split,
        trainer::{
            Batch, CHECKPOINT_DIR, LOG_FILE, Learner, LrSchedule, Monitor, Progress, STATE_FILE,
            Status, TrainState, Trainer, TrainerConfig,
        },
    },
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// y = w·x + b on per-base k-mer frequencies, one weight row per output.
struct Linear {
    feat: KmerFeaturizer,
    outputs: usize,
    w: Vec<f32>,
    v: Vec<f32>,
    momentum: f32,
}

impl Linear {
    fn new(outputs: usize) -> Self {
        let feat = KmerFeaturizer::new(1, 3, true).unwrap();
        let n = (feat.n_features() + 1) * outputs;
        Linear {
            feat,
            outputs,
            w: vec![0.0; n],
            v: vec![0.0; n],
            momentum: 0.9,
        }
    }

    fn x(&self, seq: &[u8]) -> Vec<f32> {
        let mut x = vec![0.0f32; self.feat.n_features() + 1];
        let scale = 1.0 / seq.len().max(1) as f32;
        for (j, c) in self.feat.counts(seq) {
            x[j as usize] = c as f32 * scale;
        }
        *x.last_mut().unwrap() = 1.0;
        x
    }

    fn forward(&self, x: &[f32]) -> Vec<f32> {
        let d = x.len();
        (0..self.outputs)
            .map(|o| {
                self.w[o * d..(o + 1) * d]
                    .iter()
                    .zip(x)
                    .map(|(a, b)| a * b)
                    .sum()
            })
            .collect()
    }
}

impl Learner for Linear {
    fn train_batch(&mut self, batch: &Batch, _step: usize) -> Result<f32> {
        let d = self.feat.n_features() + 1;
        let mut grad = vec![0.0f32; self.w.len()];
        let mut loss = 0.0f32;
        let scale = 2.0 / (batch.seqs.len() * self.outputs) as f32;
        for (seq, t) in batch.seqs.iter().zip(&batch.targets) {
            let x = self.x(seq);
            let y = self.forward(&x);
            for o in 0..self.outputs {
                let e = y[o] - t[o];
                loss += e * e;
                for j in 0..d {
                    grad[o * d + j] += scale * e * x[j];
                }
            }
        }
        for ((w, v), g) in self.w.iter_mut().zip(&mut self.v).zip(&grad) {
            *v = self.momentum * *v + g;
            *w -= batch.lr as f32 * *v;
        }
        Ok(loss / (batch.seqs.len() * self.outputs) as f32)
    }

    fn predict(&self, seqs: &[&[u8]]) -> Result<Vec<Vec<f32>>> {
        Ok(seqs.iter().map(|s| self.forward(&self.x(s))).collect())
    }

    fn save(&self, dir: &Path, state: &TrainState) -> Result<()> {
        let bytes: Vec<u8> = self
            .w
            .iter()
            .chain(&self.v)
            .flat_map(|f| f.to_le_bytes())
            .collect();
        let p = dir.join("weights.bin");
        fs::write(&p, bytes).map_err(|e| Error::io(&p, e))?;
        let meta = serde_json::json!({
            "normalizer": state.normalizer,
            "epoch": state.epoch,
            "outputs": state.output_names,
        });
        let p = dir.join("meta.json");
        fs::write(&p, meta.to_string()).map_err(|e| Error::io(&p, e))
    }

    fn load(&mut self, dir: &Path) -> Result<()> {
        let p = dir.join("weights.bin");
        let bytes = fs::read(&p).map_err(|e| Error::io(&p, e))?;
        let f: Vec<f32> = bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        if f.len() != 2 * self.w.len() {
            return Err(Error::Invalid("weights.bin has the wrong size".into()));
        }
        let n = self.w.len();
        self.w.copy_from_slice(&f[..n]);
        self.v.copy_from_slice(&f[n..]);
        Ok(())
    }
}

/// 400 random 40-mers; output 0 follows GC content, output 1 the count of `TA`.
fn data() -> (Dataset, Split) {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let n = 400;
    let seqs: Vec<Vec<u8>> = (0..n)
        .map(|_| {
            let gc = rng.random::<f64>();
            (0..40)
                .map(|_| {
                    let strong = rng.random::<f64>() < gc;
                    let pick = rng.random_bool(0.5) as usize;
                    if strong { b"GC"[pick] } else { b"AT"[pick] }
                })
                .collect()
        })
        .collect();
    let targets = seqs
        .iter()
        .map(|s| {
            let gc = s.iter().filter(|&&b| b == b'G' || b == b'C').count() as f32;
            let ta = s.windows(2).filter(|w| w == b"TA").count() as f32;
            vec![3.0 + gc / 4.0 + rng.random::<f32>(), ta]
        })
        .collect();
    let ds = Dataset {
        ids: (0..n).map(|i| format!("r{i}")).collect(),
        seqs,
        targets,
        output_names: vec!["gc".into(), "ta".into()],
        ..Default::default()
    };
    let split = random_split(n, [0.7, 0.15, 0.15], 2).unwrap();
    (ds, split)
}

fn config() -> TrainerConfig {
    TrainerConfig {
        epochs: 5,
        batch_size: 16,
        lr: 0.05,
        warmup_steps: 5,
        lr_schedule: LrSchedule::Cosine,
        patience: 0,
        seed: 9,
        ..TrainerConfig::default()
    }
}

fn keep_going(_: Progress<'_>) -> ControlFlow<()> {
    ControlFlow::Continue(())
}

fn run(dir: &Path, cfg: TrainerConfig) -> TrainState {
    let (ds, split) = data();
    let trainer = Trainer::new(cfg, &ds, &split).unwrap();
    let mut learner = Linear::new(2);
    trainer
        .run(&mut learner, dir, false, &mut keep_going)
        .unwrap()
}

/// The log without its last (wall-clock seconds) column.
fn log_without_seconds(dir: &Path) -> String {
    fs::read_to_string(dir.join(LOG_FILE))
        .unwrap()
        .lines()
        .map(|l| l.rsplit_once('\t').unwrap().0.to_string() + "\n")
        .collect()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

#[test]
fn learns_and_writes_log_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let state = run(dir.path(), config());
    assert_eq!(state.status, Status::Completed);
    assert_eq!(state.epoch, 5);
    assert_eq!(state.step, 5 * 280usize.div_ceil(16));
    let log = fs::read_to_string(dir.path().join(LOG_FILE)).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    // The header is the schema's, and the same bytes as before the schema existed.
    let header = cisformer::io::tables::TRAIN_LOG.header();
    assert_eq!(lines[0], header);
    assert_eq!(
        header,
        "epoch\tstep\ttrain_loss\tval_loss\tval_pearson\tval_spearman\tval_r2\tval_auroc\tval_auprc\tlr\tseconds"
    );
    assert_eq!(lines.len(), 6);
    let last: Vec<&str> = lines[5].split('\t').collect();
    assert_eq!(last.len(), header.split('\t').count());
    let pearson: f64 = last[4].parse().unwrap();
    assert!(
        pearson > 0.6,
        "mean validation r {pearson} too low: the loop does not train"
    );
    assert_eq!(last[7], "NA", "no binary output, so no AUROC");
    let ckpt = dir.path().join(CHECKPOINT_DIR);
    assert!(ckpt.join(STATE_FILE).is_file() && ckpt.join("weights.bin").is_file());
    assert!(
        dir.path().join("weights.bin").is_file(),
        "best model at the top level"
    );
    let saved = Trainer::read_state(&ckpt).unwrap();
    assert_eq!(saved, state);
    assert_eq!(saved.rng.stream, 6);
}

#[test]
fn same_seed_same_log_other_seed_other_log() {
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    run(a.path(), config());
    run(b.path(), config());
    run(
        c.path(),
        TrainerConfig {
            seed: 10,
            ..config()
        },
    );
    assert_eq!(log_without_seconds(a.path()), log_without_seconds(b.path()));
    assert_eq!(
        fs::read(a.path().join("weights.bin")).unwrap(),
        fs::read(b.path().join("weights.bin")).unwrap()
    );
    assert_ne!(log_without_seconds(a.path()), log_without_seconds(c.path()));
}

#[test]
fn resume_after_interruption_gives_the_same_bytes() {
    let full = tempfile::tempdir().unwrap();
    run(full.path(), config());

    let (ds, split) = data();
    let part = tempfile::tempdir().unwrap();
    let trainer = Trainer::new(config(), &ds, &split).unwrap();
    // Crash in the middle of epoch 3 (0-based 2), after two checkpoints.
    let mut stop = |p: Progress<'_>| match p {
        Progress::Batch {
            epoch: 2, batch: 7, ..
        } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    };
    let mut learner = Linear::new(2);
    let s = trainer
        .run(&mut learner, part.path(), false, &mut stop)
        .unwrap();
    assert_eq!((s.status, s.epoch), (Status::Running, 2));
    assert_eq!(
        Trainer::read_state(&part.path().join(CHECKPOINT_DIR))
            .unwrap()
            .epoch,
        2
    );

    // A fresh process: new learner, state from the checkpoint.
    let mut fresh = Linear::new(2);
    let mut starts = Vec::new();
    let mut record = |p: Progress<'_>| {
        if let Progress::Start { first_epoch, .. } = p {
            starts.push(first_epoch);
        }
        ControlFlow::Continue(())
    };
    let s = trainer
        .run(&mut fresh, part.path(), true, &mut record)
        .unwrap();
    assert_eq!(starts, [2]);
    assert_eq!((s.status, s.epoch), (Status::Completed, 5));

    assert_eq!(
        log_without_seconds(full.path()),
        log_without_seconds(part.path())
    );
    let (fa, fb) = (files(full.path()), files(part.path()));
    assert_eq!(fa.len(), fb.len());
    for (a, b) in fa.iter().zip(&fb) {
        assert_eq!(a.file_name(), b.file_name());
        if a.file_name().unwrap() != LOG_FILE {
            assert_eq!(
                fs::read(a).unwrap(),
                fs::read(b).unwrap(),
                "{}",
                a.display()
            );
        }
    }
    for f in ["weights.bin", "meta.json"] {
        assert_eq!(
            fs::read(full.path().join(CHECKPOINT_DIR).join(f)).unwrap(),
            fs::read(part.path().join(CHECKPOINT_DIR).join(f)).unwrap()
        );
    }
}

#[test]
fn resume_checks_settings_and_presence() {
    let (ds, split) = data();
    let dir = tempfile::tempdir().unwrap();
    let trainer = Trainer::new(config(), &ds, &split).unwrap();
    let e = trainer
        .run(&mut Linear::new(2), dir.path(), true, &mut keep_going)
        .unwrap_err();
    assert!(e.to_string().contains("no checkpoint"), "{e}");
    run(
        dir.path(),
        TrainerConfig {
            epochs: 2,
            ..config()
        },
    );
    let other = Trainer::new(
        TrainerConfig {
            lr: 0.01,
            ..config()
        },
        &ds,
        &split,
    )
    .unwrap();
    let e = other
        .run(&mut Linear::new(2), dir.path(), true, &mut keep_going)
        .unwrap_err();
    assert!(matches!(e, cisformer::Error::Incompatible { .. }), "{e}");
    assert!(e.to_string().contains("other training settings"), "{e}");
    // More epochs is allowed: continue from epoch 2 to 5.
    let s = trainer
        .run(&mut Linear::new(2), dir.path(), true, &mut keep_going)
        .unwrap();
    assert_eq!((s.epoch, s.status), (5, Status::Completed));
}

#[test]
fn early_stopping_on_a_flat_metric() {
    let dir = tempfile::tempdir().unwrap();
    // An lr so small that the weights stay ~1e-30: the validation loss never changes.
    let state = run(
        dir.path(),
        TrainerConfig {
            lr: 1e-30,
            warmup_steps: 0,
            patience: 2,
            epochs: 10,
            monitor: Monitor::Loss,
            ..config()
        },
    );
    assert_eq!(state.status, Status::EarlyStopped);
    assert_eq!(
        state.epoch, 3,
        "best at epoch 1, then 2 epochs without improvement"
    );
    assert_eq!(state.best_epoch, Some(1));
}

#[test]
fn bad_config_and_split_are_errors() {
    let (ds, split) = data();
    let e = |cfg: TrainerConfig, split: &Split| {
        Trainer::new(cfg, &ds, split).err().unwrap().to_string()
    };
    assert!(
        e(
            TrainerConfig {
                epochs: 0,
                ..config()
            },
            &split
        )
        .contains("epochs")
    );
    assert!(
        e(
            TrainerConfig {
                lr: -1.0,
                ..config()
            },
            &split
        )
        .contains("lr")
    );
    let no_val = Split {
        val: vec![],
        ..split.clone()
    };
    assert!(e(config(), &no_val).contains("validation split is empty"));
}

/// A learner that predicts the same value for every sequence and learns nothing; it keeps
/// the sequences of every batch it is given.
#[derive(Default)]
struct Constant(Vec<Vec<Vec<u8>>>);

impl Learner for Constant {
    fn train_batch(&mut self, batch: &Batch, _: usize) -> Result<f32> {
        self.0.push(batch.seqs.clone());
        Ok(1.0)
    }
    fn predict(&self, seqs: &[&[u8]]) -> Result<Vec<Vec<f32>>> {
        Ok(vec![vec![0.0, 0.0]; seqs.len()])
    }
    fn save(&self, dir: &Path, _: &TrainState) -> Result<()> {
        fs::write(dir.join("constant.txt"), "0").map_err(|e| Error::io(dir, e))
    }
    fn load(&mut self, _: &Path) -> Result<()> {
        Ok(())
    }
}

#[test]
fn undefined_metric_still_leaves_a_model() {
    let (ds, split) = data();
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainerConfig {
        patience: 1,
        ..config()
    };
    let trainer = Trainer::new(cfg, &ds, &split).unwrap();
    let s = trainer
        .run(&mut Constant::default(), dir.path(), false, &mut keep_going)
        .unwrap();
    assert_eq!(
        (s.status, s.epoch, s.best_epoch, s.best_metric),
        (Status::EarlyStopped, 2, Some(1), None)
    );
    assert!(dir.path().join("constant.txt").is_file());
    let log = fs::read_to_string(dir.path().join(LOG_FILE)).unwrap();
    assert_eq!(log.lines().nth(1).unwrap().split('\t').nth(4), Some("NA"));
}

#[test]
fn binary_output_gets_auroc_in_the_log() {
    let (mut ds, split) = data();
    let mut counts: Vec<f32> = ds.targets.iter().map(|t| t[1]).collect();
    counts.sort_by(f32::total_cmp);
    let median = counts[counts.len() / 2];
    for t in &mut ds.targets {
        t[1] = f32::from(t[1] > median);
    }
    assert_eq!(ds.binary_outputs(), [false, true]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrainerConfig {
        monitor: Monitor::Auroc,
        epochs: 2,
        ..config()
    };
    let trainer = Trainer::new(cfg, &ds, &split).unwrap();
    assert_eq!(
        trainer.normalizer().std[1],
        1.0,
        "binary outputs are not z-scored"
    );
    let s = trainer
        .run(&mut Linear::new(2), dir.path(), false, &mut keep_going)
        .unwrap();
    let auroc: f64 = s.log[1].split('\t').nth(7).unwrap().parse().unwrap();
    assert!(auroc > 0.6, "AUROC {auroc}");
    assert!(s.best_metric.unwrap() >= auroc - 1e-6);
}

#[test]
fn shift_augmentation_offsets_each_batch_to_the_pooling_grid() {
    let (ds, split) = data();
    let run = |shift: usize| {
        let dir = tempfile::tempdir().unwrap();
        let cfg = TrainerConfig {
            epochs: 2,
            rc_augment: false,
            shift_augment: shift,
            ..config()
        };
        let mut rec = Constant::default();
        Trainer::new(cfg, &ds, &split)
            .unwrap()
            .run(&mut rec, dir.path(), false, &mut keep_going)
            .unwrap();
        rec.0
    };
    let plain = run(0);
    let shifted = run(4);
    assert_eq!(plain.len(), shifted.len());
    let mut offsets = std::collections::BTreeSet::new();
    for (p, s) in plain.iter().zip(&shifted) {
        // One offset per batch: the same count of leading Ns in every sequence of it.
        let lead = s[0].iter().take_while(|&&b| b == b'N').count();
        offsets.insert(lead);
        for (a, b) in p.iter().zip(s) {
            assert_eq!(b.len() % 4, 0, "padded to whole 4-bp windows");
            assert_eq!(
                &b[lead..lead + a.len()],
                &a[..],
                "the same example, shifted"
            );
            assert!(
                b[..lead]
                    .iter()
                    .chain(&b[lead + a.len()..])
                    .all(|&c| c == b'N')
            );
        }
    }
    assert_eq!(
        offsets.len(),
        4,
        "every offset drawn over 2 epochs: {offsets:?}"
    );
    // Same seed, same draws.
    assert_eq!(run(4), shifted);
}
