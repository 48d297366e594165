//! `cisformer completions SHELL`: shell completion scripts generated from the CLI definition.
use std::io::Write;

use clap_complete::Shell;

use super::Global;

/// Print a completion script for a shell.
///
/// Example: `cisformer completions bash > /etc/bash_completion.d/cisformer`
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Shell to generate completions for.
    shell: Shell,
}

pub fn run(args: Args, _g: &Global) -> anyhow::Result<()> {
    let mut cmd = super::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "cisformer", &mut buf);
    let mut out = std::io::stdout().lock();
    out.write_all(&buf)?;
    out.flush()?;
    Ok(())
}
