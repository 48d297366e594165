//! The model→analysis pipeline behind `heads` and `interactions`: reads the FASTA a
//! batch at a time, finds the batch's motif sites, runs the model with attention and
//! hands each sequence's [`SeqAttention`] to the accumulators, so memory does not grow
//! with the input.
//!
//! ```no_run
//! use cisformer::analysis::{Shard, heads::*, interactions::Score, stream::*};
//! # fn main() -> cisformer::Result<()> {
//! let (model, meta) = cisformer::model_dir::load("model")?;
//! let motifs = cisformer::motif::load(std::path::Path::new("motifs.meme"), None)?.motifs;
//! let input = Input::new(model, meta, motifs, "seqs.fa", 1e-4)?;
//! let cfg = input.model.config();
//! let mut atlas = HeadAccumulator::new(HeadConfig::new(cfg.n_layers, cfg.n_heads));
//! let pass = Pass { shard: Shard::ALL, batch: 16, active: None };
//! for_each_batch(&input, pass, &[Score::Attention], |_, _| {}, |_| {}, |_, _, items| {
//!     atlas.add_batch(items)
//! })?;
//! # Ok(())
//! # }
//! ```
use std::{
    io::BufRead,
    path::{Path, PathBuf},
};

use rayon::prelude::*;

use super::{SeqAttention, Shard, Site, TokenGeometry, interactions::Score};
use crate::{
    Error, Result,
    io::fasta::{self, Record},
    model::{AttentionMaps, ForwardOptions, Meta, Model},
    motif::{self, Motif, Pssm, fimo, scan::Scanner},
    predict::{LengthLimit, predict_raw},
};

/// Model, motifs and sequences of an attention analysis; the sequences stay in the
/// FASTA and are read a batch at a time by [`for_each_batch`].
pub struct Input {
    pub model: Model,
    pub meta: Meta,
    pub motifs: Vec<Motif>,
    /// Motif names for tables ([`motif::display_names`]).
    pub names: Vec<String>,
    fasta: PathBuf,
    thresh: f64,
    pssms: Vec<Pssm>,
    /// Sites of a FIMO table, by input index (`None`: scan each batch).
    table: Option<Vec<Vec<Site>>>,
}

impl Input {
    /// An analysis of the sequences in `fasta` (a path, or `-` for standard input) whose
    /// sites are found by scanning for `motifs` at FIMO's p-value `thresh` (uniform
    /// background), until [`Input::read_site_table`] gives them instead.
    pub fn new(
        model: Model,
        meta: Meta,
        motifs: Vec<Motif>,
        fasta: impl Into<PathBuf>,
        thresh: f64,
    ) -> Result<Input> {
        if !(thresh > 0.0 && thresh <= 1.0) {
            return Err(Error::Invalid(format!(
                "the scanning p-value threshold must be in (0, 1], got {thresh}"
            )));
        }
        let names = motif::display_names(&motifs);
        let pssms = motif::uniform_pssms(&motifs);
        Ok(Input {
            model,
            meta,
            motifs,
            names,
            fasta: fasta.into(),
            thresh,
            pssms,
            table: None,
        })
    }

    /// The FASTA the sequences are read from.
    pub fn fasta(&self) -> &Path {
        &self.fasta
    }

    /// Whether the FASTA can be read more than once (it is a file, not standard input).
    pub fn rereadable(&self) -> bool {
        self.fasta != Path::new("-")
    }

    /// Takes the sites from a FIMO-style TSV instead of scanning. FIMO tables come
    /// sorted by motif, not by sequence, so the table and the FASTA's names are held in
    /// memory, and the FASTA is read once here to place the rows.
    pub fn read_site_table(&mut self, path: &Path) -> Result<()> {
        if !self.rereadable() {
            return Err(Error::Invalid(
                "a site table needs the FASTA read twice, which standard input cannot be".into(),
            ));
        }
        let mut seqs = Vec::new();
        let mut recs = self.records()?;
        let mut rec = Record::default();
        while recs.next(&mut rec)?.is_some() {
            seqs.push((std::mem::take(&mut rec.name), rec.seq.len()));
        }
        self.table = Some(fimo::read_sites(path, &seqs, &self.motifs)?);
        Ok(())
    }

    /// A fresh pass over the FASTA.
    pub fn records(&self) -> Result<Records> {
        Records::open(&self.fasta, &self.model)
    }

