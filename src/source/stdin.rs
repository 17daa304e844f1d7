//! Standard input.
//!
//! Redirected from a regular file (`logsleuth < app.log`), stdin is read like a file: big
//! reads, ~1 MiB chunks. Anything else — a pipe (`kubectl logs -f … | logsleuth`), a terminal,
//! a socket — is *live*: its writer may go on for hours at a few lines a second, so waiting for
//! a full chunk (or the end) before showing anything would show nothing. [`Live`] waits for
//! bytes with poll(2) and tells the reader (as the errors [`Pause`]) when the writer pauses:
//!
//! * [`Pause::Quiet`]: bytes came, then nothing for [`QUIET`] (or the bytes since the last
//!   pause are [`MAX_WAIT`] old while a slow writer keeps trickling): the reader hands on the
//!   complete lines it has as a chunk of their own instead of waiting for a full one. A fast
//!   writer (`cat big.log |`) refills the pipe within microseconds, so its chunks stay full size.
//! * [`Pause::Idle`]: then nothing for [`IDLE`] in all: the events held for continuation
//!   lines (a traceback) are complete and delivered, as `--follow` does after its quiet time.
//!
//! A stop request ([`super::live::request_stop`]: Ctrl-C or SIGTERM with `--follow` or
//! during an `--export`) ends a live stdin like its end within [`STOP_POLL`]: a read blocked in
//! the kernel would hold the run (and its final report) until the writer closes the pipe, which
//! `tail -f` never does.
//!
//! Nothing here reads the data: results are those of reading the same bytes from a file, but
//! for the timing of output and, with `events` or an export, a traceback whose writer pauses
//! for [`IDLE`] within it (its further lines become events of their own, as with `--follow`).

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::FileTypeExt;
use std::time::{Duration, Instant};

use super::live;

/// How long a live stdin may be empty after bytes came before the reader hands on what it
/// has. Long enough for a fast writer blocked on the full pipe to be scheduled and refill it,
/// short enough not to be seen.
pub const QUIET: Duration = Duration::from_millis(5);
/// The most a line waits in the reader while a slow writer keeps trickling (never [`QUIET`]
/// for long): a chunk is handed on after this anyway. A fast writer fills a chunk sooner.
pub const MAX_WAIT: Duration = Duration::from_millis(100);
/// How long a live stdin is quiet before held events are delivered (as `--follow`'s hold).
pub const IDLE: Duration = Duration::from_millis(300);
/// How often a blocked read looks for a stop request.
const STOP_POLL: Duration = Duration::from_millis(100);

/// A pause of a live stdin's writer, returned as the error of one read (the next read goes
/// on): see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// Hand on the complete lines read so far.
    Quiet,
    /// The input has been quiet for [`IDLE`]: held events are complete.
    Idle,
}

impl std::fmt::Display for Pause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Pause::Quiet => "stdin paused",
            Pause::Idle => "stdin idle",
        })
    }
}

impl std::error::Error for Pause {}

/// The [`Pause`] an I/O error carries, if any.
pub fn pause(e: &io::Error) -> Option<Pause> {
    e.get_ref().and_then(|i| i.downcast_ref::<Pause>()).copied()
}

/// Is stdin live (not a regular file or block device)? See the module docs.
pub fn is_live() -> bool {
    live_fd().is_some()
}

/// A handle of its own on stdin when it is live: read unbuffered, so that poll(2) on it sees
/// every byte not handed on yet (std's `Stdin` buffers).
fn live_fd() -> Option<File> {
    // Closed stdin (`<&-`): no handle; `io::stdin()` reads it as empty.
    let file = File::from(io::stdin().as_fd().try_clone_to_owned().ok()?);
    let kind = file.metadata().ok()?.file_type();
    (kind.is_fifo() || kind.is_socket() || kind.is_char_device()).then_some(file)
}

/// Stdin as a reader: [`Live`] when it is live, with [`Pause`]s when `pauses` (a batch run;
/// `--follow` hands on every read at once and keeps its own time); otherwise std's.
pub fn open(pauses: bool) -> Box<dyn Read + Send> {
    match live_fd() {
        Some(file) => Box::new(Live::new(file, pauses)),
        None => Box::new(io::stdin()),
    }
}

