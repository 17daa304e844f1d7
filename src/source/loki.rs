//! The Grafana Loki source: `loki+http://HOST:PORT[/PREFIX]` and `loki+https://HOST:PORT[/PREFIX]`
//! inputs read with a LogQL `--query` over a time range (`--since`/`--from`, `--until`/`--to`;
//! default the last hour), and with `--follow` then tailed live through the
//! `/loki/api/v1/tail` WebSocket ([`super::ws`]; `wss` for https inputs).
//!
//! * **History** — `GET /loki/api/v1/query_range?direction=forward&limit=BATCH&start=S&end=E`,
//!   paged as logcli does (`pkg/logcli/query/query.go`): after a full batch whose newest
//!   timestamp is T, the next batch starts at `start=T` (start is inclusive, so it repeats the
//!   entries at T, because Loki allows several entries with one timestamp) and the entries at
//!   T already emitted — kept as (label set, line) — are dropped from it. A batch shorter than
//!   BATCH ends the range. Each batch holds several stream objects; their entries are
//!   merge-sorted into time order (ties: the label sets' content, then line — not the sets'
//!   ids, which depend on which slice saw a set first), so the whole output is in time
//!   order. If a whole batch shares one timestamp no progress is possible and the run fails
//!   with a message asking for a larger batch (logcli aborts the same way).
//! * **Slices** — a real Loki takes tens to hundreds of milliseconds per request, so the range
//!   is cut into `parallel` × `SLICES_PER_WORKER` (16) slices of equal duration (`[start, end)`
//!   each, so none overlap), `parallel` of them paged at once on threads of their own, each at
//!   most `PAGES_AHEAD` (2) pages ahead of the reader, which reads them oldest first: the output
//!   is exactly what one request at a time gives, with bounded memory (logcli's
//!   `--parallel-duration` in spirit). `parallel` 1 pages the whole range as one slice.
//! * **Follow** — after the history up to the moment the run started (`end` exclusive), the
//!   tail starts at that moment (`start` inclusive): nothing in between is lost or repeated.
//!   When the tail connection ends it is reopened from the newest timestamp emitted; for the
//!   whole new connection, an entry at that timestamp whose (label set, line) was emitted
//!   before is a repeat and dropped, wherever in the replay it comes (newer entries of other
//!   streams may come first). `dropped_entries` in a tail message (Loki could
//!   not send them in time) are counted ([`LokiInput::dropped`], reported as
//!   `input.dropped_entries`) and announced on stderr.
//! * **Labels** — an entry's stream labels and structured metadata (folded into the stream
//!   labels by Loki unless `categorize-labels` is asked for; 3-element values are read too)
//!   become the event's `labels.KEY` fields. Each distinct label set is interned in
//!   [`LabelTable`] and every emitted line carries its id in a tag ([`split_tag`]) that the
//!   pipeline removes before the envelope is read. The line after the tag is a CRI line
//!   (`<ts> stdout|stderr F <content>`) so the entry's timestamp is the event's runtime time.
//! * **Entries of several lines** (a traceback pushed as one entry) are one record: one CRI
//!   line per line, the first tagged [`Part::First`] (always a new event), the others
//!   [`Part::Inner`] (always that event's continuation lines, not parsed). Blank lines around
//!   an entry's text are dropped. One-line entries are [`Part::Whole`] and joined like a
//!   file's lines (a shipper that sends line by line splits a traceback over entries).
//! * **Errors** — 429, 5xx, timeouts and (after the first success) lost connections are
//!   retried with exponential backoff up to a bound; other statuses (400: LogQL errors, the
//!   entries cap; 401: auth) fail with Loki's own message; a Loki that cannot be reached
//!   at all is [`LokiError::Down`]. Before any output ([`check`]) they end the run; later they
//!   end this input as a read error (not [`super::Fatal`]): what was read before, in time
//!   order, is still output, and the CLI exits with code 2.
//! * **Auth** — `X-Scope-OrgID`, basic or bearer ([`Auth`]), from `LOKI_ORG_ID`,
//!   `LOKI_USERNAME`/`LOKI_PASSWORD`, `LOKI_BEARER_TOKEN` (logcli's names) or an auth file.
//! * **TLS** — `loki+https://` inputs use [`Endpoint::Tls`] for both `query_range` and the
//!   tail, trusting the system store (or `SSL_CERT_FILE` / `SSL_CERT_DIR`) plus `--ca-file`
//!   ([`super::tls`]). A failed handshake (certificate not trusted, wrong name) is
//!   [`LokiError::Tls`], never retried.
//!
//! # Invariants
//! * Credentials are never printed, logged or put into errors (`Auth`'s `Debug` redacts them).
//! * Never panics on any server bytes; every loop (paging, retries, reconnects) is bounded or
//!   ends when a stop is requested ([`super::live`]).
//! * Output lines are in non-decreasing time order for the history; the tail is in the order
//!   Loki sends it (sorted within each message).
//! * Over https, nothing (credentials included) is sent before the server's certificate is
//!   verified.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use super::http::{self, Endpoint, HttpError};
use super::live;
use super::tls;
use super::ws::{self, WebSocket, WsError};
use crate::time::format_rfc3339_nanos;

/// Loki's default `max_entries_limit_per_query`, the largest batch a stock server accepts.
pub const DEFAULT_BATCH: u32 = 5000;
/// Slices of a query's time range fetched at once: a real Loki takes tens to hundreds of
/// milliseconds per `query_range` request, and one request at a time leaves both ends idle.
pub const DEFAULT_PARALLEL: u32 = 4;
/// Most distinct label sets kept; later new sets get no labels (id 0).
pub const MAX_LABEL_SETS: usize = 65_536;
/// Start of a line's label tag.
pub const TAG_START: u8 = 0x1e;
/// End of a line's label tag.
pub const TAG_END: u8 = 0x1f;

