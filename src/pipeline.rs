//! The streaming pipeline: read → frame → unwrap envelopes → parse (in parallel) → stitch
//! (continuations, requests) → analyze or print, in input order.
//!
//! ```text
//! reader thread ──Chunk──▶ N parse workers ──ChunkOut──▶ merger (this thread, in order)
//! ```
//! * The reader cuts inputs into ~1 MiB chunks at line boundaries where no CRI `P` / docker
//!   json-file partial run is open, so workers join partial lines chunk-locally. It truncates
//!   lines longer than `--max-line-bytes` without buffering them.
//! * Workers unwrap envelopes, join partials, parse, filter, and keep only what the output needs.
//! * The merger owns all cross-line state: it attaches continuation lines to the event before
//!   them in the same stream, merges request lines into requests, and feeds the output.
//!
//! Invariants: every line read is accounted for exactly once (`lines = events +
//! continuation_lines + unparsed_lines + joined_partials`); results do not depend on the number
//! of threads or the chunk size; memory is bounded by the chunk queue, the per-stream state and
//! the request window.
//!
//! Evidence hooks (off unless a sink needs them): the reader can hash each input's bytes as read
//! (`Settings::hash_inputs`, reported through [`EventSink::inputs_read`]), workers can keep each
//! event's payload line (`Settings::keep_raw`, [`View::raw`]), and a cancellation flag
//! (`Settings::cancel`) makes the reader stop at the next read; everything already read is then
//! processed and delivered as at the end of input.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, IsTerminal, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::analyze::{Analyzer, InputCounts, Origin as SlowOrigin, Report};
use crate::envelope::{self, Feed, Joiner, Stream, Unwrapped};
use crate::event::{Event, Level, Multiline, Slot};
use crate::filter::{self, Expr, Fields, Value};
use crate::parse::{ParseOpts, Parsed, Registry, Scratch, Unparsed};
use crate::request::{At, Request, RequestMerger};
use crate::source::files::{self, PathMeta};
use crate::time::{self, Nanos};

/// One input to read.
#[derive(Clone, Debug)]
pub struct Input {
    /// Name in reports (`stdin` or the path).
    pub name: String,
    /// What to open.
    pub kind: InputKind,
    /// Namespace / pod / container derived from the path.
    pub meta: PathMeta,
    /// Size on disk, when known (for the progress bar).
    pub size: Option<u64>,
}

/// Where an input's bytes come from.
#[derive(Clone, Debug)]
pub enum InputKind {
    /// Standard input.
    Stdin,
    /// A file (decompressed by magic bytes).
    File(PathBuf),
    /// Bytes already in memory (tests, embedding).
    Memory(std::sync::Arc<[u8]>),
}

/// Which events the output keeps.
#[derive(Debug, Default)]
pub struct Filter {
    /// Keep events at or after (UTC ns).
    pub since: Option<Nanos>,
    /// Keep events before (UTC ns).
    pub until: Option<Nanos>,
    /// Keep only these services.
    pub services: Option<Vec<u16>>,
    /// Minimum level.
    pub min_level: Option<Level>,
    /// `--where`.
    pub expr: Option<Expr>,
    /// `--grep` (matched against the payload line).
    pub grep: Option<Regex>,
}

impl Filter {
    fn is_empty(&self) -> bool {
        self.since.is_none()
            && self.until.is_none()
            && self.services.is_none()
            && self.min_level.is_none()
            && self.expr.is_none()
            && self.grep.is_none()
    }
}

/// What the run produces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// The aggregate report.
    Analyze {
        /// Error-rate bucket width.
        bucket_ns: Nanos,
        /// Slow-request threshold.
        slow_ms: f64,
    },
    /// Matching events as NDJSON.
    Events,
}

/// Receives every event once its continuation lines are attached, in input order, and every
/// merged request. Implemented by the NDJSON writer and other per-event outputs.
pub trait EventSink {
    /// One event; `pass` tells whether it matched the filters.
    ///
    /// # Errors
    /// Output errors end the run.
    fn event(&mut self, v: &View<'_, '_>, pass: bool) -> io::Result<()>;
    /// One merged request (only requests whose lines matched the filters).
    ///
    /// # Errors
    /// Output errors end the run.
    fn request(&mut self, _r: &Request, _origin: &Origin) -> io::Result<()> {
        Ok(())
    }
    /// Called once at the end of the run, after every event and request: what was read of each
    /// input (same order as the inputs).
    ///
    /// # Errors
    /// Output errors end the run.
    fn inputs_read(&mut self, _inputs: &[InputRead]) -> io::Result<()> {
        Ok(())
    }
}

/// What the run read of one input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InputRead {
    /// Bytes read as stored (before decompression).
    pub bytes: u64,
    /// Lines read (after decompression).
    pub lines: u64,
    /// SHA-256 of the bytes read (with `Settings::hash_inputs`).
    pub sha256: Option<[u8; 32]>,
    /// Read to its end (false when it failed to open or read, or the run was cancelled).
    pub complete: bool,
}

