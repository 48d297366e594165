//! Command-line front end: argument definitions, dispatch, progress and error reporting.
//!
//! One file per subcommand. This is the only layer that prints to the terminal,
//! uses `anyhow`, or draws progress bars.

mod attention;
mod baseline;
mod completions;
mod demo;
mod evaluate;
mod extract;
mod finetune;
mod forgetting;
mod heads;
mod index;
mod info;
mod interactions;
mod labelled;
mod man;
mod merge;
mod motifs;
mod patch;
mod predict;
mod prune;
mod report;
mod scan;
mod simulate;
mod train;
mod validate;

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
    #[arg(short = 'j', long = "threads", global = true, value_name = "N", value_parser = thread_count)]
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
    Evaluate(evaluate::Args),
    Info(info::Args),
    Predict(predict::Args),
    Extract(extract::Args),
    Heads(Box<heads::Args>),
    Interactions(Box<interactions::Args>),
    Index(index::Args),
    Motifs(motifs::Args),
    Scan(scan::Args),
    Simulate(simulate::Args),
    Train(Box<train::Args>),
    Man(man::Args),
    Merge(merge::Args),
    Report(Box<report::Args>),
    Validate(Box<validate::Args>),
    Patch(Box<patch::Args>),
    Prune(Box<prune::Args>),
    Finetune(Box<finetune::Args>),
    Forgetting(forgetting::Args),
}

/// Parses arguments, runs the command and turns the outcome into an exit code:
/// 0 success (or a closed output pipe), 1 runtime error, 2 usage error.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    if let Some(n) = cli.global.threads {
        // SAFETY: no other thread exists yet (the Ctrl-C handler's starts below).
        unsafe { limit_tensor_threads(n) };
    }
    cisformer::alloc::retain_freed_memory();
    // Ctrl-C or SIGTERM: delete the temporary files of unfinished outputs (an error would
    // have dropped them; a signal's default action leaves them behind), then exit 130 as
    // a shell reports an interrupted command.
    let _ = ctrlc::set_handler(|| {
        cisformer::io::output::remove_pending_on_interrupt();
        std::process::exit(130);
    });
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cisformer: error: {}", render(&e));
            ExitCode::from(1)
        }
    }
}

/// Sizes the tensor library's own pools (matrix products, element-wise ops), which it
/// takes from these variables rather than from rayon's global pool: without them `-j 1`
/// still ran its kernels on every core, spinning against the other processes of a
/// pipeline.
///
/// # Safety
/// Changes the environment: no other thread may read or write it meanwhile.
unsafe fn limit_tensor_threads(n: usize) {
    unsafe {
        std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
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
    run_command(cli.command, &cli.global)
}

/// Runs one parsed subcommand (also how `demo` chains the others).
fn run_command(command: Command, g: &Global) -> anyhow::Result<()> {
    match command {
        Command::Baseline(a) => baseline::run(*a, g),
        Command::Completions(a) => completions::run(a, g),
        Command::Demo(a) => demo::run(a, g),
        Command::Evaluate(a) => evaluate::run(a, g),
        Command::Info(a) => info::run(a, g),
        Command::Predict(a) => predict::run(a, g),
        Command::Extract(a) => extract::run(a, g),
        Command::Heads(a) => heads::run(*a, g),
        Command::Interactions(a) => interactions::run(*a, g),
        Command::Index(a) => index::run(a, g),
        Command::Motifs(a) => motifs::run(a, g),
        Command::Scan(a) => scan::run(a, g),
        Command::Simulate(a) => simulate::run(a, g),
        Command::Train(a) => train::run(*a, g),
        Command::Man(a) => man::run(a, g),
        Command::Merge(a) => merge::run(a, g),
        Command::Report(a) => report::run(*a, g),
        Command::Validate(a) => validate::run(*a, g),
        Command::Patch(a) => patch::run(*a, g),
        Command::Prune(a) => prune::run(*a, g),
        Command::Finetune(a) => finetune::run(*a, g),
        Command::Forgetting(a) => forgetting::run(a, g),
    }
}

/// Joins an error chain, skipping causes whose text the previous message already shows
/// (library errors embed their source in their own message).
fn render(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let s = cause.to_string();
        let s = strip_backtrace(&s);
        if !out.contains(s) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(s);
        }
    }
    out
}

