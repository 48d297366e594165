//! `cisformer motifs`: motif-library utilities (similarity, clustering, conversion).
use std::{io::Write, path::PathBuf};

use cisformer::{
    io::output::Output,
    motif::{self, Background, Format, fimo::format_g, similar},
};

use super::Global;

/// Motif-library utilities: similarity, clustering, format conversion.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(clap::Subcommand, Debug)]
enum Sub {
    Similar(SimilarArgs),
    Convert(ConvertArgs),
}

/// Pairwise motif similarity (TomTom-like) or clusters of near-identical motifs.
///
/// Each pair is aligned over both strands and every offset; the score is the sum of
/// column-wise Pearson correlations over the overlap divided by the wider width (1 =
/// identical). Without --cluster: one row per pair scoring at least --min-score, best
/// first. With --cluster T: single-linkage clusters (pairs scoring >= T are always in
/// one cluster), one row per motif; the representative is the cluster's first motif.
///
/// Example: `cisformer motifs similar -m JASPAR2024.meme --cluster 0.8 -o clusters.tsv`
#[derive(clap::Args, Debug)]
struct SimilarArgs {
    /// Motif file (MEME, JASPAR, TRANSFAC or HOMER; plain or gzip).
    #[arg(short = 'm', long = "motifs", value_name = "MOTIFS")]
    motifs: PathBuf,
    /// Force the motif file format.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    format: Option<Format>,
    /// Only pairs involving this motif (id or name); repeatable.
    #[arg(long = "query", value_name = "ID")]
    query: Vec<String>,
    /// Smallest score of a reported pair.
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long = "min-score", default_value_t = 0.5, value_name = "S")]
    min_score: f64,
    /// Cluster motifs: pairs scoring at least T end up together; prints clusters.
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, value_name = "T")]
    cluster: Option<f64>,
    /// Fewest aligned columns (capped at the narrower motif's width).
    #[arg(long = "min-overlap", default_value_t = 5, value_name = "N")]
    min_overlap: usize,
    /// Output TSV; `-` for standard output.
    #[arg(short = 'o', long = "out", value_name = "OUT", default_value = "-")]
    out: PathBuf,
}

/// Convert a motif file between MEME, JASPAR, TRANSFAC and HOMER formats.
///
/// Example: `cisformer motifs convert -m motifs.jaspar --to meme -o motifs.meme`
#[derive(clap::Args, Debug)]
struct ConvertArgs {
    /// Input motif file (format detected; plain or gzip).
    #[arg(short = 'm', long = "motifs", value_name = "MOTIFS")]
    motifs: PathBuf,
    /// Force the input format.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    format: Option<Format>,
    /// Output format: meme, jaspar, transfac or homer.
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    to: Format,
    /// Output file; `-` for standard output.
    #[arg(short = 'o', long = "out", value_name = "OUT", default_value = "-")]
    out: PathBuf,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse().map_err(|e: cisformer::Error| e.to_string())
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    match args.command {
        Sub::Similar(a) => run_similar(a, g),
        Sub::Convert(a) => run_convert(a),
    }
}

fn run_convert(a: ConvertArgs) -> anyhow::Result<()> {
    super::Files::default()
        .read(&a.motifs)
        .write(&a.out)
        .check()?;
    let file = motif::load(&a.motifs, a.format)?;
    let bg = file
        .background
        .map_or(Background::uniform(), Background::from_freqs);
    let text = motif::to_string(&file.motifs, &bg, a.to);
    let mut out = Output::create(&a.out)?;
    out.write_all(text.as_bytes()).map_err(|e| out.err(e))?;
    out.finish()?;
    Ok(())
}

fn run_similar(a: SimilarArgs, g: &Global) -> anyhow::Result<()> {
    super::Files::default()
        .read(&a.motifs)
        .write(&a.out)
        .check()?;
    let file = motif::load(&a.motifs, a.format)?;
    let ms = &file.motifs;
    let mut out = Output::create(&a.out)?;
    if let Some(t) = a.cluster {
        anyhow::ensure!(
            a.query.is_empty(),
            "--query and --cluster cannot be combined"
        );
        let c = similar::cluster(ms, t, a.min_overlap);
        let mut first = vec![usize::MAX; ms.len()];
        for (i, &k) in c.iter().enumerate() {
            if first[k] == usize::MAX {
                first[k] = i;
            }
        }
        let body = |out: &mut Output| -> std::io::Result<()> {
            writeln!(
                out,
                "cluster\tmotif_id\tmotif_alt_id\trepresentative\tscore_to_representative"
            )?;
            let mut order: Vec<usize> = (0..ms.len()).collect();
            order.sort_by_key(|&i| (c[i], i));
            for i in order {
                let r = first[c[i]];
                let s = if r == i {
                    1.0
                } else {
                    similar::compare(&ms[r], &ms[i], a.min_overlap).score
                };
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{:.4}",
                    c[i] + 1,
                    ms[i].id,
                    ms[i].name,
                    ms[r].id,
                    s
                )?;
            }
            Ok(())
        };
        body(&mut out).map_err(|e| out.err(e))?;
        out.finish()?;
        if !g.quiet {
            let n = c.iter().max().map_or(0, |m| m + 1);
            eprintln!(
                "cisformer motifs similar: {} motifs in {n} clusters",
                ms.len()
            );
        }
        return Ok(());
    }
    let queries: Vec<usize> = a
        .query
        .iter()
        .map(|q| {
            file.position(q)
                .ok_or_else(|| anyhow::anyhow!("{}: unknown motif ID '{q}'", a.motifs.display()))
        })
        .collect::<anyhow::Result<_>>()?;
    let mut pairs: Vec<(usize, usize, similar::Alignment)> = if queries.is_empty() {
        similar::all_pairs(ms, a.min_overlap)
    } else {
        use rayon::prelude::*;
        queries
            .par_iter()
            .flat_map_iter(|&q| {
                (0..ms.len())
                    .filter(move |&j| j != q)
                    .map(move |j| (q, j, similar::compare(&ms[q], &ms[j], a.min_overlap)))
            })
            .collect()
    };
    pairs.retain(|p| p.2.score >= a.min_score);
    pairs.sort_by(|x, y| {
        y.2.score
            .total_cmp(&x.2.score)
            .then((x.0, x.1).cmp(&(y.0, y.1)))
    });
    let body = |out: &mut Output| -> std::io::Result<()> {
        writeln!(
            out,
            "motif_a\tname_a\tmotif_b\tname_b\tscore\tmean_pcc\toverlap\toffset\torientation"
        )?;
        for (i, j, al) in &pairs {
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                ms[*i].id,
                ms[*i].name,
                ms[*j].id,
                ms[*j].name,
                format_g(al.score, 4),
                format_g(al.mean_pcc, 4),
                al.overlap,
                al.offset,
                if al.same_strand { '+' } else { '-' }
            )?;
        }
        Ok(())
    };
    body(&mut out).map_err(|e| out.err(e))?;
    out.finish()?;
    Ok(())
}
