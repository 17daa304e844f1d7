//! `--follow` for files: [`FollowFile`] reads a file to its end, then keeps polling it (every
//! 100 ms) like `tail -F`, surviving both rotation styles:
//!
//! * **rename and create** (logrotate default, kubelet, docker json-file): when the path names a
//!   different inode, the old file is read to its end once more, then the new file is read from
//!   its start — nothing lost, nothing read twice;
//! * **copytruncate**: when the file is shorter than what was read, or — after a poll — its
//!   first or last bytes read are no longer where they were (the writer refilled the file past the old
//!   offset within one poll), reading restarts at 0. (Lines written between logrotate's copy
//!   and its truncate are lost by copytruncate itself.)
//!
//! A missing path (between rename and create) is waited for, and so is a file descriptor to
//! open the new file with (`EMFILE`: more followed files than `ulimit -n` allows). Reads end
//! (EOF) once [`super::live::request_stop`] was called. The first time the file's end is
//! reached, one read fails with [`CaughtUp`] (the history is read: the reader tells the
//! merger, which then stops holding other inputs back for this one), and the next read goes on.
//!
//! [`NewFiles`] watches the directories and glob patterns of a followed run for files that
//! appear after the start (a new pod or container, a new log file): the pipeline re-expands
//! them about once a second ([`super::files::rescan`], the same code as the initial expansion)
//! and reads what is new as new inputs. What rotation produces is not new: the renamed file is
//! still read by the [`FollowFile`] of its path, so taking it again would read its lines twice.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::files::{self, InputFile};
use super::live;

const POLL: Duration = Duration::from_millis(100);

/// The error of the one read that says a followed file's history is read (see the module docs).
#[derive(Debug)]
pub struct CaughtUp;

impl std::fmt::Display for CaughtUp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("caught up with the file's end")
    }
}

impl std::error::Error for CaughtUp {}

/// Whether `e` is the [`CaughtUp`] signal.
pub fn is_caught_up(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<CaughtUp>())
}

/// Bytes kept from the end of what was read, to tell a file truncated and refilled.
const TAIL: usize = 64;

/// A followed file (see the module docs).
pub struct FollowFile {
    path: PathBuf,
    file: File,
    id: (u64, u64),
    pos: u64,
    /// The last bytes read (`tail[..tail_len]` end at `pos`).
    tail: [u8; TAIL],
    tail_len: usize,
    /// The file's first bytes (`head[..head_len]`): with the tail, what tells a file
    /// refilled with lines of the same length (health checks) from the one that was read.
    head: [u8; TAIL],
    head_len: usize,
    /// A poll found nothing new since the last read: check the tail before reading on.
    polled: bool,
    /// The end was reached once ([`CaughtUp`] was returned).
    caught_up: bool,
    /// Opening the file a rotation made failed for want of file descriptors (said once).
    out_of_fds: bool,
}

/// UTF-8 byte order mark.
const BOM: &[u8] = b"\xEF\xBB\xBF";

impl FollowFile {
    /// Open `path` for following from its start.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(path: &Path) -> io::Result<FollowFile> {
        let file = File::open(path)?;
        let md = file.metadata()?;
        Ok(FollowFile {
            path: path.to_path_buf(),
            file,
            id: (md.dev(), md.ino()),
            pos: 0,
            tail: [0; TAIL],
            tail_len: 0,
            head: [0; TAIL],
            head_len: 0,
            polled: false,
            caught_up: false,
            out_of_fds: false,
        })
    }

    fn restart(&mut self) -> io::Result<()> {
        self.file.seek(SeekFrom::Start(0))?;
        self.pos = 0;
        self.tail_len = 0;
        self.head_len = 0;
        Ok(())
    }

    /// Keep the first and last bytes of what was read: `read` just ended at `pos`.
    fn keep_tail(&mut self, read: &[u8]) {
        let start = self.pos - read.len() as u64;
        if self.head_len < TAIL && start <= self.head_len as u64 {
            let from = self.head_len - start as usize;
            let take = (TAIL - self.head_len).min(read.len().saturating_sub(from));
            self.head[self.head_len..self.head_len + take]
                .copy_from_slice(&read[from..from + take]);
            self.head_len += take;
        }
        if read.len() >= TAIL {
            self.tail.copy_from_slice(&read[read.len() - TAIL..]);
            self.tail_len = TAIL;
        } else {
            let keep = (TAIL - read.len()).min(self.tail_len);
            self.tail
                .copy_within(self.tail_len - keep..self.tail_len, 0);
            self.tail[keep..keep + read.len()].copy_from_slice(read);
            self.tail_len = keep + read.len();
        }
    }

    /// Are the first and the last bytes read still where they were? Not after copytruncate
    /// refilled the file.
    fn tail_in_place(&self) -> io::Result<bool> {
        Ok(self.same_at(0, &self.head[..self.head_len])?
            && self.same_at(self.pos - self.tail_len as u64, &self.tail[..self.tail_len])?)
    }

    /// Does the file hold `bytes` at `at`?
    fn same_at(&self, at: u64, bytes: &[u8]) -> io::Result<bool> {
        let mut now = [0u8; TAIL];
        let now = &mut now[..bytes.len()];
        let mut got = 0;
        while got < now.len() {
            match self.file.read_at(&mut now[got..], at + got as u64)? {
                0 => return Ok(false),
                n => got += n,
            }
        }
        Ok(now == bytes)
    }
}

