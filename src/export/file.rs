//! Crash-safe output files: every file is written under a hidden temporary name
//! (`.<name>.tmp`, which Spark, DuckDB globs and pyarrow datasets all skip), hashed (SHA-256)
//! and counted while it is written, synced, and renamed to its final name only once complete.
//!
//! Invariants: a file under its final name is complete (a Parquet file has its footer); a
//! temporary file is removed when its writer is dropped without being closed (an error path);
//! only a process killed outright (SIGKILL, power loss) can leave one behind, hidden.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
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

/// One Parquet file being written.
pub struct ParquetFile {
    tmp: TempFile,
    writer: ArrowWriter<HashingWriter>,
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
        Ok(ParquetFile {
            tmp,
            writer,
            table,
            partition,
            schema,
            rows: 0,
        })
    }

    /// Append a batch (row groups are cut by the writer properties).
    ///
    /// # Errors
    /// Encoding or writing failed.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), Error> {
        self.writer
            .write(batch)
            .map_err(|e| Error::parquet(self.tmp.dest(), e))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Close the current row group now (bounds memory across many open files).
    ///
    /// # Errors
    /// Encoding or writing failed.
    pub fn end_row_group(&mut self) -> Result<(), Error> {
        self.writer
            .flush()
            .map_err(|e| Error::parquet(self.tmp.dest(), e))
    }

    /// Final path.
    pub fn dest(&self) -> &Path {
        self.tmp.dest()
    }

    /// Bytes buffered for the current row group.
    pub fn buffered(&self) -> usize {
        self.writer.memory_size()
    }

    /// Write the footer, sync and rename.
    ///
    /// # Errors
    /// Encoding, writing or renaming failed.
    pub fn close(self) -> Result<Output, Error> {
        let ParquetFile {
            tmp,
            writer,
            table,
            partition,
            schema,
            rows,
        } = self;
        let w = writer
            .into_inner()
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
