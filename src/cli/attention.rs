//! What `heads` and `interactions` share: a model, motifs, and a streaming loop that
//! reads the FASTA a batch at a time, finds the batch's motif sites and feeds its
//! attention to the analysis accumulators, so memory does not grow with the input.
use std::{
    io::BufRead,
    path::{Path, PathBuf},
};

use anyhow::Context;
use cisformer::{
    analysis::{SeqAttention, Shard, Site, TokenGeometry, interactions::Score},
    io::fasta::{self, Record},
    model::{AttentionMaps, ForwardOptions, Meta, Model},
    motif::{self, Motif, Pssm, scan},
    train::transformer::LengthLimit,
};
use rayon::prelude::*;

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
    /// Compute device.
    #[arg(long, default_value = "cpu", value_parser = ["cpu", "cuda"])]
    pub device: String,
}

/// Model and motifs of an attention analysis; the sequences stay in the FASTA and are
/// read a batch at a time by [`for_each_batch`].
pub struct Input {
    pub model: Model,
    pub meta: Meta,
    pub motifs: Vec<Motif>,
    /// Motif names for tables: the JASPAR-style name when there is one, else the ID.
    pub names: Vec<String>,
    fasta: PathBuf,
    thresh: f64,
    pssms: Vec<Pssm>,
    /// Sites of `--sites`, by input index (`None`: scan each batch).
    table: Option<Vec<Vec<Site>>>,
}

impl InputArgs {
    /// Loads the model and motifs and checks the options. The FASTA is only read here
    /// with `--sites` (to place the table's rows); otherwise [`for_each_batch`] reads it.
    pub fn load(&self) -> anyhow::Result<Input> {
        super::check_device(&self.device)?;
        anyhow::ensure!(self.batch_size > 0, "--batch-size must be at least 1");
        anyhow::ensure!(
            self.thresh > 0.0 && self.thresh <= 1.0,
            "--thresh must be in (0, 1], got {}",
            self.thresh
        );
        let (model, meta) = cisformer::model_dir::load(&self.model)?;
        let motifs = super::load_motifs(self.motifs.as_deref())?;
        let names = motif::display_names(&motifs);
        let pssms = motif::uniform_pssms(&motifs);
        let mut input = Input {
            model,
            meta,
            motifs,
            names,
            fasta: self.fasta.clone(),
            thresh: self.thresh,
            pssms,
            table: None,
        };
        if let Some(p) = &self.sites {
            input.ensure_rereadable("--sites")?;
            let mut seqs = Vec::new();
            let mut recs = input.records()?;
            let mut rec = Record::default();
            while recs.next(&mut rec)?.is_some() {
                seqs.push((std::mem::take(&mut rec.name), rec.seq.len()));
            }
            input.table = Some(motif::fimo::read_sites(p, &seqs, &input.motifs)?);
        }
        Ok(input)
    }
}

impl Input {
    /// A fresh pass over the FASTA.
    pub fn records(&self) -> anyhow::Result<Records> {
        Records::open(&self.fasta, &self.model)
    }

    /// First output of the model for every sequence of the FASTA (raw scale), in input
    /// order, `batch` sequences per forward pass as `predict` batches them.
    pub fn predict_first(&self, batch: usize) -> anyhow::Result<Vec<f32>> {
        let mut recs = self.records()?;
        // Records 0..filled are the batch; the rest keep their buffers for later reads.
        let mut chunk: Vec<Record> = Vec::new();
        let mut filled = 0;
        let mut out = Vec::new();
        loop {
            if filled == chunk.len() {
                chunk.push(Record::default());
            }
            let more = recs.next(&mut chunk[filled])?.is_some();
            if more {
                filled += 1;
            }
            if filled == batch || (!more && filled > 0) {
                let seqs: Vec<&[u8]> = chunk[..filled].iter().map(|r| r.seq.as_slice()).collect();
                let pred = cisformer::train::transformer::predict_raw(&self.model, &seqs, batch)?;
                out.extend(pred.iter().map(|p| p[0]));
                filled = 0;
            }
            if !more {
                return Ok(out);
            }
        }
    }

    /// Options that read the FASTA twice cannot take it from standard input.
    pub fn ensure_rereadable(&self, option: &str) -> anyhow::Result<()> {
        anyhow::ensure!(
            self.fasta != Path::new("-"),
            "{option} reads the FASTA twice: give --fasta a file, not '-'"
        );
        Ok(())
    }