/// Everything a run needs.
pub struct Settings {
    /// Parse workers.
    pub threads: usize,
    /// Target chunk size.
    pub chunk_bytes: usize,
    /// Cap on one line / joined record.
    pub max_line_bytes: usize,
    /// Parser options.
    pub parse: ParseOpts,
    /// Event filter.
    pub filter: Filter,
    /// Output mode.
    pub mode: Mode,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Keep every field of every event (sinks need them); otherwise only what the analysis reads.
    pub keep_events: bool,
    /// Hand each event's payload line to the sinks ([`View::raw`]).
    pub keep_raw: bool,
    /// Hash each input's bytes as read (reported through [`EventSink::inputs_read`]).
    pub hash_inputs: bool,
    /// When set (by a signal handler), the reader stops; what was read is still processed.
    pub cancel: Option<Arc<AtomicBool>>,
}

/// What a run produced.
pub enum Outcome {
    /// The report (analyze mode).
    Report(Box<Report>),
    /// Events were written (events mode).
    Events(InputCounts),
}

/// Identity of a stream: source + pod + container + stream.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Origin {
    /// Source index.
    pub source: u32,
    /// Kubernetes namespace.
    pub namespace: Option<String>,
    /// Pod.
    pub pod: Option<String>,
    /// Container.
    pub container: Option<String>,
    /// Docker container id.
    pub container_id: Option<String>,
    /// stdout / stderr.
    pub stream: Option<Stream>,
}

struct Chunk {
    seq: u64,
    source: u32,
    first_line: u64,
    data: Vec<u8>,
    /// Line numbers the reader cut at `max_line_bytes`.
    truncated: Vec<u64>,
}

enum ItemKind {
    Event {
        ev: Box<Event<'static>>,
        weak: bool,
        raw: Option<Box<str>>,
    },
    Blank,
    Unparsed(Unparsed),
}

struct Item {
    line: u64,
    stream: u64,
    pass: bool,
    kind: ItemKind,
}

#[derive(Default)]
struct ChunkOut {
    seq: u64,
    source: u32,
    lines: u64,
    joined_partials: u64,
    truncated: u64,
    invalid_utf8: u64,
    items: Vec<Item>,
    origins: Vec<(u64, Origin)>,
}

enum ReaderMsg {
    Chunk(Chunk),
    Bytes(u64),
    Error(String),
    /// An input is done: its stored bytes, digest and whether it was read to the end.
    InputDone {
        source: u32,
        bytes: u64,
        sha256: Option<[u8; 32]>,
        complete: bool,
    },
}

/// FNV-1a, enough to tell streams apart.
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

fn stream_key(source: u32, u: &Unwrapped<'_>) -> u64 {
    let mut h = fnv(0xcbf2_9ce4_8422_2325, &source.to_le_bytes());
    if let Some(p) = u.pod {
        h = fnv(h, p.as_bytes());
    }
    h = fnv(h, b"/");
    if let Some(c) = u.container {
        h = fnv(h, c.as_bytes());
    }
    fnv(h, &[u.stream.map_or(0, |s| s as u8 + 1)])
}

