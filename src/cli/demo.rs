//! `cisformer demo`: the whole chain on the data embedded in the binary: index +
//! extract on a real genome window, then simulate → train → evaluate → heads →
//! interactions → validate → report on planted-grammar data, ending with a three-line summary.
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
        tables::{INTERACTIONS, TRUTH},
        tsv::Table,
    },
    train::preset::Preset,
};

use clap::Parser;

use super::Global;

/// 150 kb of *E. coli* K-12 MG1655 around the lac operon (see data/README.md).
const GENOME: &[u8] = include_bytes!("../../data/ecoli_k12_lac_region.fa");
const GENOME_NAME: &str = "ecoli_k12_lac_region.fa";
/// Regions on it, including the wild-type lac promoter on the minus strand.
const REGIONS: &[u8] = include_bytes!("../../data/ecoli_k12_lac_regions.bed");

/// Run the whole cisformer chain on embedded example data (works from any directory).
///
/// Writes into DIR: the embedded genome window, its `.fai`, regions.bed and the
/// extracted regions.fa; sim/ (a planted-grammar data set), model/ (a small trained
/// Transformer with its metrics), heads.tsv, interactions.tsv, pairs.tsv and
/// report.html. Ends with the model's r against the noise ceiling and the top pair.
///
/// Example: `cisformer demo --out cisformer_demo`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output directory (created if missing).
    #[arg(long, short, value_name = "DIR", default_value = "cisformer_demo")]
    out: PathBuf,
    /// Simulated sequences (200 bp each); the default recipe overfits 3,000 and learns 6,000
    /// (held-out r 0.805 against the ridge's 0.706 at seed 7).
    #[arg(long, default_value_t = 6000)]
    n: usize,
    /// Most training epochs (early stopping usually ends sooner).
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Seed of the simulation and the training.
    #[arg(long, default_value_t = 7)]
    seed: u64,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    let dir = &args.out;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("could not create output directory {}", dir.display()))?;
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
    chain(&args, g)
}

/// simulate → train → heads → interactions → validate → report, each exactly as its command.
fn chain(args: &Args, g: &Global) -> anyhow::Result<()> {
    let d = |p: &str| args.out.join(p).to_string_lossy().into_owned();
    let (n, epochs, seed) = (
        args.n.to_string(),
        args.epochs.to_string(),
        args.seed.to_string(),
    );
    let recipe = Preset::Default.model();
    let train_what = format!(
        "training the default recipe (conv stem, {}-bp attention positions, {} layers x {} heads) \
         and the ridge baseline",
        recipe.pool * recipe.k,
        recipe.n_layers,
        recipe.n_heads
    );
    let steps: [(&str, Vec<String>); 6] = [
        (
            "simulating planted-grammar data",
            argv(&[
                "simulate",
                "--force",
                "--out",
                &d("sim"),
                "--n",
                &n,
                "--len",
                "200",
                "--seed",
                &seed,
            ]),
        ),
        (
            &train_what,
            argv(&[
                "train",
                "--fasta",
                &d("sim/seqs.fa"),
                "--labels",
                &d("sim/labels.tsv"),
                "--out",
                &d("model"),
                "--force",
                "--seed",
                &seed,
                "--epochs",
                &epochs,
            ]),
        ),
        (
            "reading the heads",
            argv(&[
                "heads",
                "--model",
                &d("model"),
                "--fasta",
                &d("sim/seqs.fa"),
                "--motifs",
                &d("sim/motifs.meme"),
                "--labels",
                &d("sim/labels.tsv"),
                "--importance-n",
                "256",
                "-o",
                &d("heads.tsv"),
                "--focus",
                &d("focus.tsv"),
            ]),
        ),
        (
            "ranking TF-pair links per head (attention × gradient)",
            argv(&[
                "interactions",
                "--model",
                &d("model"),
                "--fasta",
                &d("sim/seqs.fa"),
                "--motifs",
                &d("sim/motifs.meme"),
                "-o",
                &d("interactions.tsv"),
                "--per-pair",
                &d("pairs.tsv"),
                "--bedpe",
                &d("pairs.bedpe"),
            ]),
        ),
        (
            "confirming the top pairs in silico (motif ablation, spacing, head ablation)",
            argv(&[
                "validate",
                "--model",
                &d("model"),
                "--fasta",
                &d("sim/seqs.fa"),
                "--motifs",
                &d("sim/motifs.meme"),
                "--interactions",
                &d("interactions.tsv"),
                "--top",
                "3",
                "--draws",
                "3",
                "--max-seqs",
                "60",
                "--bootstrap",
                "500",
                "--spacing-n",
                "8",
                "--spacing-step",
                "4",
                "--spacing-out",
                &d("spacing.tsv"),
                "-o",
                &d("validation.tsv"),
            ]),
        ),
        (
            "writing the report",
            argv(&[
                "report",
                "--model",
                &d("model"),
                "--heads",
                &d("heads.tsv"),
                "--interactions",
                &d("interactions.tsv"),
                "--validation",
                &d("validation.tsv"),
                "--spacing",
                &d("spacing.tsv"),
                "--predictions",
                &d("model/predictions.tsv"),
                "--labels",
                &d("sim/labels.tsv"),
                "--title",
                "cisformer demo",
                "-o",
                &d("report.html"),
            ]),
        ),
    ];
    for (i, (what, argv)) in steps.into_iter().enumerate() {
        if !g.quiet {
            eprintln!(
                "cisformer demo: [{}/6] {what}: cisformer {}",
                i + 1,
                argv[1..].join(" ")
            );
        }
        let cli = super::Cli::try_parse_from(&argv).context("demo step arguments")?;
        super::run_command(cli.command, g)?;
    }
    let (r, ridge, ceiling, top, planted) = summary(&args.out)?;
    println!("model: held-out r = {r:.3} (ridge baseline {ridge:.3}; noise ceiling {ceiling:.3})");
    println!("top pair: {top}");
    println!("planted: {planted}");
    println!("report: {}", args.out.join("report.html").display());
    Ok(())
}

