//! Everything around a model that learns sequence → activity: labelled data sets
//! ([`Dataset`]), splits ([`split`]), target normalisation ([`Normalizer`]),
//! metrics ([`metrics`]) and a model-agnostic training loop ([`trainer`]), plus the
//! Transformer's training pieces: losses and AdamW ([`Optimizer`]), attention
//! regularisers ([`RegularizerWeights`]) and orthogonal fine-tuning ([`OrthoAnchor`]).
//! Prediction with a trained model is [`crate::predict`].
//!
//! A model plugs in by implementing [`trainer::Learner`]; it sees normalised
//! targets, and everything it is scored on is mapped back to the original scale.

pub mod labels;
pub mod metrics;
mod optim;
mod orthogonal;
pub mod preset;
mod regularizers;
pub mod score;
pub mod settings;
pub mod split;
pub mod trainer;
pub mod transformer;

use std::{collections::HashMap, path::Path};

use serde::{Deserialize, Serialize};

pub use labels::{Labels, read_labels};
pub use metrics::Metrics;
pub use optim::{OptimConfig, Optimizer, StepStats, loss_value};
pub use orthogonal::OrthoAnchor;
pub use preset::Preset;
pub use regularizers::RegularizerWeights;
pub use split::{Set, Split, random_split};

use crate::{
    Error, Result,
    io::{bed, fasta},
};

/// Sequences with their activities, in input order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    /// Sequence ids (FASTA record names, or BED-derived names), unique.
    pub ids: Vec<String>,
    /// Sequences as read (case kept).
    pub seqs: Vec<Vec<u8>>,
    /// One row of activities per sequence (`targets[i].len() == output_names.len()`).
    pub targets: Vec<Vec<f32>>,
    /// Names of the outputs (label columns).
    pub output_names: Vec<String>,
    /// Split from a `set` column of the labels file, when it had one.
    pub sets: Option<Vec<Set>>,
    /// Chromosome of each sequence (BED input only), for chromosome splits.
    pub chroms: Option<Vec<String>>,
    /// BED start and end of each sequence (BED input only), for bedGraph output.
    pub coords: Option<Vec<(u64, u64)>>,
}

/// How many missing ids an error message lists before summarising.
const MISSING_SHOWN: usize = 5;

impl Dataset {
    /// Joins a FASTA file with a labels file by record name, in FASTA order.
    ///
    /// Every FASTA record must have a label row (missing ones are an error listing
    /// the first few and how many); label rows without a sequence are ignored, so one
    /// labels file can serve several FASTA subsets. Duplicate record names are an error.
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let (fa, tsv) = (dir.path().join("s.fa"), dir.path().join("l.tsv"));
    /// std::fs::write(&fa, ">b\nACGT\n>a\nGGCC\n").unwrap();
    /// std::fs::write(&tsv, "id\ty\na\t1\nb\t2\nc\t3\n").unwrap();
    /// let ds = cisformer::train::Dataset::from_fasta_labels(&fa, &tsv).unwrap();
    /// assert_eq!(ds.ids, ["b", "a"]);
    /// assert_eq!(ds.targets, [[2.0], [1.0]]);
    /// ```
    pub fn from_fasta_labels(fasta_path: &Path, labels_path: &Path) -> Result<Dataset> {
        let labels = read_labels(labels_path)?;
        let records = fasta::read_all(fasta_path)?;
        Self::join(records, &labels, fasta_path)
    }

