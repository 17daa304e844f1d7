//! The bundle's tables: one Arrow schema per Parquet file and the typed column builders that
//! fill them (no JSON detour: each value goes straight into its column).
//!
//! Invariants: a builder's `finish` yields a batch of exactly its schema (same columns, order
//! and types); every timestamp column is `Timestamp(Microsecond, "UTC")` beside an `_ns` Int64
//! with the exact value; integers are signed (engines such as Spark read no unsigned types);
//! low-cardinality strings are `Dictionary(Int32, Utf8)` (keys never overflow: a batch holds at
//! most [`BATCH_ROWS`] rows); a partitioned table leaves out its partition columns (they live in
//! the directory names, as Hive, Spark and DuckDB expect).

use std::fmt::Write as _;
use std::sync::Arc;

use arrow_array::builder::{
    Float64Builder, Int32Builder, Int64Builder, ListBuilder, StringBuilder, StructBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_array::types::Int32Type;
use arrow_array::{
    Array, ArrayRef, DictionaryArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use crate::analyze::Report;
use crate::correlate::ClosedGroup;
use crate::event::{Extra, Slot};
use crate::pipeline::{Origin, View};
use crate::request::Request;
use crate::time;

/// Rows per record batch handed to the Parquet writer.
pub const BATCH_ROWS: usize = 8192;
/// String bytes per record batch before it is handed on early (very long lines).
pub const BATCH_BYTES: usize = 8 << 20;

/// A dictionary column builder that remembers its last value. Most rows repeat the row
/// before's service, source, pod, level…, and one comparison with it is cheaper than hashing
/// the string into Arrow's dictionary builder (the events builders: −50 % instructions).
struct Dict {
    keys: Int32Builder,
    values: StringBuilder,
    index: crate::FastMap<Box<str>, i32>,
    /// The values by key, to compare with the last one.
    by_key: Vec<Box<str>>,
    /// The key of the last value appended.
    last: Option<i32>,
    /// Keys by an index the caller has for the value (registry indices): no string compared.
    by_index: Vec<Option<i32>>,
}

impl Dict {
    fn new() -> Dict {
        Dict {
            keys: Int32Builder::new(),
            values: StringBuilder::new(),
            index: crate::FastMap::default(),
            by_key: Vec::new(),
            last: None,
            by_index: Vec::new(),
        }
    }

    /// Append `v`, which the caller knows by `index` (the same index always names the same
    /// value).
    fn append_indexed(&mut self, index: usize, v: &str) {
        match self.by_index.get(index).copied().flatten() {
            Some(key) => {
                self.keys.append_value(key);
                self.last = Some(key);
            }
            None => {
                self.append_value(v);
                if self.by_index.len() <= index {
                    self.by_index.resize(index + 1, None);
                }
                self.by_index[index] = self.last;
            }
        }
    }

    fn append_value(&mut self, v: &str) {
        let same = |k: i32| self.by_key.get(k as usize).is_some_and(|x| **x == *v);
        let key = match self.last.filter(|&k| same(k)) {
            Some(key) => key,
            None => match self.index.get(v) {
                Some(&key) => key,
                None => {
                    // A batch holds at most BATCH_ROWS rows, so keys never overflow.
                    let key = i32::try_from(self.by_key.len()).unwrap_or(i32::MAX);
                    self.values.append_value(v);
                    self.index.insert(v.into(), key);
                    self.by_key.push(v.into());
                    key
                }
            },
        };
        self.keys.append_value(key);
        self.last = Some(key);
    }

    fn append_null(&mut self) {
        self.keys.append_null();
    }

    /// The column so far; the builder starts over with an empty dictionary.
    fn finish(&mut self) -> DictionaryArray<Int32Type> {
        let keys = self.keys.finish();
        let values: ArrayRef = Arc::new(self.values.finish());
        self.index.clear();
        self.by_key.clear();
        self.last = None;
        self.by_index.clear();
        DictionaryArray::new(keys, values)
    }
}

fn dict_type() -> DataType {
    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
}

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn micros(ns: i64) -> i64 {
    ns.div_euclid(1000)
}

/// Which kind of value a column holds (the schema is built from these).
#[derive(Clone, Copy)]
enum Col {
    Ts,
    I64,
    I32,
    F64,
    Dict,
    Str,
}

fn field(name: &str, c: Col) -> Field {
    let t = match c {
        Col::Ts => ts_type(),
        Col::I64 => DataType::Int64,
        Col::I32 => DataType::Int32,
        Col::F64 => DataType::Float64,
        Col::Dict => dict_type(),
        Col::Str => DataType::Utf8,
    };
    Field::new(name, t, true)
}

fn schema_of(cols: &[(&str, Col)], without: &[&str]) -> SchemaRef {
    Arc::new(Schema::new(
        cols.iter()
            .filter(|(n, _)| !without.contains(n))
            .map(|(n, c)| field(n, *c))
            .collect::<Vec<_>>(),
    ))
}

// ---------------------------------------------------------------- events

const EVENT_COLUMNS: &[(&str, Col)] = &[
    ("ts", Col::Ts),
    ("ts_ns", Col::I64),
    ("runtime_ts", Col::Ts),
    ("runtime_ts_ns", Col::I64),
    ("service", Col::Dict),
    ("format", Col::Dict),
    ("level", Col::Dict),
    ("source", Col::Dict),
    ("line", Col::I64),
    ("namespace", Col::Dict),
    ("pod", Col::Dict),
    ("container", Col::Dict),
    ("container_id", Col::Dict),
    ("stream", Col::Dict),
    ("logger", Col::Dict),
    ("message", Col::Str),
    ("trace_id", Col::Str),
    ("request_id", Col::Str),
    ("span_id", Col::Str),
    ("agent_id", Col::Str),
    ("user_id", Col::Str),
    ("conn_id", Col::Str),
    ("client_ip", Col::Str),
    ("method", Col::Dict),
    ("path", Col::Str),
    ("route", Col::Dict),
    ("status", Col::I32),
    ("duration_ms", Col::F64),
    ("exception", Col::Str),
    ("request_line", Col::Dict),
    ("raw", Col::Str),
    ("fields", Col::Str),
];

/// Schema of `events.parquet` (without the partition columns in `without`).
pub fn events_schema(without: &[&str]) -> SchemaRef {
    schema_of(EVENT_COLUMNS, without)
}

/// The free text of one event after redaction (owned or borrowed).
pub struct EventText<'t> {
    /// Message.
    pub message: Option<&'t str>,
    /// Path as printed.
    pub path: Option<&'t str>,
    /// Exception and continuation lines.
    pub exception: Option<&'t str>,
    /// Payload line.
    pub raw: Option<&'t str>,
    /// Remaining fields as a JSON object.
    pub fields: Option<&'t str>,
    /// The identifiers, in [`ID_SLOTS`] order (a token can be an agent id in a path).
    pub ids: [Option<&'t str>; ID_SLOTS.len()],
}

/// Write the fields outside the schema as one JSON object; `secret` names the replacement of a
/// field whose whole value is a secret.
pub fn fields_json(
    extras: &[(std::borrow::Cow<'_, str>, Extra<'_>)],
    out: &mut String,
    mut secret: impl FnMut(&str) -> Option<String>,
) {
    out.clear();
    if extras.is_empty() {
        return;
    }
    let quoted = push_json_string;
    out.push('{');
    for (i, (k, v)) in extras.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        quoted(k, out);
        out.push(':');
        if let Some(r) = secret(k) {
            quoted(&r, out);
            continue;
        }
        match v {
            Extra::Json(j) => match std::str::from_utf8(j) {
                Ok(t) if crate::event::is_valid_json(j) => out.push_str(t),
                _ => quoted(&crate::event::invalid_json_as_text(j), out),
            },
            Extra::Str(s) => quoted(s, out),
        }
    }
    out.push('}');
}

/// Append `s` as a JSON string, escaped exactly as `serde_json` does, without its allocation
/// per string.
fn push_json_string(s: &str, out: &mut String) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if short.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(short);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Column builders of the events table.
pub struct EventBatch {
    schema: SchemaRef,
    with_service: bool,
    ts: TimestampMicrosecondBuilder,
    ts_ns: Int64Builder,
    runtime_ts: TimestampMicrosecondBuilder,
    runtime_ts_ns: Int64Builder,
    service: Dict,
    format: Dict,
    level: Dict,
    source: Dict,
    line: Int64Builder,
    namespace: Dict,
    pod: Dict,
    container: Dict,
    container_id: Dict,
    stream: Dict,
    logger: Dict,
    message: StringBuilder,
    ids: [StringBuilder; 7],
    method: Dict,
    path: StringBuilder,
    route: Dict,
    status: Int32Builder,
    duration_ms: Float64Builder,
    exception: StringBuilder,
    request_line: Dict,
    raw: StringBuilder,
    fields: StringBuilder,
    rows: usize,
    bytes: usize,
}

/// The id slots, in schema order.
pub const ID_SLOTS: [Slot; 7] = Slot::IDS;

fn put(b: &mut Dict, v: Option<&str>) {
    match v {
        Some(s) => b.append_value(s),
        None => b.append_null(),
    }
}

/// [`put`] for a value the caller knows by an index ([`Dict::append_indexed`]).
fn put_indexed(b: &mut Dict, v: Option<(usize, &str)>) {
    match v {
        Some((i, s)) => b.append_indexed(i, s),
        None => b.append_null(),
    }
}

fn put_ts(b: &mut TimestampMicrosecondBuilder, n: &mut Int64Builder, v: Option<i64>) {
    b.append_option(v.map(micros));
    n.append_option(v);
}

impl EventBatch {
    /// Empty builders for `events_schema(without)`; `without` may name `service` only.
    pub fn new(without: &[&str]) -> EventBatch {
        let ts = || TimestampMicrosecondBuilder::new().with_timezone("UTC");
        EventBatch {
            schema: events_schema(without),
            with_service: !without.contains(&"service"),
            ts: ts(),
            ts_ns: Int64Builder::new(),
            runtime_ts: ts(),
            runtime_ts_ns: Int64Builder::new(),
            service: Dict::new(),
            format: Dict::new(),
            level: Dict::new(),
            source: Dict::new(),
            line: Int64Builder::new(),
            namespace: Dict::new(),
            pod: Dict::new(),
            container: Dict::new(),
            container_id: Dict::new(),
            stream: Dict::new(),
            logger: Dict::new(),
            message: StringBuilder::new(),
            ids: std::array::from_fn(|_| StringBuilder::new()),
            method: Dict::new(),
            path: StringBuilder::new(),
            route: Dict::new(),
            status: Int32Builder::new(),
            duration_ms: Float64Builder::new(),
            exception: StringBuilder::new(),
            request_line: Dict::new(),
            raw: StringBuilder::new(),
            fields: StringBuilder::new(),
            rows: 0,
            bytes: 0,
        }
    }

    /// Append one event; `text` holds its redacted free text.
    pub fn append(&mut self, v: &View<'_, '_>, text: &EventText<'_>) {
        let ev = v.ev;
        put_ts(&mut self.ts, &mut self.ts_ns, ev.ts);
        put_ts(&mut self.runtime_ts, &mut self.runtime_ts_ns, ev.runtime_ts);
        let (service, format) = (usize::from(ev.service), usize::from(ev.format));
        self.service
            .append_indexed(service, v.reg.service_name(ev.service));
        self.format
            .append_indexed(format, v.reg.format_name(ev.format));
        put_indexed(&mut self.level, ev.level.map(|l| (l as usize, l.as_str())));
        self.source
            .append_indexed(v.origin.source as usize, v.source);
        self.line
            .append_value(i64::try_from(v.line).unwrap_or(i64::MAX));
        let o = v.origin;
        put(&mut self.namespace, o.namespace.as_deref());
        put(&mut self.pod, o.pod.as_deref());
        put(&mut self.container, o.container.as_deref());
        put(&mut self.container_id, o.container_id.as_deref());
        put_indexed(&mut self.stream, o.stream.map(|s| (s as usize, s.as_str())));
        put(&mut self.logger, ev.get(Slot::Logger));
        self.message.append_option(text.message);
        for (b, &value) in self.ids.iter_mut().zip(&text.ids) {
            self.bytes += value.map_or(0, str::len);
            b.append_option(value);
        }
        put(&mut self.method, ev.get(Slot::Method));
        self.path.append_option(text.path);
        put(&mut self.route, ev.get(Slot::Route));
        self.status.append_option(ev.status.map(i32::from));
        self.duration_ms.append_option(ev.duration_ms);
        self.exception.append_option(text.exception);
        let chain = v.reg.request_chain(ev.service);
        // Request kinds are numbered per service.
        let kind = ev.request.and_then(|k| {
            let name = chain.get(usize::from(k))?;
            Some((service * 256 + usize::from(k), name.as_str()))
        });
        put_indexed(&mut self.request_line, kind);
        self.raw.append_option(text.raw);
        self.fields.append_option(text.fields);
        self.rows += 1;
        self.bytes += [
            text.message,
            text.path,
            text.exception,
            text.raw,
            text.fields,
        ]
        .iter()
        .map(|t| t.map_or(0, str::len))
        .sum::<usize>()
            + 64;
    }

    /// Rows appended since the last `finish`.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Approximate bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The rows as a batch; the builders start over.
    ///
    /// # Errors
    /// Only if columns disagree with the schema (a bug that tests catch).
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut cols: Vec<ArrayRef> = vec![
            take_ts(&mut self.ts),
            take_i64(&mut self.ts_ns),
            take_ts(&mut self.runtime_ts),
            take_i64(&mut self.runtime_ts_ns),
        ];
        let service = self.service.finish();
        if self.with_service {
            cols.push(Arc::new(service));
        }
        cols.extend([
            Arc::new(self.format.finish()) as ArrayRef,
            Arc::new(self.level.finish()),
            Arc::new(self.source.finish()),
            take_i64(&mut self.line),
            Arc::new(self.namespace.finish()),
            Arc::new(self.pod.finish()),
            Arc::new(self.container.finish()),
            Arc::new(self.container_id.finish()),
            Arc::new(self.stream.finish()),
            Arc::new(self.logger.finish()),
            take_str(&mut self.message),
        ]);
        for b in &mut self.ids {
            cols.push(take_str(b));
        }
        cols.extend([
            Arc::new(self.method.finish()) as ArrayRef,
            take_str(&mut self.path),
            Arc::new(self.route.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.duration_ms.finish()),
            take_str(&mut self.exception),
            Arc::new(self.request_line.finish()),
            take_str(&mut self.raw),
            take_str(&mut self.fields),
        ]);
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), cols)
    }
}