impl Read for FollowFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if std::mem::take(&mut self.polled) && !self.tail_in_place()? {
                // Truncated and refilled past our offset within one poll (copytruncate).
                self.restart()?;
            }
            let at_start = self.pos == 0;
            let n = self.file.read(buf)?;
            if n > 0 {
                self.pos += n as u64;
                self.keep_tail(&buf[..n]);
                // Every file this one becomes (rotation, copytruncate) starts afresh: a byte
                // order mark at its start is no text.
                if at_start && buf[..n].starts_with(BOM) {
                    buf.copy_within(BOM.len()..n, 0);
                    if n > BOM.len() {
                        return Ok(n - BOM.len());
                    }
                    continue;
                }
                return Ok(n);
            }
            if live::stopping() {
                return Ok(0);
            }
            if !std::mem::replace(&mut self.caught_up, true) {
                return Err(io::Error::other(CaughtUp));
            }
            match std::fs::metadata(&self.path) {
                Ok(md) if (md.dev(), md.ino()) != self.id => {
                    // Renamed away: drain the old file (a writer may have added to it since
                    // our last read), then switch to the new one.
                    let n = self.file.read(buf)?;
                    if n > 0 {
                        self.pos += n as u64;
                        self.keep_tail(&buf[..n]);
                        return Ok(n);
                    }
                    match File::open(&self.path) {
                        Ok(f) => {
                            self.file = f;
                            self.id = (md.dev(), md.ino());
                            self.pos = 0;
                            self.tail_len = 0;
                            self.head_len = 0;
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotFound => std::thread::sleep(POLL),
                        // More files open than `ulimit -n` allows: try again (the lines wait
                        // in the new file) rather than end this input.
                        Err(e) if super::out_of_descriptors(&e) => {
                            if !std::mem::replace(&mut self.out_of_fds, true) {
                                eprintln!(
                                    "logsleuth: cannot open '{}' after its rotation: {e}; \
                                     trying again (`ulimit -n` allows more open files)",
                                    self.path.display()
                                );
                            }
                            std::thread::sleep(POLL);
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(md) if md.len() < self.pos => {
                    // Truncated in place (copytruncate).
                    self.restart()?;
                }
                Ok(_) => {
                    std::thread::sleep(POLL);
                    self.polled = true;
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => std::thread::sleep(POLL),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Should this input file be followed? Only plain files that are not a rotated member of a set
/// (`app.log`, `0.log`, `<id>-json.log`; not `app.log.1`, `0.log.20251027-120000`, `*.gz`).
pub fn is_followable(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    super::files::is_live_name(name)
}

/// The files that appear in followed directories and glob patterns (see the module docs).
///
/// A file found by a rescan is new when
/// * it is a live file ([`is_followable`]) whose path is not read yet — a new `app.log`, a new
///   pod's `0.log`, also a live file of a set of which only rotated members were there;
/// * it is a rotated or compressed member of a set ([`files::rotation_set`]) of which no file is
///   read yet (say a new directory holding `app.log.1` and `app.log`).
///
/// Any other rotated member belongs to a set already read: rotation renamed a followed file,
/// whose [`FollowFile`] reads it to its end. Paths are compared as found and canonical, so a
/// file reached through a symlink (`/var/log/containers`) is not taken twice.
pub struct NewFiles {
    args: Vec<PathBuf>,
    /// Directories whose files are never inputs (`--export DIR`).
    exclude: Vec<PathBuf>,
    /// Live files read (as found and canonical).
    live: HashSet<PathBuf>,
    /// Rotated sets read (as found and canonical).
    sets: HashSet<(PathBuf, String)>,
}

impl NewFiles {
    /// Watch `args` (directories and glob patterns) but not the files under `exclude`;
    /// `known` are the files already read.
    pub fn new<'a>(
        args: &[PathBuf],
        exclude: &[PathBuf],
        known: impl IntoIterator<Item = &'a Path>,
    ) -> NewFiles {
        let mut w = NewFiles {
            args: args.to_vec(),
            exclude: exclude.to_vec(),
            live: HashSet::new(),
            sets: HashSet::new(),
        };
        for p in known {
            w.remember(p);
        }
        w
    }

    fn remember(&mut self, path: &Path) {
        for p in forms(path) {
            if is_followable(&p) {
                self.live.insert(p.clone());
            }
            self.sets.insert(files::rotation_set(&p));
        }
    }

    /// Re-expand the arguments; the files that are new since the start and the last call, in
    /// reading order (members of a new rotated set together, oldest first, the live file last).
    pub fn poll(&mut self) -> Vec<InputFile> {
        let found = files::rescan(&self.args, &self.exclude);
        // Decide against what was known before this scan (a new set's rotated members and its
        // live file are all new), then remember what is taken.
        let new: Vec<InputFile> = found
            .into_iter()
            .filter(|f| {
                let forms = forms(&f.path);
                if is_followable(&f.path) {
                    !forms.iter().any(|p| self.live.contains(p))
                } else {
                    !forms
                        .iter()
                        .any(|p| self.sets.contains(&files::rotation_set(p)))
                }
            })
            .collect();
        for f in &new {
            self.remember(&f.path);
        }
        new
    }
}

/// A path as found and, when it differs, its canonical form.
fn forms(path: &Path) -> Vec<PathBuf> {
    let mut v = vec![path.to_path_buf()];
    if let Ok(real) = std::fs::canonicalize(path)
        && real != path
    {
        v.push(real);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    proptest::proptest! {
        /// The tail kept is the last bytes read, whatever the sizes of the reads.
        #[test]
        fn the_tail_is_the_last_bytes_read(reads in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 0..150), 0..12)) {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("a.log");
            std::fs::write(&path, "")?;
            let mut f = FollowFile::open(&path)?;
            let mut all = Vec::new();
            for r in &reads {
                f.pos += r.len() as u64;
                f.keep_tail(r);
                all.extend_from_slice(r);
            }
            let want = &all[all.len().saturating_sub(TAIL)..];
            proptest::prop_assert_eq!(&f.tail[..f.tail_len], want);
            proptest::prop_assert_eq!(&f.head[..f.head_len], &all[..all.len().min(TAIL)]);
        }
    }

    /// The next `n` bytes, waiting for them as a follower does.
    fn read_bytes(f: &mut FollowFile, n: usize) -> io::Result<String> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        while out.len() < n {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(k) => out.extend_from_slice(&buf[..k]),
                Err(e) if e.get_ref().is_some_and(|e| e.is::<CaughtUp>()) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    /// A byte order mark starts each file a followed path becomes, not only the first.
    #[test]
    fn a_byte_order_mark_is_dropped_after_each_rotation() -> TestResult {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("a.log");
        std::fs::write(&path, b"\xEF\xBB\xBFone\n")?;
        let mut f = FollowFile::open(&path)?;
        assert_eq!(read_bytes(&mut f, 4)?, "one\n");
        // Rename and create.
        std::fs::rename(&path, dir.path().join("a.log.1"))?;
        std::fs::write(&path, b"\xEF\xBB\xBFtwo\n")?;
        assert_eq!(read_bytes(&mut f, 4)?, "two\n");
        // Copytruncate: written again from the start, shorter than what was read.
        std::fs::write(&path, b"\xEF\xBB\xBF3\n")?;
        assert_eq!(read_bytes(&mut f, 2)?, "3\n");
        Ok(())
    }

    fn names(found: &[InputFile], root: &Path) -> Vec<String> {
        found
            .iter()
            .map(|f| {
                f.path
                    .strip_prefix(root)
                    .unwrap_or(&f.path)
                    .display()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn new_files_are_new_sets_and_new_live_files_never_rotations() -> TestResult {
        let tmp = tempfile::tempdir()?;
        let root = tmp.path();
        std::fs::write(root.join("app.log"), "a\n")?;
        std::fs::write(root.join("old.log.1"), "o\n")?;
        let mut w = NewFiles::new(
            &[root.to_path_buf()],
            &[],
            [root.join("app.log"), root.join("old.log.1")]
                .iter()
                .map(PathBuf::as_path),
        );
        assert!(w.poll().is_empty());

        // Rotation of a followed file, a compressed copy, a kubelet temporary file: not new.
        std::fs::rename(root.join("app.log"), root.join("app.log.1"))?;
        std::fs::write(root.join("app.log"), "")?;
        std::fs::write(root.join("app.log.2.gz"), "z\n")?;
        std::fs::write(root.join("x.log.tmp"), "t\n")?;
        assert!(w.poll().is_empty());

        // A new live file (also of a set seen only rotated), a new set with a rotated member,
        // a new pod directory: new, rotated members first, each once.
        std::fs::write(root.join("old.log"), "")?;
        std::fs::write(root.join("b.log"), "")?;
        std::fs::write(root.join("b.log.1"), "")?;
        let pod = root.join("prod_web-1_0123abcd-0000/app");
        std::fs::create_dir_all(&pod)?;
        std::fs::write(pod.join("0.log"), "")?;
        let found = w.poll();
        assert_eq!(
            names(&found, root),
            [
                "b.log.1",
                "b.log",
                "old.log",
                "prod_web-1_0123abcd-0000/app/0.log"
            ]
        );
        assert_eq!(found[3].meta.pod.as_deref(), Some("web-1"));
        assert!(w.poll().is_empty());

        // The pod's log rotates (kubelet), then the container restarts: only 1.log is new.
        std::fs::rename(pod.join("0.log"), pod.join("0.log.20261122-100000"))?;
        std::fs::write(pod.join("0.log"), "")?;
        std::fs::write(pod.join("1.log"), "")?;
        assert_eq!(
            names(&w.poll(), root),
            ["prod_web-1_0123abcd-0000/app/1.log"]
        );
        Ok(())
    }
}