/// Loki source failures.
#[derive(Debug, thiserror::Error)]
pub enum LokiError {
    /// Not a `loki+http(s)://HOST:PORT[/PREFIX]` input.
    #[error("{0:?}: expected loki+http://HOST:PORT[/PREFIX] or loki+https://HOST:PORT[/PREFIX]")]
    BadUri(String),
    /// The TLS trust configuration cannot be built (a bad `--ca-file`).
    #[error(transparent)]
    TlsConfig(#[from] tls::TlsError),
    /// The TLS handshake failed (certificate not trusted, not valid for the host, not TLS).
    #[error("Loki at {target}: {cause}")]
    Tls {
        /// The input.
        target: String,
        /// Cause ([`HttpError::Tls`]; shown in the message).
        cause: HttpError,
    },
    /// A Loki input without `--query`.
    #[error("{0}: Loki inputs need --query LOGQL, e.g. --query '{{app=\"web\"}}'")]
    NoQuery(String),
    /// Bad auth configuration (never contains a secret).
    #[error("Loki auth: {0}")]
    Auth(String),
    /// Loki cannot be reached.
    #[error("Loki at {target} is not reachable: {cause}")]
    Down {
        /// The input.
        target: String,
        /// Cause (shown in the message; not an error `source`, so it is not printed twice).
        cause: HttpError,
    },
    /// Loki refused the request; `message` is Loki's own error text.
    #[error("Loki at {target} answered HTTP {status}: {message}")]
    Api {
        /// The input.
        target: String,
        /// Status code.
        status: u16,
        /// Loki's message (its error bodies are plain text).
        message: String,
    },
    /// Retryable failures went on past the bound.
    #[error("Loki at {target}: giving up after {attempts} attempts: {last}")]
    GaveUp {
        /// The input.
        target: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The answer is not what Loki's API documents.
    #[error("Loki at {target}: unexpected response: {message}")]
    Protocol {
        /// The input.
        target: String,
        /// What was wrong.
        message: String,
    },
    /// A whole batch shares one timestamp: paging cannot tell whether more follow at it.
    #[error(
        "Loki at {target}: at least {batch} entries (a whole --loki-batch) share the timestamp {ts}; paging cannot go past them (raise --loki-batch, up to the server's max_entries_limit_per_query)"
    )]
    Stuck {
        /// The input.
        target: String,
        /// Batch size.
        batch: u32,
        /// The timestamp (RFC3339).
        ts: String,
    },
}

impl LokiError {
    /// The message without "at TARGET", for the pipeline's read errors, which name the input
    /// themselves (`error reading 'loki+http://…': Loki: giving up after …`).
    pub fn without_target(&self) -> String {
        let text = self.to_string();
        match self {
            LokiError::Tls { target, .. }
            | LokiError::Down { target, .. }
            | LokiError::Api { target, .. }
            | LokiError::GaveUp { target, .. }
            | LokiError::Protocol { target, .. }
            | LokiError::Stuck { target, .. } => {
                text.replacen(&format!("Loki at {target}"), "Loki", 1)
            }
            _ => text,
        }
    }
}

/// Where a Loki input points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LokiTarget {
    /// `host:port` over TCP, or over TLS for `loki+https://`.
    pub endpoint: Endpoint,
    /// `Host` header.
    pub host: String,
    /// Path prefix before `/loki/api/v1/…` (empty, or `/something` without trailing `/`).
    pub prefix: String,
    /// The input as given.
    pub uri: String,
}

/// Parse `loki+http://HOST[:PORT][/PREFIX]` (port default 3100) or
/// `loki+https://HOST[:PORT][/PREFIX]` (port default 443; trust: the system store or
/// `SSL_CERT_FILE` / `SSL_CERT_DIR`, plus the PEM certificates of `ca_file`).
///
/// # Errors
/// Other schemes, an empty host, a bad `ca_file` (https only).
pub fn parse_uri(uri: &str, ca_file: Option<&Path>) -> Result<LokiTarget, LokiError> {
    let (rest, https) = if let Some(r) = uri.strip_prefix("loki+https://") {
        (r, true)
    } else if let Some(r) = uri.strip_prefix("loki+http://") {
        (r, false)
    } else {
        return Err(LokiError::BadUri(uri.to_string()));
    };
    let (hostport, prefix) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if hostport.is_empty() || hostport.contains(['@', '?', '#', ' ']) {
        return Err(LokiError::BadUri(uri.to_string()));
    }
    let has_port = match hostport.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !h.is_empty()
        }
        _ => false,
    };
    let addr = if has_port {
        hostport.to_string()
    } else if hostport.contains(':') && !hostport.starts_with('[') {
        return Err(LokiError::BadUri(uri.to_string()));
    } else {
        format!("{hostport}:{}", if https { 443 } else { 3100 })
    };
    let endpoint = if https {
        // The host without port and IPv6 brackets: the name the certificate must be valid for.
        let host = match addr.rsplit_once(':') {
            Some((h, _)) => h,
            None => &addr,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if rustls::pki_types::ServerName::try_from(host).is_err() {
            return Err(LokiError::BadUri(uri.to_string()));
        }
        Endpoint::Tls {
            addr: addr.clone(),
            server_name: host.to_string(),
            config: tls::client_config(ca_file)?,
        }
    } else {
        Endpoint::Tcp(addr)
    };
    Ok(LokiTarget {
        endpoint,
        host: hostport.to_string(),
        prefix: prefix.to_string(),
        uri: uri.to_string(),
    })
}

/// Credentials and tenant. `Debug` never shows the values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Auth {
    /// `X-Scope-OrgID` (tenant; `a|b` for multi-tenant queries).
    pub org_id: Option<String>,
    /// Basic auth user and password.
    pub basic: Option<(String, String)>,
    /// Bearer token.
    pub bearer: Option<String>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = |b: bool| if b { "<set>" } else { "<none>" };
        f.debug_struct("Auth")
            .field("org_id", &set(self.org_id.is_some()))
            .field("basic", &set(self.basic.is_some()))
            .field("bearer", &set(self.bearer.is_some()))
            .finish()
    }
}