    /// Joins already-read FASTA records with labels (see [`Dataset::from_fasta_labels`]).
    pub fn join(
        records: Vec<fasta::Record>,
        labels: &Labels,
        fasta_path: &Path,
    ) -> Result<Dataset> {
        let index = labels.index();
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(records.len());
        let mut missing = Vec::new();
        let mut rows = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            if let Some(first) = seen.insert(r.name.as_str(), i) {
                return Err(Error::Invalid(format!(
                    "{}: duplicate record name '{}' (records {} and {})",
                    fasta_path.display(),
                    r.name,
                    first + 1,
                    i + 1
                )));
            }
            match index.get(r.name.as_str()) {
                Some(&row) => rows.push(row),
                None => missing.push(r.name.as_str()),
            }
        }
        if !missing.is_empty() {
            return Err(Error::Invalid(missing_message(
                &missing,
                records.len(),
                fasta_path,
                &labels.path,
            )));
        }
        let mut ds = Dataset {
            output_names: labels.names.clone(),
            sets: labels
                .sets
                .as_ref()
                .map(|s| rows.iter().map(|&r| s[r]).collect()),
            ..Dataset::default()
        };
        for (rec, &row) in records.into_iter().zip(&rows) {
            ds.ids.push(rec.name);
            ds.seqs.push(rec.seq);
            ds.targets.push(labels.values[row].clone());
        }
        Ok(ds)
    }

    /// Reads regions from a BED file, their sequences from `genome`, and their
    /// activities from BED columns (see [`BedOptions`]).
    ///
    /// ```
    /// use cisformer::train::{BedOptions, Dataset};
    /// let dir = tempfile::tempdir().unwrap();
    /// let (g, b) = (dir.path().join("g.fa"), dir.path().join("r.bed"));
    /// std::fs::write(&g, ">c\nACGTACGTAA\n").unwrap();
    /// std::fs::write(&b, "c\t0\t4\tp\t2.5\t+\nc\t6\t10\tq\t-1\t-\n").unwrap();
    /// let opts = BedOptions { label_cols: vec![5], stranded: true, ..BedOptions::default() };
    /// let ds = Dataset::from_bed(&b, &g, &opts).unwrap();
    /// assert_eq!(ds.ids, ["c:0-4(+)", "c:6-10(-)"]);
    /// assert_eq!(ds.seqs[1], b"TTAC");
    /// assert_eq!(ds.targets, [[2.5], [-1.0]]);
    /// assert_eq!(ds.chroms.unwrap(), ["c", "c"]);
    /// ```
    pub fn from_bed(bed_path: &Path, genome_path: &Path, opts: &BedOptions) -> Result<Dataset> {
        if let Some(c) = opts.label_cols.iter().find(|&&c| c < 4 || c == 6) {
            return Err(Error::Invalid(format!(
                "BED column {c} cannot hold activities (1-3 are coordinates, 6 is the strand)"
            )));
        }
        let genome = fasta::Genome::open(genome_path)?;
        let mut reader = bed::Reader::new(crate::io::open_input(bed_path)?, bed_path);
        let mut iv = bed::Interval::default();
        let mut ds = Dataset {
            output_names: opts.output_names(),
            chroms: Some(Vec::new()),
            coords: Some(Vec::new()),
            ..Dataset::default()
        };
        let mut seen: HashMap<String, u64> = HashMap::new();
        while reader.read_interval(&mut iv)? {
            let line = reader.line_number();
            let at = |msg: String| Error::parse(bed_path, line, msg);
            let idx = genome.index_of(&iv.contig).ok_or_else(|| {
                at(format!(
                    "contig '{}' is not in {}",
                    iv.contig,
                    genome_path.display()
                ))
            })?;
            if iv.end > genome.contig_len(idx) {
                return Err(at(format!(
                    "interval {}:{}-{} runs past the end of the contig ({} bp)",
                    iv.contig,
                    iv.start,
                    iv.end,
                    genome.contig_len(idx)
                )));
            }
            if iv.is_empty() {
                return Err(at("empty interval (start == end)".into()));
            }
            let minus = opts.stranded && iv.strand == Some(bed::Strand::Reverse);
            let mut seq = Vec::with_capacity(iv.len() as usize);
            if minus {
                genome.fetch_reverse_complement_into(idx, iv.start, iv.end, &mut seq)?;
            } else {
                genome.fetch_into(idx, iv.start, iv.end, &mut seq)?;
            }
            let mut row = Vec::with_capacity(opts.label_cols.len());
            for &c in &opts.label_cols {
                let field = bed_column(&iv, c).ok_or_else(|| {
                    at(format!(
                        "label column {c} is missing (the line has {} columns)",
                        iv.columns
                    ))
                })?;
                row.push(labels::parse_value(
                    field,
                    bed_path,
                    line,
                    c - 1,
                    &format!("col{c}"),
                )?);
            }
            let id = if opts.use_name {
                if iv.name.is_empty() || iv.name == "." {
                    return Err(at(
                        "ids come from the BED name, but this line has none".into()
                    ));
                }
                iv.name.clone()
            } else if opts.stranded {
                let strand = iv.strand.map_or("", |s| s.as_str());
                format!("{}:{}-{}({strand})", iv.contig, iv.start, iv.end)
            } else {
                format!("{}:{}-{}", iv.contig, iv.start, iv.end)
            };
            if let Some(first) = seen.insert(id.clone(), line) {
                return Err(at(format!("duplicate id '{id}' (first on line {first})")));
            }
            ds.ids.push(id);
            ds.seqs.push(seq);
            ds.targets.push(row);
            if let Some(c) = ds.chroms.as_mut() {
                c.push(iv.contig.clone());
            }
            if let Some(c) = ds.coords.as_mut() {
                c.push((iv.start, iv.end));
            }
        }
        if ds.ids.is_empty() {
            return Err(Error::parse(bed_path, 1, "no BED intervals (empty file?)"));
        }
        Ok(ds)
    }

    /// Number of sequences.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no sequences.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Number of outputs.
    pub fn n_outputs(&self) -> usize {
        self.output_names.len()
    }

    /// Whether output `o` only takes the values 0 and 1 (then it is scored with
    /// AUROC/AUPRC too, and not z-scored).
    pub fn is_binary(&self, o: usize) -> bool {
        self.targets.iter().all(|r| r[o] == 0.0 || r[o] == 1.0)
    }

    /// The outputs whose value is the same in every row, with that value: nothing to
    /// learn, and every correlation with them is NaN (a constant 1 would also pass for a
    /// 0/1 task).
    pub fn constant_outputs(&self) -> Vec<(usize, f32)> {
        let Some(first) = self.targets.first() else {
            return Vec::new();
        };
        (0..self.n_outputs())
            .filter(|&o| self.targets.iter().all(|r| r[o] == first[o]))
            .map(|o| (o, first[o]))
            .collect()
    }

    /// The fraction of bases that are not A, C, G or T (either case): N runs, gaps, IUPAC
    /// codes. A model trained on mostly unknown bases learns nothing about sequence.
    pub fn unknown_fraction(&self) -> f64 {
        let (mut total, mut unknown) = (0u64, 0u64);
        for s in &self.seqs {
            total += s.len() as u64;
            unknown += s
                .iter()
                .filter(|b| !matches!(b, b'A' | b'C' | b'G' | b'T' | b'a' | b'c' | b'g' | b't'))
                .count() as u64;
        }
        if total == 0 {
            0.0
        } else {
            unknown as f64 / total as f64
        }
    }

    /// [`Dataset::is_binary`] for every output.
    pub fn binary_outputs(&self) -> Vec<bool> {
        (0..self.n_outputs()).map(|o| self.is_binary(o)).collect()
    }

    /// The rows `rows`, in that order, as a new data set.
    pub fn subset(&self, rows: &[usize]) -> Dataset {
        Dataset {
            ids: rows.iter().map(|&i| self.ids[i].clone()).collect(),
            seqs: rows.iter().map(|&i| self.seqs[i].clone()).collect(),
            targets: rows.iter().map(|&i| self.targets[i].clone()).collect(),
            output_names: self.output_names.clone(),
            sets: self
                .sets
                .as_ref()
                .map(|s| rows.iter().map(|&i| s[i]).collect()),
            chroms: self
                .chroms
                .as_ref()
                .map(|c| rows.iter().map(|&i| c[i].clone()).collect()),
            coords: self
                .coords
                .as_ref()
                .map(|c| rows.iter().map(|&i| c[i]).collect()),
        }
    }

    /// Chooses the split: the labels' `set` column when there is one and `spec`
    /// is [`SplitSpec::Auto`], chromosomes, or a seeded random split.
    pub fn split(&self, spec: &SplitSpec) -> Result<Split> {
        match spec {
            SplitSpec::Auto { fractions, seed } => match &self.sets {
                Some(sets) => Ok(Split::from_sets(sets)),
                None => random_split(self.len(), *fractions, *seed),
            },
            SplitSpec::Column => match &self.sets {
                Some(sets) => Ok(Split::from_sets(sets)),
                None => Err(Error::Invalid(
                    "a split from the labels' 'set' column was asked for, but there is no such column"
                        .into(),
                )),
            },
            SplitSpec::Random { fractions, seed } => random_split(self.len(), *fractions, *seed),
            SplitSpec::Chromosomes { val, test } => match &self.chroms {
                Some(chroms) => Split::by_chromosome(chroms, val, test),
                None => Err(Error::Invalid(
                    "a chromosome split needs BED input (FASTA records carry no chromosome)"
                        .into(),
                )),
            },
        }
    }
}

