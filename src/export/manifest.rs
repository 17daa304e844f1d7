//! `manifest.json`: what a bundle holds and how it was made — tool version, exact command
//! line, run times, every input with size, line count and SHA-256, the parsers (and rules) used,
//! redaction counts, input accounting, time range, and every output file with its row count,
//! SHA-256 and column schema. `logsleuth verify` checks a bundle against it.
//!
//! Invariants: the manifest is written last, after every other file is closed, so its hashes
//! describe final files; `complete` is false whenever an input was not read to its end (an
//! interrupt, a read error); later schema versions add keys, never rename them.

use std::collections::BTreeMap;

use arrow_schema::Schema;
use serde::{Deserialize, Serialize};

/// Schema id of the manifest (and of the bundle's tables): `/2` added `cause` to the evidence
/// of `findings.parquet`.
pub const SCHEMA: &str = "logsleuth.bundle/2";
/// Schema ids `logsleuth verify` reads: every file of a bundle is checked against its own
/// manifest, so an older bundle verifies as it did.
pub const READS: [&str; 2] = ["logsleuth.bundle/1", SCHEMA];
/// File name of the manifest inside a bundle.
pub const FILE_NAME: &str = "manifest.json";

/// The whole manifest.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Every input was read to its end and the run was not interrupted.
    pub complete: bool,
    /// Why not complete (empty when complete).
    #[serde(default)]
    pub incomplete_reasons: Vec<String>,
    /// The program.
    pub tool: Tool,
    /// The command line, exactly (secrets in it redacted unless `--no-redact`).
    pub argv: Vec<String>,
    /// Wall-clock start and end of the run.
    pub run: Run,
    /// Every input, in reading order.
    pub inputs: Vec<InputEntry>,
    /// Format definitions used.
    pub parsers: Vec<SpecEntry>,
    /// Rule definitions used (none before rules exist).
    #[serde(default)]
    pub rules: Vec<SpecEntry>,
    /// Redaction settings and counts.
    pub redaction: Redaction,
    /// The report's input accounting (`lines`, `events`, `filtered_out`, …).
    pub input_accounting: serde_json::Value,
    /// First and last event time covered (RFC3339 UTC).
    pub time_range: serde_json::Value,
    /// `--partition-by` columns, in directory order.
    #[serde(default)]
    pub partition_by: Vec<String>,
    /// Every file of the bundle except the manifest itself.
    pub outputs: Vec<Output>,
}

/// The program that wrote the bundle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Tool {
    /// `logsleuth`.
    pub name: String,
    /// Its version.
    pub version: String,
}

/// Wall-clock times of the run.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Run {
    /// Start, RFC3339 UTC.
    pub started: String,
    /// End (the manifest being written), RFC3339 UTC.
    pub finished: String,
    /// End minus start.
    pub seconds: f64,
}

/// One input.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct InputEntry {
    /// `stdin` or the path.
    pub name: String,
    /// `file`, `stdin` (or `memory`, embedded use).
    pub kind: String,
    /// Size on disk when the run started (files).
    pub size: Option<u64>,
    /// Bytes read as stored (compressed files: compressed bytes); all of them, also those of a
    /// partial last line an interrupt left out (`cut_line_bytes`).
    pub bytes_read: u64,
    /// Lines read (after decompression), without a partial last line an interrupt left out.
    pub lines: u64,
    /// SHA-256 of the bytes read (for a file read to its end: of the file); `None` for an input
    /// not read at all (`read: false`).
    pub sha256: Option<String>,
    /// Read to its end.
    pub read_complete: bool,
    /// Read at all: false when the run was interrupted before it (or it could not be opened).
    #[serde(default = "read_default")]
    pub read: bool,
    /// The interrupt stopped reading in the middle of the last line: its bytes read (after
    /// decompression), counted in `bytes_read` and `sha256` but neither a line nor an event
    /// (`input_accounting.cut_by_interrupt`). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cut_line_bytes: Option<u64>,
}

/// `read` of a bundle written before the key existed (it gave no way to tell).
fn read_default() -> bool {
    true
}

/// One definition file (parser or rule).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SpecEntry {
    /// File name (built in) or path (`--parsers`).
    pub name: String,
    /// `builtin` or `file`.
    pub origin: String,
    /// What it defines (the service, for parsers; `ID name`, for rules).
    pub defines: String,
    /// SHA-256 of its TOML text.
    pub sha256: Option<String>,
}

/// Redaction settings and counts.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Redaction {
    /// False with `--no-redact`.
    pub enabled: bool,
    /// Pattern file and the SHA-256 of its text.
    pub patterns: SpecEntry,
    /// Replacements per kind.
    pub counts: BTreeMap<String, u64>,
}

/// One file of the bundle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Output {
    /// Path relative to the bundle directory, `/`-separated.
    pub path: String,
    /// Table name (`events`, `requests`, …) for Parquet files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Hive partition values of this file (`service`, `date`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub partition: BTreeMap<String, String>,
    /// Rows (Parquet files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
    /// File size.
    pub bytes: u64,
    /// SHA-256 of the file.
    pub sha256: String,
    /// Column schema (Parquet files), as Arrow types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<Column>,
}

/// One column of a Parquet file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Column {
    /// Name.
    pub name: String,
    /// Arrow data type, as displayed by arrow-rs (`Int64`, `Timestamp(µs, "UTC")`, …).
    #[serde(rename = "type")]
    pub data_type: String,
    /// May hold nulls.
    pub nullable: bool,
}

impl Column {
    /// The columns of a schema.
    pub fn of(schema: &Schema) -> Vec<Column> {
        schema
            .fields()
            .iter()
            .map(|f| Column {
                name: f.name().clone(),
                data_type: f.data_type().to_string(),
                nullable: f.is_nullable(),
            })
            .collect()
    }
}