impl Auth {
    /// Read `LOKI_ORG_ID`, `LOKI_USERNAME` + `LOKI_PASSWORD`, `LOKI_BEARER_TOKEN` (and
    /// `LOKI_BEARER_TOKEN_FILE`) from `env`, then from `file` if given (lines `KEY=VALUE` with the
    /// same names, `#` comments; values in the file win).
    ///
    /// # Errors
    /// An unreadable file, unknown keys in it, a user without password, basic and bearer both.
    pub fn load(
        env: &dyn Fn(&str) -> Option<String>,
        file: Option<&Path>,
    ) -> Result<Auth, LokiError> {
        let mut vals: HashMap<String, String> = HashMap::new();
        for k in KEYS {
            if let Some(v) = env(k).filter(|v| !v.is_empty()) {
                vals.insert(k.to_string(), v);
            }
        }
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| LokiError::Auth(format!("cannot read {}: {e}", path.display())))?;
            for (n, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let Some((k, v)) = line.split_once('=') else {
                    return Err(LokiError::Auth(format!(
                        "{} line {}: expected KEY=VALUE",
                        path.display(),
                        n + 1
                    )));
                };
                let k = k.trim().trim_start_matches("export ").trim();
                if !KEYS.contains(&k) {
                    return Err(LokiError::Auth(format!(
                        "{} line {}: unknown key {k:?} (known: {})",
                        path.display(),
                        n + 1,
                        KEYS.join(", ")
                    )));
                }
                let v = v.trim().trim_matches('"').to_string();
                vals.insert(k.to_string(), v);
            }
        }
        if let Some(p) = vals.remove("LOKI_BEARER_TOKEN_FILE") {
            let t = std::fs::read_to_string(&p)
                .map_err(|e| LokiError::Auth(format!("cannot read LOKI_BEARER_TOKEN_FILE: {e}")))?;
            vals.entry("LOKI_BEARER_TOKEN".into())
                .or_insert_with(|| t.trim().to_string());
        }
        let user = vals.remove("LOKI_USERNAME");
        let pass = vals.remove("LOKI_PASSWORD");
        let basic = match (user, pass) {
            (Some(u), Some(p)) => Some((u, p)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(LokiError::Auth(
                    "LOKI_USERNAME without LOKI_PASSWORD".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(LokiError::Auth(
                    "LOKI_PASSWORD without LOKI_USERNAME".into(),
                ));
            }
        };
        let bearer = vals.remove("LOKI_BEARER_TOKEN");
        if basic.is_some() && bearer.is_some() {
            return Err(LokiError::Auth(
                "basic auth (LOKI_USERNAME/LOKI_PASSWORD) and LOKI_BEARER_TOKEN are mutually exclusive"
                    .into(),
            ));
        }
        Ok(Auth {
            org_id: vals.remove("LOKI_ORG_ID"),
            basic,
            bearer,
        })
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = Vec::new();
        if let Some(o) = &self.org_id {
            h.push(("X-Scope-OrgID", o.clone()));
        }
        if let Some((u, p)) = &self.basic {
            h.push((
                "Authorization",
                format!("Basic {}", ws::base64(format!("{u}:{p}").as_bytes())),
            ));
        }
        if let Some(t) = &self.bearer {
            h.push(("Authorization", format!("Bearer {t}")));
        }
        h
    }
}

const KEYS: [&str; 6] = [
    "LOKI_ORG_ID",
    "LOKI_USERNAME",
    "LOKI_PASSWORD",
    "LOKI_BEARER_TOKEN",
    "LOKI_BEARER_TOKEN_FILE",
    "LOKI_ADDR",
];

/// How to read.
#[derive(Clone, Debug)]
pub struct LokiOpts {
    /// LogQL (a log query; metric queries are refused).
    pub query: String,
    /// Range start, inclusive (UTC ns).
    pub start: i64,
    /// Range end, exclusive (UTC ns).
    pub end: i64,
    /// Then tail live (only when the range ends now).
    pub follow: bool,
    /// Entries per `query_range` call.
    pub batch: u32,
    /// Slices of the range queried at once ([`DEFAULT_PARALLEL`]; 1: one request at a time).
    pub parallel: u32,
    /// Connect / read timeout of one request.
    pub timeout: Duration,
    /// Retries of one request (429, 5xx, timeouts) and of tail reconnects.
    pub retries: u32,
    /// First backoff; doubled per retry, at most 5 s.
    pub backoff: Duration,
    /// Credentials.
    pub auth: Auth,
}

impl LokiOpts {
    /// Defaults for a query over `[start, end)`.
    pub fn new(query: &str, start: i64, end: i64) -> LokiOpts {
        LokiOpts {
            query: query.to_string(),
            start,
            end,
            follow: false,
            batch: DEFAULT_BATCH,
            parallel: DEFAULT_PARALLEL,
            timeout: Duration::from_secs(30),
            retries: 5,
            backoff: Duration::from_millis(250),
            auth: Auth::default(),
        }
    }
}

/// Distinct label sets, interned; id 0 is the empty set.
#[derive(Debug)]
pub struct LabelTable {
    inner: Mutex<Interner>,
}

#[derive(Debug, Default)]
struct Interner {
    ids: HashMap<Vec<(String, String)>, u32>,
    sets: Vec<Arc<[(String, String)]>>,
}

impl Default for LabelTable {
    fn default() -> Self {
        let mut i = Interner::default();
        i.ids.insert(Vec::new(), 0);
        i.sets.push(Arc::from(Vec::new()));
        LabelTable {
            inner: Mutex::new(i),
        }
    }
}

impl LabelTable {
    /// Id of a label set (sorted by key). Past [`MAX_LABEL_SETS`] new sets get 0.
    pub fn intern(&self, set: Vec<(String, String)>) -> u32 {
        let Ok(mut t) = self.inner.lock() else {
            return 0;
        };
        if let Some(id) = t.ids.get(&set) {
            return *id;
        }
        if t.sets.len() >= MAX_LABEL_SETS {
            return 0;
        }
        let id = t.sets.len() as u32;
        t.sets.push(Arc::from(set.clone()));
        t.ids.insert(set, id);
        id
    }

    /// The label set with this id (empty if unknown).
    pub fn get(&self, id: u32) -> Vec<(String, String)> {
        self.inner
            .lock()
            .ok()
            .and_then(|t| t.sets.get(id as usize).map(|s| s.to_vec()))
            .unwrap_or_default()
    }
}

/// One Loki input, shared by the reader thread and the pipeline (labels, dropped count).
#[derive(Debug)]
pub struct LokiInput {
    /// Where.
    pub target: LokiTarget,
    /// What and how.
    pub opts: LokiOpts,
    /// Label sets of the emitted lines.
    pub labels: LabelTable,
    /// Entries the server reported as dropped from the tail.
    pub dropped: AtomicU64,
}

