//! `cisformer demo`: run the pipeline on the data embedded in the binary.
//!
//! Only the ingestion stage (index + extract) exists so far; the demo says so and
//! runs it. Later stages append their steps here.
use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::Context;
use cisformer::{
    extract::{self, Options},
    io::{
        fasta::{self, Genome},
        output::Output,
    },
};

use super::Global;

/// 150 kb of *E. coli* K-12 MG1655 around the lac operon (see data/README.md).
const GENOME: &[u8] = include_bytes!("../../data/ecoli_k12_lac_region.fa");
const GENOME_NAME: &str = "ecoli_k12_lac_region.fa";
/// Regions on it, including the wild-type lac promoter on the minus strand.
const REGIONS: &[u8] = include_bytes!("../../data/ecoli_k12_lac_regions.bed");

/// Run cisformer on the embedded example data (works from any directory).
///
/// Writes the embedded genome, its `.fai`, the regions BED and the extracted
/// `regions.fa` into DIR. Currently runs the ingestion stage (index + extract).
///
/// Example: `cisformer demo --out cisformer_demo`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output directory (created if missing).
    #[arg(long, short, value_name = "DIR", default_value = "cisformer_demo")]
    out: PathBuf,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    let dir = &args.out;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("could not create output directory {}", dir.display()))?;
    if !g.quiet {
        eprintln!(
            "cisformer demo: only the ingestion stage (index + extract) is available so far; running it on the embedded data"
        );
    }
    let genome_path = dir.join(GENOME_NAME);
    write_file(&genome_path, GENOME)?;
    let bed_path = dir.join("regions.bed");
    write_file(&bed_path, REGIONS)?;

    let records = fasta::fai::build(&genome_path)?;
    let mut fai = Vec::new();
    fasta::fai::write_fai(&mut fai, &records)?;
    write_file(&fasta::fai_path_for(&genome_path), &fai)?;

    let genome = Genome::open(&genome_path)?;
    let opts = Options {
        strand: true,
        name: true,
        ..Options::default()
    };
    let fa_path = dir.join("regions.fa");
    let mut out = Output::create(&fa_path)?;
    let summary = extract::extract(&genome, REGIONS, &bed_path, &opts, &mut out, &fa_path)?;
    out.finish()?;

    if !g.quiet {
        let c = &genome.contigs()[0];
        eprintln!(
            "cisformer demo: indexed {} ({} bp, contig {}) -> {}",
            genome_path.display(),
            c.length,
            c.name,
            fasta::fai_path_for(&genome_path).display()
        );
        eprintln!(
            "cisformer demo: extracted {} regions (strand-aware, named) -> {}",
            summary.written,
            fa_path.display()
        );
        eprintln!(
            "cisformer demo: same as `cisformer extract -f {} -b {} -s --name -o {}`",
            genome_path.display(),
            bed_path.display(),
            fa_path.display()
        );
    }
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = Output::create(path)?;
    out.write_all(bytes).map_err(|e| out.err(e))?;
    out.finish()?;
    Ok(())
}