    fn scanners(&self) -> Vec<scan::Scanner<'_>> {
        self.pssms
            .iter()
            .map(|p| scan::Scanner::new(p, self.thresh, true))
            .collect()
    }
}

/// The records of a FASTA file in input order, each checked to be at least `k` bp long
/// and no longer than the model can place; a file without records is an error.
pub struct Records {
    reader: fasta::Reader<Box<dyn BufRead + Send>>,
    path: PathBuf,
    k: usize,
    limit: Option<LengthLimit>,
    next_index: usize,
}

impl Records {
    pub fn open(path: &Path, model: &Model) -> anyhow::Result<Self> {
        Ok(Records {
            reader: fasta::Reader::new(cisformer::io::open_input(path)?, path),
            path: path.to_path_buf(),
            k: model.config().k,
            limit: LengthLimit::of(model),
            next_index: 0,
        })
    }

    /// Reads the next record into `rec` (reusing its buffers); returns its 0-based index,
    /// or `None` at the end.
    pub fn next(&mut self, rec: &mut Record) -> anyhow::Result<Option<usize>> {
        if !self.reader.read_record(rec)? {
            if self.next_index == 0 {
                return Err(cisformer::Error::parse(
                    &self.path,
                    1,
                    "no FASTA records (empty file?)",
                )
                .into());
            }
            return Ok(None);
        }
        anyhow::ensure!(
            rec.seq.len() >= self.k,
            "{}: sequence '{}' is {} bp, shorter than the model's k = {}",
            self.path.display(),
            rec.name,
            rec.seq.len(),
            self.k
        );
        if let Some(limit) = &self.limit {
            limit.check(self.next_index, &rec.name, rec.seq.len(), &self.path)?;
        }
        self.next_index += 1;
        Ok(Some(self.next_index - 1))
    }
}

/// Geometry of the attention positions of a sequence of `len` bp under the model.
pub fn geometry(model: &Model, len: usize) -> TokenGeometry {
    TokenGeometry::of_model(model.config(), len)
}

/// One batch as the analysis accumulators take it: attention, sites, geometry.
pub type Item<'a> = (&'a SeqAttention, &'a [Site], &'a TokenGeometry);

/// Which sequences a pass analyses.
#[derive(Clone, Copy, Debug)]
pub struct Pass<'a> {
    /// Sequences of this shard (by 0-based input index) are run; the others are skipped.
    pub shard: Shard,
    /// Sequences per forward pass.
    pub batch: usize,
    /// When set, only sequences marked `true` (by input index) get their sites; the
    /// others still run, with none.
    pub active: Option<&'a [bool]>,
}

/// One batch of a pass: the shard's records in input order, with their sites.
#[derive(Default)]
pub struct Chunk {
    /// Input index of each record.
    pub index: Vec<usize>,
    /// The records; only the first `index.len()` belong to the batch (the rest are
    /// buffers kept for the next reads).
    records: Vec<Record>,
    pub sites: Vec<Vec<Site>>,
}

impl Chunk {
    pub fn records(&self) -> &[Record] {
        &self.records[..self.index.len()]
    }

    /// Reads the next `batch` records of `shard`, calling `seen` on every record read
    /// (in the shard or not); returns false once the input is exhausted.
    fn fill(
        &mut self,
        recs: &mut Records,
        shard: Shard,
        batch: usize,
        seen: &mut impl FnMut(usize, &Record),
    ) -> anyhow::Result<bool> {
        self.index.clear();
        while self.index.len() < batch {
            let slot = self.index.len();
            if slot == self.records.len() {
                self.records.push(Record::default());
            }
            let Some(i) = recs.next(&mut self.records[slot])? else {
                return Ok(false);
            };
            seen(i, &self.records[slot]);
            if shard.contains(i) {
                self.index.push(i);
            }
        }
        Ok(true)
    }
}

