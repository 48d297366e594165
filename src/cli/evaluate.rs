//! `cisformer evaluate`: held-out metrics of a trained model, beside the k-mer ridge
//! baseline fitted at training time.
use std::path::PathBuf;

use cisformer::{baseline::RidgeBaseline, predict, train};

use super::{Global, labelled::DataArgs};

/// Score a trained model on labelled sequences.
///
/// Reports Pearson, Spearman, R², MSE (and AUROC, AUPRC for 0/1 labels) per output and
/// per set (the labels' `set` column; all rows as `all` without one), for the
/// Transformer and for the k-mer ridge baseline saved with it (DIR/ridge.json).
///
/// Example: `cisformer evaluate --model model --fasta test.fa --labels test.tsv`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory written by `train`. Give it several times to score the mean of the
    /// models' predictions (an ensemble); the ridge baseline is the first model's.
    #[arg(long, value_name = "DIR", required = true)]
    model: Vec<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
    /// Output TSV (`-` = standard output).
    #[arg(short = 'o', long, value_name = "TSV", default_value = "-")]
    out: PathBuf,
    #[command(flatten)]
    averaging: super::AveragingArgs,
    #[command(flatten)]
    device: super::DeviceArg,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    let device = args.device.open()?;
    let files = args
        .model
        .iter()
        .fold(super::Files::default(), |f, m| f.read_model(m));
    args.data.files(files).write(&args.out).check()?;
    let models = predict::load_models(&args.model, &device)?;
    let meta = &models[0].1;
    let (ds, split, whole) = args.data.load_for_scoring()?;
    if ds.output_names != meta.label_names {
        anyhow::bail!(
            "the labels have outputs {:?} but the model predicts {:?}",
            ds.output_names,
            meta.label_names
        );
    }
    let source = args.data.source();
    for (m, _) in &models {
        predict::check_lengths(m, &ds.ids, &ds.seqs, source)?;
    }
    let seqs: Vec<&[u8]> = ds.seqs.iter().map(Vec::as_slice).collect();
    let bar = super::progress_bar(g, 0, "evaluate {spinner} {elapsed_precise}");
    let pred = predict::predict_ensemble(&models, &seqs, 64, args.averaging.averaging())?;
    bar.finish_and_clear();
    let table = train::named_sets(train::split_metrics(&ds, &split, &pred), whole);
    let ridge_path = args.model[0].join("ridge.json");
    let ridge_table = if ridge_path.is_file() {
        let text = std::fs::read_to_string(&ridge_path)?;
        let r: RidgeBaseline = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: {e}", ridge_path.display()))?;
        Some(train::named_sets(
            train::split_metrics(&ds, &split, &r.predict(&seqs)),
            whole,
        ))
    } else {
        None
    };
    let mut out = cisformer::io::output::Output::create(&args.out)?;
    train::write_model_metrics_tsv(&mut out, &ds.output_names, &table, ridge_table.as_deref())
        .map_err(|e| out.err(e))?;
    out.finish()?;
    if !g.quiet {
        super::labelled::print_summary(
            "evaluate",
            &ds.output_names,
            &table,
            ridge_table.as_deref(),
        );
    }
    Ok(())
}