impl LokiInput {
    /// A new input.
    pub fn new(target: LokiTarget, opts: LokiOpts) -> LokiInput {
        LokiInput {
            target,
            opts,
            labels: LabelTable::default(),
            dropped: AtomicU64::new(0),
        }
    }

    /// Dropped entries so far.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Which line of its entry a line is: Loki gives each entry's boundary exactly, so an entry
/// with several lines (a traceback pushed as one entry) is one event, not a guess.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The whole entry (one line): joined to the event before it like a file's line.
    Whole,
    /// The first line of an entry with several: always a new event.
    First,
    /// A further line of an entry: always a continuation of the entry's first line.
    Inner,
}

/// A line's label tag: `\x1e<id>\x1f`, or `\x1e<id>f\x1f` / `\x1e<id>c\x1f` for the first /
/// a further line of an entry with several lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    /// The label set's id in [`LokiInput::labels`].
    pub labels: u32,
    /// Which line of its entry this is.
    pub part: Part,
}

/// Split a line's label tag off: the tag and the rest.
pub fn split_tag(line: &[u8]) -> (Option<Tag>, &[u8]) {
    if line.first() != Some(&TAG_START) {
        return (None, line);
    }
    let Some(end) = line.iter().take(13).position(|&b| b == TAG_END) else {
        return (None, line);
    };
    let (digits, part) = match &line[1..end] {
        [d @ .., b'f'] => (d, Part::First),
        [d @ .., b'c'] => (d, Part::Inner),
        d => (d, Part::Whole),
    };
    let id = std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse().ok());
    match id {
        Some(labels) => (Some(Tag { labels, part }), &line[end + 1..]),
        None => (None, line),
    }
}

// ------------------------------------------------------------------ client

struct Client<'a> {
    input: &'a LokiInput,
    headers: Vec<(&'static str, String)>,
    contacted: bool,
}

enum Attempt {
    Retry(String),
    Fail(LokiError),
}

impl<'a> Client<'a> {
    fn new(input: &'a LokiInput) -> Self {
        Client {
            input,
            headers: input.opts.auth.headers(),
            contacted: false,
        }
    }

    fn target_name(&self) -> String {
        self.input.target.uri.clone()
    }

    fn header_refs(&self) -> Vec<(&str, &str)> {
        self.headers.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    /// Sleep before retry `attempt` (0-based); false when a stop was requested.
    fn backoff(&self, attempt: u32, retry_after: Option<Duration>) -> bool {
        let base = self.input.opts.backoff;
        let exp = base.saturating_mul(1 << attempt.min(16));
        let wait = retry_after.unwrap_or(exp).min(Duration::from_secs(5));
        let until = std::time::Instant::now() + wait;
        while std::time::Instant::now() < until {
            if live::stopping() {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20).min(wait));
        }
        !live::stopping()
    }

    /// `GET` with retries; the body of a 200.
    fn get(&mut self, path_query: &str) -> Result<String, LokiError> {
        let t = &self.input.target;
        let full = format!("{}{path_query}", t.prefix);
        let mut attempt = 0;
        loop {
            let mut retry_after = None;
            let res = match http::get(
                &t.endpoint,
                &t.host,
                &full,
                &self.header_refs(),
                Some(self.input.opts.timeout),
            ) {
                Ok(r) => {
                    self.contacted = true;
                    let status = r.status;
                    retry_after = r
                        .header("retry-after")
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    match r.text(512 << 20) {
                        Ok(body) if status == 200 => return Ok(body),
                        Ok(body) if status == 429 || status >= 500 => {
                            Attempt::Retry(format!("HTTP {status}: {}", body.trim()))
                        }
                        Ok(body) => Attempt::Fail(LokiError::Api {
                            target: self.target_name(),
                            status,
                            message: body.trim().to_string(),
                        }),
                        Err(e) => Attempt::Retry(e.to_string()),
                    }
                }
                Err(e @ HttpError::Connect { .. }) if !self.contacted => {
                    Attempt::Fail(LokiError::Down {
                        target: self.target_name(),
                        cause: e,
                    })
                }
                Err(HttpError::Protocol(m)) => Attempt::Fail(LokiError::Protocol {
                    target: self.target_name(),
                    message: m,
                }),
                Err(e @ HttpError::Tls { .. }) => Attempt::Fail(LokiError::Tls {
                    target: self.target_name(),
                    cause: e,
                }),
                Err(e) => Attempt::Retry(e.to_string()),
            };
            match res {
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(last) => {
                    if attempt >= self.input.opts.retries || !self.backoff(attempt, retry_after) {
                        return Err(LokiError::GaveUp {
                            target: self.target_name(),
                            attempts: attempt + 1,
                            last,
                        });
                    }
                    attempt += 1;
                }
            }
        }
    }
}

// ------------------------------------------------------------------ decoding

#[derive(Deserialize)]
struct QueryResponse {
    status: String,
    data: QueryData,
}

#[derive(Deserialize)]
struct QueryData {
    #[serde(rename = "resultType")]
    result_type: String,
    #[serde(default)]
    result: Vec<StreamObj>,
}

#[derive(Deserialize)]
struct StreamObj {
    #[serde(default)]
    stream: HashMap<String, String>,
    #[serde(default)]
    values: Vec<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct TailMessage {
    #[serde(default)]
    streams: Vec<StreamObj>,
    #[serde(default)]
    dropped_entries: Vec<serde_json::Value>,
}

/// One log entry: time, label-set id, line.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    ts: i64,
    labels: u32,
    line: String,
}

