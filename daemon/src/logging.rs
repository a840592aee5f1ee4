//! Logging: journald when stderr is the journal, plain stderr otherwise; the level changes
//! at run time through a reloadable filter.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::error::Error;

/// The log levels a user can choose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warn,
    /// The default.
    Info,
    /// Verbose.
    Debug,
    /// Everything.
    Trace,
}

impl LogLevel {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }

    fn filter(self) -> EnvFilter {
        // Our own crate at the chosen level; dependencies stay quiet unless tracing.
        let deps = if self == LogLevel::Trace {
            "debug"
        } else {
            "warn"
        };
        EnvFilter::new(format!("{deps},oneagent={level}", level = self.as_str()))
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LogLevel {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "error" => Ok(LogLevel::Error),
            "warn" | "warning" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            "trace" => Ok(LogLevel::Trace),
            _ => Err(Error::LogLevel {
                given: s.to_owned(),
            }),
        }
    }
}

/// Changes the level of the installed subscriber.
#[derive(Debug, Clone)]
pub struct LogHandle {
    handle: Option<reload::Handle<EnvFilter, Registry>>,
}

impl LogHandle {
    /// A handle that changes nothing (for library tests that install no subscriber).
    pub fn detached() -> Self {
        LogHandle { handle: None }
    }

    /// Sets the level; returns false when no subscriber is attached.
    pub fn set_level(&self, level: LogLevel) -> bool {
        self.handle
            .as_ref()
            .is_some_and(|h| h.reload(level.filter()).is_ok())
    }
}

/// True when stderr is connected to the journal (`JOURNAL_STREAM` names its device and inode).
pub fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    use std::os::unix::fs::MetadataExt;
    dev.parse::<u64>().is_ok_and(|d| d == meta.dev())
        && ino.parse::<u64>().is_ok_and(|i| i == meta.ino())
}

/// Installs the global subscriber for a daemon: journald when stderr is the journal.
pub fn init_daemon(level: LogLevel) -> LogHandle {
    let (filter, handle) = reload::Layer::new(level.filter());
    let registry = tracing_subscriber::registry().with(filter);
    let journald = stderr_is_journal()
        .then(|| tracing_journald::layer().ok())
        .flatten();
    let installed = match journald {
        Some(layer) => registry.with(layer).try_init().is_ok(),
        None => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(false)
                    .with_target(false),
            )
            .try_init()
            .is_ok(),
    };
    LogHandle {
        handle: installed.then_some(handle),
    }
}

/// Installs a quiet stderr subscriber for the CLI.
pub fn init_cli() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(EnvFilter::new("warn"))
        .with_target(false)
        .without_time()
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_and_print() {
        for l in ["error", "warn", "info", "debug", "trace"] {
            assert_eq!(l.parse::<LogLevel>().ok().map(|l| l.as_str()), Some(l));
        }
        assert_eq!("WARNING".parse::<LogLevel>().ok(), Some(LogLevel::Warn));
        assert!("loud".parse::<LogLevel>().is_err());
    }
}
