//! The library's error type.
//!
//! Every variant names what was wrong, where (file, line, key or index) and what to do about it,
//! because the people reading these messages are running long experiments and need to fix the
//! input, not the code.

use std::path::PathBuf;

/// Errors raised while reading experiments and data, training and writing results.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The experiment file could not be parsed or contains an invalid value.
    #[error("invalid experiment file {path}: {message}")]
    Experiment { path: PathBuf, message: String },

    /// A setting has a value outside its allowed range.
    #[error("invalid setting `{key}` = {value}: {expected}")]
    Setting {
        key: String,
        value: String,
        expected: String,
    },

    /// A data file is missing, unreadable or malformed.
    #[error("invalid data in {path}{}: {message}", line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Data {
        path: PathBuf,
        line: Option<usize>,
        message: String,
    },

    /// A dataset named by the experiment is not present under the data root.
    #[error("dataset `{name}` not found at {path}. {hint}")]
    DatasetMissing {
        name: String,
        path: PathBuf,
        hint: String,
    },

    /// A download failed, or the downloaded file did not match its recorded SHA-256 digest.
    #[error("download of {url} failed: {message}")]
    Download { url: String, message: String },

    /// The requested compute backend is not available in this build or on this machine.
    #[error("backend `{backend}` is unavailable: {reason}")]
    Backend { backend: String, reason: String },

    /// The sweep was interrupted (Ctrl-C) while the run trained.
    #[error("interrupted")]
    Cancelled,

    /// Training diverged or failed numerically.
    #[error("training failed: {0}")]
    Training(String),

    /// A metric could not be computed from the scores.
    #[error(transparent)]
    Metric(#[from] crate::metrics::MetricError),

    /// A file or folder could not be read or written.
    #[error("cannot access {path}: {cause}")]
    Io {
        path: PathBuf,
        /// Kept out of the source chain because the message already contains it.
        cause: std::io::Error,
    },

    /// Another process is writing into the same results or dataset folder.
    #[error(
        "folder {dir} is in use by process {pid} (lock file {lock}); wait for that process to \
         finish, or delete the lock file if no such process is running"
    )]
    Locked {
        dir: PathBuf,
        lock: PathBuf,
        pid: String,
    },

    /// A results table could not be built or written.
    #[error("cannot write results table {path}: {message}")]
    Table { path: PathBuf, message: String },
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        let path = path.into();
        if cause.kind() == std::io::ErrorKind::InvalidData {
            return Error::data(path, None, "the file is not UTF-8 text");
        }
        Error::Io { path, cause }
    }

    /// Builds a data error for a file, with an optional 1-based line number.
    pub fn data(path: impl Into<PathBuf>, line: Option<usize>, message: impl Into<String>) -> Self {
        Error::Data {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}
