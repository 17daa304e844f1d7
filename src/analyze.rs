//! Aggregates behind the `analyze` report: events by level per service, requests by status
//! class, per-endpoint latency sketches, error rate per time bucket, and the slowest requests.
//!
//! Invariants: all time logic uses event time; output order is deterministic (sorted keys);
//! memory grows with the number of buckets, never with the number of events; endpoints are
//! capped ([`MAX_ENDPOINTS`]: those first seen beyond it are folded into one row per service,
//! and the report says how many).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::event::Level;
use crate::request::Request;
use crate::sketch::Sketch;
use crate::time::{Nanos, format_rfc3339_nanos};

/// Schema id of the JSON report.
pub const SCHEMA: &str = "logsleuth.report/1";
/// How many slow requests the report lists.
pub const SLOW_TOP: usize = 10;
/// Most endpoints (service, method, route) with a row of their own, first seen first: a
/// scanner probing random paths would otherwise add a row (and a sketch) per path.
pub const MAX_ENDPOINTS: usize = 10_000;
/// Route of a service's row for the requests of endpoints beyond [`MAX_ENDPOINTS`].
pub const OTHER_ROUTES: &str = "(other routes)";
/// Method of that row (it holds any method).
pub const OTHER_METHOD: &str = "*";

/// Input accounting: `lines = events + continuation_lines + unparsed_lines + joined_partials`.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct InputCounts {
    /// Lines read (records, for docker json-file and CRI).
    pub lines: u64,
    /// Bytes read (after decompression).
    pub bytes: u64,
    /// Events recognized (before filters).
    pub events: u64,
    /// Lines attached to the event before them (tracebacks, panic notes, warning sources).
    pub continuation_lines: u64,
    /// Lines that are no event (see `unparsed_reasons`).
    pub unparsed_lines: u64,
    /// CRI `P` / docker json-file pieces joined into the record that completes them.
    pub joined_partials: u64,
    /// Records cut at `--max-line-bytes` (still processed).
    pub truncated: u64,
    /// Lines with invalid UTF-8, decoded lossily.
    pub invalid_utf8: u64,
    /// Events excluded by `--since/--until/--service/--level/--where/--grep`.
    pub filtered_out: u64,
    /// Earliest and latest event time before filters (for the hint when filters keep nothing;
    /// the report's `time_range` covers the events kept).
    #[serde(skip)]
    pub unfiltered_range: Option<(Nanos, Nanos)>,
    /// Per input, the first stream whose events start well before the latest time already read
    /// from that input (`kubectl logs -l` without `-f` prints pod after pod): correlation
    /// cannot know another pod is still to come (for the hint on stderr).
    #[serde(skip)]
    pub rewinds: Vec<Rewind>,
    /// Times without a zone against the container runtime's own (for the `--assume-tz` hint).
    #[serde(skip)]
    pub zone_skew: ZoneSkew,
    /// Unparsed lines by reason (`invalid_json`, `binary`, `blank`).
    pub unparsed_reasons: BTreeMap<String, u64>,
    /// Read errors (a file that vanished or failed mid-read), with the input named.
    pub read_errors: Vec<String>,
    /// What was read, but may not be what the input holds, with the input named: a file that
    /// shrank while it was read, text that looks like UTF-16 without a byte order mark. Unlike
    /// read errors, they leave the exit code alone. Present only when there are some.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// `--follow` with several inputs: events that arrived after a newer event was already
    /// released (more than `--max-delay` behind), so they could not be merged into time order
    /// (still counted and analyzed). Present only when non-zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub late_events: u64,
    /// Loki tail entries the server reported as dropped (never received). Present only when
    /// non-zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_entries: u64,
    /// Present when more streams than the cap had state at once ([`crate::streams`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub streams_released: Option<ReleasedStreams>,
    /// Partial last lines an interrupt (Ctrl-C, SIGTERM during an export) stopped reading in:
    /// left out (not in `lines`, no event), at most one per input. Present only when non-zero.
    #[serde(skip_serializing_if = "is_zero")]
    pub cut_by_interrupt: u64,
}

