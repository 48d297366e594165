//! The options `heads` and `interactions` share: model, sequences, motifs and how the
//! sequences are streamed; they build the library's [`Input`].
use std::path::PathBuf;

use cisformer::analysis::{Shard, stream::Input};

/// Model, sequences and motifs of an attention analysis.
#[derive(clap::Args, Debug, Clone)]
pub struct InputArgs {
    /// Model directory written by `train`.
    #[arg(long, value_name = "DIR")]
    pub model: PathBuf,
    /// Sequences to analyse (FASTA, plain or gzip; `-` for standard input except with
    /// --active-only or --sites, which read it twice). Read a batch at a time, so memory
    /// does not grow with the number of sequences.
    #[arg(long, value_name = "FA")]
    pub fasta: PathBuf,
    /// Motifs (MEME, JASPAR, TRANSFAC, HOMER) [default: the embedded simulator motifs].
    #[arg(long, value_name = "FILE")]
    pub motifs: Option<PathBuf>,
    /// Sites from a FIMO-style TSV (`cisformer scan` or FIMO --text) instead of scanning.
    /// FIMO tables come sorted by motif, not by sequence, so this table and the FASTA's
    /// names are held in memory (scanning streams instead).
    #[arg(long, value_name = "TSV")]
    pub sites: Option<PathBuf>,
    /// Scanning p-value threshold (FIMO's, uniform background).
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, default_value_t = 1e-4, value_name = "P")]
    pub thresh: f64,
    /// Process every N-th sequence: `i/N` (1-based) writes a partial state for `merge`.
    #[arg(long, value_name = "i/N")]
    pub shard: Option<Shard>,
    /// Sequences per forward pass (memory grows with batch x heads x tokens²).
    #[arg(long, default_value_t = 16)]
    pub batch_size: usize,
    /// Seed of the null placements.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[command(flatten)]
    pub device: super::DeviceArg,
}

impl InputArgs {
    /// Loads the model and motifs and checks the options. The FASTA is only read here
    /// with `--sites` (to place the table's rows); otherwise the pass reads it.
    pub fn load(&self) -> anyhow::Result<Input> {
        let device = self.device.open()?;
        anyhow::ensure!(self.batch_size > 0, "--batch-size must be at least 1");
        anyhow::ensure!(
            self.thresh > 0.0 && self.thresh <= 1.0,
            "--thresh must be in (0, 1], got {}",
            self.thresh
        );
        let (model, meta) = cisformer::model_dir::load(&self.model)?;
        let model = model.into_device(&device)?;
        let motifs = super::load_motifs(self.motifs.as_deref())?;
        let mut input = Input::new(model, meta, motifs, &self.fasta, self.thresh)?;
        if let Some(p) = &self.sites {
            ensure_rereadable(&input, "--sites")?;
            input.read_site_table(p)?;
        }
        Ok(input)
    }
}

/// Options that read the FASTA twice cannot take it from standard input.
pub fn ensure_rereadable(input: &Input, option: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        input.rereadable(),
        "{option} reads the FASTA twice: give --fasta a file, not '-'"
    );
    Ok(())
}
