//! `cisformer baseline`: k-mer ridge regression, the yardstick for the Transformer.
//!
//! [`DataArgs`] (labelled input + split options) is shared with `train` and `evaluate`.
use std::{fs, io::Write, ops::ControlFlow, path::PathBuf, time::Instant};

use anyhow::Context;
use cisformer::{
    baseline::{RidgeBaseline, RidgeOptions},
    io::output::Output,
    train::{self, BedOptions, Dataset, Set, Split, SplitSpec},
};

use super::{Global, write_to};

/// Largest fraction of unknown bases training accepts without --allow-unknown.
const MAX_UNKNOWN: f64 = 0.5;

/// Labelled sequences and how to split them (shared by `baseline`, `train`, `evaluate`).
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Sequences (FASTA, plain or gzip); record names are the ids of --labels.
    #[arg(long, value_name = "FA", requires = "labels", conflicts_with = "bed")]
    pub fasta: Option<PathBuf>,
    /// Activities: TSV with header `id  <output>...` (an optional `set` column gives the split).
    #[arg(long, value_name = "TSV", requires = "fasta")]
    pub labels: Option<PathBuf>,
    /// Regions (BED) whose sequences come from --genome and activities from --label-col.
    #[arg(long, value_name = "BED", requires_all = ["genome", "label_col"])]
    pub bed: Option<PathBuf>,
    /// Genome FASTA for --bed.
    #[arg(long, value_name = "FA", requires = "bed")]
    pub genome: Option<PathBuf>,
    /// 1-based BED column(s) holding activities (5 = score, 7+ = extra columns), comma-separated.
    #[arg(long, value_name = "N", value_delimiter = ',', requires = "bed")]
    pub label_col: Vec<usize>,
    /// Ids from the BED name column instead of `contig:start-end`.
    #[arg(long, requires = "bed")]
    pub bed_names: bool,
    /// Reverse-complement `-` regions (ids get `(+)`/`(-)`, as `bedtools getfasta -s`).
    #[arg(short = 's', long, requires = "bed")]
    pub stranded: bool,
    /// Split: `auto` (the labels' `set` column if any, else random), `column`, or `random`.
    #[arg(long, value_name = "HOW", default_value = "auto", value_parser = ["auto", "column", "random"])]
    pub split: String,
    /// Train/validation/test fractions of a random split.
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, value_name = "TRAIN,VAL,TEST", value_delimiter = ',', default_values_t = [0.8, 0.1, 0.1])]
    pub fractions: Vec<f64>,
    /// Hold out these chromosomes for validation (BED input; comma-separated).
    #[arg(long, value_name = "CHR", value_delimiter = ',', requires = "bed")]
    pub val_chroms: Vec<String>,
    /// Hold out these chromosomes for testing (BED input; comma-separated).
    #[arg(long, value_name = "CHR", value_delimiter = ',', requires = "bed")]
    pub test_chroms: Vec<String>,
    /// Seed of the random split.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Train even when most bases (more than half) are N or other non-ACGT letters.
    #[arg(long)]
    pub allow_unknown: bool,
}

impl DataArgs {
    /// Reads the labelled sequences.
    pub fn dataset(&self) -> anyhow::Result<Dataset> {
        Ok(match (&self.fasta, &self.labels, &self.bed, &self.genome) {
            (Some(fa), Some(labels), None, None) => Dataset::from_fasta_labels(fa, labels)?,
            (None, None, Some(bed), Some(genome)) => {
                let opts = BedOptions {
                    label_cols: self.label_col.clone(),
                    names: Vec::new(),
                    use_name: self.bed_names,
                    stranded: self.stranded,
                };
                Dataset::from_bed(bed, genome, &opts)?
            }
            _ => anyhow::bail!(
                "give either --fasta FA --labels TSV, or --bed BED --genome FA --label-col N"
            ),
        })
    }

    /// Reads the data set and makes the split.
    pub fn load(&self) -> anyhow::Result<(Dataset, Split)> {
        let ds = self.dataset()?;
        let fractions: [f64; 3] = self
            .fractions
            .as_slice()
            .try_into()
            .context("--fractions needs three numbers: train,val,test")?;
        let spec = if !self.val_chroms.is_empty() || !self.test_chroms.is_empty() {
            anyhow::ensure!(
                self.split == "auto",
                "--val-chroms/--test-chroms cannot be combined with --split {}",
                self.split
            );
            SplitSpec::Chromosomes {
                val: self.val_chroms.clone(),
                test: self.test_chroms.clone(),
            }
        } else {
            match self.split.as_str() {
                "column" => SplitSpec::Column,
                "random" => SplitSpec::Random {
                    fractions,
                    seed: self.seed,
                },
                _ => SplitSpec::Auto {
                    fractions,
                    seed: self.seed,
                },
            }
        };
        let split = ds.split(&spec)?;
        Ok((ds, split))
    }