/// Streams that released their state because the cap of streams with state was reached
/// ([`crate::streams`]): what they held open ended there, as at the end of input.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct ReleasedStreams {
    /// Streams with state at once at most, and open partial runs per input.
    pub cap: u64,
    /// Releases, least recently read stream first: its open event (a traceback) and waiting
    /// requests ended there (a stream that writes again starts afresh, and counts again if
    /// released again).
    pub streams: u64,
    /// CRI `P` / docker json-file runs ended unfinished, each as a line of its own, because
    /// `cap` were open in one input.
    pub partial_runs: u64,
}

impl ReleasedStreams {
    /// One line for people (terminal report, `report.md`, stderr).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        if self.streams > 0 {
            s = format!(
                "more than {} streams at once: {} releases of a stream's state, least recently \
                 read first (a traceback or request it still had open ended there)",
                self.cap, self.streams
            );
        }
        if self.partial_runs > 0 {
            if !s.is_empty() {
                s.push_str("; ");
            }
            s += &format!(
                "{} partial lines (CRI P, docker pieces) ended unfinished, {} being open in one \
                 input",
                self.partial_runs, self.cap
            );
        }
        s
    }
}

/// A stream of an input that starts back in time ([`InputCounts::rewinds`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rewind {
    /// Input index.
    pub source: u32,
    /// The stream (`pod/NAME/CONTAINER`, or `stderr`).
    pub stream: String,
    /// How far its first event is behind the latest event read before it from the same input.
    pub behind_ns: Nanos,
}

/// How far a service's times without a zone (SkillMeat's `asctime` is local time) are from the
/// time the container runtime put on the same lines (kubectl `--timestamps`, CRI, docker), in
/// whole quarter hours: a steady offset means the service logs local time and needs
/// `--assume-tz`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneSkew {
    /// `(service, offset in minutes)` → events; `None`: no whole quarter hour apart.
    counts: BTreeMap<(u16, Option<i32>), u64>,
    samples: u64,
}

/// Events sampled per chunk: a steady offset shows in a few.
const ZONE_SAMPLES_PER_CHUNK: u64 = 64;

/// A quarter hour is off by at most this much (the runtime stamps a line after the service).
const ZONE_SLACK_NS: i64 = 2 * 60 * 1_000_000_000;

impl ZoneSkew {
    /// Whether a chunk wants more samples.
    pub fn wants(&self) -> bool {
        self.samples < ZONE_SAMPLES_PER_CHUNK
    }

    /// An event of `service` whose payload time (read without a zone) is `payload`, stamped
    /// `runtime` by the container runtime.
    pub fn add(&mut self, service: u16, payload: Nanos, runtime: Nanos) {
        const QUARTER: i64 = 15 * 60 * 1_000_000_000;
        let skew = payload.saturating_sub(runtime);
        let quarters = (skew + skew.signum() * QUARTER / 2) / QUARTER;
        // Zones run from UTC-12 to UTC+14.
        let offset = ((skew - quarters * QUARTER).abs() <= ZONE_SLACK_NS
            && (-48..=56).contains(&quarters))
        .then(|| i32::try_from(quarters * 15).unwrap_or(0));
        *self.counts.entry((service, offset)).or_default() += 1;
        self.samples += 1;
    }

    /// Add another chunk's samples.
    pub fn merge(&mut self, other: ZoneSkew) {
        for (k, n) in other.counts {
            *self.counts.entry(k).or_default() += n;
        }
        self.samples += other.samples;
    }

