//! `cisformer predict`: activities of new sequences from a trained model.
use std::{io::Write, path::PathBuf};

use cisformer::{
    io::fasta,
    predict,
    train::{BedOptions, Dataset},
};

use super::Global;

/// Predict activities with a trained model.
///
/// From FASTA: a TSV with `id` and one column per output. From BED (--bed --genome):
/// a bedGraph of --output (default: the first), in BED order. Values are on the label
/// scale (probabilities for 0/1 labels); with several --model, their mean.
///
/// Example: `cisformer predict --model model --fasta new.fa -o pred.tsv`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory written by `train`. Give it several times to average the models'
    /// predictions on the label scale (an ensemble, e.g. of training seeds).
    #[arg(long, value_name = "DIR", required = true)]
    model: Vec<PathBuf>,
    /// Sequences (FASTA, plain or gzip).
    #[arg(
        long,
        value_name = "FA",
        conflicts_with = "bed",
        required_unless_present = "bed"
    )]
    fasta: Option<PathBuf>,
    /// Regions (BED) to predict, with their sequences from --genome; writes bedGraph.
    #[arg(long, value_name = "BED", requires = "genome")]
    bed: Option<PathBuf>,
    /// Genome FASTA for --bed.
    #[arg(long, value_name = "FA", requires = "bed")]
    genome: Option<PathBuf>,
    /// Reverse-complement `-` regions of --bed before predicting.
    #[arg(short = 's', long, requires = "bed")]
    stranded: bool,
    /// Output written to the bedGraph (name or 1-based index).
    #[arg(long, value_name = "NAME", requires = "bed")]
    output: Option<String>,
    #[command(flatten)]
    averaging: super::AveragingArgs,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Output file (`-` = standard output).
    #[arg(short = 'o', long, value_name = "FILE", default_value = "-")]
    out: PathBuf,
    #[command(flatten)]
    device: super::DeviceArg,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    let device = args.device.open()?;
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    args.model
        .iter()
        .fold(super::Files::default(), |f, m| f.read_model(m))
        .read_opt(args.fasta.as_ref())
        .read_opt(args.bed.as_ref())
        .read_opt(args.genome.as_ref())
        .write(&args.out)
        .check()?;
    let models = predict::load_models(&args.model, &device)?;
    let meta = &models[0].1;
    let ds = match (&args.fasta, &args.bed, &args.genome) {
        (Some(fa), _, _) => {
            let recs = fasta::read_all(fa)?;
            anyhow::ensure!(!recs.is_empty(), "{}: no FASTA records", fa.display());
            Dataset {
                ids: recs.iter().map(|r| r.name.clone()).collect(),
                seqs: recs.into_iter().map(|r| r.seq).collect(),
                ..Dataset::default()
            }
        }
        (None, Some(bed), Some(genome)) => {
            let opts = BedOptions {
                stranded: args.stranded,
                ..BedOptions::default()
            };
            Dataset::from_bed(bed, genome, &opts)?
        }
        _ => anyhow::bail!("give --fasta FA, or --bed BED --genome FA"),
    };
    let k = models.iter().map(|(m, _)| m.config().k).max().unwrap_or(1);
    if let Some((id, s)) = ds.ids.iter().zip(&ds.seqs).find(|(_, s)| s.len() < k) {
        anyhow::bail!("sequence '{id}' is {} bp, shorter than k = {k}", s.len());
    }
    let source = args
        .fasta
        .as_ref()
        .or(args.bed.as_ref())
        .expect("one input");
    for (m, _) in &models {
        predict::check_lengths(m, &ds.ids, &ds.seqs, source)?;
    }
    let seqs: Vec<&[u8]> = ds.seqs.iter().map(Vec::as_slice).collect();
    let bar = super::progress_bar(g, 0, "predict {spinner} {elapsed_precise}");
    let pred =
        predict::predict_ensemble(&models, &seqs, args.batch_size, args.averaging.averaging())?;
    bar.finish_and_clear();
    let names = &meta.label_names;
    let mut out = cisformer::io::output::Output::create(&args.out)?;
    let written = match &ds.coords {
        None => cisformer::train::write_predictions_tsv(&mut out, &ds.ids, names, None, &pred),
        Some(coords) => {
            let o = pick_output(args.output.as_deref(), names)?;
            let chroms = ds.chroms.as_deref().unwrap_or_default();
            (|| {
                writeln!(out, "track type=bedGraph name=\"cisformer {}\"", names[o])?;
                for ((c, (s, e)), p) in chroms.iter().zip(coords).zip(&pred) {
                    writeln!(out, "{c}\t{s}\t{e}\t{:.6}", p[o])?;
                }
                Ok(())
            })()
        }
    };
    written.map_err(|e| out.err(e))?;
    out.finish()?;
    if !g.quiet {
        eprintln!("predict: {} sequences", ds.len());
    }
    Ok(())
}

fn pick_output(want: Option<&str>, names: &[String]) -> anyhow::Result<usize> {
    let Some(w) = want else { return Ok(0) };
    if let Some(i) = names.iter().position(|n| n == w) {
        return Ok(i);
    }
    match w.parse::<usize>() {
        Ok(i) if (1..=names.len()).contains(&i) => Ok(i - 1),
        _ => anyhow::bail!("--output {w}: the model's outputs are {names:?}"),
    }
}
