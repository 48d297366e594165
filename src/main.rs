//! The `cisformer` binary: parse, dispatch, map errors to exit codes.
mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