// A builder's `finish` leaves it empty with no capacity, so every batch would regrow its
// buffers by doubling (copies and fresh pages for the larger columns). These start the next
// batch with the room the last one used: batches are alike.

fn take_str(b: &mut StringBuilder) -> ArrayRef {
    let a = b.finish();
    *b = StringBuilder::with_capacity(a.len(), a.value_data().len());
    Arc::new(a)
}

fn take_i64(b: &mut Int64Builder) -> ArrayRef {
    let a = b.finish();
    *b = Int64Builder::with_capacity(a.len());
    Arc::new(a)
}

fn take_ts(b: &mut TimestampMicrosecondBuilder) -> ArrayRef {
    let a = b.finish();
    *b = TimestampMicrosecondBuilder::with_capacity(a.len()).with_timezone("UTC");
    Arc::new(a)
}

// ---------------------------------------------------------------- requests

const REQUEST_COLUMNS: &[(&str, Col)] = &[
    ("ts", Col::Ts),
    ("ts_ns", Col::I64),
    ("service", Col::Dict),
    ("method", Col::Dict),
    ("route", Col::Dict),
    ("path", Col::Str),
    ("status", Col::I32),
    ("duration_ms", Col::F64),
    ("trace_id", Col::Str),
    ("request_id", Col::Str),
    ("client_ip", Col::Str),
    ("agent_id", Col::Str),
    ("source", Col::Dict),
    ("line", Col::I64),
    ("namespace", Col::Dict),
    ("pod", Col::Dict),
    ("container", Col::Dict),
    ("container_id", Col::Dict),
    ("stream", Col::Dict),
    ("log_lines", Col::I32),
    ("request_lines", Col::Dict),
];

