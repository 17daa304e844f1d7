//! A table written as one Parquet file (`events.parquet`) or as a Hive-partitioned dataset
//! (`events/service=skreaver/date=2026-11-22/part-0.parquet`), streaming: rows go into a
//! column batch, full batches go to the Parquet writer, which cuts row groups.
//!
//! Invariants — memory is bounded on any input: a batch holds at most [`BATCH_ROWS`] rows or
//! [`BATCH_BYTES`] of text; a row group at most [`ROW_GROUP_ROWS`] rows or
//! [`ROW_GROUP_BYTES`]; at most [`MAX_OPEN_PARTS`] partition files are open (the least recently
//! used is closed, and a later row of its partition opens `part-<n+1>`), and their buffered row
//! groups together stay under [`OPEN_PARTS_BUDGET`] (the largest is cut first).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use super::Error;
use super::file::ParquetFile;
use super::manifest::Output;
use super::tables::{BATCH_BYTES, BATCH_ROWS, EventBatch, GroupBatch, RequestBatch};

/// zstd level: 3 (DuckDB's default) measured 0.3% smaller and 5% more CPU on the 1M-line
/// corpus, so parquet-rs's default (1) stays.
const ZSTD_LEVEL: i32 = 1;

/// Data page size of the `raw` column (parquet-rs's default is 1 MiB).
const RAW_PAGE_BYTES: usize = 4 << 20;
/// Dictionary page limit of the `fields` column (parquet-rs's default is 1 MiB).
const FIELDS_DICTIONARY_BYTES: usize = 8 << 20;

/// Most rows in one row group.
pub const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Most buffered bytes of one row group.
pub const ROW_GROUP_BYTES: usize = 64 << 20;
/// Most partition files open at once.
pub const MAX_OPEN_PARTS: usize = 32;
/// Most buffered row-group bytes across the open partition files.
pub const OPEN_PARTS_BUDGET: usize = 128 << 20;

/// A column of the Hive layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionKey {
    /// The service name.
    Service,
    /// The UTC date of the row's time (`__HIVE_DEFAULT_PARTITION__` when it has none).
    Date,
}

impl PartitionKey {
    /// Column name in the directory layout.
    pub fn name(self) -> &'static str {
        match self {
            PartitionKey::Service => "service",
            PartitionKey::Date => "date",
        }
    }

    /// Parse `service` or `date`.
    pub fn parse(s: &str) -> Option<PartitionKey> {
        match s.trim() {
            "service" => Some(PartitionKey::Service),
            "date" => Some(PartitionKey::Date),
            _ => None,
        }
    }
}

/// Hive's name for a null partition value (Spark, DuckDB and pyarrow read it as NULL).
pub const NULL_PARTITION: &str = "__HIVE_DEFAULT_PARTITION__";