/// A message without the backtrace that candle appends to its errors when
/// `RUST_BACKTRACE` is set: dozens of frames of the tensor library say nothing about
/// which input was wrong, and the message before them does.
fn strip_backtrace(s: &str) -> &str {
    match s.find("\n") {
        Some(i) if s[i..].lines().any(|l| l.trim_start().starts_with("0: ")) => s[..i].trim_end(),
        _ => s,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<cisformer::Error>()
                .is_some_and(cisformer::Error::is_broken_pipe)
    })
}

/// A progress bar on stderr; hidden with --quiet. When stderr is not a terminal (pipelines,
/// nohup) the bar becomes a plain line every [`log_interval`] instead, so that a long step
/// is not silent for minutes. `len` 0 draws a spinner.
pub(crate) fn progress_bar(g: &Global, len: u64, template: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if g.quiet {
        return indicatif::ProgressBar::hidden();
    }
    if !std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::with_draw_target(
            (len > 0).then_some(len),
            indicatif::ProgressDrawTarget::term_like_with_hz(Box::new(LogLines::new()), 1),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(&log_template(template)) {
            bar.set_style(style);
        }
        return bar;
    }
    terminal_bar(g, len, template)
}

/// A progress bar on a terminal only: for steps that print their own lines to logs (train's
/// epochs).
pub(crate) fn terminal_bar(g: &Global, len: u64, template: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if g.quiet || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = if len == 0 {
        indicatif::ProgressBar::new_spinner()
    } else {
        indicatif::ProgressBar::new(len)
    };
    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Seconds between progress lines in logs: `CISFORMER_LOG_INTERVAL`, else 30.
fn log_interval() -> std::time::Duration {
    let secs = std::env::var("CISFORMER_LOG_INTERVAL")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .unwrap_or(30.0);
    std::time::Duration::from_secs_f64(secs)
}

/// A bar's template for logs: no bar or spinner glyphs, prefixed with the program name.
fn log_template(template: &str) -> String {
    let kept: Vec<&str> = template
        .split_whitespace()
        .filter(|w| {
            !["{bar", "{wide_bar", "{spinner"]
                .iter()
                .any(|g| w.contains(g))
        })
        .collect();
    format!("cisformer {}", kept.join(" "))
}

/// indicatif's drawing surface for a log: each redraw (the text written up to a flush)
/// becomes one line, at most one per [`log_interval`]; cursor movement is ignored.
#[derive(Debug)]
struct LogLines {
    every: std::time::Duration,
    /// The redraw being written, and when the last line was printed.
    state: std::sync::Mutex<(String, Option<std::time::Instant>)>,
}

impl LogLines {
    fn new() -> LogLines {
        LogLines {
            every: log_interval(),
            state: std::sync::Mutex::new((String::new(), None)),
        }
    }
}

impl indicatif::TermLike for LogLines {
    fn width(&self) -> u16 {
        200
    }
    fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
        Ok(())
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.write_str(s)?;
        self.flush()
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.0.push_str(s);
        Ok(())
    }
    fn clear_line(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn flush(&self) -> std::io::Result<()> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let line = std::mem::take(&mut st.0);
        let line = line.trim_matches(|c: char| c.is_whitespace());
        let now = std::time::Instant::now();
        if line.is_empty() || st.1.is_some_and(|t| now.duration_since(t) < self.every) {
            return Ok(());
        }
        st.1 = Some(now);
        use std::io::Write;
        writeln!(std::io::stderr(), "{line}")
    }
}

