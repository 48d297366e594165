//! `cisformer validate`: causal checks of the top pairs of an interaction table (motif ablation,
//! spacing scan, head ablation) and one concordance table.
use std::path::PathBuf;

use anyhow::Context;

use cisformer::{
    io::fasta,
    validate::{
        self, AblationConfig, Readout, SpacingConfig, ValidateConfig, Verdict,
        write_concordance_tsv, write_spacing_tsv,
    },
};

use super::{Global, write_to};

/// Check whether the model really uses the pairs it co-attends.
///
/// For each of the --top best motif pairs of an interaction table (and each --pair): (a) motif ablation in
/// the sequences holding non-overlapping sites of both, i.e. every site of A, of B, or
/// both replaced by bases drawn from the sequence's own composition (--draws times),
/// giving the epistasis f(AB) - f(A) - f(B) + f(none) with a 95% bootstrap interval;
/// (b) a spacing scan: consensus instances implanted into background sequences at gaps
/// 0..=--spacing-max (by default up to the pair's largest gap in the input, at least 50)
/// in all four strand combinations (cooperativity curve and best spacing); (c) head ablation: the pair's best head(s) masked and the epistasis
/// recomputed. Verdict: confirmed (the table's q <= --alpha with a positive effect, whichever
/// score it holds: attention × gradient or co-attention, and
/// an epistasis interval excluding 0), attention-only, effect-only, neither, or untested
/// (no sequence holds both sites).
///
/// Example: `cisformer validate --model model --fasta seqs.fa --motifs motifs.meme
/// --interactions interactions.tsv --spacing-out spacing.tsv -o validation.tsv`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Model directory written by `train`.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    #[command(flatten)]
    device: super::DeviceArg,
    /// Sequences to ablate motifs in (FASTA, plain or gzip); also the background composition.
    #[arg(long, value_name = "FA")]
    fasta: PathBuf,
    /// Motifs (MEME, JASPAR, TRANSFAC, HOMER) [default: the embedded simulator motifs].
    #[arg(long, value_name = "FILE")]
    motifs: Option<PathBuf>,
    /// Interaction table written by `cisformer interactions` (best rows first).
    #[arg(long, value_name = "TSV")]
    interactions: PathBuf,
    /// How many distinct motif pairs to check, best first (0 with --pair: only those).
    #[arg(long, default_value_t = 10, value_name = "N")]
    top: usize,
    /// Also check this motif pair `A,B` (names or IDs), ranked or not (repeatable).
    #[arg(long, value_name = "A,B")]
    pair: Vec<String>,
    /// Background replacements per sequence.
    #[arg(long, default_value_t = 10, value_name = "N")]
    draws: usize,
    /// Seed of replacements, backgrounds and bootstrap.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Ablate in at most this many sequences per pair (the first, in input order).
    #[arg(long, default_value_t = 200, value_name = "N")]
    max_seqs: usize,
    /// Bootstrap resamples for the epistasis interval.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    bootstrap: usize,
    /// Mask this many of the pair's best heads (by the interaction table) together.
    #[arg(long, default_value_t = 1, value_name = "N")]
    heads_per_pair: usize,
    /// q-value threshold for co-attention evidence.
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, default_value_t = 0.05)]
    alpha: f64,
    /// Smallest |arrangement-specific epistasis| counted as effect evidence (besides its
    /// q-value), on the label scale.
    #[arg(long, default_value_t = 0.0, value_name = "E", allow_negative_numbers = true, value_parser = super::non_negative_f64)]
    min_epistasis: f64,
    /// The effect test's margin in standard deviations of the model's predictions over
    /// the pair's sequences: q-values test |effect| <= this margin (as in `interactions`).
    #[arg(long, value_name = "SD", default_value_t = cisformer::validate::causal::DEFAULT_MIN_EFFECT_SD, allow_negative_numbers = true, value_parser = super::non_negative_f64)]
    min_effect_sd: f64,
    /// The causal effect behind the effect evidence, as `interactions --causal`:
    /// specific, epistasis or cooperative.
    #[arg(long, value_enum, default_value_t = super::CausalArg::Specific)]
    causal: super::CausalArg,
    /// Background sequences of the spacing scan.
    #[arg(long, default_value_t = 32, value_name = "N")]
    spacing_n: usize,
    /// Their length [default: the median input length].
    #[arg(long, value_name = "BP")]
    spacing_len: Option<usize>,
    /// Largest gap (bp between the end of A and the start of B) of the spacing scan
    /// [default: 50, or the pair's largest gap in the input sequences when larger].
    #[arg(long, value_name = "BP")]
    spacing_max: Option<usize>,
    /// Gap step of the spacing scan.
    #[arg(long, default_value_t = 2, value_name = "BP")]
    spacing_step: usize,
    /// Skip the spacing scan.
    #[arg(long)]
    no_spacing: bool,
    /// Also write the spacing curves (long format, for `report --spacing`).
    #[arg(long, value_name = "TSV")]
    spacing_out: Option<PathBuf>,
    /// Which model output to test (0-based).
    #[arg(long, default_value_t = 0)]
    output: usize,
    /// Scanning p-value threshold (FIMO's, uniform background).
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, default_value_t = 1e-4, value_name = "P")]
    thresh: f64,
    /// Sites from a FIMO-style TSV (`cisformer scan` or FIMO --text) instead of scanning, so
    /// the ablations hit the same sites `interactions --sites` paired.
    #[arg(long, value_name = "TSV")]
    sites: Option<PathBuf>,
    /// Sequences per forward pass.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Output: the concordance table (TSV).
    #[arg(short = 'o', long, value_name = "TSV", default_value = "-")]
    out: PathBuf,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.top > 0 || !args.pair.is_empty(),
        "--top must be at least 1 (or name the pairs with --pair)"
    );
    anyhow::ensure!(args.draws > 0, "--draws must be at least 1");
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    anyhow::ensure!(args.spacing_step > 0, "--spacing-step must be at least 1");
    anyhow::ensure!(
        args.spacing_out.is_none() || !args.no_spacing,
        "--spacing-out needs the spacing scan (drop --no-spacing)"
    );
    let device = args.device.open()?;
    super::Files::default()
        .read_model(&args.model)
        .read(&args.fasta)
        .read_opt(args.motifs.as_ref())
        .read(&args.interactions)
        .read_opt(args.sites.as_ref())
        .write(&args.out)
        .write_opt(args.spacing_out.as_ref())
        .check()?;
    let (model, meta) = cisformer::model_dir::load(&args.model)?;
    let model = model.into_device(&device)?;
    let readout = Readout::new(&model, &meta, args.output)?;
    let records = fasta::read_all(&args.fasta)?;
    anyhow::ensure!(
        !records.is_empty(),
        "{}: no FASTA records",
        args.fasta.display()
    );
    let motifs = super::load_motifs(args.motifs.as_deref())?;
    let names = cisformer::motif::display_names(&motifs);
    let mut extra = Vec::with_capacity(args.pair.len());
    for p in &args.pair {
        let (a, b) = p
            .split_once(',')
            .with_context(|| format!("--pair '{p}': expected two motifs as A,B"))?;
        let find = |m: &str| {
            validate::find_motif(&motifs, &names, m.trim()).with_context(|| {
                format!(
                    "--pair '{p}': motif '{}' is not in the motif file",
                    m.trim()
                )
            })
        };
        extra.push((find(a)?, find(b)?));
    }
    let cands = validate::read_candidates(&args.interactions, &motifs, &names, args.top, &extra)?;
    anyhow::ensure!(
        !cands.is_empty(),
        "{}: the interaction table has no rows",
        args.interactions.display()
    );
    let sites = match &args.sites {
        Some(p) => {
            let seqs: Vec<(String, usize)> = records
                .iter()
                .map(|r| (r.name.clone(), r.seq.len()))
                .collect();
            cisformer::motif::fimo::read_sites(p, &seqs, &motifs)?
        }
        None => cisformer::motif::scan_sites(&records, &motifs, args.thresh),
    };
    let seqs: Vec<&[u8]> = records.iter().map(|r| r.seq.as_slice()).collect();
    let mut lens: Vec<usize> = seqs.iter().map(|s| s.len()).collect();
    lens.sort_unstable();
    let spacing = (!args.no_spacing).then(|| SpacingConfig {
        n: args.spacing_n,
        len: args.spacing_len.unwrap_or(lens[lens.len() / 2]),
        max_gap: args.spacing_max.unwrap_or(50),
        step: args.spacing_step,
        cover_observed: args.spacing_max.is_none(),
        seed: args.seed,
        composition: validate::composition(seqs.iter().copied()),
    });
    let cfg = ValidateConfig {
        ablation: AblationConfig {
            draws: args.draws,
            seed: args.seed,
            max_seqs: args.max_seqs,
            bootstrap: args.bootstrap,
            background: None,
        },
        spacing,
        heads_per_pair: args.heads_per_pair,
        alpha: args.alpha,
        min_epistasis: args.min_epistasis,
        min_effect_sd: args.min_effect_sd,
        causal: args.causal.kind(),
        batch: args.batch_size,
    };
    let bar = super::progress_bar(
        g,
        cands.len() as u64,
        "validate {elapsed_precise} {bar:30} {pos}/{len} pairs {msg}",
    );
    let mut rows = Vec::with_capacity(cands.len());
    let mut curves = Vec::with_capacity(cands.len());
    for c in &cands {
        bar.set_message(format!("{} + {}", c.name_a, c.name_b));
        let (row, curve) =
            validate::validate_pair(&model, readout, &seqs, &sites, &motifs, c, &cfg)?;
        rows.push(row);
        curves.push(curve);
        bar.inc(1);
    }
    bar.finish_and_clear();
    validate::decide(&mut rows, &cfg);
    write_to(&args.out, |w| write_concordance_tsv(w, &rows, &cfg))?;
    if let Some(p) = &args.spacing_out {
        let pairs: Vec<_> = cands.iter().zip(&curves).collect();
        write_to(p, |w| write_spacing_tsv(w, &pairs))?;
    }
    if !g.quiet {
        let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
        let (rho, n) = validate::spearman(&rows);
        eprintln!(
            "validate: {} pairs: {} confirmed, {} attention-only, {} effect-only, {} neither, {} untested; \
             Spearman(link effect, epistasis) = {} over {n}",
            rows.len(),
            count(Verdict::Confirmed),
            count(Verdict::AttentionOnly),
            count(Verdict::EffectOnly),
            count(Verdict::Neither),
            count(Verdict::Untested),
            rho.map_or("NA".into(), |r| format!("{r:.3}")),
        );
    }
    Ok(())
}
