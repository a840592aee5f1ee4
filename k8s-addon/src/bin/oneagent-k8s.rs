//! `oneagent-k8s`: parse, set up logging, run, map the result to an exit code.
use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let cli = oneagent_k8s::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oneagent-k8s: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(oneagent_k8s::cli::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oneagent-k8s: {e}");
            ExitCode::FAILURE
        }
    }
}