/// Entries of a response's stream objects, sorted by (time, label set, line).
fn entries(streams: Vec<StreamObj>, table: &LabelTable) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    for s in streams {
        let base: Vec<(String, String)> = s.stream.into_iter().collect();
        let mut plain_id = None;
        for v in s.values {
            let ts = v
                .first()
                .and_then(|t| t.as_str())
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or("an entry without a nanosecond timestamp string")?;
            let line = v
                .get(1)
                .and_then(|l| l.as_str())
                .ok_or("an entry without a line")?
                .to_string();
            // categorize-labels: a third element with structuredMetadata / parsed labels.
            let extra: Vec<(String, String)> = v
                .get(2)
                .and_then(|m| m.as_object())
                .map(|m| {
                    ["structuredMetadata", "parsed"]
                        .iter()
                        .filter_map(|k| m.get(*k)?.as_object())
                        .flat_map(|o| {
                            o.iter().map(|(k, v)| {
                                (k.clone(), v.as_str().unwrap_or_default().to_string())
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            let labels = if extra.is_empty() {
                *plain_id.get_or_insert_with(|| {
                    let mut set = base.clone();
                    set.sort();
                    table.intern(set)
                })
            } else {
                let mut set = base.clone();
                for (k, v) in extra {
                    match set.iter_mut().find(|(sk, _)| *sk == k) {
                        Some(e) => e.1 = v,
                        None => set.push((k, v)),
                    }
                }
                set.sort();
                table.intern(set)
            };
            out.push(Entry { ts, labels, line });
        }
    }
    // Ties in time go by the label sets' content, not their ids: ids are handed out in the
    // order sets are first seen, which slices fetched in parallel make differ between runs.
    let mut ids: Vec<u32> = out.iter().map(|e| e.labels).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut sets: Vec<(Vec<(String, String)>, u32)> =
        ids.into_iter().map(|id| (table.get(id), id)).collect();
    sets.sort();
    let rank: HashMap<u32, usize> = sets
        .iter()
        .enumerate()
        .map(|(r, (_, id))| (*id, r))
        .collect();
    let rank_of = |e: &Entry| rank.get(&e.labels).copied().unwrap_or(usize::MAX);
    out.sort_by(|a, b| (a.ts, rank_of(a), &a.line).cmp(&(b.ts, rank_of(b), &b.line)));
    Ok(out)
}

/// Append the tagged CRI line(s) of one entry. Blank lines before and after an entry's text
/// are not lines of it (an entry of blank lines only is one blank line).
fn render(e: &Entry, table_stream: &str, out: &mut Vec<u8>) {
    let ts = format_rfc3339_nanos(e.ts);
    let line = |piece: &str, mark: Option<u8>, out: &mut Vec<u8>| {
        let piece = piece.strip_suffix('\r').unwrap_or(piece);
        out.push(TAG_START);
        out.extend_from_slice(e.labels.to_string().as_bytes());
        out.extend(mark);
        out.push(TAG_END);
        out.extend_from_slice(ts.as_bytes());
        out.push(b' ');
        out.extend_from_slice(table_stream.as_bytes());
        out.extend_from_slice(b" F ");
        out.extend_from_slice(piece.as_bytes());
        out.push(b'\n');
    };
    // Nearly every entry is one line: no list of pieces for it.
    if !e.line.contains('\n') {
        return line(&e.line, None, out);
    }
    let pieces: Vec<&str> = e.line.split('\n').collect();
    let blank = |p: &&str| p.trim().is_empty();
    let first = pieces.iter().position(|p| !blank(p)).unwrap_or(0);
    let last = pieces.iter().rposition(|p| !blank(p)).unwrap_or(0);
    let pieces = &pieces[first..=last.max(first)];
    if let [one] = pieces {
        return line(one, None, out);
    }
    for (i, piece) in pieces.iter().enumerate() {
        line(piece, Some(if i == 0 { b'f' } else { b'c' }), out);
    }
}

// ------------------------------------------------------------------ reader

enum Phase {
    Range,
    Tail,
    Done,
}

/// What has been emitted, for dropping repeats, and the rendered lines not yet handed out.
struct Emitted {
    /// Newest timestamp emitted and the entries emitted at it.
    last_ts: Option<i64>,
    at_last: HashSet<(u32, String)>,
    stream_of: HashMap<u32, &'static str>,
    out: Vec<u8>,
}

impl Emitted {
    fn new() -> Emitted {
        Emitted {
            last_ts: None,
            at_last: HashSet::new(),
            stream_of: HashMap::new(),
            out: Vec::new(),
        }
    }

    /// Was `e` emitted already (the newest timestamp, same label set and line)?
    fn repeat(&self, e: &Entry) -> bool {
        self.last_ts == Some(e.ts) && self.at_last.contains(&(e.labels, e.line.clone()))
    }

    fn emit(&mut self, e: &Entry, table: &LabelTable) {
        match self.last_ts {
            // Older than the newest emitted (a tail message out of order): not a resume point.
            Some(l) if e.ts < l => {}
            Some(l) if e.ts == l => {
                self.at_last.insert((e.labels, e.line.clone()));
            }
            _ => {
                self.last_ts = Some(e.ts);
                self.at_last.clear();
                self.at_last.insert((e.labels, e.line.clone()));
            }
        }
        let stream = *self.stream_of.entry(e.labels).or_insert_with(|| {
            let set = table.get(e.labels);
            if set.iter().any(|(k, v)| k == "stream" && v == "stderr") {
                "stderr"
            } else {
                "stdout"
            }
        });
        render(e, stream, &mut self.out);
    }
}

/// One slice `[start, end)` of the history, paged on a thread of its own.
struct Slice {
    input: Arc<LokiInput>,
    /// Next page start.
    start: i64,
    end: i64,
    contacted: bool,
    emitted: Emitted,
}

/// What a slice's thread hands the reader.
enum Fetched {
    /// A page's rendered lines.
    Page(Vec<u8>),
    /// The slice is read (or a stop was requested): what it emitted, for the tail.
    End(Box<Emitted>),
    Failed(LokiError),
}

/// Pages a slice may fetch before the reader takes them (bounds memory: `parallel` × this ×
/// a page).
const PAGES_AHEAD: usize = 2;
/// The history is cut into `parallel` × this slices of equal duration.
const SLICES_PER_WORKER: u32 = 16;

impl Slice {
    /// One `query_range` page into `emitted.out`; false when it was the slice's last.
    fn page(&mut self) -> Result<bool, LokiError> {
        let o = &self.input.opts;
        let batch = o.batch.max(1);
        let target = range_target(o, self.start, self.end, batch);
        let mut client = Client::new(&self.input);
        client.contacted = self.contacted;
        let body = client.get(&target)?;
        self.contacted = true;
        let got = decode_range(&body, &self.input)?;
        let n = got.len();
        let mut fresh = 0;
        for e in &got {
            if !self.emitted.repeat(e) {
                fresh += 1;
                self.emitted.emit(e, &self.input.labels);
            }
        }
        if n < batch as usize {
            return Ok(false);
        }
        let newest = got.last().map_or(self.start, |e| e.ts);
        // A full batch of repeats: more entries share one timestamp than a batch holds.
        if fresh == 0 {
            return Err(LokiError::Stuck {
                target: self.input.target.uri.clone(),
                batch,
                ts: format_rfc3339_nanos(newest),
            });
        }
        self.start = newest;
        Ok(true)
    }

    /// Fetch pages until the slice ends, a stop is requested or the reader is gone.
    fn run(mut self, tx: &SyncSender<Fetched>) {
        while !live::stopping() {
            match self.page() {
                Ok(more) => {
                    let page = std::mem::take(&mut self.emitted.out);
                    if !page.is_empty() && tx.send(Fetched::Page(page)).is_err() {
                        return;
                    }
                    if !more {
                        break;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Fetched::Failed(e));
                    return;
                }
            }
        }
        let _ = tx.send(Fetched::End(Box::new(self.emitted)));
    }
}

/// `[start, end)` cut into at most `n` consecutive slices of (nearly) equal length.
fn slices(start: i64, end: i64, n: u32) -> Vec<(i64, i64)> {
    let len = i128::from(end) - i128::from(start);
    if len <= 0 {
        return vec![(start, end)];
    }
    let n = i128::from(n.max(1)).min(len);
    (0..n)
        .map(|i| {
            let at = |k: i128| i64::try_from(i128::from(start) + len * k / n).unwrap_or(end);
            (at(i), at(i + 1))
        })
        .collect()
}

/// The input's bytes: tagged CRI lines (see the module docs).
pub struct LokiReader {
    input: Arc<LokiInput>,
    phase: Phase,
    end: i64,
    /// What was emitted: the newest slice's, once the history is read (for the tail).
    emitted: Emitted,
    /// Slices of the history not started yet, oldest first (cut at the first read).
    waiting: Option<VecDeque<(i64, i64)>>,
    /// The pages of the slices being fetched (at most `parallel`), oldest slice first.
    running: VecDeque<Receiver<Fetched>>,
    /// A slice was started.
    sliced: bool,
    ws: Option<WebSocket>,
    /// After a reconnect: the timestamp it resumed at and the entries (label set, line)
    /// emitted at it before. The new tail replays from that timestamp in whatever order its
    /// messages come, so for the whole connection an entry at that timestamp with one of these
    /// keys is a repeat (Loki keeps one entry per stream, timestamp and line). Only one
    /// timestamp's entries: memory stays bounded.
    replay: Option<(i64, HashSet<(u32, String)>)>,
    tail_failures: u32,
    out: Vec<u8>,
    pos: usize,
}

/// Check that Loki answers the query (reachable, auth accepted, valid LogQL, log query) with
/// one `limit=1` request, so problems are reported before any output.
///
/// # Errors
/// Any [`LokiError`].
pub fn check(input: &LokiInput) -> Result<(), LokiError> {
    let mut c = Client::new(input);
    let o = &input.opts;
    let body = c.get(&range_target(o, o.start, o.end.max(o.start + 1), 1))?;
    decode_range(&body, input).map(|_| ())
}

fn range_target(o: &LokiOpts, start: i64, end: i64, limit: u32) -> String {
    format!(
        "/loki/api/v1/query_range?query={}&limit={limit}&start={start}&end={end}&direction=forward",
        http::encode(&o.query)
    )
}

fn decode_range(body: &str, input: &LokiInput) -> Result<Vec<Entry>, LokiError> {
    let proto = |message: String| LokiError::Protocol {
        target: input.target.uri.clone(),
        message,
    };
    let r: QueryResponse = serde_json::from_str(body).map_err(|e| proto(e.to_string()))?;
    if r.status != "success" {
        return Err(proto(format!("status {:?}", r.status)));
    }
    if r.data.result_type != "streams" {
        return Err(proto(format!(
            "resultType {:?}: only log queries are supported, not metric queries",
            r.data.result_type
        )));
    }
    entries(r.data.result, &input.labels).map_err(proto)
}

/// Start reading an input.
pub fn open(input: Arc<LokiInput>) -> LokiReader {
    let end = input.opts.end;
    LokiReader {
        input,
        phase: Phase::Range,
        end,
        emitted: Emitted::new(),
        waiting: None,
        running: VecDeque::new(),
        sliced: false,
        ws: None,
        replay: None,
        tail_failures: 0,
        out: Vec::new(),
        pos: 0,
    }
}

/// A failure while the input is read: not [`super::Fatal`], so the pipeline keeps what was
/// read before it (in time order), names the input and the cause, and exits with code 2.
fn read_failed(e: LokiError) -> io::Error {
    io::Error::other(e.without_target())
}

impl LokiReader {
    /// Start slices until `parallel` are being fetched (the first call cuts the history).
    fn refill(&mut self) -> Result<(), LokiError> {
        let o = &self.input.opts;
        let waiting = self.waiting.get_or_insert_with(|| {
            // Many short slices, a few at a time and read in order: each runs only a little
            // ahead of the reader (memory stays bounded) and none waits long for its turn.
            // One at a time: the whole range is one slice, paged from start to end.
            let n = match o.parallel {
                0 | 1 => 1,
                p => p.saturating_mul(SLICES_PER_WORKER),
            };
            slices(o.start, self.end, n).into()
        });
        while self.running.len() < o.parallel.max(1) as usize
            && let Some((start, end)) = waiting.pop_front()
        {
            let (tx, rx) = sync_channel(PAGES_AHEAD);
            let slice = Slice {
                input: self.input.clone(),
                start,
                end,
                // After the first slice, a refused connection is a lost one (retried), not a
                // Loki that was never there.
                contacted: self.sliced,
                emitted: Emitted::new(),
            };
            self.sliced = true;
            std::thread::Builder::new()
                .name("loki-slice".into())
                .spawn(move || slice.run(&tx))
                .map_err(|e| LokiError::Protocol {
                    target: self.input.target.uri.clone(),
                    message: format!("cannot start a reader thread: {e}"),
                })?;
            self.running.push_back(rx);
        }
        Ok(())
    }

    /// The next history page into `out`, slices in time order.
    fn page(&mut self) -> Result<(), LokiError> {
        self.refill()?;
        let Some(oldest) = self.running.front() else {
            self.phase = if self.input.opts.follow && !live::stopping() {
                Phase::Tail
            } else {
                Phase::Done
            };
            return Ok(());
        };
        match oldest.recv() {
            Ok(Fetched::Page(page)) => self.out = page,
            Ok(Fetched::Failed(e)) => return Err(e),
            Ok(Fetched::End(emitted)) => {
                self.running.pop_front();
                // The tail resumes after the newest entry emitted.
                if emitted.last_ts.is_some() {
                    self.emitted = *emitted;
                }
                if live::stopping() {
                    self.running.clear();
                    self.waiting = Some(VecDeque::new());
                }
            }
            // Every path of a slice's thread ends with a message; should one vanish anyway,
            // its entries would be missing, so the run stops.
            Err(_) => {
                return Err(LokiError::Protocol {
                    target: self.input.target.uri.clone(),
                    message: "a reader thread stopped".into(),
                });
            }
        }
        Ok(())
    }

    /// One tail message into `out` (connecting or reconnecting as needed).
    fn tail(&mut self) -> Result<(), LokiError> {
        let retries = self.input.opts.retries;
        if self.ws.is_none() {
            let from = self.emitted.last_ts.map_or(self.end, |l| l.max(self.end));
            let t = &self.input.target;
            let target = format!(
                "{}/loki/api/v1/tail?query={}&start={from}&limit={}",
                t.prefix,
                http::encode(&self.input.opts.query),
                self.input.opts.batch.max(1)
            );
            let headers = self.input.opts.auth.headers();
            let refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            match WebSocket::connect(&t.endpoint, &t.host, &target, &refs) {
                Ok(ws) => {
                    self.ws = Some(ws);
                    self.replay = self
                        .emitted
                        .last_ts
                        .filter(|l| *l >= self.end)
                        .map(|l| (l, self.emitted.at_last.clone()));
                }
                Err(WsError::Refused { status, body }) if status != 429 && status < 500 => {
                    return Err(LokiError::Api {
                        target: t.uri.clone(),
                        status,
                        message: body,
                    });
                }
                Err(WsError::Http(e @ HttpError::Tls { .. })) => {
                    return Err(LokiError::Tls {
                        target: t.uri.clone(),
                        cause: e,
                    });
                }
                Err(e) => return self.tail_retry(e.to_string(), retries),
            }
        }
        let msg = match self.ws.as_mut().map(WebSocket::next_message) {
            Some(Ok(Some(m))) => m,
            Some(Ok(None)) | None => {
                self.ws = None;
                if live::stopping() {
                    self.phase = Phase::Done;
                    return Ok(());
                }
                return self.tail_retry("the tail connection was closed".into(), retries);
            }
            Some(Err(e)) => {
                self.ws = None;
                if live::stopping() {
                    self.phase = Phase::Done;
                    return Ok(());
                }
                return self.tail_retry(e.to_string(), retries);
            }
        };
        self.tail_failures = 0;
        let m: TailMessage = serde_json::from_slice(&msg).map_err(|e| LokiError::Protocol {
            target: self.input.target.uri.clone(),
            message: format!("tail message: {e}"),
        })?;
        if !m.dropped_entries.is_empty() {
            let n = m.dropped_entries.len() as u64;
            self.input.dropped.fetch_add(n, Ordering::Relaxed);
            eprintln!(
                "logsleuth: {}: Loki dropped {n} tail entries (the tail could not keep up); counted as input.dropped_entries",
                self.input.target.uri
            );
        }
        let got =
            entries(m.streams, &self.input.labels).map_err(|message| LokiError::Protocol {
                target: self.input.target.uri.clone(),
                message,
            })?;
        for e in &got {
            // Older entries are not replayed (the tail starts at `from`, inclusive): one that
            // comes is new (pushed late), and newer ones cannot have been emitted yet.
            if let Some((at, seen)) = &self.replay
                && e.ts == *at
                && seen.contains(&(e.labels, e.line.clone()))
            {
                continue;
            }
            self.emitted.emit(e, &self.input.labels);
        }
        self.out = std::mem::take(&mut self.emitted.out);
        Ok(())
    }

    fn tail_retry(&mut self, last: String, retries: u32) -> Result<(), LokiError> {
        let c = Client::new(&self.input);
        if self.tail_failures >= retries || !c.backoff(self.tail_failures, None) {
            if live::stopping() {
                self.phase = Phase::Done;
                return Ok(());
            }
            return Err(LokiError::GaveUp {
                target: self.input.target.uri.clone(),
                attempts: self.tail_failures + 1,
                last,
            });
        }
        self.tail_failures += 1;
        Ok(())
    }
}

impl Read for LokiReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.out.len() {
            self.out.clear();
            self.pos = 0;
            if live::stopping() && !matches!(self.phase, Phase::Range) {
                self.phase = Phase::Done;
            }
            let step = match self.phase {
                Phase::Range => self.page(),
                Phase::Tail => self.tail(),
                Phase::Done => return Ok(0),
            };
            if let Err(e) = step {
                self.phase = Phase::Done;
                self.running.clear();
                self.ws = None;
                // A followed run may go on for hours with other inputs: say it now (the
                // pipeline says it again when the run ends).
                if self.input.opts.follow {
                    let mut cause = e.without_target();
                    crate::output::one_line(&mut cause);
                    eprintln!(
                        "logsleuth: {}: {cause}; this input stops here",
                        self.input.target.uri
                    );
                }
                return Err(read_failed(e));
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Slices are consecutive, non-empty, cover exactly `[start, end)` and are at most `n`.
        #[test]
        fn slices_cover_the_range_once(start in proptest::num::i64::ANY, len in 0i64..1 << 62, n in 0u32..100) {
            let end = start.saturating_add(len);
            let got = slices(start, end, n);
            proptest::prop_assert!(!got.is_empty() && got.len() <= n.max(1) as usize);
            proptest::prop_assert_eq!(got[0].0, start);
            proptest::prop_assert_eq!(got[got.len() - 1].1, end);
            for w in got.windows(2) {
                proptest::prop_assert_eq!(w[0].1, w[1].0);
            }
            if end > start {
                proptest::prop_assert!(got.iter().all(|(a, b)| a < b));
            }
        }
    }

    #[test]
    fn uris() {
        let t = parse_uri("loki+http://127.0.0.1:3100", None).unwrap();
        assert_eq!(t.endpoint, Endpoint::Tcp("127.0.0.1:3100".into()));
        assert_eq!(t.prefix, "");
        let t = parse_uri("loki+http://loki.example/gw/", None).unwrap();
        assert_eq!(t.endpoint, Endpoint::Tcp("loki.example:3100".into()));
        assert_eq!(t.prefix, "/gw");
        let https = |uri: &str| match parse_uri(uri, None).unwrap() {
            LokiTarget {
                endpoint:
                    Endpoint::Tls {
                        addr, server_name, ..
                    },
                host,
                prefix,
                ..
            } => (addr, server_name, host, prefix),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            https("loki+https://x:443"),
            ("x:443".into(), "x".into(), "x:443".into(), String::new())
        );
        assert_eq!(
            https("loki+https://logs.example.com/loki-gw"),
            (
                "logs.example.com:443".into(),
                "logs.example.com".into(),
                "logs.example.com".into(),
                "/loki-gw".into()
            )
        );
        assert_eq!(https("loki+https://[::1]:8443").1, "::1");
        assert_eq!(https("loki+https://127.0.0.1:8443").1, "127.0.0.1");
        assert!(parse_uri("loki+http://", None).is_err());
        assert!(parse_uri("loki+https://", None).is_err());
        assert!(parse_uri("loki+http://u:p@h:1", None).is_err());
        assert!(parse_uri("http://h:1", None).is_err());
        assert!(parse_uri("loki+http://h:x", None).is_err());
        assert!(parse_uri("loki+https://bad_name!:1", None).is_err());
        // A bad --ca-file is an error naming the file (https only).
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("ca.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        let err = parse_uri("loki+https://x:1", Some(&f))
            .unwrap_err()
            .to_string();
        assert!(err.contains("--ca-file") && err.contains("ca.pem"), "{err}");
        let err = parse_uri("loki+https://x:1", Some(&dir.path().join("missing.pem")))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing.pem"), "{err}");
    }

    #[test]
    fn auth_from_env_and_file_never_debug_printed() {
        let env = |k: &str| match k {
            "LOKI_ORG_ID" => Some("tenant-a".to_string()),
            "LOKI_USERNAME" => Some("alice".to_string()),
            "LOKI_PASSWORD" => Some("s3cret".to_string()),
            _ => None,
        };
        let a = Auth::load(&env, None).unwrap();
        assert_eq!(a.org_id.as_deref(), Some("tenant-a"));
        let dbg = format!("{a:?}");
        assert!(!dbg.contains("s3cret") && !dbg.contains("alice") && !dbg.contains("tenant-a"));
        let h = a.headers();
        assert!(h.contains(&("Authorization", "Basic YWxpY2U6czNjcmV0".to_string())));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("auth");
        std::fs::write(&f, "# x\nLOKI_BEARER_TOKEN=tok\n").unwrap();
        let err = Auth::load(&env, Some(&f)).unwrap_err().to_string();
        assert!(err.contains("mutually exclusive") && !err.contains("tok"));
        let a = Auth::load(&|_| None, Some(&f)).unwrap();
        assert_eq!(a.bearer.as_deref(), Some("tok"));
        std::fs::write(&f, "LOKI_TOKEN=zz\n").unwrap();
        let err = Auth::load(&|_| None, Some(&f)).unwrap_err().to_string();
        assert!(err.contains("unknown key") && !err.contains("zz"));
    }

    #[test]
    fn tags_round_trip_and_entries_sort() {
        let table = LabelTable::default();
        let streams: Vec<StreamObj> = serde_json::from_str(
            r#"[{"stream":{"app":"b"},"values":[["3","b3"],["1","b1\nsecond"]]},
                {"stream":{"app":"a"},"values":[["2","a2",{}],["3","a3",{"structuredMetadata":{"trace_id":"t1"}}]]}]"#,
        )
        .unwrap();
        let got = entries(streams, &table).unwrap();
        let lines: Vec<&str> = got.iter().map(|e| e.line.as_str()).collect();
        // At time 3, {app=a, trace_id=t1} sorts before {app=b}, though {app=b} was seen first.
        assert_eq!(lines, ["b1\nsecond", "a2", "a3", "b3"]);
        assert_eq!(
            table.get(got[2].labels),
            vec![("app".into(), "a".into()), ("trace_id".into(), "t1".into())]
        );
        let mut out = Vec::new();
        render(&got[0], "stdout", &mut out);
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<(Option<Tag>, &[u8])> =
            text.lines().map(|l| split_tag(l.as_bytes())).collect();
        let tag = |part| {
            Some(Tag {
                labels: got[0].labels,
                part,
            })
        };
        assert_eq!(
            lines,
            [
                (
                    tag(Part::First),
                    &b"1970-01-01T00:00:00.000000001Z stdout F b1"[..]
                ),
                (
                    tag(Part::Inner),
                    &b"1970-01-01T00:00:00.000000001Z stdout F second"[..]
                ),
            ]
        );
        // One line: the whole entry; blank lines around an entry's text are not lines of it.
        for line in ["a2", "\r\n  \na2\r\n\n"] {
            let mut out = Vec::new();
            let e = Entry {
                line: line.into(),
                ..got[1].clone()
            };
            render(&e, "stdout", &mut out);
            let text = String::from_utf8(out).unwrap();
            assert_eq!(text.lines().count(), 1, "{line:?}");
            let (t, rest) = split_tag(text.trim_end().as_bytes());
            assert_eq!(t.map(|t| t.part), Some(Part::Whole));
            assert!(rest.ends_with(b" F a2"), "{text:?}");
        }
        // An entry of blank lines is one blank line.
        let mut out = Vec::new();
        let e = Entry {
            line: "\n\n".into(),
            ..got[1].clone()
        };
        render(&e, "stdout", &mut out);
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        assert_eq!(
            split_tag(b"\x1e4294967295c\x1fx").0.map(|t| t.labels),
            Some(u32::MAX)
        );
        assert_eq!(split_tag(b"\x1exx\x1fa"), (None, &b"\x1exx\x1fa"[..]));
        assert_eq!(split_tag(b"\x1ef\x1fa"), (None, &b"\x1ef\x1fa"[..]));
        assert_eq!(split_tag(b"plain"), (None, &b"plain"[..]));
        assert_eq!(split_tag(b"\x1e12"), (None, &b"\x1e12"[..]));
    }
}
