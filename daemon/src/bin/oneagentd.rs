//! oneagentd: parse flags, set up logging, run the daemon, map the result to an exit code.

use std::process::ExitCode;

use clap::Parser;
use oneagent::cli::{DaemonArgs, daemon_exit};
use oneagent::{Error, config, daemon, logging, main_loop};

fn main() -> ExitCode {
    let args = DaemonArgs::parse();
    if args.check_config {
        return match config::Config::load(&args.config) {
            Ok((cfg, source)) => {
                println!(
                    "# {}\n{}",
                    source.describe(),
                    toml::to_string(&cfg).unwrap_or_default()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("oneagentd: {e}");
                ExitCode::from(daemon_exit::CONFIG)
            }
        };
    }
    let log = logging::init_daemon(logging::LogLevel::Info);
    let paths = daemon::Paths {
        config: args.config,
        state_dir: args.state_dir,
        runtime_dir: args.runtime_dir,
        proc_root: "/proc".into(),
        peer_socket: args.peer_socket,
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!(error = %e, "Cannot start the async runtime: {e}");
            return ExitCode::from(daemon_exit::FAILED);
        }
    };
    match runtime.block_on(main_loop::run(paths, log)) {
        Ok(()) => ExitCode::from(daemon_exit::OK),
        Err(e) => {
            // The reason in the message itself: `systemctl status` and `journalctl -u` show
            // only the message, not the fields.
            tracing::error!(error = %e, "oneagentd failed: {e}");
            ExitCode::from(match e {
                e if e.is_config() => daemon_exit::CONFIG,
                Error::Database { .. } | Error::SchemaTooNew { .. } | Error::Io { .. } => {
                    daemon_exit::STATE
                }
                _ => daemon_exit::FAILED,
            })
        }
    }
}
