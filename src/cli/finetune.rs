//! `cisformer finetune`: continue training a model on new data, optionally constrained so
//! that its attention projections stay out of the old weights' directions.
use std::{io::Write, ops::ControlFlow, path::PathBuf, time::Instant};

use cisformer::{
    model::Task,
    train::{
        self, OptimConfig, OrthoAnchor,
        trainer::{Progress, Trainer, TrainerConfig},
        transformer::TransformerLearner,
    },
};

use super::{Global, labelled::DataArgs, progress_bar};

/// Fine-tune a trained model on new labelled sequences.
///
/// The architecture and weights come from --model; training restarts with a fresh AdamW
/// (warm-up + cosine decay) over --epochs. The new labels are normalised afresh on their
/// own training rows (the output meta.json holds the new normalisation), so the new task
/// may have another scale; it must have the same number of outputs and the same kind
/// (real-valued or 0/1). `--orthogonal` adds the penalty
/// λ·c·‖W₀ᵀ(W − W₀)‖²_F on every attention projection (Q, K, V, O), W₀ the loaded weights,
/// c = rows/‖W₀‖²_F, λ = --ortho-weight: updates along the directions the old weights use
/// cost more, which limits interference with the old task. Writes the same files as
/// `train` (config.json, model.safetensors, meta.json, train_log.tsv, metrics.tsv,
/// checkpoint/).
///
/// Example: `cisformer finetune --model task1 --fasta task2.fa --labels task2.tsv --orthogonal --out task2`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory to start from.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Output model directory.
    #[arg(short = 'o', long, value_name = "DIR")]
    out: PathBuf,
    /// Overwrite a model already in --out.
    #[arg(long)]
    force: bool,
    /// Continue from --out/checkpoint (same data and settings; only --epochs and --patience
    /// may change).
    #[arg(long, conflicts_with = "force")]
    resume: bool,
    /// Epochs.
    #[arg(long, default_value_t = 5)]
    epochs: usize,
    /// Peak learning rate.
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, default_value_t = 3e-4)]
    lr: f64,
    /// Sequences per training step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Linear warm-up steps.
    #[arg(long, default_value_t = 0)]
    warmup: usize,
    /// Stop after this many epochs without validation improvement (0: never).
    #[arg(long, default_value_t = 0)]
    patience: usize,
    /// Turn off reverse-complement augmentation.
    #[arg(long)]
    no_rc_augment: bool,
    /// Penalise attention-projection updates along the old weights' directions.
    #[arg(long)]
    orthogonal: bool,
    /// Weight λ of the --orthogonal penalty.
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, value_name = "W", default_value_t = 1.0, requires = "orthogonal")]
    ortho_weight: f64,
    /// Matrices --orthogonal anchors: the attention projections, or all weight matrices
    /// but the embeddings (attention, feed-forward, output head).
    #[arg(long, value_parser = ["attention", "all"], default_value = "attention", requires = "orthogonal")]
    ortho_scope: String,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    let t0 = Instant::now();
    args.data
        .files(super::Files::default().read_model(&args.model))
        .write_model(&args.out)
        .check()?;
    super::labelled::prepare_out_dir(&args.out, args.resume, args.force)?;
    let (model, _old_meta) = cisformer::model_dir::load(&args.model)?;
    let (ds, split) = args.data.load()?;
    args.data.check_trainable(&ds)?;
    let cfg = model.config().clone();
    anyhow::ensure!(
        ds.n_outputs() == cfg.n_outputs,
        "the labels have {} outputs but the model has {}",
        ds.n_outputs(),
        cfg.n_outputs
    );
    let binary = ds.binary_outputs();
    let task = if binary.iter().all(|&b| b) {
        Task::Binary
    } else {
        Task::Regression
    };
    anyhow::ensure!(
        task == cfg.task,
        "the labels are {} but the model was trained for {}",
        if task == Task::Binary {
            "0/1"
        } else {
            "real-valued"
        },
        if cfg.task == Task::Binary {
            "0/1 labels"
        } else {
            "real values"
        }
    );
    let tok = model.tokenizer();
    if let Some((id, s)) = ds.ids.iter().zip(&ds.seqs).find(|(_, s)| s.len() < cfg.k) {
        anyhow::bail!(
            "sequence '{id}' is {} bp, shorter than k = {}",
            s.len(),
            cfg.k
        );
    }
    if cfg.positional == cisformer::model::Positional::Learned {
        let longest = ds.seqs.iter().map(|s| tok.n_tokens(s.len())).max();
        if let Some(l) = longest.filter(|&l| l > cfg.max_tokens) {
            anyhow::bail!(
                "a sequence has {l} tokens, more than the model's max_tokens {}",
                cfg.max_tokens
            );
        }
    }
    let tcfg = TrainerConfig {
        epochs: args.epochs,
        batch_size: args.batch_size,
        lr: args.lr,
        warmup_steps: args.warmup,
        patience: args.patience,
        rc_augment: !args.no_rc_augment,
        shift_augment: cisformer::predict::pooling_offsets(model.config()),
        seed: args.data.seed,
        ..TrainerConfig::default()
    };
    let trainer = Trainer::new(tcfg.clone(), &ds, &split)?;
    let total_steps = trainer.batches_per_epoch() * tcfg.epochs;
    let anchor = if args.orthogonal {
        Some(OrthoAnchor::with_scope(
            &model,
            args.ortho_weight,
            args.ortho_scope == "all",
        )?)
    } else {
        None
    };
    let n_params = model.n_params();
    let mut learner =
        TransformerLearner::from_model(model, OptimConfig::default(), &tcfg, total_steps);
    learner.optimizer_mut().set_anchor(anchor);
    let finetune = serde_json::json!({"orthogonal": args.orthogonal, "ortho_weight": args.orthogonal.then_some(args.ortho_weight), "ortho_scope": args.orthogonal.then_some(&args.ortho_scope)});
    if args.resume {
        same_finetune_settings(&args.out, &finetune)?;
    }
    learner.meta_extra = serde_json::json!({
        "n_params": n_params,
        "n_sequences": ds.len(),
        "split": {"train": split.train.len(), "val": split.val.len(), "test": split.test.len()},
        "data": args.data.describe(),
        "finetune": finetune,
    });
    if !g.quiet {
        eprintln!(
            "finetune: {} sequences ({} train / {} val / {} test), {} epochs x {} steps{}",
            ds.len(),
            split.train.len(),
            split.val.len(),
            split.test.len(),
            tcfg.epochs,
            trainer.batches_per_epoch(),
            if args.orthogonal {
                format!(", orthogonal (weight {})", args.ortho_weight)
            } else {
                String::new()
            }
        );
    }
    let bar = progress_bar(
        g,
        total_steps as u64,
        "finetune {elapsed_precise} {bar:30} {pos}/{len} steps {msg}",
    );
    trainer.run(&mut learner, &args.out, args.resume, &mut |p| {
        if let Progress::Batch { loss, .. } = p {
            bar.inc(1);
            bar.set_message(format!("loss {loss:.4}"));
        }
        ControlFlow::Continue(())
    })?;
    bar.finish_and_clear();

    let scores = train::score::score_run(
        &args.out,
        &ds,
        &split,
        &train::score::ScoreOptions {
            calibrate_from: None,
            ridge: None,
            write_split: false,
        },
    )?;
    if !g.quiet {
        super::labelled::print_summary("finetune", &ds.output_names, &scores.model, None);
        eprintln!(
            "finetune: model in {} ({:.1} s)",
            args.out.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    let _ = std::io::stderr().flush();
    Ok(())
}

/// The checkpoint knows the trainer's settings but not the penalty: a resumed run must use
/// the `--orthogonal` settings the model in `dir` was fine-tuned with.
fn same_finetune_settings(dir: &std::path::Path, now: &serde_json::Value) -> anyhow::Result<()> {
    let path = dir.join("meta.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(());
    };
    let meta: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let before = meta
        .pointer("/extra/details/finetune")
        .unwrap_or(&serde_json::Value::Null);
    anyhow::ensure!(
        before == now,
        "{}: the model was fine-tuned with other settings ({before}); --resume needs the same --orthogonal, --ortho-weight and --ortho-scope ({now})",
        path.display()
    );
    Ok(())
}
