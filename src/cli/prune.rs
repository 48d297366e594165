//! `cisformer prune`: remove attention heads and write a physically smaller model.
use std::{
    collections::HashMap,
    io::Write,
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;
use cisformer::{
    analysis::heads::{HeadTableRow, parse_heads_tsv},
    model::HeadId,
    predict::predict_raw,
    surgery::{self, PruneLimits, Scoring},
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

fn read_heads_tsv(path: &Path) -> anyhow::Result<HashMap<HeadId, HeadTableRow>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(parse_heads_tsv(&text, path)?)
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
    let units = surgery::prune_units(&model);
    let scores: Vec<f64> = match (args.by.as_str(), &table) {
        ("entropy-redundancy", None) => {
            anyhow::bail!("--by entropy-redundancy needs --heads TSV (from `cisformer heads`)")
        }
        ("entropy-redundancy", Some(t)) => units
            .iter()
            .map(|u| {
                unit_score(u, t, &args, |s| {
                    // Flagged heads first, then low entropy + high redundancy.
                    (if s.prune_candidate { -10.0 } else { 0.0 }) + s.entropy - s.redundancy
                })
            })
            .collect::<anyhow::Result<_>>()?,
        (_, Some(t))
            if units
                .iter()
                .flatten()
                .all(|h| t.get(h).is_some_and(|s| s.importance.is_some())) =>
        {
            units
                .iter()
                .map(|u| unit_score(u, t, &args, |s| s.importance.unwrap_or(0.0)))
                .collect::<anyhow::Result<_>>()?
        }
        _ => {
            let bar = super::progress_bar(
                g,
                units.len() as u64,
                "prune: importance {bar:30} {pos}/{len} masked",
            );
            let v = surgery::masking_importance(&mut model, &units, &scoring, &mut || bar.inc(1))?;
            bar.finish_and_clear();
            v
        }
    };
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
    let metric_pruned = surgery::mean_pearson(&pruned, &scoring)?;

    // Inference time of both on the same sequences, alternating, best of three.
    let mut best = [f64::INFINITY; 2];
    for _ in 0..3 {
        for (i, m) in [&model, &pruned].into_iter().enumerate() {
            let t = Instant::now();
            predict_raw(m, &seqs, args.batch_size)?;
            best[i] = best[i].min(t.elapsed().as_secs_f64());
        }
    }
    let speedup = best[0] / best[1].max(1e-9);
    let (p0, p1) = (model.n_params(), pruned.n_params());

    let mut meta_out = meta.clone();
    let summary = serde_json::json!({
        "by": args.by,
        "keep": args.keep,
        "max_drop": args.max_drop,
        "removed": plan.removed.iter().map(|h| [h.layer, h.head]).collect::<Vec<_>>(),
        "metric_before": plan.metric_before,
        "metric_after": metric_pruned,
        "params_before": p0,
        "params_after": p1,
    });
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
    write_to(&args.out.join("prune.tsv"), |w| {
        writeln!(w, "# by={}", args.by)?;
        writeln!(w, "# metric=mean_pearson")?;
        writeln!(w, "# metric_before={:.6}", plan.metric_before)?;
        writeln!(w, "# metric_after={metric_pruned:.6}")?;
        writeln!(w, "# params_before={p0}")?;
        writeln!(w, "# params_after={p1}")?;
        writeln!(w, "# predict_seconds_before={:.4}", best[0])?;
        writeln!(w, "# predict_seconds_after={:.4}", best[1])?;
        writeln!(w, "# speedup={speedup:.3}")?;
        writeln!(w, "{}", cisformer::io::tables::PRUNE.header())?;
        for (i, s) in plan.steps.iter().enumerate() {
            for h in &s.heads {
                writeln!(
                    w,
                    "{}\t{}\t{}\t{:.6}\t{}\t{}\t{}",
                    h.layer,
                    h.head,
                    i + 1,
                    s.score,
                    s.metric.map_or("NA".into(), |m| format!("{m:.6}")),
                    s.outcome.is_ok() as u8,
                    s.outcome.as_ref().err().map_or(".", String::as_str)
                )?;
            }
        }
        Ok(())
    })?;
    if !g.quiet {
        eprintln!(
            "prune: removed {} of {} heads; mean r {:.4} -> {:.4}; parameters {p0} -> {p1}; predict {:.3} s -> {:.3} s ({speedup:.2}x)",
            plan.removed.len(),
            surgery::n_kept_heads(&model),
            plan.metric_before,
            metric_pruned,
            best[0],
            best[1],
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

/// Score of a unit (mean over its heads) from the heads table.
fn unit_score(
    unit: &[HeadId],
    table: &HashMap<HeadId, HeadTableRow>,
    args: &Args,
    f: impl Fn(&HeadTableRow) -> f64,
) -> anyhow::Result<f64> {
    let mut sum = 0.0;
    for h in unit {
        let s = table.get(h).ok_or_else(|| {
            anyhow::anyhow!(
                "{}: no row for head {}.{} of the model",
                args.heads.as_deref().unwrap_or(Path::new("-")).display(),
                h.layer,
                h.head
            )
        })?;
        sum += f(s);
    }
    Ok(sum / unit.len().max(1) as f64)
}
