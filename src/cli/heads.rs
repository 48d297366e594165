//! `cisformer heads`: the per-head atlas (entropy, distance, boundary mass, motif focus,
//! redundancy, importance, prune candidates).
use std::path::{Path, PathBuf};

use cisformer::{
    analysis::{
        self, Shard,
        heads::{HeadAccumulator, HeadConfig, HeadImportance, write_heads_bedgraph},
        run,
        stream::{Input, Pass},
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
    let pass = Pass {
        shard,
        batch: args.input.batch_size,
        active: None,
    };
    let bar = super::progress_bar(g, 0, "heads {elapsed_precise} {spinner} {pos} sequences");
    let mut run = run::heads(&input, acc, pass, importance_n, args.dump.as_deref(), |n| {
        bar.inc(n as u64)
    })?;
    bar.finish_and_clear();
    let n = run.n;
    if let (Some(id), Some(path)) = (&args.dump, &dump_out) {
        let Some((i, rec)) = &run.dumped else {
            anyhow::bail!("--dump {id}: no such sequence in the FASTA");
        };
        dump(&input, *i, rec, path)?;
    }
    let fingerprint = args
        .input
        .fingerprint(run.fasta_digest, Default::default())?;
    run.acc.set_fingerprint(fingerprint);
    if args.input.shard.is_some() {
        run.acc.save_partial(&args.out)?;
        if !g.quiet {
            eprintln!(
                "heads: shard {shard}: {n} sequences, partial state in {}",
                args.out.display()
            );
        }
        return Ok(());
    }
    if args.importance_n > 0 {
        for imp in importance(&mut input, &run.first, args.labels.as_deref(), g)? {
            run.acc.set_importance(imp)?;
        }
    }
    run.acc.write_tables(&args.out, args.focus.as_deref())?;
    if !g.quiet {
        eprintln!("heads: {n} sequences, {} heads", cfg.n_layers * cfg.n_heads);
    }
    Ok(())
}

/// Masks each head in turn on the sequences `recs`.
fn importance(
    input: &mut Input,
    recs: &[Record],
    labels: Option<&Path>,
    g: &Global,
) -> anyhow::Result<Vec<HeadImportance>> {
    let seqs: Vec<&[u8]> = recs.iter().map(|r| r.seq.as_slice()).collect();
    let truth = match labels {
        Some(p) => {
            let ids = recs.iter().map(|r| r.name.as_str());
            Some(cisformer::train::read_labels(p)?.first_output_of(ids)?)
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
    let a = input.attention_of(i, &rec.seq)?;
    let geom = input.geometry(rec.seq.len());
    let mut buf = Vec::new();
    write_heads_bedgraph(&mut buf, &a, &geom, &rec.name)?;
    write_to(path, |w| std::io::Write::write_all(w, &buf))
}