    /// Services whose zone-less times are one steady offset (minutes, not 0) from the
    /// runtime's: at least 3 events and 90 % of those sampled. `(service, minutes, events)`.
    pub fn steady_offsets(&self) -> Vec<(u16, i32, u64)> {
        let mut out = Vec::new();
        let mut services: Vec<u16> = self.counts.keys().map(|k| k.0).collect();
        services.dedup();
        for service in services {
            let of_service = || {
                self.counts
                    .range((service, None)..=(service, Some(i32::MAX)))
            };
            let total: u64 = of_service().map(|(_, n)| n).sum();
            if let Some((&(_, Some(minutes)), &n)) = of_service().max_by_key(|(_, n)| **n)
                && minutes != 0
                && n >= 3
                && n * 10 >= total * 9
            {
                out.push((service, minutes, n));
            }
        }
        out
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// First and last event time.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct TimeRange {
    /// RFC3339, UTC.
    pub first: Option<String>,
    /// RFC3339, UTC.
    pub last: Option<String>,
}

/// Counts per level.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Levels {
    /// trace
    pub trace: u64,
    /// debug
    pub debug: u64,
    /// info
    pub info: u64,
    /// warn
    pub warn: u64,
    /// error
    pub error: u64,
    /// fatal
    pub fatal: u64,
    /// events that name no level (plain text)
    pub unknown: u64,
}

impl Levels {
    fn bump(&mut self, l: Option<Level>) {
        *match l {
            Some(Level::Trace) => &mut self.trace,
            Some(Level::Debug) => &mut self.debug,
            Some(Level::Info) => &mut self.info,
            Some(Level::Warn) => &mut self.warn,
            Some(Level::Error) => &mut self.error,
            Some(Level::Fatal) => &mut self.fatal,
            None => &mut self.unknown,
        } += 1;
    }
}

/// Per-service event counts.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ServiceReport {
    /// Service name.
    pub service: String,
    /// Events (after filters).
    pub events: u64,
    /// By level.
    pub levels: Levels,
}

/// Request totals.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Requests {
    /// Requests, each counted once.
    pub total: u64,
    /// By status class.
    pub by_status_class: StatusClasses,
    /// Latencies from span lines (SkillMeat's `Starting span` / `Span completed`): present when
    /// some were seen ([`crate::spans`]). Counted over every span line read, before filters
    /// (spans pair across lines a filter drops), except `timed` (kept requests).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_latency: Option<crate::spans::SpanCounts>,
}

/// Status classes.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct StatusClasses {
    /// 1xx
    #[serde(rename = "1xx")]
    pub c1xx: u64,
    /// 2xx
    #[serde(rename = "2xx")]
    pub c2xx: u64,
    /// 3xx
    #[serde(rename = "3xx")]
    pub c3xx: u64,
    /// 4xx
    #[serde(rename = "4xx")]
    pub c4xx: u64,
    /// 5xx
    #[serde(rename = "5xx")]
    pub c5xx: u64,
    /// No status known (a span line alone).
    pub unknown: u64,
}

/// One endpoint (service, method, route).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct EndpointReport {
    /// Service.
    pub service: String,
    /// Method (`?` if unknown).
    pub method: String,
    /// Route (`?` if unknown).
    pub route: String,
    /// Requests.
    pub requests: u64,
    /// 4xx responses.
    pub status_4xx: u64,
    /// 5xx responses.
    pub status_5xx: u64,
    /// Requests with a latency.
    pub latency_samples: u64,
    /// Median latency, ms (1% relative error).
    pub p50_ms: Option<f64>,
    /// 95th percentile, ms.
    pub p95_ms: Option<f64>,
    /// 99th percentile, ms.
    pub p99_ms: Option<f64>,
    /// Maximum, ms (exact).
    pub max_ms: Option<f64>,
}

/// Endpoints beyond the cap, folded into the `(other routes)` rows of `endpoints[]`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FoldedEndpoints {
    /// Endpoints with a row of their own at most (the first seen in input order).
    pub cap: u64,
    /// Distinct endpoints folded: an estimate (within ~1 %; exact for a few), since counting
    /// them exactly would keep every one.
    pub endpoints: u64,
    /// Their requests (exact): the sum of the `(other routes)` rows.
    pub requests: u64,
}

/// A slow request and where it came from.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SlowRequest {
    /// Event time.
    pub ts: Option<String>,
    /// Service.
    pub service: String,
    /// Method.
    pub method: Option<String>,
    /// Route.
    pub route: Option<String>,
    /// Path as printed.
    pub path: Option<String>,
    /// Status.
    pub status: Option<u16>,
    /// Latency, ms.
    pub duration_ms: f64,
    /// Input name.
    pub source: String,
    /// Line in the input.
    pub line: u64,
    /// Kubernetes namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Pod.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// Container.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// Trace id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// Request id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

