//! `cisformer interactions`: ranked TF-pair co-attention per head, against a
//! distance-matched null.
use std::path::PathBuf;

use cisformer::analysis::{
    Shard,
    interactions::{InteractionAccumulator, InteractionConfig, RankBy, Score, write_bedpe},
    run,
    stream::Pass,
};

use super::{
    Global,
    attention::{InputArgs, ensure_rereadable},
    write_to,
};

/// Rank pairs of motif sites by how much each attention head links them, and call the
/// pairs the model makes interact.
///
/// For every (layer, head) and every pair of non-overlapping sites in a sequence, the
/// score between their token spans (attention × gradient by default, --score) is compared
/// with span pairs of the same lengths and distance in the same sequence that are not
/// those motifs (`head_p`, a t-test over sequences). Every motif pair is also tested on the
/// model's output (`causal_p`): in each sequence and gap band (0-15, 16-63, 64+ bp) the
/// closest pair stands alone (other motif sites replaced), and what one site adds next to
/// the other is compared with what it adds when the other's bases are moved out of the
/// band (--causal); the best band's p is multiplied by the bands tested. A row's
/// `p_value` is the larger of the two, against effects above --min-effect-sd; `q_value`
/// is Benjamini–Hochberg.
/// With --shard i/N, writes a partial state for `cisformer merge` instead of the table.
///
/// Example: `cisformer interactions --model model --fasta seqs.fa --motifs motifs.meme -o interactions.tsv`
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    input: InputArgs,
    /// Output: the interaction table (TSV), or the partial state with --shard.
    #[arg(short = 'o', long, value_name = "TSV", default_value = "-")]
    out: PathBuf,
    /// Also write one row per motif pair (best head, ACAT-combined p-value).
    #[arg(long, value_name = "TSV")]
    per_pair: Option<PathBuf>,
    /// Also write the strongest individual site pairs as BEDPE (browser arcs).
    #[arg(long, value_name = "BEDPE")]
    bedpe: Option<PathBuf>,
    /// Leave out rows with fewer site pairs.
    #[arg(long, default_value_t = 5)]
    min_pairs: u64,
    /// Ignore site pairs further apart (gap in bp).
    #[arg(long, value_name = "BP")]
    max_distance: Option<u64>,
    /// Count pairs per cluster of near-identical motifs (column Pearson similarity >= T,
    /// as `motifs similar --cluster T`), so redundant motifs do not split evidence.
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, value_name = "T")]
    collapse_similar: Option<f64>,
    /// Only sequences whose prediction (first output) is in the top fraction F (of the
    /// whole FASTA, also with --shard); a first pass over the FASTA predicts them all.
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, value_name = "F")]
    active_only: Option<f64>,
    /// Distance-matched null span pairs per observed site pair.
    #[arg(long, default_value_t = 8)]
    null_per_pair: usize,
    /// What a head's link between two sites is: attention × gradient of the prediction
    /// with respect to it (the default: pairs the model uses, not merely sees; chosen by
    /// bench/recovery.sh, better on both seeds of its recipe; about 3× the work of
    /// attention), the co-attention alone, or both (rows of both kinds, each with its own
    /// q-values; the `score` column says which).
    #[arg(long, value_enum, default_value_t = ScoreArg::AttnGrad)]
    score: ScoreArg,
    /// Row order: joint (the default: the causal effect's strength, the end of its 95%
    /// interval nearest 0, then p_value), site (attention alone: the larger of the
    /// distance- and site-matched p-values), auc (effect size against the distance-matched
    /// null, ties by p), auc-lower (its one-sided 95% lower bound) or p-value
    /// (distance-matched only).
    #[arg(long, value_enum, default_value_t = RankArg::Joint)]
    rank_by: RankArg,
    /// The causal test behind p_value and q_value: `specific` (the default: what one site
    /// adds next to the other where it is, over the same bases moved elsewhere in the
    /// sequence; the output's saturation cancels), `epistasis` (the plain double mutant
    /// f(AB) − f(A) − f(B) + f(∅), which any non-additive output makes non-zero) or
    /// `cooperative` (the plain double mutant tested one-sided, > the margin: saturation and
    /// redundant sites make epistasis negative, cooperative binding makes it positive; it
    /// calls pairs whose cooperativity the model learnt from co-presence, which `specific`
    /// misses when the data never show the pair at a wrong spacing).
    #[arg(long, value_enum, default_value_t = super::CausalArg::Specific)]
    causal: super::CausalArg,
    /// The smallest causal effect that counts, in standard deviations of the model's
    /// predictions over the sequences tested: p-values test |effect| <= this margin, so
    /// q < 0.05 says the pair changes the output by more than it.
    #[arg(long, value_name = "SD", default_value_t = cisformer::validate::causal::DEFAULT_MIN_EFFECT_SD, allow_negative_numbers = true, value_parser = super::non_negative_f64)]
    min_effect_sd: f64,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum ScoreArg {
    Attention,
    AttnGrad,
    Both,
}

