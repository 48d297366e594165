//! The library's error type: every failure names what was being read and why.
use std::{io, path::Path};

/// Result alias used across the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error from reading, parsing or validating input, or from computing on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operating-system error while touching `path`.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    /// Malformed content at a known place in a file.
    #[error("{path}:{line}: {msg}")]
    Parse {
        path: String,
        line: u64,
        msg: String,
    },
    /// A JSON file (model configuration, metadata, optimiser state) that does not parse or
    /// lacks a field; serde's error, which knows the line and column, is the source.
    #[error("{path}: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    /// A stored tensor whose shape is not the one the model's configuration implies.
    #[error(
        "{path}: tensor '{tensor}' has shape {found:?}, but {expected_by} expects {expected:?}"
    )]
    Shape {
        /// The weights file.
        path: String,
        tensor: String,
        found: Vec<usize>,
        expected: Vec<usize>,
        /// The configuration that implies `expected`, with the settings that set it.
        expected_by: String,
    },
    /// A tensor operation (or reading or writing tensors) failed; `context` names the file or
    /// the step, and the tensor library's error is the source.
    #[error("{context}: {source}")]
    Tensor {
        context: String,
        #[source]
        source: Box<candle_core::Error>,
    },
    /// Drawing a chart or rendering the report's HTML failed; `context` names the step,
    /// and the drawing or template library's error is the source.
    #[error("{context}: {source}")]
    Render {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file written by another version of cisformer (a model, a training checkpoint, a
    /// partial analysis state): the format version it has and the one this build reads.
    #[error(
        "{path}: {what} format version {found} is not supported (this cisformer reads version {supported})"
    )]
    Version {
        path: String,
        what: &'static str,
        /// The version in the file, or `missing`.
        found: String,
        supported: u32,
    },
    /// Files that do not belong together: a checkpoint of other settings or data, partial
    /// states of different runs, weights that do not match their configuration.
    #[error("{path}: {msg}")]
    Incompatible { path: String, msg: String },
    /// A head asked for (to mask, capture, patch, prune, plot) that the model does not have.
    #[error("head L{layer}H{head} is outside the model ({n_layers} layers × {n_heads} heads)")]
    NoSuchHead {
        layer: usize,
        head: usize,
        n_layers: usize,
        n_heads: usize,
    },
    /// A model output asked for that the model does not have.
    #[error("output {output} does not exist (the model has {n_outputs} output(s))")]
    NoSuchOutput { output: usize, n_outputs: usize },
    /// Well-formed input that cannot be used as asked (unknown contig, bad option value, ...).
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Wraps an `io::Error` with the path it concerns.
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// A parse error at `line` (1-based) of `path`.
    pub fn parse(path: impl AsRef<Path>, line: u64, msg: impl Into<String>) -> Self {
        Error::Parse {
            path: path.as_ref().display().to_string(),
            line,
            msg: msg.into(),
        }
    }

    /// A JSON error in `path`.
    pub fn json(path: impl AsRef<Path>, source: serde_json::Error) -> Self {
        Error::Json {
            path: path.as_ref().display().to_string(),
            source,
        }
    }

    /// A file of `what` (e.g. "model") with format version `found` where `supported` is read.
    pub fn version(
        path: impl AsRef<Path>,
        what: &'static str,
        found: Option<impl std::fmt::Display>,
        supported: u32,
    ) -> Self {
        Error::Version {
            path: path.as_ref().display().to_string(),
            what,
            found: found.map_or("missing".into(), |v| v.to_string()),
            supported,
        }
    }

    /// A TOML file (`text`, read from `origin`) that does not parse or has a field of the
    /// wrong kind: a parse error at the line of the error's span.
    pub fn toml(origin: impl AsRef<Path>, text: &str, e: &toml::de::Error) -> Self {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() as u64 + 1)
            .unwrap_or(1);
        Error::parse(origin, line, e.message().to_string())
    }

    /// `path` does not belong with the rest of the input, for the reason `msg`.
    pub fn incompatible(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Incompatible {
            path: path.as_ref().display().to_string(),
            msg: msg.into(),
        }
    }

    /// A drawing or template error, with the step it happened in.
    pub fn render(
        context: impl std::fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Render {
            context: context.to_string(),
            source: Box::new(source),
        }
    }

    /// A tensor-library error, with the file or step it happened in.
    pub fn tensor(context: impl std::fmt::Display, source: candle_core::Error) -> Self {
        Error::Tensor {
            context: context.to_string(),
            source: Box::new(source),
        }
    }

    /// Whether this error is a closed output pipe, which the CLI treats as a quiet exit.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}
