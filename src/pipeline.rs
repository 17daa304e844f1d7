//! The streaming pipeline: read → frame → unwrap envelopes → parse (in parallel) → stitch
//! (continuations, requests) → analyze or print, in input order.
//!
//! ```text
//! reader thread ──Chunk──▶ N parse workers ──ChunkOut──▶ merger (this thread, in order)
//! ```
//! * The reader cuts inputs into ~1 MiB chunks at line boundaries where no CRI `P` / docker
//!   json-file partial run is open, so workers join partial lines chunk-locally. It truncates
//!   lines longer than `--max-line-bytes` without buffering them. A live stdin (a pipe, a
//!   terminal: [`crate::source::stdin`]) is also cut where its writer pauses, and once it has
//!   been idle the merger delivers the events it holds for continuation lines: output follows
//!   a slow `kubectl logs -f |` line by line, while a fast writer still makes full chunks.
//! * Workers unwrap envelopes, join partials, parse, filter, and keep only what the output needs.
//! * The merger owns all cross-line state: it attaches continuation lines to the event before
//!   them in the same stream, merges request lines into requests, and feeds the output.
//! * `--follow` on directories and glob patterns ([`Settings::watch`]): the reader expands them
//!   again every second and announces each new file (`ReaderMsg::NewInput`, the next source
//!   id) before starting its reader thread; the merger owns the list of inputs by source id,
//!   grows it and its per-input state, tells the sinks ([`EventSink::input_added`]), and hands
//!   each chunk to a worker together with its input.
//!
//! Invariants: every line read is accounted for exactly once (`lines = events +
//! continuation_lines + unparsed_lines + joined_partials`); results do not depend on the number
//! of threads or the chunk size; memory is bounded by the chunk queue, the state of at most
//! [`Settings::max_streams`] streams ([`crate::streams`]: past it the least recently read
//! releases its own, as at the end of input), the request window, `MAX_HELD` events awaiting
//! their continuation lines (each capped at `--max-line-bytes`; the oldest past the cap is
//! handed out and stays its stream's open event, so counts match `analyze`, which holds
//! nothing) and `REORDER_CAP` items in the reorder buffer.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io::{self, IsTerminal, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use regex::Regex;
use sha2::{Digest, Sha256};

use std::cell::RefCell;
use std::rc::Rc;

use crate::analyze::{Analyzer, InputCounts, Origin as SlowOrigin, Report};
use crate::correlate::{self, ClosedGroup, CorrelationSettings, Correlator, Ids, Observation};
use crate::envelope::{self, Feed, Joiner, Stream, Unwrapped};
use crate::event::{Event, Level, Multiline, PackedEvent, Slot};
use crate::filter::{self, Expr, Fields, Value};
use crate::parse::{ParseOpts, ParseOutcome, Registry, Scratch, Unparsed};
use crate::reorder::Reorder;
use crate::request::{Arrival, At, LineFields, Observed, REQUEST_SLOTS, Request, RequestMerger};
use crate::rules::condition::{ContinuationSubject, EventSubject, Parent};
use crate::rules::engine::{
    Cause, CauseKind, Findings, GroupRef, Sighting, cause_in, clip, note_cause,
};
use crate::rules::{Hit, RuleSet};
use crate::signature::signature;
use crate::source::files::{self, PathMeta};
use crate::source::loki::Part;
use crate::source::stdin::{self, Pause};
use crate::spans::{Edge, Hand, Mark};
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

impl Input {
    /// A file found by [`files::resolve_inputs`] (or, while following, by [`files::rescan`]),
    /// named by its path.
    pub fn file(f: files::InputFile) -> Input {
        Input {
            name: f.path.display().to_string(),
            kind: InputKind::File(f.path),
            meta: f.meta,
            size: Some(f.size),
        }
    }
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
    /// `kubectl logs` of a pod, deployment or selector.
    Kubectl {
        /// What to read.
        input: crate::source::kubectl::K8sInput,
        /// How.
        opts: crate::source::kubectl::KubectlOpts,
    },
    /// A container's logs from the Docker Engine API.
    Docker {
        /// The engine.
        endpoint: crate::source::http::Endpoint,
        /// The resolved container.
        container: crate::source::docker::Container,
    },
    /// A Grafana Loki query (history, then the tail when following). Its lines carry a label
    /// tag that [`process_chunk`] strips (see `source::loki`).
    Loki(std::sync::Arc<crate::source::loki::LokiInput>),
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
    /// The options in effect, as a user wrote them (`--since 2026-11-22T07:00:00Z`, `--level`…),
    /// for messages about what they filtered out.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(t) = self.since {
            out.push(format!("--since {}", crate::time::format_rfc3339_nanos(t)));
        }
        if let Some(t) = self.until {
            out.push(format!("--until {}", crate::time::format_rfc3339_nanos(t)));
        }
        for (on, name) in [
            (self.services.is_some(), "--service"),
            (self.min_level.is_some(), "--level"),
            (self.expr.is_some(), "--where"),
            (self.grep.is_some(), "--grep"),
        ] {
            if on {
                out.push(name.to_string());
            }
        }
        out
    }

    /// Whether `t` is within `--since`/`--until` (true without them).
    fn in_range(&self, t: Nanos) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }

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
    /// A line that is no event, as it is merged ([`Settings::keep_unparsed`]).
    ///
    /// # Errors
    /// Output errors end the run.
    fn unparsed(&mut self, _line: &UnparsedLine<'_>) -> io::Result<()> {
        Ok(())
    }
    /// One closed correlation group, with every identifier (`Settings::keep_groups`).
    ///
    /// # Errors
    /// Output errors end the run.
    fn group(&mut self, _g: &ClosedGroup) -> io::Result<()> {
        Ok(())
    }
    /// Does this sink need events? (Sinks that only take snapshots say no, so the analysis
    /// does not hold events back for them.)
    fn wants_events(&self) -> bool {
        true
    }
    /// The report so far, every `Settings::snapshot_every` (analyze mode).
    ///
    /// # Errors
    /// Output errors end the run.
    fn snapshot(&mut self, _report: &Report) -> io::Result<()> {
        Ok(())
    }
    /// Push buffered output out (called often while following).
    ///
    /// # Errors
    /// Output errors end the run.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// An input that appeared during the run (`--follow` on a directory or glob pattern: a new
    /// file), before any of its events and requests. Its source id is `source`, the next after
    /// the inputs so far ([`Origin::source`], [`crate::request::At`] and
    /// [`EventSink::inputs_read`] count it).
    ///
    /// # Errors
    /// Output errors end the run.
    fn input_added(&mut self, _source: u32, _input: &Input) -> io::Result<()> {
        Ok(())
    }
    /// The stream whose event-time clock is `clock` ([`Origin::clock`]) released its state
    /// ([`crate::streams`]), after its events and requests so far and before any later one: a
    /// sink that keeps per-stream state drops it. Should the stream write again, it comes back
    /// as a new stream.
    fn stream_released(&mut self, _clock: u64) {}
    /// Called once at the end of the run, after every event and request: what was read of each
    /// input (same order as the inputs, those added during the run last).
    ///
    /// # Errors
    /// Output errors end the run.
    fn inputs_read(&mut self, _inputs: &[InputRead]) -> io::Result<()> {
        Ok(())
    }
}

/// A line that is no event ([`EventSink::unparsed`]).
pub struct UnparsedLine<'a> {
    /// Input name.
    pub source: &'a str,
    /// Line number.
    pub line: u64,
    /// Stream origin (pod, container…).
    pub origin: &'a Origin,
    /// Why it is no event.
    pub reason: Unparsed,
    /// The line (its payload: envelope removed, pieces joined).
    pub text: &'a str,
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
    /// Opened and read from (false: never read — the run was interrupted before it, or it
    /// could not be opened; `sha256` is then `None`).
    pub read: bool,
    /// Bytes (after decompression) of the last line when the interrupt stopped reading in the
    /// middle of it: read (in `bytes`, `sha256`), but no line and no event.
    pub cut_line: Option<u64>,
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
    /// Hand the lines that are no event (but blank ones) to the sinks
    /// ([`EventSink::unparsed`]; `events --unparsed`): those `--grep` matches and
    /// `--since`/`--until` keep, judged as events without a time are.
    pub keep_unparsed: bool,
    /// Hash each input's bytes as read (reported through [`EventSink::inputs_read`]).
    pub hash_inputs: bool,
    /// Hand every closed correlation group to the sinks ([`EventSink::group`]).
    pub keep_groups: bool,
    /// When set (by a signal handler), the reader stops; what was read is still processed.
    pub cancel: Option<Arc<AtomicBool>>,
    /// Keep reading live inputs (`--follow`).
    pub follow: bool,
    /// Hand sinks a report snapshot this often (analyze mode).
    pub snapshot_every: Option<Duration>,
    /// `--follow` with several inputs (or watched directories, [`Settings::watch`]): merge them
    /// in event-time order, holding events this long (event time; see [`crate::reorder`]).
    /// `None`: input order.
    pub max_delay: Option<Duration>,
    /// `--follow`: the directory and glob-pattern arguments. The reader re-expands them about
    /// once a second and reads the files that appeared as new inputs
    /// ([`crate::source::follow::NewFiles`], [`EventSink::input_added`]).
    pub watch: Vec<PathBuf>,
    /// Directories the run writes into (`--export DIR`): walks and glob patterns, also
    /// those of the watch, skip their files.
    pub exclude: Vec<PathBuf>,
    /// Endpoints with a report row of their own ([`crate::analyze::MAX_ENDPOINTS`]; tests
    /// lower it).
    pub max_endpoints: usize,
    /// Streams with state at once, and open partial runs per input
    /// ([`crate::streams::MAX_STREAMS`]; tests lower it).
    pub max_streams: usize,
    /// Followed inputs waiting for a file descriptor ([`open_retrying`]), said on stderr.
    pub descriptor_wait: DescriptorWait,
}

/// Followed inputs that cannot be opened for want of file descriptors ([`open_retrying`]): the
/// first [`NAMED_WAITS`] are named on stderr, the others counted on one line (a directory of
/// 3000 files under `ulimit -n 1024` said 1981 lines).
#[derive(Debug, Default)]
pub struct DescriptorWait {
    /// Inputs that have waited, named or not.
    waited: AtomicUsize,
    /// Inputs waiting that no line has counted yet.
    uncounted: AtomicUsize,
}

/// How many inputs waiting for a file descriptor are named on stderr ([`DescriptorWait`]).
const NAMED_WAITS: usize = 3;

/// The start of the read error of a followed input the run stopped before it could open for
/// want of file descriptors: nothing of it was read (stderr groups these).
pub const NEVER_OPENED: &str = "never opened";

impl Settings {
    /// Settings for one in-process run in `mode` with defaults everywhere else: one parse
    /// thread, 1 MiB chunks and lines, no filters, nothing kept beyond what `mode` reads.
    pub fn new(mode: Mode) -> Settings {
        Settings {
            threads: 1,
            chunk_bytes: 1 << 20,
            max_line_bytes: 1 << 20,
            parse: ParseOpts {
                assume_offset: 0,
                collect_extras: false,
            },
            filter: Filter::default(),
            mode,
            progress: false,
            keep_events: matches!(mode, Mode::Events),
            keep_raw: false,
            keep_unparsed: false,
            keep_groups: false,
            hash_inputs: false,
            cancel: None,
            follow: false,
            snapshot_every: None,
            max_delay: None,
            watch: Vec::new(),
            exclude: Vec::new(),
            max_endpoints: crate::analyze::MAX_ENDPOINTS,
            max_streams: crate::streams::MAX_STREAMS,
            descriptor_wait: DescriptorWait::default(),
        }
    }

    /// Are the inputs read concurrently? Live inputs never end, so with several of them, or
    /// with watched directories (which can gain inputs at any time, starting from none), each
    /// one is read by its own thread and the merger puts them in event-time order.
    fn concurrent(&self, inputs: usize) -> bool {
        self.follow && (inputs > 1 || !self.watch.is_empty())
    }
}

/// Optional analyses on top of the core pipeline (the `analyze` command turns them on).
#[derive(Default, Clone, Copy)]
pub struct Analysis<'a> {
    /// Rules to evaluate: event conditions in the parse workers, windows in the merger.
    pub rules: Option<&'a RuleSet>,
    /// Correlate events and requests into groups.
    pub correlation: Option<CorrelationSettings>,
}

impl Analysis<'_> {
    fn is_empty(&self) -> bool {
        self.rules.is_none() && self.correlation.is_none()
    }
}

/// What a run produced.
pub enum Outcome {
    /// The report (analyze mode).
    Report(Box<Report>),
    /// Events were written (events mode).
    Events(Box<InputCounts>),
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
    /// Container labels (docker source) or the stream's labels (Loki), sorted by key.
    pub labels: Vec<(String, String)>,
    /// The event-time clock the stream advances (for closing idle correlation groups): its
    /// stream key, or the one of the stream it continues in an older file of its rotated set.
    pub clock: u64,
}

struct Chunk {
    seq: u64,
    source: u32,
    first_line: u64,
    data: ChunkBytes,
    /// Line numbers the reader cut at `max_line_bytes`.
    truncated: Vec<u64>,
    /// The input's last chunk (no later member of a rotated set goes on with it): its last
    /// line and its runs still open end where the input ends, and a JSON object cut there is
    /// closed ([`eof_cut_json`]).
    ends_input: bool,
    /// The line number of the input's last line when it had no newline (`ends_input` only).
    unterminated: Option<u64>,
    /// Following: the input has read all it had so far (its history); an empty chunk.
    caught_up: bool,
    /// A live stdin paused ([`stdin::Pause`]): `Quiet`, the lines read so far, handed on
    /// without waiting for a full chunk (the merger flushes the output after them); `Idle`, an
    /// empty chunk: the input has been quiet, the events held for continuation lines are due.
    pause: Option<Pause>,
    /// Last chunk of a rotated member: the stream keys of the runs still open at its end,
    /// which the next member of the set completes (not emitted here).
    handed_on: Vec<u64>,
    /// First chunk of a rotated member: the runs its predecessor handed on.
    carried: Vec<Carried>,
}

/// A run of pieces (CRI `P…`, docker json-file pieces) open at the end of a rotated member,
/// which the next member of its set goes on with: rotation may fall between the pieces of a
/// line, and the set is read as one log.
#[derive(Clone, Debug)]
struct Carried {
    /// The stream's key in the next member.
    key: u64,
    /// The stream's key, origin and input name in the member the run began in: the joined
    /// line is that member's (its source and line number).
    from_key: u64,
    from_origin: Origin,
    from_name: String,
    run: envelope::Joined,
}

/// What a member of a rotated set hands on to the next one: the runs of pieces still open,
/// and its last line when it does not end with a newline (`copytruncate` copied the file in
/// the middle of a write: the next member starts with the rest of that line). The set reads as
/// its members concatenated (`cat`) would.
#[derive(Default)]
struct Handoff {
    runs: Vec<Carried>,
    line: Unfinished,
}

/// The last line of a member, without its newline ([`Handoff::line`]).
#[derive(Default)]
struct Unfinished {
    /// Its bytes (up to `--max-line-bytes`).
    bytes: Vec<u8>,
    /// It reached `--max-line-bytes` and was cut there: its rest is dropped up to its newline.
    discarding: bool,
}

/// What the merger needs of an event; the full event only when sinks want it.
struct EventItem {
    ts: Option<Nanos>,
    level: Option<Level>,
    service: u16,
    format: u16,
    status: Option<u16>,
    duration_ms: Option<f64>,
    multiline: Multiline,
    /// A Python event whose own message ends with a traceback header
    /// (`ERROR:    Traceback (most recent call last):`, uvicorn's `logger.error(format_exc())`):
    /// the lines after it are inside that traceback, its final exception line included.
    opens_traceback: bool,
    /// Recognized only by a generic fallback: may be a continuation line.
    weak: bool,
    /// The line was cut: at `--max-line-bytes`, or a JSON object the input ended in
    /// (counted in `truncated`; [`View::cut`]).
    cut: bool,
    /// A line with no time of its own that another service's text format claims (uvicorn's
    /// `CRITICAL: …`): inside a Rust panic's message it is the panic's text.
    untimed: bool,
    /// The line reports a request: its chain kind and its string fields (the merger makes the
    /// observation in `Merger::new_event`).
    request: Option<(u8, LineFields)>,
    /// A span line, or a request line that may take a span's duration ([`crate::spans`]).
    span: Option<SpanLine>,
    /// The whole event, with its payload line (`Settings::keep_events`).
    full: Option<Box<PackedEvent>>,
    /// The payload text of a weak event, appended if it turns out to be a continuation (in
    /// `full` when there is one).
    raw: Option<Box<str>>,
    /// `analyze`, an error or fatal event that passed: its message's signature (made here, in
    /// the parse worker, for the report's `top_errors`).
    error_signature: Option<Box<str>>,
}

/// What the merger's [`crate::spans::SpanTimer`] needs of a line: a span's start or end, or a
/// request line of a service that times requests by their spans (whether or not it passed the
/// filters).
#[derive(Clone, Copy, Debug)]
struct SpanLine {
    /// The start or end of a span, and its name.
    mark: Option<Mark>,
    /// [`crate::spans::route_key`] of the line's method and route (ends and request lines).
    route: crate::spans::Key,
    /// A request line: its kind in the service's request chain, and whether it is the last.
    request: Option<(u8, bool)>,
}

// Nearly every item is an event, and a box would cost an allocation per line that the merger
// frees on another thread: the request travels inline.
#[allow(clippy::large_enum_variant)]
enum ItemKind {
    Event(EventItem),
    Blank,
    /// Why the line is no event, and its text when the sinks want it
    /// ([`Settings::keep_unparsed`]).
    Unparsed(Unparsed, Option<Box<str>>),
    /// A further line of a Loki entry ([`crate::source::loki::Part::Inner`]): its text.
    Inner(Box<str>),
}

struct Item {
    line: u64,
    stream: u64,
    pass: bool,
    /// `pass` is provisional: `--where` reads `exception`, which the traceback lines attached
    /// to the event later extend (decided again when the event is complete; `events` only).
    recheck: bool,
    /// `pass` and `recheck` hold only if the time of the stream's last timed event is within
    /// `--since`/`--until`: the event has no time of its own (decided by the merger, which
    /// knows the stream; [`Merger::new_event`]).
    untimed_range: bool,
    kind: ItemKind,
    /// Rule matches and identifiers found by the worker (only when there are some).
    found: Option<FoundAt>,
}

/// Where an item's [`Found`] is: in its chunk's list (no allocation per line that another
/// thread frees), or boxed once the item waits in the reorder buffer, apart from its chunk.
enum FoundAt {
    Chunk(u32),
    Held(Box<Found>),
}

/// What a parse worker found on a borrowed event for the merger: rule matches (with the
/// message as evidence) and owned correlation identifiers.
#[derive(Default)]
struct Found {
    hits: Vec<Hit>,
    message: Option<Box<str>>,
    /// What the event's own `exception` says of why (a JSON event's traceback).
    cause: Option<Box<str>>,
    ids: Option<Ids>,
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
    /// Request fields and identifiers of `items`, until [`ChunkOut::resolve`] copies them
    /// into buffers of the merger's own.
    arena: String,
    /// What the worker found on events, by [`FoundAt::Chunk`] index.
    found: Vec<Found>,
    zone_skew: crate::analyze::ZoneSkew,
    /// The chunk was [`Chunk::caught_up`].
    caught_up: bool,
    /// [`Chunk::pause`].
    pause: Option<Pause>,
    /// Partial runs ended unfinished because too many were open ([`Joiner::released`]).
    released_runs: u64,
}

impl ChunkOut {
    /// Give every request line and identifier set its own copy of its text (on the merger
    /// thread, which also frees them), for items parked in the `--follow` reorder buffer: they
    /// outlive the chunk's arena. Items merged at once read it in place
    /// ([`Merger::chunk_arena`]).
    fn resolve(&mut self) {
        for item in &mut self.items {
            if let ItemKind::Event(e) = &mut item.kind
                && let Some((_, fields)) = &mut e.request
            {
                fields.own(&self.arena);
            }
        }
        for ids in self.found.iter_mut().filter_map(|f| f.ids.as_mut()) {
            ids.resolve(&self.arena);
        }
        let arena = std::mem::take(&mut self.arena);
        recycle::ARENAS.put(arena.into_bytes());
    }
}

enum ReaderMsg {
    Chunk(Chunk),
    Bytes(u64),
    Error(String),
    /// Something about an input that the report says, without failing the run.
    Warning(String),
    /// An input failed in a way that ends the run (exit code 2).
    Fatal(String),
    /// A new input (a file that appeared in a watched directory), sent before any of its
    /// chunks: `source` is the next id after the inputs so far.
    NewInput {
        source: u32,
        input: Box<Input>,
    },
    /// An input is done: its stored bytes, digest, whether it was read to the end and whether
    /// it was read at all.
    InputDone {
        source: u32,
        bytes: u64,
        sha256: Option<[u8; 32]>,
        complete: bool,
        read: bool,
    },
    /// The run's interrupt ([`Settings::cancel`]) stopped the reading of input `source` (or
    /// came before it was read); `cut_line`: the bytes of the partial last line left out.
    Interrupted {
        source: u32,
        cut_line: Option<u64>,
    },
}