/// Schema of `requests.parquet` (without the partition columns in `without`).
pub fn requests_schema(without: &[&str]) -> SchemaRef {
    schema_of(REQUEST_COLUMNS, without)
}

/// Column builders of the requests table.
pub struct RequestBatch {
    schema: SchemaRef,
    with_service: bool,
    ts: TimestampMicrosecondBuilder,
    ts_ns: Int64Builder,
    service: Dict,
    method: Dict,
    route: Dict,
    path: StringBuilder,
    status: Int32Builder,
    duration_ms: Float64Builder,
    ids: [StringBuilder; 4],
    source: Dict,
    line: Int64Builder,
    namespace: Dict,
    pod: Dict,
    container: Dict,
    container_id: Dict,
    stream: Dict,
    log_lines: Int32Builder,
    request_lines: Dict,
    rows: usize,
    bytes: usize,
    scratch: String,
}

/// What a request row needs besides the request.
pub struct RequestContext<'c> {
    /// Service name.
    pub service: &'c str,
    /// Input name.
    pub source: &'c str,
    /// Stream origin.
    pub origin: &'c Origin,
    /// The service's request chain (kinds of request lines).
    pub chain: &'c [String],
    /// Redacted path.
    pub path: Option<&'c str>,
    /// Redacted `trace_id, request_id, client_ip, agent_id`.
    pub ids: [Option<&'c str>; 4],
}