impl ScoreArg {
    fn scores(self) -> &'static [Score] {
        match self {
            ScoreArg::Attention => &[Score::Attention],
            ScoreArg::AttnGrad => &[Score::AttnGrad],
            ScoreArg::Both => &[Score::Attention, Score::AttnGrad],
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum RankArg {
    Joint,
    Site,
    Auc,
    AucLower,
    PValue,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    args.input
        .files()
        .write(&args.out)
        .write_opt(args.per_pair.as_ref())
        .write_opt(args.bedpe.as_ref())
        .check()?;
    cisformer::model_dir::check(&args.input.model)?;
    let input = args.input.load()?;
    let cfg = input.model.config().clone();
    let mut ic = InteractionConfig::new(cfg.n_layers, cfg.n_heads);
    ic.seed = args.input.seed;
    ic.min_pairs = args.min_pairs;
    ic.null_per_pair = args.null_per_pair;
    if let Some(d) = args.max_distance {
        ic.max_distance = d;
    }
    ic.motif_names = input.names.clone();
    ic.min_effect_sd = args.min_effect_sd;
    ic.causal = args.causal.kind();
    ic.rank_by = match args.rank_by {
        RankArg::Auc => RankBy::Auc,
        RankArg::AucLower => RankBy::AucLower,
        RankArg::PValue => RankBy::PValue,
        RankArg::Joint => RankBy::Joint,
        RankArg::Site => RankBy::Site,
    };
    if let Some(t) = args.collapse_similar {
        anyhow::ensure!(
            (-1.0..=1.0).contains(&t),
            "--collapse-similar must be in [-1, 1]"
        );
        let clusters = cisformer::motif::similar::cluster(&input.motifs, t, 5);
        ic.motif_names = cisformer::motif::similar::cluster_names(&clusters, &input.names);
        ic.cluster = Some(clusters);
    }
    let active = match args.active_only {
        Some(f) => {
            anyhow::ensure!(f > 0.0 && f <= 1.0, "--active-only must be in (0, 1]");
            ensure_rereadable(&input, "--active-only")?;
            Some(input.most_active(f, args.input.batch_size)?)
        }
        None => None,
    };
    let shard = args.input.shard.unwrap_or(Shard::ALL);
    let mut acc = InteractionAccumulator::new(ic);
    acc.set_shard(shard);
    let pass = Pass {
        shard,
        batch: args.input.batch_size,
        active: active.as_deref(),
    };
    let bar = super::progress_bar(
        g,
        0,
        "interactions {elapsed_precise} {spinner} {pos} sequences",
    );
    let scores = args.score.scores();
    let bedpe = args.bedpe.is_some();
    let mut run = run::interactions(&input, acc, pass, scores, bedpe, |n| bar.inc(n as u64))?;
    bar.finish_and_clear();
    let n = run.n;
    let fingerprint = args.input.fingerprint(run.fasta_digest, options(&args))?;
    run.acc.set_fingerprint(fingerprint);
    if args.input.shard.is_some() {
        run.acc.save_partial(&args.out)?;
        if !g.quiet {
            eprintln!(
                "interactions: shard {shard}: {n} sequences, partial state in {}",
                args.out.display()
            );
        }
        return Ok(());
    }
    let rows = run.acc.write_tables(&args.out, args.per_pair.as_deref())?;
    if let Some(p) = &args.bedpe {
        let pairs = run.acc.top_site_pairs();
        let name = |i: usize| run.kept_names.get(&i).cloned().unwrap_or_default();
        write_to(p, |w| write_bedpe(w, &pairs, &name, &input.names))?;
    }
    if !g.quiet {
        eprintln!("interactions: {n} sequences, {} rows", rows);
    }
    Ok(())
}

/// This command's settings that change a partial state or the merged table, by flag.
fn options(a: &Args) -> std::collections::BTreeMap<String, String> {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "none".into());
    [
        ("--min-pairs", a.min_pairs.to_string()),
        ("--max-distance", opt(a.max_distance.map(|d| d.to_string()))),
        (
            "--collapse-similar",
            opt(a.collapse_similar.map(|t| t.to_string())),
        ),
        ("--active-only", opt(a.active_only.map(|f| f.to_string()))),
        ("--null-per-pair", a.null_per_pair.to_string()),
        ("--score", format!("{:?}", a.score)),
        ("--rank-by", format!("{:?}", a.rank_by)),
        ("--causal", format!("{:?}", a.causal)),
        ("--min-effect-sd", a.min_effect_sd.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}