/// Run the pipeline over `inputs`, handing events to `sinks`.
///
/// # Errors
/// Only output errors (a closed stdout surfaces as `BrokenPipe`); input problems are counted.
pub fn run(
    inputs: &[Input],
    reg: &Registry,
    settings: &Settings,
    sinks: &mut [&mut dyn EventSink],
) -> io::Result<Outcome> {
    let threads = settings.threads.max(1);
    let (chunk_tx, chunk_rx) = sync_channel::<ReaderMsg>(threads * 2);
    let (work_tx, work_rx) = sync_channel::<Chunk>(threads * 2);
    let (done_tx, done_rx) = sync_channel::<ChunkOut>(threads * 2);
    let work_rx = Mutex::new(work_rx);
    let mut merger = Merger::new(inputs, reg, settings, !sinks.is_empty());
    std::thread::scope(|scope| -> io::Result<()> {
        scope.spawn(move || read_all(inputs, settings, chunk_tx));
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            scope.spawn(move || {
                let mut scratch = reg.scratch();
                loop {
                    let next = work_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok(chunk)) = next else { break };
                    let out = process_chunk(chunk, inputs, reg, settings, &mut scratch);
                    if done_tx.send(out).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        // This thread dispatches chunks and merges results in order.
        let result = dispatch_and_merge(chunk_rx, work_tx, done_rx, &mut merger, sinks);
        if result.is_err() {
            // Drain so the other threads can finish.
            drain(&work_rx);
        }
        result
    })?;
    merger.finish(sinks)
}

fn drain(work_rx: &Mutex<Receiver<Chunk>>) {
    if let Ok(rx) = work_rx.lock() {
        while rx.try_recv().is_ok() {}
    }
}

fn dispatch_and_merge(
    chunk_rx: Receiver<ReaderMsg>,
    work_tx: SyncSender<Chunk>,
    done_rx: Receiver<ChunkOut>,
    merger: &mut Merger<'_>,
    sinks: &mut [&mut dyn EventSink],
) -> io::Result<()> {
    let mut in_flight = 0usize;
    let mut waiting: BTreeMap<u64, ChunkOut> = BTreeMap::new();
    let mut next_seq = 0u64;
    let mut reader_done = false;
    let mut merge_ready =
        |w: &mut BTreeMap<u64, ChunkOut>, next: &mut u64, m: &mut Merger<'_>| -> io::Result<()> {
            while let Some(c) = w.remove(next) {
                *next += 1;
                m.merge(c, sinks)?;
            }
            Ok(())
        };
    let capacity = 4 * 2;
    loop {
        // Keep workers fed while the merge queue is small; otherwise collect results.
        if !reader_done && in_flight < capacity {
            match chunk_rx.recv() {
                Ok(ReaderMsg::Chunk(c)) => {
                    in_flight += 1;
                    if work_tx.send(c).is_err() {
                        return Err(io::Error::other("parse worker stopped"));
                    }
                }
                Ok(ReaderMsg::Bytes(n)) => merger.counts.bytes += n,
                Ok(ReaderMsg::Error(e)) => merger.counts.read_errors.push(e),
                Ok(ReaderMsg::InputDone {
                    source,
                    bytes,
                    sha256,
                    complete,
                }) => {
                    if let Some(r) = merger.inputs_read.get_mut(source as usize) {
                        r.bytes = bytes;
                        r.sha256 = sha256;
                        r.complete = complete;
                    }
                }
                Err(_) => reader_done = true,
            }
            while let Ok(c) = done_rx.try_recv() {
                in_flight -= 1;
                waiting.insert(c.seq, c);
            }
            merge_ready(&mut waiting, &mut next_seq, merger)?;
            continue;
        }
        if in_flight == 0 {
            break;
        }
        match done_rx.recv() {
            Ok(c) => {
                in_flight -= 1;
                waiting.insert(c.seq, c);
                merge_ready(&mut waiting, &mut next_seq, merger)?;
            }
            Err(_) => break,
        }
    }
    drop(work_tx);
    merge_ready(&mut waiting, &mut next_seq, merger)
}

// ---------------------------------------------------------------- reader

/// Counts (and optionally hashes) the stored bytes of one input as they are read.
#[derive(Default)]
struct ByteTap {
    bytes: u64,
    hasher: Option<Sha256>,
}

/// A reader that feeds every byte it returns to a shared [`ByteTap`].
struct Tapped<R> {
    inner: R,
    tap: Arc<Mutex<ByteTap>>,
}

impl<R: Read> Read for Tapped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Ok(mut tap) = self.tap.lock() {
            tap.bytes += n as u64;
            if let Some(h) = tap.hasher.as_mut() {
                h.update(&buf[..n]);
            }
        }
        Ok(n)
    }
}

fn open(input: &Input, tap: &Arc<Mutex<ByteTap>>) -> io::Result<Box<dyn Read + Send>> {
    let raw: Box<dyn Read + Send> = match &input.kind {
        InputKind::Stdin => Box::new(io::stdin()),
        InputKind::File(p) => Box::new(std::fs::File::open(p)?),
        InputKind::Memory(b) => Box::new(io::Cursor::new(b.clone())),
    };
    files::decode_reader(Box::new(Tapped {
        inner: raw,
        tap: Arc::clone(tap),
    }))
}

fn cancelled(settings: &Settings) -> bool {
    settings
        .cancel
        .as_ref()
        .is_some_and(|c| c.load(Ordering::Relaxed))
}

struct Progress {
    total: u64,
    done: u64,
    last: Instant,
    shown: bool,
}