/// Report a read/open error: fatal source errors end the run, others are counted.
fn read_error(tx: &SyncSender<ReaderMsg>, what: &str, name: &str, e: &io::Error) -> Result<(), ()> {
    let msg = match crate::source::fatal(e) {
        Some(f) => ReaderMsg::Fatal(format!("{name}: {f}")),
        None => ReaderMsg::Error(format!("{what} '{name}': {e}")),
    };
    tx.send(msg).map_err(|_| ())
}

/// Hasher for stream keys, which are already hashes: hashing them again is wasted work.
#[derive(Default)]
pub struct StreamKeyHasher(u64);

impl std::hash::Hasher for StreamKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv(self.0, bytes);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by stream key.
pub type StreamMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<StreamKeyHasher>>;

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

/// A stream's identity across the files of a rotated set (its key without the source):
/// namespace, pod, container, container id and stdout/stderr.
fn lane_identity(o: &Origin) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325;
    for part in [&o.namespace, &o.pod, &o.container, &o.container_id] {
        h = fnv(h, part.as_deref().unwrap_or("").as_bytes());
        h = fnv(h, b"/");
    }
    fnv(h, &[o.stream.map_or(0, |s| s as u8 + 1)])
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
    run_with(inputs, reg, settings, Analysis::default(), sinks)
}

