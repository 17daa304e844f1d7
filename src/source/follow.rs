//! `--follow` for files: [`FollowFile`] reads a file to its end, then keeps polling it (every
//! 100 ms) like `tail -F`, surviving both rotation styles:
//!
//! * **rename and create** (logrotate default, kubelet, docker json-file): when the path names a
//!   different inode, the old file is read to its end once more, then the new file is read from
//!   its start — nothing lost, nothing read twice;
//! * **copytruncate**: when the file is shorter than what was read, reading restarts at 0.
//!   (Lines written between logrotate's copy and its truncate are lost by copytruncate itself;
//!   a writer that refills the file past the old offset within one poll goes unnoticed.)
//!
//! A missing path (between rename and create) is waited for. Reads end (EOF) once
//! [`super::live::request_stop`] was called.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::live;

const POLL: Duration = Duration::from_millis(100);

/// A followed file (see the module docs).
pub struct FollowFile {
    path: PathBuf,
    file: File,
    id: (u64, u64),
    pos: u64,
}

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
        })
    }
}

impl Read for FollowFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.file.read(buf)?;
            if n > 0 {
                self.pos += n as u64;
                return Ok(n);
            }
            if live::stopping() {
                return Ok(0);
            }
            match std::fs::metadata(&self.path) {
                Ok(md) if (md.dev(), md.ino()) != self.id => {
                    // Renamed away: drain the old file (a writer may have added to it since
                    // our last read), then switch to the new one.
                    let n = self.file.read(buf)?;
                    if n > 0 {
                        self.pos += n as u64;
                        return Ok(n);
                    }
                    match File::open(&self.path) {
                        Ok(f) => {
                            self.file = f;
                            self.id = (md.dev(), md.ino());
                            self.pos = 0;
                        }
                        Err(e) if e.kind() == io::ErrorKind::NotFound => std::thread::sleep(POLL),
                        Err(e) => return Err(e),
                    }
                }
                Ok(md) if md.len() < self.pos => {
                    // Truncated in place (copytruncate).
                    self.file.seek(SeekFrom::Start(0))?;
                    self.pos = 0;
                }
                Ok(_) => std::thread::sleep(POLL),
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