/// Metrics per output on each non-empty part of `split`; `pred` holds one row per
/// data set row (original scale).
pub fn split_metrics(data: &Dataset, split: &Split, pred: &[Vec<f32>]) -> Vec<(Set, Vec<Metrics>)> {
    let binary = data.binary_outputs();
    [Set::Train, Set::Val, Set::Test]
        .into_iter()
        .filter(|&s| !split.part(s).is_empty())
        .map(|s| {
            let rows = split.part(s);
            let p: Vec<Vec<f32>> = rows.iter().map(|&i| pred[i].clone()).collect();
            let t: Vec<Vec<f32>> = rows.iter().map(|&i| data.targets[i].clone()).collect();
            (s, Metrics::per_output(&p, &t, &binary))
        })
        .collect()
}

/// Writes `baseline`'s table ([`crate::io::tables::BASELINE_METRICS`]).
pub fn write_metrics_tsv(
    w: &mut impl std::io::Write,
    output_names: &[String],
    table: &[(Set, Vec<Metrics>)],
) -> std::io::Result<()> {
    writeln!(w, "{}", crate::io::tables::BASELINE_METRICS.header())?;
    for (set, ms) in table {
        for (name, m) in output_names.iter().zip(ms) {
            writeln!(w, "{}\t{name}\t{}", set.as_str(), m.tsv_fields())?;
        }
    }
    Ok(())
}

