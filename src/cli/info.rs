//! `cisformer info`: what a model directory holds.
use std::{fmt::Write as _, path::PathBuf};

use super::Global;

/// Describe a trained model: architecture, parameters, training metadata, last log rows.
///
/// Example: `cisformer info --model model`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory written by `train`.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Print config.json and meta.json as one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args, _g: &Global) -> anyhow::Result<()> {
    let (model, meta) = cisformer::model_dir::load(&args.model)?;
    let cfg = model.config();
    let mut s = String::new();
    if args.json {
        let v = serde_json::json!({"config": cfg, "meta": meta, "n_params": model.n_params()});
        writeln!(s, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(s, "model\t{}", args.model.display())?;
        writeln!(s, "format_version\t{}", meta.format_version)?;
        writeln!(s, "written_by\tcisformer {}", meta.crate_version)?;
        writeln!(s, "parameters\t{}", model.n_params())?;
        writeln!(
            s,
            "architecture\t{} layers x {} heads ({} kv heads), d_model {}, ffn {}, {:?} pooling, {:?} positions",
            cfg.n_layers,
            cfg.n_heads,
            cfg.n_kv_heads,
            cfg.d_model,
            cfg.ffn_dim,
            cfg.pooling,
            cfg.positional
        )?;
        if cfg.conv_kernel > 0 {
            writeln!(s, "conv_stem\t{} tokens wide", cfg.conv_kernel)?;
        }
        if cfg.pool > 1 {
            let (k, step) = cfg.position_span();
            writeln!(
                s,
                "pool\t{} tokens per attention position ({k} bp each, every {step} bp)",
                cfg.pool
            )?;
        }
        if cfg.relative_bias > 0 {
            writeln!(
                s,
                "relative_bias\tper head, offsets up to ±{} {}",
                cfg.relative_bias,
                if cfg.pool > 1 { "positions" } else { "tokens" }
            )?;
        }
        writeln!(
            s,
            "tokenizer\tk = {}, stride {}, vocabulary {}",
            cfg.k, cfg.stride, cfg.vocab_size
        )?;
        writeln!(
            s,
            "task\t{:?}, outputs {}",
            cfg.task,
            meta.label_names.join(",")
        )?;
        writeln!(s, "seed\t{}", meta.seed)?;
        writeln!(s, "data_digest\t{}", meta.data_digest)?;
        for (k, v) in &meta.metrics {
            writeln!(s, "metric\t{k}\t{v:.6}")?;
        }
        if let Ok(text) = std::fs::read_to_string(args.model.join("train_log.tsv")) {
            let lines: Vec<&str> = text.lines().collect();
            writeln!(s, "train_log\t{} epochs", lines.len().saturating_sub(1))?;
            let last = lines.len().saturating_sub(3).max(1);
            for l in lines.iter().take(1).chain(&lines[last.min(lines.len())..]) {
                writeln!(s, "  {l}")?;
            }
        }
    }
    std::io::Write::write_all(&mut std::io::stdout().lock(), s.as_bytes())?;
    Ok(())
}
