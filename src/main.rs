//! The `logsleuth` binary: parse flags, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

// glibc malloc's slow paths (consolidation, bin unlinking) took ~17% of CPU with rules on; the
// pipeline hands many small objects between threads, which mimalloc's per-thread free lists
// handle far better (BENCHMARKS.md, "Allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = logsleuth::cli::Cli::parse();
    match logsleuth::app::run(cli) {
        Ok(code) => code,
        Err(e) if logsleuth::app::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("logsleuth: error: {}", logsleuth::app::error_text(&e));
            ExitCode::from(2)
        }
    }
}