impl RequestBatch {
    /// Empty builders for `requests_schema(without)`; `without` may name `service` only.
    pub fn new(without: &[&str]) -> RequestBatch {
        RequestBatch {
            schema: requests_schema(without),
            with_service: !without.contains(&"service"),
            ts: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            ts_ns: Int64Builder::new(),
            service: Dict::new(),
            method: Dict::new(),
            route: Dict::new(),
            path: StringBuilder::new(),
            status: Int32Builder::new(),
            duration_ms: Float64Builder::new(),
            ids: std::array::from_fn(|_| StringBuilder::new()),
            source: Dict::new(),
            line: Int64Builder::new(),
            namespace: Dict::new(),
            pod: Dict::new(),
            container: Dict::new(),
            container_id: Dict::new(),
            stream: Dict::new(),
            log_lines: Int32Builder::new(),
            request_lines: Dict::new(),
            rows: 0,
            bytes: 0,
            scratch: String::new(),
        }
    }

    /// Append one merged request.
    pub fn append(&mut self, r: &Request, c: &RequestContext<'_>) {
        put_ts(&mut self.ts, &mut self.ts_ns, r.ts);
        self.service.append_value(c.service);
        put(&mut self.method, r.method());
        put(&mut self.route, r.route());
        self.path.append_option(c.path);
        self.status.append_option(r.status.map(i32::from));
        self.duration_ms.append_option(r.duration_ms);
        for (b, &v) in self.ids.iter_mut().zip(&c.ids) {
            self.bytes += v.map_or(0, str::len);
            b.append_option(v);
        }
        self.source.append_value(c.source);
        self.line
            .append_value(i64::try_from(r.at.line).unwrap_or(i64::MAX));
        let o = c.origin;
        put(&mut self.namespace, o.namespace.as_deref());
        put(&mut self.pod, o.pod.as_deref());
        put(&mut self.container, o.container.as_deref());
        put(&mut self.container_id, o.container_id.as_deref());
        put(&mut self.stream, o.stream.map(|s| s.as_str()));
        self.log_lines
            .append_value(i32::try_from(r.lines).unwrap_or(i32::MAX));
        self.scratch.clear();
        for (i, kind) in c.chain.iter().enumerate().take(32) {
            if r.kinds & (1 << i) != 0 {
                if !self.scratch.is_empty() {
                    self.scratch.push('+');
                }
                self.scratch.push_str(kind);
            }
        }
        put(
            &mut self.request_lines,
            (!self.scratch.is_empty()).then_some(self.scratch.as_str()),
        );
        self.rows += 1;
        self.bytes += c.path.map_or(0, str::len) + 64;
    }