/// Metrics per named set: `training`/`validation`/`test`, or `all`.
pub type NamedMetrics = [(&'static str, Vec<Metrics>)];

/// Names the sets of a split; `whole` marks data scored as one set (`all`).
pub fn named_sets(t: Vec<(Set, Vec<Metrics>)>, whole: bool) -> Vec<(&'static str, Vec<Metrics>)> {
    t.into_iter()
        .map(|(s, m)| (if whole { "all" } else { s.as_str() }, m))
        .collect()
}

/// Writes `train`'s, `finetune`'s and `evaluate`'s table ([`crate::io::tables::METRICS`]):
/// the model's rows, then the ridge baseline's.
pub fn write_model_metrics_tsv(
    w: &mut impl std::io::Write,
    names: &[String],
    table: &NamedMetrics,
    ridge: Option<&NamedMetrics>,
) -> std::io::Result<()> {
    writeln!(w, "{}", crate::io::tables::METRICS.header())?;
    for (label, t) in std::iter::once(("transformer", table)).chain(ridge.map(|r| ("ridge", r))) {
        for (set, ms) in t {
            for (name, m) in names.iter().zip(ms) {
                writeln!(w, "{label}\t{set}\t{name}\t{}", m.tsv_fields())?;
            }
        }
    }
    Ok(())
}

/// The Pearson r of `model` (`transformer` or `ridge`) on `set` for the first output, from
/// a [`crate::io::tables::METRICS`] file; `None` when the file has no such row or it is NA.
pub fn pearson_in(path: &std::path::Path, model: &str, set: &str) -> Result<Option<f64>> {
    use crate::io::tables::METRICS;
    let t = crate::io::tsv::Table::read(path)?;
    t.require(&[
        METRICS.col("model"),
        METRICS.col("set"),
        METRICS.col("pearson"),
    ])?;
    for r in 0..t.len() {
        if t.str(r, METRICS.col("model")) == model && t.str(r, METRICS.col("set")) == set {
            return t.num(r, METRICS.col("pearson"));
        }
    }
    Ok(None)
}

/// Writes [`crate::io::tables::PREDICTIONS`] rows in data set order, with the `set` column
/// when `split` is given; values with up to 6 significant decimals, so the bytes depend only
/// on the predictions.
pub fn write_predictions_tsv(
    w: &mut impl std::io::Write,
    ids: &[String],
    outputs: &[String],
    split: Option<&Split>,
    pred: &[Vec<f32>],
) -> std::io::Result<()> {
    let schema = &crate::io::tables::PREDICTIONS;
    let header = schema.header_with_outputs(outputs);
    let sets = split.map(|s| s.assignment(ids.len()));
    let header = match sets {
        Some(_) => header.as_str(),
        None => header
            .strip_suffix(schema.col("set"))
            .and_then(|h| h.strip_suffix('\t'))
            .expect("`set` is the schema's last column"),
    };
    writeln!(w, "{header}")?;
    for (i, (id, p)) in ids.iter().zip(pred).enumerate() {
        write!(w, "{id}")?;
        for v in p {
            write!(w, "\t{v:.6}")?;
        }
        match &sets {
            Some(s) => writeln!(w, "\t{}", s[i].map_or(".", Set::as_str))?,
            None => writeln!(w)?,
        }
    }
    Ok(())
}

/// Writes [`crate::io::tables::SPLIT`]: which set each of `ids` is in.
pub fn write_split_tsv(
    w: &mut impl std::io::Write,
    ids: &[String],
    split: &Split,
) -> std::io::Result<()> {
    writeln!(w, "{}", crate::io::tables::SPLIT.header())?;
    for (id, s) in ids.iter().zip(split.assignment(ids.len())) {
        writeln!(w, "{id}\t{}", s.map_or(".", Set::as_str))?;
    }
    Ok(())
}

fn missing_message(missing: &[&str], total: usize, fasta: &Path, labels: &Path) -> String {
    let shown: Vec<String> = missing
        .iter()
        .take(MISSING_SHOWN)
        .map(|m| format!("'{m}'"))
        .collect();
    let more = if missing.len() > MISSING_SHOWN {
        format!(", ... ({} more)", missing.len() - MISSING_SHOWN)
    } else {
        String::new()
    };
    format!(
        "{} of {total} records of {} have no row in {}: {}{more}",
        missing.len(),
        fasta.display(),
        labels.display(),
        shown.join(", ")
    )
}

/// The text of 1-based BED column `c` (4 = name, 5 = score, 6 = strand, 7+ = extras).
fn bed_column(iv: &bed::Interval, c: usize) -> Option<&str> {
    if c > iv.columns {
        return None;
    }
    match c {
        4 => Some(&iv.name),
        5 => Some(&iv.score),
        6 => None,
        _ => iv.rest.split('\t').nth(c - 7),
    }
}

/// How [`Dataset::from_bed`] reads a BED file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BedOptions {
    /// 1-based BED columns holding the activities (5 = score, 7 and up = extra columns).
    pub label_cols: Vec<usize>,
    /// Output names, one per label column (default: `col<N>`).
    pub names: Vec<String>,
    /// Use the BED name (column 4) as id instead of `contig:start-end`.
    pub use_name: bool,
    /// Reverse-complement `-` regions and add the strand to ids, like `bedtools getfasta -s`.
    pub stranded: bool,
}

impl BedOptions {
    fn output_names(&self) -> Vec<String> {
        self.label_cols
            .iter()
            .enumerate()
            .map(|(i, c)| {
                self.names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| format!("col{c}"))
            })
            .collect()
    }
}

