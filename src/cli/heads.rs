//! `cisformer heads`: the per-head atlas (entropy, distance, boundary mass, motif focus,
//! redundancy, importance, prune candidates).
use std::path::{Path, PathBuf};

use cisformer::{
    analysis::{
        self, Shard,
        heads::{
            HeadAccumulator, HeadConfig, HeadImportance, TrackValue, write_focus_tsv,
            write_head_bedgraph, write_heads_tsv,
        },
        interactions::Score,
        stream::{self, Input, Pass},
    },
    io::fasta::Record,
};

use super::{Global, attention::InputArgs, write_to};

/// One row per (layer, head): what each attention head does and which motif it watches.
///
/// Motif focus: attention received by tokens of a motif's sites over what their coverage
/// predicts, against random non-site spans of the same widths in the same sequences; a
/// head focuses on a motif when the excess is beyond --focus-margin, tested over sequences.
/// Importance: the model is rerun with each head masked; `importance_dmetric` is the
/// drop of Pearson r against --labels (without labels: against the unmasked
/// predictions) and `importance_dpred` the mean |Δprediction|.
///
/// Example: `cisformer heads --model model --fasta seqs.fa --motifs motifs.meme --labels labels.tsv -o heads.tsv`
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,
    /// Output: the head atlas (TSV), or the partial state with --shard.
    #[arg(short = 'o', long, value_name = "TSV", default_value = "-")]
    out: PathBuf,
    /// Also write every (head, motif) focus row.
    #[arg(long, value_name = "TSV")]
    focus: Option<PathBuf>,
    /// Activities of the sequences (labels TSV), for the importance metric.
    #[arg(long, value_name = "TSV")]
    labels: Option<PathBuf>,
    /// Sequences used to measure importance (the first N; 0 skips it).
    #[arg(long, default_value_t = 512, value_name = "N")]
    importance_n: usize,
    /// Write the per-head attention of this sequence as bedGraph (see --dump-out).
    #[arg(long, value_name = "SEQ_ID")]
    dump: Option<String>,
    /// File for --dump [default: SEQ_ID.bedGraph].
    #[arg(long, value_name = "FILE", requires = "dump")]
    dump_out: Option<PathBuf>,
    /// Motif focus is called when a motif's sites get more than this many shares of uniform
    /// attention beyond matched background spans (q <= 0.05 against this interval null).
    #[arg(allow_negative_numbers = true, value_parser = super::non_negative_f64, long,
          default_value_t = analysis::heads::DEFAULT_FOCUS_MARGIN, value_name = "SHARES")]
    focus_margin: f64,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    // The default dump file is an output like any other: it may not replace an input.
    let dump_out = args.dump.as_ref().map(|id| {
        args.dump_out
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("{id}.bedGraph")))
    });
    args.input
        .files()
        .read_opt(args.labels.as_ref())
        .write(&args.out)
        .write_opt(args.focus.as_ref())
        .write_opt(dump_out.as_ref())
        .check()?;
    cisformer::model_dir::check(&args.input.model)?;
    let mut input = args.input.load()?;
    let cfg = input.model.config().clone();
    let mut hc = HeadConfig::new(cfg.n_layers, cfg.n_heads);
    hc.seed = args.input.seed;
    hc.motif_names = input.names.clone();
    hc.pruned = cfg.pruned_heads.clone();
    hc.focus_margin = args.focus_margin;
    let shard = args.input.shard.unwrap_or(Shard::ALL);
    let mut acc = HeadAccumulator::new(hc);
    acc.set_shard(shard);
    // What the one pass keeps beyond the accumulators: the first sequences for
    // importance (of the whole input, not the shard) and the --dump sequence.
    let importance_n = if args.input.shard.is_none() {
        args.importance_n
    } else {
        0
    };
    let mut first: Vec<Record> = Vec::new();
    let mut fasta_digest = cisformer::io::digest::Digest::default();
    let mut dumped: Option<(usize, Record)> = None;
    let pass = Pass {
        shard,
        batch: args.input.batch_size,
        active: None,
    };
    let bar = super::progress_bar(g, 0, "heads {elapsed_precise} {spinner} {pos} sequences");
    let n = stream::for_each_batch(
        &input,
        pass,
        &[Score::Attention],
        |i, r| {
            fasta_digest.field(r.name.as_bytes());
            fasta_digest.field(&r.seq);
            if i < importance_n {
                first.push(r.clone());
            }
            if dumped.is_none() && args.dump.as_deref() == Some(r.name.as_str()) {
                dumped = Some((i, r.clone()));
            }
        },
        |n| bar.inc(n as u64),
        |_, _, items| acc.add_batch(items),
    )?;
    bar.finish_and_clear();
    if let (Some(id), Some(path)) = (&args.dump, &dump_out) {
        let Some((i, rec)) = &dumped else {
            anyhow::bail!("--dump {id}: no such sequence in the FASTA");
        };
        dump(&input, *i, rec, path)?;
    }
    acc.set_fingerprint(
        args.input
            .fingerprint(fasta_digest.hex(), Default::default())?,
    );
    if args.input.shard.is_some() {
        acc.save_partial(&args.out)?;
        if !g.quiet {
            eprintln!(
                "heads: shard {shard}: {n} sequences, partial state in {}",
                args.out.display()
            );
        }
        return Ok(());
    }
    if args.importance_n > 0 {
        for imp in importance(&mut input, &first, args.labels.as_ref(), g)? {
            acc.set_importance(imp)?;
        }
    }
    write_tables(&acc, &args.out, args.focus.as_ref())?;
    if !g.quiet {
        eprintln!("heads: {n} sequences, {} heads", cfg.n_layers * cfg.n_heads);
    }
    Ok(())
}