/// Slow requests.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct SlowRequests {
    /// `--slow-ms`.
    pub threshold_ms: f64,
    /// Requests above it.
    pub count: u64,
    /// The slowest, slowest first.
    pub top: Vec<SlowRequest>,
}

/// One error-rate bucket of one service.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ErrorBucket {
    /// Bucket start, RFC3339 UTC.
    pub bucket_start: String,
    /// Service.
    pub service: String,
    /// Requests in the bucket.
    pub requests: u64,
    /// 5xx responses.
    pub status_5xx: u64,
    /// Events at level error or fatal.
    pub error_events: u64,
}

/// The whole `analyze` report (`--format json`).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// Input accounting.
    pub input: InputCounts,
    /// Event time range.
    pub time_range: TimeRange,
    /// Per service.
    pub services: Vec<ServiceReport>,
    /// Requests.
    pub requests: Requests,
    /// Per endpoint, most requests first.
    pub endpoints: Vec<EndpointReport>,
    /// Present when more endpoints were seen than get a row of their own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints_folded: Option<FoldedEndpoints>,
    /// Slow requests.
    pub slow_requests: SlowRequests,
    /// Error and fatal events by kind ([`crate::signature`]), most frequent first.
    pub top_errors: TopErrors,
    /// Error rate per bucket.
    pub error_rate: Vec<ErrorBucket>,
    /// Bucket width in seconds.
    pub bucket_seconds: f64,
    /// Correlation groups (when correlation ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation: Option<crate::correlate::CorrelationReport>,
    /// Rule findings, most severe first (when rules ran).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub findings: Option<Vec<crate::rules::engine::Finding>>,
}

/// Error and fatal events by kind: what fails, how often, since when.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct TopErrors {
    /// Kinds, most events first (at most [`TOP_ERRORS_SHOWN`]).
    pub kinds: Vec<ErrorKind>,
    /// Distinct kinds seen (up to [`MAX_ERROR_KINDS`]; events of further ones are
    /// counted in `unkinded`).
    pub distinct: u64,
    /// Error events of kinds beyond [`MAX_ERROR_KINDS`], and error events with no message.
    pub unkinded: u64,
}

/// One kind of error ([`TopErrors`]).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ErrorKind {
    /// Service name.
    pub service: String,
    /// The message with what varies masked as `*` ([`crate::signature`]).
    pub signature: String,
    /// Error and fatal events of this kind.
    pub events: u64,
    /// Of them, fatal.
    #[serde(skip_serializing_if = "is_zero")]
    pub fatal: u64,
    /// RFC3339, UTC.
    pub first: Option<String>,
    /// RFC3339, UTC.
    pub last: Option<String>,
}

/// Most error kinds counted apart; beyond, events are only counted (memory stays bounded).
pub const MAX_ERROR_KINDS: usize = 10_000;

/// Most error kinds listed in the report.
pub const TOP_ERRORS_SHOWN: usize = 50;

#[derive(Default, Clone)]
struct ErrorCounts {
    events: u64,
    fatal: u64,
    first: Option<Nanos>,
    last: Option<Nanos>,
}

#[derive(Default, Clone)]
struct Endpoint {
    service: u16,
    method: String,
    route: String,
    requests: u64,
    s4xx: u64,
    s5xx: u64,
    sketch: Sketch,
}

#[derive(Default, Clone, Copy)]
struct BucketCounts {
    requests: u64,
    s5xx: u64,
    errors: u64,
}

/// Where a slow request came from, resolved by the caller.
#[derive(Clone)]
pub struct Origin {
    /// Input name.
    pub source: String,
    /// Namespace.
    pub namespace: Option<String>,
    /// Pod.
    pub pod: Option<String>,
    /// Container.
    pub container: Option<String>,
}

