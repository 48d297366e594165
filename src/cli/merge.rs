//! `cisformer merge`: combine the partial states of a sharded `interactions` or
//! `heads` run into the table the unsharded run writes, byte for byte.
use std::path::PathBuf;

use cisformer::analysis::{self, PartialFile};

use super::Global;

/// Merge `--shard i/N` partial results (all N parts) into the final table.
///
/// Example: `cisformer merge part1.json part2.json -o interactions.tsv`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Partial state files written with --shard.
    #[arg(required = true, value_name = "PART")]
    parts: Vec<PathBuf>,
    /// Output table (`-` = standard output).
    #[arg(short = 'o', long, value_name = "TSV", default_value = "-")]
    out: PathBuf,
    /// Interactions only: also write the per-pair summary.
    #[arg(long, value_name = "TSV")]
    per_pair: Option<PathBuf>,
    /// Heads only: also write the per-head, per-motif focus table.
    #[arg(long, value_name = "TSV")]
    focus: Option<PathBuf>,
    /// Merge an incomplete set of shards anyway (the table then covers only them).
    #[arg(long)]
    allow_partial: bool,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    args.parts
        .iter()
        .fold(super::Files::default(), |f, p| f.read(p))
        .write(&args.out)
        .write_opt(args.per_pair.as_ref())
        .write_opt(args.focus.as_ref())
        .check()?;
    let mut parts = args
        .parts
        .iter()
        .map(|p| anyhow::Ok((p, analysis::load_partial(p)?)));
    let (first_path, first) = parts.next().expect("clap requires one part")?;
    let first_print = first.fingerprint().clone();
    // Every part must come from the same model, sequences and options as the first: the
    // sums of different runs add up to a table of neither.
    let same_run = |p: &std::path::Path, part: &PartialFile| match first_print
        .difference(part.fingerprint())
    {
        None => Ok(()),
        Some(d) => Err(anyhow::anyhow!(
            "{} and {} are not shards of the same run: {d}",
            first_path.display(),
            p.display()
        )),
    };
    let parts = parts.map(|r| {
        let (p, part) = r?;
        same_run(p, &part)?;
        anyhow::Ok((p, part))
    });
    let complete = match first {
        PartialFile::Interactions(mut acc) => {
            for part in parts {
                match part? {
                    (_, PartialFile::Interactions(o)) => acc.merge(o)?,
                    (p, _) => anyhow::bail!(
                        "{}: a heads partial among interactions partials",
                        p.display()
                    ),
                }
            }
            let complete = acc.is_complete();
            check_complete(complete, args.allow_partial)?;
            acc.write_tables(&args.out, args.per_pair.as_deref())?;
            complete
        }
        PartialFile::Heads(mut acc) => {
            for part in parts {
                match part? {
                    (_, PartialFile::Heads(o)) => acc.merge(o)?,
                    (p, _) => anyhow::bail!(
                        "{}: an interactions partial among heads partials",
                        p.display()
                    ),
                }
            }
            let complete = acc.is_complete();
            check_complete(complete, args.allow_partial)?;
            acc.write_tables(&args.out, args.focus.as_deref())?;
            complete
        }
    };
    if !g.quiet {
        eprintln!(
            "merge: {} parts (starting with {}){}",
            args.parts.len(),
            first_path.display(),
            if complete { "" } else { ", incomplete" }
        );
    }
    Ok(())
}

fn check_complete(complete: bool, allow: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        complete || allow,
        "the parts do not cover every shard i/N once (use --allow-partial to merge them anyway)"
    );
    Ok(())
}
