//! `cisformer scan`: motif sites in FIMO's TSV format, with FIMO's scores and p-values.
use std::{
    io::{IsTerminal, Write},
    path::PathBuf,
    time::Instant,
};

use anyhow::Context;
use cisformer::{
    io::{fasta, frame::place, output::Output},
    motif::{
        self, Background, Format, Motif, Pssm, fimo,
        scan::{self, Hit, Scanner},
    },
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rayon::prelude::*;

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

/// Sequences longer than this are scanned in parallel pieces.
const CHUNK: usize = 1 << 20;

/// Hits of one motif: (sequence index, hit), in output order; and how many windows were scored.
type MotifHits = (Vec<(usize, Hit)>, u64);

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
    let motifs = select(&file, &args.motif, &args.motifs.display().to_string())?;
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
    let codes: Vec<Vec<u8>> = records.par_iter().map(|r| scan::encode(&r.seq)).collect();
    let pairs: Vec<Vec<u8>> = codes.par_iter().map(|c| scan::pair_codes(c)).collect();

    let pb = progress(g, motifs.len() as u64);
    let per_motif: Vec<MotifHits> = motifs
        .par_iter()
        .map(|m| {
            let r = scan_motif(m, &bg, &args, both, &codes, &pairs);
            pb.inc(1);
            r
        })
        .collect();
    pb.finish_and_clear();

    let n_hits: usize = per_motif.iter().map(|(h, _)| h.len()).sum();
    let qvalues = args.qvalues.then(|| {
        let tests: u64 = per_motif.iter().map(|(_, n)| n).sum();
        let p: Vec<f64> = per_motif
            .iter()
            .flat_map(|(h, _)| h.iter().map(|(_, x)| x.pvalue))
            .collect();
        cisformer::stats::bh_qvalues(&p, tests)
    });

    let mut out = Output::create(&args.out)?;
    let mut bed = args.bed_out.as_ref().map(Output::create).transpose()?;
    let mut rows = fimo::RowWriter::default();
    let mut k = 0;
    let write = |out: &mut Output,
                 bed: &mut Option<Output>,
                 rows: &mut fimo::RowWriter,
                 k: &mut usize|
     -> std::io::Result<()> {
        writeln!(out, "{}", fimo::HEADER)?;
        for (m, (hits, _)) in motifs.iter().zip(&per_motif) {
            for (si, h) in hits {
                let rec = &records[*si];
                let q = qvalues.as_ref().map(|q| q[*k]);
                *k += 1;
                rows.write(
                    out,
                    &m.id,
                    &m.name,
                    &rec.name,
                    h,
                    &rec.seq[h.start..h.end],
                    q,
                )?;
                if let Some(b) = bed.as_mut() {
                    let score = (-10.0 * h.pvalue.log10()).round().clamp(0.0, 1000.0) as u32;
                    let (chrom, s, e, strand) = place(
                        &rec.name,
                        Some(rec.seq.len() as u64),
                        h.start,
                        h.end,
                        h.plus,
                    );
                    writeln!(b, "{chrom}\t{s}\t{e}\t{}\t{score}\t{strand}", m.id)?;
                }
            }
        }
        Ok(())
    };
    write(&mut out, &mut bed, &mut rows, &mut k).map_err(|e| out.err(e))?;
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

/// The motifs to scan, in file order; unknown ids are an error naming the file.
fn select<'a>(
    file: &'a motif::MotifFile,
    ids: &[String],
    origin: &str,
) -> anyhow::Result<Vec<&'a Motif>> {
    if ids.is_empty() {
        return Ok(file.motifs.iter().collect());
    }
    let mut keep = vec![false; file.motifs.len()];
    for id in ids {
        let Some(i) = file.position(id) else {
            let known: Vec<&str> = file.motifs.iter().take(5).map(|m| m.id.as_str()).collect();
            anyhow::bail!(
                "{origin}: unknown motif ID '{id}' ({} motifs, e.g. {}{})",
                file.motifs.len(),
                known.join(", "),
                if file.motifs.len() > 5 { ", ..." } else { "" }
            );
        };
        keep[i] = true;
    }
    Ok(file
        .motifs
        .iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(m, _)| m)
        .collect())
}

fn scan_motif(
    m: &Motif,
    bg: &Background,
    args: &Args,
    both: bool,
    codes: &[Vec<u8>],
    pairs: &[Vec<u8>],
) -> MotifHits {
    let pssm = Pssm::with_threshold(m, bg, args.motif_pseudo, args.thresh);
    let scanner = Scanner::new(&pssm, args.thresh, both);
    let w = pssm.width();
    let units: Vec<(usize, usize, usize)> = codes
        .iter()
        .enumerate()
        .flat_map(|(si, c)| {
            (0..c.len().div_ceil(CHUNK).max(1)).map(move |k| (si, k * CHUNK, (k + 1) * CHUNK))
        })
        .collect();
    let parts: Vec<Vec<(usize, Hit)>> = units
        .par_iter()
        .map(|&(si, from, to)| {
            let mut hits = Vec::new();
            scanner.scan_encoded_pairs(&codes[si], &pairs[si], from, to, &mut hits);
            hits.into_iter().map(|h| (si, h)).collect()
        })
        .collect();
    let tests = if args.qvalues {
        let per: u64 = codes
            .par_iter()
            .map(|c| scan::count_scorable_windows(c, w))
            .sum();
        per * if both { 2 } else { 1 }
    } else {
        0
    };
    (parts.into_iter().flatten().collect(), tests)
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