    /// Rows appended since the last `finish`.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Approximate bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The rows as a batch; the builders start over.
    ///
    /// # Errors
    /// Only if columns disagree with the schema (a bug that tests catch).
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut cols: Vec<ArrayRef> =
            vec![Arc::new(self.ts.finish()), Arc::new(self.ts_ns.finish())];
        let service = self.service.finish();
        if self.with_service {
            cols.push(Arc::new(service));
        }
        cols.extend([
            Arc::new(self.method.finish()) as ArrayRef,
            Arc::new(self.route.finish()),
            Arc::new(self.path.finish()),
            Arc::new(self.status.finish()),
            Arc::new(self.duration_ms.finish()),
        ]);
        for b in &mut self.ids {
            cols.push(Arc::new(b.finish()));
        }
        cols.extend([
            Arc::new(self.source.finish()) as ArrayRef,
            Arc::new(self.line.finish()),
            Arc::new(self.namespace.finish()),
            Arc::new(self.pod.finish()),
            Arc::new(self.container.finish()),
            Arc::new(self.container_id.finish()),
            Arc::new(self.stream.finish()),
            Arc::new(self.log_lines.finish()),
            Arc::new(self.request_lines.finish()),
        ]);
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(Arc::clone(&self.schema), cols)
    }
}

// ---------------------------------------------------------------- aggregates

const ENDPOINT_COLUMNS: &[(&str, Col)] = &[
    ("service", Col::Dict),
    ("method", Col::Dict),
    ("route", Col::Dict),
    ("requests", Col::I64),
    ("status_4xx", Col::I64),
    ("status_5xx", Col::I64),
    ("latency_samples", Col::I64),
    ("p50_ms", Col::F64),
    ("p95_ms", Col::F64),
    ("p99_ms", Col::F64),
    ("max_ms", Col::F64),
];

/// Schema of `endpoints.parquet` (the report's `endpoints[]`).
pub fn endpoints_schema() -> SchemaRef {
    schema_of(ENDPOINT_COLUMNS, &[])
}

fn dict<'a>(values: impl Iterator<Item = &'a str>) -> ArrayRef {
    Arc::new(values.collect::<DictionaryArray<Int32Type>>())
}

fn i64s(values: impl Iterator<Item = u64>) -> ArrayRef {
    Arc::new(
        values
            .map(|v| i64::try_from(v).unwrap_or(i64::MAX))
            .collect::<Int64Array>(),
    )
}

fn f64s(values: impl Iterator<Item = Option<f64>>) -> ArrayRef {
    Arc::new(values.collect::<Float64Array>())
}

/// The report's endpoints as one batch, in report order (most requests first).
///
/// # Errors
/// Only if columns disagree with the schema.
pub fn endpoints_batch(r: &Report) -> Result<RecordBatch, ArrowError> {
    let e = &r.endpoints;
    RecordBatch::try_new(
        endpoints_schema(),
        vec![
            dict(e.iter().map(|x| x.service.as_str())),
            dict(e.iter().map(|x| x.method.as_str())),
            dict(e.iter().map(|x| x.route.as_str())),
            i64s(e.iter().map(|x| x.requests)),
            i64s(e.iter().map(|x| x.status_4xx)),
            i64s(e.iter().map(|x| x.status_5xx)),
            i64s(e.iter().map(|x| x.latency_samples)),
            f64s(e.iter().map(|x| x.p50_ms)),
            f64s(e.iter().map(|x| x.p95_ms)),
            f64s(e.iter().map(|x| x.p99_ms)),
            f64s(e.iter().map(|x| x.max_ms)),
        ],
    )
}

const ERROR_RATE_COLUMNS: &[(&str, Col)] = &[
    ("bucket_start", Col::Ts),
    ("bucket_start_ns", Col::I64),
    ("bucket_seconds", Col::F64),
    ("service", Col::Dict),
    ("requests", Col::I64),
    ("status_5xx", Col::I64),
    ("error_events", Col::I64),
];

/// Schema of `error_rate.parquet` (the report's `error_rate[]`).
pub fn error_rate_schema() -> SchemaRef {
    schema_of(ERROR_RATE_COLUMNS, &[])
}

/// The report's error-rate buckets as one batch, oldest first.
///
/// # Errors
/// Only if columns disagree with the schema.
pub fn error_rate_batch(r: &Report) -> Result<RecordBatch, ArrowError> {
    let b = &r.error_rate;
    let starts: Vec<Option<i64>> = b
        .iter()
        .map(|x| time::parse_timestamp(x.bucket_start.as_bytes(), 0))
        .collect();
    RecordBatch::try_new(
        error_rate_schema(),
        vec![
            Arc::new(
                starts
                    .iter()
                    .map(|s| s.map(micros))
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("UTC"),
            ),
            Arc::new(starts.iter().copied().collect::<Int64Array>()),
            f64s(b.iter().map(|_| Some(r.bucket_seconds))),
            dict(b.iter().map(|x| x.service.as_str())),
            i64s(b.iter().map(|x| x.requests)),
            i64s(b.iter().map(|x| x.status_5xx)),
            i64s(b.iter().map(|x| x.error_events)),
        ],
    )
}