#[derive(Clone, Copy, Debug)]
enum State {
    /// Nothing read since the last pause (or the start).
    Waiting,
    /// Bytes read since the last pause; the first of them at this time.
    Data(Instant),
    /// [`Pause::Quiet`] returned at this time.
    Quiet(Instant),
}

/// A live stdin (see the module docs).
pub struct Live<R> {
    inner: R,
    pauses: bool,
    state: State,
}

impl<R: Read + AsFd> Live<R> {
    fn new(inner: R, pauses: bool) -> Live<R> {
        Live {
            inner,
            pauses,
            state: State::Waiting,
        }
    }

    /// Wait up to `d` for bytes (or the end) to read.
    fn readable(&self, d: Duration) -> io::Result<bool> {
        use rustix::event::{PollFd, PollFlags, Timespec};
        let timeout = Timespec::try_from(d).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::new(&self.inner, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            // Readable, the end (`HUP`) or an error: the read says which.
            Ok(n) => Ok(n > 0),
            Err(rustix::io::Errno::INTR) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

impl<R: Read + AsFd> Read for Live<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if live::stopping() {
                return Ok(0);
            }
            let wait = match self.state {
                State::Data(first) if self.pauses && first.elapsed() >= MAX_WAIT => {
                    self.state = State::Quiet(Instant::now());
                    return Err(io::Error::other(Pause::Quiet));
                }
                State::Data(_) if self.pauses => QUIET,
                State::Quiet(at) if self.pauses => IDLE.saturating_sub(at.elapsed()),
                _ => STOP_POLL,
            };
            if self.readable(wait.min(STOP_POLL))? {
                let n = self.inner.read(buf)?;
                if n > 0 && !matches!(self.state, State::Data(_)) {
                    self.state = State::Data(Instant::now());
                }
                return Ok(n);
            }
            match self.state {
                State::Data(_) if self.pauses => {
                    self.state = State::Quiet(Instant::now());
                    return Err(io::Error::other(Pause::Quiet));
                }
                State::Quiet(at) if at.elapsed() >= IDLE => {
                    self.state = State::Waiting;
                    return Err(io::Error::other(Pause::Idle));
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    /// The next read's outcome: bytes, the end, or a pause.
    fn next(r: &mut Live<UnixStream>) -> io::Result<Result<Vec<u8>, Pause>> {
        let mut buf = [0u8; 64];
        match r.read(&mut buf) {
            Ok(n) => Ok(Ok(buf[..n].to_vec())),
            Err(e) => pause(&e).map(Err).ok_or(e),
        }
    }

    #[test]
    fn a_writer_that_pauses_gives_quiet_then_idle_and_bytes_resume() -> TestResult {
        let (mut w, r) = UnixStream::pair()?;
        let mut r = Live::new(r, true);
        w.write_all(b"one\n")?;
        assert_eq!(next(&mut r)?, Ok(b"one\n".to_vec()));
        assert_eq!(next(&mut r)?, Err(Pause::Quiet));
        assert_eq!(next(&mut r)?, Err(Pause::Idle));
        w.write_all(b"two\n")?;
        assert_eq!(next(&mut r)?, Ok(b"two\n".to_vec()));
        assert_eq!(next(&mut r)?, Err(Pause::Quiet));
        drop(w);
        assert_eq!(next(&mut r)?, Ok(Vec::new()), "the end");
        Ok(())
    }

    #[test]
    fn without_pauses_a_read_waits_for_bytes() -> TestResult {
        let (mut w, r) = UnixStream::pair()?;
        let mut r = Live::new(r, false);
        let writer = std::thread::spawn(move || -> io::Result<()> {
            std::thread::sleep(IDLE + QUIET);
            w.write_all(b"late\n")
        });
        assert_eq!(next(&mut r)?, Ok(b"late\n".to_vec()));
        writer.join().map_err(|_| "writer panicked")??;
        Ok(())
    }
}