/// Builds a [`Report`] from events and requests.
#[derive(Clone)]
pub struct Analyzer {
    services: Vec<String>,
    levels: Vec<(u64, Levels)>,
    first: Option<Nanos>,
    last: Option<Nanos>,
    requests: Requests,
    /// Keyed by `service \0 method \0 route` so lookups need no allocation.
    endpoints: crate::FastMap<Box<str>, Endpoint>,
    /// At most this many `endpoints`; requests of further ones go to `other`.
    max_endpoints: usize,
    /// Per service, the `(other routes)` row.
    other: BTreeMap<u16, Endpoint>,
    /// The distinct endpoints folded into `other` (allocated on the first one).
    folded: Option<Distinct>,
    key_buf: String,
    buckets: BTreeMap<(Nanos, u16), BucketCounts>,
    bucket_ns: Nanos,
    slow_ms: f64,
    slow_count: u64,
    slow: Vec<(Request, Origin)>,
    /// By `(service, signature)`.
    error_kinds: crate::FastMap<(u16, Box<str>), ErrorCounts>,
    unkinded_errors: u64,
}

impl Analyzer {
    /// An empty analysis for these services (registry order), with rows for at most
    /// `max_endpoints` endpoints ([`MAX_ENDPOINTS`] from the CLI).
    pub fn new(
        services: Vec<String>,
        bucket_ns: Nanos,
        slow_ms: f64,
        max_endpoints: usize,
    ) -> Analyzer {
        Analyzer {
            levels: vec![(0, Levels::default()); services.len()],
            services,
            first: None,
            last: None,
            requests: Requests::default(),
            endpoints: crate::FastMap::default(),
            max_endpoints,
            other: BTreeMap::new(),
            folded: None,
            key_buf: String::new(),
            buckets: BTreeMap::new(),
            bucket_ns: bucket_ns.max(1),
            slow_ms,
            slow_count: 0,
            slow: Vec::new(),
            error_kinds: crate::FastMap::default(),
            unkinded_errors: 0,
        }
    }

    fn bucket(&mut self, ts: Nanos, service: u16) -> &mut BucketCounts {
        let start = ts.div_euclid(self.bucket_ns) * self.bucket_ns;
        self.buckets.entry((start, service)).or_default()
    }

    /// Count one event that passed the filters.
    pub fn event(&mut self, service: u16, level: Option<Level>, ts: Option<Nanos>) {
        if let Some((n, lv)) = self.levels.get_mut(service as usize) {
            *n += 1;
            lv.bump(level);
        }
        if let Some(t) = ts {
            self.first = Some(self.first.map_or(t, |f| f.min(t)));
            self.last = Some(self.last.map_or(t, |l| l.max(t)));
            if level >= Some(Level::Error) {
                self.bucket(t, service).errors += 1;
            }
        }
    }

    /// Count one error or fatal event that passed the filters by its kind (`signature`: of
    /// its message, [`crate::signature`]; `None` when it has no message).
    pub fn error_kind(
        &mut self,
        service: u16,
        level: Option<Level>,
        ts: Option<Nanos>,
        signature: Option<Box<str>>,
    ) {
        let fatal = u64::from(level == Some(Level::Fatal));
        let counts = match signature {
            Some(sig) if !sig.is_empty() => {
                let full = self.error_kinds.len() >= MAX_ERROR_KINDS;
                let key = (service, sig);
                match self.error_kinds.get_mut(&key) {
                    Some(c) => Some(c),
                    None if full => None,
                    None => Some(self.error_kinds.entry(key).or_default()),
                }
            }
            _ => None,
        };
        let Some(c) = counts else {
            self.unkinded_errors += 1;
            return;
        };
        c.events += 1;
        c.fatal += fatal;
        if let Some(t) = ts {
            c.first = Some(c.first.map_or(t, |f| f.min(t)));
            c.last = Some(c.last.map_or(t, |l| l.max(t)));
        }
    }

