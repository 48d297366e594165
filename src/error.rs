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

    /// Whether this error is a closed output pipe, which the CLI treats as a quiet exit.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == io::ErrorKind::BrokenPipe)
    }
}
