//! `cisformer prune`: remove attention heads and write a physically smaller model.
use std::path::PathBuf;

use anyhow::Context;
use cisformer::{
    analysis::heads::read_heads_tsv,
    model::HeadId,
    surgery::{self, PruneLimits, PruneReport, Ranking, Scoring},
    train::Dataset,
};

use super::{Global, write_to};

/// Prune attention heads of a trained model.
///
/// Ranks heads (`--by importance`: least Δmetric when masked on the given data first, from
/// --heads when it has importance, else measured; `--by entropy-redundancy`: the `heads`
/// table's prune candidates first, then low entropy + high redundancy), then removes them
/// greedily, re-measuring mean Pearson r on --fasta/--labels after each, skipping any that
/// would drop it more than --max-drop below the start, until --keep heads are left. GQA
/// models lose whole K/V groups; a layer always keeps one head. Writes the smaller model
/// to --out with DIR/prune.tsv (removed heads, metric and parameters before/after, the
/// measured predict speed-up on --fasta).
///
/// Example: `cisformer prune --model model --fasta val.fa --labels val.tsv --heads heads.tsv --by entropy-redundancy --max-drop 0.01 --out pruned`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Validation sequences (FASTA).
    #[arg(long, value_name = "FA")]
    fasta: PathBuf,
    /// Validation labels (TSV `id  <output>...`, the model's outputs).
    #[arg(long, value_name = "TSV")]
    labels: PathBuf,
    /// Head table from `cisformer heads` (entropy, redundancy, importance, prune_candidate).
    #[arg(long, value_name = "TSV")]
    heads: Option<PathBuf>,
    /// Ranking of heads to remove.
    #[arg(long, value_parser = ["importance", "entropy-redundancy"], default_value = "importance")]
    by: String,
    /// Heads to keep in the whole model.
    #[arg(long, value_name = "N", required_unless_present = "max_drop")]
    keep: Option<usize>,
    /// Largest allowed drop of mean Pearson r (absolute).
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, value_name = "X")]
    max_drop: Option<f64>,
    /// Output model directory.
    #[arg(short = 'o', long, value_name = "DIR")]
    out: PathBuf,
    /// Overwrite a model already in --out.
    #[arg(long)]
    force: bool,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    super::Files::default()
        .read_model(&args.model)
        .read(&args.fasta)
        .read(&args.labels)
        .read_opt(args.heads.as_ref())
        .write_model(&args.out)
        .check()?;
    if !args.force && args.out.join("model.safetensors").exists() {
        anyhow::bail!(
            "{} already holds a model; use --force to overwrite",
            args.out.display()
        );
    }
    let (mut model, meta) = cisformer::model_dir::load(&args.model)?;
    let ds = Dataset::from_fasta_labels(&args.fasta, &args.labels)?;
    anyhow::ensure!(
        ds.output_names == meta.label_names,
        "the labels have outputs {:?} but the model predicts {:?}",
        ds.output_names,
        meta.label_names
    );
    let seqs: Vec<&[u8]> = ds.seqs.iter().map(Vec::as_slice).collect();
    let scoring = Scoring {
        seqs: &seqs,
        targets: &ds.targets,
        batch: args.batch_size,
    };
    let table = args.heads.as_deref().map(read_heads_tsv).transpose()?;
    let by = match args.by.as_str() {
        "entropy-redundancy" => Ranking::EntropyRedundancy,
        _ => Ranking::Importance,
    };
    anyhow::ensure!(
        by != Ranking::EntropyRedundancy || table.is_some(),
        "--by entropy-redundancy needs --heads TSV (from `cisformer heads`)"
    );
    let units = surgery::prune_units(&model);
    let bar = super::progress_bar(
        g,
        units.len() as u64,
        "prune: importance {bar:30} {pos}/{len} masked",
    );
    let table_of = table.as_ref().zip(args.heads.as_deref());
    let scores = surgery::rank_units(&mut model, &units, by, table_of, &scoring, &mut || {
        bar.inc(1)
    })?;
    bar.finish_and_clear();
    let ranked: Vec<(Vec<HeadId>, f64)> = units.into_iter().zip(scores).collect();
    let bar = super::progress_bar(
        g,
        ranked.len() as u64,
        "prune: greedy {bar:30} {pos}/{len} candidates",
    );
    let limits = PruneLimits {
        keep: args.keep,
        max_drop: args.max_drop,
    };
    let plan = surgery::plan_prune(&mut model, ranked, limits, &scoring, &mut || bar.inc(1))?;
    bar.finish_and_clear();
    let pruned = model.prune(&plan.removed)?;
    let report = PruneReport::measure(by, plan, &model, &pruned, &scoring)?;

    let mut meta_out = meta.clone();
    let summary = report.summary_json(limits);
    match &mut meta_out.extra {
        serde_json::Value::Object(m) => {
            m.insert("prune".into(), summary);
        }
        other => *other = serde_json::json!({ "prune": summary, "before": other.clone() }),
    }
    if args.force {
        // As `train --force`: only what this run writes stays (no old checkpoint or metrics).
        cisformer::model_dir::clear(&args.out)
            .with_context(|| format!("cannot remove the old model in {}", args.out.display()))?;
    }
    cisformer::model_dir::remove_temporaries_on_interrupt(&args.out);
    pruned.save(&args.out, &meta_out)?;
    let ridge = args.model.join("ridge.json");
    if ridge.is_file() {
        std::fs::copy(&ridge, args.out.join("ridge.json"))
            .with_context(|| format!("cannot copy {}", ridge.display()))?;
    }
    write_to(&args.out.join("prune.tsv"), |w| report.write_tsv(w))?;
    if !g.quiet {
        eprintln!(
            "prune: removed {} of {} heads; mean r {:.4} -> {:.4}; parameters {} -> {}; predict {:.3} s -> {:.3} s ({:.2}x)",
            report.plan.removed.len(),
            surgery::n_kept_heads(&model),
            report.plan.metric_before,
            report.metric_pruned,
            report.params_before,
            report.params_after,
            report.predict_seconds[0],
            report.predict_seconds[1],
            report.speedup(),
        );
        if let Some(k) = args.keep
            && surgery::n_kept_heads(&pruned) > k
        {
            eprintln!(
                "prune: {} heads left, more than --keep {k} (other removals were refused; see prune.tsv)",
                surgery::n_kept_heads(&pruned)
            );
        }
        eprintln!("prune: model in {}", args.out.display());
    }
    Ok(())
}
