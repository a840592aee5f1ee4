//! Integration tests of oneagentd and oneagentctl against real components: a private
//! dbus-daemon derived from the distribution's system bus configuration, real SQLite files,
//! a real sd_notify datagram socket and real signals.
//!
//! Tests that switch to an unprivileged uid need root (CI runs as root).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attribution;
mod bus;
mod config_errors;
mod container_logs;
mod database;
mod docs;
mod hardening;
mod inventory;
mod kubernetes;
mod logs;
mod logs_model;
mod notify;
mod opamp;
mod otlp_receiver;
mod peer;
mod preload;
mod reload;
mod support;
mod systemd;
