//! `logsleuth verify DIR`: re-hash every file of a bundle and check it against
//! `manifest.json` — size, SHA-256, and for Parquet files the column schema and the row count
//! (every row is decoded, so a file that a reader would reject is found) — list files the
//! manifest does not know, and check the manifest against itself: every table the bundle format
//! always writes is listed (and `report.md`), each file lies where its table and partition say,
//! the rows of a `date=` partition fall on that date, the rows add up to the input accounting
//! (events) and to `endpoints.parquet` (requests), and `complete` agrees with the inputs.
//!
//! Invariants: verification only reads; every difference is reported (it does not stop at the
//! first); manifest paths that would leave the bundle directory — by `..` or through a symbolic
//! link — are refused, not followed; a path listed twice is reported, and checked once.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::path::{Component, Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::dataset::{NULL_PARTITION, utc_date};
use super::file::hash_file;
use super::manifest::{self, Column, Manifest, Output};

/// Tables every bundle holds (at least one file each; `events` may lack one only when the run
/// kept no event).
pub const TABLES: [&str; 6] = [
    "events",
    "requests",
    "endpoints",
    "error_rate",
    "findings",
    "groups",
];
/// Tables written as Hive datasets with `--partition-by`.
const PARTITIONED: [&str; 2] = ["events", "requests"];
/// The Markdown report every bundle holds.
pub const REPORT: &str = "report.md";
/// Files named in an error (the rest are counted).
const NAMES_SHOWN: usize = 10;

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
    /// No manifest, but what an export leaves behind: the export never finished (a process
    /// killed outright — SIGKILL, a second Ctrl-C, power loss — writes no manifest).
    #[error(
        "'{}' has no {}: the export that wrote this directory never finished (it was killed before its last step), so nothing in it can be verified{}",
        dir.display(),
        manifest::FILE_NAME,
        describe_leftovers(leftovers, finished)
    )]
    Unfinished {
        /// The bundle directory.
        dir: PathBuf,
        /// Temporary files left (`.<name>.tmp`), relative paths.
        leftovers: Vec<String>,
        /// Bundle files that were completed before the end.
        finished: Vec<String>,
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

fn describe_leftovers(leftovers: &[String], finished: &[String]) -> String {
    let mut s = String::new();
    if !leftovers.is_empty() {
        s.push_str(&format!(
            "; {} temporary file(s) left: {}",
            leftovers.len(),
            some(leftovers)
        ));
    }
    if !finished.is_empty() {
        s.push_str(&format!(
            "; {} file(s) completed before that: {}",
            finished.len(),
            some(finished)
        ));
    }
    s.push_str("; export again (`--force` removes what is left)");
    s
}

/// The first [`NAMES_SHOWN`] names, then how many more.
fn some(names: &[String]) -> String {
    let shown: Vec<&str> = names.iter().take(NAMES_SHOWN).map(String::as_str).collect();
    let mut s = shown.join(", ");
    if names.len() > shown.len() {
        s.push_str(&format!(" and {} more", names.len() - shown.len()));
    }
    s
}

/// The outcome of a verification.
#[derive(Debug)]
pub struct Verification {
    /// The manifest read.
    pub manifest: Manifest,
    /// SHA-256 (hex) of `manifest.json` as read, for recording out of band.
    pub manifest_sha256: String,
    /// Files checked (each path listed in the manifest, once).
    pub files: usize,
    /// Everything that differs from the manifest, one sentence each.
    pub differences: Vec<String>,
}

impl Verification {
    /// Every file matches and the manifest agrees with itself.
    pub fn intact(&self) -> bool {
        self.differences.is_empty()
    }
}

/// What was read from one Parquet file beyond its row count.
#[derive(Default)]
struct Read {
    /// Sum of the `requests` column (`endpoints.parquet`).
    requests: Option<u64>,
}

/// Verify the bundle in `dir`.
///
/// # Errors
/// The manifest is missing or invalid (differences are not errors: see
/// [`Verification::differences`]).
pub fn verify(dir: &Path) -> Result<Verification, VerifyError> {
    let path = dir.join(manifest::FILE_NAME);
    let text = match std::fs::read(&path) {
        Ok(t) => t,
        Err(source) => return Err(missing_manifest(dir, path, source)),
    };
    let manifest_sha256 = super::sha256_hex(&text);
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
    let root = dir.canonicalize().ok();
    let mut listed: BTreeMap<&str, usize> = BTreeMap::new();
    for out in &manifest.outputs {
        *listed.entry(out.path.as_str()).or_insert(0) += 1;
    }
    for (p, n) in &listed {
        if *n > 1 {
            differences.push(format!(
                "{p}: listed {n} times in the manifest (a file is listed once)"
            ));
        }
    }
    let mut checked = BTreeSet::new();
    let mut endpoint_requests: Option<u64> = None;
    for out in &manifest.outputs {
        if !checked.insert(out.path.as_str()) {
            continue;
        }
        if safe_path(dir, &out.path).is_some() {
            check_layout(&manifest, out, &mut differences);
        }
        let read = check_output(dir, root.as_deref(), out, &mut differences);
        if out.table.as_deref() == Some("endpoints") {
            endpoint_requests = read.requests;
        }
    }
    check_consistency(&manifest, endpoint_requests, &mut differences);
    let mut found = Vec::new();
    list_files(dir, "", &mut found, &mut differences);
    for f in found {
        if f != manifest::FILE_NAME && !listed.contains_key(f.as_str()) {
            differences.push(format!("{f}: not in the manifest"));
        }
    }
    Ok(Verification {
        files: checked.len(),
        manifest,
        manifest_sha256,
        differences,
    })
}

/// No manifest: an unfinished export when the directory holds what an export leaves.
fn missing_manifest(dir: &Path, path: PathBuf, source: std::io::Error) -> VerifyError {
    if source.kind() != std::io::ErrorKind::NotFound {
        return VerifyError::Manifest { path, source };
    }
    let mut found = Vec::new();
    list_files(dir, "", &mut found, &mut Vec::new());
    let leftovers: Vec<String> = found
        .iter()
        .filter(|f| {
            let name = f.rsplit('/').next().unwrap_or(f);
            name.starts_with('.') && name.ends_with(".tmp")
        })
        .cloned()
        .collect();
    let finished: Vec<String> = found
        .iter()
        .filter(|f| {
            let top = f.split('/').next().unwrap_or(f);
            f.as_str() == REPORT
                || TABLES.iter().any(|t| {
                    top == format!("{t}.parquet")
                        || (PARTITIONED.contains(t) && top == *t && f.ends_with(".parquet"))
                })
        })
        .filter(|f| !leftovers.contains(f))
        .cloned()
        .collect();
    if leftovers.is_empty() && finished.is_empty() {
        return VerifyError::Manifest { path, source };
    }
    VerifyError::Unfinished {
        dir: dir.to_path_buf(),
        leftovers,
        finished,
    }
}

fn safe_path(dir: &Path, rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    if rel.is_empty() || p.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(dir.join(p))
}

/// Decode a Hive partition directory value (`%XX` escapes; the null partition is `""`).
fn unescape_partition_value(v: &str) -> Option<String> {
    if v == NULL_PARTITION {
        return Some(String::new());
    }
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = v.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Where a table's file must lie: `<table>.parquet`, or with `--partition-by` (events and
/// requests) `<table>/k=v/…/part-N.parquet` with the keys of `partition_by`, in order, and the
/// values of the entry's `partition`, or the empty `<table>/part-0.parquet` of a table without
/// a row.
fn check_layout(m: &Manifest, out: &Output, differences: &mut Vec<String>) {
    let name = &out.path;
    let Some(table) = out.table.as_deref() else {
        if !out.partition.is_empty() {
            differences.push(format!("{name}: has partition values but no table"));
        }
        return;
    };
    if !TABLES.contains(&table) {
        differences.push(format!(
            "{name}: table {table:?} is none a bundle holds ({})",
            TABLES.join(", ")
        ));
        return;
    }
    let partitioned = PARTITIONED.contains(&table) && !m.partition_by.is_empty();
    if !partitioned {
        if *name != format!("{table}.parquet") {
            differences.push(format!(
                "{name}: a file of table {table} must be {table}.parquet"
            ));
        }
        if !out.partition.is_empty() {
            differences.push(format!(
                "{name}: has partition values, but table {table} is not partitioned"
            ));
        }
        return;
    }
    let Some(rest) = name.strip_prefix(&format!("{table}/")) else {
        differences.push(format!(
            "{name}: a file of table {table} must lie under {table}/"
        ));
        return;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let (dirs, file) = segments.split_at(segments.len() - 1);
    let part_file = file[0]
        .strip_prefix("part-")
        .and_then(|s| s.strip_suffix(".parquet"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !part_file {
        differences.push(format!(
            "{name}: a partition file must be named part-<n>.parquet"
        ));
    }
    if dirs.is_empty() {
        // The one empty file of a table without a row.
        if !out.partition.is_empty()
            || out.rows.is_some_and(|r| r > 0)
            || file[0] != "part-0.parquet"
        {
            differences.push(format!(
                "{name}: outside the {} partitions, only an empty part-0.parquet may lie",
                m.partition_by.join("/")
            ));
        }
        return;
    }
    let mut from_path = BTreeMap::new();
    let mut keys = Vec::new();
    for d in dirs {
        let decoded = d
            .split_once('=')
            .and_then(|(k, v)| Some((k, unescape_partition_value(v)?)));
        match decoded {
            Some((k, v)) => {
                keys.push(k.to_string());
                from_path.insert(k.to_string(), v);
            }
            None => {
                differences.push(format!("{name}: {d:?} is not a partition directory"));
                return;
            }
        }
    }
    if keys != m.partition_by {
        differences.push(format!(
            "{name}: partition directories are {}, the manifest's partition_by is {}",
            keys.join("/"),
            m.partition_by.join("/")
        ));
    }
    if from_path != out.partition {
        differences.push(format!(
            "{name}: the path says {}, its manifest entry says {}",
            describe_partition(&from_path),
            describe_partition(&out.partition)
        ));
    }
}

fn describe_partition(p: &BTreeMap<String, String>) -> String {
    if p.is_empty() {
        return "no partition".to_string();
    }
    p.iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                if v.is_empty() {
                    NULL_PARTITION
                } else {
                    v.as_str()
                }
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The manifest against itself: the tables every bundle has, the rows against the input
/// accounting and `endpoints.parquet`, `complete` against the inputs.
fn check_consistency(m: &Manifest, endpoint_requests: Option<u64>, differences: &mut Vec<String>) {
    let count = |key: &str| {
        m.input_accounting
            .get(key)
            .and_then(serde_json::Value::as_u64)
    };
    let kept = match (count("events"), count("filtered_out")) {
        (Some(e), Some(f)) => e.checked_sub(f),
        _ => None,
    };
    let mut seen = BTreeSet::new();
    let rows = |table: &str, seen: &mut BTreeSet<String>| -> (usize, u64) {
        let mut files = 0;
        let mut rows = 0;
        for o in &m.outputs {
            if o.table.as_deref() == Some(table) && seen.insert(o.path.clone()) {
                files += 1;
                rows += o.rows.unwrap_or(0);
            }
        }
        (files, rows)
    };
    for table in TABLES {
        let (files, n) = rows(table, &mut seen);
        if files == 0 && !(table == "events" && kept == Some(0)) {
            differences.push(format!(
                "table {table}: no file in the manifest (every bundle has one)"
            ));
            continue;
        }
        match table {
            "events" => match kept {
                Some(k) if k != n => differences.push(format!(
                    "table events: {n} rows in the manifest's files, but its input accounting counts {k} events kept (events {} − filtered_out {})",
                    count("events").unwrap_or(0),
                    count("filtered_out").unwrap_or(0)
                )),
                Some(_) => {}
                None => differences.push(
                    "input accounting: no events / filtered_out counts (or more filtered out than events)".to_string(),
                ),
            },
            "requests" => {
                if let Some(e) = endpoint_requests
                    && e != n
                {
                    differences.push(format!(
                        "table requests: {n} rows in the manifest's files, but endpoints.parquet counts {e} requests"
                    ));
                }
            }
            _ => {}
        }
    }
    if !m
        .outputs
        .iter()
        .any(|o| o.path == REPORT && o.table.is_none())
    {
        differences.push(format!(
            "{REPORT}: not in the manifest (every bundle has one)"
        ));
    }
    // Every line is accounted for once.
    if let (Some(lines), Some(e), Some(c), Some(u), Some(j)) = (
        count("lines"),
        count("events"),
        count("continuation_lines"),
        count("unparsed_lines"),
        count("joined_partials"),
    ) && lines != e + c + u + j
    {
        differences.push(format!(
            "input accounting: lines {lines} ≠ events {e} + continuation_lines {c} + unparsed_lines {u} + joined_partials {j}"
        ));
    }
    if m.complete != m.incomplete_reasons.is_empty() {
        differences.push(format!(
            "manifest: complete is {} but it gives {} reason(s) for being incomplete",
            m.complete,
            m.incomplete_reasons.len()
        ));
    }
    if m.complete {
        for i in m.inputs.iter().filter(|i| !i.read_complete) {
            differences.push(format!(
                "manifest: complete is true but input '{}' was not read to its end",
                i.name
            ));
        }
    }
}

/// Each path component inside the bundle that is a symbolic link must lead back into it.
fn leaves_through_link(root: Option<&Path>, path: &Path) -> bool {
    let Some(root) = root else {
        return false;
    };
    match path.canonicalize() {
        Ok(real) => !real.starts_with(root),
        // A dangling link: where it leads cannot be checked either.
        Err(_) => std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()),
    }
}

fn check_output(
    dir: &Path,
    root: Option<&Path>,
    out: &Output,
    differences: &mut Vec<String>,
) -> Read {
    let name = &out.path;
    let Some(path) = safe_path(dir, name) else {
        differences.push(format!(
            "{name}: path leaves the bundle directory; not checked"
        ));
        return Read::default();
    };
    if leaves_through_link(root, &path) {
        differences.push(format!(
            "{name}: a symbolic link leading outside the bundle directory; not followed"
        ));
        return Read::default();
    }
    let (sha256, bytes) = match hash_file(&path) {
        Ok(h) => h,
        Err(e) => {
            differences.push(format!("{name}: missing or unreadable ({e})"));
            return Read::default();
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
        return Read::default();
    }
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) => {
            differences.push(format!("{name}: cannot open ({e})"));
            return Read::default();
        }
    };
    let builder = match ParquetRecordBatchReaderBuilder::try_new(file) {
        Ok(b) => b,
        Err(e) => {
            differences.push(format!("{name}: not a readable Parquet file ({e})"));
            return Read::default();
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
            return Read::default();
        }
    };
    let mut date = out.partition.get("date").map(|d| DateCheck::new(d));
    let sum_requests = out.table.as_deref() == Some("endpoints");
    let mut requests = sum_requests.then_some(0u64);
    let mut rows = 0u64;
    for batch in reader {
        match batch {
            Ok(b) => {
                if let Some(d) = date.as_mut() {
                    d.batch(&b, rows);
                }
                if let Some(sum) = requests.as_mut() {
                    match b
                        .column_by_name("requests")
                        .and_then(|c| c.as_primitive_opt::<Int64Type>())
                    {
                        Some(c) => {
                            *sum += c
                                .iter()
                                .flatten()
                                .map(|v| u64::try_from(v).unwrap_or(0))
                                .sum::<u64>();
                        }
                        None => requests = None,
                    }
                }
                rows += b.num_rows() as u64;
            }
            Err(e) => {
                differences.push(format!("{name}: rows cannot be decoded ({e})"));
                return Read::default();
            }
        }
    }
    if Some(rows) != out.rows {
        differences.push(format!(
            "{name}: {rows} rows, manifest says {}",
            out.rows.map_or("none".to_string(), |r| r.to_string())
        ));
    }
    if let Some(d) = date {
        d.report(name, differences);
    }
    Read { requests }
}

/// Rows of a `date=` partition: each row's time (`ts_ns`, else `ts`) must fall on that UTC
/// date, and rows without a time belong to `__HIVE_DEFAULT_PARTITION__`.
struct DateCheck {
    expected: String,
    /// The last day seen and its date (one string per day, not per row).
    last: Option<(i64, String)>,
    wrong: u64,
    /// The first row out of place: its index and its date.
    first: Option<(u64, String)>,
    no_time_column: bool,
}

const DAY_NS: i64 = 86_400_000_000_000;

impl DateCheck {
    fn new(expected: &str) -> DateCheck {
        DateCheck {
            expected: expected.to_string(),
            last: None,
            wrong: 0,
            first: None,
            no_time_column: false,
        }
    }

    fn batch(&mut self, b: &RecordBatch, offset: u64) {
        let times: Vec<Option<i64>> = if let Some(c) = b
            .column_by_name("ts_ns")
            .and_then(|c| c.as_primitive_opt::<Int64Type>())
        {
            c.iter().collect()
        } else if let Some(c) = b
            .column_by_name("ts")
            .filter(|c| matches!(c.data_type(), DataType::Timestamp(TimeUnit::Microsecond, _)))
        {
            c.as_primitive::<TimestampMicrosecondType>()
                .iter()
                .map(|v| v.map(|us| us.saturating_mul(1000)))
                .collect()
        } else {
            self.no_time_column |= b.num_rows() > 0;
            return;
        };
        for (i, t) in times.into_iter().enumerate() {
            let date = match t {
                None => "",
                Some(t) => {
                    let day = t.div_euclid(DAY_NS);
                    if self.last.as_ref().is_none_or(|(d, _)| *d != day) {
                        self.last = Some((day, utc_date(t)));
                    }
                    self.last.as_ref().map_or("", |(_, s)| s.as_str())
                }
            };
            if date != self.expected {
                self.wrong += 1;
                if self.first.is_none() {
                    self.first = Some((offset + i as u64, date.to_string()));
                }
            }
        }
    }

    fn report(self, name: &str, differences: &mut Vec<String>) {
        let show = |d: &str| {
            if d.is_empty() {
                "no time".to_string()
            } else {
                d.to_string()
            }
        };
        if self.no_time_column {
            differences.push(format!(
                "{name}: no ts_ns or ts column to check the date partition against"
            ));
        }
        if let Some((row, date)) = self.first {
            differences.push(format!(
                "{name}: {} row(s) outside the partition date={} (row {row}: {})",
                self.wrong,
                if self.expected.is_empty() {
                    NULL_PARTITION
                } else {
                    self.expected.as_str()
                },
                show(&date)
            ));
        }
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

/// Every file under `dir`, as `/`-separated relative paths (symbolic links are listed, not
/// followed).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_values_round_trip() {
        for v in ["skreaver", "a/b=c", "", "..", "Billing API/v2 = 100%"] {
            let escaped = super::super::dataset::escape_partition_value(v);
            assert_eq!(unescape_partition_value(&escaped).as_deref(), Some(v));
        }
        assert_eq!(unescape_partition_value("%G1"), None);
        assert_eq!(unescape_partition_value("%4"), None);
    }
}
