//! `cisformer forgetting`: how much each head's attention moved between two versions of a
//! model (e.g. before and after `finetune`), and how much the old task suffered.
use std::{io::Write, path::PathBuf};

use cisformer::{io::fasta, predict::predict_raw, surgery, train::Dataset};

use super::Global;

/// Per-head forgetting index between two models on the old task's sequences.
///
/// Forgetting index = mean over every query token of every sequence of
/// KL(attention row before ‖ attention row after), in nats; both models must use the same
/// tokenizer and have the same heads. Writes TSV `layer  head  forgetting_kl`; with
/// --labels (the old task's) it also prints mean Pearson r before and after and the drop.
///
/// Example: `cisformer forgetting --before task1 --after task2 --fasta task1.fa --labels task1.tsv -o forgetting.tsv`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model before fine-tuning.
    #[arg(long, value_name = "DIR")]
    before: PathBuf,
    /// Model after fine-tuning.
    #[arg(long, value_name = "DIR")]
    after: PathBuf,
    /// Old task's sequences (FASTA).
    #[arg(long, value_name = "FA")]
    fasta: PathBuf,
    /// Old task's labels, for the metric drop.
    #[arg(long, value_name = "TSV")]
    labels: Option<PathBuf>,
    /// Output TSV (`-` = standard output).
    #[arg(short = 'o', long, value_name = "TSV", default_value = "-")]
    out: PathBuf,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    super::Files::default()
        .read_model(&args.before)
        .read_model(&args.after)
        .read(&args.fasta)
        .read_opt(args.labels.as_ref())
        .write(&args.out)
        .check()?;
    let (before, _) = cisformer::model_dir::load(&args.before)?;
    let (after, _) = cisformer::model_dir::load(&args.after)?;
    surgery::check_comparable(&before, &after).map_err(|e| {
        anyhow::anyhow!("{} vs {}: {e}", args.before.display(), args.after.display())
    })?;
    let ds = match &args.labels {
        Some(l) => Dataset::from_fasta_labels(&args.fasta, l)?,
        None => {
            let recs = fasta::read_all(&args.fasta)?;
            Dataset {
                ids: recs.iter().map(|r| r.name.clone()).collect(),
                seqs: recs.into_iter().map(|r| r.seq).collect(),
                ..Dataset::default()
            }
        }
    };
    anyhow::ensure!(
        !ds.seqs.is_empty(),
        "{}: no FASTA records",
        args.fasta.display()
    );
    let k = before.config().k;
    if let Some((id, s)) = ds.ids.iter().zip(&ds.seqs).find(|(_, s)| s.len() < k) {
        anyhow::bail!(
            "{}: sequence '{id}' is {} bp, shorter than k = {k}",
            args.fasta.display(),
            s.len()
        );
    }
    let seqs: Vec<&[u8]> = ds.seqs.iter().map(Vec::as_slice).collect();
    let bar = super::progress_bar(
        g,
        seqs.len() as u64,
        "forgetting {bar:30} {pos}/{len} sequences",
    );
    let rows = surgery::forgetting(&before, &after, &seqs, args.batch_size, &mut |n| {
        bar.inc(n as u64)
    })?;
    bar.finish_and_clear();
    let mut out = cisformer::io::output::Output::create(&args.out)?;
    let write = |w: &mut cisformer::io::output::Output| -> std::io::Result<()> {
        writeln!(w, "{}", cisformer::io::tables::FORGETTING.header())?;
        for r in &rows {
            writeln!(w, "{}\t{}\t{:.6}", r.head.layer, r.head.head, r.kl)?;
        }
        Ok(())
    };
    write(&mut out).map_err(|e| out.err(e))?;
    out.finish()?;
    let mean = rows.iter().map(|r| r.kl).sum::<f64>() / rows.len().max(1) as f64;
    let max = rows
        .iter()
        .max_by(|a, b| a.kl.total_cmp(&b.kl))
        .map(|r| (r.head, r.kl));
    let metric = if args.labels.is_some() {
        anyhow::ensure!(
            ds.n_outputs() == before.config().n_outputs
                && ds.n_outputs() == after.config().n_outputs,
            "the labels have {} outputs; the models have {} and {}",
            ds.n_outputs(),
            before.config().n_outputs,
            after.config().n_outputs
        );
        let rb = surgery::pearson_of(&predict_raw(&before, &seqs, 64)?, &ds.targets)?;
        let ra = surgery::pearson_of(&predict_raw(&after, &seqs, 64)?, &ds.targets)?;
        Some((rb, ra))
    } else {
        None
    };
    if !g.quiet {
        eprintln!(
            "forgetting: mean forgetting index {mean:.6} nats over {} heads{}",
            rows.len(),
            max.map_or(String::new(), |(h, v)| format!(
                " (largest L{}H{} {v:.6})",
                h.layer, h.head
            ))
        );
        if let Some((rb, ra)) = metric {
            eprintln!(
                "forgetting: old-task mean pearson {rb:.4} before, {ra:.4} after, drop {:.4}",
                rb - ra
            );
        }
    }
    Ok(())
}