/// Writes one output file atomically.
pub(crate) fn write_to(
    path: &std::path::Path,
    f: impl FnOnce(&mut cisformer::io::output::Output) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    Ok(cisformer::io::output::write_file(path, f)?)
}

/// The files a command reads and writes, checked before any work so that no output
/// replaces an input (`-o genome.fa -f genome.fa`) or another output.
#[derive(Default)]
pub(crate) struct Files {
    inputs: Vec<std::path::PathBuf>,
    outputs: Vec<std::path::PathBuf>,
}

impl Files {
    pub(crate) fn read(mut self, p: impl AsRef<std::path::Path>) -> Self {
        self.inputs.push(p.as_ref().to_path_buf());
        self
    }

    pub(crate) fn read_opt(self, p: Option<impl AsRef<std::path::Path>>) -> Self {
        match p {
            Some(p) => self.read(p),
            None => self,
        }
    }

    /// The files of a model folder a command using the model reads.
    pub(crate) fn read_model(mut self, dir: impl AsRef<std::path::Path>) -> Self {
        self.inputs
            .extend(cisformer::model_dir::inputs(dir.as_ref()));
        self
    }

    pub(crate) fn write(mut self, p: impl AsRef<std::path::Path>) -> Self {
        self.outputs.push(p.as_ref().to_path_buf());
        self
    }

    pub(crate) fn write_opt(self, p: Option<impl AsRef<std::path::Path>>) -> Self {
        match p {
            Some(p) => self.write(p),
            None => self,
        }
    }

    /// Every file the command may write into a model folder.
    pub(crate) fn write_model(mut self, dir: impl AsRef<std::path::Path>) -> Self {
        self.outputs
            .extend(cisformer::model_dir::files(dir.as_ref()));
        self
    }

    /// Refuses an output that is one of the inputs, naming both.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        cisformer::io::output::check_outputs(
            self.inputs.iter().map(|p| p.as_path()),
            self.outputs.iter().map(|p| p.as_path()),
        )?;
        Ok(())
    }
}

impl attention::InputArgs {
    /// The files an attention analysis reads.
    pub(crate) fn files(&self) -> Files {
        Files::default()
            .read_model(&self.model)
            .read(&self.fasta)
            .read_opt(self.motifs.as_ref())
            .read_opt(self.sites.as_ref())
    }

    /// What a run over these inputs is computed from, for `merge` to compare: the model's
    /// weights, `fasta` (the digest of the records read), these options and the command's
    /// own `options`.
    pub(crate) fn fingerprint(
        &self,
        fasta: String,
        mut options: std::collections::BTreeMap<String, String>,
    ) -> anyhow::Result<cisformer::analysis::Fingerprint> {
        use cisformer::io::digest;
        let mut model = digest::Digest::default();
        model.file(&self.model.join("config.json"))?;
        model.file(&self.model.join("model.safetensors"))?;
        let file_or = |p: &Option<std::path::PathBuf>, none: &str| match p {
            Some(p) => digest::of_file(p),
            None => Ok(none.to_string()),
        };
        options.insert("--motifs".into(), file_or(&self.motifs, "embedded")?);
        options.insert("--sites".into(), file_or(&self.sites, "none")?);
        options.insert("--thresh".into(), self.thresh.to_string());
        options.insert("--seed".into(), self.seed.to_string());
        Ok(cisformer::analysis::Fingerprint {
            model: model.hex(),
            fasta,
            options,
        })
    }
}

/// `--motifs`, or the simulator's embedded motifs when it is not given.
pub(crate) fn load_motifs(
    path: Option<&std::path::Path>,
) -> anyhow::Result<Vec<cisformer::motif::Motif>> {
    Ok(match path {
        Some(p) => cisformer::motif::load(p, None)?.motifs,
        None => cisformer::simulate::default_motifs()?,
    })
}