impl Progress {
    fn tick(&mut self, n: u64) {
        self.done += n;
        if self.last.elapsed().as_millis() < 200 {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        let pct = if self.total > 0 {
            self.done as f64 * 100.0 / self.total as f64
        } else {
            0.0
        };
        let width = 30;
        let filled = ((pct / 100.0) * width as f64).min(width as f64) as usize;
        eprint!(
            "\r\x1b[2K[{}{}] {:>5.1}%  {:.1} / {:.1} MB",
            "#".repeat(filled),
            "-".repeat(width - filled),
            pct.min(100.0),
            self.done as f64 / 1e6,
            self.total as f64 / 1e6
        );
    }

    fn clear(&self) {
        if self.shown {
            eprint!("\r\x1b[2K");
        }
    }
}

fn read_all(inputs: &[Input], settings: &Settings, tx: SyncSender<ReaderMsg>) {
    let mut seq = 0u64;
    let total: u64 = inputs.iter().filter_map(|i| i.size).sum();
    let mut progress =
        (settings.progress && io::stderr().is_terminal() && total > 32 << 20).then(|| Progress {
            total,
            done: 0,
            last: Instant::now(),
            shown: false,
        });
    for (sid, input) in inputs.iter().enumerate() {
        let tap = Arc::new(Mutex::new(ByteTap {
            bytes: 0,
            hasher: settings.hash_inputs.then(Sha256::new),
        }));
        let complete = if cancelled(settings) {
            false
        } else {
            match open(input, &tap) {
                Ok(reader) => {
                    let Ok(complete) = read_one(
                        sid as u32,
                        reader,
                        input,
                        settings,
                        &tx,
                        &mut seq,
                        &mut progress,
                    ) else {
                        return;
                    };
                    complete
                }
                Err(e) => {
                    let _ = tx.send(ReaderMsg::Error(format!(
                        "cannot read '{}': {e}",
                        input.name
                    )));
                    false
                }
            }
        };
        let (bytes, sha256) = match tap.lock() {
            Ok(mut t) => (t.bytes, t.hasher.take().map(|h| h.finalize().into())),
            Err(_) => (0, None),
        };
        let done = ReaderMsg::InputDone {
            source: sid as u32,
            bytes,
            sha256,
            complete,
        };
        if tx.send(done).is_err() {
            return;
        }
    }
    if let Some(p) = &progress {
        p.clear();
    }
}

/// Splits one input into chunks; true when it was read to its end. Errors only when the
/// receiver is gone.
fn read_one(
    source: u32,
    mut reader: Box<dyn Read + Send>,
    input: &Input,
    settings: &Settings,
    tx: &SyncSender<ReaderMsg>,
    seq: &mut u64,
    progress: &mut Option<Progress>,
) -> Result<bool, ()> {
    let max_line = settings.max_line_bytes.max(16);
    let target = settings.chunk_bytes.max(1024);
    // Bytes of the current line that go beyond the cap are dropped while reading.
    let mut pending: Vec<u8> = Vec::with_capacity(target + 65536);
    let mut scanned = 0usize; // complete lines up to here were seen by the tracker
    let mut safe_cut = 0usize; // no partial run open at this offset
    let mut lines_scanned = 0u64;
    let mut lines_at_cut = 0u64;
    let mut next_line = 1u64;
    let mut truncated: Vec<u64> = Vec::new();
    let mut discarding = false; // inside an over-long line
    let mut tracker = Joiner::new(max_line);
    let mut buf = vec![0u8; 256 * 1024];
    let mut send_chunk =
        |data: Vec<u8>, lines: u64, truncated: Vec<u64>, next_line: &mut u64| -> Result<(), ()> {
            let chunk = Chunk {
                seq: *seq,
                source,
                first_line: *next_line,
                data,
                truncated,
            };
            *seq += 1;
            *next_line += lines;
            tx.send(ReaderMsg::Chunk(chunk)).map_err(|_| ())
        };
    let mut complete = true;
    loop {
        if cancelled(settings) {
            complete = false;
            break;
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tx.send(ReaderMsg::Error(format!(
                    "error reading '{}': {e}",
                    input.name
                )))
                .map_err(|_| ())?;
                complete = false;
                break;
            }
        };
        tx.send(ReaderMsg::Bytes(n as u64)).map_err(|_| ())?;
        if let Some(p) = progress.as_mut() {
            p.tick(n as u64);
        }
        let mut data = &buf[..n];
        while !data.is_empty() {
            if discarding {
                match memchr::memchr(b'\n', data) {
                    Some(i) => {
                        // The cut line already ended with the newline we pushed.
                        discarding = false;
                        data = &data[i + 1..];
                    }
                    None => data = &[],
                }
                continue;
            }
            // Append up to the cap of the current line.
            let line_len = pending.len() - scanned;
            match memchr::memchr(b'\n', data) {
                Some(i) if line_len + i <= max_line => {
                    pending.extend_from_slice(&data[..=i]);
                    data = &data[i + 1..];
                }
                Some(_) | None if line_len + data.len() > max_line => {
                    let keep = max_line - line_len;
                    pending.extend_from_slice(&data[..keep]);
                    pending.push(b'\n');
                    truncated.push(next_line + lines_scanned);
                    data = &data[keep..];
                    discarding = true;
                }
                _ => {
                    pending.extend_from_slice(data);
                    data = &[];
                }
            }
            // Track complete lines.
            while let Some(i) = memchr::memchr(b'\n', &pending[scanned..]) {
                let line = &pending[scanned..scanned + i];
                let u = envelope::unwrap(line);
                if u.partial || tracker.open_runs() > 0 {
                    tracker.feed(stream_key(source, &u), 0, &u);
                }
                scanned += i + 1;
                lines_scanned += 1;
                if tracker.open_runs() == 0 {
                    safe_cut = scanned;
                    lines_at_cut = lines_scanned;
                }
            }
            let force = pending.len() >= 64 * target.max(1 << 20);
            if safe_cut >= target || force {
                let (cut, lines) = if safe_cut > 0 {
                    (safe_cut, lines_at_cut)
                } else {
                    (scanned, lines_scanned)
                };
                if force && safe_cut == 0 {
                    tracker = Joiner::new(max_line);
                }
                let rest = pending.split_off(cut);
                let data = std::mem::replace(&mut pending, rest);
                let (now, later): (Vec<u64>, Vec<u64>) =
                    truncated.iter().partition(|&&l| l < next_line + lines);
                truncated = later;
                send_chunk(data, lines, now, &mut next_line)?;
                scanned -= cut;
                lines_scanned -= lines;
                safe_cut = 0;
                lines_at_cut = 0;
            }
        }
    }
    if pending.len() > scanned {
        // Last line without a newline.
        pending.push(b'\n');
        lines_scanned += 1;
    }
    if !pending.is_empty() {
        send_chunk(pending, lines_scanned, truncated, &mut next_line)?;
    }
    Ok(complete)
}

