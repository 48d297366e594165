//! `cisformer baseline`: k-mer ridge regression, the yardstick for the Transformer.
use std::{fs, io::Write, ops::ControlFlow, path::PathBuf, time::Instant};

use anyhow::Context;
use cisformer::{
    baseline::{RidgeBaseline, RidgeOptions},
    io::output::Output,
    train,
};

use super::{Global, labelled::DataArgs, write_to};

/// Fit a k-mer ridge-regression baseline and report held-out metrics.
///
/// Features: counts of every k-mer for k in --k, both strands summed, standardised
/// on the training rows. The ridge penalty is chosen on the validation rows from
/// --alphas; metrics are reported for training, validation and test. With --out DIR,
/// writes DIR/metrics.tsv, DIR/predictions.tsv (`id`, outputs, `set`) and
/// DIR/ridge.json (the fitted model); without it, metrics.tsv goes to standard output.
///
/// Example: `cisformer baseline --fasta data/lac/lac.fa.gz --labels data/lac/labels.tsv.gz --k 1-5 --out ridge`
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// k-mer lengths, `MIN-MAX` or one number (at most 6).
    #[arg(long = "k", value_name = "MIN-MAX", default_value = "1-5", value_parser = parse_k_range)]
    k: (usize, usize),
    /// Count each strand's k-mers separately instead of summing both strands.
    #[arg(long)]
    single_strand: bool,
    /// Candidate ridge penalties (comma-separated); the best on validation is kept.
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, value_name = "A,...", value_delimiter = ',', default_values_t = RidgeOptions::default().alphas)]
    alphas: Vec<f64>,
    /// Output directory (created if missing); without it, metrics go to standard output.
    #[arg(short = 'o', long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Overwrite an earlier baseline (or a model's own) in --out.
    #[arg(long, requires = "out")]
    force: bool,
}

/// The files `baseline --out DIR` writes.
const OUTPUTS: [&str; 3] = ["metrics.tsv", "predictions.tsv", "ridge.json"];

fn parse_k_range(s: &str) -> Result<(usize, usize), String> {
    let parse = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|_| format!("'{t}' is not a k-mer length"))
    };
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let k = parse(s)?;
            (k, k)
        }
    };
    if lo == 0 || lo > hi || hi > cisformer::baseline::MAX_K {
        return Err(format!(
            "need 1 <= MIN <= MAX <= {}, got {s}",
            cisformer::baseline::MAX_K
        ));
    }
    Ok((lo, hi))
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let outputs: Vec<PathBuf> = args
        .out
        .iter()
        .flat_map(|dir| OUTPUTS.map(|f| dir.join(f)))
        .collect();
    outputs
        .iter()
        .fold(args.data.files(super::Files::default()), |f, o| f.write(o))
        .check()?;
    // A model folder holds a metrics.tsv and predictions.tsv of its own: keep them unless asked.
    if !args.force
        && let Some(old) = outputs.iter().find(|p| p.exists())
    {
        anyhow::bail!("{} exists; use --force to overwrite it", old.display());
    }
    let (ds, split) = args.data.load()?;
    args.data.check_trainable(&ds)?;
    let opts = RidgeOptions {
        kmin: args.k.0,
        kmax: args.k.1,
        canonical: !args.single_strand,
        alphas: args.alphas.clone(),
    };
    let bar = super::progress_bar(
        g,
        opts.alphas.len() as u64,
        "baseline: ridge fits {bar:30} {pos}/{len} alphas",
    );
    let model = RidgeBaseline::fit_with_progress(&ds, &split, &opts, &mut |_| {
        bar.inc(1);
        ControlFlow::Continue(())
    })?;
    bar.finish_and_clear();
    let seqs: Vec<&[u8]> = ds.seqs.iter().map(Vec::as_slice).collect();
    let pred = model.predict(&seqs);
    let table = train::split_metrics(&ds, &split, &pred);
    match &args.out {
        None => {
            let mut out = Output::create("-")?;
            train::write_metrics_tsv(&mut out, &ds.output_names, &table).map_err(|e| out.err(e))?;
            out.finish()?;
        }
        Some(dir) => {
            fs::create_dir_all(dir)
                .with_context(|| format!("cannot create output directory {}", dir.display()))?;
            write_to(&dir.join(OUTPUTS[0]), |w| {
                train::write_metrics_tsv(w, &ds.output_names, &table)
            })?;
            write_to(&dir.join(OUTPUTS[1]), |w| {
                train::write_predictions_tsv(w, &ds.ids, &ds.output_names, Some(&split), &pred)
            })?;
            let json = serde_json::to_string(&model).context("cannot serialise the model")?;
            write_to(&dir.join(OUTPUTS[2]), |w| writeln!(w, "{json}"))?;
        }
    }
    if !g.quiet {
        eprintln!(
            "baseline: {} sequences ({} train / {} val / {} test), {} features (k {}-{}), alpha {}",
            ds.len(),
            split.train.len(),
            split.val.len(),
            split.test.len(),
            cisformer::baseline::KmerFeaturizer::new(opts.kmin, opts.kmax, opts.canonical)?
                .n_features(),
            opts.kmin,
            opts.kmax,
            model.alpha
        );
        super::labelled::print_summary(
            "baseline",
            &ds.output_names,
            &train::named_sets(table, false),
            None,
        );
        eprintln!("baseline: done in {:.2} s", t0.elapsed().as_secs_f64());
    }
    Ok(())
}
