//! `logsleuth verify DIR`: re-hash every file of a bundle and check it against
//! `manifest.json` — size, SHA-256, and for Parquet files the column schema and the row count
//! (every row is decoded, so a file that a reader would reject is found) — and list files the
//! manifest does not know.
//!
//! Invariants: verification only reads; every difference is reported (it does not stop at the
//! first); manifest paths that would leave the bundle directory are refused, not followed.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Component, Path, PathBuf};

use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::file::hash_file;
use super::manifest::{self, Column, Manifest, Output};

/// A bundle that cannot be verified at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// No readable manifest.
    #[error("cannot read '{}': {source}", path.display())]
    Manifest {
        /// The manifest path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The manifest is not valid.
    #[error("'{}' is not a logsleuth manifest: {source}", path.display())]
    Invalid {
        /// The manifest path.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// The outcome of a verification.
#[derive(Debug)]
pub struct Verification {
    /// The manifest read.
    pub manifest: Manifest,
    /// Files checked.
    pub files: usize,
    /// Everything that differs from the manifest, one sentence each.
    pub differences: Vec<String>,
}

/// Verify the bundle in `dir`.
///
/// # Errors
/// The manifest is missing or invalid (differences are not errors: see
/// [`Verification::differences`]).
pub fn verify(dir: &Path) -> Result<Verification, VerifyError> {
    let path = dir.join(manifest::FILE_NAME);
    let text = std::fs::read(&path).map_err(|source| VerifyError::Manifest {
        path: path.clone(),
        source,
    })?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|source| VerifyError::Invalid {
            path: path.clone(),
            source,
        })?;
    let mut differences = Vec::new();
    if !manifest::READS.contains(&manifest.schema.as_str()) {
        differences.push(format!(
            "manifest schema is {:?}, this logsleuth reads {}",
            manifest.schema,
            manifest::READS
                .iter()
                .map(|s| format!("{s:?}"))
                .collect::<Vec<_>>()
                .join(" and ")
        ));
    }
    let mut known = BTreeSet::new();
    known.insert(manifest::FILE_NAME.to_string());
    for out in &manifest.outputs {
        known.insert(out.path.clone());
        check_output(dir, out, &mut differences);
    }
    let mut found = Vec::new();
    list_files(dir, "", &mut found, &mut differences);
    for f in found {
        if !known.contains(&f) {
            differences.push(format!("{f}: not in the manifest"));
        }
    }
    Ok(Verification {
        files: manifest.outputs.len(),
        manifest,
        differences,
    })
}

fn safe_path(dir: &Path, rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    if rel.is_empty() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(dir.join(p))
}

fn check_output(dir: &Path, out: &Output, differences: &mut Vec<String>) {
    let name = &out.path;
    let Some(path) = safe_path(dir, name) else {
        differences.push(format!(
            "{name}: path leaves the bundle directory; not checked"
        ));
        return;
    };
    let (sha256, bytes) = match hash_file(&path) {
        Ok(h) => h,
        Err(e) => {
            differences.push(format!("{name}: missing or unreadable ({e})"));
            return;
        }
    };
    if bytes != out.bytes {
        differences.push(format!(
            "{name}: size is {bytes} bytes, manifest says {}",
            out.bytes
        ));
    }
    if sha256 != out.sha256 {
        differences.push(format!(
            "{name}: SHA-256 is {sha256}, manifest says {}",
            out.sha256
        ));
    }
    if out.table.is_none() {
        return;
    }
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            differences.push(format!("{name}: cannot open ({e})"));
            return;
        }
    };
    let builder = match ParquetRecordBatchReaderBuilder::try_new(file) {
        Ok(b) => b,
        Err(e) => {
            differences.push(format!("{name}: not a readable Parquet file ({e})"));
            return;
        }
    };
    let columns = Column::of(builder.schema());
    if columns != out.columns {
        differences.push(format!(
            "{name}: schema differs: file has [{}], manifest says [{}]",
            describe(&columns),
            describe(&out.columns)
        ));
    }
    let reader = match builder.build() {
        Ok(r) => r,
        Err(e) => {
            differences.push(format!("{name}: cannot read rows ({e})"));
            return;
        }
    };
    let mut rows = 0u64;
    for batch in reader {
        match batch {
            Ok(b) => rows += b.num_rows() as u64,
            Err(e) => {
                differences.push(format!("{name}: rows cannot be decoded ({e})"));
                return;
            }
        }
    }
    if Some(rows) != out.rows {
        differences.push(format!(
            "{name}: {rows} rows, manifest says {}",
            out.rows.map_or("none".to_string(), |r| r.to_string())
        ));
    }
}

fn describe(cols: &[Column]) -> String {
    cols.iter()
        .map(|c| {
            format!(
                "{} {}{}",
                c.name,
                c.data_type,
                if c.nullable { "" } else { " not null" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every file under `dir`, as `/`-separated relative paths.
fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>, differences: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            differences.push(format!("{}: cannot list ({e})", dir.display()));
            return;
        }
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            list_files(&e.path(), &rel, out, differences);
        } else {
            out.push(rel);
        }
    }
}