/// `--average`: which passes a prediction averages ([`cisformer::predict::Averaging`]).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct AveragingArgs {
    /// Passes averaged per prediction: `all` = both strands (models trained with RC
    /// augmentation) × each offset to the pooling grid (models without absolute positions;
    /// 8 passes for the default preset), `strands` = both strands only, `none` = one pass.
    #[arg(long, value_enum, default_value_t = AverageArg::All)]
    average: AverageArg,
    /// Kept for old scripts: both strands are averaged by default (see --average).
    #[arg(long, hide = true)]
    rc_average: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum AverageArg {
    All,
    Strands,
    None,
}

impl AveragingArgs {
    pub(crate) fn averaging(&self) -> cisformer::predict::Averaging {
        use cisformer::predict::Averaging;
        match self.average {
            AverageArg::All => Averaging::All,
            AverageArg::Strands => Averaging::Strands,
            AverageArg::None if self.rc_average => Averaging::Strands,
            AverageArg::None => Averaging::None,
        }
    }
}

/// `--causal` of `interactions` and `validate`: which in-silico effect the causal test
/// tests ([`cisformer::validate::causal::CausalKind`]).
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CausalArg {
    Specific,
    Epistasis,
    Cooperative,
}

impl CausalArg {
    pub(crate) fn kind(self) -> cisformer::validate::causal::CausalKind {
        use cisformer::validate::causal::CausalKind;
        match self {
            CausalArg::Specific => CausalKind::Specific,
            CausalArg::Epistasis => CausalKind::Epistasis,
            CausalArg::Cooperative => CausalKind::Cooperative,
        }
    }
}

/// `--device`, shared by every command that runs a model.
#[derive(clap::Args, Debug, Clone)]
pub struct DeviceArg {
    /// Compute device: `cuda` (an NVIDIA GPU) needs a build with the `cuda` feature.
    #[arg(long = "device", default_value = "cpu", value_parser = ["cpu", "cuda"])]
    name: String,
}

impl DeviceArg {
    /// The CPU, or the first CUDA GPU in a build with the `cuda` feature.
    pub(crate) fn open(&self) -> anyhow::Result<candle_core::Device> {
        match self.name.as_str() {
            "cpu" => Ok(candle_core::Device::Cpu),
            #[cfg(feature = "cuda")]
            "cuda" => candle_core::Device::new_cuda(0)
                .map_err(|e| anyhow::anyhow!("--device cuda: no usable CUDA GPU: {e}")),
            name => anyhow::bail!(
                "--device {name}: this cisformer was built without CUDA support \
                 (build it with `--features cuda`, see docs/gpu.md); use --device cpu"
            ),
        }
    }
}

/// Most worker threads `-j` accepts: far above any machine's cores, far below what
/// spawning exhausts (a mistyped `-j 99999999999` would otherwise start threads until
/// the system kills the process).
pub(crate) const MAX_THREADS: usize = 1024;

/// `-j`: a thread count in 1..=[`MAX_THREADS`], refused at parsing otherwise.
fn thread_count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if (1..=MAX_THREADS as u64).contains(&n) => Ok(n as usize),
        Ok(n) => Err(format!("must be between 1 and {MAX_THREADS}, got {n}")),
        Err(e) => Err(format!("not a thread count: {e}")),
    }
}

/// A finite number: NaN and infinity are refused at parsing, since every comparison
/// with NaN is false and a NaN threshold would silently pass or drop everything.
pub(crate) fn finite_f64(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(v) => Err(format!("must be a finite number, got {v}")),
        Err(e) => Err(format!("not a number: {e}")),
    }
}

/// A finite number >= 0 (NaN and infinity are refused, not taken as thresholds).
pub(crate) fn non_negative_f64(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(v) => Err(format!("must be a finite number >= 0, got {v}")),
        Err(e) => Err(format!("not a number: {e}")),
    }
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

    #[test]
    fn threads_size_the_tensor_library_too() {
        // SAFETY: the only test of this binary that touches the environment.
        unsafe { super::limit_tensor_threads(3) };
        assert_eq!(candle_core::utils::get_num_threads(), 3);
    }
}