    /// For scoring a trained model: the labels' `set` column or a chromosome split when
    /// given, otherwise every row as one set (`true`: scored as `all`).
    pub fn load_for_scoring(&self) -> anyhow::Result<(Dataset, Split, bool)> {
        let chrom = !self.val_chroms.is_empty() || !self.test_chroms.is_empty();
        if chrom || self.split != "auto" {
            let (ds, split) = self.load()?;
            return Ok((ds, split, false));
        }
        let ds = self.dataset()?;
        if let Some(sets) = &ds.sets {
            let split = Split::from_sets(sets);
            return Ok((ds, split, false));
        }
        let all = Split {
            train: Vec::new(),
            val: Vec::new(),
            test: (0..ds.len()).collect(),
        };
        Ok((ds, all, true))
    }

    /// Refuses data a model cannot learn from: an output with the same value in every row
    /// (its metrics would be NaN), or mostly unknown bases (unless --allow-unknown).
    pub fn check_trainable(&self, ds: &Dataset) -> anyhow::Result<()> {
        if let Some(&(o, v)) = ds.constant_outputs().first() {
            let column = match (&self.labels, &self.bed) {
                (Some(l), _) => format!("{}: column '{}'", l.display(), ds.output_names[o]),
                (None, Some(b)) => format!(
                    "{}: column {}",
                    b.display(),
                    self.label_col.get(o).copied().unwrap_or(o + 1)
                ),
                _ => format!("output '{}'", ds.output_names[o]),
            };
            anyhow::bail!(
                "{column} has the same value ({v}) in all {} rows: there is nothing to learn (its correlations would be NaN)",
                ds.len()
            );
        }
        let unknown = ds.unknown_fraction();
        if unknown > MAX_UNKNOWN && !self.allow_unknown {
            anyhow::bail!(
                "{}: {:.1}% of the bases are N or other non-ACGT letters; a model would learn from padding, not sequence (fix the input, or pass --allow-unknown)",
                self.source().display(),
                100.0 * unknown
            );
        }
        Ok(())
    }

    /// The file the sequences come from (the FASTA, or the BED of regions), for messages.
    pub fn source(&self) -> &std::path::Path {
        self.fasta
            .as_deref()
            .or(self.bed.as_deref())
            .unwrap_or(std::path::Path::new("-"))
    }

    /// The files these options read (for [`super::Files`]).
    pub fn files(&self, files: super::Files) -> super::Files {
        files
            .read_opt(self.fasta.as_ref())
            .read_opt(self.labels.as_ref())
            .read_opt(self.bed.as_ref())
            .read_opt(self.genome.as_ref())
    }

    /// The inputs, for `meta.json`.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "fasta": self.fasta, "labels": self.labels, "bed": self.bed, "genome": self.genome,
            "label_col": self.label_col, "split": self.split, "fractions": self.fractions,
            "val_chroms": self.val_chroms, "test_chroms": self.test_chroms, "seed": self.seed,
        })
    }
}

/// Fit a k-mer ridge-regression baseline and report held-out metrics.
///
/// Features: counts of every k-mer for k in --k, both strands summed, standardised
/// on the training rows. The ridge penalty is chosen on the validation rows from
/// --alphas; metrics are reported for training, validation and test. With --out DIR,
/// writes DIR/metrics.tsv, DIR/predictions.tsv (`id`, outputs, `set`) and
/// DIR/ridge.json (the fitted model); without it, metrics.tsv goes to standard output.
///
/// Example: `cisformer baseline --fasta data/lac/lac.fa.gz --labels data/lac/labels.tsv.gz --k 1-5 --out ridge`
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    data: DataArgs,
    /// k-mer lengths, `MIN-MAX` or one number (at most 6).
    #[arg(long = "k", value_name = "MIN-MAX", default_value = "1-5", value_parser = parse_k_range)]
    k: (usize, usize),
    /// Count each strand's k-mers separately instead of summing both strands.
    #[arg(long)]
    single_strand: bool,
    /// Candidate ridge penalties (comma-separated); the best on validation is kept.
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, value_name = "A,...", value_delimiter = ',', default_values_t = RidgeOptions::default().alphas)]
    alphas: Vec<f64>,
    /// Output directory (created if missing); without it, metrics go to standard output.
    #[arg(short = 'o', long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Overwrite an earlier baseline (or a model's own) in --out.
    #[arg(long, requires = "out")]
    force: bool,
}