/// Writes the atlas (and the focus table); `merge` calls this too.
pub fn write_tables(
    acc: &HeadAccumulator,
    out: &std::path::Path,
    focus: Option<&PathBuf>,
) -> anyhow::Result<()> {
    let names = &acc.config().motif_names;
    let rows = acc.finish();
    write_to(out, |w| write_heads_tsv(w, &rows, names))?;
    if let Some(p) = focus {
        let f = acc.finish_focus();
        write_to(p, |w| write_focus_tsv(w, &f, names))?;
    }
    Ok(())
}

/// Masks each head in turn on the sequences `recs`.
fn importance(
    input: &mut Input,
    recs: &[Record],
    labels: Option<&PathBuf>,
    g: &Global,
) -> anyhow::Result<Vec<HeadImportance>> {
    let seqs: Vec<&[u8]> = recs.iter().map(|r| r.seq.as_slice()).collect();
    let truth: Option<Vec<f64>> = match labels {
        Some(p) => {
            let l = cisformer::train::read_labels(p)?;
            let idx = l.index();
            let mut t = Vec::with_capacity(recs.len());
            for r in recs {
                let Some(&i) = idx.get(r.name.as_str()) else {
                    anyhow::bail!("{}: no label for sequence '{}'", p.display(), r.name);
                };
                t.push(f64::from(l.values[i][0]));
            }
            Some(t)
        }
        None => None,
    };
    let cfg = input.model.config().clone();
    let bar = super::progress_bar(
        g,
        (cfg.n_layers * cfg.n_heads) as u64,
        "heads: importance {bar:30} {pos}/{len} heads masked",
    );
    let scale = input.meta.normalization.first().map_or(1.0, |n| n.std);
    let out = cisformer::surgery::head_importance(
        &mut input.model,
        &seqs,
        truth.as_deref(),
        scale,
        &mut || bar.inc(1),
    )?;
    bar.finish_and_clear();
    Ok(out)
}

/// Every head's attention over one sequence: mean attention each token receives.
fn dump(input: &Input, i: usize, rec: &Record, path: &Path) -> anyhow::Result<()> {
    let id = rec.name.as_str();
    let a = input.attention_of(i, &rec.seq)?;
    let geom = input.geometry(rec.seq.len());
    let mut buf = Vec::new();
    for layer in 0..a.n_layers {
        for head in 0..a.n_heads {
            std::io::Write::write_all(
                &mut buf,
                format!("track type=bedGraph name=\"{id} L{layer}H{head}\"\n").as_bytes(),
            )?;
            write_head_bedgraph(
                &mut buf,
                &a,
                &geom,
                layer,
                head,
                &rec.name,
                TrackValue::Received,
            )?;
        }
    }
    write_to(path, |w| std::io::Write::write_all(w, &buf))
}
