//! `cisformer index GENOME`: write a samtools-compatible `.fai`.
use std::{io::Write, path::PathBuf};

use anyhow::Context;
use cisformer::io::{self, fasta};

use super::Global;

/// Write the FASTA index (`.fai`) of a genome, identical to `samtools faidx`.
///
/// Plain, gzip and bgzip input are read; for compressed input the offsets are
/// positions in the uncompressed text, as samtools writes them for bgzip.
/// Every line of a record but the last must have the same length.
///
/// Example: `cisformer index genome.fa` (writes genome.fa.fai)
#[derive(clap::Args, Debug)]
pub struct Args {
    /// FASTA file (plain, gzip or bgzip).
    #[arg(value_name = "GENOME")]
    genome: PathBuf,
    /// Where to write the index [default: GENOME.fai]; `-` for standard output.
    #[arg(short, long, value_name = "OUT")]
    out: Option<PathBuf>,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.genome.as_os_str() != "-" || args.out.is_some(),
        "index: reading the genome from standard input needs -o OUT (there is no GENOME.fai to write)"
    );
    let out_path = args
        .out
        .clone()
        .unwrap_or_else(|| fasta::fai_path_for(&args.genome));
    super::Files::default()
        .read(&args.genome)
        .write(&out_path)
        .check()?;
    let records = fasta::fai::build(&args.genome)?;
    // Standard input has no file to look at again for the gzip note.
    let from_stdin = args.genome.as_os_str() == "-";
    if !g.quiet && !from_stdin && io::is_gzip(&args.genome)? && !io::is_bgzf(&args.genome)? {
        eprintln!(
            "cisformer index: note: {} is plain gzip, not bgzip; samtools cannot use this index with it (cisformer can)",
            args.genome.display()
        );
    }
    let mut out = io::output::Output::create(&out_path)?;
    fasta::fai::write_fai(&mut out, &records).map_err(|e| out.err(e))?;
    out.flush().map_err(|e| out.err(e))?;
    out.finish()
        .with_context(|| format!("could not write {}", out_path.display()))?;
    Ok(())
}
