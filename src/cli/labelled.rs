//! What the commands that read labelled sequences share (`baseline`, `train`, `finetune`,
//! `evaluate`): the data and split options, the model folder they write, and the summary
//! lines they print.
use std::{fs, path::Path, path::PathBuf};

use anyhow::Context;
use cisformer::train::{self, BedOptions, Dataset, Split, SplitSpec};

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

/// Refuses to overwrite a model unless resuming or forced. `--force` removes every file an
/// earlier run wrote into DIR (only cisformer's own, see `model_dir::FILES`), so that the
/// folder ends up holding only this run's results: a stale ridge.json or checkpoint would
/// otherwise be read as the new model's.
pub(crate) fn prepare_out_dir(dir: &Path, resume: bool, force: bool) -> anyhow::Result<()> {
    if !resume && !force && dir.join("model.safetensors").exists() {
        anyhow::bail!(
            "{} already holds a model; use --resume to continue it or --force to overwrite",
            dir.display()
        );
    }
    if force && !resume {
        cisformer::model_dir::clear(dir)
            .with_context(|| format!("cannot remove the old model in {}", dir.display()))?;
    }
    cisformer::model_dir::remove_temporaries_on_interrupt(dir);
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))
}

/// One stderr line per held-out set and output (the training rows are left out), with
/// the ridge baseline's r beside the model's when given.
pub(crate) fn print_summary(
    cmd: &str,
    names: &[String],
    table: &train::NamedMetrics,
    ridge: Option<&train::NamedMetrics>,
) {
    for (i, (set, ms)) in table.iter().enumerate() {
        if *set == train::Set::Train.as_str() {
            continue;
        }
        for (o, (name, m)) in names.iter().zip(ms).enumerate() {
            let base = ridge
                .and_then(|r| r.get(i))
                .map(|(_, rm)| format!(" | ridge r {:.4}", rm[o].pearson))
                .unwrap_or_default();
            eprintln!(
                "{cmd}: {set} {name}: pearson {:.4}, spearman {:.4}, r2 {:.4} (n = {}){base}",
                m.pearson, m.spearman, m.r2, m.n
            );
        }
    }
}