    /// Count one (merged) request; `origin` is asked only for slow ones.
    pub fn request(&mut self, r: Request, origin: impl FnOnce(&Request) -> Origin) {
        self.requests.total += 1;
        let classes = &mut self.requests.by_status_class;
        match r.status.map(|s| s / 100) {
            Some(1) => classes.c1xx += 1,
            Some(2) => classes.c2xx += 1,
            Some(3) => classes.c3xx += 1,
            Some(4) => classes.c4xx += 1,
            Some(5) => classes.c5xx += 1,
            _ => classes.unknown += 1,
        }
        let is5xx = r.status.is_some_and(|s| (500..600).contains(&s));
        if let Some(t) = r.ts {
            let b = self.bucket(t, r.service);
            b.requests += 1;
            b.s5xx += u64::from(is5xx);
        }
        let method = r.method().unwrap_or("?");
        let route = r.route().unwrap_or("?");
        endpoint_key(&mut self.key_buf, r.service, method, route);
        let room = self.endpoints.len() < self.max_endpoints;
        let ep = match self.endpoints.get_mut(self.key_buf.as_str()) {
            Some(ep) => ep,
            None if room => self
                .endpoints
                .entry(self.key_buf.as_str().into())
                .or_insert_with(|| Endpoint {
                    service: r.service,
                    method: method.to_string(),
                    route: route.to_string(),
                    ..Endpoint::default()
                }),
            None => {
                self.folded
                    .get_or_insert_with(Distinct::new)
                    .add(&self.key_buf);
                self.other.entry(r.service).or_insert_with(|| Endpoint {
                    service: r.service,
                    method: OTHER_METHOD.to_string(),
                    route: OTHER_ROUTES.to_string(),
                    ..Endpoint::default()
                })
            }
        };
        ep.requests += 1;
        ep.s4xx += u64::from(r.status.is_some_and(|s| (400..500).contains(&s)));
        ep.s5xx += u64::from(is5xx);
        if let Some(d) = r.duration_ms {
            ep.sketch.add(d);
            if d > self.slow_ms {
                self.slow_count += 1;
                let fits = self.slow.len() < SLOW_TOP
                    || self
                        .slow
                        .iter()
                        .any(|(s, _)| s.duration_ms.unwrap_or(0.0) < d);
                if fits {
                    let o = origin(&r);
                    self.slow.push((r, o));
                    self.slow.sort_by(|a, b| {
                        b.0.duration_ms
                            .unwrap_or(0.0)
                            .total_cmp(&a.0.duration_ms.unwrap_or(0.0))
                            .then(a.0.at.line.cmp(&b.0.at.line))
                    });
                    self.slow.truncate(SLOW_TOP);
                }
            }
        }
    }

    /// The report so far, leaving the analysis running (live board and snapshots). Costs one
    /// copy of the aggregates (sketches are a few KiB per endpoint).
    pub fn snapshot(&self, input: InputCounts) -> Report {
        self.clone().report(input)
    }

