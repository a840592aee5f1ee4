//! The one error type of the `oneagent` crate, with structured context.

use std::path::PathBuf;

/// Everything that can go wrong in the daemon and the CLI library code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing ("reading", "creating directory", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML or does not match the schema.
    #[error("{path}:{line}:{column}: {}{message}", key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
    ConfigParse {
        /// The configuration file.
        path: PathBuf,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column of the offending text.
        column: usize,
        /// The dotted key at fault, when known.
        key: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// A configuration value parsed but is not acceptable.
    #[error("{path}: key `{key}`: {message}")]
    ConfigValue {
        /// The configuration file (or `<built-in defaults>`).
        path: PathBuf,
        /// The dotted key at fault.
        key: &'static str,
        /// What is wrong with the value.
        message: String,
    },
    /// The state database failed.
    #[error("state database {path}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        #[source]
        source: rusqlite::Error,
    },
    /// The state database was written by a newer oneagentd.
    #[error(
        "state database {path} has schema version {found}, newer than the {supported} this oneagentd supports; upgrade oneagent or move the file aside"
    )]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// The version recorded in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// A D-Bus operation failed.
    #[error("D-Bus {action}: {source}")]
    Bus {
        /// What we were doing.
        action: &'static str,
        /// The zbus error.
        #[source]
        source: zbus::Error,
    },
    /// A log level name was not recognised.
    #[error("unknown log level `{given}` (expected one of: error, warn, info, debug, trace)")]
    LogLevel {
        /// The text given.
        given: String,
    },
    /// The preload snapshot could not be encoded.
    #[error("compiling the preload snapshot: {problem}")]
    Snapshot {
        /// What the encoder refused.
        problem: String,
    },
    /// The preload library failed verification and was not installed.
    #[error("preload library {library} failed verification: {problem}")]
    PreloadVerify {
        /// The library.
        library: PathBuf,
        /// What went wrong.
        problem: String,
    },
    /// A service name given to enable/disable is not usable.
    #[error("invalid service name `{given}`: {why}")]
    ServiceName {
        /// The text given.
        given: String,
        /// Why it is refused.
        why: &'static str,
    },
    /// A path the daemon was asked to read is not a regular file (a FIFO, device, socket,
    /// directory): refused before it is opened, so it can neither block nor have side effects.
    #[error("{path} is {kind}, not a regular file")]
    NotRegularFile {
        /// The path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// A file is larger than the daemon reads for its purpose.
    #[error("{path} is larger than {limit} bytes")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit in bytes.
        limit: u64,
    },
    /// A symbolic link on the way to a file belongs to a user who does not own the file (the
    /// `protected_symlinks` rule): following it would let that user read what they cannot.
    #[error(
        "{path}: not following the symbolic link {link} (owner uid {link_owner}) to a file of uid {file_owner}"
    )]
    UntrustedLink {
        /// The path asked for.
        path: PathBuf,
        /// The link refused.
        link: PathBuf,
        /// The link's owner (`4294967295` when the links changed while they were checked).
        link_owner: u32,
        /// The owner of the file it leads to.
        file_owner: u32,
    },
    /// The configuration file cannot be used (unreadable, not a regular file, too large). Like
    /// every configuration error, this is exit status 2.
    /// Work on the daemon's blocking pool panicked.
    #[error("the daemon's worker failed while {action}")]
    Worker {
        /// What it was doing.
        action: &'static str,
    },
    #[error("configuration file: {source}")]
    ConfigFile {
        /// Why.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// Whether this is an error in the configuration (exit status 2 at start, `InvalidConfig`
    /// over D-Bus).
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            Error::ConfigParse { .. } | Error::ConfigValue { .. } | Error::ConfigFile { .. }
        )
    }

    /// Builds an [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