    /// First output of the model for every sequence of the FASTA (raw scale), in input
    /// order, `batch` sequences per forward pass as `predict` batches them.
    pub fn predict_first(&self, batch: usize) -> Result<Vec<f32>> {
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
                let pred = predict_raw(&self.model, &seqs, batch)?;
                out.extend(pred.iter().map(|p| p[0]));
                filled = 0;
            }
            if !more {
                return Ok(out);
            }
        }
    }

    /// Marks the sequences predicted most active: the top fraction `f` (in (0, 1]) of the
    /// first output, ties in input order, by input index. The ranking is over the whole
    /// FASTA, not a shard, so shards pick the same sequences as a single run.
    pub fn most_active(&self, f: f64, batch: usize) -> Result<Vec<bool>> {
        if !(f > 0.0 && f <= 1.0) {
            return Err(Error::Invalid(format!(
                "the fraction of most active sequences must be in (0, 1], got {f}"
            )));
        }
        let pred = self.predict_first(batch)?;
        let mut order: Vec<usize> = (0..pred.len()).collect();
        order.sort_by(|&a, &b| pred[b].total_cmp(&pred[a]).then(a.cmp(&b)));
        let keep = ((pred.len() as f64 * f).ceil() as usize).max(1);
        let mut active = vec![false; pred.len()];
        for &i in &order[..keep.min(pred.len())] {
            active[i] = true;
        }
        Ok(active)
    }

    /// The attention of one sequence, `seq_index` being its place in the input.
    pub fn attention_of(&self, seq_index: usize, seq: &[u8]) -> Result<SeqAttention> {
        let ids = vec![self.model.tokenizer().encode(seq)];
        let opts = ForwardOptions {
            attention: true,
            ..Default::default()
        };
        let mut maps = self
            .model
            .forward(&ids, &opts)?
            .attention
            .unwrap_or_default();
        if maps.is_empty() {
            return Err(no_attention());
        }
        Ok(SeqAttention::from_maps(seq_index, maps.remove(0)))
    }

    /// Where the attention positions of a `len`-bp sequence sit under the model.
    pub fn geometry(&self, len: usize) -> TokenGeometry {
        TokenGeometry::of_model(self.model.config(), len)
    }

    fn scanners(&self) -> Vec<Scanner<'_>> {
        self.pssms
            .iter()
            .map(|p| Scanner::new(p, self.thresh, true))
            .collect()
    }
}

fn no_attention() -> Error {
    Error::Invalid("the model returned no attention".into())
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
    pub fn open(path: &Path, model: &Model) -> Result<Self> {
        Ok(Records {
            reader: fasta::Reader::new(crate::io::open_input(path)?, path),
            path: path.to_path_buf(),
            k: model.config().k,
            limit: LengthLimit::of(model),
            next_index: 0,
        })
    }

    /// Reads the next record into `rec` (reusing its buffers); returns its 0-based index,
    /// or `None` at the end.
    pub fn next(&mut self, rec: &mut Record) -> Result<Option<usize>> {
        if !self.reader.read_record(rec)? {
            if self.next_index == 0 {
                return Err(Error::parse(
                    &self.path,
                    1,
                    "no FASTA records (empty file?)",
                ));
            }
            return Ok(None);
        }
        if rec.seq.len() < self.k {
            return Err(Error::Invalid(format!(
                "{}: sequence '{}' is {} bp, shorter than the model's k = {}",
                self.path.display(),
                rec.name,
                rec.seq.len(),
                self.k
            )));
        }
        if let Some(limit) = &self.limit {
            limit.check(self.next_index, &rec.name, rec.seq.len(), &self.path)?;
        }
        self.next_index += 1;
        Ok(Some(self.next_index - 1))
    }
}

/// One sequence as the analysis accumulators take it: attention, sites, geometry.
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
    ) -> Result<bool> {
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
/// finds their sites (scanning, or from the site table), runs the model with attention
/// and hands each batch to `f` once per score, in input order, with its [`Chunk`].
/// `seen` sees every record read, in the shard or not; `progress` gets the number of
/// sequences of each finished batch. Returns the number of sequences in the shard.
///
/// `f`'s error type is the caller's, so a front end can stop the pass with its own.
pub fn for_each_batch<E: From<Error>>(
    input: &Input,
    pass: Pass,
    scores: &[Score],
    mut seen: impl FnMut(usize, &Record),
    mut progress: impl FnMut(usize),
    mut f: impl FnMut(Score, &Chunk, &[Item]) -> Result<(), E>,
) -> Result<usize, E> {
    if pass.batch == 0 {
        return Err(Error::Invalid("the batch size must be at least 1".into()).into());
    }
    let scanners = input.scanners();
    let mut recs = input.records()?;
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
        progress(chunk.index.len());
        if !more {
            break;
        }
    }
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
fn run_batch<E: From<Error>>(
    input: &Input,
    chunk: &Chunk,
    scores: &[Score],
    buf: &mut Buffers,
    f: &mut impl FnMut(Score, &Chunk, &[Item]) -> Result<(), E>,
) -> Result<(), E> {
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
        buf.maps = out.attention.ok_or_else(no_attention)?;
    }
    let geoms: Vec<TokenGeometry> = records
        .iter()
        .map(|r| input.geometry(r.seq.len()))
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
