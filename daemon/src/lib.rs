//! oneagent host side: the daemon (`oneagentd`) and its control CLI (`oneagentctl`).
//!
//! Engines are plain modules that know nothing of D-Bus: [`config`], [`store`]. The transports
//! ([`dbus`], [`notify`]) are thin, and [`daemon`] wires them together.

pub mod agents;
pub mod cli;
pub mod config;
pub mod ctl;
pub mod daemon;
pub mod dbus;
pub mod decision;
pub mod elf;
pub mod elf_cache;
pub mod error;
pub mod explain;
pub mod injection;
pub mod inventory;
pub mod logging;
pub mod logs;
pub mod logs_host;
pub mod metrics_server;
pub mod notify;
pub mod opamp;
pub mod peer_bus;
pub mod reload;
pub mod safe_fs;
pub mod store;
pub mod sys;
pub mod systemd;

pub use error::{Error, Result};
pub use logging::LogLevel;

/// The version of oneagent.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
