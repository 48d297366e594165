//! `cisformer train`: fit the Transformer (and the k-mer ridge baseline beside it).
use std::{io::Write, ops::ControlFlow, path::PathBuf, time::Instant};

use super::{Global, labelled::DataArgs, terminal_bar, write_to};
use anyhow::Context;
use cisformer::{
    baseline::{RidgeBaseline, RidgeOptions},
    model::{ModelConfig, Pooling, Positional},
    train::{
        self, OptimConfig,
        settings::Settings,
        trainer::{Progress, Trainer, TrainerConfig},
        transformer::TransformerLearner,
    },
};

/// Train a Transformer on labelled sequences.
///
/// Writes DIR/config.json, model.safetensors and meta.json (the best epoch on the
/// validation metric), train_log.tsv, metrics.tsv (train/val/test, Transformer and
/// ridge baseline), predictions.tsv, split.tsv (which set each id was in), ridge.json
/// and checkpoint/ (the last epoch, for --resume).
///
/// Example: `cisformer train --fasta sim/seqs.fa --labels sim/labels.tsv --out model --epochs 10`
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// Output model directory.
    #[arg(short = 'o', long, value_name = "DIR")]
    out: PathBuf,
    /// Training recipe: fast, default or large (settings below; a --config file and the
    /// flags adjust it).
    #[arg(long, value_name = "NAME", default_value = "default",
          value_parser = ["fast", "default", "large"],
          long_help = train::preset::help())]
    preset: String,
    /// TOML with `[model]`, `[train]` and `[optim]` tables (flags below override it).
    #[arg(long, value_name = "TOML")]
    config: Option<PathBuf>,
    /// Continue from DIR/checkpoint (same data and settings).
    #[arg(long)]
    resume: bool,
    /// Overwrite a model already in DIR.
    #[arg(long)]
    force: bool,
    /// Maximum epochs. [default: from --preset]
    #[arg(long)]
    epochs: Option<usize>,
    /// Sequences per training step. [default: from --preset]
    #[arg(long)]
    batch_size: Option<usize>,
    /// Peak learning rate (AdamW, warm-up then cosine decay). [default: from --preset]
    #[arg(value_parser = super::finite_f64, long)]
    lr: Option<f64>,
    /// Linear warm-up steps. [default: 0]
    #[arg(long)]
    warmup: Option<usize>,
    /// Stop after this many epochs without validation improvement (0: never). [default: from --preset]
    #[arg(long)]
    patience: Option<usize>,
    /// Turn off reverse-complement augmentation.
    #[arg(long)]
    no_rc_augment: bool,
    /// Shift each batch by 0..N-1 leading Ns (0: off). [default: the bases of one attention
    /// position (stride × pool) for models without absolute positions, as prediction
    /// averages them; 0 otherwise]
    #[arg(long, value_name = "N")]
    shift_augment: Option<usize>,
    /// k-mer length of the tokenizer (1-8). [default: from --preset]
    #[arg(long)]
    k: Option<usize>,
    /// Bases between consecutive k-mer starts (1 = every position; k = non-overlapping).
    /// A stride of 2-3 shortens the token sequence 2-3× (attention cost falls with its
    /// square) and widens what the convolution stem sees, in bp. [default: from --preset]
    #[arg(long)]
    stride: Option<usize>,
    /// Width of the residual stream. [default: from --preset]
    #[arg(long)]
    d_model: Option<usize>,
    /// Attention heads per layer. [default: from --preset]
    #[arg(long)]
    heads: Option<usize>,
    /// Key/value heads (= --heads: MHA; 1: MQA; a divisor: GQA). [default: from --preset]
    #[arg(long)]
    kv_heads: Option<usize>,
    /// Encoder layers. [default: from --preset]
    #[arg(long)]
    layers: Option<usize>,
    /// Feed-forward width. [default: from --preset]
    #[arg(long)]
    ffn: Option<usize>,
    /// Dropout. [default: from --preset]
    #[arg(long)]
    dropout: Option<f32>,
    /// Sequence summary: cls, mean or max (per feature, over the tokens). [default: from --preset]
    #[arg(long, value_parser = ["cls", "mean", "max"])]
    pooling: Option<String>,
    /// Width in tokens of the convolution over token embeddings before the first layer
    /// (odd; 0 turns it off). [default: from --preset]
    #[arg(long, value_name = "TOKENS")]
    conv_kernel: Option<usize>,
    /// Max-pool this many tokens into one attention position after the convolution stem
    /// (0: none). Attention cost falls with its square; analyses map positions to bp. [default: from --preset]
    #[arg(long, value_name = "TOKENS")]
    pool: Option<usize>,
    /// Learned relative-position attention bias per head for key−query offsets up to this
    /// many tokens (farther ones share the edge value; 0: none). Lets heads prefer a spacing
    /// between two sites wherever they sit. [default: from --preset]
    #[arg(long, value_name = "TOKENS")]
    relative_bias: Option<usize>,
    /// Learning-rate multiplier of the relative-bias tables (each offset's entry learns only
    /// from the token pairs at that offset, so it moves slowly at the base rate). [default: from --preset]
    #[arg(value_parser = super::finite_f64, long, value_name = "MULT")]
    relative_bias_lr: Option<f64>,
    /// Absolute positions: learned, sinusoidal, or none (translation-invariant tokens; pair
    /// it with --relative-bias). [default: from --preset]
    #[arg(long, value_parser = ["learned", "sinusoidal", "none"])]
    positional: Option<String>,
    /// Weight of the attention-diversity regulariser (mean pairwise cosine of heads' maps). [default: 0]
    #[arg(value_parser = super::finite_f64, long, value_name = "W")]
    diversity: Option<f64>,
    /// Weight of the head-orthogonality regulariser (‖A_i A_jᵀ‖_F within a layer). [default: 0]
    #[arg(value_parser = super::finite_f64, long, value_name = "W")]
    orthogonality: Option<f64>,
    /// Weight of the attention-entropy regulariser (sharper heads). [default: 0]
    #[arg(value_parser = super::finite_f64, long, value_name = "W")]
    entropy_reg: Option<f64>,
    /// Skip the k-mer ridge baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Keep the raw output scale: by default a regression model's outputs are mapped onto
    /// its labels by a least-squares line fitted on the training rows (dropout leaves them
    /// shifted and spread; see README), recorded in meta.json.
    #[arg(long)]
    no_calibration: bool,
    #[command(flatten)]
    device: super::DeviceArg,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let device = args.device.open()?;
    args.data
        .files(super::Files::default())
        .read_opt(args.config.as_ref())
        .write_model(&args.out)
        .check()?;
    let (ds, split) = args.data.load()?;
    args.data.check_trainable(&ds)?;
    let (mut mcfg, tcfg, ocfg) = settings(&args, &ds)?;
    let tok = mcfg.tokenizer()?;
    if let Some((id, s)) = ds.ids.iter().zip(&ds.seqs).find(|(_, s)| s.len() < mcfg.k) {
        anyhow::bail!(
            "sequence '{id}' is {} bp, shorter than k = {}: it has no k-mer",
            s.len(),
            mcfg.k
        );
    }
    let longest = ds
        .seqs
        .iter()
        .map(|s| tok.n_tokens(s.len()))
        .max()
        .unwrap_or(2);
    if mcfg.positional == Positional::Learned {
        mcfg.max_tokens = mcfg.max_tokens.max(longest);
    }
    mcfg.validate()?;

    super::labelled::prepare_out_dir(&args.out, args.resume, args.force)?;
    let trainer = Trainer::new(tcfg.clone(), &ds, &split)?;
    let total_steps = trainer.batches_per_epoch() * tcfg.epochs;
    let mut learner =
        TransformerLearner::new(&mcfg, ocfg, &tcfg, total_steps)?.into_device(&device)?;

    let ridge = if args.no_baseline {
        None
    } else {
        let r = RidgeBaseline::fit(&ds, &split, &RidgeOptions::default())?;
        let json = serde_json::to_string(&r).context("cannot serialise the baseline")?;
        write_to(&args.out.join("ridge.json"), |w| writeln!(w, "{json}"))?;
        Some(r)
    };
    learner.meta_extra = serde_json::json!({
        "n_params": learner.model().n_params(),
        "n_sequences": ds.len(),
        "split": {"train": split.train.len(), "val": split.val.len(), "test": split.test.len()},
        "data": args.data.describe(),
    });
    if !g.quiet {
        eprintln!(
            "train: {} sequences ({} train / {} val / {} test), {} parameters, {} epochs x {} steps",
            ds.len(),
            split.train.len(),
            split.val.len(),
            split.test.len(),
            learner.model().n_params(),
            tcfg.epochs,
            trainer.batches_per_epoch()
        );
    }
    let bar = terminal_bar(
        g,
        total_steps as u64,
        "train {elapsed_precise} {bar:30} {pos}/{len} steps {msg}",
    );
    // Without a terminal (pipelines, nohup) the bar is hidden: one line per epoch instead,
    // so a long run is never silent.
    let epoch_lines = !g.quiet && !std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut last_val = String::new();
    let state = trainer.run(&mut learner, &args.out, args.resume, &mut |p| {
        match p {
            Progress::Start {
                first_epoch,
                batches_per_epoch,
                ..
            } => bar.set_position((first_epoch * batches_per_epoch) as u64),
            Progress::Batch { loss, .. } => {
                bar.inc(1);
                bar.set_message(format!("loss {loss:.4}{last_val}"));
            }
            Progress::Epoch {
                state,
                val_metrics,
                improved,
            } => {
                let r = val_metrics.iter().map(|m| m.pearson).sum::<f64>()
                    / val_metrics.len().max(1) as f64;
                last_val = format!(", val r {r:.4} (epoch {})", state.epoch);
                if epoch_lines {
                    eprintln!(
                        "train: epoch {}/{}: val r {r:.4}{}, {:.0} s",
                        state.epoch,
                        tcfg.epochs,
                        if improved { " (best so far)" } else { "" },
                        t0.elapsed().as_secs_f64()
                    );
                }
            }
        }
        ControlFlow::Continue(())
    })?;
    bar.finish_and_clear();

    // Score the best model (what DIR holds) on every set, next to the baseline.
    let bar = super::progress_bar(g, 0, "scoring {spinner} {elapsed_precise}");
    let ridge_pred = ridge.as_ref().map(|r| {
        let seqs: Vec<&[u8]> = ds.seqs.iter().map(Vec::as_slice).collect();
        r.predict(&seqs)
    });
    let scores = train::score::score_run(
        &args.out,
        &ds,
        &split,
        &train::score::ScoreOptions {
            calibrate_from: (!args.no_calibration).then(|| trainer.normalizer()),
            ridge: ridge_pred.as_deref(),
            write_split: true,
        },
    )?;
    bar.finish_and_clear();
    if !g.quiet {
        eprintln!(
            "train: {} after {} epochs (best epoch {}), {:.1} s",
            match state.status {
                cisformer::train::trainer::Status::Running => "stopped",
                _ => "finished",
            },
            state.epoch,
            state.best_epoch.map_or("-".into(), |e| e.to_string()),
            t0.elapsed().as_secs_f64()
        );
        super::labelled::print_summary(
            "train",
            &ds.output_names,
            &scores.model,
            scores.ridge.as_deref(),
        );
        eprintln!("train: model in {}", args.out.display());
    }
    Ok(())
}