    /// The finished report.
    pub fn report(self, input: InputCounts) -> Report {
        let name = |i: u16| self.services.get(i as usize).cloned().unwrap_or_default();
        // To the microsecond; a value too large to hold a fraction is kept as it is (scaling
        // it by 1000 and back would change it).
        let round = |v: Option<f64>| {
            v.map(|x| {
                if x.abs() < 1e12 {
                    (x * 1000.0).round() / 1000.0
                } else {
                    x
                }
            })
        };
        let endpoints_folded = self.folded.as_ref().map(|d| {
            let requests = self.other.values().map(|e| e.requests).sum();
            FoldedEndpoints {
                cap: self.max_endpoints as u64,
                // Each folded endpoint had a request: the estimate never says more.
                endpoints: d.estimate().min(requests),
                requests,
            }
        });
        let mut endpoints: Vec<EndpointReport> = self
            .endpoints
            .values()
            .chain(self.other.values())
            .map(|e| EndpointReport {
                service: name(e.service),
                method: e.method.clone(),
                route: e.route.clone(),
                requests: e.requests,
                status_4xx: e.s4xx,
                status_5xx: e.s5xx,
                latency_samples: e.sketch.count(),
                p50_ms: round(e.sketch.quantile(0.50)),
                p95_ms: round(e.sketch.quantile(0.95)),
                p99_ms: round(e.sketch.quantile(0.99)),
                max_ms: round(e.sketch.max()),
            })
            .collect();
        endpoints.sort_by(|a, b| {
            b.requests.cmp(&a.requests).then_with(|| {
                (&a.service, &a.route, &a.method).cmp(&(&b.service, &b.route, &b.method))
            })
        });
        let services = self
            .levels
            .iter()
            .enumerate()
            .map(|(i, (n, lv))| ServiceReport {
                service: name(i as u16),
                events: *n,
                levels: lv.clone(),
            })
            .collect();
        let error_rate = self
            .buckets
            .iter()
            .map(|((start, svc), c)| ErrorBucket {
                bucket_start: format_rfc3339_nanos(*start),
                service: name(*svc),
                requests: c.requests,
                status_5xx: c.s5xx,
                error_events: c.errors,
            })
            .collect();
        let top = self
            .slow
            .into_iter()
            .map(|(r, o)| SlowRequest {
                ts: r.ts.map(format_rfc3339_nanos),
                service: name(r.service),
                method: r.method().map(str::to_string),
                route: r.route().map(str::to_string),
                path: r.path().map(str::to_string),
                status: r.status,
                duration_ms: r.duration_ms.unwrap_or(0.0),
                source: o.source,
                line: r.at.line,
                namespace: o.namespace,
                pod: o.pod,
                container: o.container,
                trace_id: r.trace_id().map(str::to_string),
                request_id: r.request_id().map(str::to_string),
            })
            .collect();
        let mut kinds: Vec<ErrorKind> = self
            .error_kinds
            .iter()
            .map(|((svc, sig), c)| ErrorKind {
                service: name(*svc),
                signature: sig.to_string(),
                events: c.events,
                fatal: c.fatal,
                first: c.first.map(format_rfc3339_nanos),
                last: c.last.map(format_rfc3339_nanos),
            })
            .collect();
        // Most events first; then by first time and name, so the order never depends on the
        // map's.
        kinds.sort_by(|a, b| {
            b.events
                .cmp(&a.events)
                .then_with(|| a.first.cmp(&b.first))
                .then_with(|| (&a.service, &a.signature).cmp(&(&b.service, &b.signature)))
        });
        let distinct = kinds.len() as u64;
        kinds.truncate(TOP_ERRORS_SHOWN);
        Report {
            schema: SCHEMA,
            input,
            time_range: TimeRange {
                first: self.first.map(format_rfc3339_nanos),
                last: self.last.map(format_rfc3339_nanos),
            },
            services,
            requests: self.requests,
            endpoints,
            endpoints_folded,
            slow_requests: SlowRequests {
                threshold_ms: self.slow_ms,
                count: self.slow_count,
                top,
            },
            top_errors: TopErrors {
                kinds,
                distinct,
                unkinded: self.unkinded_errors,
            },
            error_rate,
            bucket_seconds: self.bucket_ns as f64 / 1e9,
            correlation: None,
            findings: None,
        }
    }
}

/// log2 of the registers of [`Distinct`].
const DISTINCT_BITS: u32 = 16;

/// A count of distinct keys in 64 KiB: HyperLogLog (standard error 1.04/√65536 ≈ 0.4 %), with
/// linear counting below about 5 keys a register (within a key or so of exact for a few
/// thousand). The hash
/// has a fixed seed, so every run of the same input reports the same number.
#[derive(Clone)]
struct Distinct {
    registers: Box<[u8]>,
}

impl Distinct {
    fn new() -> Distinct {
        Distinct {
            registers: vec![0; 1 << DISTINCT_BITS].into_boxed_slice(),
        }
    }

    fn add(&mut self, key: &str) {
        use std::hash::BuildHasher;
        let h = foldhash::quality::FixedState::with_seed(0x6c6f_6773_6c65_7574).hash_one(key);
        let at = (h >> (64 - DISTINCT_BITS)) as usize;
        // The position of the first 1 bit after the index bits; the bit or'ed in caps it.
        let rank = ((h << DISTINCT_BITS) | (1 << (DISTINCT_BITS - 1))).leading_zeros() + 1;
        if let Some(r) = self.registers.get_mut(at) {
            *r = (*r).max(rank as u8);
        }
    }