/// [`run`] with rules and correlation.
///
/// # Errors
/// Only output errors, as for [`run`].
pub fn run_with(
    inputs: &[Input],
    reg: &Registry,
    settings: &Settings,
    analysis: Analysis<'_>,
    sinks: &mut [&mut dyn EventSink],
) -> io::Result<Outcome> {
    let threads = settings.threads.max(1);
    if sinks.iter().any(|s| s.wants_events()) && !settings.keep_events {
        return Err(io::Error::other(
            "internal error: event sinks need Settings::keep_events",
        ));
    }
    let (chunk_tx, chunk_rx) = sync_channel::<ReaderMsg>(threads * 2);
    // Each chunk travels to a worker with its input, so inputs added during the run need no
    // table shared between threads: the merger's list is the only one.
    // Both channels hold every chunk in flight: a send never waits, so the dispatching
    // merger and the workers cannot wait on each other.
    let (work_tx, work_rx) = sync_channel::<(Chunk, Arc<Input>)>(IN_FLIGHT);
    let (done_tx, done_rx) = sync_channel::<ChunkOut>(IN_FLIGHT);
    let work_rx = Mutex::new(work_rx);
    let hold = sinks.iter().any(|s| s.wants_events());
    let mut merger = Merger::new(inputs, reg, settings, hold, analysis);
    std::thread::scope(|scope| -> io::Result<()> {
        scope.spawn(move || read_all(inputs, settings, chunk_tx));
        for _ in 0..threads {
            let done_tx = done_tx.clone();
            let work_rx = &work_rx;
            scope.spawn(move || {
                yield_to_merger();
                let mut scratch = reg.scratch();
                loop {
                    let next = work_rx.lock().map(|rx| rx.recv());
                    let Ok(Ok((chunk, input))) = next else { break };
                    let out = process_chunk(&chunk, &input, reg, settings, analysis, &mut scratch);
                    recycle::CHUNKS.put_as_is(chunk.data.buf);
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
            // Drain so the other threads can finish; live readers (followed files, the watch
            // on directories, docker/kubectl/Loki streams) end only when told to stop.
            if settings.follow {
                crate::source::live::request_stop();
            }
            drain(&work_rx);
        }
        result
    })?;
    merger.finish(sinks)
}

/// Parse workers run at a slightly lower priority than the merger: their nice value is this
/// thread's plus [`WORKER_NICE`] (Linux sets it per thread). The merger is the one serial
/// stage: when it waited for a CPU behind the workers, results piled up, dispatch stopped and
/// the workers then idled while it caught up. Best effort: where the call fails, nothing
/// changes. Elsewhere the nice value is the whole process's: nothing is changed there.
fn yield_to_merger() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        if let Ok(nice) = getpriority_process(None) {
            let _ = setpriority_process(None, nice.saturating_add(WORKER_NICE).min(19));
        }
    }
}

/// How much lower the parse workers' priority is than the merger's (see [`yield_to_merger`]).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
const WORKER_NICE: i32 = 4;

fn drain(work_rx: &Mutex<Receiver<(Chunk, Arc<Input>)>>) {
    if let Ok(rx) = work_rx.lock() {
        while rx.try_recv().is_ok() {}
    }
}

/// Chunks handed to the workers and not yet merged, at most: what bounds the memory of parsed
/// chunks waiting for an earlier one to be merged.
const IN_FLIGHT: usize = 8;

fn dispatch_and_merge(
    chunk_rx: Receiver<ReaderMsg>,
    work_tx: SyncSender<(Chunk, Arc<Input>)>,
    done_rx: Receiver<ChunkOut>,
    merger: &mut Merger<'_>,
    sinks: &mut [&mut dyn EventSink],
) -> io::Result<()> {
    let mut in_flight = 0usize;
    let mut waiting: BTreeMap<u64, ChunkOut> = BTreeMap::new();
    let mut next_seq = 0u64;
    let mut reader_done = false;
    let merge_ready = |w: &mut BTreeMap<u64, ChunkOut>,
                       next: &mut u64,
                       m: &mut Merger<'_>,
                       sinks: &mut [&mut dyn EventSink]|
     -> io::Result<()> {
        while let Some(c) = w.remove(next) {
            *next += 1;
            m.merge(c, sinks)?;
            m.tick(sinks)?;
        }
        Ok(())
    };
    loop {
        // Keep workers fed while the merge queue is small; otherwise collect results.
        // Results waiting for an earlier chunk count too: a slow chunk holds back the others.
        if !reader_done && in_flight + waiting.len() < IN_FLIGHT {
            // While chunks are being parsed, poll so their results are merged promptly even
            // when the (live) reader has nothing new.
            let wait = if in_flight > 0 {
                Duration::from_millis(20)
            } else {
                Duration::from_millis(250)
            };
            // Hand every chunk the reader has ready to the workers before merging, so their
            // queue stays full while this thread merges (one chunk per merge left them idle).
            match chunk_rx.recv_timeout(wait) {
                Err(RecvTimeoutError::Timeout) => merger.tick(sinks)?,
                Ok(msg) => {
                    take_reader_msg(msg, merger, sinks, &work_tx, &mut in_flight)?;
                    while in_flight + waiting.len() < IN_FLIGHT
                        && let Ok(msg) = chunk_rx.try_recv()
                    {
                        take_reader_msg(msg, merger, sinks, &work_tx, &mut in_flight)?;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => reader_done = true,
            }
            while let Ok(c) = done_rx.try_recv() {
                in_flight -= 1;
                waiting.insert(c.seq, c);
            }
            merge_ready(&mut waiting, &mut next_seq, merger, sinks)?;
            continue;
        }
        if in_flight == 0 {
            break;
        }
        match done_rx.recv() {
            Ok(c) => {
                in_flight -= 1;
                waiting.insert(c.seq, c);
                merge_ready(&mut waiting, &mut next_seq, merger, sinks)?;
            }
            Err(_) => break,
        }
    }
    drop(work_tx);
    merge_ready(&mut waiting, &mut next_seq, merger, sinks)
}

/// One message of the reader: a chunk goes to the workers, the rest to the merger's counts.
fn take_reader_msg(
    msg: ReaderMsg,
    merger: &mut Merger<'_>,
    sinks: &mut [&mut dyn EventSink],
    work_tx: &SyncSender<(Chunk, Arc<Input>)>,
    in_flight: &mut usize,
) -> io::Result<()> {
    match msg {
        ReaderMsg::Chunk(c) => {
            let Some(input) = merger.inputs.get(c.source as usize).cloned() else {
                return Err(io::Error::other("internal error: a chunk of no input"));
            };
            *in_flight += 1;
            if work_tx.send((c, input)).is_err() {
                return Err(io::Error::other("parse worker stopped"));
            }
        }
        ReaderMsg::NewInput { source, input } => {
            merger.add_input(source, *input, sinks)?;
        }
        ReaderMsg::Bytes(n) => merger.counts.bytes += n,
        ReaderMsg::Error(e) => merger.counts.read_errors.push(e),
        ReaderMsg::Warning(w) => merger.counts.warnings.push(w),
        ReaderMsg::InputDone {
            source,
            bytes,
            sha256,
            complete,
            read,
        } => {
            if let Some(r) = merger.inputs_read.get_mut(source as usize) {
                r.bytes = bytes;
                r.sha256 = sha256;
                r.complete = complete;
                r.read = read;
            }
        }
        ReaderMsg::Interrupted { source, cut_line } => {
            merger.interrupted = true;
            if let Some(bytes) = cut_line {
                merger.counts.cut_by_interrupt += 1;
                if let Some(r) = merger.inputs_read.get_mut(source as usize) {
                    r.cut_line = Some(bytes);
                }
            }
        }
        ReaderMsg::Fatal(e) => {
            // Stop the other live inputs so their readers end too.
            crate::source::live::request_stop();
            return Err(io::Error::other(e));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------- reader

fn open(input: &Input, settings: &Settings) -> io::Result<Box<dyn Read + Send>> {
    match &input.kind {
        InputKind::Stdin => files::decode_reader(stdin::open(!settings.follow)),
        InputKind::File(p) if settings.follow && crate::source::follow::is_followable(p) => {
            // Compressed files are never live (nor are those in a compression logsleuth does
            // not read: `open_decoded` says so); a followed file is read as it is.
            let mut head = [0u8; files::SNIFF_BYTES];
            let n = std::fs::File::open(p)?.read(&mut head)?;
            let head = &head[..n];
            if files::compression(head).is_some() || files::unsupported(head).is_some() {
                return files::open_decoded(p);
            }
            let follow = Box::new(crate::source::follow::FollowFile::open(p)?);
            Ok(match files::utf16_bom(head) {
                // Transcoded; the byte order mark of each file the path becomes is dropped.
                Some(order) => files::utf16_reader(follow, order),
                // `FollowFile` drops a UTF-8 byte order mark at the start of each file it reads.
                None => follow,
            })
        }
        InputKind::File(p) => files::open_decoded(p),
        InputKind::Memory(b) => files::decode_reader(Box::new(io::Cursor::new(b.clone()))),
        InputKind::Docker {
            endpoint,
            container,
        } => {
            let opts = crate::source::docker::LogOpts {
                follow: settings.follow,
                since: settings.filter.since,
                until: settings.filter.until,
            };
            crate::source::docker::open_logs(endpoint, container, &opts).map_err(io::Error::other)
        }
        InputKind::Loki(l) => Ok(Box::new(crate::source::loki::open(l.clone()))),
        InputKind::Kubectl { input, opts } => crate::source::kubectl::open(input, opts)
            .map(|r| Box::new(r) as Box<dyn Read + Send>)
            .map_err(|e| io::Error::other(crate::source::Fatal(e.to_string()))),
    }
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

/// A regular file read without `--follow`, and its size when it was opened: a file truncated
/// while it is read (logrotate's `copytruncate` running meanwhile) ends early without an error,
/// so its size is looked at again once it is read ([`shrank`]).
struct Watched {
    file: std::fs::File,
    size_at_open: u64,
}

/// [`open`] with the stored bytes of stdin, files and memory inputs going through `tap`
/// (before decompression, so a file's digest is what `sha256sum` prints); a regular file read
/// without `--follow` comes with its [`Watched`].
fn open_tapped(
    input: &Input,
    settings: &Settings,
    tap: &Arc<Mutex<ByteTap>>,
) -> io::Result<(Box<dyn Read + Send>, Option<Watched>)> {
    let tapped = |inner: Box<dyn Read + Send>| Tapped {
        inner,
        tap: Arc::clone(tap),
    };
    let reader = match &input.kind {
        InputKind::Stdin => files::decode_reader(Box::new(tapped(stdin::open(!settings.follow)))),
        InputKind::File(p) if !settings.follow => {
            let file = std::fs::File::open(p)?;
            let md = file.metadata()?;
            let watched = match file.try_clone() {
                Ok(file) if md.is_file() => Some(Watched {
                    file,
                    size_at_open: md.len(),
                }),
                _ => None,
            };
            let reader = files::decode_reader(Box::new(tapped(Box::new(file))))?;
            return Ok((reader, watched));
        }
        InputKind::Memory(b) => {
            files::decode_reader(Box::new(tapped(Box::new(io::Cursor::new(b.clone())))))
        }
        _ => open(input, settings).map(|r| Box::new(tapped(r)) as Box<dyn Read + Send>),
    }?;
    Ok((reader, None))
}

/// A [`Watched`] file read to its end that is now shorter than what was read, or than it was
/// when opened: what to say (the output covers what was read; the rest is gone — with
/// `copytruncate`, into the rotated copy).
fn shrank(watched: &Watched, input: &Input, tap: &Mutex<ByteTap>) -> Option<String> {
    let read = tap.lock().map(|t| t.bytes).ok()?;
    let now = watched.file.metadata().ok()?.len();
    // A file with no size (procfs) was never sized.
    let sized = watched.size_at_open > 0;
    (sized && (now < read || now < watched.size_at_open)).then(|| {
        format!(
            "'{}' shrank while it was read (copytruncate?): it held {} bytes when opened and {now} \
             at the end; the output covers the {read} bytes read",
            input.name, watched.size_at_open
        )
    })
}

/// How often a followed input that could not be opened for want of file descriptors is tried
/// again ([`open_retrying`]).
const REOPEN: Duration = Duration::from_secs(1);

/// [`open_tapped`]; following, an input that cannot be opened for want of file descriptors
/// (`-f` on a directory of more files than `ulimit -n` allows; `main` raises the soft limit to
/// the hard one, but that may not be enough) is said on stderr at once and tried again every
/// [`REOPEN`] until it opens or the run stops (then its error, [`NEVER_OPENED`], is the
/// input's read error): it is read once descriptors are free again (a stopped kubectl, a limit
/// raised with `prlimit`), not given up on. The first few such inputs are named, the others
/// counted on one line ([`DescriptorWait`]).
fn open_retrying(
    input: &Input,
    settings: &Settings,
    tap: &Arc<Mutex<ByteTap>>,
) -> io::Result<(Box<dyn Read + Send>, Option<Watched>)> {
    let wait = &settings.descriptor_wait;
    let mut said = false;
    loop {
        match open_tapped(input, settings, tap) {
            Err(e) if settings.follow && crate::source::out_of_descriptors(&e) => {
                if !std::mem::replace(&mut said, true) {
                    if wait.waited.fetch_add(1, Ordering::Relaxed) < NAMED_WAITS {
                        eprintln!(
                            "logsleuth: cannot open '{}' now: {e}; trying again every second \
                             (`ulimit -n` allows more open files)",
                            input.name
                        );
                    } else {
                        wait.uncounted.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if !wait_unless_stopped(REOPEN, settings) {
                    return Err(io::Error::new(e.kind(), NeverOpened(e)));
                }
                // The inputs that began to wait since: one line, said by one of the waiting.
                match wait.uncounted.swap(0, Ordering::Relaxed) {
                    0 => {}
                    1 => eprintln!("logsleuth: … and 1 more file waits for a descriptor"),
                    n => eprintln!("logsleuth: … and {n} more files wait for a descriptor"),
                }
            }
            opened => return opened,
        }
    }
}

/// The error of an input [`open_retrying`] never opened (its read error says
/// [`NEVER_OPENED`]).
#[derive(Debug)]
struct NeverOpened(io::Error);

impl std::fmt::Display for NeverOpened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for NeverOpened {}

/// [`read_error`] for an input that could not be opened: [`NEVER_OPENED`] when
/// [`open_retrying`] waited for a descriptor until the run stopped.
fn open_error(tx: &SyncSender<ReaderMsg>, name: &str, e: &io::Error) -> Result<(), ()> {
    let never = e.get_ref().is_some_and(|inner| inner.is::<NeverOpened>());
    read_error(
        tx,
        if never { NEVER_OPENED } else { "cannot read" },
        name,
        e,
    )
}

fn cancelled(settings: &Settings) -> bool {
    settings
        .cancel
        .as_ref()
        .is_some_and(|c| c.load(Ordering::Relaxed))
}

fn read_all(inputs: &[Input], settings: &Settings, tx: SyncSender<ReaderMsg>) {
    let seq = Mutex::new(0u64);
    if settings.concurrent(inputs.len()) {
        read_live(inputs, settings, &tx, &seq);
        return;
    }
    let total: u64 = inputs.iter().filter_map(|i| i.size).sum();
    let mut progress =
        (settings.progress && io::stderr().is_terminal() && total > 32 << 20).then(|| Progress {
            total,
            done: 0,
            last: Instant::now(),
            shown: false,
        });
    let mut carried = Handoff::default();
    for (sid, input) in inputs.iter().enumerate() {
        let tap = new_tap(settings);
        let next = inputs
            .get(sid + 1)
            .filter(|n| same_set(input, n))
            .map(|_| sid as u32 + 1);
        let member = Member::new(sid as u32, std::mem::take(&mut carried), next);
        // Not read: the run was interrupted before it, or it cannot be opened.
        let mut read = true;
        let complete = if cancelled(settings) {
            read = false;
            let msg = ReaderMsg::Interrupted {
                source: sid as u32,
                cut_line: None,
            };
            if member.end_carried(settings, &tx, &seq).is_err() || tx.send(msg).is_err() {
                return;
            }
            false
        } else {
            match open_retrying(input, settings, &tap) {
                Ok((reader, watched)) => {
                    let reading = Reading {
                        settings,
                        tx: &tx,
                        seq: &seq,
                        finish_line: watched.is_some(),
                    };
                    let Ok((mut complete, handed)) =
                        read_one(member, reader, input, &reading, &mut progress)
                    else {
                        return;
                    };
                    carried = handed;
                    if let Some(said) = watched
                        .filter(|_| complete)
                        .and_then(|w| shrank(&w, input, &tap))
                    {
                        // Not an error: what was read is real, and the run goes on (`tail`
                        // says "file truncated" and goes on too); an export says the input was
                        // not read to its end.
                        complete = false;
                        if tx.send(ReaderMsg::Warning(said)).is_err() {
                            return;
                        }
                    }
                    complete
                }
                Err(e) => {
                    read = false;
                    if member.end_carried(settings, &tx, &seq).is_err()
                        || open_error(&tx, &input.name, &e).is_err()
                    {
                        return;
                    }
                    false
                }
            }
        };
        if tx
            .send(input_done(sid as u32, &tap, complete, read))
            .is_err()
        {
            return;
        }
    }
    if let Some(p) = &progress {
        p.clear();
    }
}

fn new_tap(settings: &Settings) -> Arc<Mutex<ByteTap>> {
    Arc::new(Mutex::new(ByteTap {
        bytes: 0,
        hasher: settings.hash_inputs.then(Sha256::new),
    }))
}

/// What was read of input `source` (through `tap`); an input not `read` has no digest (not
/// that of no bytes).
fn input_done(source: u32, tap: &Mutex<ByteTap>, complete: bool, read: bool) -> ReaderMsg {
    let (bytes, sha256) = match tap.lock() {
        Ok(mut t) => (t.bytes, t.hasher.take().map(|h| h.finalize().into())),
        Err(_) => (0, None),
    };
    ReaderMsg::InputDone {
        source,
        bytes,
        sha256: sha256.filter(|_| read),
        complete,
        read,
    }
}

/// How often the watched directories and glob patterns are expanded again.
const RESCAN: Duration = Duration::from_secs(1);

/// `--follow` over several inputs or watched directories (see [`Settings::concurrent`]).
/// Live inputs never end: each is read by its own thread — except the members of a rotated
/// set, read oldest first in one thread, the live member (followed) last. Chunks get their
/// sequence number under the lock they are sent under, so the merger sees them in order.
///
/// This thread then watches `Settings::watch`: about once a second it expands the arguments
/// again, announces each new file to the merger (`ReaderMsg::NewInput`, with the next source
/// id) and only then starts its reader, so the merger knows an input before its first chunk.
/// It stops when the run stops (Ctrl-C, cancel) or the merger is gone.
fn read_live(inputs: &[Input], settings: &Settings, tx: &SyncSender<ReaderMsg>, seq: &Mutex<u64>) {
    std::thread::scope(|scope| {
        for group in follow_groups(inputs) {
            let tx = tx.clone();
            scope.spawn(move || {
                let group: Vec<(u32, &Input)> =
                    group.iter().map(|&i| (i as u32, &inputs[i])).collect();
                read_group(&group, settings, &tx, seq);
            });
        }
        if settings.watch.is_empty() {
            return;
        }
        let known = inputs.iter().filter_map(|i| match &i.kind {
            InputKind::File(p) => Some(p.as_path()),
            _ => None,
        });
        let mut watch =
            crate::source::follow::NewFiles::new(&settings.watch, &settings.exclude, known);
        let mut next = inputs.len() as u32;
        while wait_unless_stopped(RESCAN, settings) {
            let found: Vec<Input> = watch.poll().into_iter().map(Input::file).collect();
            let first = next;
            for input in &found {
                let msg = ReaderMsg::NewInput {
                    source: next,
                    input: Box::new(input.clone()),
                };
                if tx.send(msg).is_err() {
                    return;
                }
                next += 1;
            }
            for group in follow_groups(&found) {
                let group: Vec<(u32, Input)> = group
                    .iter()
                    .map(|&i| (first + i as u32, found[i].clone()))
                    .collect();
                let tx = tx.clone();
                scope.spawn(move || {
                    let group: Vec<(u32, &Input)> = group.iter().map(|(s, i)| (*s, i)).collect();
                    read_group(&group, settings, &tx, seq);
                });
            }
        }
    });
}

/// Sleep for `d` unless the run stops meanwhile; false once it stops.
fn wait_unless_stopped(d: Duration, settings: &Settings) -> bool {
    let until = Instant::now() + d;
    loop {
        if crate::source::live::stopping() || cancelled(settings) {
            return false;
        }
        let now = Instant::now();
        if now >= until {
            return true;
        }
        std::thread::sleep((until - now).min(Duration::from_millis(100)));
    }
}

/// Read the inputs of one follow group in order, each to its end (a followed file: until the
/// run stops), reporting each one as done.
fn read_group(
    group: &[(u32, &Input)],
    settings: &Settings,
    tx: &SyncSender<ReaderMsg>,
    seq: &Mutex<u64>,
) {
    let mut carried = Handoff::default();
    for (i, &(sid, input)) in group.iter().enumerate() {
        let tap = new_tap(settings);
        // A group is one rotated set, oldest first.
        let next = group.get(i + 1).map(|&(next, _)| next);
        let member = Member::new(sid, std::mem::take(&mut carried), next);
        let reading = Reading {
            settings,
            tx,
            seq,
            finish_line: false,
        };
        let mut read = true;
        // Interrupted before it was read (an older member of a rotated set is read first).
        let opened = if cancelled(settings) {
            Err(None)
        } else {
            open_retrying(input, settings, &tap).map_err(Some)
        };
        let complete = match opened {
            Err(None) => {
                read = false;
                let msg = ReaderMsg::Interrupted {
                    source: sid,
                    cut_line: None,
                };
                if member.end_carried(settings, tx, seq).is_err() || tx.send(msg).is_err() {
                    return;
                }
                false
            }
            Ok((reader, _)) => match read_one(member, reader, input, &reading, &mut None) {
                Ok((complete, handed)) => {
                    carried = handed;
                    complete
                }
                Err(()) => return,
            },
            Err(Some(e)) => {
                read = false;
                if member.end_carried(settings, tx, seq).is_err()
                    || open_error(tx, &input.name, &e).is_err()
                {
                    return;
                }
                false
            }
        };
        if tx.send(input_done(sid, &tap, complete, read)).is_err() {
            return;
        }
    }
}

/// The first input of a batch run's last timeline ([`crate::correlate::StreamClocks`]): the inputs
/// are read one after another and each starts its event time again, except the members of a
/// rotated set (oldest first), which continue one. A followed run merges its inputs in time
/// order: 0, nothing is held. `kubectl logs` without `-f` prints pod after pod and container
/// after container, each going back in time: when the last input is one, no input closes
/// groups for idleness (the number of inputs is returned).
pub fn last_timeline_start(inputs: &[Input], follow: bool) -> u32 {
    if follow {
        return 0;
    }
    if inputs
        .last()
        .is_some_and(|i| matches!(i.kind, InputKind::Kubectl { .. }))
    {
        return u32::try_from(inputs.len()).unwrap_or(u32::MAX);
    }
    let set = |i: &Input| match &i.kind {
        InputKind::File(p) => Some(files::rotation_set(p)),
        _ => None,
    };
    let mut start = inputs.len().saturating_sub(1);
    while start > 0
        && set(&inputs[start]).is_some()
        && set(&inputs[start]) == set(&inputs[start - 1])
    {
        start -= 1;
    }
    u32::try_from(start).unwrap_or(u32::MAX)
}

/// Followed inputs by reader thread: consecutive files of one rotated set (the input list has
/// them oldest first) share one; every other input has its own.
fn follow_groups(inputs: &[Input]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut last_set = None;
    for (i, input) in inputs.iter().enumerate() {
        let set = match &input.kind {
            InputKind::File(p) => Some(files::rotation_set(p)),
            _ => None,
        };
        match groups.last_mut() {
            Some(g) if set.is_some() && set == last_set => g.push(i),
            _ => groups.push(vec![i]),
        }
        last_set = set;
    }
    groups
}

/// Bytes asked of a reader at a time.
const READ_BUF: usize = 256 << 10;

/// Buffers that cross threads go back to where they are filled once their consumer is done
/// with them: chunk bytes (reader ← worker) and chunk results (worker ← merger). A fresh
/// ~1 MiB buffer per chunk costs page faults (the kernel zeroes every new page) and, with a
/// per-thread allocator, memory held by every thread.
mod recycle {
    use std::sync::Mutex;

    /// A small free list of emptied vectors.
    pub struct Pool<T> {
        free: Mutex<Vec<Vec<T>>>,
        /// Enough for every buffer in flight (queues and workers) on any thread count we run.
        keep: usize,
        /// A vector that grew past this many elements (a long joined record) is freed, not kept.
        keep_capacity: usize,
    }

    impl<T> Pool<T> {
        pub const fn new(keep: usize, keep_capacity: usize) -> Self {
            Pool {
                free: Mutex::new(Vec::new()),
                keep,
                keep_capacity,
            }
        }

        /// A vector with room for at least `capacity` elements, empty unless it was returned
        /// with [`Pool::put_as_is`].
        pub fn get(&self, capacity: usize) -> Vec<T> {
            let reused = self.free.lock().ok().and_then(|mut f| f.pop());
            match reused {
                Some(b) if b.capacity() >= capacity => b,
                // Growing an emptied buffer would copy its old bytes: take a new one.
                _ => Vec::with_capacity(capacity),
            }
        }

        /// Return a vector for reuse (its elements are dropped here).
        pub fn put(&self, mut b: Vec<T>) {
            b.clear();
            self.put_as_is(b);
        }

        /// Return a vector for reuse with its elements: for byte buffers that are written
        /// before they are read (`get` may then hand out a non-empty vector).
        pub fn put_as_is(&self, b: Vec<T>) {
            if b.capacity() > self.keep_capacity {
                return;
            }
            if let Ok(mut f) = self.free.lock()
                && f.len() < self.keep
            {
                f.push(b);
            }
        }
    }

    /// Chunk bytes: the reader fills them, a parse worker returns them.
    pub static CHUNKS: Pool<u8> = Pool::new(32, 8 << 20);
    /// Parse results of one chunk: a worker fills them, the merger returns them.
    pub static ITEMS: Pool<super::Item> = Pool::new(32, 64 << 10);
    /// Text arenas of chunk results ([`super::ChunkOut::arena`]): likewise.
    pub static ARENAS: Pool<u8> = Pool::new(32, 4 << 20);
    /// Rule matches and identifiers of chunk results ([`super::ChunkOut::found`]): likewise.
    pub static FOUND: Pool<super::Found> = Pool::new(32, 64 << 10);
}

/// Offsets in `hay` (complete lines) of the lines that may be partial pieces (CRI `P` lines,
/// docker json-file records without their newline), so the reader looks closely only at those.
/// One newline search and a test of each line's first bytes ([`envelope::may_be_partial_hint`]):
/// searching the chunk for the markers (`{"log":"`, ` stdout P`) instead cost four times as much,
/// their bytes being everywhere in JSON lines.
/// Returns the number of newlines in `hay` (the chunk's line count needs no pass of its own).
fn partial_candidates(hay: &[u8], out: &mut Vec<usize>) -> u64 {
    out.clear();
    let (mut start, mut newlines) = (0, 0);
    for nl in memchr::memchr_iter(b'\n', hay) {
        if envelope::may_be_partial_hint(&hay[start..nl]) {
            out.push(start);
        }
        start = nl + 1;
        newlines += 1;
    }
    if start < hay.len() && envelope::may_be_partial_hint(&hay[start..]) {
        out.push(start);
    }
    newlines
}

fn count_lines(hay: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', hay).count() as u64
}

/// The bytes of a chunk: the first `len` of a vector kept at its full length, so a read can go
/// straight into the part after them (`Read` wants initialized bytes: growing a `Vec` for each
/// read would zero every input byte first) and a buffer back from the pool is not zeroed again.
#[derive(Default)]
struct ChunkBytes {
    buf: Vec<u8>,
    len: usize,
}

impl ChunkBytes {
    /// A buffer from the chunk pool with room for `capacity` bytes.
    fn pooled(capacity: usize) -> ChunkBytes {
        ChunkBytes {
            buf: recycle::CHUNKS.get(capacity),
            len: 0,
        }
    }

    /// `n` writable bytes after the filled ones; [`ChunkBytes::filled`] then counts those
    /// written.
    fn spare(&mut self, n: usize) -> &mut [u8] {
        let end = self.len + n;
        if self.buf.len() < end {
            // Only up to `end`: bytes a buffer never reaches stay untouched (not resident).
            self.buf.resize(end, 0);
        }
        &mut self.buf[self.len..end]
    }

    fn filled(&mut self, n: usize) {
        self.len = (self.len + n).min(self.buf.len());
    }

    fn extend_from_slice(&mut self, data: &[u8]) {
        self.spare(data.len()).copy_from_slice(data);
        self.len += data.len();
    }

    fn push(&mut self, b: u8) {
        self.extend_from_slice(&[b]);
    }

    fn truncate(&mut self, len: usize) {
        self.len = self.len.min(len);
    }

    /// The bytes from `at` on, removed.
    fn split_off(&mut self, at: usize) -> Vec<u8> {
        let tail = self.get(at..).map(<[u8]>::to_vec).unwrap_or_default();
        self.truncate(at);
        tail
    }
}

impl std::ops::Deref for ChunkBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// Cuts one input into chunks at line boundaries where no partial run is open, truncating
/// over-long lines as it reads. Errors only when the receiver is gone.
struct Chunker {
    source: u32,
    max_line: usize,
    target: usize,
    /// Bytes read and not yet sent; starts at a line boundary.
    pending: ChunkBytes,
    /// Start of the last (possibly incomplete) line in `pending`.
    line_start: usize,
    /// Complete lines up to here have been classified.
    checked: usize,
    /// Newlines in `pending[..checked]`.
    lines_checked: u64,
    /// No partial run is open at this offset.
    safe_cut: usize,
    /// Offsets in `pending` of lines cut at `max_line`.
    truncated: Vec<usize>,
    /// Inside an over-long line: drop bytes up to its newline.
    discarding: bool,
    /// Open partial runs, fed only near candidate lines.
    tracker: Joiner,
    /// Most open runs ([`Settings::max_streams`]): the workers' joiners end the same runs.
    max_runs: usize,
    /// Scratch: candidate offsets found by [`partial_candidates`].
    candidates: Vec<usize>,
    next_line: u64,
    /// Runs handed on by the previous member of the rotated set, for the next chunk.
    carried: Vec<Carried>,
    /// Runs handed on to the next member, for the last chunk ([`Chunk::handed_on`]).
    handed_on: Vec<u64>,
    /// No member of a rotated set follows this input: its end is the end ([`Chunk::ends_input`]).
    ends_input: bool,
    /// The first [`HEAD_BYTES`] bytes read (to tell UTF-16 without a byte order mark).
    head: Vec<u8>,
}

/// Bytes of an input's start kept to look at ([`Chunker::head`]).
const HEAD_BYTES: usize = 64;

impl Chunker {
    /// A chunker for input `source` that fills `buf` (empty) with chunks of about `target`
    /// bytes.
    fn new(source: u32, max_line: usize, target: usize, buf: ChunkBytes) -> Chunker {
        Chunker {
            source,
            max_line,
            target,
            pending: buf,
            line_start: 0,
            checked: 0,
            lines_checked: 0,
            safe_cut: 0,
            truncated: Vec::new(),
            discarding: false,
            tracker: Joiner::new(max_line),
            max_runs: crate::streams::MAX_STREAMS,
            candidates: Vec::new(),
            next_line: 1,
            carried: Vec::new(),
            handed_on: Vec::new(),
            ends_input: true,
            head: Vec::new(),
        }
    }

    /// At most `n` open partial runs, as the workers' joiners hold ([`Settings::max_streams`]).
    fn max_runs(mut self, n: usize) -> Chunker {
        self.max_runs = n;
        self.tracker = Joiner::new(self.max_line).max_runs(n);
        self
    }

    /// Go on with the runs the previous member of the rotated set ended in: no cut until
    /// they complete, and the first chunk takes them to its worker.
    fn resume(&mut self, carried: Vec<Carried>) {
        for c in &carried {
            self.tracker.resume(c.key, c.run.clone());
        }
        self.carried = carried;
    }

    /// At the end of a member whose set goes on: its last line if it has no newline, which the
    /// next member completes (removed here, not counted as a line of this member).
    fn take_unfinished(&mut self) -> Unfinished {
        let discarding = std::mem::take(&mut self.discarding);
        Unfinished {
            bytes: self.pending.split_off(self.line_start),
            discarding,
        }
    }

    /// UTF-16LE read as UTF-8 ends each newline in a zero byte (`\n\0`), which is read after
    /// the newline: a last line of that zero byte alone is the end of the line before it, not a
    /// line of its own (so a file of N lines counts N).
    fn drop_utf16le_newline_half(&mut self) {
        if !self.discarding && self.pending.get(self.line_start..) == Some(&[0u8][..]) {
            self.pending.truncate(self.line_start);
        }
    }

    /// The interrupt stopped reading in the middle of the last line: its bytes read so far are
    /// left out (our reading stopped, the writer did not cut it: neither a line nor an event,
    /// never closed as a cut JSON object). Returns how many, if any. A line cut at the cap whose
    /// rest was being skipped is a line already.
    fn drop_cut_line(&mut self) -> Option<u64> {
        if std::mem::take(&mut self.discarding) {
            return None;
        }
        let cut = self.pending.len() - self.line_start;
        self.pending.truncate(self.line_start);
        (cut > 0).then_some(cut as u64)
    }

    /// Is the last line read without its newline (also: cut at the cap, its rest not read)?
    fn unfinished(&self) -> bool {
        self.pending.len() > self.line_start || self.discarding
    }

    /// Read the rest of the last line, one byte at a time so that nothing after its newline
    /// is read (a file's bytes read stay a prefix of it, for an export's digest). Returns the
    /// bytes read (0 at the end of input).
    fn read_line_rest(&mut self, reader: &mut dyn Read) -> io::Result<usize> {
        let mut byte = [0u8];
        let n = reader.read(&mut byte)?;
        if n > 0 {
            self.push(&byte);
        }
        Ok(n)
    }

    /// Start with the line the previous member of the set ended in, unfinished.
    fn resume_line(&mut self, line: Unfinished) {
        self.pending.extend_from_slice(&line.bytes);
        self.discarding = line.discarding;
    }

    /// At the end of a member whose set goes on with input `next`: the runs still open, to
    /// be completed there. Lines after the last safe cut are joined again (the tracker does
    /// not keep line numbers); the last chunk then leaves these runs to the next member.
    fn hand_on(&mut self, input: &Input, next: u32) -> Vec<Carried> {
        if self.tracker.open_runs() == 0 {
            return Vec::new();
        }
        if self.pending.len() > self.line_start {
            // The last line has no newline: [`Chunker::take`] adds it too.
            self.pending.push(b'\n');
            self.line_start = self.pending.len();
        }
        // Whole lines, each ending with its newline.
        let tail = &self.pending[self.safe_cut..];
        let lines = tail.strip_suffix(b"\n").map(|t| t.split(|&b| b == b'\n'));
        let first = self.next_line + count_lines(&self.pending[..self.safe_cut]);
        let mut joiner = Joiner::new(self.max_line).max_runs(self.max_runs);
        // Runs this member took over from the one before and still has open (a member holding
        // only a piece of them): they go on to the next member as the first member's lines.
        for c in &self.carried {
            joiner.resume(c.key, c.run.clone());
        }
        let mut seen: StreamMap<(u64, Origin)> = StreamMap::default();
        for (line_no, line) in (first..).zip(lines.into_iter().flatten()) {
            let u = envelope::unwrap(line);
            let key = stream_key(self.source, &u);
            seen.entry(key).or_insert_with(|| {
                (
                    stream_key(next, &u),
                    origin_of(self.source, &input.meta, &u),
                )
            });
            let _ = joiner.feed(key, line_no, &u);
            // Runs ended at the cap are this member's lines (the worker emits them).
            joiner.released().for_each(drop);
        }
        let mut carried = Vec::new();
        for (this_key, run) in joiner.finish() {
            // Without a line of its stream here the next key is unknown: the run then ends
            // with this member, as an incomplete line.
            let Some((key, origin)) = seen.remove(&this_key) else {
                continue;
            };
            self.handed_on.push(this_key);
            let c = match self.carried.iter().find(|c| c.key == this_key) {
                Some(earlier) => Carried {
                    key,
                    from_key: earlier.from_key,
                    from_origin: earlier.from_origin.clone(),
                    from_name: earlier.from_name.clone(),
                    run,
                },
                None => Carried {
                    key,
                    from_key: this_key,
                    from_origin: origin,
                    from_name: input.name.clone(),
                    run,
                },
            };
            carried.push(c);
        }
        carried
    }

    /// Read once from `reader` straight into the pending bytes (no copy through a read buffer,
    /// which cost a pass over every input byte); a read that could hold a line over the cap,
    /// or that continues a line being discarded, goes through [`Chunker::push`].
    fn read_from(&mut self, reader: &mut dyn Read) -> io::Result<usize> {
        let start = self.pending.len();
        let read = reader.read(self.pending.spare(READ_BUF));
        let n = *read.as_ref().unwrap_or(&0);
        self.pending.filled(n);
        if n == 0 {
            return read;
        }
        if self.head.len() < HEAD_BYTES {
            let new = &self.pending[start..];
            let take = new.len().min(HEAD_BYTES - self.head.len());
            self.head.extend_from_slice(&new[..take]);
        }
        if self.discarding || (start - self.line_start).saturating_add(n) > self.max_line {
            let data = self.pending.split_off(start);
            self.push(&data);
        } else {
            if let Some(i) = memchr::memrchr(b'\n', &self.pending[start..]) {
                self.line_start = start + i + 1;
            }
            self.classify();
        }
        read
    }

    fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.discarding {
                match memchr::memchr(b'\n', data) {
                    // The cut line already ended with the newline pushed below.
                    Some(i) => {
                        self.discarding = false;
                        data = &data[i + 1..];
                    }
                    None => data = &[],
                }
                continue;
            }
            let line_len = self.pending.len() - self.line_start;
            // No line of `data` can reach the cap (reads are smaller than it): take it whole,
            // one copy and one backward search instead of a search and a copy per line.
            if line_len.saturating_add(data.len()) <= self.max_line {
                let base = self.pending.len();
                self.pending.extend_from_slice(data);
                if let Some(i) = memchr::memrchr(b'\n', data) {
                    self.line_start = base + i + 1;
                }
                break;
            }
            let newline = memchr::memchr(b'\n', data);
            // Only a line over `max_line` needs a look at what it is.
            let limit = if line_len.saturating_add(newline.unwrap_or(data.len())) <= self.max_line {
                self.max_line
            } else {
                self.line_limit(data)
            };
            match newline {
                Some(i) if line_len + i <= limit => {
                    self.pending.extend_from_slice(&data[..=i]);
                    data = &data[i + 1..];
                    self.line_start = self.pending.len();
                }
                Some(_) | None if line_len + data.len() > limit => {
                    let keep = limit - line_len;
                    self.pending.extend_from_slice(&data[..keep]);
                    self.pending.push(b'\n');
                    self.truncated.push(self.line_start);
                    self.line_start = self.pending.len();
                    data = &data[keep..];
                    self.discarding = true;
                }
                _ => {
                    self.pending.extend_from_slice(data);
                    data = &[];
                }
            }
        }
        self.classify();
    }

    /// The most bytes the reader keeps of the line that starts at `line_start` and goes on
    /// with `data`: `max_line`, or [`envelope::PIECE_RAW_MAX`] for a line that may be a piece
    /// or complete one (decoded first; the workers cap its payload at `max_line`).
    fn line_limit(&self, data: &[u8]) -> usize {
        if self.max_line >= envelope::PIECE_RAW_MAX {
            return self.max_line;
        }
        let mut head = [0u8; 256];
        let kept = &self.pending[self.line_start..];
        let a = kept.len().min(head.len());
        head[..a].copy_from_slice(&kept[..a]);
        let b = data.len().min(head.len() - a);
        head[a..a + b].copy_from_slice(&data[..b]);
        let head = &head[..a + b];
        if envelope::may_be_piece(head) {
            envelope::PIECE_RAW_MAX
        } else {
            self.max_line
        }
    }

    /// Advance `checked` over complete lines, moving `safe_cut` along while no run is open.
    fn classify(&mut self) {
        let (from, end) = (self.checked, self.line_start);
        if from >= end {
            return;
        }
        let newlines = partial_candidates(&self.pending[from..end], &mut self.candidates);
        self.classify_lines(from, end);
        self.lines_checked += if self.checked == end {
            newlines
        } else {
            count_lines(&self.pending[from..self.checked])
        };
    }

    fn classify_lines(&mut self, from: usize, end: usize) {
        let mut next = 0;
        while self.checked < end {
            if self.tracker.open_runs() == 0 {
                // Skip ahead to the line of the next candidate: everything before it is safe.
                while next < self.candidates.len() && from + self.candidates[next] < self.checked {
                    next += 1;
                }
                let Some(&at) = self.candidates.get(next) else {
                    self.checked = end;
                    self.safe_cut = end;
                    return;
                };
                let at = from + at;
                let line = memchr::memrchr(b'\n', &self.pending[self.checked..at])
                    .map_or(self.checked, |i| self.checked + i + 1);
                self.safe_cut = line;
                self.checked = line;
            }
            // Look at one line closely.
            let Some(nl) = memchr::memchr(b'\n', &self.pending[self.checked..end]) else {
                return;
            };
            let line = &self.pending[self.checked..self.checked + nl];
            if self.tracker.open_runs() > 0 || envelope::may_be_partial(line) {
                let u = envelope::unwrap(line);
                self.tracker.feed(stream_key(self.source, &u), 0, &u);
                // A run ended at the cap no longer holds a cut back (the worker ends it at the
                // same line).
                self.tracker.released().for_each(drop);
            }
            self.checked += nl + 1;
            if self.tracker.open_runs() == 0 {
                self.safe_cut = self.checked;
            }
        }
    }

    /// A chunk is due: enough bytes behind a safe cut, or a run that never closes.
    fn ready(&self) -> bool {
        self.safe_cut >= self.target || self.pending.len() >= 64 * self.target.max(1 << 20)
    }

    /// Take the bytes up to the safe cut (everything at end of input) as a chunk.
    fn take(&mut self, seq: u64, at_end: bool) -> Option<Chunk> {
        let ends_input = at_end && self.ends_input;
        let mut unterminated = None;
        if at_end && self.pending.len() > self.line_start {
            // The last line has no newline.
            if ends_input {
                unterminated = Some(self.next_line + count_lines(&self.pending[..self.line_start]));
            }
            self.pending.push(b'\n');
            self.line_start = self.pending.len();
        }
        let mut cut = if at_end {
            self.pending.len()
        } else {
            self.safe_cut
        };
        if cut == 0 && !at_end {
            // A run longer than the forced limit: cut anyway, the run is joined in pieces.
            cut = self.line_start;
            self.tracker = Joiner::new(self.max_line).max_runs(self.max_runs);
        }
        // An empty member still takes the runs handed on to it to a worker, which ends them.
        if cut == 0 && (self.carried.is_empty() || !at_end) {
            return None;
        }
        let mut rest = ChunkBytes::pooled(self.target + READ_BUF);
        rest.extend_from_slice(&self.pending[cut..]);
        self.pending.truncate(cut);
        let data = std::mem::replace(&mut self.pending, rest);
        let mut truncated = Vec::new();
        self.truncated.retain_mut(|off| {
            if *off < cut {
                let line = count_lines(&data[..*off]);
                truncated.push(self.next_line + line);
                false
            } else {
                *off -= cut;
                true
            }
        });
        // Newlines up to the cut, from those up to `checked` (the two are mostly equal).
        let lines = match cut.cmp(&self.checked) {
            std::cmp::Ordering::Equal => self.lines_checked,
            std::cmp::Ordering::Greater => self.lines_checked + count_lines(&data[self.checked..]),
            std::cmp::Ordering::Less => {
                self.lines_checked - count_lines(&self.pending[..self.checked - cut])
            }
        };
        let chunk = Chunk {
            seq,
            source: self.source,
            first_line: self.next_line,
            data,
            truncated,
            ends_input,
            unterminated,
            caught_up: false,
            pause: None,
            handed_on: if at_end {
                std::mem::take(&mut self.handed_on)
            } else {
                Vec::new()
            },
            carried: std::mem::take(&mut self.carried),
        };
        self.next_line += lines;
        self.line_start -= cut;
        self.lines_checked = self.lines_checked.saturating_sub(lines);
        self.checked = self.checked.saturating_sub(cut);
        self.safe_cut = self.safe_cut.saturating_sub(cut);
        Some(chunk)
    }
}

/// How [`read_one`] reads: the run's settings, where chunks go (and their sequence numbers),
/// and whether a last line without its newline is read on to its end ([`Watched`] files: a
/// writer may be in the middle of it).
#[derive(Clone, Copy)]
struct Reading<'r> {
    settings: &'r Settings,
    tx: &'r SyncSender<ReaderMsg>,
    seq: &'r Mutex<u64>,
    finish_line: bool,
}

/// Which input a reader reads, and its place in a rotated set.
struct Member {
    source: u32,
    /// What the previous member of the set handed on.
    carried: Handoff,
    /// The next member's source id, when the set goes on after this input.
    next: Option<u32>,
}

impl Member {
    fn new(source: u32, carried: Handoff, next: Option<u32>) -> Member {
        Member {
            source,
            carried,
            next,
        }
    }

    fn chunker(&mut self, settings: &Settings, buf: ChunkBytes) -> Chunker {
        let max_line = settings.max_line_bytes.max(16);
        let target = settings.chunk_bytes.max(1024);
        let mut chunker =
            Chunker::new(self.source, max_line, target, buf).max_runs(settings.max_streams.max(1));
        let Handoff { runs, line } = std::mem::take(&mut self.carried);
        chunker.resume(runs);
        chunker.resume_line(line);
        // A rotated member's last line may go on in the next member: not cut.
        chunker.ends_input = self.next.is_none();
        chunker
    }

    /// The input could not be read: the runs handed on to it end in a chunk of their own
    /// (the worker emits them as incomplete lines, as at the end of any input), and so does
    /// the line the previous member ended in.
    fn end_carried(
        mut self,
        settings: &Settings,
        tx: &SyncSender<ReaderMsg>,
        seq: &Mutex<u64>,
    ) -> Result<(), ()> {
        if self.carried.runs.is_empty() && self.carried.line.bytes.is_empty() {
            return Ok(());
        }
        let mut chunker = self.chunker(settings, ChunkBytes::pooled(0));
        let mut seq = seq.lock().map_err(|_| ())?;
        if let Some(chunk) = chunker.take(*seq, true) {
            *seq += 1;
            tx.send(ReaderMsg::Chunk(chunk)).map_err(|_| ())?;
        }
        Ok(())
    }
}

/// Are `a` and `b` files of one rotated set? (The input list has a set's files together,
/// oldest first.)
fn same_set(a: &Input, b: &Input) -> bool {
    match (&a.kind, &b.kind) {
        (InputKind::File(p), InputKind::File(q)) => {
            files::rotation_set(p) == files::rotation_set(q)
        }
        _ => false,
    }
}

/// Read one input to its end (a followed file: until the run stops). Returns whether it was
/// read completely and what it hands on to the next member of its set.
fn read_one(
    mut member: Member,
    mut reader: Box<dyn Read + Send>,
    input: &Input,
    reading: &Reading<'_>,
    progress: &mut Option<Progress>,
) -> Result<(bool, Handoff), ()> {
    let Reading {
        settings, tx, seq, ..
    } = *reading;
    let live = settings.follow;
    let source = member.source;
    let target = settings.chunk_bytes.max(1024);
    let mut chunker = member.chunker(settings, ChunkBytes::pooled(target + READ_BUF));
    let send_at = |chunker: &mut Chunker, at_end: bool, pause: Option<Pause>| -> Result<(), ()> {
        // Chunks get their sequence number under the lock they are sent under, so the merger
        // sees them in order when several live inputs are read at once.
        let mut seq = seq.lock().map_err(|_| ())?;
        if let Some(mut chunk) = chunker.take(*seq, at_end) {
            chunk.pause = pause;
            *seq += 1;
            tx.send(ReaderMsg::Chunk(chunk)).map_err(|_| ())?;
        }
        Ok(())
    };
    let send = |chunker: &mut Chunker, at_end: bool| send_at(chunker, at_end, None);
    // An empty chunk that only marks a place in chunk order: following, this input has read
    // its history (after the chunks before it), so the reorder buffer stops holding others
    // back for it; a live stdin has been idle ([`stdin::Pause::Idle`]).
    let marker = |chunker: &Chunker, caught_up: bool, pause: Option<Pause>| -> Result<(), ()> {
        let mut seq = seq.lock().map_err(|_| ())?;
        let marker = Chunk {
            seq: *seq,
            source,
            first_line: chunker.next_line,
            data: ChunkBytes::pooled(0),
            truncated: Vec::new(),
            ends_input: false,
            unterminated: None,
            caught_up,
            pause,
            handed_on: Vec::new(),
            carried: Vec::new(),
        };
        *seq += 1;
        tx.send(ReaderMsg::Chunk(marker)).map_err(|_| ())
    };
    let caught_up = |chunker: &Chunker| marker(chunker, true, None);
    let mut complete = true;
    let mut sniffed = false;
    // UTF-16 without a byte order mark, when the start of the input looked like it.
    let mut bare_utf16 = None;
    // At the end of a file still written to, in the middle of a line: bytes read for its rest.
    let mut finishing: Option<usize> = None;
    // The run's interrupt stopped the reading (not the input's end).
    let mut interrupted = false;
    loop {
        if cancelled(settings) {
            interrupted = true;
            break;
        }
        if !sniffed && chunker.head.len() >= HEAD_BYTES {
            sniffed = true;
            bare_utf16 = warn_if_utf16(&chunker.head, input, tx)?;
        }
        let read = match finishing {
            Some(_) => chunker.read_line_rest(&mut *reader),
            None => chunker.read_from(&mut *reader),
        };
        let n = match read {
            // The writer may have finished the line since: its rest (not more) is read too,
            // rather than counting a piece of it as a line.
            Ok(0) if finishing.is_none() && reading.finish_line && chunker.unfinished() => {
                finishing = Some(0);
                continue;
            }
            // A live stdin, a followed file or a killed child's output also ends on the
            // interrupt (a stop request).
            Ok(0) => {
                interrupted = cancelled(settings);
                break;
            }
            Ok(n) if finishing.is_some() => {
                let extra = finishing.unwrap_or(0) + n;
                finishing = Some(extra);
                tx.send(ReaderMsg::Bytes(n as u64)).map_err(|_| ())?;
                if !chunker.unfinished() || extra > chunker.max_line {
                    break;
                }
                continue;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if crate::source::follow::is_caught_up(&e) => {
                send(&mut chunker, false)?;
                caught_up(&chunker)?;
                continue;
            }
            // A live stdin's writer paused: what is complete goes on now, not when a full
            // chunk has arrived (which may take minutes, or never come).
            Err(e) if stdin::pause(&e) == Some(Pause::Quiet) => {
                send_at(&mut chunker, false, Some(Pause::Quiet))?;
                continue;
            }
            Err(e) if stdin::pause(&e) == Some(Pause::Idle) => {
                marker(&chunker, false, Some(Pause::Idle))?;
                continue;
            }
            Err(e) => {
                read_error(tx, "error reading", &input.name, &e)?;
                complete = false;
                break;
            }
        };
        tx.send(ReaderMsg::Bytes(n as u64)).map_err(|_| ())?;
        if let Some(p) = progress.as_mut() {
            p.tick(n as u64);
        }
        // Live inputs hand on complete lines as soon as a read returns (no waiting for a full
        // chunk): latency is one read, and big reads still make big chunks.
        if chunker.ready() || (live && chunker.safe_cut > 0) {
            send(&mut chunker, false)?;
        }
    }
    if !sniffed {
        bare_utf16 = warn_if_utf16(&chunker.head, input, tx)?;
    }
    if interrupted {
        complete = false;
        let cut_line = chunker.drop_cut_line();
        // What is still open (a `P` run) is not closed as if the input ended there.
        chunker.ends_input = false;
        tx.send(ReaderMsg::Interrupted { source, cut_line })
            .map_err(|_| ())?;
    }
    let hands_on = member.next.is_some() && complete;
    if bare_utf16 == Some(files::Utf16::Le) && !hands_on {
        chunker.drop_utf16le_newline_half();
    }
    let handed = match member.next {
        // The last line first: the runs are those of the lines before it.
        Some(next) if complete => Handoff {
            line: chunker.take_unfinished(),
            runs: chunker.hand_on(input, next),
        },
        _ => Handoff::default(),
    };
    send(&mut chunker, true)?;
    if live {
        caught_up(&chunker)?;
    }
    Ok((complete, handed))
}

/// An input whose first bytes look like UTF-16 without a byte order mark is read as UTF-8
/// (its lines will not parse): say so, and how to convert it. (With the mark it is transcoded:
/// `files::decode_text`.)
/// Returns the byte order it looks like.
fn warn_if_utf16(
    head: &[u8],
    input: &Input,
    tx: &SyncSender<ReaderMsg>,
) -> Result<Option<files::Utf16>, ()> {
    let Some(order) = files::looks_like_utf16(head) else {
        return Ok(None);
    };
    let encoding = match order {
        files::Utf16::Le => "UTF-16LE",
        files::Utf16::Be => "UTF-16BE",
    };
    let msg = format!(
        "'{}' looks like {encoding} text without a byte order mark (every other byte is zero); \
         it is read as UTF-8, so its lines do not parse: convert it first, e.g. \
         `iconv -f {encoding} -t UTF-8 FILE | logsleuth …`",
        input.name
    );
    tx.send(ReaderMsg::Warning(msg)).map_err(|_| ())?;
    Ok(Some(order))
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
    /// The event's text is not all there: its line was cut at `--max-line-bytes` (or was a
    /// JSON object the input ended in before closing it), a continuation line of it was cut,
    /// its traceback passed the cap ([`TRACEBACK_CUT`]), or it was handed on while its
    /// traceback was still open because [`MAX_HELD`] later events waited behind it (its further
    /// lines are counted as its continuation lines, not shown). All of it where events are
    /// held (`events`, exports, `trace`); what the filters see in the parse workers knows only
    /// of the line's own cut.
    pub cut: bool,
}

impl Fields for View<'_, '_> {
    fn field(&self, name: &str) -> Option<Value<'_>> {
        let s = |v: &str| Some(Value::Str(std::borrow::Cow::Owned(v.to_string())));
        match name {
            "ts" => self.ev.ts.map(Value::Time),
            "runtime_ts" => self.ev.runtime_ts.map(Value::Time),
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
            "container_id" => self
                .origin
                .container_id
                .as_deref()
                .map(|v| Value::Str(v.into())),
            label if label.starts_with("labels.") => {
                let key = &label["labels.".len()..];
                let (_, v) = self.origin.labels.iter().find(|(k, _)| k == key)?;
                Some(Value::Str(v.as_str().into()))
            }
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
        labels: meta.labels.clone(),
        // Set by the merger ([`Merger::link_rotated`]).
        clock: 0,
    }
}

/// Loki labels become `labels.KEY`; `namespace`, `pod` and `container` labels also fill
/// those fields.
fn loki_origin(o: &mut Origin, labels: Vec<(String, String)>) {
    for (k, v) in &labels {
        let slot = match k.as_str() {
            "namespace" => &mut o.namespace,
            "pod" => &mut o.pod,
            "container" => &mut o.container,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(v.clone());
        }
    }
    o.labels = labels;
}

struct LineCtx<'c> {
    /// The name of the input the line is from.
    source: &'c str,
    line: u64,
    stream: u64,
    runtime_ts: Option<&'c str>,
    truncated: bool,
    /// The first line of a Loki entry with several: a new event, never a continuation.
    first: bool,
}

fn process_chunk(
    chunk: &Chunk,
    input: &Input,
    reg: &Registry,
    settings: &Settings,
    analysis: Analysis<'_>,
    scratch: &mut Scratch,
) -> ChunkOut {
    let mut out = ChunkOut {
        seq: chunk.seq,
        source: chunk.source,
        caught_up: chunk.caught_up,
        pause: chunk.pause,
        // Real lines average ~300 bytes; a little slack avoids regrowing.
        items: recycle::ITEMS.get(chunk.data.len() / 200 + 16),
        // Request fields and identifiers take well under a quarter of the input's bytes.
        arena: String::from_utf8(recycle::ARENAS.get(chunk.data.len() / 4)).unwrap_or_default(),
        found: if analysis.is_empty() {
            Vec::new()
        } else {
            recycle::FOUND.get(chunk.data.len() / 400 + 16)
        },
        ..ChunkOut::default()
    };
    let max_line = settings.max_line_bytes.max(16);
    let mut joiner = Joiner::new(max_line).max_runs(settings.max_streams);
    let mut origins: StreamMap<Origin> = StreamMap::default();
    // Runs the previous member of the set ended in: their lines are that member's.
    let mut carried: Vec<&Carried> = chunk.carried.iter().collect();
    for c in &carried {
        joiner.resume(c.key, c.run.clone());
        origins
            .entry(c.from_key)
            .or_insert_with(|| c.from_origin.clone());
    }
    let mut from_carried = |key: u64| -> (u64, Option<&str>) {
        match carried.iter().position(|c| c.key == key) {
            Some(i) => {
                let c = carried.swap_remove(i);
                (c.from_key, Some(c.from_name.as_str()))
            }
            None => (key, None),
        }
    };
    let data = &chunk.data;
    // One SIMD check of the whole chunk; nearly every chunk passes, and then its lines' names,
    // timestamps and payloads are cut from it without checking each again.
    let text = simdutf8::basic::from_utf8(data).ok();
    let mut batch: Vec<BatchLine<'_>> = Vec::with_capacity(BATCH_LINES);
    let mut work = ChunkWork {
        input,
        text,
        reg,
        settings,
        analysis,
        scratch,
    };
    let mut start = 0;
    let mut line_no = chunk.first_line;
    let loki = match &input.kind {
        InputKind::Loki(l) => Some(l),
        _ => None,
    };
    loop {
        // One search finds the line's end and whether it holds an ESC byte (ANSI colour), so
        // lines without one are not searched again for it.
        let (end, esc) = match memchr::memchr2(b'\n', 0x1b, &data[start..]) {
            None => break,
            Some(i) if data[start + i] == b'\n' => (start + i, false),
            Some(i) => match memchr::memchr(b'\n', &data[start + i..]) {
                Some(j) => (start + i + j, true),
                None => break,
            },
        };
        let mut line = &data[start..end];
        start = end + 1;
        let this_line = line_no;
        line_no += 1;
        out.lines += 1;
        // Loki lines carry their label set's id: one stream per label set.
        let mut tag = None;
        if loki.is_some() {
            (tag, line) = crate::source::loki::split_tag(line);
        }
        let u = envelope::unwrap_in(line, text, esc);
        let mut key = stream_key(chunk.source, &u);
        if let Some(t) = tag {
            key = fnv(key, &t.labels.to_le_bytes());
        }
        origins.entry(key).or_insert_with(|| {
            let mut o = origin_of(chunk.source, &input.meta, &u);
            if let (Some(l), Some(t)) = (loki, tag) {
                loki_origin(&mut o, l.labels.get(t.labels));
            }
            o
        });
        let part = tag.map_or(Part::Whole, |t| t.part);
        let reader_cut = chunk.truncated.contains(&this_line);
        let eof = chunk.unterminated == Some(this_line);
        let next = match joiner.feed(key, this_line, &u) {
            Feed::Passthrough => {
                // A piece's envelope is read whole ([`envelope::PIECE_RAW_MAX`]): its payload
                // is capped here.
                let mut content = u.content;
                let long = content.len() > max_line;
                if long {
                    match &mut content {
                        Cow::Borrowed(b) => *b = &b[..max_line],
                        Cow::Owned(v) => v.truncate(max_line),
                    }
                }
                // A JSON object the input ends in before it is closed: closed where it was cut.
                let cut_at_eof = eof && eof_cut_json(&content);
                BatchLine {
                    content,
                    runtime_ts: u.runtime_ts.map(Cow::Borrowed),
                    line: this_line,
                    stream: key,
                    truncated: reader_cut || long || cut_at_eof,
                    from: None,
                    part,
                }
            }
            Feed::Buffered => {
                if reader_cut {
                    joiner.cut(key);
                }
                // Opening one run too many ended the least recently fed one: its line is here,
                // unfinished, as at the end of input.
                for (key, j) in joiner.released() {
                    out.released_runs += 1;
                    out.joined_partials += u64::from(j.pieces.saturating_sub(1));
                    batch.push(BatchLine::joined(j, from_carried(key), false));
                }
                if batch.len() >= BATCH_LINES {
                    work.run(&mut batch, &origins, &mut out);
                }
                continue;
            }
            Feed::Completed(j) => {
                out.joined_partials += u64::from(j.pieces.saturating_sub(1));
                let cut = reader_cut || (eof && eof_cut_json(&j.content));
                BatchLine::joined(j, from_carried(key), cut)
            }
        };
        batch.push(next);
        if batch.len() >= BATCH_LINES {
            work.run(&mut batch, &origins, &mut out);
        }
    }
    for (key, j) in joiner.finish() {
        // The next member of the set completes it (its lines are counted here, its pieces
        // there).
        if chunk.handed_on.contains(&key) {
            continue;
        }
        out.joined_partials += u64::from(j.pieces.saturating_sub(1));
        // A run the input ended in (a pod killed in the middle of a line).
        let cut = chunk.ends_input && eof_cut_json(&j.content);
        batch.push(BatchLine::joined(j, from_carried(key), cut));
    }
    work.run(&mut batch, &origins, &mut out);
    out.origins = origins.into_iter().collect();
    out
}

/// Is `content`, a line the input ended in, a JSON object cut there (a process killed while
/// it wrote the line: `{"timestamp":…,"fields":{"message":"FATAL out of memory … `)? It is
/// then read as a line cut at `--max-line-bytes` is, closed where it was cut ([`cut_text`]),
/// and counted `truncated`. A whole object (a last line without its newline) is not cut.
fn eof_cut_json(content: &[u8]) -> bool {
    if !content.trim_ascii_start().starts_with(b"{\"") {
        return false;
    }
    let text = match std::str::from_utf8(content) {
        Ok(t) => Cow::Borrowed(t),
        Err(_) => String::from_utf8_lossy(content),
    };
    crate::jsonclose::close_cut_json(&text).is_some_and(|closed| !text.starts_with(&closed))
}

/// The text of a line cut at `--max-line-bytes`: without a character the cut split (not
/// invalid UTF-8), and a JSON object closed where it was cut, so the event is parsed — its
/// time, level and message, and the first part of a long traceback — not lost as invalid JSON.
fn cut_text<'b>(content: &'b [u8], out: &mut ChunkOut) -> Cow<'b, str> {
    let text = match std::str::from_utf8(content) {
        Ok(t) => Cow::Borrowed(t),
        // Only a character cut at the end: drop its first bytes.
        Err(e) if e.error_len().is_none() => {
            Cow::Borrowed(std::str::from_utf8(&content[..e.valid_up_to()]).unwrap_or_default())
        }
        Err(_) => {
            out.invalid_utf8 += 1;
            String::from_utf8_lossy(content)
        }
    };
    match crate::jsonclose::close_cut_json(&text) {
        Some(closed) => Cow::Owned(closed),
        None => text,
    }
}

/// A line (or joined record) of a chunk, waiting to be parsed with the lines of its batch.
struct BatchLine<'c> {
    content: Cow<'c, [u8]>,
    runtime_ts: Option<Cow<'c, str>>,
    line: u64,
    stream: u64,
    truncated: bool,
    /// The name of the input the line began in, when that is the previous member of the
    /// rotated set ([`Carried`]).
    from: Option<&'c str>,
    /// Which line of its Loki entry this is ([`Part::Whole`] for every other input).
    part: Part,
}

impl<'c> BatchLine<'c> {
    /// The line a run of pieces makes, in `(stream, from)` ([`Carried`] resolved); `cut`: the
    /// reader cut a piece.
    fn joined(j: envelope::Joined, (stream, from): (u64, Option<&'c str>), cut: bool) -> Self {
        BatchLine {
            content: Cow::Owned(j.content),
            runtime_ts: j.first_ts.map(Cow::Owned),
            line: j.first_line,
            stream,
            truncated: j.truncated || cut,
            from,
            part: Part::Whole,
        }
    }
}

/// Lines per parse batch. Each batch is parsed first, then its events become items (filters,
/// the rules' literal scan, identifiers, requests): each code stays in the instruction cache
/// for a whole batch instead of evicting the other at every line. Cachegrind, 50k lines,
/// everything on: I1 misses 12.0 M → 3.5 M for +1.5 % instructions (BENCHMARKS.md).
const BATCH_LINES: usize = 32;

/// What the lines of a chunk are handled with.
struct ChunkWork<'w> {
    input: &'w Input,
    /// The chunk as text, when it is all UTF-8.
    text: Option<&'w str>,
    reg: &'w Registry,
    settings: &'w Settings,
    analysis: Analysis<'w>,
    scratch: &'w mut Scratch,
}

impl<'w> ChunkWork<'w> {
    /// Parse the lines of `batch`, then make their items, in order; `batch` is left empty.
    fn run(
        &mut self,
        batch: &mut Vec<BatchLine<'_>>,
        origins: &StreamMap<Origin>,
        out: &mut ChunkOut,
    ) {
        let texts: Vec<Cow<'_, str>> = batch.iter().map(|b| self.text_of(b, out)).collect();
        let (reg, opts, scratch) = (self.reg, &self.settings.parse, &mut *self.scratch);
        // Events (~400 bytes each) are made empty in their place in the batch, filled there
        // and read there: returned by value, each was copied 2–3 times on its way here.
        let mut events: Vec<Event<'_>> = Vec::with_capacity(texts.len());
        events.resize_with(texts.len(), Event::default);
        // A further line of a Loki entry is its event's continuation whatever it holds: not
        // parsed.
        // With the bytes of a leading timestamp taken as the runtime's (0 when none).
        let outcomes: Vec<Option<(ParseOutcome, usize)>> = texts
            .iter()
            .zip(&mut events)
            .zip(batch.iter())
            .map(|((t, ev), b)| {
                if b.part == Part::Inner {
                    return None;
                }
                let outcome = parse_text(reg, t, b.truncated, opts, scratch, ev);
                // A timestamp without kubelet's 9 digits (podman's `logs -t`, second precision)
                // is left in the payload by the envelope rules, as it may be the payload's own
                // (`2026-…645428Z DEBUG …`, tracing's text). A line no format knows with it is
                // read without it, the timestamp being the runtime's.
                if let ParseOutcome::Event { weak: true } = outcome
                    && b.runtime_ts.is_none()
                    && let Some(n) = envelope::loose_timestamp(t)
                {
                    *ev = Event::default();
                    let rest = t.get(n..).unwrap_or_default();
                    return Some((parse_text(reg, rest, b.truncated, opts, scratch, ev), n));
                }
                Some((outcome, 0))
            })
            .collect();
        let unknown = Origin::default();
        for (((b, text), ev), outcome) in batch.iter().zip(&texts).zip(&mut events).zip(outcomes) {
            let Some((outcome, stamp)) = outcome else {
                out.truncated += u64::from(b.truncated);
                out.items.push(Item {
                    line: b.line,
                    stream: b.stream,
                    pass: false,
                    recheck: false,
                    untimed_range: false,
                    kind: ItemKind::Inner(Box::from(&**text)),
                    found: None,
                });
                continue;
            };
            let origin = origins.get(&b.stream).unwrap_or(&unknown);
            let (text, runtime_ts) = match stamp {
                0 => (&**text, b.runtime_ts.as_deref()),
                n => (
                    text.get(n..).unwrap_or_default(),
                    text.get(..n - 1).map(str::trim_end),
                ),
            };
            self.finish(b, (text, runtime_ts), (outcome, ev), origin, out);
        }
        batch.clear();
    }

    /// The line as text (counted when it is not valid UTF-8).
    fn text_of<'b>(&self, b: &'b BatchLine<'_>, out: &mut ChunkOut) -> Cow<'b, str>
    where
        'w: 'b,
    {
        if b.truncated {
            return cut_text(&b.content, out);
        }
        match envelope::as_text(&b.content, self.text) {
            Some(t) => Cow::Borrowed(t),
            None => {
                out.invalid_utf8 += 1;
                String::from_utf8_lossy(&b.content)
            }
        }
    }

    /// Make the item of a parsed line.
    fn finish(
        &self,
        b: &BatchLine<'_>,
        (text, runtime_ts): (&str, Option<&str>),
        parsed: (ParseOutcome, &mut Event<'_>),
        origin: &Origin,
        out: &mut ChunkOut,
    ) {
        let ctx = LineCtx {
            source: b.from.unwrap_or(&self.input.name),
            line: b.line,
            stream: b.stream,
            runtime_ts,
            truncated: b.truncated,
            first: b.part == Part::First,
        };
        make_item(
            parsed,
            text,
            &ctx,
            origin,
            self.reg,
            (self.settings, self.analysis),
            out,
        );
    }
}

/// Parse one line's text (a line cut at `--max-line-bytes` as such).
fn parse_text<'a>(
    reg: &Registry,
    text: &'a str,
    cut: bool,
    opts: &ParseOpts,
    scratch: &mut Scratch,
    ev: &mut Event<'a>,
) -> ParseOutcome {
    if cut {
        reg.parse_cut_into(text, opts, scratch, ev)
    } else {
        reg.parse_into(text, opts, scratch, ev)
    }
}

/// Make the item of one parsed line (`text` is what was parsed; the event is read only when
/// the outcome is one).
fn make_item(
    (outcome, ev): (ParseOutcome, &mut Event<'_>),
    text: &str,
    ctx: &LineCtx<'_>,
    origin: &Origin,
    reg: &Registry,
    (settings, analysis): (&Settings, Analysis<'_>),
    out: &mut ChunkOut,
) {
    out.truncated += u64::from(ctx.truncated);
    let item = |kind, pass| Item {
        line: ctx.line,
        stream: ctx.stream,
        pass,
        recheck: false,
        untimed_range: false,
        kind,
        found: None,
    };
    match outcome {
        ParseOutcome::Blank => out.items.push(item(ItemKind::Blank, false)),
        ParseOutcome::Unparsed(r) if settings.keep_unparsed && r != Unparsed::Blank => {
            let f = &settings.filter;
            let mut it = item(
                ItemKind::Unparsed(r, Some(Box::from(text))),
                f.grep.as_ref().is_none_or(|g| g.is_match(text)),
            );
            it.untimed_range = f.since.is_some() || f.until.is_some();
            out.items.push(it);
        }
        ParseOutcome::Unparsed(r) => out.items.push(item(ItemKind::Unparsed(r, None), false)),
        ParseOutcome::Event { weak } => {
            // The first line of a Loki entry starts its own event (Loki gives the boundary).
            let weak = weak && !ctx.first;
            // An HTTP request line (uvicorn's access lines carry no time) is never a panic's
            // text: not marked, so its text is not copied for the merger.
            let untimed = !weak
                && !ctx.first
                && ev.ts.is_none()
                && ev.request.is_none()
                && !text.starts_with('{');
            if ev.naive_ts
                && out.zone_skew.wants()
                && let (Some(ts), Some(runtime)) = (
                    ev.ts,
                    ctx.runtime_ts
                        .and_then(|t| time::parse_timestamp(t.as_bytes(), 0)),
                )
            {
                out.zone_skew.add(ev.service, ts, runtime);
            }
            // The runtime's timestamp is event time only when the payload has none; otherwise
            // only whole events (NDJSON, exports) show it, so it is parsed only then.
            if ev.ts.is_none()
                || settings.keep_events
                || (settings.filter.expr.as_ref()).is_some_and(|e| e.reads("runtime_ts"))
            {
                ev.runtime_ts = ctx
                    .runtime_ts
                    .and_then(|t| time::parse_timestamp(t.as_bytes(), 0));
                ev.ts = ev.ts.or(ev.runtime_ts);
            }
            let (pass, rest_pass) = passes(ev, text, ctx, origin, reg, &settings.filter);
            let ends_span = ev.span.is_some_and(|m| m.edge == Edge::End);
            let reads = |field| (settings.filter.expr.as_ref()).is_some_and(|e| e.reads(field));
            // Only `events` decides again: the analysis has counted the event by then. Its
            // traceback is attached later, and a span's end is timed by the merger.
            let recheck = rest_pass
                && matches!(settings.mode, Mode::Events)
                && analysis.is_empty()
                && (((ev.multiline != Multiline::None || ctx.first) && reads("exception"))
                    || (ends_span && ev.duration_ms.is_none() && reads("duration_ms")));
            let found = if pass && !analysis.is_empty() {
                find(ev, reg, analysis, &mut Vec::new(), &mut out.arena)
            } else {
                None
            };
            let request = match ev.request {
                Some(kind) if pass => {
                    let present = REQUEST_SLOTS
                        .iter()
                        .filter_map(|&slot| ev.get(slot).map(|v| (slot, v)));
                    Some((kind, LineFields::in_arena(&mut out.arena, present)))
                }
                _ => None,
            };
            // Route keys are needed where a span's duration waits for a later request line:
            // behind a filter that drops some lines, or where span ends are no request lines.
            let span = reg.times_spans(ev.service).and_then(|ends_are_requests| {
                let request = ev.request.map(|k| {
                    let last = usize::from(k) + 1 >= reg.request_chain(ev.service).len();
                    (k, last)
                });
                let keyed = !settings.filter.is_empty() || !ends_are_requests;
                let route = || crate::spans::route_key(ev.get(Slot::Method), ev.get(Slot::Route));
                match ev.span {
                    Some(mark) => Some(SpanLine {
                        mark: Some(mark),
                        route: if keyed && ends_span { route() } else { 0 },
                        request,
                    }),
                    None if keyed && request.is_some() => Some(SpanLine {
                        mark: None,
                        route: route(),
                        request,
                    }),
                    None => None,
                }
            });
            let event = EventItem {
                span,
                ts: ev.ts,
                level: ev.level,
                service: ev.service,
                format: ev.format,
                status: ev.status,
                duration_ms: ev.duration_ms,
                multiline: ev.multiline,
                opens_traceback: ev.multiline == Multiline::Python
                    && ev
                        .get(Slot::Message)
                        .is_some_and(|m| m.trim_end().ends_with(TRACEBACK_HEADER)),
                weak,
                cut: ctx.truncated,
                untimed,
                request,
                raw: ((weak || untimed) && !settings.keep_events).then(|| Box::<str>::from(text)),
                error_signature: (pass
                    && ev.level >= Some(Level::Error)
                    && matches!(settings.mode, Mode::Analyze { .. }))
                .then(|| ev.get(Slot::Message).map(|m| signature(m).into_boxed_str()))
                .flatten(),
                full: settings
                    .keep_events
                    .then(|| Box::new(PackedEvent::pack(ev, text))),
            };
            let mut it = item(ItemKind::Event(event), pass);
            it.recheck = recheck;
            it.untimed_range = ev.ts.is_none()
                && (settings.filter.since.is_some() || settings.filter.until.is_some());
            if let Some(f) = found
                && let Ok(at) = u32::try_from(out.found.len())
            {
                it.found = Some(FoundAt::Chunk(at));
                out.found.push(f);
            }
            out.items.push(it);
        }
    }
}

/// How an event's attached lines tell its cause.
fn cause_kind(mode: Multiline) -> CauseKind {
    match mode {
        Multiline::RustPanic => CauseKind::Panic,
        Multiline::Python | Multiline::None => CauseKind::Traceback,
    }
}

/// Rule matches and identifiers of one borrowed event (parse worker side).
fn find(
    ev: &Event<'_>,
    reg: &Registry,
    analysis: Analysis<'_>,
    hits: &mut Vec<Hit>,
    arena: &mut String,
) -> Option<Found> {
    if let Some(rules) = analysis.rules {
        rules.match_event(&EventSubject { ev, reg }, hits);
    }
    let ids = analysis
        .correlation
        .and_then(|_| correlate::ids_of(ev, reg, Some(arena)));
    // A rule may match a line of the traceback or panic text attached to this event later:
    // its evidence then shows this event's message, kept for events that may get such lines
    // (tracebacks and panics follow warnings and errors; an event below `warn` with a matching
    // traceback shows the matching line instead).
    let continued = ev.multiline != Multiline::None
        && ev.level.is_none_or(|l| l >= Level::Warn)
        && analysis
            .rules
            .is_some_and(|r| !r.continuation_rules().is_empty());
    if hits.is_empty() && ids.is_none() && !continued {
        return None;
    }
    let message = (!hits.is_empty() || continued).then(|| {
        let text = ev
            .get(Slot::Message)
            .or_else(|| ev.get(Slot::Exception))
            .unwrap_or("");
        Box::<str>::from(clip(text))
    });
    let cause = if hits.is_empty() {
        None
    } else {
        ev.get(Slot::Exception)
            .and_then(|x| cause_in(x, cause_kind(ev.multiline)))
    };
    Some(Found {
        hits: std::mem::take(hits),
        message,
        cause,
        ids,
    })
}

/// Does the event pass the filters? And the filters other than `--where` (whether a later
/// decision on `--where` alone can make it pass). An event without a time passes
/// `--since`/`--until` here: the merger judges it by its stream's last timed event
/// ([`Item::untimed_range`]).
fn passes(
    ev: &Event<'_>,
    text: &str,
    ctx: &LineCtx<'_>,
    origin: &Origin,
    reg: &Registry,
    f: &Filter,
) -> (bool, bool) {
    if f.is_empty() {
        return (true, true);
    }
    if ev.ts.is_some_and(|t| !f.in_range(t)) {
        return (false, false);
    }
    if f.services
        .as_ref()
        .is_some_and(|s| !s.contains(&ev.service))
    {
        return (false, false);
    }
    if f.min_level.is_some() && ev.level < f.min_level {
        return (false, false);
    }
    if f.grep.as_ref().is_some_and(|g| !g.is_match(text)) {
        return (false, false);
    }
    if let Some(expr) = &f.expr {
        let view = View {
            ev,
            reg,
            source: ctx.source,
            line: ctx.line,
            origin,
            raw: Some(text),
            cut: ctx.truncated,
        };
        return (expr.matches(&view), true);
    }
    (true, true)
}

// ---------------------------------------------------------------- merger

#[derive(Default)]
struct StreamState {
    /// When the stream was last read ([`Merger::stamp`]).
    stamp: u64,
    /// Id of the last event of this stream, while it may still receive continuations.
    open: Option<u64>,
    mode: Multiline,
    in_traceback: bool,
    /// Service of the open event.
    service: u16,
    /// What rules and correlation found of the open event, for its continuation lines.
    analysis: OpenAnalysis,
    /// An event with a time was seen ([`Merger::note_rewind`]).
    dated: bool,
    /// The time of the stream's last event that had one: the time `--since`/`--until` judge
    /// an event without one by ([`Item::untimed_range`]).
    last_ts: Option<Nanos>,
    /// The last line that started something: its event's id, or why it is no event. The
    /// further lines of a Loki entry ([`ItemKind::Inner`]) come right after their first line.
    head: Option<Result<u64, Unparsed>>,
    /// The last line that started something is no event and went to the sinks
    /// ([`EventSink::unparsed`]): so do the further lines of its Loki entry.
    head_shown: bool,
}

/// What rules and correlation found of a stream's open event ([`Merger::analyze_event`]):
/// empty when it did not pass the filters or neither is on.
#[derive(Default)]
struct OpenAnalysis {
    /// What continuation rules see of the open event (scalars only), when it passed the filters.
    parent: Option<Parent>,
    /// Rules the open event already matched (a continuation line does not count it twice).
    rules: Vec<u16>,
    /// The open event's line and message: a continuation line's match is evidence of it.
    at: Option<(u64, Rc<str>)>,
    /// Correlation group of the open event.
    group: Option<GroupRef>,
    /// The open event's cause, when it or one of its continuation lines matched a rule (or it
    /// is a panic that may): its continuation lines fill it in.
    cause: Option<(Cause, CauseKind)>,
}

/// Written field by field: assigned whole, the struct was copied with `memcpy` and its old
/// value dropped out of line, for every event.
impl OpenAnalysis {
    fn set(&mut self, new: OpenAnalysis) {
        let OpenAnalysis {
            parent,
            rules,
            at,
            group,
            cause,
        } = new;
        self.parent = parent;
        self.rules = rules;
        self.at = at;
        self.group = group;
        self.cause = cause;
    }

    fn clear(&mut self) {
        self.parent = None;
        self.rules.clear();
        self.at = None;
        self.group = None;
        self.cause = None;
    }
}

struct Pending {
    /// The event and its payload line.
    ev: Option<Box<PackedEvent>>,
    line: u64,
    stream: u64,
    pass: bool,
    /// See [`Item::recheck`].
    recheck: bool,
    /// Continuation lines were attached.
    exception_grew: bool,
    /// The exception reached the cap ([`TRACEBACK_CUT`]).
    exception_cut: bool,
    /// Its text is not all there ([`View::cut`]).
    cut: bool,
    /// The event ends a span and got its duration from the span's start ([`crate::spans`]).
    timed: bool,
    closed: bool,
}

/// The last line of an exception that reached `--max-line-bytes`.
const TRACEBACK_CUT: &str = "[… cut at --max-line-bytes: further lines counted, not kept]";

/// Most events held back waiting for their continuation lines.
const MAX_HELD: usize = 4096;
/// Most items held by the reorder buffer.
const REORDER_CAP: usize = 100_000;

/// Cross-line state, fed chunk results in input order.
struct Merger<'r> {
    /// The text arena of the chunk being merged ([`ChunkOut::arena`]): its events' identifier
    /// sets are read from it, not copied out one by one.
    chunk_arena: String,
    /// Scratch for the identifiers of a merged request ([`Merger::analyze_request`]).
    request_ids_buf: String,
    /// By source id: the run's inputs, then those added while following
    /// ([`Merger::add_input`]). The dispatcher hands each chunk its input from here.
    inputs: Vec<Arc<Input>>,
    reg: &'r Registry,
    counts: InputCounts,
    /// The run's interrupt stopped the reading of an input ([`ReaderMsg::Interrupted`]): the
    /// groups open at the end close as `interrupted`, not at the end of the input.
    interrupted: bool,
    origins: StreamMap<Origin>,
    streams: StreamMap<StreamState>,
    /// A stream that goes on where a stream of the previous file of its rotated set stopped
    /// (same pod, container and stdout/stderr) shares that stream's cross-line state: a
    /// traceback cut by the rotation continues in the next file. Stream → the stream whose
    /// [`StreamState`] it uses ([`Merger::lane`]).
    continues: StreamMap<u64>,
    /// `(source, stream identity without the source)` → the first stream key seen for it.
    lanes: HashMap<(u32, u64), u64>,
    /// The other way round: a stream whose state newer files' streams share → those streams.
    linked: StreamMap<Vec<u64>>,
    /// Most streams with state ([`Settings::max_streams`], [`crate::streams`]).
    max_streams: usize,
    /// Streams with state (keys of `streams`) by when they were last read.
    recency: crate::streams::Recency,
    /// Items merged so far: when each stream was last read ([`StreamState::stamp`]).
    stamp: u64,
    /// Released streams (their `streams` keys) whose names — `origins`, `continues`, `lanes`,
    /// `linked`, `queued` — go once nothing still to be handed out names them: with the
    /// `next_id` at the release (the events before it may still be held), in release order.
    releasing: VecDeque<(u64, u64)>,
    /// A stream → the `next_id` of its latest release (an earlier entry of `releasing` for it
    /// is stale).
    released_at: StreamMap<u64>,
    /// Releases the sinks are told of ([`EventSink::stream_released`]) in their place among
    /// the events: `(next_id at the release, clock)`.
    sink_releases: VecDeque<(u64, u64)>,
    /// `--follow` reorder buffer: stream → its queue and the items pushed to that queue up to
    /// the stream's latest chunk (its name stays while any of them is held).
    queued: StreamMap<(usize, u64)>,
    /// The input of the chunk being merged (batch runs; `None` for items the reorder buffer
    /// releases, which mix inputs).
    merging_source: Option<u32>,
    /// Per input: the latest event time merged so far.
    input_latest: Vec<Option<Nanos>>,
    requests: RequestMerger,
    /// Open spans per lane, and span durations waiting for their request line.
    spans: crate::spans::SpanTimer,
    finished: Vec<Request>,
    analyzer: Option<Analyzer>,
    /// Hold events until their continuations are attached (there are sinks to feed).
    hold: bool,
    /// `--where`, for events whose verdict waits for their traceback ([`Item::recheck`]).
    recheck_expr: Option<Expr>,
    /// `--since`/`--until`, for events without a time ([`Item::untimed_range`]).
    range: Filter,
    /// The line just merged, when it is no event and the sinks get it ([`EventSink::unparsed`]):
    /// its line number, stream, reason and text.
    shown_unparsed: Option<(u64, u64, Unparsed, Box<str>)>,
    /// Cap on a held event's exception text (`--max-line-bytes`).
    max_event_bytes: usize,
    /// Held events in input order; the front has id `held_front`.
    held: VecDeque<Pending>,
    held_front: u64,
    next_id: u64,
    reasons: BTreeMap<Unparsed, u64>,
    /// Sinks get each event's payload line.
    keep_raw: bool,
    /// Per input: bytes, lines, digest (reported to sinks at the end).
    inputs_read: Vec<InputRead>,
    rules: Option<&'r RuleSet>,
    findings: Option<Findings<'r>>,
    correlator: Option<Correlator>,
    hits: Vec<Hit>,
    /// `--follow`: deliver held events after [`LIVE_HOLD`] and flush sinks promptly.
    live: bool,
    last_merge: Instant,
    unflushed: bool,
    /// `--follow`: `(next_id, when)` after each merge, oldest first: events with an id below
    /// `next_id` had arrived by `when`.
    arrivals: VecDeque<(u64, Instant)>,
    /// Held events with an id below this are due (they have waited [`LIVE_HOLD`]).
    due_before: u64,
    snapshot_every: Option<Duration>,
    last_snapshot: Instant,
    /// `--follow`: when requests were last looked at for [`Merger::expire_quiet_requests`].
    last_request_scan: Instant,
    /// `--follow` with several inputs or watched directories: items wait here to be merged in
    /// event-time order (the buffer grows when an input is added).
    reorder: Option<Reorder<Item>>,
    max_delay: Duration,
}

/// A stream starting this far behind its input's latest time is noted ([`Merger::note_rewind`];
/// the CLI mentions it when it exceeds the correlation window).
const REWIND_NOTE_NS: Nanos = 60_000_000_000;

/// How long a live run waits for continuation lines before delivering held events.
const LIVE_HOLD: Duration = Duration::from_millis(300);
/// How often a live run looks for requests final by the wall clock
/// ([`Merger::expire_quiet_requests`]).
const REQUEST_SCAN: Duration = Duration::from_millis(100);

/// The line that starts a Python traceback.
const TRACEBACK_HEADER: &str = "Traceback (most recent call last):";

/// Does a line continue a Python event? Indented lines, traceback headers, chained-exception
/// separators and, inside a traceback, its final `module.ExceptionName: message` line.
fn python_continues(line: &str, in_traceback: &mut bool) -> bool {
    if line.starts_with([' ', '\t']) {
        return true;
    }
    if line.starts_with(TRACEBACK_HEADER) {
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
    fn new(
        inputs: &'r [Input],
        reg: &'r Registry,
        settings: &Settings,
        hold: bool,
        analysis: Analysis<'r>,
    ) -> Merger<'r> {
        let services: Vec<String> = reg.services().map(str::to_string).collect();
        let chain_len = (0..services.len())
            .map(|i| reg.request_chain(i as u16).len() as u8)
            .collect();
        let mut merger = Merger {
            chunk_arena: String::new(),
            request_ids_buf: String::new(),
            inputs: inputs.iter().cloned().map(Arc::new).collect(),
            reg,
            counts: InputCounts::default(),
            interrupted: false,
            origins: StreamMap::default(),
            streams: StreamMap::default(),
            continues: StreamMap::default(),
            lanes: HashMap::new(),
            linked: StreamMap::default(),
            max_streams: settings.max_streams.max(1),
            recency: crate::streams::Recency::default(),
            stamp: 0,
            releasing: VecDeque::new(),
            released_at: StreamMap::default(),
            sink_releases: VecDeque::new(),
            queued: StreamMap::default(),
            merging_source: None,
            input_latest: Vec::new(),
            requests: RequestMerger::new(chain_len),
            spans: crate::spans::SpanTimer::default(),
            finished: Vec::new(),
            analyzer: match settings.mode {
                Mode::Analyze { bucket_ns, slow_ms } => Some(Analyzer::new(
                    services,
                    bucket_ns,
                    slow_ms,
                    settings.max_endpoints,
                )),
                Mode::Events => None,
            },
            hold,
            recheck_expr: settings.filter.expr.clone(),
            range: Filter {
                since: settings.filter.since,
                until: settings.filter.until,
                ..Filter::default()
            },
            shown_unparsed: None,
            max_event_bytes: settings.max_line_bytes.max(16),
            held: VecDeque::new(),
            held_front: 0,
            next_id: 0,
            reasons: BTreeMap::new(),
            keep_raw: settings.keep_raw,
            inputs_read: vec![InputRead::default(); inputs.len()],
            rules: analysis.rules,
            findings: analysis.rules.map(Findings::new),
            correlator: analysis.correlation.map(|c| {
                let mut c = Correlator::new(
                    c,
                    reg.services().map(str::to_string).collect(),
                    inputs.iter().map(|i| i.name.clone()).collect(),
                );
                c.hold_below(last_timeline_start(inputs, settings.follow));
                if settings.keep_groups {
                    c.keep_closed();
                }
                // Findings name the groups of their evidence as they were when seen.
                if analysis.rules.is_some() {
                    c.track_renames();
                }
                c
            }),
            hits: Vec::new(),
            live: settings.follow,
            last_merge: Instant::now(),
            unflushed: false,
            arrivals: VecDeque::new(),
            due_before: 0,
            snapshot_every: settings.snapshot_every,
            last_snapshot: Instant::now(),
            last_request_scan: Instant::now(),
            reorder: settings
                .max_delay
                .filter(|_| settings.concurrent(inputs.len()))
                .map(|d| Reorder::new(inputs.len(), d.as_nanos() as i64, REORDER_CAP)),
            max_delay: settings.max_delay.unwrap_or_default(),
        };
        for source in 0..inputs.len() {
            merger.expect_history(source as u32);
        }
        merger
    }

    /// A file input is read from its start: until it reaches its end ([`Chunk::caught_up`]) the
    /// reorder buffer holds other inputs back for it (two followed files with hours of history
    /// merge in time order).
    fn expect_history(&mut self, source: u32) {
        if !matches!(
            self.inputs.get(source as usize).map(|i| &i.kind),
            Some(InputKind::File(_))
        ) {
            return;
        }
        let queue = self.first_of_set(source) as usize;
        if let Some(r) = self.reorder.as_mut() {
            r.expect_history(queue);
        }
    }

    /// The last file of its rotated set (the live one), or no file of a set.
    fn last_of_set(&self, source: u32) -> bool {
        let next = source.saturating_add(1);
        (next as usize) >= self.inputs.len() || self.first_of_set(next) != self.first_of_set(source)
    }

    /// A new input (see [`ReaderMsg::NewInput`]): per-input state grows and the sinks learn its
    /// name, all before its first chunk is dispatched.
    fn add_input(
        &mut self,
        source: u32,
        input: Input,
        sinks: &mut [&mut dyn EventSink],
    ) -> io::Result<()> {
        if source as usize != self.inputs.len() {
            return Err(io::Error::other(format!(
                "internal error: new input {source} after {} inputs",
                self.inputs.len()
            )));
        }
        self.inputs_read.push(InputRead::default());
        if let Some(c) = self.correlator.as_mut() {
            c.add_source(input.name.clone());
        }
        for s in sinks.iter_mut() {
            s.input_added(source, &input)?;
        }
        self.inputs.push(Arc::new(input));
        self.expect_history(source);
        Ok(())
    }

    /// Called after every merge and whenever no chunk arrived for a while. In follow mode an
    /// event held for its continuation lines is delivered once it has waited [`LIVE_HOLD`]
    /// (a process writes a traceback together with its first line; a continuation arriving
    /// later becomes an event of its own), and sinks are flushed: output keeps up with busy
    /// inputs as well as quiet ones.
    fn tick(&mut self, sinks: &mut [&mut dyn EventSink]) -> io::Result<()> {
        if self.live {
            self.expire_quiet_requests(sinks)?;
        }
        self.maybe_snapshot(sinks)?;
        // Inputs quiet for max-delay: nothing can overtake what is held any more.
        if self.reorder.as_ref().is_some_and(|r| !r.is_empty())
            && self.last_merge.elapsed() >= self.max_delay
        {
            self.release(true, sinks)?;
        }
        if !self.live {
            return Ok(());
        }
        while let Some(&(id, at)) = self.arrivals.front() {
            if at.elapsed() < LIVE_HOLD {
                break;
            }
            self.due_before = id;
            self.arrivals.pop_front();
        }
        let front = self.held_front;
        self.flush_held(sinks, false)?;
        if self.unflushed || self.held_front != front {
            for s in sinks.iter_mut() {
                s.flush()?;
            }
            self.unflushed = false;
        }
        Ok(())
    }

    /// `--follow`: requests that waited [`crate::request::QUIET`] for a further line are
    /// final ([`RequestMerger::expire_quiet`]: the board and snapshots count them while their
    /// service is quiet). Looked at every [`REQUEST_SCAN`].
    fn expire_quiet_requests(&mut self, sinks: &mut [&mut dyn EventSink]) -> io::Result<()> {
        if self.last_request_scan.elapsed() < REQUEST_SCAN {
            return Ok(());
        }
        self.last_request_scan = Instant::now();
        let (reorder, queued) = (&self.reorder, &self.queued);
        // Whatever had reached the reorder buffer with the request's line has been merged:
        // the request's next line, if it came with it, was seen.
        let settled = |stream: u64, mark: u64| match (reorder, queued.get(&stream)) {
            (Some(r), Some(&(queue, _))) => r.released_first(queue, mark),
            _ => true,
        };
        let finished = &mut self.finished;
        self.requests
            .expire_quiet(Instant::now(), settled, &mut |r| finished.push(r));
        self.deliver_requests(sinks)
    }

    /// Items pushed so far to the reorder queue of `stream`'s input (0 without one): see
    /// [`Arrival::mark`].
    fn queue_mark(&self, stream: u64) -> u64 {
        match (&self.reorder, self.queued.get(&stream)) {
            (Some(r), Some(&(queue, _))) => r.pushed(queue),
            _ => 0,
        }
    }

    fn maybe_snapshot(&mut self, sinks: &mut [&mut dyn EventSink]) -> io::Result<()> {
        let (Some(every), Some(a)) = (self.snapshot_every, &self.analyzer) else {
            return Ok(());
        };
        if self.last_snapshot.elapsed() < every {
            return Ok(());
        }
        self.last_snapshot = Instant::now();
        let mut counts = self.counts.clone();
        counts.dropped_entries = dropped_entries(&self.inputs);
        counts.unparsed_reasons = self
            .reasons
            .iter()
            .map(|(r, n)| (r.as_str().to_string(), *n))
            .collect();
        let mut report = a.snapshot(counts);
        report.requests.span_latency = self.spans.report();
        // Findings and groups so far, as the final report will have them.
        if let Some(f) = &self.findings {
            let sources: Vec<String> = self.inputs.iter().map(|i| i.name.clone()).collect();
            let current = |g: &GroupRef| current_group_name(self.correlator.as_ref(), g);
            report.findings = Some(f.snapshot(&sources, &current));
        }
        report.correlation = self.correlator.as_ref().map(Correlator::snapshot);
        for s in sinks.iter_mut() {
            s.snapshot(&report)?;
        }
        Ok(())
    }

    fn merge(&mut self, mut c: ChunkOut, sinks: &mut [&mut dyn EventSink]) -> io::Result<()> {
        // The files of a rotated set are one timeline, read oldest first by one thread: they
        // share a queue, so the next file's first lines (a traceback's rest, without a time)
        // cannot overtake the previous file's last events.
        let queue = self
            .reorder
            .is_some()
            .then(|| self.first_of_set(c.source) as usize);
        // The live file of a set has read its history (its older members come first).
        let history_read = c.caught_up && self.last_of_set(c.source);
        if let (Some(r), Some(queue)) = (self.reorder.as_mut(), queue) {
            c.resolve();
            // Counts and origins now; items when the reorder buffer releases them.
            for mut item in std::mem::take(&mut c.items) {
                if let Some(FoundAt::Chunk(i)) = item.found {
                    let f = c.found.get_mut(i as usize).map(std::mem::take);
                    item.found = f.map(|f| FoundAt::Held(Box::new(f)));
                }
                let (ts, event) = match &item.kind {
                    ItemKind::Event(e) => (e.ts, true),
                    _ => (None, false),
                };
                r.push(queue, ts, event, item);
            }
            // A stream's name stays until its items here are merged ([`Merger::forget_released`]).
            let pushed = r.pushed(queue);
            for (k, _) in &c.origins {
                self.queued.insert(*k, (queue, pushed));
            }
            self.counts.late_events = r.late;
            if history_read {
                r.caught_up(queue);
            }
            self.merge_now(c, sinks)?;
            return self.release(false, sinks);
        }
        let pause = c.pause;
        self.merge_now(c, sinks)?;
        match pause {
            Some(pause) => self.paused(pause, sinks),
            None => Ok(()),
        }
    }

    /// A live stdin paused ([`Chunk::pause`]) after what was just merged: what is complete is
    /// written out now; once it has been idle, the events held for continuation lines are too
    /// (as a followed run does after [`LIVE_HOLD`]).
    fn paused(&mut self, pause: Pause, sinks: &mut [&mut dyn EventSink]) -> io::Result<()> {
        if pause == Pause::Idle {
            self.due_before = self.due_before.max(self.next_id);
            self.flush_held(sinks, false)?;
        }
        for s in sinks.iter_mut() {
            s.flush()?;
        }
        self.unflushed = false;
        Ok(())
    }

    /// Merge what the reorder buffer releases (everything when `all`).
    fn release(&mut self, all: bool, sinks: &mut [&mut dyn EventSink]) -> io::Result<()> {
        let mut items = Vec::new();
        if let Some(r) = self.reorder.as_mut() {
            r.release(all, &mut items);
        }
        if items.is_empty() {
            return Ok(());
        }
        let last_merge = self.last_merge;
        self.merge_now(
            ChunkOut {
                items,
                ..ChunkOut::default()
            },
            sinks,
        )?;
        // Released items are not new input: quiet time keeps counting.
        self.last_merge = last_merge;
        Ok(())
    }

    fn merge_now(&mut self, c: ChunkOut, sinks: &mut [&mut dyn EventSink]) -> io::Result<()> {
        self.maybe_snapshot(sinks)?;
        self.last_merge = Instant::now();
        self.unflushed = true;
        self.counts.lines += c.lines;
        if let Some(r) = self.inputs_read.get_mut(c.source as usize) {
            r.lines += c.lines;
        }
        self.merging_source = (!self.live && c.lines > 0).then_some(c.source);
        self.counts.joined_partials += c.joined_partials;
        self.counts.zone_skew.merge(c.zone_skew);
        self.counts.truncated += c.truncated;
        self.counts.invalid_utf8 += c.invalid_utf8;
        if c.released_runs > 0 {
            self.released_counts().partial_runs += c.released_runs;
        }
        for (k, o) in c.origins {
            if !self.origins.contains_key(&k) {
                self.link_rotated(k, &o);
                let clock = self.lane(k);
                self.origins.insert(k, Origin { clock, ..o });
            }
        }
        let (mut items, found) = (c.items, c.found);
        self.chunk_arena = c.arena;
        // Items are read in place and their owned parts taken (an item is ~280 bytes).
        for item in &mut items {
            self.item(item, &found);
            self.deliver_requests(sinks)?;
            self.deliver_unparsed(sinks)?;
        }
        recycle::ITEMS.put(items);
        recycle::FOUND.put(found);
        let arena = std::mem::take(&mut self.chunk_arena);
        if arena.capacity() > 0 {
            recycle::ARENAS.put(arena.into_bytes());
        }
        if self.live
            && self
                .arrivals
                .back()
                .is_none_or(|&(id, _)| id < self.next_id)
        {
            self.arrivals.push_back((self.next_id, self.last_merge));
        }
        self.deliver_groups(sinks)?;
        self.flush_held(sinks, false)?;
        self.forget_released();
        Ok(())
    }

    /// Hand the correlation groups closed so far to the sinks (`Settings::keep_groups`).
    fn deliver_groups(&mut self, sinks: &mut [&mut dyn EventSink]) -> io::Result<()> {
        let Some(c) = self.correlator.as_mut() else {
            return Ok(());
        };
        for g in c.take_closed() {
            for s in sinks.iter_mut() {
                s.group(&g)?;
            }
        }
        Ok(())
    }

    /// A batch run's chunk merged in place tells which input its events are from: note the
    /// first stream of an input whose `first` dated event is far behind what that input
    /// already read (pod after pod on one stdin). Followed runs interleave streams: skipped.
    fn note_rewind(&mut self, stream: u64, t: Nanos, first: bool) {
        let Some(source) = self.merging_source else {
            return;
        };
        let i = source as usize;
        if self.input_latest.len() <= i {
            self.input_latest.resize(i + 1, None);
        }
        let latest = self.input_latest[i];
        self.input_latest[i] = Some(latest.map_or(t, |l| l.max(t)));
        let Some(latest) = latest else { return };
        if first
            && latest - t >= REWIND_NOTE_NS
            && !self.counts.rewinds.iter().any(|r| r.source == source)
        {
            let o = self.origins.get(&stream);
            let stream = match o.and_then(|o| o.pod.as_deref()) {
                Some(pod) => match o.and_then(|o| o.container.as_deref()) {
                    Some(c) => format!("pod/{pod}/{c}"),
                    None => format!("pod/{pod}"),
                },
                None => o
                    .and_then(|o| o.stream)
                    .map_or_else(|| "a stream".into(), |s| s.as_str().to_string()),
            };
            self.counts.rewinds.push(crate::analyze::Rewind {
                source,
                stream,
                behind_ns: latest - t,
            });
        }
    }

    /// A new stream: when its file follows another of its rotated set (the input list has
    /// them oldest first) and that file had the same stream, it continues that one's state.
    fn link_rotated(&mut self, key: u64, o: &Origin) {
        let lane = lane_identity(o);
        self.lanes.entry((o.source, lane)).or_insert(key);
        // The newest older member that had this stream (a member may be empty).
        for p in (self.first_of_set(o.source)..o.source).rev() {
            if let Some(&before) = self.lanes.get(&(p, lane)) {
                let root = self.lane(before);
                self.continues.insert(key, root);
                let also = self.linked.entry(root).or_default();
                if !also.contains(&key) {
                    also.push(key);
                }
                return;
            }
        }
    }

    /// The counts of releases, started at the first ([`crate::streams`]).
    fn released_counts(&mut self) -> &mut crate::analyze::ReleasedStreams {
        let cap = self.max_streams as u64;
        self.counts
            .streams_released
            .get_or_insert_with(|| crate::analyze::ReleasedStreams {
                cap,
                ..Default::default()
            })
    }

    /// Release the state of the stream read least recently ([`crate::streams`]), ending what
    /// it holds as the end of input would: its open event is complete, its waiting requests
    /// are final (handed out after the item being merged), its clock goes. Its name stays
    /// until nothing still to be handed out needs it ([`Merger::forget_released`]).
    fn release_oldest(&mut self) {
        let streams = &self.streams;
        let Some(lane) = self
            .recency
            .pop_oldest(|k| streams.get(&k).map(|s| s.stamp))
        else {
            return;
        };
        let Some(state) = self.streams.remove(&lane) else {
            return;
        };
        self.released_counts().streams += 1;
        if let Some(id) = state.open {
            self.close(id);
        }
        let finished = &mut self.finished;
        self.requests.release(lane, &mut |r| finished.push(r));
        for &k in self.linked.get(&lane).into_iter().flatten() {
            self.requests.release(k, &mut |r| finished.push(r));
        }
        self.spans.release(lane);
        if let Some(c) = self.correlator.as_mut() {
            c.forget_clock(lane);
        }
        self.released_at.insert(lane, self.next_id);
        self.releasing.push_back((lane, self.next_id));
        self.sink_releases.push_back((self.next_id, lane));
    }

    /// Drop the names of released streams once nothing still to be handed out names them:
    /// their events were handed out (`held`), their items left the reorder buffer, and they
    /// were not read again. Runs after a chunk is merged: the chunk's streams came with their
    /// names ([`ChunkOut::origins`]), and one released within it may be read again further on.
    fn forget_released(&mut self) {
        while let Some(&(lane, n)) = self.releasing.front() {
            if self.hold && self.held_front < n {
                break;
            }
            self.releasing.pop_front();
            if self.released_at.get(&lane) != Some(&n) {
                // Released again since: that entry decides.
                continue;
            }
            self.released_at.remove(&lane);
            if self.streams.contains_key(&lane) {
                // Read again: its names are in use.
                continue;
            }
            let mut keys = self.linked.remove(&lane).unwrap_or_default();
            keys.push(lane);
            let waiting = |k: &u64| {
                self.queued.get(k).is_some_and(|&(queue, pushed)| {
                    self.reorder
                        .as_ref()
                        .is_some_and(|r| !r.released_first(queue, pushed))
                })
            };
            if keys.iter().any(waiting) {
                // Items of it are still in the reorder buffer: merged, they start it again.
                keys.pop();
                if !keys.is_empty() {
                    self.linked.insert(lane, keys);
                }
                continue;
            }
            for k in keys {
                self.queued.remove(&k);
                self.continues.remove(&k);
                if let Some(o) = self.origins.remove(&k) {
                    let at = (o.source, lane_identity(&o));
                    if self.lanes.get(&at) == Some(&k) {
                        self.lanes.remove(&at);
                    }
                }
            }
        }
    }

    /// Tell the sinks of the releases that came before the next event to hand out (all of them
    /// when events are not held).
    fn tell_releases(&mut self, sinks: &mut [&mut dyn EventSink]) {
        while let Some(&(n, clock)) = self.sink_releases.front() {
            if self.hold && n > self.held_front {
                break;
            }
            self.sink_releases.pop_front();
            for s in sinks.iter_mut() {
                s.stream_released(clock);
            }
        }
    }

    /// The first (oldest) input of the rotated set `source` belongs to (itself if none): the
    /// input list has a set's files together, oldest first.
    fn first_of_set(&self, source: u32) -> u32 {
        let set = |source: u32| match self.inputs.get(source as usize).map(|i| &i.kind) {
            Some(InputKind::File(p)) => Some(files::rotation_set(p)),
            _ => None,
        };
        let Some(this) = set(source) else {
            return source;
        };
        let mut first = source;
        while let Some(p) = first.checked_sub(1)
            && set(p).as_ref() == Some(&this)
        {
            first = p;
        }
        first
    }

    /// The stream whose cross-line state `stream` uses (itself unless it continues a rotated
    /// file's).
    fn lane(&self, stream: u64) -> u64 {
        // Most runs have no rotated set: no lookup per line then.
        if self.continues.is_empty() {
            return stream;
        }
        self.continues.get(&stream).copied().unwrap_or(stream)
    }

    fn item(&mut self, item: &mut Item, chunk_found: &[Found]) {
        let lane = self.lane(item.stream);
        self.stamp += 1;
        let stamp = self.stamp;
        // A stream without state starts one: at the cap, the least recently read stream
        // releases its own first (no extra look-up below the cap).
        if self.streams.len() >= self.max_streams && !self.streams.contains_key(&lane) {
            self.release_oldest();
        }
        let recency = &mut self.recency;
        let state = self.streams.entry(lane).or_insert_with(|| {
            recency.push(lane, stamp);
            StreamState::default()
        });
        state.stamp = stamp;
        match &mut item.kind {
            ItemKind::Blank => {
                // A blank line belongs to a traceback (between chained exceptions) or a panic;
                // after a one-line event (a JSON line, a log line with no traceback) it is
                // nobody's.
                let in_block = match state.mode {
                    Multiline::None => false,
                    Multiline::Python => state.in_traceback,
                    Multiline::RustPanic => true,
                };
                match state.open {
                    Some(id) if in_block => {
                        self.counts.continuation_lines += 1;
                        self.append(id, "", false);
                    }
                    _ => {
                        state.head = Some(Err(Unparsed::Blank));
                        state.head_shown = false;
                        self.unparsed(Unparsed::Blank);
                    }
                }
            }
            ItemKind::Unparsed(r, text) => {
                state.head = Some(Err(*r));
                // Shown as an event without a time would be (`events --unparsed`).
                let shown = item.pass
                    && !(item.untimed_range
                        && state.last_ts.is_some_and(|t| !self.range.in_range(t)));
                state.head_shown = shown && text.is_some();
                self.unparsed(*r);
                if shown && let Some(text) = text.take() {
                    self.shown_unparsed = Some((item.line, item.stream, *r, text));
                }
            }
            // Loki gave the entry's boundary: its further lines belong to its first line's
            // event, whatever they look like (counted as continuation lines, as in a file).
            ItemKind::Inner(text) => match state.head {
                Some(Ok(id)) => {
                    self.counts.continuation_lines += 1;
                    self.append(id, text, false);
                    self.continuation_rules(item.stream, item.line, text);
                }
                // The entry's first line is no event: neither are the others.
                Some(Err(r)) => {
                    if state.head_shown {
                        self.shown_unparsed = Some((item.line, item.stream, r, text.clone()));
                    }
                    self.unparsed(r);
                }
                // Cannot happen (the first line comes first); counted all the same.
                None => self.unparsed(Unparsed::Blank),
            },
            ItemKind::Event(ev) => {
                let found = match &item.found {
                    Some(FoundAt::Chunk(i)) => chunk_found.get(*i as usize),
                    Some(FoundAt::Held(f)) => Some(&**f),
                    None => None,
                };
                let raw = ev
                    .raw
                    .as_deref()
                    .or(ev.full.as_deref().map(PackedEvent::line));
                // A Rust panic's message runs to its `note:` line: a line there that another
                // service's format claims (`CRITICAL: …`, uvicorn's prefix) is the panic's text.
                let panic_text =
                    ev.untimed && state.mode == Multiline::RustPanic && ev.service != state.service;
                if (ev.weak || panic_text)
                    && let (Some(id), Some(text)) = (state.open, raw)
                {
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
                        self.append(id, text, ev.cut);
                        self.continuation_rules(item.stream, item.line, text);
                        return;
                    }
                }
                let (mut pass, mut recheck) = (item.pass, item.recheck);
                if item.untimed_range
                    && (pass || recheck)
                    && state.last_ts.is_some_and(|t| !self.range.in_range(t))
                {
                    (pass, recheck) = (false, false);
                    // Only the request lines of events that pass are merged into requests.
                    ev.request = None;
                }
                if ev.ts.is_some() {
                    state.last_ts = ev.ts;
                }
                self.new_event(ev, item.line, item.stream, (pass, recheck), found);
            }
        }
    }

    fn unparsed(&mut self, r: Unparsed) {
        self.counts.unparsed_lines += 1;
        *self.reasons.entry(r).or_default() += 1;
    }

    /// Test the rules that read `exception` on a continuation line of the open event.
    fn continuation_rules(&mut self, stream: u64, line: u64, text: &str) {
        let lane = self.lane(stream);
        let Some(state) = self.streams.get_mut(&lane) else {
            return;
        };
        let state = &mut state.analysis;
        if let Some((cause, kind)) = &state.cause {
            note_cause(cause, *kind, text);
        }
        let (Some(rules), Some(findings)) = (self.rules, self.findings.as_mut()) else {
            return;
        };
        if rules.continuation_rules().is_empty() {
            return;
        }
        let Some(parent) = &state.parent else { return };
        self.hits.clear();
        rules.match_continuation(
            &ContinuationSubject {
                parent,
                line: text,
                reg: self.reg,
            },
            &mut self.hits,
        );
        if self.hits.is_empty() {
            return;
        }
        let source = self.origins.get(&stream).map_or(0, |o| o.source);
        let pod = pod_of(&self.origins, stream);
        // The evidence is the event, as for a JSON event whose `exception` matched: its line
        // and message, and its cause (a traceback's last exception line, a panic's message),
        // which this line and the next ones fill in. Without the event's message (an event
        // below `warn`, see `find`), the matching line stands for it.
        let (at, message) = match &state.at {
            Some((at, message)) => (*at, message.clone()),
            None => (line, Rc::from(clip(text))),
        };
        if state.cause.is_none() && state.at.is_some() {
            let cell: Cause = Rc::default();
            note_cause(&cell, CauseKind::Traceback, text);
            state.cause = Some((cell, CauseKind::Traceback));
        }
        let cause = state.cause.as_ref().map(|c| c.0.clone());
        for hit in &self.hits {
            if state.rules.contains(&hit.rule) {
                continue;
            }
            state.rules.push(hit.rule);
            findings.hit(
                hit,
                Sighting {
                    ts: parent.ts,
                    source,
                    line: at,
                    pod: pod.clone(),
                    message: message.clone(),
                    group: state.group.clone(),
                    cause: cause.clone(),
                },
            );
        }
    }

    /// Correlation and rule matches of a new event that passed the filters: what its
    /// continuation lines need of them.
    fn analyze_event(
        &mut self,
        ev: &EventItem,
        line: u64,
        stream: u64,
        found: Option<&Found>,
    ) -> OpenAnalysis {
        let (source, clock) = self
            .origins
            .get(&stream)
            .map_or((0, stream), |o| (o.source, o.clock));
        let mut group = None;
        let mut hit_rules = Vec::new();
        let mut cause = None;
        let mut parent_at = None;
        if let Some(found) = found {
            if let (Some(c), Some(ids)) = (self.correlator.as_mut(), &found.ids) {
                group = c.observe(&Observation {
                    ts: ev.ts,
                    source,
                    clock,
                    service: ev.service,
                    error: ev.level >= Some(Level::Error),
                    ids,
                    arena: Some(&self.chunk_arena),
                    request: None,
                    joins_only: false,
                    pin: None,
                });
            }
            if let Some(findings) = self.findings.as_mut()
                && !found.hits.is_empty()
            {
                let message: Rc<str> = Rc::from(found.message.as_deref().unwrap_or(""));
                parent_at = Some((line, message.clone()));
                let pod = pod_of(&self.origins, stream);
                let cell: Cause = Rc::new(RefCell::new(found.cause.clone()));
                cause = Some((cell.clone(), cause_kind(ev.multiline)));
                for hit in &found.hits {
                    hit_rules.push(hit.rule);
                    findings.hit(
                        hit,
                        Sighting {
                            ts: ev.ts,
                            source,
                            line,
                            pod: pod.clone(),
                            message: message.clone(),
                            group: group.clone(),
                            cause: Some(cell.clone()),
                        },
                    );
                }
            }
        }
        let wants_parent = self
            .rules
            .is_some_and(|r| !r.continuation_rules().is_empty());
        if wants_parent && parent_at.is_none() {
            parent_at = found
                .and_then(|f| f.message.as_deref())
                .map(|m| (line, Rc::from(m)));
            // Its cause, should a continuation line match: a panic's is its first line (taken
            // as the lines arrive; panics are rare). A traceback's is its last exception line,
            // at or after the line that matches: that match starts it (`continuation_rules`).
            if parent_at.is_some() && ev.multiline == Multiline::RustPanic {
                cause = Some((Rc::default(), CauseKind::Panic));
            }
        }
        OpenAnalysis {
            parent: wants_parent.then_some(Parent {
                ts: ev.ts,
                level: ev.level,
                service: ev.service,
                format: ev.format,
                status: ev.status,
                duration_ms: ev.duration_ms,
            }),
            rules: hit_rules,
            at: parent_at,
            group,
            cause,
        }
    }

    fn new_event(
        &mut self,
        ev: &mut EventItem,
        line: u64,
        stream: u64,
        (pass, recheck): (bool, bool),
        found: Option<&Found>,
    ) {
        self.counts.events += 1;
        let id = self.next_id;
        self.next_id += 1;
        // Analyzed first: the stream's state is then looked up once.
        let analysis = (pass && (self.rules.is_some() || self.correlator.is_some()))
            .then(|| self.analyze_event(ev, line, stream, found));
        let lane = self.lane(stream);
        let state = self.streams.entry(lane).or_default();
        let first_dated = ev.ts.is_some() && !std::mem::replace(&mut state.dated, true);
        let previous = state.open.replace(id);
        state.head = Some(Ok(id));
        state.mode = ev.multiline;
        state.in_traceback = ev.opens_traceback;
        state.service = ev.service;
        match analysis {
            Some(a) => state.analysis.set(a),
            None => state.analysis.clear(),
        }
        if let Some(p) = previous {
            self.close(p);
        }
        if !pass {
            self.counts.filtered_out += 1;
        }
        if let Some(t) = ev.ts {
            let r = self.counts.unfiltered_range.get_or_insert((t, t));
            *r = (r.0.min(t), r.1.max(t));
            self.note_rewind(stream, t, first_dated);
        }
        // Span lines are paired whether or not they passed the filters, and request lines
        // followed: a `Request completed` line kept by `--where 'status >= 500'` takes the
        // duration of its span filtered out ([`crate::spans`]).
        let mut timed = None;
        let mut duration_ms = ev.duration_ms;
        if let Some(span) = ev.span {
            let own = ev.duration_ms.is_some();
            match (span.mark, ev.ts) {
                (Some(mark), Some(ts)) if mark.edge == Edge::Start => {
                    self.spans.start(lane, mark.name, ts);
                }
                (Some(mark), Some(ts)) => {
                    let hand = match span.request {
                        _ if own => Hand::Nothing,
                        Some(_) if pass => Hand::Take,
                        Some((_, true)) => Hand::Nothing,
                        Some((kind, false)) => Hand::Wait {
                            route: span.route,
                            after: Some(kind),
                        },
                        None => Hand::Wait {
                            route: span.route,
                            after: None,
                        },
                    };
                    timed = self.spans.end(lane, mark.name, ts, hand).filter(|_| !own);
                    if hand == Hand::Take {
                        duration_ms = timed;
                    }
                }
                (Some(_), None) => {}
                (None, _) => {
                    if let Some((kind, last)) = span.request {
                        let line = crate::spans::RequestLine {
                            kind,
                            last,
                            status: ev.status,
                            pass,
                            own,
                        };
                        duration_ms =
                            duration_ms.or(self.spans.line(lane, span.route, ev.ts, line));
                    }
                }
            }
        }
        if let Some((kind, fields)) = ev.request.take() {
            // Its event was correlated just above (`analyze_event`).
            let grouped =
                pass && self.correlator.is_some() && found.is_some_and(|f| f.ids.is_some());
            // What the request line says about its request.
            let head = Request {
                service: ev.service,
                ts: ev.ts,
                status: ev.status,
                duration_ms,
                at: At {
                    source: self.origins.get(&stream).map_or(0, |o| o.source),
                    line,
                    stream,
                },
                grouped,
                ..Request::default()
            };
            let obs = Observed {
                head,
                fields,
                arena: &self.chunk_arena,
            };
            let arrived = self.live.then(|| Arrival {
                at: self.last_merge,
                mark: self.queue_mark(stream),
            });
            let finished = &mut self.finished;
            let waiting = self
                .requests
                .observe(obs, kind, arrived, &mut |r| finished.push(r));
            // A request that waits for its other lines holds its group open until it is
            // delivered ([`crate::correlate::Pin`]).
            if grouped
                && let Some(r) = waiting
                && r.pin.is_none()
                && let Some(c) = self.correlator.as_mut()
            {
                r.pin = c.pin_last();
            }
        }
        if pass && let Some(a) = &mut self.analyzer {
            a.event(ev.service, ev.level, ev.ts);
            if ev.level >= Some(Level::Error) {
                a.error_kind(ev.service, ev.level, ev.ts, ev.error_signature.take());
            }
        }
        if self.hold {
            let mut full = ev.full.take();
            // The span's end shows the duration its StructuredFormatter twin prints
            // (`events`, events.parquet).
            if let (Some(ms), Some(p)) = (timed, full.as_mut()) {
                p.set_duration_ms(ms);
            }
            self.held.push_back(Pending {
                ev: full,
                line,
                stream,
                pass,
                recheck,
                exception_grew: false,
                exception_cut: false,
                cut: ev.cut,
                timed: timed.is_some(),
                closed: false,
            });
        }
    }

    /// Hand the line just merged to the sinks when it is no event ([`EventSink::unparsed`]).
    fn deliver_unparsed(&mut self, sinks: &mut [&mut dyn EventSink]) -> io::Result<()> {
        let Some((line, stream, reason, text)) = self.shown_unparsed.take() else {
            return Ok(());
        };
        let unknown = Origin::default();
        let origin = self.origins.get(&stream).unwrap_or(&unknown);
        let shown = UnparsedLine {
            source: self
                .inputs
                .get(origin.source as usize)
                .map_or("", |i| i.name.as_str()),
            line,
            origin,
            reason,
            text: &text,
        };
        for s in sinks.iter_mut() {
            s.unparsed(&shown)?;
        }
        Ok(())
    }

    /// Hand finished requests to the analyzer and the sinks.
    fn deliver_requests(&mut self, sinks: &mut [&mut dyn EventSink]) -> io::Result<()> {
        if self.finished.is_empty() {
            return Ok(());
        }
        // This runs after every event: the emptied vector goes back with its capacity (taken
        // and dropped, it was allocated again for nearly every request).
        let mut finished = std::mem::take(&mut self.finished);
        let delivered = self.deliver_each(finished.drain(..), sinks);
        self.finished = finished;
        delivered
    }

    /// [`Merger::deliver_requests`] for each of `finished`, in order.
    fn deliver_each(
        &mut self,
        finished: impl Iterator<Item = Request>,
        sinks: &mut [&mut dyn EventSink],
    ) -> io::Result<()> {
        let unknown = Origin::default();
        for r in finished {
            if self.correlator.is_some() || self.findings.is_some() {
                self.analyze_request(&r);
            }
            // Borrowed: most requests need no copy of where they came from.
            let origin = self.origins.get(&r.at.stream).unwrap_or(&unknown);
            for s in sinks.iter_mut() {
                s.request(&r, origin)?;
            }
            if let Some(a) = &mut self.analyzer {
                let inputs = &self.inputs;
                a.request(r, |_| SlowOrigin {
                    source: inputs
                        .get(origin.source as usize)
                        .map_or_else(String::new, |i| i.name.clone()),
                    namespace: origin.namespace.clone(),
                    pod: origin.pod.clone(),
                    container: origin.container.clone(),
                });
            }
        }
        Ok(())
    }

    /// Correlation and request rules of a merged request.
    fn analyze_request(&mut self, r: &Request) {
        let label = || request_label(r);
        let mut group = None;
        if let Some(c) = self.correlator.as_mut() {
            // The values go to a buffer kept across requests: no allocation per request.
            let buf = &mut self.request_ids_buf;
            buf.clear();
            if request_has_links(r, self.reg) {
                let ids = request_ids_in(r, self.reg, Some(buf));
                group = c.observe(&Observation {
                    ts: r.ts,
                    source: r.at.source,
                    clock: self
                        .origins
                        .get(&r.at.stream)
                        .map_or(r.at.stream, |o| o.clock),
                    service: r.service,
                    error: r.status.is_some_and(|s| s >= 500),
                    ids: &ids,
                    arena: Some(buf),
                    request: Some((r.duration_ms, &label)),
                    joins_only: r.grouped,
                    pin: r.pin,
                });
            }
            if let Some(pin) = r.pin {
                c.unpin(pin);
            }
        }
        if let Some(f) = self.findings.as_mut() {
            let origins = &self.origins;
            f.request(r, self.reg, || Sighting {
                ts: r.ts,
                source: r.at.source,
                line: r.at.line,
                pod: pod_of(origins, r.at.stream),
                message: Rc::from(request_summary(r).as_str()),
                group: group.clone(),
                cause: None,
            });
        }
    }

    fn held_mut(&mut self, id: u64) -> Option<&mut Pending> {
        if !self.hold {
            return None;
        }
        let idx = id.checked_sub(self.held_front)?;
        self.held.get_mut(usize::try_from(idx).ok()?)
    }

    /// Attach a continuation line to the event's exception text (`line_cut`: the line was
    /// cut at `--max-line-bytes`).
    fn append(&mut self, id: u64, text: &str, line_cut: bool) {
        let cap = self.max_event_bytes;
        let mut cut = false;
        if let Some(p) = self.held_mut(id)
            && let Some(ev) = &mut p.ev
        {
            p.cut |= line_cut;
            // A traceback of millions of frames would be held whole: the event is capped like
            // a joined record, its further lines still counted as continuations.
            match ev.exception_len() {
                n if n < cap => ev.append_exception(text),
                _ if !p.exception_cut => {
                    ev.append_exception(TRACEBACK_CUT);
                    p.exception_cut = true;
                    p.cut = true;
                    cut = true;
                }
                _ => {}
            }
            p.exception_grew = true;
        }
        if cut {
            self.counts.truncated += 1;
        }
    }

    fn close(&mut self, id: u64) {
        if let Some(p) = self.held_mut(id) {
            p.closed = true;
        }
    }

    /// Hand closed events (all of them at the end) to the sinks, in input order.
    fn flush_held(&mut self, sinks: &mut [&mut dyn EventSink], all: bool) -> io::Result<()> {
        let unknown = Origin::default();
        loop {
            // Releases before the next event (all of them when nothing is held).
            self.tell_releases(sinks);
            let Some(front) = self.held.front() else {
                break;
            };
            // Past `MAX_HELD` the oldest event goes out even if it may still get continuation
            // lines; it stays its stream's open event, as for `analyze`, which holds nothing:
            // its further lines are counted as its continuation lines (and its rules see
            // them), not shown.
            let over = !(all || front.closed || self.held_front < self.due_before);
            if over && self.held.len() <= MAX_HELD {
                break;
            }
            let Some(mut p) = self.held.pop_front() else {
                break;
            };
            let id = self.held_front;
            self.held_front += 1;
            let lane = self.lane(p.stream);
            if let Some(state) = self.streams.get_mut(&lane)
                && state.open == Some(id)
            {
                if over {
                    // Its traceback or panic may go on: what is shown may not be all of it.
                    p.cut |= match state.mode {
                        Multiline::None => false,
                        Multiline::Python => state.in_traceback,
                        Multiline::RustPanic => true,
                    };
                } else {
                    state.open = None;
                }
            }
            let Some(packed) = &p.ev else { continue };
            let ev = &packed.event();
            // Borrowed, not cloned: an origin's names would cost allocations per event.
            let origin = self.origins.get(&p.stream).unwrap_or(&unknown);
            let source = self
                .inputs
                .get(origin.source as usize)
                .map_or("", |i| i.name.as_str());
            let view = View {
                ev,
                reg: self.reg,
                source,
                line: p.line,
                origin,
                raw: self.keep_raw.then(|| packed.line()),
                cut: p.cut,
            };
            let mut pass = p.pass;
            if p.recheck
                && (p.exception_grew || p.timed)
                && let Some(expr) = &self.recheck_expr
            {
                pass = expr.matches(&view);
                match (p.pass, pass) {
                    (false, true) => self.counts.filtered_out -= 1,
                    (true, false) => self.counts.filtered_out += 1,
                    _ => {}
                }
            }
            for s in sinks.iter_mut() {
                s.event(&view, pass)?;
            }
        }
        Ok(())
    }

    fn finish(mut self, sinks: &mut [&mut dyn EventSink]) -> io::Result<Outcome> {
        self.release(true, sinks)?;
        self.counts.dropped_entries = dropped_entries(&self.inputs);
        let finished = &mut self.finished;
        self.requests.finish(&mut |r| finished.push(r));
        self.spans.finish();
        self.deliver_requests(sinks)?;
        self.flush_held(sinks, true)?;
        if let Some(c) = self.correlator.as_mut() {
            if self.interrupted {
                c.close_interrupted();
            } else {
                c.close_all();
            }
        }
        self.deliver_groups(sinks)?;
        for s in sinks.iter_mut() {
            s.inputs_read(&self.inputs_read)?;
        }
        self.counts.unparsed_reasons = self
            .reasons
            .iter()
            .map(|(r, n)| (r.as_str().to_string(), *n))
            .collect();
        let sources: Vec<String> = self.inputs.iter().map(|i| i.name.clone()).collect();
        let current = |g: &GroupRef| current_group_name(self.correlator.as_ref(), g);
        let findings = self.findings.take().map(|f| f.finish(&sources, &current));
        let correlation = self.correlator.take().map(Correlator::finish);
        Ok(match self.analyzer.take() {
            Some(a) => {
                let mut report = a.report(self.counts);
                report.requests.span_latency = self.spans.report();
                report.findings = findings;
                report.correlation = correlation;
                Outcome::Report(Box::new(report))
            }
            None => Outcome::Events(Box::new(self.counts)),
        })
    }
}

/// The name that now stands for a correlation group named `name` when a rule match was seen
/// (groups merge, and are renamed after their earliest event).
fn current_group_name(correlator: Option<&Correlator>, (id, name): &GroupRef) -> Rc<str> {
    correlator.map_or_else(|| name.clone(), |c| c.current_name(*id, name))
}

/// Loki tail entries the servers reported as dropped, over all inputs.
fn dropped_entries(inputs: &[Arc<Input>]) -> u64 {
    inputs
        .iter()
        .map(|i| match &i.kind {
            InputKind::Loki(l) => l.dropped(),
            _ => 0,
        })
        .sum()
}

/// `GET /path → 500 (12 ms)`: a request as evidence.
pub fn request_summary(r: &Request) -> String {
    use std::fmt::Write as _;
    let mut s = request_label(r);
    if let Some(d) = r.duration_ms {
        let _ = write!(s, " ({d} ms)");
    }
    s
}

/// The pod of a stream, for evidence (allocated only for a rule match).
fn pod_of(origins: &StreamMap<Origin>, stream: u64) -> Option<Rc<str>> {
    origins
        .get(&stream)
        .and_then(|o| o.pod.as_deref())
        .map(Rc::from)
}

/// `GET /x → 500`: a request without its latency — what a correlation group keeps of its
/// slowest request (the report prints the latency next to it). No float formatting: this runs
/// for every request that becomes its group's slowest. What the lines did not log is said so
/// (tower-http's `response failed` logs neither method nor path):
/// `(method and path not logged) → 500`.
pub fn request_label(r: &Request) -> String {
    let method = r.method();
    let path = r.path().or(r.route());
    let mut s = String::with_capacity(method.map_or(0, str::len) + path.map_or(0, str::len) + 40);
    match (method, path) {
        (Some(m), Some(p)) => {
            s.push_str(m);
            s.push(' ');
            s.push_str(p);
        }
        (Some(m), None) => {
            s.push_str(m);
            s.push_str(" (path not logged)");
        }
        (None, Some(p)) => s.push_str(p),
        (None, None) => s.push_str("(method and path not logged)"),
    }
    if let Some(st) = r.status {
        s.push_str(" → ");
        crate::push_decimal(&mut s, usize::from(st));
    }
    s
}

/// The identifiers of a merged request, split by the service's link/label kinds.
pub fn request_ids(r: &Request, reg: &Registry) -> Ids {
    request_ids_in(r, reg, None)
}

/// [`request_ids`], the values written to `arena` when given ([`Ids::new_in`]).
fn request_ids_in(r: &Request, reg: &Registry, arena: Option<&mut String>) -> Ids {
    let kinds = reg.id_kinds(r.service);
    let values = request_id_values(r);
    let kind = |slot: &Slot| {
        if kinds.link.contains(slot) {
            Some(true)
        } else {
            kinds.label.contains(slot).then_some(false)
        }
    };
    let ordered = values.iter().filter_map(|(slot, v)| {
        let v = v.filter(|v| !v.trim().is_empty())?;
        Some((*slot, kind(slot)?, v))
    });
    match arena {
        Some(arena) => Ids::new_in(arena, ordered),
        None => Ids::new(ordered),
    }
}

/// The identifier fields of a request, in the order its [`Ids`] list them.
fn request_id_values(r: &Request) -> [(Slot, Option<&str>); 4] {
    [
        (Slot::TraceId, r.trace_id()),
        (Slot::RequestId, r.request_id()),
        (Slot::AgentId, r.agent_id()),
        (Slot::ClientIp, r.client_ip()),
    ]
}

/// Whether [`request_ids_in`] would give the request a linking identifier: most requests have
/// none, and are then not correlated (checked without building their set).
fn request_has_links(r: &Request, reg: &Registry) -> bool {
    let link = &reg.id_kinds(r.service).link;
    request_id_values(r)
        .iter()
        .any(|(slot, v)| v.is_some_and(|v| !v.trim().is_empty()) && link.contains(slot))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;
    use proptest::prelude::*;

    /// A worker lowers its own priority only: the thread that merges keeps its own.
    #[cfg(target_os = "linux")]
    #[test]
    fn workers_yield_to_the_merger_and_it_keeps_its_priority() {
        use rustix::process::getpriority_process;
        let before = getpriority_process(None).unwrap();
        let worker = std::thread::spawn(|| {
            yield_to_merger();
            getpriority_process(None).unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(worker, (before + WORKER_NICE).min(19));
        assert_eq!(getpriority_process(None).unwrap(), before);
    }

    #[test]
    fn the_last_timeline_starts_at_its_rotated_set() {
        let files = |names: &[&str]| -> Vec<Input> {
            names
                .iter()
                .map(|n| Input {
                    name: (*n).to_string(),
                    kind: InputKind::File(PathBuf::from("/var/log").join(n)),
                    meta: PathMeta::default(),
                    size: None,
                })
                .collect()
        };
        let stdin = Input {
            name: "-".into(),
            kind: InputKind::Stdin,
            meta: PathMeta::default(),
            size: None,
        };
        assert_eq!(last_timeline_start(&[], false), 0);
        assert_eq!(last_timeline_start(std::slice::from_ref(&stdin), false), 0);
        assert_eq!(last_timeline_start(&files(&["a.log", "b.log"]), false), 1);
        let rotated = files(&["a.log", "app.log.2.gz", "app.log.1", "app.log"]);
        assert_eq!(last_timeline_start(&rotated, false), 1);
        assert_eq!(last_timeline_start(&rotated, true), 0);
        let mut mixed = files(&["app.log.1", "app.log"]);
        mixed.push(stdin);
        assert_eq!(last_timeline_start(&mixed, false), 2);
        // `kubectl logs` prints pod after pod: nothing closes while it is read.
        let k8s = Input {
            name: "k8s://prod/?selector=app%3Dapi".into(),
            kind: InputKind::Kubectl {
                input: crate::source::kubectl::K8sInput {
                    namespace: Some("prod".into()),
                    target: crate::source::kubectl::Target::Selector("app=api".into()),
                },
                opts: crate::source::kubectl::KubectlOpts::default(),
            },
            meta: PathMeta::default(),
            size: None,
        };
        mixed.push(k8s);
        assert_eq!(last_timeline_start(&mixed, false), 4);
        assert_eq!(last_timeline_start(&mixed, true), 0);
    }

    /// A file still being written, read without `-f`: at its end the writer was in the middle
    /// of a line. If the line's rest is there by the time the end is reached, it is read —
    /// nothing after its newline — instead of a piece of it being counted as a line.
    #[test]
    fn a_line_being_written_at_the_end_is_read_to_its_newline() {
        /// Hands out `parts` in turn; an empty part is the end of the file as it was then.
        struct Growing {
            parts: std::collections::VecDeque<Vec<u8>>,
            served: Arc<Mutex<usize>>,
        }
        impl Read for Growing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let Some(part) = self.parts.front_mut() else {
                    return Ok(0);
                };
                let n = part.len().min(buf.len());
                buf[..n].copy_from_slice(&part[..n]);
                part.drain(..n);
                if part.is_empty() {
                    self.parts.pop_front();
                }
                *self.served.lock().expect("lock") += n;
                Ok(n)
            }
        }
        let settings = Settings::new(Mode::Events);
        let input = Input {
            name: "app.log".into(),
            kind: InputKind::Memory(Arc::from(&b""[..])),
            meta: PathMeta::default(),
            size: None,
        };
        for (finish_line, want) in [(true, &b"a\nb\nhalf done\n"[..]), (false, b"a\nb\nhal\n")] {
            let (tx, rx) = sync_channel(64);
            let seq = Mutex::new(0);
            let served = Arc::new(Mutex::new(0));
            let reader = Growing {
                parts: [&b"a\nb\nhal"[..], b"", b"f done\nnext line\n"]
                    .into_iter()
                    .map(<[u8]>::to_vec)
                    .collect(),
                served: Arc::clone(&served),
            };
            let reading = Reading {
                settings: &settings,
                tx: &tx,
                seq: &seq,
                finish_line,
            };
            let member = Member::new(0, Handoff::default(), None);
            let done = read_one(member, Box::new(reader), &input, &reading, &mut None);
            assert!(matches!(done, Ok((true, _))));
            drop(tx);
            let mut got = Vec::new();
            for msg in rx {
                if let ReaderMsg::Chunk(c) = msg {
                    got.extend_from_slice(&c.data);
                }
            }
            assert_eq!(String::from_utf8_lossy(&got), String::from_utf8_lossy(want));
            let read = *served.lock().expect("lock");
            let upto = if finish_line { 14 } else { 7 };
            assert_eq!(read, upto, "nothing is read past the line's newline");
        }
    }

    /// Regression: per-stream state was never freed (a million one-line pods took ~1.7 GB).
    /// Thousands of pods, each leaving an open traceback, a waiting request and a correlation
    /// clock: while they are merged, every per-stream map stays within the cap (names a chunk
    /// longer), whether events are held for a sink or not.
    #[test]
    fn per_stream_state_stays_within_the_cap() {
        const CAP: usize = 64;
        let mut text = String::new();
        for i in 0..3000 {
            let p = format!("[pod/web-{i}/app] ");
            let t = format!("07:{:02}:{:02}", (i / 60) % 60, i % 60);
            text += &format!(
                "{p}2026-11-22 {t},000 - skillmeat.observability.tracing - INFO - Span completed: GET /health [success]\n\
                 {p}2026-11-22 {t},001 - skillmeat.observability.tracing - ERROR - Span failed: GET /x\n\
                 {p}Traceback (most recent call last):\n\
                 {p}ValueError: boom\n\
                 {p}{{\"timestamp\":\"2026-11-22T{t}.002Z\",\"level\":\"INFO\",\"fields\":{{\"message\":\"m\"}},\"target\":\"t\",\"trace_id\":\"t{i}\"}}\n"
            );
        }
        let reg = Registry::load(None).expect("registry");
        let rules = RuleSet::load(None).expect("rules");
        let analysis = Analysis {
            rules: Some(&rules),
            correlation: Some(correlate::CorrelationSettings::default()),
        };
        let input = Input {
            name: "mem".into(),
            kind: InputKind::Memory(Arc::from(text.as_bytes())),
            meta: PathMeta::default(),
            size: None,
        };
        for hold in [false, true] {
            let mode = if hold {
                Mode::Events
            } else {
                Mode::Analyze {
                    bucket_ns: 60_000_000_000,
                    slow_ms: 5000.0,
                }
            };
            let settings = Settings {
                max_streams: CAP,
                chunk_bytes: 4096,
                ..Settings::new(mode)
            };
            let inputs = std::slice::from_ref(&input);
            let mut merger = Merger::new(inputs, &reg, &settings, hold, analysis);
            let mut out = Vec::new();
            let mut sink = crate::output::NdjsonSink::new(&mut out);
            let mut sinks: Vec<&mut dyn EventSink> = Vec::new();
            if hold {
                sinks.push(&mut sink);
            }
            let mut chunker = Chunker::new(0, 1 << 20, 4096, ChunkBytes::default()).max_runs(CAP);
            let mut scratch = reg.scratch();
            let mut seq = 0;
            let mut most = 0;
            for (i, piece) in text.as_bytes().chunks(1000).enumerate() {
                chunker.read_from(&mut &piece[..]).expect("read");
                let last = (i + 1) * 1000 >= text.len();
                if !(chunker.ready() || last) {
                    continue;
                }
                let Some(chunk) = chunker.take(seq, last) else {
                    continue;
                };
                seq += 1;
                let c = process_chunk(&chunk, &input, &reg, &settings, analysis, &mut scratch);
                merger.merge(c, &mut sinks).expect("merge");
                let names = merger.origins.len().max(merger.lanes.len());
                let clocks = merger
                    .correlator
                    .as_ref()
                    .map_or(0, Correlator::stream_clocks);
                assert!(
                    merger.streams.len() <= CAP,
                    "{hold}: {}",
                    merger.streams.len()
                );
                assert!(merger.requests.streams() <= CAP, "{hold}");
                assert!(clocks <= CAP, "{hold}: {clocks}");
                // A chunk of 4 KiB holds the lines of a few dozen pods.
                assert!(names <= CAP + 64, "{hold}: {names}");
                most = most.max(merger.streams.len());
            }
            assert_eq!(most, CAP);
            let counts = match merger.finish(&mut sinks).expect("finish") {
                Outcome::Events(c) => *c,
                Outcome::Report(r) => r.input,
            };
            assert_eq!(
                counts.streams_released.map(|r| r.streams),
                Some(3000 - CAP as u64)
            );
            assert_eq!(counts.continuation_lines, 2 * 3000);
            assert_eq!(
                counts.lines,
                counts.events + counts.continuation_lines + counts.unparsed_lines
            );
        }
    }

    proptest! {
        /// The early check of a request's identifiers agrees with its built set, whatever
        /// its service and fields (blank values, services that link different kinds).
        #[test]
        fn request_has_links_agrees_with_its_ids(
            service in 0u16..40,
            values in prop::collection::vec(
                prop::option::of(prop::sample::select(vec!["", " ", "abc", "10.0.0.1"])),
                4,
            ),
        ) {
            let reg = Registry::load(None).expect("registry");
            let slots = [Slot::TraceId, Slot::RequestId, Slot::AgentId, Slot::ClientIp];
            let fields = slots
                .iter()
                .zip(&values)
                .filter_map(|(slot, v)| Some((*slot, (*v)?)));
            let r = Request {
                service,
                ..Request::with_fields(fields)
            };
            prop_assert_eq!(
                request_has_links(&r, &reg),
                request_ids_in(&r, &reg, None).has_links()
            );
        }

        /// Whatever the read sizes, the reader keeps every line whole up to the cap, cuts longer
        /// ones at it (noting where), and drops nothing else: reads that cannot reach the cap
        /// stay where they were read to, the others go line by line.
        #[test]
        fn reads_of_any_size_keep_lines_up_to_the_cap(
            lines in prop::collection::vec(0usize..90, 0..30),
            max_line in 16usize..70,
            reads in prop::collection::vec(1usize..200, 1..20),
        ) {
            let mut input = Vec::new();
            let (mut want, mut want_cut) = (Vec::new(), Vec::new());
            for (i, len) in lines.iter().enumerate() {
                let line: Vec<u8> = (0..*len).map(|k| b'a' + ((i + k) % 26) as u8).collect();
                input.extend_from_slice(&line);
                input.push(b'\n');
                if line.len() > max_line {
                    want_cut.push(want.len());
                }
                want.extend_from_slice(&line[..line.len().min(max_line)]);
                want.push(b'\n');
            }
            // A reader whose reads return the given sizes in turn.
            struct Reads<'i> { input: &'i [u8], sizes: Vec<usize>, r: usize }
            impl Read for Reads<'_> {
                fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                    let n = self.sizes[self.r % self.sizes.len()].min(self.input.len()).min(buf.len());
                    self.r += 1;
                    buf[..n].copy_from_slice(&self.input[..n]);
                    self.input = &self.input[n..];
                    Ok(n)
                }
            }
            let mut c = Chunker::new(0, max_line, 1 << 20, ChunkBytes::default());
            let mut reader = Reads { input: &input, sizes: reads, r: 0 };
            while c.read_from(&mut reader).unwrap() > 0 {}
            prop_assert_eq!(&*c.pending, &want[..]);
            prop_assert_eq!(&c.truncated, &want_cut);
            prop_assert_eq!(c.line_start, want.len());
        }

        /// Chunks cut along the way (also where a CRI partial run is open, so the safe cut lies
        /// behind the classified lines) hold every byte once and number their lines right.
        #[test]
        fn chunks_number_their_lines(
            lines in prop::collection::vec(0usize..4, 0..40),
            last_without_newline in any::<bool>(),
            target in 1usize..200,
            reads in prop::collection::vec(1usize..120, 1..10),
        ) {
            const KINDS: [&str; 4] = [
                "plain text",
                "2026-11-24T03:00:00Z stdout P piece ",
                "2026-11-24T03:00:00Z stdout F end",
                "{\"level\":\"info\"}",
            ];
            let mut input: Vec<u8> = lines.iter().flat_map(|&k| format!("{}\n", KINDS[k]).into_bytes()).collect();
            if last_without_newline {
                input.extend_from_slice(b"tail");
            }
            let mut c = Chunker::new(0, 1 << 20, target, ChunkBytes::default());
            let mut chunks = Vec::new();
            for piece in input.chunks(reads[input.len() % reads.len()]) {
                c.read_from(&mut &piece[..]).unwrap();
                if c.ready() {
                    chunks.extend(c.take(chunks.len() as u64, false));
                }
            }
            chunks.extend(c.take(chunks.len() as u64, true));
            let mut next_line = 1;
            let mut all = Vec::new();
            for chunk in &chunks {
                prop_assert_eq!(chunk.first_line, next_line);
                prop_assert_eq!(chunk.data.last(), Some(&b'\n'));
                next_line += count_lines(&chunk.data);
                all.extend_from_slice(&chunk.data);
            }
            prop_assert_eq!(c.next_line, next_line);
            if last_without_newline {
                input.push(b'\n');
            }
            prop_assert_eq!(all, input);
        }
    }
}