/// Preset ← config file ← flags, finished for the data set.
fn settings(
    a: &Args,
    ds: &train::Dataset,
) -> anyhow::Result<(ModelConfig, TrainerConfig, OptimConfig)> {
    let preset = train::Preset::from_name(&a.preset).expect("clap checked the name");
    let mut s = Settings::from_preset(preset);
    if let Some(p) = &a.config {
        s = s.with_config_file(p)?;
    }
    let (m, t, o) = (&mut s.model, &mut s.trainer, &mut s.optim);
    macro_rules! set {
        ($dst:expr, $src:expr) => {
            if let Some(v) = $src.clone() {
                $dst = v;
            }
        };
    }
    set!(t.epochs, a.epochs);
    set!(t.batch_size, a.batch_size);
    set!(t.lr, a.lr);
    set!(t.warmup_steps, a.warmup);
    set!(t.patience, a.patience);
    if a.no_rc_augment {
        t.rc_augment = false;
    }
    t.seed = a.data.seed;
    set!(m.k, a.k);
    set!(m.stride, a.stride);
    set!(m.d_model, a.d_model);
    set!(m.n_heads, a.heads);
    m.n_kv_heads = a.kv_heads.unwrap_or(if a.heads.is_some() {
        m.n_heads
    } else {
        m.n_kv_heads
    });
    set!(m.n_layers, a.layers);
    set!(m.ffn_dim, a.ffn);
    set!(m.dropout, a.dropout);
    set!(m.conv_kernel, a.conv_kernel);
    set!(m.relative_bias, a.relative_bias);
    set!(m.pool, a.pool);
    if let Some(p) = &a.pooling {
        m.pooling = match p.as_str() {
            "cls" => Pooling::Cls,
            "max" => Pooling::Max,
            _ => Pooling::Mean,
        };
    }
    if let Some(p) = &a.positional {
        m.positional = match p.as_str() {
            "learned" => Positional::Learned,
            "none" => Positional::None,
            _ => Positional::Sinusoidal,
        };
    }
    set!(o.regularizers.diversity, a.diversity);
    set!(o.regularizers.orthogonality, a.orthogonality);
    set!(o.regularizers.entropy, a.entropy_reg);
    set!(o.relative_bias_lr, a.relative_bias_lr);
    // Checked on the merged settings, so a config file's `relative_bias_lr` is too.
    let x = o.relative_bias_lr;
    anyhow::ensure!(
        x.is_finite() && x > 0.0,
        "--relative-bias-lr must be a positive number (relative_bias_lr in [optim]), got {x}"
    );
    anyhow::ensure!(
        x == 1.0 || m.relative_bias > 0 || a.relative_bias_lr.is_none(),
        "--relative-bias-lr needs a relative-position bias (--relative-bias TOKENS)"
    );
    if let Some(n) = a.shift_augment {
        s.set_shift_augment(n);
    }
    Ok(s.finish(ds)?)
}