/// Which split [`Dataset::split`] makes.
#[derive(Clone, Debug, PartialEq)]
pub enum SplitSpec {
    /// The labels' `set` column if present, else random with these fractions.
    Auto {
        /// `[train, val, test]`.
        fractions: [f64; 3],
        /// Seed of the random split.
        seed: u64,
    },
    /// The labels' `set` column (an error when absent).
    Column,
    /// Seeded random, ignoring any `set` column.
    Random {
        /// `[train, val, test]`.
        fractions: [f64; 3],
        /// Seed.
        seed: u64,
    },
    /// Whole chromosomes held out (BED input).
    Chromosomes {
        /// Validation chromosomes.
        val: Vec<String>,
        /// Test chromosomes.
        test: Vec<String>,
    },
}

/// Per-output z-scoring of targets with the training split's mean and standard
/// deviation (population, `ddof = 0`). Binary outputs and constant outputs pass
/// through unchanged (mean 0, std 1). Serialisable, so a model directory can keep it.
///
/// ```
/// use cisformer::train::Normalizer;
/// let n = Normalizer::fit(&[vec![1.0], vec![3.0], vec![5.0]], &[0, 1], &["y".into()], &[false]);
/// assert_eq!((n.mean[0], n.std[0]), (2.0, 1.0));
/// let z = n.transform(&[4.0]);
/// assert_eq!(z, [2.0]);
/// assert_eq!(n.inverse(&z), [4.0]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    /// Output names, in order.
    pub names: Vec<String>,
    /// Mean of each output on the training rows.
    pub mean: Vec<f64>,
    /// Standard deviation of each output on the training rows (1 when not scaled).
    pub std: Vec<f64>,
}

