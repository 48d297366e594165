//! `cisformer simulate`: a planted-grammar data set with its ground truth.
use std::{fs, path::PathBuf, time::Instant};

use anyhow::Context;
use cisformer::{
    io::output::Output,
    motif,
    simulate::{self, Background, Grammar, MarkovChain, Simulator},
};

use super::Global;

/// Simulate sequences with planted motif grammar and known activity.
///
/// Writes DIR/seqs.fa, labels.tsv (observed activity), noise_free.tsv, sites.bed
/// (every planted site), truth.tsv (the grammar), motifs.meme (motifs used) and
/// summary.json (noise ceiling per output, planted counts).
///
/// Example: `cisformer simulate --out sim --n 20000 --len 200 --seed 7`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output directory (created if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Number of sequences.
    #[arg(long, default_value_t = 20000)]
    n: usize,
    /// Sequence length in bp (overrides the grammar's `length`).
    #[arg(long = "len", value_name = "BP")]
    len: Option<usize>,
    /// Motif file (MEME, JASPAR, TRANSFAC or HOMER) the grammar names motifs from
    /// [default: the embedded JASPAR subset, data/motifs/sim_motifs.meme].
    #[arg(long, value_name = "FILE")]
    motifs: Option<PathBuf>,
    /// Grammar: a TOML file, or a built-in one by name: `default` (the embedded
    /// data/grammar.toml) or `null` (the default with every interaction set to zero: same
    /// motifs, pairs, spacings and main effects; for calibration). Write `./null` for a
    /// file of that name.
    #[arg(long, value_name = "FILE|default|null", default_value = "default")]
    grammar: String,
    /// Random seed; the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Learn an order-k Markov background from this FASTA instead of i.i.d. bases.
    #[arg(long, value_name = "FASTA")]
    background_from: Option<PathBuf>,
    /// Order of the learnt Markov background.
    #[arg(long, default_value_t = 3, value_name = "K")]
    markov_order: usize,
    /// Every planted instance must score as a motif hit at this p-value.
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, default_value_t = 1e-4, value_name = "P")]
    site_pvalue: f64,
    /// Overwrite a data set already in DIR.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    let t0 = Instant::now();
    let outputs = simulate::DATASET_FILES.map(|f| args.out.join(f));
    let grammar_file = Grammar::builtin(&args.grammar)
        .is_none()
        .then(|| PathBuf::from(&args.grammar));
    outputs
        .iter()
        .fold(super::Files::default(), |f, o| f.write(o))
        .read_opt(args.motifs.as_ref())
        .read_opt(grammar_file)
        .read_opt(args.background_from.as_ref())
        .check()?;
    if !args.force
        && let Some(old) = outputs.iter().find(|p| p.exists())
    {
        anyhow::bail!(
            "{} already holds a data set ({} exists); use --force to overwrite it",
            args.out.display(),
            old.display()
        );
    }
    let mut grammar = match Grammar::builtin(&args.grammar) {
        Some(g) => g,
        None => {
            let p = &args.grammar;
            let text = fs::read_to_string(p).with_context(|| p.to_string())?;
            Grammar::from_toml(&text, p)?
        }
    };
    if let Some(len) = args.len {
        grammar.length = len;
    }
    anyhow::ensure!(args.n > 0, "--n must be at least 1");
    anyhow::ensure!(grammar.length > 0, "--len must be at least 1");
    let motifs = match &args.motifs {
        Some(p) => motif::load(p, None)?.motifs,
        None => simulate::default_motifs()?,
    };
    anyhow::ensure!(
        args.site_pvalue > 0.0 && args.site_pvalue <= 1.0,
        "--site-pvalue must be in (0, 1]"
    );
    let background = match &args.background_from {
        Some(p) => {
            let recs = cisformer::io::fasta::read_all(p)?;
            Background::Markov(MarkovChain::learn(
                recs.iter().map(|r| r.seq.as_slice()),
                args.markov_order,
            )?)
        }
        None => Background::Iid { gc: grammar.gc },
    };
    // The scanner's own scoring (uniform background, FIMO's pseudocount), so every
    // planted site is a `scan` hit at --site-pvalue.
    let pssms = motif::uniform_pssms(&motifs);
    let site_p = args.site_pvalue;
    let filter =
        move |m: usize, inst: &[u8]| pssms[m].window_pvalue(inst).is_some_and(|p| p < site_p);
    let sim = Simulator::new(grammar, &motifs, background, &filter)?;
    let seqs = sim.generate(args.n, args.seed)?;
    fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create output directory {}", args.out.display()))?;
    simulate::write_dataset(&args.out, &sim, &seqs)?;
    simulate::write_summary(&args.out, &sim, &seqs, args.seed)?;
    let mut out = Output::create(args.out.join("motifs.meme"))?;
    std::io::Write::write_all(
        &mut out,
        motif::meme::to_string(&motifs, &motif::Background::uniform()).as_bytes(),
    )
    .map_err(|e| out.err(e))?;
    out.finish()?;
    if !g.quiet {
        for (o, name) in sim.grammar().outputs.iter().enumerate() {
            eprintln!(
                "simulate: {} sequences x {} bp, output '{name}': noise ceiling r = {:.3}",
                seqs.len(),
                sim.grammar().length,
                simulate::noise_ceiling(&seqs, o)
            );
        }
        eprintln!(
            "simulate: wrote {} in {:.2} s",
            args.out.display(),
            t0.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
