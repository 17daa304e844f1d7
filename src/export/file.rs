//! Crash-safe output files: every file is written under a hidden temporary name
//! (`.<name>.tmp`, which Spark, DuckDB globs and pyarrow datasets all skip), hashed (SHA-256)
//! and counted while it is written, synced, and renamed to its final name only once complete.
//!
//! Parquet encoding (column encoders, dictionaries, zstd: most of an export's CPU) runs on one
//! encoder thread shared by every file ([`encode`]), so the merger thread that produces the rows
//! does not wait for it and the second core does that work (export wall −12–22 %, CPU up to
//! +10 % from the hand-over). One thread for all files and no batch queue keep the memory cost
//! small (+20 MB live, +55–90 MB peak RSS with the allocator's per-thread slack; a thread per
//! file cost 100–240 MB: BENCHMARKS.md).
//!
//! Invariants: a file under its final name is complete (a Parquet file has its footer); a
//! temporary file is removed when its writer is dropped without being closed (an error path);
//! only a process killed outright (SIGKILL, power loss) can leave one behind, hidden.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

use super::Error;
use super::manifest::{Column, Output};

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// SHA-256 (hex) and length of a whole file.
///
/// # Errors
/// The file cannot be read.
pub fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    let n = io::copy(&mut f, &mut h)?;
    Ok((hex(&h.finalize()), n))
}

/// A buffered file writer that hashes and counts what it writes.
pub struct HashingWriter {
    inner: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
}

impl Write for HashingWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// A file being written under its temporary name.
pub struct TempFile {
    tmp: PathBuf,
    dest: PathBuf,
    /// Path relative to the bundle, `/`-separated (for the manifest).
    rel: String,
    committed: bool,
}