// ---------------------------------------------------------------- workers

/// What `--where` and the NDJSON writer see of an event.
pub struct View<'e, 'a> {
    /// The event.
    pub ev: &'e Event<'a>,
    /// Registry (for service and format names).
    pub reg: &'e Registry,
    /// Input name.
    pub source: &'e str,
    /// Line number.
    pub line: u64,
    /// Stream origin.
    pub origin: &'e Origin,
    /// The payload line (envelope removed, partials joined), with `Settings::keep_raw`.
    pub raw: Option<&'e str>,
}

impl Fields for View<'_, '_> {
    fn field(&self, name: &str) -> Option<Value<'_>> {
        let s = |v: &str| Some(Value::Str(std::borrow::Cow::Owned(v.to_string())));
        match name {
            "ts" => self
                .ev
                .ts
                .map(|t| Value::Str(time::format_rfc3339_nanos(t).into())),
            "service" => Some(Value::Str(self.reg.service_name(self.ev.service).into())),
            "format" => Some(Value::Str(self.reg.format_name(self.ev.format).into())),
            "source" => Some(Value::Str(self.source.into())),
            "line" => Some(Value::Num(self.line as f64)),
            "namespace" => self
                .origin
                .namespace
                .as_deref()
                .map(|v| Value::Str(v.into())),
            "pod" => self.origin.pod.as_deref().map(|v| Value::Str(v.into())),
            "container" => self
                .origin
                .container
                .as_deref()
                .map(|v| Value::Str(v.into())),
            "stream" => self.origin.stream.map(|v| Value::Str(v.as_str().into())),
            "level" => self.ev.level.map(|l| Value::Level(l as u8)),
            "status" => self.ev.status.map(|v| Value::Num(f64::from(v))),
            "duration_ms" => self.ev.duration_ms.map(Value::Num),
            other => match Slot::from_name(other) {
                Some(slot) => self.ev.get(slot).map(|v| Value::Str(v.into())),
                None => {
                    let key = other.strip_prefix("fields.").unwrap_or(other);
                    let (_, v) = self.ev.extras.iter().find(|(k, _)| k == key)?;
                    match v {
                        crate::event::Extra::Str(x) => Some(Value::Str(x.as_ref().into())),
                        crate::event::Extra::Json(j) => {
                            let raw = crate::jsonscan::Raw(j);
                            if let Some(n) = raw
                                .as_f64()
                                .filter(|_| raw.kind() == crate::jsonscan::Kind::Number)
                            {
                                Some(Value::Num(n))
                            } else {
                                match raw.as_str() {
                                    Some(x) => s(&x),
                                    None => s(&String::from_utf8_lossy(j)),
                                }
                            }
                        }
                    }
                }
            },
        }
    }
}

fn origin_of(source: u32, meta: &PathMeta, u: &Unwrapped<'_>) -> Origin {
    Origin {
        source,
        namespace: meta.namespace.clone(),
        pod: u.pod.map(str::to_string).or_else(|| meta.pod.clone()),
        container: u
            .container
            .map(str::to_string)
            .or_else(|| meta.container.clone()),
        container_id: meta.container_id.clone(),
        stream: u.stream,
    }
}

struct LineCtx<'c> {
    source: u32,
    input: &'c Input,
    line: u64,
    stream: u64,
    runtime_ts: Option<&'c str>,
    truncated: bool,
}

fn process_chunk(
    chunk: Chunk,
    inputs: &[Input],
    reg: &Registry,
    settings: &Settings,
    scratch: &mut Scratch,
) -> ChunkOut {
    let mut out = ChunkOut {
        seq: chunk.seq,
        source: chunk.source,
        ..ChunkOut::default()
    };
    let Some(input) = inputs.get(chunk.source as usize) else {
        return out;
    };
    let mut joiner = Joiner::new(settings.max_line_bytes.max(16));
    let mut origins: HashMap<u64, Origin> = HashMap::new();
    let data = &chunk.data;
    let mut start = 0;
    let mut line_no = chunk.first_line;
    while let Some(i) = memchr::memchr(b'\n', &data[start..]) {
        let line = &data[start..start + i];
        start += i + 1;
        let this_line = line_no;
        line_no += 1;
        out.lines += 1;
        let u = envelope::unwrap(line);
        let key = stream_key(chunk.source, &u);
        origins
            .entry(key)
            .or_insert_with(|| origin_of(chunk.source, &input.meta, &u));
        let reader_cut = chunk.truncated.contains(&this_line);
        match joiner.feed(key, this_line, &u) {
            Feed::Passthrough => {
                let ctx = LineCtx {
                    source: chunk.source,
                    input,
                    line: this_line,
                    stream: key,
                    runtime_ts: u.runtime_ts,
                    truncated: reader_cut,
                };
                handle(
                    &u.content,
                    &ctx,
                    &origins[&key],
                    reg,
                    settings,
                    scratch,
                    &mut out,
                );
            }
            Feed::Buffered => {}
            Feed::Completed(j) => {
                out.joined_partials += u64::from(j.pieces.saturating_sub(1));
                let ctx = LineCtx {
                    source: chunk.source,
                    input,
                    line: j.first_line,
                    stream: key,
                    runtime_ts: j.first_ts.as_deref(),
                    truncated: j.truncated || reader_cut,
                };
                handle(
                    &j.content,
                    &ctx,
                    &origins[&key],
                    reg,
                    settings,
                    scratch,
                    &mut out,
                );
            }
        }
    }
    for (key, j) in joiner.finish() {
        out.joined_partials += u64::from(j.pieces.saturating_sub(1));
        let ctx = LineCtx {
            source: chunk.source,
            input,
            line: j.first_line,
            stream: key,
            runtime_ts: j.first_ts.as_deref(),
            truncated: j.truncated,
        };
        let origin = origins.get(&key).cloned().unwrap_or_default();
        handle(&j.content, &ctx, &origin, reg, settings, scratch, &mut out);
    }
    out.origins = origins.into_iter().collect();
    out
}

