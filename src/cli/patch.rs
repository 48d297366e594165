//! `cisformer patch`: activation patching, one head at a time.
use std::path::PathBuf;

use anyhow::Context;
use cisformer::{
    io::fasta,
    validate::{self, AblationConfig, AblationSet, Readout, patch_heads, write_patch_tsv},
};

use super::{Global, write_to};

/// How much of the clean-vs-corrupted prediction difference each head carries.
///
/// Runs the corrupted sequences while replacing one head's output (before W_O) with its
/// output on the paired clean sequence, for every (layer, head). restored =
/// (mean f(patched) - mean f(corrupt)) / (mean f(clean) - mean f(corrupt)), written NA
/// when clean and corrupted means are equal. Pairs come from --corrupt (paired with
/// --fasta by order; lengths must match) or from --pair A,B: clean = the sequences
/// holding non-overlapping sites of both, corrupted = the same with every site of B
/// (or A, with --ablate a) replaced by bases of the sequence's own composition.
///
/// Example: `cisformer patch --model model --fasta seqs.fa --pair Spi1,Irf1 --motifs motifs.meme -o patch.tsv`
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("corruption").required(true).args(["corrupt", "pair"])))]
pub struct Args {
    /// Model directory written by `train`.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    #[command(flatten)]
    device: super::DeviceArg,
    /// Clean sequences (FASTA, plain or gzip).
    #[arg(long, value_name = "FA")]
    fasta: PathBuf,
    /// Corrupted sequences, paired with --fasta by order.
    #[arg(long, value_name = "FA")]
    corrupt: Option<PathBuf>,
    /// Motif pair `A,B` (names or IDs): corrupt by ablating one of its sites.
    #[arg(long, value_name = "A,B")]
    pair: Option<String>,
    /// Motifs for --pair [default: the embedded simulator motifs].
    #[arg(long, value_name = "FILE")]
    motifs: Option<PathBuf>,
    /// Which site of the pair to replace.
    #[arg(long, default_value = "b", value_parser = ["a", "b"])]
    ablate: String,
    /// Corrupted variants per clean sequence with --pair.
    #[arg(long, default_value_t = 1, value_name = "N")]
    draws: usize,
    /// At most this many clean sequences with --pair (the first, in input order).
    #[arg(long, default_value_t = 200, value_name = "N")]
    max_seqs: usize,
    /// Seed of the replacement bases.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Scanning p-value threshold (FIMO's, uniform background).
    #[arg(allow_negative_numbers = true, value_parser = super::finite_f64, long, default_value_t = 1e-4, value_name = "P")]
    thresh: f64,
    /// Which model output to measure (0-based).
    #[arg(long, default_value_t = 0)]
    output: usize,
    /// Sequence pairs per forward pass.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Output TSV: `layer head restored mean_clean mean_corrupt mean_patched n`.
    #[arg(short = 'o', long, value_name = "TSV", default_value = "-")]
    out: PathBuf,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    anyhow::ensure!(args.draws > 0, "--draws must be at least 1");
    let device = args.device.open()?;
    super::Files::default()
        .read_model(&args.model)
        .read(&args.fasta)
        .read_opt(args.corrupt.as_ref())
        .read_opt(args.motifs.as_ref())
        .write(&args.out)
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
    let (clean, corrupt) = match (&args.corrupt, &args.pair) {
        (Some(path), _) => {
            let other = fasta::read_all(path)?;
            anyhow::ensure!(
                other.len() == records.len(),
                "{} has {} records but {} has {}; corrupted sequences are paired with clean ones by order",
                path.display(),
                other.len(),
                args.fasta.display(),
                records.len()
            );
            for (i, (c, k)) in records.iter().zip(&other).enumerate() {
                anyhow::ensure!(
                    c.seq.len() == k.seq.len(),
                    "record {} ('{}' in {}, '{}' in {}): lengths differ ({} vs {} bp)",
                    i + 1,
                    c.name,
                    args.fasta.display(),
                    k.name,
                    path.display(),
                    c.seq.len(),
                    k.seq.len()
                );
            }
            (
                records.into_iter().map(|r| r.seq).collect::<Vec<_>>(),
                other.into_iter().map(|r| r.seq).collect::<Vec<_>>(),
            )
        }
        (None, Some(pair)) => {
            let motifs = super::load_motifs(args.motifs.as_deref())?;
            let names = cisformer::motif::display_names(&motifs);
            let (a, b) = pair
                .split_once(',')
                .with_context(|| format!("--pair '{pair}': expected two motifs as A,B"))?;
            let find = |m: &str| {
                validate::find_motif(&motifs, &names, m.trim()).with_context(|| {
                    format!("--pair: motif '{}' is not in the motif file", m.trim())
                })
            };
            let (ma, mb) = (find(a)?, find(b)?);
            let sites = cisformer::motif::scan_sites(&records, &motifs, args.thresh);
            let seqs: Vec<&[u8]> = records.iter().map(|r| r.seq.as_slice()).collect();
            let cfg = AblationConfig {
                draws: args.draws,
                seed: args.seed,
                max_seqs: args.max_seqs,
                ..AblationConfig::default()
            };
            let set = AblationSet::build(&seqs, &sites, ma, mb, &cfg);
            anyhow::ensure!(
                set.n_seqs() > 0,
                "{}: no sequence holds non-overlapping sites of both {} and {}",
                args.fasta.display(),
                names[ma],
                names[mb]
            );
            set.clean_corrupt_pairs(args.ablate == "b")
        }
        (None, None) => unreachable!("clap requires --corrupt or --pair"),
    };
    let bar = super::progress_bar(
        g,
        clean.len() as u64,
        "patch {elapsed_precise} {bar:30} {pos}/{len} pairs",
    );
    let rows = patch_heads(&model, readout, &clean, &corrupt, args.batch_size, &|n| {
        bar.inc(n as u64)
    })?;
    bar.finish_and_clear();
    write_to(&args.out, |w| write_patch_tsv(w, &rows))?;
    if !g.quiet {
        let best = rows
            .iter()
            .filter(|r| r.restored.is_finite())
            .max_by(|x, y| x.restored.total_cmp(&y.restored));
        match best {
            Some(r) => eprintln!(
                "patch: {} pairs; clean {:.4}, corrupted {:.4}; most restoring head L{}H{} ({:.3})",
                clean.len(),
                r.mean_clean,
                r.mean_corrupt,
                r.head.layer,
                r.head.head,
                r.restored
            ),
            None => eprintln!(
                "patch: {} pairs; clean and corrupted predictions are equal, restoration undefined",
                clean.len()
            ),
        }
    }
    Ok(())
}
