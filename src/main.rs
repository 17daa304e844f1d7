//! The `logsleuth` binary: parse flags, run, map the outcome to an exit code.

use std::process::ExitCode;

use clap::Parser;

// glibc malloc's slow paths (consolidation, bin unlinking) took ~17% of CPU with rules on; the
// pipeline hands many small objects between threads, which mimalloc's per-thread free lists
// handle far better (BENCHMARKS.md, "Allocator").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    disable_transparent_huge_pages();
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

/// mimalloc asks for transparent huge pages on its arenas; each first touch then zeroes 2 MiB,
/// and purged arenas are faulted in again, so a 1M-line analysis spent ~6% of its CPU in the
/// kernel clearing pages and peaked at ~92 MB instead of ~51 MB (BENCHMARKS.md, core pipeline,
/// "Re-run 2026-11-23 19:03 UTC").
/// The flag is checked at fault time, so arenas reserved before `main` are covered too.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integer arguments and touches no memory of ours;
    // failure (an old kernel) only leaves the default in place.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
