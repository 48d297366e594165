//! `cisformer scan`: motif sites in FIMO's TSV format, with FIMO's scores and p-values.
use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    time::Instant,
};

use anyhow::Context;
use cisformer::{
    io::{fasta, output::Output},
    motif::{
        self, Background, Format,
        search::{self, Encoded, SearchOptions},
    },
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::Global;

/// Scan sequences for motif sites; output identical to `fimo --text`.
///
/// Scores are log-odds in bits against the background after FIMO's motif
/// pseudocount; p-values are exact (dynamic programming over FIMO's integer-scaled
/// scores), so hits, scores and p-values match FIMO 5.4.1. Windows containing N or
/// any non-ACGT letter are never scored. Rows come motif by motif (file order),
/// then by sequence, position, `+` before `-`.
///
/// Example: `cisformer scan -m JASPAR2024.meme -f regions.fa --thresh 1e-4 -o sites.tsv`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Motif file: MEME, JASPAR, TRANSFAC or HOMER (detected; plain or gzip).
    #[arg(short = 'm', long = "motifs", value_name = "MOTIFS")]
    motifs: PathBuf,
    /// Sequences to scan (FASTA, plain or gzip; `-` for standard input).
    #[arg(short = 'f', long = "fasta", value_name = "FASTA")]
    fasta: PathBuf,
    /// Report windows with p-value <= P.
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, default_value_t = 1e-4, value_name = "P")]
    thresh: f64,
    /// Only this motif (id, or name when no id matches); repeatable.
    #[arg(long = "motif", value_name = "ID")]
    motif: Vec<String>,
    /// Force the motif file format instead of detecting it.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    format: Option<Format>,
    /// FIMO's motif pseudocount, added to every matrix in proportion to the background.
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long = "motif-pseudo", default_value_t = motif::FIMO_PSEUDOCOUNT, value_name = "X")]
    motif_pseudo: f64,
    /// Use the background frequencies stated in the (MEME) motif file.
    #[arg(long = "bg-from-motifs", conflicts_with = "bg")]
    bg_from_motifs: bool,
    /// Background frequencies from a MEME background file (`A 0.3` lines) [default: uniform].
    #[arg(long = "bg", value_name = "FILE")]
    bg: Option<PathBuf>,
    /// Scan the given strand only.
    #[arg(long)]
    norc: bool,
    /// Fill the q-value column: Benjamini–Hochberg over every scored window of every motif.
    #[arg(long)]
    qvalues: bool,
    /// Also write the hits as BED6 (name = motif id, score = min(1000, round(-10·log10 p))),
    /// in genome coordinates when a record's name says where it lies (`chr:start-end`, as
    /// `extract` names regions), else on the record's own name and coordinates.
    #[arg(long = "bed-out", value_name = "BED")]
    bed_out: Option<PathBuf>,
    /// Output TSV; `-` for standard output.
    #[arg(short = 'o', long = "out", value_name = "OUT", default_value = "-")]
    out: PathBuf,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse().map_err(|e: cisformer::Error| e.to_string())
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    let t0 = Instant::now();
    anyhow::ensure!(
        args.thresh > 0.0 && args.thresh <= 1.0,
        "--thresh must be in (0, 1], got {}",
        args.thresh
    );
    anyhow::ensure!(
        args.motif_pseudo >= 0.0 && args.motif_pseudo.is_finite(),
        "--motif-pseudo must be >= 0"
    );
    super::Files::default()
        .read(&args.motifs)
        .read(&args.fasta)
        .read_opt(args.bg.as_ref())
        .write(&args.out)
        .write_opt(args.bed_out.as_ref())
        .check()?;
    let file = motif::load(&args.motifs, args.format)?;
    let motifs = file.select(&args.motif, &args.motifs.display().to_string())?;
    let both = !args.norc;
    let raw_bg = if args.bg_from_motifs {
        file.background.with_context(|| {
            format!(
                "{}: --bg-from-motifs, but the file states no background letter frequencies",
                args.motifs.display()
            )
        })?
    } else if let Some(p) = &args.bg {
        Background::load(p)?.freqs()
    } else {
        Background::uniform().freqs()
    };
    let bg = Background::for_fimo(raw_bg, both);
    let records = fasta::read_all(&args.fasta)?;
    let opts = SearchOptions {
        thresh: args.thresh,
        pseudo: args.motif_pseudo,
        both_strands: both,
        count_tests: args.qvalues,
    };
    let pb = progress(g, motifs.len() as u64);
    let found = search::search(&motifs, &bg, &Encoded::new(&records), &opts, || pb.inc(1));
    pb.finish_and_clear();
    let n_hits: usize = found.iter().map(|m| m.hits.len()).sum();
    let qvalues = args.qvalues.then(|| search::qvalues(&found));

    let mut out = Output::create(&args.out)?;
    let mut bed = args.bed_out.as_ref().map(Output::create).transpose()?;
    let bed_w = bed.as_mut().map(|b| b as &mut dyn Write);
    search::write_hits(
        &mut out,
        bed_w,
        &motifs,
        &found,
        &records,
        qvalues.as_deref(),
    )
    .map_err(|e| out.err(e))?;
    out.finish()?;
    if let Some(b) = bed {
        b.finish()?;
    }
    if !g.quiet {
        eprintln!(
            "cisformer scan: {n_hits} hits of {} motifs in {} sequences ({:.1} s)",
            motifs.len(),
            records.len(),
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

fn progress(g: &Global, n: u64) -> ProgressBar {
    if g.quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("scan {bar:30} {pos}/{len} motifs {elapsed}") {
        pb.set_style(style);
    }
    pb
}