/// Schema of `findings.parquet`: one row per rule finding, as in the report: the rule, the
/// values of its `group_by` fields (`service` also as a column of its own, when grouped by it),
/// counts and times, and the evidence — the earliest and latest matching lines with where they
/// came from and their `cause` when their attached lines say it (a panic's message, a
/// traceback's last `XError: …` line; messages and causes redacted like every other column).
pub fn findings_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("rule", DataType::Utf8, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("severity", dict_type(), false),
        Field::new("title", DataType::Utf8, true),
        field("service", Col::Dict),
        field("group_key", Col::Str),
        field("count", Col::I64),
        field("first", Col::Ts),
        field("first_ns", Col::I64),
        field("last", Col::Ts),
        field("last_ns", Col::I64),
        field("runbook", Col::Str),
        Field::new("group_ids", list_of(DataType::Utf8), true),
        field("detail", Col::Str),
        Field::new(
            "evidence",
            list_of(DataType::Struct(evidence_fields())),
            true,
        ),
    ]))
}

fn evidence_fields() -> Fields {
    vec![
        field("ts", Col::Ts),
        field("ts_ns", Col::I64),
        field("source", Col::Str),
        field("line", Col::I64),
        field("message", Col::Str),
        field("cause", Col::Str),
        field("correlation", Col::Str),
        field("pod", Col::Str),
    ]
    .into()
}

/// The report's findings as one batch (most severe first, as in the report); `redact` is
/// applied to evidence messages and causes, group values and correlation group names.
///
/// # Errors
/// Only if columns disagree with the schema.
pub fn findings_batch(
    r: &Report,
    redact: &mut super::Redacting<'_>,
) -> Result<RecordBatch, ArrowError> {
    let f: &[crate::rules::engine::Finding] = r.findings.as_deref().unwrap_or(&[]);
    let ns = |v: Option<&str>| v.and_then(|t| time::parse_timestamp(t.as_bytes(), 0));
    let ts = |v: &[Option<i64>]| -> ArrayRef {
        Arc::new(
            v.iter()
                .map(|s| s.map(micros))
                .collect::<TimestampMicrosecondArray>()
                .with_timezone("UTC"),
        )
    };
    let first: Vec<Option<i64>> = f.iter().map(|x| ns(x.first.as_deref())).collect();
    let last: Vec<Option<i64>> = f.iter().map(|x| ns(x.last.as_deref())).collect();
    let mut groups = ListBuilder::new(StringBuilder::new());
    for x in f {
        for g in &x.correlation_groups {
            groups.values().append_value(redact.group(g));
        }
        groups.append(true);
    }
    let mut evidence =
        ListBuilder::new(StructBuilder::from_fields(evidence_fields(), 0)).with_field(Arc::new(
            Field::new("item", DataType::Struct(evidence_fields()), true),
        ));
    for x in f {
        let items = evidence.values();
        for e in &x.evidence {
            let t = ns(e.ts.as_deref());
            if let Some(b) = items.field_builder::<TimestampMicrosecondBuilder>(0) {
                b.append_option(t.map(micros));
            }
            if let Some(b) = items.field_builder::<Int64Builder>(1) {
                b.append_option(t);
            }
            if let Some(b) = items.field_builder::<StringBuilder>(2) {
                b.append_value(&e.source);
            }
            if let Some(b) = items.field_builder::<Int64Builder>(3) {
                b.append_value(i64::try_from(e.line).unwrap_or(i64::MAX));
            }
            if let Some(b) = items.field_builder::<StringBuilder>(4) {
                b.append_value(redact.text(&e.message));
            }
            if let Some(b) = items.field_builder::<StringBuilder>(5) {
                b.append_option(e.cause.as_deref().map(|c| redact.text(c)));
            }
            if let Some(b) = items.field_builder::<StringBuilder>(6) {
                b.append_option(e.correlation.as_deref().map(|g| redact.group(g)));
            }
            if let Some(b) = items.field_builder::<StringBuilder>(7) {
                b.append_option(e.pod.as_deref());
            }
            items.append(true);
        }
        evidence.append(true);
    }
    let group_keys: Vec<Option<String>> = f
        .iter()
        .map(|x| {
            let pairs: Vec<String> = x
                .group
                .iter()
                .map(|(k, v)| format!("{k}={}", redact.text(v)))
                .collect();
            (!pairs.is_empty()).then(|| pairs.join(" "))
        })
        .collect();
    RecordBatch::try_new(
        findings_schema(),
        vec![
            Arc::new(
                f.iter()
                    .map(|x| Some(x.rule.as_str()))
                    .collect::<StringArray>(),
            ),
            Arc::new(
                f.iter()
                    .map(|x| Some(x.name.as_str()))
                    .collect::<StringArray>(),
            ),
            dict(f.iter().map(|x| x.severity.as_str())),
            Arc::new(
                f.iter()
                    .map(|x| Some(x.title.as_str()))
                    .collect::<StringArray>(),
            ),
            // The service a finding is about, when it is grouped by service (a finding of
            // another rule may span services).
            Arc::new(
                f.iter()
                    .map(|x| x.group.get("service").map(String::as_str))
                    .collect::<DictionaryArray<Int32Type>>(),
            ),
            Arc::new(
                group_keys
                    .iter()
                    .map(Option::as_deref)
                    .collect::<StringArray>(),
            ),
            i64s(f.iter().map(|x| x.count)),
            ts(&first),
            Arc::new(first.iter().copied().collect::<Int64Array>()),
            ts(&last),
            Arc::new(last.iter().copied().collect::<Int64Array>()),
            Arc::new(
                f.iter()
                    .map(|x| Some(x.runbook.as_str()))
                    .collect::<StringArray>(),
            ),
            Arc::new(groups.finish()),
            Arc::new(
                f.iter()
                    .map(|x| x.detail.as_deref())
                    .collect::<StringArray>(),
            ),
            Arc::new(evidence.finish()),
        ],
    )
}