impl Normalizer {
    /// Fits on `targets[rows]`; outputs flagged in `binary` are left as they are.
    pub fn fit(targets: &[Vec<f32>], rows: &[usize], names: &[String], binary: &[bool]) -> Self {
        let k = names.len();
        let mut mean = vec![0.0; k];
        let mut std = vec![1.0; k];
        if !rows.is_empty() {
            for o in (0..k).filter(|&o| !binary.get(o).copied().unwrap_or(false)) {
                let n = rows.len() as f64;
                let m = rows.iter().map(|&i| f64::from(targets[i][o])).sum::<f64>() / n;
                let var = rows
                    .iter()
                    .map(|&i| (f64::from(targets[i][o]) - m).powi(2))
                    .sum::<f64>()
                    / n;
                if var > 0.0 {
                    mean[o] = m;
                    std[o] = var.sqrt();
                }
            }
        }
        Normalizer {
            names: names.to_vec(),
            mean,
            std,
        }
    }

    /// Fits on the training rows of a data set.
    pub fn for_dataset(ds: &Dataset, split: &Split) -> Self {
        Self::fit(
            &ds.targets,
            &split.train,
            &ds.output_names,
            &ds.binary_outputs(),
        )
    }

    /// A normaliser that changes nothing.
    pub fn identity(names: &[String]) -> Self {
        Normalizer {
            names: names.to_vec(),
            mean: vec![0.0; names.len()],
            std: vec![1.0; names.len()],
        }
    }

    /// Original scale → model scale.
    pub fn transform(&self, row: &[f32]) -> Vec<f32> {
        row.iter()
            .enumerate()
            .map(|(o, &v)| ((f64::from(v) - self.mean[o]) / self.std[o]) as f32)
            .collect()
    }

    /// Model scale → original scale.
    pub fn inverse(&self, row: &[f32]) -> Vec<f32> {
        row.iter()
            .enumerate()
            .map(|(o, &v)| (f64::from(v) * self.std[o] + self.mean[o]) as f32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_tables_end_in_the_metrics_fields() {
        use crate::io::tables::{BASELINE_METRICS, METRICS};
        let fields = Metrics::TSV_HEADER;
        assert_eq!(METRICS.header(), format!("model\tset\toutput\t{fields}"));
        assert_eq!(BASELINE_METRICS.header(), format!("set\toutput\t{fields}"));
    }

    #[test]
    fn missing_ids_are_listed_with_a_count() {
        let recs: Vec<fasta::Record> = (0..8)
            .map(|i| fasta::Record::new(format!("s{i}"), b"ACGT".to_vec()))
            .collect();
        let labels = labels::parse_labels(&b"id\ty\ns1\t1\n"[..], Path::new("l.tsv")).unwrap();
        let e = Dataset::join(recs, &labels, Path::new("x.fa"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "7 of 8 records of x.fa have no row in l.tsv: 's0', 's2', 's3', 's4', 's5', ... (2 more)"
        );
    }

    #[test]
    fn duplicate_fasta_names() {
        let recs = vec![
            fasta::Record::new("a", b"A".to_vec()),
            fasta::Record::new("a", b"C".to_vec()),
        ];
        let labels = labels::parse_labels(&b"id\ty\na\t1\n"[..], Path::new("l.tsv")).unwrap();
        let e = Dataset::join(recs, &labels, Path::new("x.fa")).unwrap_err();
        assert!(e.to_string().contains("duplicate record name 'a'"), "{e}");
    }

    #[test]
    fn normalizer_skips_binary_and_constant() {
        let t = vec![vec![0.0, 5.0, 1.0], vec![1.0, 5.0, 3.0]];
        let names: Vec<String> = ["b", "c", "x"].map(String::from).to_vec();
        let n = Normalizer::fit(&t, &[0, 1], &names, &[true, false, false]);
        assert_eq!(n.mean, [0.0, 0.0, 2.0]);
        assert_eq!(n.std, [1.0, 1.0, 1.0]);
        let json = serde_json::to_string(&n).unwrap();
        assert_eq!(serde_json::from_str::<Normalizer>(&json).unwrap(), n);
    }

    #[test]
    fn bed_column_lookup() {
        let iv = bed::Interval {
            name: "n".into(),
            score: "3".into(),
            rest: "a\tb\t9".into(),
            columns: 9,
            ..Default::default()
        };
        assert_eq!(bed_column(&iv, 5), Some("3"));
        assert_eq!(bed_column(&iv, 9), Some("9"));
        assert_eq!(bed_column(&iv, 10), None);
        assert_eq!(bed_column(&iv, 6), None);
    }
}