/// Escape a partition value for a directory name the way Hive does (`%XX`).
pub fn escape_partition_value(v: &str) -> String {
    if v.is_empty() {
        return NULL_PARTITION.to_string();
    }
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.') && !(out.is_empty() && b == b'.')
        {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The UTC date (`YYYY-MM-DD`) of a nanosecond timestamp.
pub fn utc_date(ns: i64) -> String {
    // Civil-from-days (Howard Hinnant's algorithm).
    let days = ns.div_euclid(86_400_000_000_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Writer settings shared by every table, chosen by file size on the 1M-line corpus against
/// DuckDB's zstd output of the same rows (BENCHMARKS.md, "Export"):
/// - time columns of `events` are PLAIN and left to zstd (−2.2 MB against DELTA_BINARY_PACKED,
///   which zstd cannot shrink further); elsewhere (requests are ordered by when they complete,
///   not by their time) and for `line` (consecutive numbers) delta encoding is smaller;
/// - `raw` and `message`: no dictionary (nearly every value differs; trying one only to fall
///   back costs time and, for `message`, bytes); `raw` gets 4 MiB pages (longer zstd frames);
/// - `fields`: a dictionary of up to 8 MiB per row group (its JSON repeats a lot, and the
///   default 1 MiB limit made it fall back to plain: 3.1 → 2.0 MB);
/// - no statistics on free-text columns (no engine prunes on them; they cost a comparison per
///   value).
pub fn writer_properties(table: &str, schema: &SchemaRef) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(ZSTD_LEVEL).unwrap_or_default(),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_max_row_group_bytes(Some(ROW_GROUP_BYTES))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_created_by(format!("logsleuth {}", env!("CARGO_PKG_VERSION")));
    for f in schema.fields() {
        let name = f.name().as_str();
        let col = || ColumnPath::from(name);
        let is_time =
            name.ends_with("_ns") || matches!(f.data_type(), arrow_schema::DataType::Timestamp(..));
        if matches!(name, "raw" | "message") || (is_time && table == "events") {
            b = b.set_column_dictionary_enabled(col(), false);
        } else if is_time || name == "line" {
            b = b
                .set_column_dictionary_enabled(col(), false)
                .set_column_encoding(col(), Encoding::DELTA_BINARY_PACKED);
        }
        if name == "raw" {
            b = b.set_column_data_page_size_limit(col(), RAW_PAGE_BYTES);
        }
        if name == "fields" {
            b = b.set_column_dictionary_page_size_limit(col(), FIELDS_DICTIONARY_BYTES);
        }
        if matches!(name, "raw" | "fields" | "message" | "exception" | "path") {
            b = b.set_column_statistics_enabled(col(), EnabledStatistics::None);
        }
    }
    b.build()
}

/// A column batch builder the dataset can drive.
pub trait Batch {
    /// Rows held.
    fn rows(&self) -> usize;
    /// Approximate bytes held.
    fn bytes(&self) -> usize;
    /// The rows as a record batch; the builder starts over.
    ///
    /// # Errors
    /// Columns disagree with the schema (a bug).
    fn finish(&mut self) -> Result<RecordBatch, ArrowError>;
}

impl Batch for EventBatch {
    fn rows(&self) -> usize {
        EventBatch::rows(self)
    }
    fn bytes(&self) -> usize {
        EventBatch::bytes(self)
    }
    fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        EventBatch::finish(self)
    }
}

impl Batch for GroupBatch {
    fn rows(&self) -> usize {
        GroupBatch::rows(self)
    }
    fn bytes(&self) -> usize {
        GroupBatch::bytes(self)
    }
    fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        GroupBatch::finish(self)
    }
}

impl Batch for RequestBatch {
    fn rows(&self) -> usize {
        RequestBatch::rows(self)
    }
    fn bytes(&self) -> usize {
        RequestBatch::bytes(self)
    }
    fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        RequestBatch::finish(self)
    }
}

struct Part<B> {
    /// Partition values, in key order.
    values: Vec<String>,
    batch: B,
    file: ParquetFile,
    last_used: u64,
}

/// One table of the bundle.
pub struct Dataset<B: Batch> {
    table: &'static str,
    root: PathBuf,
    keys: Vec<PartitionKey>,
    schema: SchemaRef,
    props: WriterProperties,
    new_batch: fn(&[&str]) -> B,
    open: Vec<Part<B>>,
    /// Next file number per partition.
    next_file: HashMap<Vec<String>, u32>,
    closed: Vec<Output>,
    tick: u64,
}

impl<B: Batch> Dataset<B> {
    /// A table named `table` under `root`; unpartitioned when `keys` is empty (then its single
    /// file is created at once, so an empty table still has a file with its schema).
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(
        root: &Path,
        table: &'static str,
        keys: &[PartitionKey],
        schema_of: fn(&[&str]) -> SchemaRef,
        new_batch: fn(&[&str]) -> B,
    ) -> Result<Dataset<B>, Error> {
        let without: Vec<&str> = keys
            .iter()
            .map(|k| k.name())
            .filter(|n| *n == "service")
            .collect();
        let schema = schema_of(&without);
        let mut ds = Dataset {
            table,
            root: root.to_path_buf(),
            keys: keys.to_vec(),
            props: writer_properties(table, &schema),
            schema,
            new_batch,
            open: Vec::new(),
            next_file: HashMap::new(),
            closed: Vec::new(),
            tick: 0,
        };
        if keys.is_empty() {
            ds.part_index(&[])?;
        }
        Ok(ds)
    }

    /// Partition columns.
    pub fn keys(&self) -> &[PartitionKey] {
        &self.keys
    }