/// The files `baseline --out DIR` writes.
const OUTPUTS: [&str; 3] = ["metrics.tsv", "predictions.tsv", "ridge.json"];

fn parse_k_range(s: &str) -> Result<(usize, usize), String> {
    let parse = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|_| format!("'{t}' is not a k-mer length"))
    };
    let (lo, hi) = match s.split_once('-') {
        Some((a, b)) => (parse(a)?, parse(b)?),
        None => {
            let k = parse(s)?;
            (k, k)
        }
    };
    if lo == 0 || lo > hi || hi > cisformer::baseline::MAX_K {
        return Err(format!(
            "need 1 <= MIN <= MAX <= {}, got {s}",
            cisformer::baseline::MAX_K
        ));
    }
    Ok((lo, hi))
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let outputs: Vec<PathBuf> = args
        .out
        .iter()
        .flat_map(|dir| OUTPUTS.map(|f| dir.join(f)))
        .collect();
    outputs
        .iter()
        .fold(args.data.files(super::Files::default()), |f, o| f.write(o))
        .check()?;
    // A model folder holds a metrics.tsv and predictions.tsv of its own: keep them unless asked.
    if !args.force
        && let Some(old) = outputs.iter().find(|p| p.exists())
    {
        anyhow::bail!("{} exists; use --force to overwrite it", old.display());
    }
    let (ds, split) = args.data.load()?;
    args.data.check_trainable(&ds)?;
    let opts = RidgeOptions {
        kmin: args.k.0,
        kmax: args.k.1,
        canonical: !args.single_strand,
        alphas: args.alphas.clone(),
    };
    let bar = super::progress_bar(
        g,
        opts.alphas.len() as u64,
        "baseline: ridge fits {bar:30} {pos}/{len} alphas",
    );
    let model = RidgeBaseline::fit_with_progress(&ds, &split, &opts, &mut |_| {
        bar.inc(1);
        ControlFlow::Continue(())
    })?;
    bar.finish_and_clear();
    let seqs: Vec<&[u8]> = ds.seqs.iter().map(Vec::as_slice).collect();
    let pred = model.predict(&seqs);
    let table = train::split_metrics(&ds, &split, &pred);
    match &args.out {
        None => {
            let mut out = Output::create("-")?;
            train::write_metrics_tsv(&mut out, &ds.output_names, &table).map_err(|e| out.err(e))?;
            out.finish()?;
        }
        Some(dir) => {
            fs::create_dir_all(dir)
                .with_context(|| format!("cannot create output directory {}", dir.display()))?;
            write_to(&dir.join(OUTPUTS[0]), |w| {
                train::write_metrics_tsv(w, &ds.output_names, &table)
            })?;
            write_to(&dir.join(OUTPUTS[1]), |w| {
                train::write_predictions_tsv(w, &ds, &split, &pred)
            })?;
            let json = serde_json::to_string(&model).context("cannot serialise the model")?;
            write_to(&dir.join(OUTPUTS[2]), |w| writeln!(w, "{json}"))?;
        }
    }
    if !g.quiet {
        eprintln!(
            "baseline: {} sequences ({} train / {} val / {} test), {} features (k {}-{}), alpha {}",
            ds.len(),
            split.train.len(),
            split.val.len(),
            split.test.len(),
            cisformer::baseline::KmerFeaturizer::new(opts.kmin, opts.kmax, opts.canonical)?
                .n_features(),
            opts.kmin,
            opts.kmax,
            model.alpha
        );
        for (set, ms) in &table {
            if *set == Set::Train {
                continue;
            }
            for (name, m) in ds.output_names.iter().zip(ms) {
                eprintln!(
                    "baseline: {} {name}: pearson {:.4}, spearman {:.4}, r2 {:.4} (n = {})",
                    set.as_str(),
                    m.pearson,
                    m.spearman,
                    m.r2,
                    m.n
                );
            }
        }
        eprintln!("baseline: done in {:.2} s", t0.elapsed().as_secs_f64());
    }
    Ok(())
}
