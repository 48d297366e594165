//! `cisformer extract`: regions → FASTA, byte-identical to `bedtools getfasta`.
use std::{io::Read, path::PathBuf};

use cisformer::{
    extract::{self, Options},
    io::{self, fasta::Genome},
};

use super::Global;

/// Extract BED regions from a genome as FASTA, byte-identical to `bedtools getfasta`.
///
/// Headers are `contig:start-end` (BED coordinates); `-s` adds `(+)`/`(-)` and
/// reverse-complements minus-strand regions (IUPAC codes too, case kept); `--name`
/// prefixes `name::`. Output follows BED order. Intervals running past the contig
/// end, and empty ones, are skipped as bedtools does and counted on stderr
/// (`--strict` makes them errors); unknown contigs and malformed lines are errors.
///
/// Example: `cisformer extract -f genome.fa -b regions.bed -s --name -o regions.fa`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Genome FASTA: plain (memory-mapped, uses GENOME.fai when up to date) or gzip/bgzip
    /// (decompressed into memory once).
    #[arg(
        short = 'f',
        long = "fi",
        visible_alias = "genome",
        value_name = "GENOME"
    )]
    genome: PathBuf,
    /// BED file (BED3 to BED12, plain or gzip; `-` for standard input).
    #[arg(short = 'b', long = "bed", value_name = "BED")]
    bed: PathBuf,
    /// Strand-aware: reverse-complement `-` intervals and add `(strand)` to headers (`-s`).
    #[arg(short = 's', long = "strand")]
    strand: bool,
    /// Prefix headers with the BED name column: `name::contig:start-end` (`-name`).
    #[arg(long = "name")]
    name: bool,
    /// Widen every interval by N bp on both sides, clipped to the contig; headers show
    /// the widened coordinates (same as `bedtools slop -b N | bedtools getfasta`). Intervals
    /// already past the contig end are skipped (or errors with --strict) before widening.
    #[arg(long = "flank", value_name = "N", default_value_t = 0)]
    flank: u64,
    /// Treat intervals bedtools would skip (past the contig end, or empty) as errors.
    #[arg(long)]
    strict: bool,
    /// Output FASTA; `-` for standard output.
    #[arg(short = 'o', long = "out", value_name = "OUT", default_value = "-")]
    out: PathBuf,
}

/// Compressed genomes larger than this get a note that they are decompressed into memory.
const LARGE_GZIP: u64 = 16 << 20;

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.genome.as_os_str() != "-",
        "extract: the genome must be a file (random access); only the BED may come from standard input"
    );
    super::Files::default()
        .read(&args.genome)
        .read(io::fasta::fai_path_for(&args.genome))
        .read(&args.bed)
        .write(&args.out)
        .check()?;
    if !g.quiet && io::is_gzip(&args.genome)? {
        let size = std::fs::metadata(&args.genome).map_or(0, |m| m.len());
        if size > LARGE_GZIP {
            eprintln!(
                "cisformer extract: {} is compressed; decompressing it into memory (a plain FASTA is memory-mapped instead)",
                args.genome.display()
            );
        }
    }
    let genome = Genome::open(&args.genome)?;
    let mut bed = Vec::new();
    io::open_input(&args.bed)?
        .read_to_end(&mut bed)
        .map_err(|e| cisformer::Error::io(&args.bed, e))?;
    let opts = Options {
        strand: args.strand,
        name: args.name,
        flank: args.flank,
        strict: args.strict,
    };
    let mut out = io::output::Output::create(&args.out)?;
    let out_path = out.path().to_path_buf();
    let summary = extract::extract(&genome, &bed, &args.bed, &opts, &mut out, &out_path)?;
    out.finish()?;
    let skipped = summary.past_end + summary.empty;
    if skipped > 0 && !g.quiet {
        eprintln!(
            "cisformer extract: warning: skipped {skipped} of {} intervals ({} past the contig end, {} empty; first: {}); --strict makes these errors",
            skipped + summary.written,
            summary.past_end,
            summary.empty,
            summary.first_skipped.as_deref().unwrap_or("?")
        );
    }
    Ok(())
}