fn argv(parts: &[&str]) -> Vec<String> {
    std::iter::once("cisformer")
        .chain(parts.iter().copied())
        .map(str::to_string)
        .collect()
}

/// Test r of the Transformer and the ridge, the noise ceiling, the top-ranked pair and
/// whether the grammar planted it as cooperative.
fn summary(dir: &Path) -> anyhow::Result<(f64, f64, f64, String, String)> {
    let read = |p: &str| {
        std::fs::read_to_string(dir.join(p)).with_context(|| format!("{}", dir.join(p).display()))
    };
    let metrics = dir.join("model/metrics.tsv");
    let r_of = |model: &str| -> anyhow::Result<f64> {
        Ok(cisformer::train::pearson_in(&metrics, model, "test")?.unwrap_or(f64::NAN))
    };
    let s: serde_json::Value = serde_json::from_str(&read("sim/summary.json")?)?;
    let ceiling = s["outputs"][0]["noise_ceiling"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let (inter, _) = Table::read_head(dir.join("interactions.tsv"), 1)?;
    if inter.is_empty() {
        return Ok((
            r_of("transformer")?,
            r_of("ridge")?,
            ceiling,
            "none".into(),
            "-".into(),
        ));
    }
    let field = |name| inter.str(0, INTERACTIONS.col(name));
    let (a, b) = (field("motif_a"), field("motif_b"));
    // The calibrated q-value (head link and causal test).
    let q = field("q_value");
    let check = cisformer::report::validation_of(&Table::read(dir.join("validation.tsv"))?, a, b);
    let called = q.parse::<f64>().is_ok_and(|v| v < 0.05);
    // Tables write the floor; say what it means.
    let q = if q
        .parse::<f64>()
        .is_ok_and(|v| v <= cisformer::analysis::P_FLOOR)
    {
        "q < 1e-300".to_string()
    } else {
        format!("q = {q}")
    };
    let top = format!(
        "{}{a} + {b} (layer {}, head {}, {q}; {check})",
        if called {
            ""
        } else {
            "none called at q < 0.05; first in the table: "
        },
        field("layer"),
        field("head")
    );
    let truth = Table::read(dir.join("sim/truth.tsv"))?;
    let col = |name| TRUTH.col(name);
    truth.require(&[col("kind"), col("name_a"), col("name_b")])?;
    let kind = (0..truth.len())
        .find(|&r| {
            let (x, y) = (truth.str(r, col("name_a")), truth.str(r, col("name_b")));
            truth.str(r, col("kind")) != "single" && ((x == a && y == b) || (x == b && y == a))
        })
        .map(|r| truth.str(r, col("kind")).to_string());
    let planted = match kind.as_deref() {
        Some("cooperative") | Some("long_range") => "yes, a planted cooperative pair".to_string(),
        Some(k) => format!("no: a {k} pair (planted together, no interaction)"),
        None => "no: not a pair of the grammar".to_string(),
    };
    Ok((r_of("transformer")?, r_of("ridge")?, ceiling, top, planted))
}

fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = Output::create(path)?;
    out.write_all(bytes).map_err(|e| out.err(e))?;
    out.finish()?;
    Ok(())
}