/// Streams the FASTA once: reads the sequences of `pass.shard`, `pass.batch` at a time,
/// finds their sites (scanning, or from `--sites`), runs the model with attention and
/// hands each batch to `f` once per score, in input order, with its [`Chunk`]. `seen`
/// sees every record read, in the shard or not. A progress bar is named `what`.
/// Returns the number of sequences in the shard.
pub fn for_each_batch(
    input: &Input,
    pass: Pass,
    g: &super::Global,
    what: &str,
    scores: &[Score],
    mut seen: impl FnMut(usize, &Record),
    mut f: impl FnMut(Score, &Chunk, &[Item]) -> anyhow::Result<()>,
) -> anyhow::Result<usize> {
    anyhow::ensure!(pass.batch > 0, "--batch-size must be at least 1");
    let scanners = input.scanners();
    let mut recs = input.records()?;
    let bar = super::progress_bar(
        g,
        0,
        &format!("{what} {{elapsed_precise}} {{spinner}} {{pos}} sequences"),
    );
    let active = |i: usize| {
        pass.active
            .is_none_or(|a| a.get(i).copied().unwrap_or(false))
    };
    let mut chunk = Chunk::default();
    let mut buffers = Buffers::default();
    let mut n = 0;
    loop {
        let more = chunk.fill(&mut recs, pass.shard, pass.batch, &mut seen)?;
        if chunk.index.is_empty() {
            break;
        }
        chunk.sites = match &input.table {
            Some(t) => chunk
                .index
                .iter()
                .map(|&i| if active(i) { t[i].clone() } else { Vec::new() })
                .collect(),
            None => chunk
                .records()
                .par_iter()
                .zip(&chunk.index)
                .map(|(r, &i)| {
                    if active(i) {
                        motif::sites_in(&scanners, &r.seq)
                    } else {
                        Vec::new()
                    }
                })
                .collect(),
        };
        run_batch(input, &chunk, scores, &mut buffers, &mut f)?;
        n += chunk.index.len();
        bar.inc(chunk.index.len() as u64);
        if !more {
            break;
        }
    }
    bar.finish_and_clear();
    Ok(n)
}

/// Per-batch attention buffers, kept between batches: each holds B·layers·heads·L²
/// floats, and allocating them afresh for every batch cost a fifth of the run in page
/// faults and copies. Buffers move between the three by swapping, never by copying.
#[derive(Default)]
struct Buffers {
    maps: Vec<AttentionMaps>,
    grads: Vec<AttentionMaps>,
    atts: Vec<SeqAttention>,
}

/// Runs the model with attention (and gradients when a score needs them) on one chunk.
fn run_batch(
    input: &Input,
    chunk: &Chunk,
    scores: &[Score],
    buf: &mut Buffers,
    f: &mut impl FnMut(Score, &Chunk, &[Item]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tok = input.model.tokenizer();
    let records = chunk.records();
    let ids: Vec<Vec<u32>> = records.iter().map(|r| tok.encode(&r.seq)).collect();
    if scores.contains(&Score::AttnGrad) {
        let reuse = (
            std::mem::take(&mut buf.maps),
            std::mem::take(&mut buf.grads),
        );
        (buf.maps, buf.grads) = input.model.attention_gradients_reusing(&ids, 0, reuse)?;
        // Attention × gradient, in the gradient buffers.
        buf.grads
            .par_iter_mut()
            .zip(&buf.maps)
            .for_each(|(g, m)| g.data.iter_mut().zip(&m.data).for_each(|(d, p)| *d *= p));
    } else {
        let opts = ForwardOptions {
            attention: true,
            ..Default::default()
        };
        let out = input
            .model
            .forward_reusing(&ids, &opts, std::mem::take(&mut buf.maps))?;
        buf.maps = out.attention.context("the model returned no attention")?;
    }
    let geoms: Vec<TokenGeometry> = records
        .iter()
        .map(|r| geometry(&input.model, r.seq.len()))
        .collect();
    let b = chunk.index.len();
    buf.atts.truncate(b);
    buf.atts.resize_with(b, || SeqAttention {
        seq_index: 0,
        n_tokens: 0,
        n_layers: 0,
        n_heads: 0,
        attn: Vec::new(),
    });
    for &score in scores {
        // Each score is used once per batch, so its buffers can be handed over whole.
        let from = match score {
            Score::AttnGrad => &mut buf.grads,
            Score::Attention => &mut buf.maps,
        };
        for ((a, m), &i) in buf.atts.iter_mut().zip(from.iter_mut()).zip(&chunk.index) {
            (a.seq_index, a.n_tokens, a.n_layers, a.n_heads) = (i, m.len, m.n_layers, m.n_heads);
            std::mem::swap(&mut a.attn, &mut m.data);
        }
        let items: Vec<Item> = buf
            .atts
            .iter()
            .zip(&chunk.sites)
            .zip(&geoms)
            .map(|((a, s), geo)| (a, s.as_slice(), geo))
            .collect();
        f(score, chunk, &items)?;
    }
    Ok(())
}