    fn estimate(&self) -> u64 {
        let m = self.registers.len() as f64;
        let sum: f64 = self.registers.iter().map(|&r| (-f64::from(r)).exp2()).sum();
        let empty = self.registers.iter().filter(|&&r| r == 0).count();
        // Linear counting is the better estimate up to about 5 keys a register (error < 1 %
        // there); HyperLogLog's own is biased below that.
        let linear = m * (m / empty.max(1) as f64).ln();
        let e = if empty > 0 && linear <= 5.0 * m {
            linear
        } else {
            0.7213 / (1.0 + 1.079 / m) * m * m / sum
        };
        e.round() as u64
    }
}

#[test]
fn distinct_counts_are_close() {
    for n in [1u64, 7, 100, 5_000, 50_000, 200_000, 330_000, 1_000_000] {
        let mut d = Distinct::new();
        for i in 0..n {
            // Each key twice: repeats do not count.
            d.add(&format!("0\0GET\0/r/{i}"));
            d.add(&format!("0\0GET\0/r/{i}"));
        }
        let e = d.estimate();
        let err = (e as f64 - n as f64).abs() / n as f64;
        assert!(err < 0.01, "{n} distinct estimated {e}");
        if n <= 100 {
            assert!(e.abs_diff(n) <= 1, "{n} distinct estimated {e}");
        }
    }
}

/// `service \0 method \0 route` into `buf`, without the formatting machinery (it runs once per
/// request, and `write!` cost more than the endpoint lookup).
fn endpoint_key(buf: &mut String, service: u16, method: &str, route: &str) {
    buf.clear();
    crate::push_decimal(buf, usize::from(service));
    buf.push('\0');
    buf.push_str(method);
    buf.push('\0');
    buf.push_str(route);
}

#[test]
fn endpoint_keys_keep_service_method_and_route_apart() {
    let mut buf = String::from("stale");
    endpoint_key(&mut buf, 0, "GET", "/a");
    assert_eq!(buf, "0\0GET\0/a");
    endpoint_key(&mut buf, 65535, "POST", "/b/{id}");
    assert_eq!(buf, "65535\0POST\0/b/{id}");
    endpoint_key(&mut buf, 10, "", "");
    assert_eq!(buf, "10\0\0");
}

#[cfg(test)]
mod tests {
    use super::ZoneSkew;

    const H: i64 = 3_600_000_000_000;
    const MIN: i64 = 60_000_000_000;

    #[test]
    fn zone_skew_finds_a_steady_quarter_hour_offset() {
        let mut z = ZoneSkew::default();
        // India (+05:30), a line stamped by the runtime 40 ms after the service wrote it.
        for i in 0..9 {
            z.add(
                1,
                1_000 * H + i,
                1_000 * H - 5 * H - 30 * MIN + i + 40_000_000,
            );
        }
        // One line whose runtime time is 7 minutes off any zone (a stalled pipe).
        z.add(1, 2_000 * H, 2_000 * H - 7 * MIN);
        // Another service logs UTC, and one sits at -03:30 for only 2 events.
        for _ in 0..5 {
            z.add(0, H, H);
        }
        z.add(2, H, H + 3 * H + 30 * MIN);
        z.add(2, H, H + 3 * H + 30 * MIN);
        assert_eq!(z.steady_offsets(), vec![(1, 330, 9)]);
        // 90 % of the samples must agree.
        z.add(1, H, H + 2 * MIN);
        z.add(1, H, H + 20 * MIN);
        assert_eq!(z.steady_offsets(), vec![]);
        let mut merged = ZoneSkew::default();
        for _ in 0..3 {
            merged.add(2, H, H + 3 * H + 30 * MIN);
        }
        merged.merge(z);
        assert_eq!(merged.steady_offsets(), vec![(2, -210, 5)]);
    }
}
