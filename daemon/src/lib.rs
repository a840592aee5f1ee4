//! oneagentd, the oneagent host daemon, and the engines oneagentctl (crate `oneagent-cli`)
//! reuses to decide locally.
//!
//! Engines are plain modules that know nothing of D-Bus or the CLI: [`inventory`],
//! [`decision`], [`logs`], [`store`], [`config`]. The transports ([`dbus`], which serves the
//! `oneagent-api` interface and converts the engines' types into its wire types,
//! [`metrics_server`], [`notify`]) are thin, [`daemon`] holds their shared state and [`main_loop`] wires them together.

pub mod cli;
pub mod clock;
pub mod config;
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
pub mod main_loop;
pub mod metrics_server;
pub mod notify;
pub mod opamp;
pub mod owner_thread;
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
