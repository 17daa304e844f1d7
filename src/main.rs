//! The `logsleuth` binary: parse flags, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = logsleuth::cli::Cli::parse();
    match logsleuth::app::run(cli) {
        Ok(code) => code,
        Err(e) if logsleuth::app::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logsleuth: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
