//! oneagentctl: parse, run, print, exit. A closed stdout (`| head`) is not an error.

use std::process::ExitCode;

use clap::Parser;
use oneagent_cli::cli::CtlArgs;

fn main() -> ExitCode {
    let args = CtlArgs::parse();
    oneagent::logging::init_cli();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oneagentctl: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    match runtime.block_on(oneagent_cli::ctl::run(args, &mut stdout)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) if f.message.contains("Broken pipe") => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("oneagentctl: {}", f.message);
            ExitCode::from(f.code)
        }
    }
}