fn handle(
    content: &[u8],
    ctx: &LineCtx<'_>,
    origin: &Origin,
    reg: &Registry,
    settings: &Settings,
    scratch: &mut Scratch,
    out: &mut ChunkOut,
) {
    out.truncated += u64::from(ctx.truncated);
    let text = match std::str::from_utf8(content) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => {
            out.invalid_utf8 += 1;
            String::from_utf8_lossy(content)
        }
    };
    let item = |kind, pass| Item {
        line: ctx.line,
        stream: ctx.stream,
        pass,
        kind,
    };
    match reg.parse(&text, &settings.parse, scratch) {
        Parsed::Blank => out.items.push(item(ItemKind::Blank, false)),
        Parsed::Unparsed(r) => out.items.push(item(ItemKind::Unparsed(r), false)),
        Parsed::Event { mut ev, weak } => {
            ev.runtime_ts = ctx
                .runtime_ts
                .and_then(|t| time::parse_timestamp(t.as_bytes(), 0));
            if ev.ts.is_none() {
                ev.ts = ev.runtime_ts;
            }
            let pass = passes(&ev, &text, ctx, origin, reg, &settings.filter);
            let raw = (weak || settings.keep_raw).then(|| Box::<str>::from(text.as_ref()));
            let ev = if settings.keep_events {
                ev.into_owned()
            } else {
                trim_for_analysis(ev)
            };
            out.items.push(item(
                ItemKind::Event {
                    ev: Box::new(ev),
                    weak,
                    raw,
                },
                pass,
            ));
        }
    }
}

fn passes(
    ev: &Event<'_>,
    text: &str,
    ctx: &LineCtx<'_>,
    origin: &Origin,
    reg: &Registry,
    f: &Filter,
) -> bool {
    if f.is_empty() {
        return true;
    }
    if (f.since.is_some() || f.until.is_some())
        && !ev
            .ts
            .is_some_and(|t| f.since.is_none_or(|s| t >= s) && f.until.is_none_or(|u| t < u))
    {
        return false;
    }
    if f.services
        .as_ref()
        .is_some_and(|s| !s.contains(&ev.service))
    {
        return false;
    }
    if f.min_level.is_some() && ev.level < f.min_level {
        return false;
    }
    if f.grep.as_ref().is_some_and(|g| !g.is_match(text)) {
        return false;
    }
    if let Some(expr) = &f.expr {
        let view = View {
            ev,
            reg,
            source: &ctx.input.name,
            line: ctx.line,
            origin,
            raw: Some(text),
        };
        let _ = ctx.source;
        if !expr.matches(&view) {
            return false;
        }
    }
    true
}

/// Keep only what the aggregates and request merging read.
fn trim_for_analysis(ev: Event<'_>) -> Event<'static> {
    let mut kept = Event {
        ts: ev.ts,
        runtime_ts: ev.runtime_ts,
        level: ev.level,
        service: ev.service,
        format: ev.format,
        status: ev.status,
        duration_ms: ev.duration_ms,
        request: ev.request,
        multiline: ev.multiline,
        ..Event::default()
    };
    if ev.request.is_some() {
        for slot in [
            Slot::Method,
            Slot::Route,
            Slot::Path,
            Slot::TraceId,
            Slot::RequestId,
            Slot::ClientIp,
            Slot::AgentId,
        ] {
            if let Some(v) = &ev.strs[slot as usize] {
                kept.strs[slot as usize] = Some(std::borrow::Cow::Owned(v.to_string()));
            }
        }
    }
    kept
}

// ---------------------------------------------------------------- merger

#[derive(Default)]
struct StreamState {
    /// Id of the last event of this stream, while it may still receive continuations.
    open: Option<u64>,
    mode: Multiline,
    in_traceback: bool,
}

struct Pending {
    ev: Box<Event<'static>>,
    raw: Option<Box<str>>,
    line: u64,
    stream: u64,
    pass: bool,
    closed: bool,
}

/// Most events held back waiting for their continuation lines.
const MAX_HELD: usize = 4096;

/// Cross-line state, fed chunk results in input order.
struct Merger<'r> {
    inputs: &'r [Input],
    reg: &'r Registry,
    counts: InputCounts,
    origins: HashMap<u64, Origin>,
    streams: HashMap<u64, StreamState>,
    requests: RequestMerger,
    finished: Vec<Request>,
    analyzer: Option<Analyzer>,
    /// Hold events until their continuations are attached (there are sinks to feed).
    hold: bool,
    /// Keep payload lines for the sinks.
    keep_raw: bool,
    /// Per input: bytes, lines, digest.
    inputs_read: Vec<InputRead>,
    /// Held events in input order; the front has id `held_front`.
    held: VecDeque<Pending>,
    held_front: u64,
    next_id: u64,
    reasons: BTreeMap<Unparsed, u64>,
}

