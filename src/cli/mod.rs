//! Command-line front end: argument definitions, dispatch, progress and error reporting.
//!
//! One file per subcommand. This is the only layer that prints to the terminal,
//! uses `anyhow`, or draws progress bars.

mod baseline;
mod completions;
mod demo;
mod extract;
mod index;
mod motifs;
mod scan;
mod simulate;
mod man;
mod report;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

/// Regulatory genomics with inspectable Transformer attention.
#[derive(Parser, Debug)]
#[command(name = "cisformer", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

/// Options every subcommand accepts.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Worker threads (default: all cores). Results do not depend on this.
    #[arg(short = 'j', long = "threads", global = true, value_name = "N")]
    pub threads: Option<usize>,
    /// Only print errors (no progress bars or summaries).
    #[arg(short = 'q', long, global = true)]
    pub quiet: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    Baseline(Box<baseline::Args>),
    Completions(completions::Args),
    Demo(demo::Args),
    Extract(extract::Args),
    Index(index::Args),
    Motifs(motifs::Args),
    Scan(scan::Args),
    Simulate(simulate::Args),
    Man(man::Args),
    Report(Box<report::Args>),
}

/// Parses arguments, runs the command and turns the outcome into an exit code:
/// 0 success (or a closed output pipe), 1 runtime error, 2 usage error.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cisformer: error: {}", render(&e));
            ExitCode::from(1)
        }
    }
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    if let Some(n) = cli.global.threads {
        anyhow::ensure!(n > 0, "--threads must be at least 1");
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("could not start the thread pool")?;
    }
    let g = &cli.global;
    match cli.command {
        Command::Baseline(a) => baseline::run(*a, g),
        Command::Completions(a) => completions::run(a, g),
        Command::Demo(a) => demo::run(a, g),
        Command::Extract(a) => extract::run(a, g),
        Command::Index(a) => index::run(a, g),
        Command::Motifs(a) => motifs::run(a, g),
        Command::Scan(a) => scan::run(a, g),
        Command::Simulate(a) => simulate::run(a, g),
        Command::Man(a) => man::run(a, g),
        Command::Report(a) => report::run(*a, g),
    }
}

/// Joins an error chain, skipping causes whose text the previous message already shows
/// (library errors embed their source in their own message).
fn render(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        if !out.contains(&s) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&s);
        }
    }
    out
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<cisformer::Error>()
                .is_some_and(cisformer::Error::is_broken_pipe)
    })
}

/// The clap command, for completions and man pages.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        super::command().debug_assert();
    }
}
