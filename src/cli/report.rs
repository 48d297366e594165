//! `cisformer report`: one self-contained HTML page from a model directory and the analysis tables.
use std::{io::Write, path::PathBuf};

use anyhow::Context;
use cisformer::{
    io::output::Output,
    report::{self, ReportInputs},
};

use super::Global;

/// Write one self-contained HTML report (inline CSS and SVG, no network).
///
/// Every input but --model is optional; a section whose input is missing is left out and
/// named in the run summary.
/// Tables are read by column name, so extra columns are fine.
///
/// Example: `cisformer report --model model --heads heads.tsv --interactions pairs.tsv
/// --validation validation.tsv --predictions pred.tsv --labels labels.tsv --out report.html`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory (config.json, meta.json, train_log.tsv are used when present).
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Head atlas TSV (`layer head entropy mean_distance_bp ...`).
    #[arg(long, value_name = "TSV")]
    heads: Option<PathBuf>,
    /// Interaction TSV (`rank motif_a motif_b layer head ...`, best first).
    #[arg(long, value_name = "TSV")]
    interactions: Option<PathBuf>,
    /// Validation TSV (`motif_a motif_b coattention_rank epistasis ... verdict`).
    #[arg(long, value_name = "TSV")]
    validation: Option<PathBuf>,
    /// Spacing curves TSV (`motif_a motif_b orientation distance_bp cooperativity|co_attention`).
    #[arg(long, value_name = "TSV")]
    spacing: Option<PathBuf>,
    /// Activation-patching TSV from `cisformer patch` (`layer head restored ...`).
    #[arg(long, value_name = "TSV")]
    patch: Option<PathBuf>,
    /// Pairwise head similarity TSV (`layer_a head_a layer_b head_b similarity`).
    #[arg(long, value_name = "TSV")]
    redundancy: Option<PathBuf>,
    /// Predictions TSV (`id` + output columns); needs --labels.
    #[arg(long, value_name = "TSV", requires = "labels")]
    predictions: Option<PathBuf>,
    /// Observed labels TSV (`id` + output columns).
    #[arg(long, value_name = "TSV")]
    labels: Option<PathBuf>,
    /// Pruning results TSV (shown as a table).
    #[arg(long, value_name = "TSV")]
    pruning: Option<PathBuf>,
    /// Forgetting results TSV (shown as a table).
    #[arg(long, value_name = "TSV")]
    forgetting: Option<PathBuf>,
    /// A null-grammar run's folder (as bench/calibration.sh writes WORKDIR/null_1/): adds
    /// a calibration section with QQ plots of the p-values of its pairs.tsv,
    /// interactions.tsv and validation.tsv and their calls at q < 0.05.
    #[arg(long, value_name = "DIR")]
    null: Option<PathBuf>,
    /// `simulate`'s summary.json, for the noise ceiling [default: summary.json beside --labels].
    #[arg(long, value_name = "JSON")]
    sim_summary: Option<PathBuf>,
    /// Page title (default: "cisformer report: <model dir name>").
    #[arg(long, value_name = "T")]
    title: Option<String>,
    /// Most interaction rows to list.
    #[arg(long, value_name = "N", default_value_t = 100)]
    top: usize,
    /// Output HTML file; `-` for standard output.
    #[arg(long, short, value_name = "HTML", default_value = "report.html")]
    out: PathBuf,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    anyhow::ensure!(args.top > 0, "--top must be at least 1");
    super::Files::default()
        .read_model(&args.model)
        .read_opt(args.heads.as_ref())
        .read_opt(args.interactions.as_ref())
        .read_opt(args.validation.as_ref())
        .read_opt(args.spacing.as_ref())
        .read_opt(args.patch.as_ref())
        .read_opt(args.redundancy.as_ref())
        .read_opt(args.predictions.as_ref())
        .read_opt(args.labels.as_ref())
        .read_opt(args.pruning.as_ref())
        .read_opt(args.forgetting.as_ref())
        .read_opt(args.sim_summary.as_ref())
        .write(&args.out)
        .check()?;
    let inputs = ReportInputs {
        model_dir: args.model,
        heads: args.heads,
        interactions: args.interactions,
        validation: args.validation,
        spacing: args.spacing,
        patch: args.patch,
        redundancy: args.redundancy,
        predictions: args.predictions,
        labels: args.labels,
        pruning: args.pruning,
        forgetting: args.forgetting,
        null_dir: args.null,
        sim_summary: args.sim_summary,
        title: args.title,
        top_interactions: args.top,
    };
    let html = report::render(&inputs).context("could not build the report")?;
    let mut out = Output::create(&args.out)?;
    out.write_all(html.as_bytes()).map_err(|e| out.err(e))?;
    out.finish()?;
    if !g.quiet && args.out.as_os_str() != "-" {
        eprintln!(
            "cisformer report: wrote {} ({} KiB)",
            args.out.display(),
            html.len().div_ceil(1024)
        );
    }
    Ok(())
}