/// Does a line continue a Python event? Indented lines, traceback headers, chained-exception
/// separators and, inside a traceback, its final `module.ExceptionName: message` line.
fn python_continues(line: &str, in_traceback: &mut bool) -> bool {
    if line.starts_with([' ', '\t']) {
        return true;
    }
    if line.starts_with("Traceback (most recent call last)") {
        *in_traceback = true;
        return true;
    }
    if line.starts_with("The above exception was the direct cause")
        || line.starts_with("During handling of the above exception")
    {
        return true;
    }
    *in_traceback && {
        let name_len = line
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.'))
            .count();
        name_len > 0 && (name_len == line.len() || line[name_len..].starts_with(':'))
    }
}

impl<'r> Merger<'r> {
    fn new(inputs: &'r [Input], reg: &'r Registry, settings: &Settings, hold: bool) -> Merger<'r> {
        let services: Vec<String> = reg.services().map(str::to_string).collect();
        let chain_len = (0..services.len())
            .map(|i| reg.request_chain(i as u16).len() as u8)
            .collect();
        Merger {
            inputs,
            reg,
            counts: InputCounts::default(),
            origins: HashMap::new(),
            streams: HashMap::new(),
            requests: RequestMerger::new(chain_len),
            finished: Vec::new(),
            analyzer: match settings.mode {
                Mode::Analyze { bucket_ns, slow_ms } => {
                    Some(Analyzer::new(services, bucket_ns, slow_ms))
                }
                Mode::Events => None,
            },
            hold,
            keep_raw: settings.keep_raw,
            inputs_read: vec![InputRead::default(); inputs.len()],
            held: VecDeque::new(),
            held_front: 0,
            next_id: 0,
            reasons: BTreeMap::new(),
        }
    }

    fn merge(&mut self, c: ChunkOut, sinks: &mut [&mut dyn EventSink]) -> io::Result<()> {
        self.counts.lines += c.lines;
        if let Some(r) = self.inputs_read.get_mut(c.source as usize) {
            r.lines += c.lines;
        }
        self.counts.joined_partials += c.joined_partials;
        self.counts.truncated += c.truncated;
        self.counts.invalid_utf8 += c.invalid_utf8;
        for (k, o) in c.origins {
            self.origins.entry(k).or_insert(o);
        }
        for item in c.items {
            self.item(item);
            self.deliver_requests(sinks)?;
        }
        self.flush_held(sinks, false)
    }

    fn item(&mut self, item: Item) {
        let state = self.streams.entry(item.stream).or_default();
        match item.kind {
            ItemKind::Blank => {
                if let Some(id) = state.open {
                    self.counts.continuation_lines += 1;
                    self.append(id, "");
                } else {
                    self.unparsed(Unparsed::Blank);
                }
            }
            ItemKind::Unparsed(r) => self.unparsed(r),
            ItemKind::Event { ev, weak, raw } => {
                if weak && let (Some(id), Some(text)) = (state.open, raw.as_deref()) {
                    let continues = match state.mode {
                        Multiline::None => false,
                        Multiline::Python => python_continues(text, &mut state.in_traceback),
                        Multiline::RustPanic => {
                            if text.starts_with("note: ") && text.contains("RUST_BACKTRACE") {
                                state.mode = Multiline::None;
                            }
                            true
                        }
                    };
                    if continues {
                        self.counts.continuation_lines += 1;
                        self.append(id, text);
                        return;
                    }
                }
                let raw = raw.filter(|_| self.keep_raw);
                self.new_event(ev, raw, item.line, item.stream, item.pass);
            }
        }
    }

    fn unparsed(&mut self, r: Unparsed) {
        self.counts.unparsed_lines += 1;
        *self.reasons.entry(r).or_default() += 1;
    }

    fn new_event(
        &mut self,
        ev: Box<Event<'static>>,
        raw: Option<Box<str>>,
        line: u64,
        stream: u64,
        pass: bool,
    ) {
        self.counts.events += 1;
        let id = self.next_id;
        self.next_id += 1;
        let state = self.streams.entry(stream).or_default();
        let previous = state.open.replace(id);
        state.mode = ev.multiline;
        state.in_traceback = false;
        if let Some(p) = previous {
            self.close(p);
        }
        if !pass {
            self.counts.filtered_out += 1;
        }
        if pass && let Some(kind) = ev.request {
            let source = self.origins.get(&stream).map_or(0, |o| o.source);
            let owned = |slot| ev.get(slot).map(str::to_string);
            let obs = Request {
                service: ev.service,
                ts: ev.ts,
                method: owned(Slot::Method),
                route: owned(Slot::Route),
                path: owned(Slot::Path),
                status: ev.status,
                duration_ms: ev.duration_ms,
                trace_id: owned(Slot::TraceId),
                request_id: owned(Slot::RequestId),
                client_ip: owned(Slot::ClientIp),
                agent_id: owned(Slot::AgentId),
                at: At {
                    source,
                    line,
                    stream,
                },
                ..Request::default()
            };
            let finished = &mut self.finished;
            self.requests.observe(obs, kind, &mut |r| finished.push(r));
        }
        if pass && let Some(a) = &mut self.analyzer {
            a.event(ev.service, ev.level, ev.ts);
        }
        if self.hold {
            self.held.push_back(Pending {
                ev,
                raw,
                line,
                stream,
                pass,
                closed: false,
            });
        }
    }

    /// Hand finished requests to the analyzer and the sinks.
    fn deliver_requests(&mut self, sinks: &mut [&mut dyn EventSink]) -> io::Result<()> {
        for r in self.finished.drain(..) {
            let origin = self.origins.get(&r.at.stream).cloned().unwrap_or_default();
            for s in sinks.iter_mut() {
                s.request(&r, &origin)?;
            }
            if let Some(a) = &mut self.analyzer {
                let inputs = self.inputs;
                a.request(r, |_| SlowOrigin {
                    source: inputs
                        .get(origin.source as usize)
                        .map_or_else(String::new, |i| i.name.clone()),
                    namespace: origin.namespace,
                    pod: origin.pod,
                    container: origin.container,
                });
            }
        }
        Ok(())
    }

    fn held_mut(&mut self, id: u64) -> Option<&mut Pending> {
        if !self.hold {
            return None;
        }
        let idx = id.checked_sub(self.held_front)?;
        self.held.get_mut(usize::try_from(idx).ok()?)
    }

    /// Attach a continuation line to the event's exception text.
    fn append(&mut self, id: u64, text: &str) {
        if let Some(p) = self.held_mut(id) {
            let cell = &mut p.ev.strs[Slot::Exception as usize];
            let mut s = cell.take().map(|c| c.into_owned()).unwrap_or_default();
            if !s.is_empty() || text.is_empty() {
                s.push('\n');
            }
            s.push_str(text);
            *cell = Some(std::borrow::Cow::Owned(s));
        }
    }

    fn close(&mut self, id: u64) {
        if let Some(p) = self.held_mut(id) {
            p.closed = true;
        }
    }

    /// Hand closed events (all of them at the end) to the sinks, in input order.
    fn flush_held(&mut self, sinks: &mut [&mut dyn EventSink], all: bool) -> io::Result<()> {
        while let Some(front) = self.held.front() {
            if !(all || front.closed || self.held.len() > MAX_HELD) {
                break;
            }
            let Some(p) = self.held.pop_front() else {
                break;
            };
            let id = self.held_front;
            self.held_front += 1;
            if let Some(state) = self.streams.get_mut(&p.stream)
                && state.open == Some(id)
            {
                state.open = None;
            }
            let origin = self.origins.get(&p.stream).cloned().unwrap_or_default();
            let source = self
                .inputs
                .get(origin.source as usize)
                .map_or("", |i| i.name.as_str());
            let view = View {
                ev: &p.ev,
                reg: self.reg,
                source,
                line: p.line,
                origin: &origin,
                raw: p.raw.as_deref(),
            };
            for s in sinks.iter_mut() {
                s.event(&view, p.pass)?;
            }
        }
        Ok(())
    }

    fn finish(mut self, sinks: &mut [&mut dyn EventSink]) -> io::Result<Outcome> {
        let finished = &mut self.finished;
        self.requests.finish(&mut |r| finished.push(r));
        self.deliver_requests(sinks)?;
        self.flush_held(sinks, true)?;
        for s in sinks.iter_mut() {
            s.inputs_read(&self.inputs_read)?;
        }
        self.counts.unparsed_reasons = self
            .reasons
            .iter()
            .map(|(r, n)| (r.as_str().to_string(), *n))
            .collect();
        Ok(match self.analyzer.take() {
            Some(a) => Outcome::Report(Box::new(a.report(self.counts))),
            None => Outcome::Events(self.counts),
        })
    }
}

/// Parse the `--assume-tz` offset; helper for the CLI layer.
pub fn assume_offset(s: Option<&str>) -> Result<i32, String> {
    match s {
        None => Ok(0),
        Some(s) => time::parse_offset(s).ok_or_else(|| {
            format!("--assume-tz: expected UTC or a fixed offset like +02:00, got {s:?}")
        }),
    }
}

/// Re-export for the CLI: parse `--level`.
pub fn parse_min_level(s: &str) -> Result<Level, String> {
    filter::parse_level(s)
        .and_then(|n| Level::ALL.get(n as usize).copied())
        .ok_or_else(|| {
            format!("--level: unknown level {s:?} (trace, debug, info, warn, error, fatal)")
        })
}
