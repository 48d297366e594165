//! `cisformer man`: roff man pages for the command and every subcommand, from the clap definition.
use std::{io::Write, path::PathBuf};

use anyhow::Context;
use cisformer::io::output::Output;

use super::Global;

/// Write man pages (cisformer.1, cisformer-SUBCOMMAND.1) for the whole CLI.
///
/// Example: `cisformer man -o /usr/local/share/man/man1`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory for the pages (created if missing).
    #[arg(long, short, value_name = "DIR", default_value = ".")]
    out: PathBuf,
}

pub fn run(args: Args, g: &Global) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("could not create directory {}", args.out.display()))?;
    let mut cmd = super::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write_pages(&cmd, &args.out, &mut written)?;
    if !g.quiet {
        eprintln!(
            "cisformer man: wrote {} pages to {}",
            written.len(),
            args.out.display()
        );
    }
    Ok(())
}

/// Renders `cmd` and, recursively, its visible subcommands (named `parent-sub.1`).
fn write_pages(
    cmd: &clap::Command,
    dir: &std::path::Path,
    written: &mut Vec<PathBuf>,
) -> anyhow::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    let path = dir.join(man.get_filename());
    let mut buf = Vec::new();
    man.render(&mut buf)
        .with_context(|| format!("could not render {}", path.display()))?;
    let mut out = Output::create(&path)?;
    out.write_all(&buf).map_err(|e| out.err(e))?;
    out.finish()?;
    written.push(path);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}