    fn without(&self) -> Vec<&'static str> {
        self.keys
            .iter()
            .map(|k| k.name())
            .filter(|n| *n == "service")
            .collect()
    }

    fn part_index(&mut self, values: &[String]) -> Result<usize, Error> {
        self.tick += 1;
        if let Some(i) = self.open.iter().position(|p| p.values == values) {
            self.open[i].last_used = self.tick;
            return Ok(i);
        }
        if self.open.len() >= MAX_OPEN_PARTS
            && let Some(lru) = (0..self.open.len()).min_by_key(|&i| self.open[i].last_used)
        {
            let part = self.open.swap_remove(lru);
            self.close_part(part)?;
        }
        let n = self.next_file.entry(values.to_vec()).or_insert(0);
        let rel = if self.keys.is_empty() {
            format!("{}.parquet", self.table)
        } else {
            let mut rel = self.table.to_string();
            for (k, v) in self.keys.iter().zip(values) {
                rel.push('/');
                rel.push_str(k.name());
                rel.push('=');
                rel.push_str(&escape_partition_value(v));
            }
            rel.push_str(&format!("/part-{n}.parquet"));
            rel
        };
        *n += 1;
        let partition = self
            .keys
            .iter()
            .zip(values)
            .map(|(k, v)| (k.name().to_string(), v.clone()))
            .collect();
        let file = ParquetFile::create(
            &self.root,
            &rel,
            self.table,
            partition,
            self.schema.clone(),
            self.props.clone(),
        )?;
        let without = self.without();
        self.open.push(Part {
            values: values.to_vec(),
            batch: (self.new_batch)(&without),
            file,
            last_used: self.tick,
        });
        Ok(self.open.len() - 1)
    }

    /// Append one row to the partition `values` (one per key, in key order; `""` for none).
    ///
    /// # Errors
    /// Writing a full batch failed.
    pub fn push(&mut self, values: &[String], append: impl FnOnce(&mut B)) -> Result<(), Error> {
        let i = self.part_index(values)?;
        let part = &mut self.open[i];
        append(&mut part.batch);
        if part.batch.rows() >= BATCH_ROWS || part.batch.bytes() >= BATCH_BYTES {
            let batch = part
                .batch
                .finish()
                .map_err(|e| Error::arrow(part.file_dest(), e))?;
            part.file.write(&batch)?;
            self.bound_memory()?;
        }
        Ok(())
    }

    fn bound_memory(&mut self) -> Result<(), Error> {
        if self.open.len() < 2 {
            return Ok(());
        }
        let total: usize = self.open.iter().map(|p| p.file.buffered()).sum();
        if total > OPEN_PARTS_BUDGET
            && let Some(p) = self.open.iter_mut().max_by_key(|p| p.file.buffered())
        {
            p.file.end_row_group()?;
        }
        Ok(())
    }

    fn close_part(&mut self, mut part: Part<B>) -> Result<(), Error> {
        if part.batch.rows() > 0 {
            let batch = part
                .batch
                .finish()
                .map_err(|e| Error::arrow(part.file_dest(), e))?;
            part.file.write(&batch)?;
        }
        self.closed.push(part.file.close()?);
        Ok(())
    }

    /// Write what is buffered and close every file.
    ///
    /// # Errors
    /// Writing or renaming failed.
    pub fn close(mut self) -> Result<Vec<Output>, Error> {
        let open = std::mem::take(&mut self.open);
        for part in open {
            self.close_part(part)?;
        }
        if self.closed.is_empty() {
            self.closed.push(self.empty_file()?);
        }
        self.closed.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(self.closed)
    }

    /// A partitioned table that got no row still gets one file, `<table>/part-0.parquet` with
    /// no rows, holding every column and the partition columns as strings: a directory without
    /// a file fails DuckDB's `requests/**/*.parquet` and Spark's read (and a query naming
    /// `date` or `service` finds the column, and no row).
    fn empty_file(&self) -> Result<Output, Error> {
        let mut fields: Vec<Field> = self
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        for k in &self.keys {
            if fields.iter().all(|f| f.name() != k.name()) {
                fields.push(Field::new(k.name(), DataType::Utf8, true));
            }
        }
        let schema: SchemaRef = Arc::new(Schema::new(fields));
        let rel = format!("{}/part-0.parquet", self.table);
        let props = writer_properties(self.table, &schema);
        ParquetFile::create(&self.root, &rel, self.table, Vec::new(), schema, props)?.close()
    }
}

impl<B> Part<B> {
    fn file_dest(&self) -> PathBuf {
        self.file.dest().to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_795_305_600_000_000_000), "2026-11-22");
        assert_eq!(utc_date(-1), "1969-12-31");
        assert_eq!(utc_date(951_782_400_000_000_000), "2000-02-29");
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_partition_value("skreaver"), "skreaver");
        assert_eq!(escape_partition_value("a/b=c"), "a%2Fb%3Dc");
        assert_eq!(escape_partition_value(""), NULL_PARTITION);
        assert_eq!(escape_partition_value(".."), "%2E.");
    }
}
