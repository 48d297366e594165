//! One whole pass of `heads` or `interactions` over a FASTA: the stream, the accumulator
//! and what each pass keeps besides it (the first sequences for head importance, the
//! sequence to dump, the names behind the BEDPE's site pairs, and the digest of the
//! records read, which `merge` compares between shards).
//!
//! ```no_run
//! use cisformer::analysis::{Shard, interactions::*, run, stream::{Input, Pass}};
//! # fn main() -> cisformer::Result<()> {
//! let (model, meta) = cisformer::model_dir::load("model")?;
//! let motifs = cisformer::simulate::default_motifs()?;
//! let input = Input::new(model, meta, motifs, "seqs.fa", 1e-4)?;
//! let cfg = input.model.config();
//! let mut ic = InteractionConfig::new(cfg.n_layers, cfg.n_heads);
//! ic.motif_names = input.names.clone();
//! let acc = InteractionAccumulator::new(ic);
//! let pass = Pass { shard: Shard::ALL, batch: 16, active: None };
//! let done = run::interactions(&input, acc, pass, &[Score::AttnGrad], false, |_| {})?;
//! done.acc.write_tables("interactions.tsv".as_ref(), Some("pairs.tsv".as_ref()))?;
//! # Ok(())
//! # }
//! ```
use std::collections::{HashMap, HashSet};

use super::{
    Site,
    heads::HeadAccumulator,
    interactions::{InteractionAccumulator, Score},
    stream::{self, Input, Pass},
};
use crate::{Error, Result, io::digest::Digest, io::fasta::Record};

/// Variants per forward pass of the causal test: fixed, so the analysis batch size does
/// not change a byte of the table.
pub const CAUSAL_BATCH: usize = 32;

/// Adds one record (name and bases) to the digest of what a pass read, the same for
/// `heads` and `interactions` so that `merge` compares like with like.
fn digest_record(d: &mut Digest, r: &Record) {
    d.field(r.name.as_bytes());
    d.field(&r.seq);
}

/// What the head atlas pass returns.
pub struct HeadRun {
    pub acc: HeadAccumulator,
    /// Sequences in the shard.
    pub n: usize,
    /// Digest of every record read (names and bases), in input order.
    pub fasta_digest: String,
    /// The first sequences of the input (whatever the shard), for head importance.
    pub first: Vec<Record>,
    /// The sequence asked for by name, with its input index.
    pub dumped: Option<(usize, Record)>,
}

/// Streams `input` into `acc` (attention scores), keeping the first `keep_first`
/// records and the one named `dump`. `progress` gets each finished batch's size.
pub fn heads(
    input: &Input,
    mut acc: HeadAccumulator,
    pass: Pass,
    keep_first: usize,
    dump: Option<&str>,
    progress: impl FnMut(usize),
) -> Result<HeadRun> {
    let mut first = Vec::new();
    let mut digest = Digest::default();
    let mut dumped = None;
    let n = stream::for_each_batch(
        input,
        pass,
        &[Score::Attention],
        |i, r| {
            digest_record(&mut digest, r);
            if i < keep_first {
                first.push(r.clone());
            }
            if dumped.is_none() && dump == Some(r.name.as_str()) {
                dumped = Some((i, r.clone()));
            }
        },
        progress,
        |_, _, items| acc.add_batch(items),
    )?;
    Ok(HeadRun {
        acc,
        n,
        fasta_digest: digest.hex(),
        first,
        dumped,
    })
}

/// What the interaction pass returns.
pub struct InteractionRun {
    pub acc: InteractionAccumulator,
    /// Sequences in the shard.
    pub n: usize,
    /// Digest of every record read (names and bases), in input order.
    pub fasta_digest: String,
    /// Names of the sequences behind the kept site pairs ([`InteractionAccumulator::top_site_pairs`]),
    /// by input index; empty unless asked for.
    pub kept_names: HashMap<usize, String>,
}

/// Streams `input` into `acc` under each of `scores`, with the causal test (in-silico
/// double mutants of each sequence's site pairs, scored once per batch whatever the
/// number of scores). `keep_names` keeps the names of the sequences whose site pairs
/// the accumulator keeps, for BEDPE. `progress` gets each finished batch's size.
pub fn interactions(
    input: &Input,
    acc: InteractionAccumulator,
    pass: Pass,
    scores: &[Score],
    keep_names: bool,
    progress: impl FnMut(usize),
) -> Result<InteractionRun> {
    let readout = crate::validate::Readout::new(&input.model, &input.meta, 0)?;
    let predict = crate::validate::model_predictor(&input.model, readout);
    let first_score = *scores
        .first()
        .ok_or_else(|| Error::Invalid("interactions: no score to compute".into()))?;
    let icfg = acc.config().clone();
    let group = |m: usize| icfg.cluster_of(m);
    // The run-long sums are merged on their own thread, in batch order. With glibc that
    // thread allocates from its own arena, away from the large attention tensors every
    // batch allocates and frees: sharing one heap, the growing histograms pinned those
    // tensors' pages and peak RSS grew with the input (bench/analysis.sh, 10k -> 100k
    // sequences: +9.7 % before, +3.2 % with this thread).
    let parts = InteractionAccumulator::new(icfg.clone());
    let mut digest = Digest::default();
    let (n, (acc, kept_names)) = std::thread::scope(|s| {
        type Batch = (InteractionAccumulator, Vec<(usize, String)>);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Batch>(1);
        let merger = s.spawn(move || {
            let mut acc = acc;
            let mut kept_names: HashMap<usize, String> = HashMap::new();
            for (part, names) in rx {
                acc.merge_batch(part)?;
                if keep_names {
                    let kept: HashSet<usize> = acc.kept_sequences().collect();
                    kept_names.retain(|i, _| kept.contains(i));
                    for (i, name) in names {
                        if kept.contains(&i) {
                            kept_names.entry(i).or_insert(name);
                        }
                    }
                }
            }
            Ok::<_, Error>((acc, kept_names))
        });
        let n = stream::for_each_batch(
            input,
            pass,
            scores,
            |_, r| {
                digest_record(&mut digest, r);
            },
            progress,
            |score, chunk, items| {
                let mut part = parts.batch_part(score, items)?;
                if score == first_score {
                    let seqs: Vec<(usize, &[u8], &[Site])> = (chunk.index)
                        .iter()
                        .zip(chunk.records())
                        .zip(&chunk.sites)
                        .map(|((&i, r), s)| (i, r.seq.as_slice(), s.as_slice()))
                        .collect();
                    let values = crate::validate::causal::score_batch(
                        icfg.seed,
                        &seqs,
                        &group,
                        icfg.max_distance,
                        &predict,
                        CAUSAL_BATCH,
                    )?;
                    for v in &values {
                        part.add_causal(v);
                    }
                }
                let names = match keep_names {
                    true => (chunk.index.iter().copied())
                        .zip(chunk.records().iter().map(|r| r.name.clone()))
                        .collect(),
                    false => Vec::new(),
                };
                // A closed channel means the merger failed; its error is returned below.
                tx.send((part, names))
                    .map_err(|_| Error::Invalid("interactions: the merging thread stopped".into()))
            },
        );
        drop(tx);
        let merged = merger.join().expect("the merging thread panicked")?;
        Ok::<_, Error>((n?, merged))
    })?;
    Ok(InteractionRun {
        acc,
        n,
        fasta_digest: digest.hex(),
        kept_names,
    })
}