// ---------------------------------------------------------------- groups

fn identifier_fields() -> Fields {
    vec![
        Field::new("kind", DataType::Utf8, false),
        Field::new("value", DataType::Utf8, false),
    ]
    .into()
}

fn identifier_type() -> DataType {
    DataType::Struct(identifier_fields())
}

fn list_of(t: DataType) -> DataType {
    DataType::List(Arc::new(Field::new("item", t, true)))
}

/// Schema of `groups.parquet`: one row per correlation group, written as groups close.
/// `identifiers` holds every id that ties the group together (join them to the id columns of
/// `events` and `requests`), `labels` the ids that only describe it (e.g. client ip).
pub fn groups_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("group_id", DataType::Utf8, false),
        Field::new("identifiers", list_of(identifier_type()), true),
        Field::new("labels", list_of(identifier_type()), true),
        Field::new("services", list_of(DataType::Utf8), true),
        Field::new("sources", list_of(DataType::Utf8), true),
        field("events", Col::I64),
        field("errors", Col::I64),
        field("requests", Col::I64),
        field("first", Col::Ts),
        field("first_ns", Col::I64),
        field("last", Col::Ts),
        field("last_ns", Col::I64),
        field("span_ms", Col::F64),
        field("slowest_request", Col::Str),
        field("closed", Col::Dict),
    ]))
}

/// One `groups.parquet` row, its text already redacted.
pub struct GroupRow<'g, 'r> {
    /// The group and why it closed.
    pub group: &'g ClosedGroup,
    /// Identifiers and the slowest request's text, redacted.
    pub redact: &'g mut super::Redacting<'r>,
}

/// Column builders for `groups.parquet`.
pub struct GroupBatch {
    group_id: StringBuilder,
    identifiers: ListBuilder<StructBuilder>,
    labels: ListBuilder<StructBuilder>,
    services: ListBuilder<StringBuilder>,
    sources: ListBuilder<StringBuilder>,
    events: Int64Builder,
    errors: Int64Builder,
    requests: Int64Builder,
    first: TimestampMicrosecondBuilder,
    first_ns: Int64Builder,
    last: TimestampMicrosecondBuilder,
    last_ns: Int64Builder,
    span_ms: Float64Builder,
    slowest: StringBuilder,
    closed: Dict,
    rows: usize,
    bytes: usize,
}

fn identifier_list() -> ListBuilder<StructBuilder> {
    ListBuilder::new(StructBuilder::from_fields(identifier_fields(), 0))
}

/// Append `kind:value` identifiers as one list of `{kind, value}`.
fn put_identifiers(
    b: &mut ListBuilder<StructBuilder>,
    ids: &[String],
    redact: &mut super::Redacting<'_>,
) -> usize {
    let mut bytes = 0;
    let s = b.values();
    for id in ids {
        let (kind, value) = id.split_once(':').unwrap_or(("id", id.as_str()));
        let value = redact.id(value);
        bytes += kind.len() + value.len();
        if let Some(k) = s.field_builder::<StringBuilder>(0) {
            k.append_value(kind);
        }
        if let Some(v) = s.field_builder::<StringBuilder>(1) {
            v.append_value(value);
        }
        s.append(true);
    }
    b.append(true);
    bytes
}

fn put_strings(b: &mut ListBuilder<StringBuilder>, values: &[String]) -> usize {
    for v in values {
        b.values().append_value(v);
    }
    b.append(true);
    values.iter().map(String::len).sum()
}

impl GroupBatch {
    /// Empty builders for [`groups_schema`] (groups are never partitioned).
    pub fn new(_without: &[&str]) -> GroupBatch {
        GroupBatch {
            group_id: StringBuilder::new(),
            identifiers: identifier_list(),
            labels: identifier_list(),
            services: ListBuilder::new(StringBuilder::new()),
            sources: ListBuilder::new(StringBuilder::new()),
            events: Int64Builder::new(),
            errors: Int64Builder::new(),
            requests: Int64Builder::new(),
            first: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            first_ns: Int64Builder::new(),
            last: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            last_ns: Int64Builder::new(),
            span_ms: Float64Builder::new(),
            slowest: StringBuilder::new(),
            closed: Dict::new(),
            rows: 0,
            bytes: 0,
        }
    }

