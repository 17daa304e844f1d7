//! The `logsleuth` binary: parse flags, run, map the outcome to an exit code.

use std::alloc::{GlobalAlloc, Layout};
use std::process::ExitCode;

use libmimalloc_sys as mi;

use clap::Parser;

// glibc malloc's slow paths (consolidation, bin unlinking) took ~17% of CPU with rules on; the
// pipeline hands many small objects between threads, which mimalloc's per-thread free lists
// handle far better (BENCHMARKS.md, "Allocator").
#[global_allocator]
static GLOBAL: Mimalloc = Mimalloc;

/// mimalloc as the global allocator. Unlike the `mimalloc` crate, which asks for every block
/// through `mi_malloc_aligned`, word-aligned requests (nearly all) go to plain `mi_malloc`: every
/// mimalloc block is word-aligned, and the aligned entry point falls back to over-allocating
/// whenever the size class's free list is empty — which it often is here, since the merger
/// frees what the parse workers allocate (that path was ~2 % of CPU with rules on).
struct Mimalloc;

/// Alignment every mimalloc block has (its size classes are multiples of the word size).
const WORD: usize = std::mem::size_of::<usize>();

// SAFETY: each method forwards to the mimalloc function with the same contract (a null result
// for an allocation failure); blocks of any alignment are freed with `mi_free`, and resized with
// the aligned entry point whenever the layout asks for more than word alignment.
unsafe impl GlobalAlloc for Mimalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_malloc(layout.size()).cast()
            } else {
                mi::mi_malloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: see the impl.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_zalloc(layout.size()).cast()
            } else {
                mi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (the caller's contract).
        unsafe { mi::mi_free(ptr.cast()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout` (the caller's contract).
        unsafe {
            if layout.align() <= WORD {
                mi::mi_realloc(ptr.cast(), new_size).cast()
            } else {
                mi::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
            }
        }
    }
}

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    raise_open_file_limit();
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

/// `-f` on a directory keeps every file it follows open (`/var/log/pods/` on a busy node holds
/// thousands), and the usual soft limit on open files is 1024 (systemd, login shells) while the
/// hard limit is far higher: raise the soft limit to the hard one, as Go's runtime does at
/// start. (Linux refuses `RLIM_INFINITY` here: then `fs.nr_open`'s usual 1048576.) A failure
/// leaves the limit as it was; the pipeline then retries what it could not open.
fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `getrlimit` writes the `rlimit` it is given, which lives on this stack.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
            return;
        }
        for want in [lim.rlim_max, 1 << 20] {
            if want <= lim.rlim_cur || want > lim.rlim_max {
                continue;
            }
            let new = libc::rlimit {
                rlim_cur: want,
                rlim_max: lim.rlim_max,
            };
            // SAFETY: `setrlimit` only reads the `rlimit` it is given.
            if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
                return;
            }
        }
    }
}