impl TempFile {
    /// Create `root/rel` (parents included) as `.<name>.tmp` beside it.
    ///
    /// # Errors
    /// The directory or the file cannot be created.
    pub fn create(root: &Path, rel: &str) -> Result<(TempFile, HashingWriter), Error> {
        let dest = rel.split('/').fold(root.to_path_buf(), |p, c| p.join(c));
        let parent = dest.parent().unwrap_or(root).to_path_buf();
        fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, "creating directory", e))?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = parent.join(format!(".{name}.tmp"));
        let file = File::create(&tmp).map_err(|e| Error::io(&tmp, "creating", e))?;
        Ok((
            TempFile {
                tmp,
                dest,
                rel: rel.to_string(),
                committed: false,
            },
            HashingWriter {
                inner: BufWriter::with_capacity(1 << 20, file),
                hasher: Sha256::new(),
                bytes: 0,
            },
        ))
    }

    /// Flush, sync and rename to the final name.
    ///
    /// # Errors
    /// Writing, syncing or renaming failed (the temporary file is removed).
    pub fn commit(mut self, w: HashingWriter) -> Result<(String, u64, String), Error> {
        let HashingWriter {
            inner,
            hasher,
            bytes,
        } = w;
        let file = inner
            .into_inner()
            .map_err(|e| Error::io(&self.tmp, "writing", e.into_error()))?;
        file.sync_all()
            .map_err(|e| Error::io(&self.tmp, "syncing", e))?;
        drop(file);
        fs::rename(&self.tmp, &self.dest).map_err(|e| Error::io(&self.dest, "renaming into", e))?;
        self.committed = true;
        Ok((
            std::mem::take(&mut self.rel),
            bytes,
            hex(&hasher.finalize()),
        ))
    }

    /// Final path.
    pub fn dest(&self) -> &Path {
        &self.dest
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Write a small file (report, manifest) at once, crash-safely.
///
/// # Errors
/// As [`TempFile::create`] and [`TempFile::commit`].
pub fn write_small(root: &Path, rel: &str, data: &[u8]) -> Result<Output, Error> {
    let (tmp, mut w) = TempFile::create(root, rel)?;
    w.write_all(data)
        .map_err(|e| Error::io(tmp.dest(), "writing", e))?;
    let (path, bytes, sha256) = tmp.commit(w)?;
    Ok(Output {
        path,
        table: None,
        partition: Default::default(),
        rows: None,
        bytes,
        sha256,
        columns: Vec::new(),
    })
}

/// Work for the encoder thread.
type Job = Box<dyn FnOnce() + Send>;

/// Batches that may wait for the encoder before `write` blocks. None: a batch is handed over
/// when the encoder takes it, so it encodes one while the merger fills the next; a queue of 2
/// measured no faster and no smaller.
pub const QUEUED_JOBS: usize = 0;

/// Run `job` on the encoder thread (started on first use; it lives as long as the process and
/// runs jobs in the order they were sent). `false` if it cannot run.
fn encode(job: Job) -> bool {
    static ENCODER: OnceLock<Option<SyncSender<Job>>> = OnceLock::new();
    let tx = ENCODER.get_or_init(|| {
        let (tx, jobs) = sync_channel::<Job>(QUEUED_JOBS);
        std::thread::Builder::new()
            .name("parquet encoder".into())
            .spawn(move || {
                for job in jobs {
                    job();
                }
            })
            .ok()
            .map(|_| tx)
    });
    tx.as_ref().is_some_and(|tx| tx.send(job).is_ok())
}

/// A file's Arrow writer, shared with the encoder thread.
struct Encoding {
    writer: Option<ArrowWriter<HashingWriter>>,
    /// The first encoding error; every later call reports it.
    failed: Option<String>,
    /// Bytes the writer holds for the current row group, as of its last job: an atomic beside
    /// the lock, so that the merger reads it without waiting for a batch being encoded.
    buffered: Arc<AtomicUsize>,
}

impl Encoding {
    fn run(
        &mut self,
        op: impl FnOnce(&mut ArrowWriter<HashingWriter>) -> Result<(), ParquetError>,
    ) {
        if self.failed.is_some() {
            return;
        }
        if let Some(w) = self.writer.as_mut() {
            match op(w) {
                Ok(()) => self.buffered.store(w.memory_size(), Ordering::Relaxed),
                Err(e) => self.failed = Some(e.to_string()),
            }
        }
    }
}

/// One Parquet file being written; its batches are encoded on the encoder thread.
pub struct ParquetFile {
    tmp: TempFile,
    encoding: Arc<Mutex<Encoding>>,
    buffered: Arc<AtomicUsize>,
    table: &'static str,
    partition: Vec<(String, String)>,
    schema: SchemaRef,
    rows: u64,
}

impl ParquetFile {
    /// Start `root/rel`.
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(
        root: &Path,
        rel: &str,
        table: &'static str,
        partition: Vec<(String, String)>,
        schema: SchemaRef,
        props: WriterProperties,
    ) -> Result<ParquetFile, Error> {
        let (tmp, w) = TempFile::create(root, rel)?;
        let writer = ArrowWriter::try_new(w, schema.clone(), Some(props))
            .map_err(|e| Error::parquet(tmp.dest(), e))?;
        let buffered = Arc::new(AtomicUsize::new(0));
        Ok(ParquetFile {
            tmp,
            encoding: Arc::new(Mutex::new(Encoding {
                writer: Some(writer),
                failed: None,
                buffered: Arc::clone(&buffered),
            })),
            buffered,
            table,
            partition,
            schema,
            rows: 0,
        })
    }

    fn state(&self) -> Result<MutexGuard<'_, Encoding>, Error> {
        let failed = |why: String| Error::parquet(self.dest(), ParquetError::General(why));
        let state = self
            .encoding
            .lock()
            .map_err(|_| failed("the encoder stopped".into()))?;
        match &state.failed {
            Some(why) => Err(failed(why.clone())),
            None => Ok(state),
        }
    }

    /// Queue `op` on the encoder thread, after reporting an earlier job's failure.
    fn submit(
        &mut self,
        op: impl FnOnce(&mut ArrowWriter<HashingWriter>) -> Result<(), ParquetError> + Send + 'static,
    ) -> Result<(), Error> {
        drop(self.state()?);
        let encoding = Arc::clone(&self.encoding);
        let job = Box::new(move || {
            if let Ok(mut e) = encoding.lock() {
                e.run(op);
            }
        });
        if encode(job) {
            Ok(())
        } else {
            Err(Error::parquet(
                self.dest(),
                ParquetError::General("the encoder thread is not running".into()),
            ))
        }
    }

    /// Wait until the encoder has done every job queued for this file so far.
    fn settle(&self) -> Result<(), Error> {
        let (done, wait) = sync_channel::<()>(1);
        let job = Box::new(move || {
            let _ = done.send(());
        });
        if !encode(job) || wait.recv().is_err() {
            return Err(Error::parquet(
                self.dest(),
                ParquetError::General("the encoder thread stopped".into()),
            ));
        }
        Ok(())
    }

    /// Append a batch (row groups are cut by the writer properties). It is encoded on the
    /// encoder thread; an encoding error is reported by a later call or by `close`.
    ///
    /// # Errors
    /// Encoding or writing failed.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        let rows = batch.num_rows() as u64;
        let batch = batch.clone();
        self.submit(move |w| w.write(&batch))?;
        self.rows += rows;
        Ok(())
    }

    /// Close the current row group now (bounds memory across many open files).
    ///
    /// # Errors
    /// Encoding or writing failed.
    pub fn end_row_group(&mut self) -> Result<(), Error> {
        self.submit(ArrowWriter::flush)
    }

    /// Final path.
    pub fn dest(&self) -> &Path {
        self.tmp.dest()
    }

    /// Bytes buffered for the current row group (as of the last batch encoded).
    pub fn buffered(&self) -> usize {
        self.buffered.load(Ordering::Relaxed)
    }

    /// Write the footer, sync and rename.
    ///
    /// # Errors
    /// Encoding, writing or renaming failed.
    pub fn close(self) -> Result<Output, Error> {
        self.settle()?;
        let writer = self.state()?.writer.take();
        let ParquetFile {
            tmp,
            table,
            partition,
            schema,
            rows,
            ..
        } = self;
        let w = writer
            .ok_or_else(|| ParquetError::General("closed twice".into()))
            .and_then(ArrowWriter::into_inner)
            .map_err(|e| Error::parquet(tmp.dest(), e))?;
        let (path, bytes, sha256) = tmp.commit(w)?;
        Ok(Output {
            path,
            table: Some(table.to_string()),
            partition: partition.into_iter().collect(),
            rows: Some(rows),
            bytes,
            sha256,
            columns: Column::of(&schema),
        })
    }
}