    /// Append one closed group.
    pub fn append(&mut self, row: GroupRow<'_, '_>) {
        let g = &row.group.report;
        let redact = row.redact;
        let id = match g.id.split_once(':') {
            Some(_) => redact.group(&g.id),
            None => format!("id:{}", redact.id(&g.id)),
        };
        self.bytes += id.len();
        self.group_id.append_value(id);
        self.bytes += put_identifiers(&mut self.identifiers, &g.identifiers, redact);
        self.bytes += put_identifiers(&mut self.labels, &g.labels, redact);
        self.bytes += put_strings(&mut self.services, &g.services);
        self.bytes += put_strings(&mut self.sources, &g.sources);
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.events.append_value(count(g.events));
        self.errors.append_value(count(g.errors));
        self.requests.append_value(count(g.requests));
        put_ts(&mut self.first, &mut self.first_ns, row.group.first_ns);
        put_ts(&mut self.last, &mut self.last_ns, row.group.last_ns);
        self.span_ms.append_value(g.span_ms);
        let slowest = g.slowest_request.as_deref().map(|s| redact.text(s));
        self.bytes += slowest.as_ref().map_or(0, String::len) + 64;
        self.slowest.append_option(slowest);
        self.closed.append_value(row.group.reason.as_str());
        self.rows += 1;
    }

    /// Rows appended since the last `finish`.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Approximate bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The rows as a batch; the builders start over.
    ///
    /// # Errors
    /// Only if columns disagree with the schema (a bug that tests catch).
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.group_id.finish()),
            Arc::new(self.identifiers.finish()),
            Arc::new(self.labels.finish()),
            Arc::new(self.services.finish()),
            Arc::new(self.sources.finish()),
            Arc::new(self.events.finish()),
            Arc::new(self.errors.finish()),
            Arc::new(self.requests.finish()),
            Arc::new(self.first.finish()),
            Arc::new(self.first_ns.finish()),
            Arc::new(self.last.finish()),
            Arc::new(self.last_ns.finish()),
            Arc::new(self.span_ms.finish()),
            Arc::new(self.slowest.finish()),
            Arc::new(self.closed.finish()),
        ];
        self.rows = 0;
        self.bytes = 0;
        RecordBatch::try_new(groups_schema(), cols)
    }
}

/// One line describing a schema's columns, for error messages.
pub fn describe(schema: &Schema) -> String {
    let mut s = String::new();
    for (i, f) in schema.fields().iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{}: {}", f.name(), f.data_type());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &DictionaryArray<Int32Type>) -> Vec<Option<String>> {
        let values = a
            .values()
            .as_any()
            .downcast_ref::<StringArray>()
            .expect("utf8");
        a.keys()
            .iter()
            .map(|k| k.map(|k| values.value(k as usize).to_string()))
            .collect()
    }

    proptest::proptest! {
        /// The hand-written escaper writes exactly what `serde_json` writes, for any text
        /// (control characters, quotes, backslashes, non-ASCII).
        #[test]
        fn json_strings_are_escaped_as_serde_json_does(s in "(?s).{0,40}|[\\x00-\\x1f\"\\\\a-z\\x7f\u{e9}\u{2028}]{0,40}") {
            let mut out = String::from("x");
            push_json_string(&s, &mut out);
            let want = format!("x{}", serde_json::to_string(&s).expect("a string serializes"));
            proptest::prop_assert_eq!(out, want);
        }
    }

    /// Values appended by their index give the dictionary, keys and nulls that appending the
    /// strings gives, also mixed with plain appends and after `finish`.
    #[test]
    fn indexed_appends_build_the_same_dictionary() {
        let batches: [&[Option<(usize, &str)>]; 2] = [
            &[
                Some((3, "c")),
                Some((0, "a")),
                None,
                Some((3, "c")),
                Some((1, "b")),
                Some((0, "a")),
            ],
            &[Some((1, "b")), Some((1, "b")), Some((3, "c")), None],
        ];
        let (mut plain, mut indexed) = (Dict::new(), Dict::new());
        for batch in batches {
            for (n, v) in batch.iter().enumerate() {
                match v {
                    Some((i, s)) => {
                        plain.append_value(s);
                        if n % 3 == 2 {
                            indexed.append_value(s);
                        } else {
                            indexed.append_indexed(*i, s);
                        }
                    }
                    None => {
                        plain.append_null();
                        indexed.append_null();
                    }
                }
            }
            let (a, b) = (plain.finish(), indexed.finish());
            assert_eq!(a.keys(), b.keys());
            assert_eq!(strings(&a), strings(&b));
        }
    }

    #[test]
    fn dict_keeps_values_in_order_and_starts_over_after_finish() {
        let mut d = Dict::new();
        let input = [
            Some("a"),
            Some("a"),
            None,
            Some("b"),
            Some("a"),
            Some("b"),
            Some("b"),
        ];
        for v in input {
            match v {
                Some(v) => d.append_value(v),
                None => d.append_null(),
            }
        }
        let a = d.finish();
        assert_eq!(a.values().len(), 2, "each distinct value once");
        let want: Vec<Option<String>> = input.iter().map(|v| v.map(str::to_string)).collect();
        assert_eq!(strings(&a), want);
        d.append_value("c");
        let b = d.finish();
        assert_eq!(
            b.values().len(),
            1,
            "a new batch has a dictionary of its own"
        );
        assert_eq!(strings(&b), vec![Some("c".to_string())]);
    }
}
