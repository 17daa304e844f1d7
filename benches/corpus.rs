//! Deterministic synthetic log corpus for logsleuth benchmarks (std only).
//!
//! `generate` streams a mix of SkillMeat (Python/FastAPI) and Skreaver (Rust/axum, tracing) log
//! lines, wrapped in the envelopes logsleuth must read: `kubectl logs --prefix --timestamps`,
//! CRI files (containerd and CRI-O writers, with `P` partial pieces), docker json-file records,
//! and bare lines. Output depends only on `(lines, seed)`; memory use is constant.
//!
//! Payload shapes follow the real captures described in FORMATS.md:
//! * Skreaver tracing JSON (`fields.message`, `span`/`spans`, `"latency":"N ms"`), tower-http
//!   `started/finished processing request`, `response failed`, websocket/auth/rbac messages.
//! * Skreaver `fmt` plain text, with and without ANSI colour.
//! * SkillMeat runtime JSON (`json.dumps` separators, naive timestamps), per request
//!   `Span completed` / `Request completed` / uvicorn access; 429s are the access line only;
//!   unhandled errors carry the traceback in a one-string `exception`.
//! * SkillMeat StructuredFormatter JSON (`Z` timestamps, trace/request ids, `extra.duration_ms`).
//! * SkillMeat text prod format with multi-line Python tracebacks.
//! * Generic JSON (zap style), logfmt, plain text, and multi-line Rust panics.

#![allow(clippy::too_many_arguments)]

use std::io::{self, Write};

pub struct CorpusSpec {
    pub lines: u64,
    pub seed: u64,
}

/// Writes the corpus; returns bytes written. Deterministic for (lines, seed). Streams (constant memory).
pub fn generate(spec: &CorpusSpec, out: &mut impl Write) -> io::Result<u64> {
    let mut g = Gen::new(spec);
    let mut written = 0u64;
    while g.lines < g.limit {
        g.event();
        if g.obuf.len() >= FLUSH_AT {
            out.write_all(&g.obuf)?;
            written += g.obuf.len() as u64;
            g.obuf.clear();
        }
    }
    out.write_all(&g.obuf)?;
    written += g.obuf.len() as u64;
    out.flush()?;
    Ok(written)
}

const FLUSH_AT: usize = 1 << 20;
/// 2026-11-22T06:00:00Z in ns since the Unix epoch.
const START_NS: u64 = 1_795_327_200 * 1_000_000_000;

// ---------------------------------------------------------------- randomness

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }
    /// Uniform in 0..n.
    fn below(&mut self, n: u64) -> u64 {
        ((self.next() as u128 * n as u128) >> 64) as u64
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Approximately standard normal (Irwin-Hall, 12 uniforms): no libm, so bit-identical everywhere.
    fn normal(&mut self) -> f64 {
        let mut s = 0.0;
        for _ in 0..12 {
            s += self.unit();
        }
        s - 6.0
    }
    fn word(&mut self, xs: &[&'static str]) -> &'static str {
        xs[self.below(xs.len() as u64) as usize]
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
}

/// splitmix64 finaliser.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// exp(x) with only +,-,*,/ (IEEE-exact, so identical output on every platform).
fn exp_det(x: f64) -> f64 {
    let x = x.clamp(-40.0, 40.0);
    let k = (x / std::f64::consts::LN_2).round();
    let r = x - k * std::f64::consts::LN_2;
    let (mut term, mut sum) = (1.0f64, 1.0f64);
    for i in 1..18 {
        term *= r / i as f64;
        sum += term;
    }
    let mut p = 1.0;
    let (base, n) = if k >= 0.0 { (2.0, k as i32) } else { (0.5, -(k as i32)) };
    for _ in 0..n {
        p *= base;
    }
    sum * p
}

// ---------------------------------------------------------------- byte helpers

#[inline]
fn s(b: &mut Vec<u8>, x: &str) {
    b.extend_from_slice(x.as_bytes());
}

fn num(b: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = 20;
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    b.extend_from_slice(&tmp[i..]);
}

fn pad(b: &mut Vec<u8>, v: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut v = v;
    for i in (20 - width..20).rev() {
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    b.extend_from_slice(&tmp[20 - width..]);
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn hex(b: &mut Vec<u8>, v: u64, digits: usize) {
    for i in (0..digits).rev() {
        b.push(HEX[((v >> (i * 4)) & 15) as usize]);
    }
}

/// A UUIDv4 string derived from `key`.
fn uuid(b: &mut Vec<u8>, key: u64) {
    let a = mix(key ^ 0x5555_0000_aaaa);
    let c = mix(a ^ key.rotate_left(17));
    hex(b, a >> 32, 8);
    b.push(b'-');
    hex(b, (a >> 16) & 0xffff, 4);
    b.push(b'-');
    hex(b, 0x4000 | (a & 0x0fff), 4);
    b.push(b'-');
    hex(b, 0x8000 | ((c >> 48) & 0x3fff), 4);
    b.push(b'-');
    hex(b, c & 0xffff_ffff_ffff, 12);
}

/// JSON string escaping as done by Python `json.dumps` (ensure_ascii) and serde_json for our
/// ASCII payloads; `html` adds Go encoding/json's `<`, `>`, `&` escapes (docker json-file).
fn json_esc(b: &mut Vec<u8>, x: &[u8], html: bool) {
    let mut start = 0;
    for (i, &c) in x.iter().enumerate() {
        let rep: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            b'<' if html => b"\\u003c",
            b'>' if html => b"\\u003e",
            b'&' if html => b"\\u0026",
            0..=0x1f => {
                b.extend_from_slice(&x[start..i]);
                s(b, "\\u00");
                hex(b, c as u64, 2);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        b.extend_from_slice(&x[start..i]);
        b.extend_from_slice(rep);
        start = i + 1;
    }
    b.extend_from_slice(&x[start..]);
}

// ---------------------------------------------------------------- time

fn civil(days: i64) -> (i64, u64, u64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u64;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u64;
    (yoe + era * 400 + (m <= 2) as i64, m, d)
}

/// `YYYY-MM-DD<sep>HH:MM:SS`
fn date_time(b: &mut Vec<u8>, ns: u64, sep: u8) {
    let secs = ns / 1_000_000_000;
    let (y, m, d) = civil((secs / 86_400) as i64);
    let sod = secs % 86_400;
    pad(b, y as u64, 4);
    b.push(b'-');
    pad(b, m, 2);
    b.push(b'-');
    pad(b, d, 2);
    b.push(sep);
    pad(b, sod / 3600, 2);
    b.push(b':');
    pad(b, sod / 60 % 60, 2);
    b.push(b':');
    pad(b, sod % 60, 2);
}

/// RFC 3339 with 6 fractional digits and `Z` (tracing-subscriber, StructuredFormatter + "Z").
fn ts_micros_z(b: &mut Vec<u8>, ns: u64) {
    date_time(b, ns, b'T');
    b.push(b'.');
    pad(b, ns % 1_000_000_000 / 1000, 6);
    b.push(b'Z');
}

/// Python `datetime.utcnow().isoformat()`: no zone, fraction omitted when microsecond == 0.
fn ts_python_naive(b: &mut Vec<u8>, ns: u64) {
    date_time(b, ns, b'T');
    let us = ns % 1_000_000_000 / 1000;
    if us != 0 {
        b.push(b'.');
        pad(b, us, 6);
    }
}

/// Python logging `asctime`: `2026-11-22 07:00:04,825`.
fn ts_asctime(b: &mut Vec<u8>, ns: u64) {
    date_time(b, ns, b' ');
    b.push(b',');
    pad(b, ns % 1_000_000_000 / 1_000_000, 3);
}

/// Go RFC3339Nano: trailing zeros trimmed, no fraction if zero.
fn frac_trimmed(b: &mut Vec<u8>, ns: u64) {
    let mut f = ns % 1_000_000_000;
    if f == 0 {
        return;
    }
    let mut digits = 9;
    while f.is_multiple_of(10) {
        f /= 10;
        digits -= 1;
    }
    b.push(b'.');
    pad(b, f, digits);
}

// ---------------------------------------------------------------- model

#[derive(Clone, Copy, PartialEq, Eq)]
enum Fmt {
    SkrJson,
    SkrText,
    SmJson,
    SmStruct,
    SmText,
    Generic,
}
const CLASSES: [Fmt; 6] = [Fmt::SkrJson, Fmt::SmJson, Fmt::SmStruct, Fmt::SkrText, Fmt::SmText, Fmt::Generic];
/// Target share of output lines per class, per mille.
const SHARE: [f64; 6] = [450.0, 360.0, 90.0, 50.0, 40.0, 10.0];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Env {
    Kubectl,
    /// containerd CRI writer: trimmed RFC3339Nano in the node's local offset (minutes), 16 KiB splits.
    Containerd(i32),
    /// CRI-O/conmon: 9 digits + `+00:00`, 8 KiB and pipe-read splits.
    Crio,
    Docker,
    Bare,
}

struct Pod {
    name: String,
    container: &'static str,
    fmt: Fmt,
    ansi: bool,
    env: Env,
    started: bool,
    /// `tower_http=debug` (started + finished lines) rather than only the `on_response` target.
    on_request: bool,
    last_env_ns: u64,
    pid: u64,
}

/// An event field: `(name, value, kind)`.
type F<'a> = (&'a str, &'a [u8], u8);
/// Number: bare in JSON and text.
const NUM: u8 = 0;
/// `%` Display value: JSON string, bare in text.
const DISP: u8 = 1;
/// `?` Debug of a `&str`: JSON string, quoted in text.
const DBG: u8 = 2;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Svc {
    Skr,
    Sm,
}

#[derive(Clone, Copy)]
enum P {
    L(&'static str),
    Agent,
    Hex8,
    Hex32,
    Num,
    Uuid,
    Mcp,
}

#[derive(Clone, Copy)]
enum Q {
    None,
    Page,
    Search,
    Stream,
    Sort,
}

struct Route {
    method: &'static str,
    parts: &'static [P],
    weight: u32,
    median_ms: f64,
    sigma: f64,
    query: Q,
    ok: u16,
    probe: bool,
}

use P::*;

const fn r(_svc: Svc, method: &'static str, parts: &'static [P], weight: u32, median_ms: f64, sigma: f64, query: Q, ok: u16) -> Route {
    Route { method, parts, weight, median_ms, sigma, query, ok, probe: false }
}
const fn probe(_svc: Svc, parts: &'static [P], weight: u32, median_ms: f64) -> Route {
    Route { method: "GET", parts, weight, median_ms, sigma: 0.5, query: Q::None, ok: 200, probe: true }
}

static SKR_ROUTES: &[Route] = &[
    probe(Svc::Skr, &[L("/health")], 10, 1.0),
    probe(Svc::Skr, &[L("/ready")], 6, 1.0),
    probe(Svc::Skr, &[L("/metrics")], 4, 2.0),
    r(Svc::Skr, "GET", &[L("/agents")], 8, 4.0, 0.7, Q::Page, 200),
    r(Svc::Skr, "POST", &[L("/agents")], 2, 15.0, 0.6, Q::None, 201),
    r(Svc::Skr, "GET", &[L("/agents/"), Agent], 6, 3.0, 0.7, Q::None, 200),
    r(Svc::Skr, "DELETE", &[L("/agents/"), Agent], 1, 8.0, 0.6, Q::None, 204),
    r(Svc::Skr, "GET", &[L("/agents/"), Agent, L("/status")], 10, 3.0, 0.8, Q::None, 200),
    r(Svc::Skr, "POST", &[L("/agents/"), Agent, L("/observe")], 14, 140.0, 1.0, Q::None, 200),
    r(Svc::Skr, "GET", &[L("/agents/"), Agent, L("/stream")], 3, 900.0, 0.9, Q::Stream, 200),
    r(Svc::Skr, "POST", &[L("/agents/"), Agent, L("/batch")], 2, 450.0, 0.9, Q::None, 200),
    r(Svc::Skr, "POST", &[L("/auth/token")], 3, 6.0, 0.5, Q::None, 200),
    r(Svc::Skr, "GET", &[L("/queue/metrics")], 2, 2.0, 0.5, Q::None, 200),
];

static SM_ROUTES: &[Route] = &[
    probe(Svc::Sm, &[L("/health")], 8, 3.0),
    r(Svc::Sm, "GET", &[L("/health/detailed")], 2, 60.0, 0.5, Q::None, 200),
    r(Svc::Sm, "GET", &[L("/api/v1/artifacts")], 10, 45.0, 0.7, Q::Page, 200),
    r(Svc::Sm, "GET", &[L("/api/v1/artifacts/"), Hex8], 10, 25.0, 0.7, Q::Search, 200),
    r(Svc::Sm, "PUT", &[L("/api/v1/artifacts/"), Hex8], 2, 80.0, 0.6, Q::None, 200),
    r(Svc::Sm, "DELETE", &[L("/api/v1/artifacts/"), Hex8], 1, 40.0, 0.6, Q::None, 204),
    r(Svc::Sm, "GET", &[L("/api/v1/user-collections")], 8, 35.0, 0.7, Q::Page, 200),
    r(Svc::Sm, "GET", &[L("/api/v1/user-collections/"), Hex32], 5, 30.0, 0.7, Q::None, 200),
    r(Svc::Sm, "POST", &[L("/api/v1/user-collections/"), Hex32, L("/artifacts")], 2, 90.0, 0.7, Q::None, 201),
    r(Svc::Sm, "GET", &[L("/api/v1/marketplace/sources")], 4, 70.0, 0.7, Q::Sort, 200),
    r(Svc::Sm, "GET", &[L("/api/v1/marketplace/sources/"), Num, L("/artifacts")], 3, 120.0, 0.8, Q::Page, 200),
    r(Svc::Sm, "POST", &[L("/api/v1/marketplace/sources/"), Num, L("/rescan")], 1, 2500.0, 0.6, Q::None, 202),
    r(Svc::Sm, "GET", &[L("/api/v1/mcp/health")], 2, 300.0, 0.6, Q::None, 200),
    r(Svc::Sm, "GET", &[L("/api/v1/mcp/servers/"), Mcp, L("/health")], 1, 200.0, 0.6, Q::None, 200),
    r(Svc::Sm, "POST", &[L("/api/v1/settings/github-token/validate")], 1, 400.0, 0.5, Q::None, 200),
    r(Svc::Sm, "GET", &[L("/api/v1/tags")], 3, 15.0, 0.6, Q::Search, 200),
    r(Svc::Sm, "GET", &[L("/api/v1/projects/"), Uuid, L("/deployments")], 3, 50.0, 0.7, Q::None, 200),
    r(Svc::Sm, "GET", &[L("/api/v1/context-packs/"), Uuid], 1, 40.0, 0.7, Q::None, 200),
];

/// Scanner / junk paths that end in 404 and stay as their own (un-normalised) route.
static JUNK_PATHS: &[&str] = &["/favicon.ico", "/.env", "/wp-login.php", "/api/v1/does-not-exist", "/robots.txt"];
static MCP_NAMES: &[&str] = &["filesystem", "github", "postgres", "does-not-exist"];
static AGENT_WORDS: &[&str] = &["research-bot", "summarizer", "planner", "crawler", "support-bot", "triage"];
static TOOLS: &[&str] = &["no_such_tool", "http_fetch", "file_write", "shell_exec", "sql_query", "send_email"];
static CLIENTS: &[&str] = &["skreaver-js", "probe-cli", "dashboard", "skreaver-py"];
static LOREM: &[&str] = &["skill", "agent", "pipeline", "review", "the", "of", "and", "deploy", "context", "markdown", "extract", "tables", "from", "pdf", "files", "with", "layout", "preserved", "collection", "tags"];
static SEARCH_WORDS: &[&str] = &["pdf", "docx", "git", "review", "test", "deploy", "sql", "api", "lint", "mcp"];

const N_AGENTS: u64 = 2000;

struct Req {
    method: &'static str,
    path: Vec<u8>,  // raw path without query
    query: Vec<u8>, // including leading '?', or empty
    route: Vec<u8>, // normalised route
    status: u16,
    latency_ms: f64,
    agent: Option<u64>,
}

fn reason(status: u16) -> &'static str {
    match status {
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

// ---------------------------------------------------------------- Python tracebacks

const TB_STARLETTE: &str = "  File \"/app/skillmeat/api/middleware/observability.py\", line 105, in dispatch
    response = await call_next(request)
               ^^^^^^^^^^^^^^^^^^^^^^^^
  File \"/usr/local/lib/python3.12/site-packages/starlette/middleware/base.py\", line 179, in call_next
    raise app_exc from app_exc.__cause__ or app_exc.__context__
  File \"/usr/local/lib/python3.12/site-packages/starlette/middleware/base.py\", line 149, in coro
    await self.app(scope, receive_or_disconnect, send_no_error)
  File \"/usr/local/lib/python3.12/site-packages/starlette/middleware/exceptions.py\", line 63, in __call__
    await wrap_app_handling_exceptions(self.app, conn)(scope, receive, send)
  File \"/usr/local/lib/python3.12/site-packages/starlette/_exception_handler.py\", line 53, in wrapped_app
    raise exc
  File \"/usr/local/lib/python3.12/site-packages/starlette/_exception_handler.py\", line 42, in wrapped_app
    await app(scope, receive, sender)
  File \"/usr/local/lib/python3.12/site-packages/fastapi/routing.py\", line 161, in app
    response = await f(request)
               ^^^^^^^^^^^^^^^^
";

struct Exc {
    ty: &'static str,
    msg: &'static str,
    head: &'static str,
    tail: &'static str,
}

static EXCS: &[Exc] = &[
    Exc {
        ty: "DecodeError",
        msg: "Not enough segments",
        head: "Traceback (most recent call last):
  File \"/usr/local/lib/python3.12/site-packages/jwt/api_jws.py\", line 364, in _load
    signing_input, crypto_segment = jwt.rsplit(b\".\", 1)
    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
ValueError: not enough values to unpack (expected 2, got 1)

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
",
        tail: "  File \"/app/skillmeat/api/auth/clerk_provider.py\", line 255, in validate
    claims = self._decode_jwt(raw_token)
             ^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File \"/app/skillmeat/api/auth/clerk_provider.py\", line 306, in _decode_jwt
    signing_key = self._jwks_client.get_signing_key_from_jwt(raw_token)
                  ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
  File \"/usr/local/lib/python3.12/site-packages/jwt/api_jws.py\", line 367, in _load
    raise DecodeError(\"Not enough segments\") from err
jwt.exceptions.DecodeError: Not enough segments",
    },
    Exc {
        ty: "TimeoutError",
        msg: "QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/21/3o7r)",
        head: "Traceback (most recent call last):
",
        tail: "  File \"/app/skillmeat/cache/repositories.py\", line 1141, in list_artifacts
    with self._session() as session:
  File \"/usr/local/lib/python3.12/site-packages/sqlalchemy/engine/base.py\", line 3307, in connect
    return self._connection_cls(self)
           ^^^^^^^^^^^^^^^^^^^^^^^^^^
  File \"/usr/local/lib/python3.12/site-packages/sqlalchemy/pool/impl.py\", line 173, in _do_get
    raise exc.TimeoutError(
sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/21/3o7r)",
    },
    Exc {
        ty: "PermissionError",
        msg: "[Errno 13] Permission denied: '/home/app/.config/Claude/claude_desktop_config.json'",
        head: "Traceback (most recent call last):
",
        tail: "  File \"/app/skillmeat/api/routers/mcp.py\", line 838, in get_server_health
    config = read_config(path)
             ^^^^^^^^^^^^^^^^^
  File \"/app/skillmeat/core/mcp/config.py\", line 61, in read_config
    with open(path, \"r\", encoding=\"utf-8\") as fh:
         ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
PermissionError: [Errno 13] Permission denied: '/home/app/.config/Claude/claude_desktop_config.json'",
    },
];

// ---------------------------------------------------------------- generator

struct Gen {
    rng: Rng,
    seed: u64,
    limit: u64,
    lines: u64,
    now: u64,
    gap_ns: u64,
    pods: Vec<Pod>,
    by_class: [Vec<usize>; 6],
    class_lines: [u64; 6],
    cur_class: usize,
    obuf: Vec<u8>,
    pay: Vec<u8>,
    req_seq: u64,
    conn_seq: u64,
    task_seq: u64,
}

const K8S_ALNUM: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

impl Gen {
    fn new(spec: &CorpusSpec) -> Gen {
        let mut rng = Rng(spec.seed ^ 0x6c6f_6773_6c65_7574);
        let seed = rng.next();
        // A few hours in total, but at least 50 us and at most 20 ms between events.
        let events = (spec.lines / 2).max(1);
        let gap_ns = (3 * 3600 * 1_000_000_000u64 / events).clamp(50_000, 20_000_000);
        let mut pods = Vec::new();
        let mut add = |rng: &mut Rng, deploy: &str, rs: u64, container: &'static str, fmt: Fmt, ansi: bool, env: Env| {
            let mut name = String::from(deploy);
            name.push('-');
            for i in 0..rs {
                let _ = i;
                name.push(K8S_ALNUM[rng.below(K8S_ALNUM.len() as u64) as usize] as char);
            }
            name.push('-');
            for _ in 0..5 {
                name.push(K8S_ALNUM[rng.below(K8S_ALNUM.len() as u64) as usize] as char);
            }
            let pid = if matches!(fmt, Fmt::SmJson | Fmt::SmStruct | Fmt::SmText) { 7 } else { 1 };
            // Some Skreaver pods run `tower_http=debug` (started + finished), the rest only enable
            // the `tower_http::trace::on_response` target.
            let on_request = fmt != Fmt::SkrJson || pods.iter().filter(|p: &&Pod| p.fmt == Fmt::SkrJson).count() % 3 == 0;
            pods.push(Pod { name, container, fmt, ansi, env, started: false, on_request, last_env_ns: 0, pid });
        };
        use Env::*;
        for env in [Kubectl, Kubectl, Kubectl, Kubectl, Containerd(0), Docker, Bare] {
            add(&mut rng, "skreaver", 10, "skreaver", Fmt::SkrJson, false, env);
        }
        add(&mut rng, "skreaver-ws", 9, "skreaver-ws", Fmt::SkrText, true, Kubectl);
        add(&mut rng, "skreaver-ws", 9, "skreaver-ws", Fmt::SkrText, false, Crio);
        for env in [Kubectl, Kubectl, Kubectl, Kubectl, Crio, Docker, Bare] {
            add(&mut rng, "skillmeat-api", 10, "api", Fmt::SmJson, false, env);
        }
        add(&mut rng, "skillmeat-api-canary", 9, "api", Fmt::SmStruct, false, Kubectl);
        add(&mut rng, "skillmeat-api-canary", 9, "api", Fmt::SmStruct, false, Bare);
        add(&mut rng, "skillmeat-worker", 9, "worker", Fmt::SmText, false, Kubectl);
        add(&mut rng, "skillmeat-worker", 9, "worker", Fmt::SmText, false, Containerd(60));
        add(&mut rng, "otel-collector", 10, "otel-collector", Fmt::Generic, false, Kubectl);
        pods.push(Pod { name: "redis-0".into(), container: "redis", fmt: Fmt::Generic, ansi: false, env: Kubectl, started: false, on_request: false, last_env_ns: 0, pid: 1 });
        let mut by_class: [Vec<usize>; 6] = Default::default();
        for (i, p) in pods.iter_mut().enumerate() {
            let c = CLASSES.iter().position(|&f| f == p.fmt).unwrap();
            by_class[c].push(i);
            // Most pods are long-running (their startup is before the window); a few start inside it.
            p.started = rng.chance(0.7);
        }
        Gen {
            rng,
            seed,
            limit: spec.lines,
            lines: 0,
            now: START_NS,
            gap_ns,
            pods,
            by_class,
            class_lines: [0; 6],
            cur_class: 0,
            obuf: Vec::with_capacity(FLUSH_AT + 64 * 1024),
            pay: Vec::with_capacity(16 * 1024),
            req_seq: 0,
            conn_seq: 0,
            task_seq: 0,
        }
    }

    fn event(&mut self) {
        // Class with the largest line deficit is most likely: keeps shares exact at any size.
        let total = (self.lines + 200) as f64;
        let mut w = [0.0f64; 6];
        let mut sum = 0.0;
        for (i, wi) in w.iter_mut().enumerate() {
            *wi = (SHARE[i] / 1000.0 * total - self.class_lines[i] as f64).max(0.0);
            sum += *wi;
        }
        let mut x = self.rng.unit() * sum;
        let mut c = 5;
        for (i, &wi) in w.iter().enumerate() {
            if x < wi {
                c = i;
                break;
            }
            x -= wi;
        }
        self.cur_class = c;
        let pods = &self.by_class[c];
        let pod = pods[self.rng.below(pods.len() as u64) as usize];
        self.now += self.rng.range(1, 2 * self.gap_ns);
        if !self.pods[pod].started {
            self.pods[pod].started = true;
            self.startup(pod);
            return;
        }
        match self.pods[pod].fmt {
            Fmt::SkrJson | Fmt::SkrText => self.skreaver_event(pod),
            Fmt::SmJson | Fmt::SmStruct | Fmt::SmText => self.skillmeat_event(pod),
            Fmt::Generic => self.generic_event(pod),
        }
    }

    // ------------------------------------------------------------ envelopes

    /// Wraps every `\n`-separated line of `self.pay` in the pod's envelope and appends it.
    fn emit(&mut self, pod: usize, t: u64, stderr: bool) {
        let pay = std::mem::take(&mut self.pay);
        for line in pay.split(|&c| c == b'\n') {
            if self.lines >= self.limit {
                break;
            }
            let jitter = self.rng.range(3_000, 900_000);
            let p = &mut self.pods[pod];
            let ets = (t + jitter).max(p.last_env_ns + self.rng.range(1, 3000));
            p.last_env_ns = ets;
            let env = p.env;
            let n = match env {
                Env::Kubectl => {
                    let o = &mut self.obuf;
                    s(o, "[pod/");
                    s(o, &p.name);
                    o.push(b'/');
                    s(o, p.container);
                    s(o, "] ");
                    date_time(o, ets, b'T');
                    o.push(b'.');
                    pad(o, ets % 1_000_000_000, 9);
                    s(o, "Z ");
                    o.extend_from_slice(line);
                    o.push(b'\n');
                    1
                }
                Env::Bare => {
                    self.obuf.extend_from_slice(line);
                    self.obuf.push(b'\n');
                    1
                }
                Env::Containerd(off) => self.cri(line, ets, stderr, Some(off), 16 * 1024),
                Env::Crio => self.cri(line, ets, stderr, None, 8 * 1024),
                Env::Docker => self.docker(line, ets, stderr),
            };
            self.lines += n;
            self.class_lines[self.cur_class] += n;
        }
        self.pay = pay;
        self.pay.clear();
    }

    fn cri_prefix(&mut self, ets: u64, stderr: bool, off: Option<i32>, tag: &str) {
        let o = &mut self.obuf;
        match off {
            Some(m) => {
                let local = (ets as i64 + m as i64 * 60_000_000_000) as u64;
                date_time(o, local, b'T');
                frac_trimmed(o, local);
                if m == 0 {
                    o.push(b'Z');
                } else {
                    o.push(if m < 0 { b'-' } else { b'+' });
                    pad(o, (m.unsigned_abs() / 60) as u64, 2);
                    o.push(b':');
                    pad(o, (m.unsigned_abs() % 60) as u64, 2);
                }
            }
            None => {
                date_time(o, ets, b'T');
                o.push(b'.');
                pad(o, ets % 1_000_000_000, 9);
                s(o, "+00:00");
            }
        }
        s(o, if stderr { " stderr " } else { " stdout " });
        s(o, tag);
        o.push(b' ');
    }

    /// CRI line(s); long payloads become `P` pieces then `F`. Returns lines written.
    fn cri(&mut self, line: &[u8], ets: u64, stderr: bool, off: Option<i32>, max: usize) -> u64 {
        // conmon also splits at pipe-read boundaries: model that as 4 KiB reads on some long lines.
        let max = if off.is_none() && line.len() > 4096 && self.rng.chance(0.5) { 4096 } else { max };
        let mut rest = line;
        let mut n = 0;
        while rest.len() > max && self.lines + n + 1 < self.limit {
            let cut = char_floor(rest, max);
            self.cri_prefix(ets, stderr, off, "P");
            self.obuf.extend_from_slice(&rest[..cut]);
            self.obuf.push(b'\n');
            rest = &rest[cut..];
            n += 1;
        }
        if n > 0 && off.is_none() && self.rng.chance(0.3) && self.lines + n + 1 < self.limit {
            // conmon: the last piece also arrives as P, then an F with empty content.
            self.cri_prefix(ets, stderr, off, "P");
            self.obuf.extend_from_slice(rest);
            self.obuf.push(b'\n');
            rest = b"";
            n += 1;
        }
        self.cri_prefix(ets, stderr, off, "F");
        self.obuf.extend_from_slice(rest);
        self.obuf.push(b'\n');
        n + 1
    }

    /// docker json-file record(s); >16 KiB lines are split, only the last piece ends in `\n`.
    fn docker(&mut self, line: &[u8], ets: u64, stderr: bool) -> u64 {
        let mut rest = line;
        let mut n = 0;
        loop {
            let last = rest.len() <= 16 * 1024 || self.lines + n + 1 >= self.limit;
            let cut = if last { rest.len() } else { char_floor(rest, 16 * 1024) };
            let o = &mut self.obuf;
            s(o, "{\"log\":\"");
            json_esc(o, &rest[..cut], true);
            if last {
                s(o, "\\n");
            }
            s(o, if stderr { "\",\"stream\":\"stderr\",\"time\":\"" } else { "\",\"stream\":\"stdout\",\"time\":\"" });
            date_time(o, ets, b'T');
            frac_trimmed(o, ets);
            s(o, "Z\"}\n");
            n += 1;
            rest = &rest[cut..];
            if last {
                return n;
            }
        }
    }

    // ------------------------------------------------------------ ids and requests

    fn agent_id(&self, b: &mut Vec<u8>, idx: u64) {
        let h = mix(self.seed ^ 0xa6e7 ^ idx.wrapping_mul(0x9E37_79B9));
        match idx % 5 {
            0 => {
                s(b, "demo-agent-");
                num(b, idx / 5);
            }
            1 => {
                s(b, "agent-");
                hex(b, h, 6);
            }
            2 => uuid(b, h),
            3 => {
                s(b, AGENT_WORDS[(h % AGENT_WORDS.len() as u64) as usize]);
                b.push(b'-');
                num(b, idx / 5);
            }
            _ => hex(b, h | 0x10_0000, 6),
        }
    }

    fn pick_route(&mut self, svc: Svc) -> &'static Route {
        let table = if svc == Svc::Skr { SKR_ROUTES } else { SM_ROUTES };
        let total: u32 = table.iter().map(|r| r.weight).sum();
        let mut x = self.rng.below(total as u64) as u32;
        for r in table {
            if x < r.weight {
                return r;
            }
            x -= r.weight;
        }
        &table[0]
    }

    fn make_req(&mut self, svc: Svc) -> Req {
        let route = self.pick_route(svc);
        let mut req = Req {
            method: route.method,
            path: Vec::with_capacity(64),
            query: Vec::new(),
            route: Vec::with_capacity(64),
            status: route.ok,
            latency_ms: 0.0,
            agent: None,
        };
        let junk = !route.probe && self.rng.chance(0.004);
        if junk {
            let p = *self.rng.pick(JUNK_PATHS);
            s(&mut req.path, p);
            s(&mut req.route, p);
            req.method = "GET";
            req.status = 404;
            req.latency_ms = 0.4 + self.rng.unit() * 2.0;
            return req;
        }
        let seed = self.seed;
        for part in route.parts {
            match *part {
                L(x) => {
                    s(&mut req.path, x);
                    s(&mut req.route, x);
                }
                Agent => {
                    // Zipf-ish: a few agents are hot.
                    let u = self.rng.unit();
                    let idx = ((u * u * u) * N_AGENTS as f64) as u64;
                    req.agent = Some(idx);
                    if self.rng.chance(0.002) {
                        s(&mut req.path, "bad%20id!");
                        req.status = 404;
                    } else {
                        self.agent_id(&mut req.path, idx);
                    }
                    s(&mut req.route, "{id}");
                }
                Hex8 => {
                    hex(&mut req.path, mix(seed ^ 0x8888 ^ self.rng.below(20_000)), 8);
                    s(&mut req.route, "{id}");
                }
                Hex32 => {
                    let k = self.rng.below(500);
                    hex(&mut req.path, mix(seed ^ 0x3232 ^ k), 16);
                    hex(&mut req.path, mix(seed ^ 0x3233 ^ k), 16);
                    s(&mut req.route, "{id}");
                }
                Num => {
                    num(&mut req.path, 1 + self.rng.below(3000));
                    s(&mut req.route, "{id}");
                }
                Uuid => {
                    uuid(&mut req.path, seed ^ 0x0101 ^ self.rng.below(3000));
                    s(&mut req.route, "{id}");
                }
                Mcp => {
                    let m = *self.rng.pick(MCP_NAMES);
                    s(&mut req.path, m);
                    s(&mut req.route, m);
                }
            }
        }
        if self.rng.chance(0.6) {
            let q = &mut req.query;
            match route.query {
                Q::None => {}
                Q::Page => {
                    s(q, "?limit=");
                    num(q, *self.rng.pick(&[10u64, 20, 50, 100]));
                    s(q, "&offset=");
                    num(q, self.rng.below(40) * 20);
                }
                Q::Search => {
                    s(q, "?q=");
                    s(q, self.rng.word(SEARCH_WORDS));
                    if self.rng.chance(0.5) {
                        s(q, "&page=");
                        num(q, 1 + self.rng.below(30));
                    }
                }
                Q::Sort => {
                    s(q, "?sort_by=");
                    s(q, self.rng.word(&["stars", "updated", "name"]));
                    s(q, "&sort_order=");
                    s(q, self.rng.word(&["asc", "desc"]));
                    s(q, "&page=");
                    num(q, 1 + self.rng.below(20));
                }
                Q::Stream => {
                    s(q, "?input=");
                    s(q, self.rng.word(&["summarize%20the%20report", "status", "plan%20next%20steps", "ping"]));
                    s(q, "&session=");
                    hex(q, self.rng.next(), 8);
                }
            }
        }
        // Status: ~2% 5xx and ~8% 4xx overall (probes mostly 200).
        if req.status == route.ok {
            let u = self.rng.unit();
            req.status = if route.probe {
                if u < 0.005 { 503 } else { 200 }
            } else if u < 0.024 {
                match (svc, self.rng.below(10)) {
                    (Svc::Skr, 0..=6) => 503,
                    (Svc::Skr, _) => 500,
                    (Svc::Sm, 0..=2) => 500,
                    (Svc::Sm, _) => 503,
                }
            } else if u < 0.12 {
                match self.rng.below(20) {
                    0..=6 => 401,
                    7..=11 => 404,
                    12..=14 => 429,
                    15..=16 => 403,
                    _ => {
                        if svc == Svc::Sm { 422 } else { 400 }
                    }
                }
            } else {
                route.ok
            };
        }
        let z = self.rng.normal();
        let mut lat = route.median_ms * exp_det(route.sigma * z);
        if req.status >= 400 && req.status < 500 {
            lat = 0.2 + lat * 0.02;
        } else if req.status == 500 && svc == Svc::Sm && self.rng.chance(0.4) {
            lat += 30_000.0; // QueuePool timeout
        } else if req.status == 503 {
            lat = if self.rng.chance(0.5) { 0.3 + self.rng.unit() } else { 5000.0 + lat * 3.0 };
        }
        if self.rng.chance(0.003) {
            lat *= 8.0 + self.rng.unit() * 40.0; // slow tail
        }
        req.latency_ms = lat;
        req
    }

    fn client_addr(&mut self, b: &mut Vec<u8>) {
        s(b, "10.0.");
        num(b, self.rng.below(16));
        b.push(b'.');
        num(b, 2 + self.rng.below(250));
        b.push(b':');
        num(b, 30_000 + self.rng.below(31_000));
    }

    // ------------------------------------------------------------ Skreaver

    fn skr_json_head(&mut self, t: u64, level: &str) {
        let b = &mut self.pay;
        s(b, "{\"timestamp\":\"");
        ts_micros_z(b, t);
        s(b, "\",\"level\":\"");
        s(b, level);
        s(b, "\",\"fields\":{\"message\":\"");
    }

    fn skr_span(b: &mut Vec<u8>, req: &Req) {
        let mut one = Vec::with_capacity(128);
        s(&mut one, "{\"method\":\"");
        s(&mut one, req.method);
        s(&mut one, "\",\"uri\":\"");
        json_esc(&mut one, &req.path, false);
        json_esc(&mut one, &req.query, false);
        s(&mut one, "\",\"version\":\"HTTP/1.1\",\"name\":\"request\"}");
        s(b, ",\"span\":");
        b.extend_from_slice(&one);
        s(b, ",\"spans\":[");
        b.extend_from_slice(&one);
        s(b, "]}");
    }

    /// Skreaver event with an arbitrary message and extra fields (`(key, value, NUM|DISP|DBG)`).
    fn skr_msg(&mut self, pod: usize, t: u64, level: &'static str, target: &str, msg: &[u8], fields: &[F], span: Option<&Req>) {
        if self.pods[pod].fmt == Fmt::SkrJson {
            self.skr_json_head(t, level);
            let b = &mut self.pay;
            json_esc(b, msg, false);
            b.push(b'"');
            for (k, v, kind) in fields {
                s(b, ",\"");
                s(b, k);
                s(b, "\":");
                if *kind != NUM {
                    b.push(b'"');
                    json_esc(b, v, false);
                    b.push(b'"');
                } else {
                    b.extend_from_slice(v);
                }
            }
            s(b, "},\"target\":\"");
            s(b, target);
            b.push(b'"');
            match span {
                Some(req) => Self::skr_span(b, req),
                None => b.push(b'}'),
            }
        } else {
            let ansi = self.pods[pod].ansi;
            let b = &mut self.pay;
            let sgr = |b: &mut Vec<u8>, code: &str, text: &[u8]| {
                if ansi {
                    s(b, code);
                    b.extend_from_slice(text);
                    s(b, "\x1b[0m");
                } else {
                    b.extend_from_slice(text);
                }
            };
            let mut ts = Vec::with_capacity(32);
            ts_micros_z(&mut ts, t);
            sgr(b, "\x1b[2m", &ts);
            b.push(b' ');
            let (lv, col) = match level {
                "TRACE" => ("TRACE", "\x1b[35m"),
                "DEBUG" => ("DEBUG", "\x1b[34m"),
                "INFO" => (" INFO", "\x1b[32m"),
                "WARN" => (" WARN", "\x1b[33m"),
                _ => ("ERROR", "\x1b[31m"),
            };
            sgr(b, col, lv.as_bytes());
            b.push(b' ');
            let field = |b: &mut Vec<u8>, k: &str, v: &[u8]| {
                sgr(b, "\x1b[3m", k.as_bytes());
                sgr(b, "\x1b[2m", b"=");
                b.extend_from_slice(v);
            };
            if let Some(req) = span {
                sgr(b, "\x1b[1m", b"request");
                sgr(b, "\x1b[1m", b"{");
                field(b, "method", req.method.as_bytes());
                b.push(b' ');
                let mut uri = req.path.clone();
                uri.extend_from_slice(&req.query);
                field(b, "uri", &uri);
                b.push(b' ');
                field(b, "version", b"HTTP/1.1");
                sgr(b, "\x1b[1m", b"}");
                s(b, ": ");
            }
            sgr(b, "\x1b[2m", target.as_bytes());
            sgr(b, "\x1b[2m", b":");
            b.push(b' ');
            b.extend_from_slice(msg);
            for (k, v, kind) in fields {
                b.push(b' ');
                if *kind == DBG {
                    let mut q = Vec::with_capacity(v.len() + 2);
                    q.push(b'"');
                    q.extend_from_slice(v);
                    q.push(b'"');
                    field(b, k, &q);
                } else {
                    field(b, k, v);
                }
            }
        }
        self.emit(pod, t, false);
    }

    fn skreaver_event(&mut self, pod: usize) {
        let t = self.now;
        let u = self.rng.unit();
        if u < 0.00004 {
            return self.panic(pod, t);
        }
        if u < 0.60 {
            let req = self.make_req(Svc::Skr);
            self.skr_request(pod, t, &req);
        } else if u < 0.86 {
            self.skr_websocket(pod, t);
        } else {
            self.skr_other(pod, t);
        }
    }

    fn skr_request(&mut self, pod: usize, t: u64, req: &Req) {
        if self.pods[pod].on_request {
            self.skr_msg(pod, t, "DEBUG", "tower_http::trace::on_request", b"started processing request", &[], Some(req));
        }
        let mut t2 = t + (req.latency_ms * 1e6) as u64 + 20_000;
        if req.status == 429 && self.rng.chance(0.5) {
            let mut m = Vec::new();
            s(&mut m, "Per-IP connection limit exceeded for 10.0.");
            num(&mut m, self.rng.below(16));
            m.push(b'.');
            num(&mut m, 2 + self.rng.below(250));
            s(&mut m, ": 100 >= 100");
            self.skr_msg(pod, t + 15_000, "WARN", "skreaver_http::runtime::connection_limits", &m, &[], None);
        }
        if req.status == 503 && self.rng.chance(0.3) {
            let mut m = Vec::new();
            s(&mut m, "Global connection limit exceeded: 10000 >= 10000");
            self.skr_msg(pod, t + 15_000, "WARN", "skreaver_http::runtime::connection_limits", &m, &[], None);
        }
        if req.status == 500 && self.rng.chance(0.5) {
            self.skr_msg(pod, t + 30_000, "ERROR", "skreaver_memory::postgres::pool", b"PostgreSQL connection error", &[("error", b"db error: FATAL: terminating connection due to administrator command", DISP)], None);
        }
        let mut lat = Vec::with_capacity(12);
        num(&mut lat, req.latency_ms as u64);
        s(&mut lat, " ms");
        let mut st = Vec::with_capacity(3);
        num(&mut st, req.status as u64);
        self.skr_msg(pod, t2, "DEBUG", "tower_http::trace::on_response", b"finished processing request", &[("latency", &lat, DISP), ("status", &st, NUM)], Some(req));
        if req.status >= 500 {
            t2 += 40_000;
            let mut cls = Vec::with_capacity(48);
            s(&mut cls, "Status code: ");
            num(&mut cls, req.status as u64);
            cls.push(b' ');
            s(&mut cls, reason(req.status));
            self.skr_msg(pod, t2, "ERROR", "tower_http::trace::on_failure", b"response failed", &[("classification", &cls, DISP), ("latency", &lat, DISP)], Some(req));
        }
        self.now = self.now.max(t2.min(t + 3 * self.gap_ns));
    }

    fn ws(&mut self, pod: usize, tt: &mut u64, conn: &[u8], level: &'static str, target: &str, pre: &str, post: &[u8]) {
        *tt += self.rng.range(50_000, 400_000);
        let mut m = Vec::with_capacity(160);
        s(&mut m, pre);
        m.extend_from_slice(conn);
        m.extend_from_slice(post);
        self.skr_msg(pod, *tt, level, target, &m, &[], None);
    }

    fn skr_websocket(&mut self, pod: usize, t: u64) {
        self.conn_seq += 1;
        let mut conn = Vec::with_capacity(36);
        uuid(&mut conn, self.seed ^ 0xc044 ^ self.conn_seq);
        let mut addr = Vec::new();
        self.client_addr(&mut addr);
        const H: &str = "skreaver_http::websocket::handlers";
        const M: &str = "skreaver_http::websocket::manager";
        let mut m = Vec::with_capacity(160);
        let kind = self.rng.below(100);
        let mut tt = t;
        if kind < 5 {
            s(&mut m, "Invalid client name from ");
            m.extend_from_slice(&addr);
            s(&mut m, ": bad name!");
            return self.skr_msg(pod, tt, "WARN", H, &m, &[], None);
        }
        if kind < 9 {
            s(&mut m, "Connection limit exceeded for ");
            m.extend_from_slice(&addr);
            return self.skr_msg(pod, tt, "WARN", H, &m, &[], None);
        }
        s(&mut m, "WebSocket upgrade request from ");
        m.extend_from_slice(&addr);
        s(&mut m, " (client: Some(\"");
        s(&mut m, self.rng.word(CLIENTS));
        s(&mut m, "\"), version: Some(\"1.0\"))");
        self.skr_msg(pod, tt, "INFO", H, &m, &[], None);
        let mut from = Vec::with_capacity(32);
        s(&mut from, " from ");
        from.extend_from_slice(&addr);
        self.ws(pod, &mut tt, &conn, "INFO", H, "WebSocket connection established: ", &from);
        self.ws(pod, &mut tt, &conn, "INFO", M, "Added WebSocket connection: ", b"");
        match kind {
            9..=29 => {
                self.ws(pod, &mut tt, &conn, "ERROR", H, "Error handling legacy message from ", b": Authentication failed: Authentication required");
                if self.rng.chance(0.5) {
                    self.ws(pod, &mut tt, &conn, "ERROR", H, "Error handling legacy message from ", b": Authentication failed: Invalid token");
                }
            }
            30..=39 => {
                self.ws(pod, &mut tt, &conn, "WARN", H, "Invalid message format from ", b"");
                tt += 70_000;
                self.skr_msg(pod, tt, "WARN", M, b"Connection closed - cannot send message", &[("connection_id", &conn, DISP)], None);
                tt += 70_000;
                self.skr_msg(pod, tt, "WARN", M, b"Failed to send authentication success message", &[("connection_id", &conn, DISP), ("send_result", b"connection closed", DISP)], None);
            }
            40..=49 => {
                self.ws(pod, &mut tt, &conn, "INFO", M, "Connection ", b" authenticated");
                self.ws(pod, &mut tt, &conn, "ERROR", H, "Error handling legacy message from ", b": Permission denied");
            }
            50..=57 => {
                self.ws(pod, &mut tt, &conn, "INFO", M, "Connection ", b" authenticated");
                self.ws(pod, &mut tt, &conn, "ERROR", H, "WebSocket error from ", b": WebSocket protocol error: Connection reset without closing handshake");
            }
            _ => {
                self.ws(pod, &mut tt, &conn, "INFO", M, "Connection ", b" authenticated");
            }
        }
        self.ws(pod, &mut tt, &conn, "INFO", H, "Connection ", b" closed by client");
        self.ws(pod, &mut tt, &conn, "INFO", H, "WebSocket connection ", b" disconnected");
        self.ws(pod, &mut tt, &conn, "INFO", M, "Removed WebSocket connection: ", b"");
    }

    fn skr_other(&mut self, pod: usize, t: u64) {
        let mut m = Vec::with_capacity(200);
        match self.rng.below(10) {
            0 | 1 => {
                let tool = *self.rng.pick(TOOLS);
                self.skr_msg(pod, t, "WARN", "skreaver_core::auth::rbac", b"Tool access DENIED - no policy found (secure default-deny)", &[("tool_name", tool.as_bytes(), DISP)], None);
                let mut e = Vec::new();
                s(&mut e, "Permission denied: Tool '");
                s(&mut e, tool);
                s(&mut e, "' requires higher privileges. Current role 'agent' does not have sufficient permissions.");
                self.skr_msg(pod, t + 30_000, "WARN", "skreaver_tools::secure_registry", b"Tool execution blocked by RBAC policy", &[("tool_name", tool.as_bytes(), DBG), ("error", &e, DISP)], None);
            }
            2 => {
                let tool = *self.rng.pick(TOOLS);
                self.skr_msg(pod, t, "WARN", "skreaver_http::runtime::coordinator", b"Tool not found in registry", &[("tool_name", tool.as_bytes(), DBG)], None);
            }
            3 | 4 => {
                s(&mut m, "Cleaned up ");
                num(&mut m, 1 + self.rng.below(12));
                s(&mut m, " expired requests for agent ");
                let idx = self.rng.below(N_AGENTS);
                self.agent_id(&mut m, idx);
                self.skr_msg(pod, t, "WARN", "skreaver_http::runtime::backpressure", &m, &[], None);
            }
            5 => {
                let mut a = Vec::new();
                let idx = self.rng.below(N_AGENTS);
                self.agent_id(&mut a, idx);
                self.skr_msg(pod, t, "WARN", "skreaver_http::runtime::streaming", b"Invalid progress value, defaulting to 0.0", &[("agent_id", &a, DISP), ("value", b"NaN", DISP)], None);
            }
            6 => {
                s(&mut m, "Failed to get connection: Connection failed: ");
                s(&mut m, self.rng.word(&[
                    "Error occurred while creating a new object: Connection refused (os error 111)",
                    "Timeout occurred while waiting for a slot to become available",
                    "Pool has been closed",
                ]));
                self.skr_msg(pod, t, "ERROR", "skreaver_mesh::redis", &m, &[], None);
            }
            7 => {
                let ip = self.rng.below(16);
                s(&mut m, "IP 10.0.");
                num(&mut m, ip);
                s(&mut m, ".");
                num(&mut m, 2 + self.rng.below(250));
                s(&mut m, " has unusually high connection count: ");
                num(&mut m, 50 + self.rng.below(50));
                self.skr_msg(pod, t, "WARN", "skreaver_http::websocket::manager", &m, &[], None);
            }
            8 => {
                s(&mut m, "Cleaned up ");
                num(&mut m, 1 + self.rng.below(30));
                s(&mut m, " expired connections");
                self.skr_msg(pod, t, "INFO", "skreaver_http::websocket::manager", &m, &[], None);
            }
            _ => {
                s(&mut m, "Error handling protocol message from ");
                self.conn_seq += 1;
                uuid(&mut m, self.seed ^ 0xc044 ^ self.conn_seq);
                s(&mut m, ": ");
                let sub = self.rng.below(1000);
                match self.rng.below(3) {
                    0 => {
                        s(&mut m, "Subscription limit exceeded: ");
                        num(&mut m, 100 + sub % 5);
                        s(&mut m, " subscriptions (max: 100)");
                    }
                    1 => s(&mut m, "Rate limit exceeded for IP address"),
                    _ => {
                        s(&mut m, "Message too large: ");
                        num(&mut m, 65_536 + sub * 37);
                        s(&mut m, " bytes (max: 65536)");
                    }
                }
                self.skr_msg(pod, t, "ERROR", "skreaver_http::websocket::handlers", &m, &[], None);
            }
        }
    }

    fn skr_startup(&mut self, pod: usize, t: u64) {
        let mut tt = t;
        let json = self.pods[pod].fmt == Fmt::SkrJson;
        if json {
            self.skr_msg(pod, tt, "INFO", "skreaver_observability::trace", b"Initialized structured tracing", &[("namespace", b"skreaver", DISP), ("sampling.error", b"1", NUM), ("sampling.warn", b"1", NUM), ("sampling.info", b"100", NUM), ("sampling.debug", b"1000", NUM)], None);
        }
        let lines: &[(&str, &str, &str)] = &[
            ("INFO", "skreaver_http::runtime::http", "No security configuration file specified, using defaults"),
            ("WARN", "skreaver_core::security::config", "Alerting enabled but no recipients or webhook configured"),
            ("INFO", "skreaver_http::runtime::http", "Tool registry wrapped with security policy and RBAC enforcement"),
            ("INFO", "skreaver_http::runtime::http", "Connection limits: max=10000, per_ip=100, mode=Enabled"),
            ("WARN", "skreaver_core::auth::api_key", "API key manager is using the default hardcoded salt. This is insecure for production use. Set SKREAVER_API_KEY_SALT environment variable to a unique random value."),
            ("INFO", "skreaver_http::runtime::http", "API key manager initialized with secure storage"),
        ];
        for (lv, target, msg) in lines {
            tt += self.rng.range(40_000, 4_000_000);
            let lv: &'static str = if *lv == "INFO" { "INFO" } else { "WARN" };
            self.skr_msg(pod, tt, lv, target, msg.as_bytes(), &[], None);
        }
        tt += self.rng.range(40_000, 4_000_000);
        let mut m = Vec::new();
        s(&mut m, "\u{1f511} Debug API key generated: [REDACTED] (id: ");
        uuid(&mut m, self.rng.next());
        s(&mut m, ", name: Test Key (DEBUG BUILD ONLY))");
        self.skr_msg(pod, tt, "INFO", "skreaver_http::runtime::auth", &m, &[], None);
        // First authenticated request inside a request span.
        let mut req = self.make_req(Svc::Skr);
        req.path.clear();
        req.query.clear();
        req.route.clear();
        s(&mut req.path, "/agents");
        s(&mut req.route, "/agents");
        req.method = "GET";
        req.status = 401;
        req.latency_ms = 0.0;
        tt += 60_000_000;
        self.skr_msg(pod, tt, "DEBUG", "tower_http::trace::on_request", b"started processing request", &[], Some(&req));
        self.skr_msg(pod, tt + 120_000, "WARN", "skreaver_http::runtime::security", b"Environment variable SKREAVER_JWT_SECRET not found. Using provided default. This should only be used in development!", &[], Some(&req));
        self.skr_msg(pod, tt + 300_000, "DEBUG", "tower_http::trace::on_response", b"finished processing request", &[("latency", b"0 ms", DISP), ("status", b"401", NUM)], Some(&req));
    }

    fn panic(&mut self, pod: usize, t: u64) {
        let b = &mut self.pay;
        if self.rng.chance(0.5) {
            // A panicking tokio task: the runtime catches it and the process keeps running.
            s(b, "thread 'tokio-runtime-worker' (");
            num(b, 20 + self.rng.below(40));
            s(b, ") panicked at crates/skreaver-http/src/runtime/backpressure/mod.rs:412:38:\ncalled `Option::unwrap()` on a `None` value\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace");
            return self.emit(pod, t, true);
        } else {
            s(b, "thread 'main' (1) panicked at crates/skreaver-http/src/runtime/http/mod.rs:89:13:\nFATAL: Authentication configuration validation failed\nError: SKREAVER_JWT_SECRET environment variable must be set in production. Generate a secure random secret: openssl rand -base64 32\nCRITICAL: Invalid authentication configuration prevents startup. Please set SKREAVER_JWT_SECRET environment variable in production.\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace");
        }
        self.emit(pod, t, true);
        // The container restarts.
        self.now += 2_000_000_000;
        let t2 = self.now;
        self.skr_startup(pod, t2);
    }

    // ------------------------------------------------------------ SkillMeat

    /// One SkillMeat record in the pod's format. `exc` = traceback text (already multi-line).
    #[allow(clippy::too_many_arguments)]
    fn sm(&mut self, pod: usize, t: u64, level: &str, logger: &str, msg: &[u8], module: &str, function: &str, line: u32, exc: Option<&Exc>, structured_tail: Option<&[u8]>) {
        let fmt = self.pods[pod].fmt;
        // isoformat() drops the fraction when microsecond == 0: make that variant appear.
        let t = if fmt == Fmt::SmJson && self.rng.chance(0.0002) { t - t % 1_000_000_000 } else { t };
        let b = &mut self.pay;
        match fmt {
            Fmt::SmText => {
                ts_asctime(b, t);
                s(b, " - ");
                s(b, logger);
                s(b, " - ");
                s(b, level);
                s(b, " - ");
                b.extend_from_slice(msg);
                if let Some(e) = exc {
                    b.push(b'\n');
                    tb(b, e);
                }
                self.emit(pod, t, true);
            }
            _ => {
                s(b, "{\"timestamp\": \"");
                if fmt == Fmt::SmStruct {
                    ts_micros_z(b, t);
                } else {
                    ts_python_naive(b, t);
                }
                s(b, "\", \"level\": \"");
                s(b, level);
                s(b, "\", \"logger\": \"");
                s(b, logger);
                s(b, "\", \"message\": \"");
                json_esc(b, msg, false);
                s(b, "\", \"module\": \"");
                s(b, module);
                s(b, "\", \"function\": \"");
                s(b, function);
                s(b, "\", \"line\": ");
                num(b, line as u64);
                if let Some(tail) = structured_tail {
                    b.extend_from_slice(tail);
                } else if fmt == Fmt::SmStruct {
                    s(b, ", \"extra\": {\"taskName\": \"Task-");
                    self.task_seq += 1;
                    num(b, self.task_seq);
                    s(b, "\"}");
                }
                if let Some(e) = exc {
                    let mut t = Vec::with_capacity(4096);
                    tb(&mut t, e);
                    if fmt == Fmt::SmStruct {
                        s(b, ", \"exception\": {\"type\": \"");
                        s(b, e.ty);
                        s(b, "\", \"message\": \"");
                        json_esc(b, e.msg.as_bytes(), false);
                        s(b, "\", \"traceback\": \"");
                        json_esc(b, &t, false);
                        s(b, "\"}");
                    } else {
                        s(b, ", \"exception\": \"");
                        json_esc(b, &t, false);
                        b.push(b'"');
                    }
                }
                b.push(b'}');
                self.emit(pod, t, false);
            }
        }
    }

    fn skillmeat_event(&mut self, pod: usize) {
        let t = self.now;
        let u = self.rng.unit();
        if u < 0.80 {
            let req = self.make_req(Svc::Sm);
            self.sm_request(pod, t, &req);
        } else {
            self.sm_other(pod, t);
        }
    }

    fn sm_request(&mut self, pod: usize, t: u64, req: &Req) {
        let fmt = self.pods[pod].fmt;
        let mut ip = Vec::with_capacity(24);
        self.client_addr(&mut ip);
        let mut tt = t;
        let mut full_url = Vec::new();
        s(&mut full_url, "http://skillmeat-api:8080");
        full_url.extend_from_slice(&req.path);
        full_url.extend_from_slice(&req.query);
        if req.status == 429 {
            if self.rng.chance(0.3) {
                let mut m = Vec::new();
                s(&mut m, "Burst detected for ");
                m.extend_from_slice(&ip[..ip.iter().position(|&c| c == b':').unwrap()]);
                s(&mut m, " on ");
                m.extend_from_slice(&req.path);
                s(&mut m, " - blocking for 10s");
                self.sm(pod, tt, "WARNING", "skillmeat.api.middleware.rate_limit", &m, "rate_limit", "dispatch", 245, None, None);
                tt += 500_000;
            }
            let mut m = Vec::new();
            s(&mut m, "Blocked request from ");
            m.extend_from_slice(&ip[..ip.iter().position(|&c| c == b':').unwrap()]);
            s(&mut m, " on ");
            m.extend_from_slice(&req.path);
            if self.rng.chance(0.5) {
                self.sm(pod, tt, "WARNING", "skillmeat.api.middleware.rate_limit", &m, "rate_limit", "dispatch", 234, None, None);
            }
            tt += 300_000;
            self.sm_access(pod, tt, &ip, req);
            return;
        }
        // Ids for the StructuredFormatter variant.
        self.req_seq += 1;
        let rs = self.req_seq;
        let mut trace = Vec::with_capacity(36);
        let mut rid = Vec::with_capacity(36);
        uuid(&mut trace, self.seed ^ 0x77ace ^ rs);
        uuid(&mut rid, self.seed ^ 0x4e9 ^ rs);
        let span_id = mix(self.seed ^ 0x5fa ^ rs) >> 32;
        let end = t + (req.latency_ms * 1e6) as u64;
        // Warnings that precede some 4xx responses.
        match req.status {
            401 if self.rng.chance(0.6) => {
                let (m, f, l) = *self.rng.pick(&[
                    ("JWT validation failed", "_decode_jwt", 356),
                    ("JWKS client error resolving signing key", "_decode_jwt", 317),
                ]);
                self.sm(pod, tt + 200_000, "WARNING", "skillmeat.api.auth.clerk_provider", m.as_bytes(), "clerk_provider", f, l, None, if fmt == Fmt::SmStruct { Some(&b", \"extra\": {\"taskName\": \"Task-1\", \"error\": \"Signature verification failed\"}"[..]) } else { None });
            }
            403 => {
                let mut m = Vec::new();
                s(&mut m, "Auth scope check failed: user=user_2");
                hex(&mut m, self.rng.next(), 8);
                s(&mut m, " missing=['artifact:write']");
                self.sm(pod, tt + 200_000, "WARNING", "skillmeat.api.dependencies", &m, "dependencies", "_dependency", 283, None, None);
            }
            422 => {
                let mut m = Vec::new();
                s(&mut m, "Validation error for ");
                m.extend_from_slice(&full_url);
                if req.method != "GET" && self.rng.chance(0.3) {
                    // pydantic echoes the offending input: occasionally a very long line.
                    s(&mut m, ": [{'type': 'string_too_long', 'loc': ('body', 'description'), 'msg': 'String should have at most 4096 characters', 'input': '");
                    let len = self.rng.range(5_000, 40_000) as usize;
                    while m.len() < len {
                        s(&mut m, self.rng.word(LOREM));
                        m.push(b' ');
                    }
                    s(&mut m, "', 'ctx': {'max_length': 4096}}]");
                } else {
                    s(&mut m, ": [{'type': 'missing', 'loc': ('body',), 'msg': 'Field required', 'input': None}]");
                }
                self.sm(pod, tt + 200_000, "WARNING", "skillmeat.api.server", &m, "server", "validation_exception_handler", 396, None, None);
            }
            503 => {
                self.sm(pod, tt + 200_000, "ERROR", "skillmeat.api.auth.clerk_provider", b"Failed to reach Clerk JWKS endpoint", "clerk_provider", "_decode_jwt", 308, None, None);
            }
            _ => {}
        }
        let method = req.method;
        let mut span_name = Vec::with_capacity(64);
        s(&mut span_name, method);
        span_name.push(b' ');
        span_name.extend_from_slice(&req.route);
        let mut req_line = Vec::with_capacity(80);
        s(&mut req_line, method);
        req_line.push(b' ');
        req_line.extend_from_slice(&req.path);
        tt = end.max(tt + 400_000);
        let exc = if req.status == 500 {
            let e = if req.latency_ms >= 30_000.0 { &EXCS[1] } else { self.rng.pick(EXCS) };
            Some(e)
        } else {
            None
        };
        let dur_span = (req.latency_ms * 100.0) as u64;
        let dur_req = dur_span + 10 + self.rng.below(80);
        if let Some(e) = exc {
            let mut m = Vec::new();
            s(&mut m, "Span failed: ");
            m.extend_from_slice(&span_name);
            let tail = self.struct_tail_err(fmt, &trace, &rid, Some(span_id), method, &req.path, e);
            self.sm(pod, tt, "ERROR", "skillmeat.observability.tracing", &m, "tracing", "trace_operation", 175, Some(e), tail.as_deref());
            tt += 40_000;
        }
        // Span completed
        let mut m = Vec::new();
        s(&mut m, "Span completed: ");
        m.extend_from_slice(&span_name);
        s(&mut m, if exc.is_some() { " [error]" } else { " [success]" });
        let tail = if fmt == Fmt::SmStruct {
            let mut x = Vec::with_capacity(512);
            s(&mut x, ", \"trace_id\": \"");
            x.extend_from_slice(&trace);
            s(&mut x, "\", \"span_id\": \"");
            hex(&mut x, span_id, 8);
            s(&mut x, "\", \"request_id\": \"");
            x.extend_from_slice(&rid);
            s(&mut x, "\", \"extra\": {\"taskName\": \"starlette.middleware.base.BaseHTTPMiddleware.__call__.<locals>.call_next.<locals>.coro\", \"parent_span_id\": null, \"duration_ms\": ");
            py_centis(&mut x, dur_span);
            s(&mut x, if exc.is_some() { ", \"status\": \"error\", \"attributes\": {\"method\": \"" } else { ", \"status\": \"success\", \"attributes\": {\"method\": \"" });
            s(&mut x, method);
            s(&mut x, "\", \"path\": \"");
            x.extend_from_slice(&req.path);
            s(&mut x, "\", \"normalized_path\": \"");
            x.extend_from_slice(&req.route);
            s(&mut x, "\", \"client_host\": \"");
            x.extend_from_slice(&ip[..ip.iter().position(|&c| c == b':').unwrap()]);
            s(&mut x, "\", \"user_agent\": \"");
            s(&mut x, self.rng.word(&["Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "python-httpx/0.28.1", "Python-urllib/3.12", "kube-probe/1.31", "skillmeat-cli/0.9.1", "python-httpx/0.28.1"]));
            s(&mut x, "\", \"request_size\": 0, \"status_code\": ");
            num(&mut x, req.status as u64);
            s(&mut x, ", \"response_size\": ");
            num(&mut x, 40 + self.rng.below(40_000));
            s(&mut x, "}, \"events\": []}");
            Some(x)
        } else {
            None
        };
        let level = if exc.is_some() { "ERROR" } else { "INFO" };
        self.sm(pod, tt, level, "skillmeat.observability.tracing", &m, "tracing", "end", 82, None, tail.as_deref());
        tt += self.rng.range(30_000, 400_000);
        if let Some(e) = exc {
            let mut m = Vec::new();
            s(&mut m, "Request failed: ");
            m.extend_from_slice(&req_line);
            let tail = self.struct_tail_err(fmt, &trace, &rid, None, method, &req.path, e);
            self.sm(pod, tt, "ERROR", "skillmeat.api.middleware.observability", &m, "observability", "dispatch", 134, Some(e), tail.as_deref());
            tt += 30_000;
        }
        // Request completed
        let mut m = Vec::new();
        s(&mut m, "Request completed: ");
        m.extend_from_slice(&req_line);
        s(&mut m, " - ");
        num(&mut m, req.status as u64);
        let tail = if fmt == Fmt::SmStruct {
            let mut x = Vec::with_capacity(400);
            s(&mut x, ", \"trace_id\": \"");
            x.extend_from_slice(&trace);
            s(&mut x, "\", \"user_id\": null, \"request_id\": \"");
            x.extend_from_slice(&rid);
            s(&mut x, "\", \"extra\": {\"taskName\": \"starlette.middleware.base.BaseHTTPMiddleware.__call__.<locals>.call_next.<locals>.coro\", \"method\": \"");
            s(&mut x, method);
            s(&mut x, "\", \"path\": \"");
            x.extend_from_slice(&req.path);
            s(&mut x, "\", \"normalized_path\": \"");
            x.extend_from_slice(&req.route);
            s(&mut x, "\", \"status_code\": ");
            num(&mut x, req.status as u64);
            s(&mut x, ", \"duration_ms\": ");
            py_centis(&mut x, dur_req);
            s(&mut x, ", \"request_size\": 0}");
            Some(x)
        } else {
            None
        };
        self.sm(pod, tt, "INFO", "skillmeat.api.middleware.observability", &m, "observability", "dispatch", 174, None, tail.as_deref());
        tt += self.rng.range(20_000, 300_000);
        if let Some(e) = exc {
            let mut m = Vec::new();
            s(&mut m, "Unexpected error for ");
            m.extend_from_slice(&full_url);
            s(&mut m, ": ");
            s(&mut m, e.msg);
            self.sm(pod, tt, "ERROR", "skillmeat.api.server", &m, "server", "general_exception_handler", 440, Some(e), None);
            tt += 30_000;
        }
        self.sm_access(pod, tt, &ip, req);
        if let Some(e) = exc {
            tt += 30_000;
            self.sm(pod, tt, "ERROR", "uvicorn.error", b"Exception in ASGI application\n", "httptools_impl", "run_asgi", 427, Some(e), None);
        }
        // Keep the global clock roughly in step with long requests, but never run far ahead.
        self.now = self.now.max(tt.min(t + 3 * self.gap_ns));
    }

    /// StructuredFormatter fields of `Span failed` / `Request failed` records (before `exception`).
    #[allow(clippy::too_many_arguments)]
    fn struct_tail_err(&self, fmt: Fmt, trace: &[u8], rid: &[u8], span_id: Option<u64>, method: &str, path: &[u8], e: &Exc) -> Option<Vec<u8>> {
        if fmt != Fmt::SmStruct {
            return None;
        }
        let mut x = Vec::with_capacity(400);
        s(&mut x, ", \"trace_id\": \"");
        x.extend_from_slice(trace);
        if let Some(sid) = span_id {
            s(&mut x, "\", \"span_id\": \"");
            hex(&mut x, sid, 8);
        }
        s(&mut x, "\", \"request_id\": \"");
        x.extend_from_slice(rid);
        s(&mut x, "\", \"extra\": {\"taskName\": \"starlette.middleware.base.BaseHTTPMiddleware.__call__.<locals>.call_next.<locals>.coro\", \"method\": \"");
        s(&mut x, method);
        s(&mut x, "\", \"path\": \"");
        x.extend_from_slice(path);
        s(&mut x, "\", \"error_type\": \"");
        s(&mut x, e.ty);
        s(&mut x, "\"}");
        Some(x)
    }

    fn sm_access(&mut self, pod: usize, t: u64, ip: &[u8], req: &Req) {
        let mut m = Vec::with_capacity(120);
        m.extend_from_slice(ip);
        s(&mut m, " - \"");
        s(&mut m, req.method);
        m.push(b' ');
        m.extend_from_slice(&req.path);
        m.extend_from_slice(&req.query);
        s(&mut m, " HTTP/1.1\" ");
        num(&mut m, req.status as u64);
        self.sm(pod, t, "INFO", "uvicorn.access", &m, "httptools_impl", "send", 482, None, None);
    }

    fn sm_other(&mut self, pod: usize, t: u64) {
        let mut m = Vec::with_capacity(300);
        match self.rng.below(12) {
            0 | 1 => {
                let path = *self.rng.pick(&["skills/pdf/SKILL.md", "skills/docx/SKILL.md", "agents/reviewer.md", "README.md"]);
                s(&mut m, "GitHub API rate limit exceeded while fetching ");
                s(&mut m, path);
                s(&mut m, ": GitHub API rate limit exceeded (get_repo(anthropics/skills)). Limit: 60, Resets at: ");
                date_time(&mut m, t + 1_800_000_000_000 - t % 60_000_000_000, b' ');
                s(&mut m, "+00:00");
                self.sm(pod, t, "WARNING", "skillmeat.core.github_metadata", &m, "github_metadata", "_fetch_file_content", 352, None, None);
            }
            2 => {
                s(&mut m, "Database locked, retrying in ");
                let attempt = 1 + self.rng.below(3);
                num(&mut m, 100 * attempt);
                s(&mut m, "ms (attempt ");
                num(&mut m, attempt);
                s(&mut m, "/3)");
                self.sm(pod, t, "WARNING", "skillmeat.cache.repository", &m, "repository", "transaction", 217, None, None);
            }
            3 => {
                let name = *self.rng.pick(MCP_NAMES);
                s(&mut m, "Checking health for MCP server: ");
                s(&mut m, name);
                s(&mut m, " (use_cache=True)");
                self.sm(pod, t, "INFO", "skillmeat.api.routers.mcp", &m, "mcp", "get_server_health", 824, None, None);
                if self.rng.chance(0.2) {
                    let e = &EXCS[2];
                    m.clear();
                    s(&mut m, "Error checking health for '");
                    s(&mut m, name);
                    s(&mut m, "': ");
                    s(&mut m, e.msg);
                    self.sm(pod, t + 3_000_000, "ERROR", "skillmeat.api.routers.mcp", &m, "mcp", "get_server_health", 850, Some(e), None);
                }
            }
            4 | 5 => {
                let op = *self.rng.pick(&["perf.storage.read_deployments", "perf.deployment.list_deployments", "perf.collection.load", "perf.search.query"]);
                self.sm(pod, t, "INFO", "skillmeat.perf", op.as_bytes(), "timing", "timed", 88, None, None);
            }
            6 => {
                s(&mut m, "Rate limit hit fetching README for ");
                s(&mut m, self.rng.word(&["anthropics/skills", "modelcontextprotocol/servers", "miethe/skillmeat"]));
                s(&mut m, ": GitHub API rate limit exceeded (get_file_content(anthropics/skills, README.md)). Limit: 5000, Resets at: ");
                date_time(&mut m, t + 900_000_000_000 - t % 60_000_000_000, b' ');
                s(&mut m, "+00:00");
                self.sm(pod, t, "WARNING", "skillmeat.core.marketplace.github_scanner", &m, "github_scanner", "try_fetch_readme", 995, None, None);
            }
            7 => {
                s(&mut m, "Token ");
                hex(&mut m, self.rng.next(), 8);
                s(&mut m, "... has been revoked");
                self.sm(pod, t, "WARNING", "skillmeat.core.auth.token_manager", &m, "token_manager", "validate_token", 268, None, None);
            }
            8 => {
                s(&mut m, "Enterprise PAT auth: invalid token presented");
                self.sm(pod, t, "WARNING", "skillmeat.api.middleware.enterprise_auth", &m, "enterprise_auth", "verify_enterprise_pat", 155, None, None);
            }
            9 => {
                s(&mut m, "ensure_default_collection: verified/created default collection id='");
                hex(&mut m, mix(self.seed ^ 0x3232), 16);
                hex(&mut m, mix(self.seed ^ 0x3233), 16);
                m.push(b'\'');
                self.sm(pod, t, "INFO", "skillmeat.api.routers.user_collections", &m, "user_collections", "ensure_default_collection", 212, None, None);
            }
            10 => {
                s(&mut m, "Bulk refresh rate limited at source ");
                num(&mut m, 1 + self.rng.below(3000));
                s(&mut m, ": GitHub API rate limit exceeded (get_repo(anthropics/skills)).");
                self.sm(pod, t, "WARNING", "skillmeat.api.routers.marketplace_sources", &m, "marketplace_sources", "bulk_refresh", 6253, None, None);
            }
            _ => {
                s(&mut m, "Metadata cache population completed in 0.");
                pad(&mut m, self.rng.below(100), 2);
                s(&mut m, "s");
                self.sm(pod, t, "INFO", "skillmeat.api.routers.user_collections", &m, "user_collections", "populate_collection_artifact_metadata", 1190, None, None);
            }
        }
    }

    fn sm_startup(&mut self, pod: usize, t: u64) {
        let fmt = self.pods[pod].fmt;
        let mut tt = t;
        let pid = self.pods[pod].pid;
        if fmt == Fmt::SmJson {
            for l in ["[entrypoint] Starting SkillMeat API container entrypoint", "[entrypoint] Detected PostgreSQL database", "[entrypoint] Running Alembic migrations (alembic upgrade head)..."] {
                s(&mut self.pay, l);
                self.emit(pod, tt, false);
                tt += self.rng.range(1_000_000, 300_000_000);
            }
        }
        s(&mut self.pay, "/app/skillmeat/api/routers/marketplace_sources.py:3369: FastAPIDeprecationWarning: `regex` has been deprecated, please use `pattern` instead\n  sort_by: Optional[str] = Query(\n/app/skillmeat/api/routers/marketplace_sources.py:3374: FastAPIDeprecationWarning: `regex` has been deprecated, please use `pattern` instead\n  sort_order: Optional[str] = Query(");
        self.emit(pod, tt, true);
        tt += self.rng.range(100_000_000, 900_000_000);
        s(&mut self.pay, "INFO:     Started server process [");
        num(&mut self.pay, pid);
        s(&mut self.pay, "]\nINFO:     Waiting for application startup.");
        self.emit(pod, tt, true);
        let lines: &[(&str, &str, &str, &str, u32)] = &[
            ("INFO", "skillmeat.api.server", "Logging configured", "lifespan", 190),
            ("INFO", "skillmeat.api.dependencies", "Initializing application state...", "initialize", 92),
            ("INFO", "skillmeat.core.github_client", "GitHub client initialized without authentication (60 req/hr limit)", "__init__", 157),
            ("INFO", "skillmeat.api.dependencies", "CacheManager initialized", "initialize", 122),
            ("INFO", "skillmeat.api.server", "Application state initialized", "lifespan", 196),
            ("WARNING", "skillmeat.api.server", "GitHub API: Could not check status - HTTPSConnectionPool(host='api.github.com', port=443): Read timed out. (read timeout=5)", "lifespan", 211),
            ("INFO", "skillmeat.api.server", "Search backend: like", "lifespan", 260),
            ("INFO", "skillmeat.api.server", "SkillMeat API v0.9.1 started successfully", "lifespan", 322),
            ("INFO", "uvicorn.error", "Application startup complete.", "startup", 62),
            ("INFO", "uvicorn.error", "Uvicorn running on http://0.0.0.0:8080 (Press CTRL+C to quit)", "_log_started_message", 216),
        ];
        for (lv, logger, msg, func, line) in lines {
            tt += self.rng.range(100_000, 200_000_000);
            let module = logger.rsplit('.').next().unwrap();
            let module = if *logger == "uvicorn.error" { if *func == "startup" { "on" } else { "server" } } else { module };
            self.sm(pod, tt, lv, logger, msg.as_bytes(), module, func, *line, None, None);
        }
    }

    fn startup(&mut self, pod: usize) {
        let t = self.now;
        match self.pods[pod].fmt {
            Fmt::SkrJson | Fmt::SkrText => self.skr_startup(pod, t),
            Fmt::SmJson | Fmt::SmStruct | Fmt::SmText => self.sm_startup(pod, t),
            Fmt::Generic => self.generic_event(pod),
        }
    }

    // ------------------------------------------------------------ generic

    fn generic_event(&mut self, pod: usize) {
        let t = self.now;
        let redis = self.pods[pod].container == "redis";
        let b = &mut self.pay;
        if redis {
            // 1:M 22 Nov 2026 07:00:01.123 * message
            let secs = t / 1_000_000_000;
            let (y, mo, d) = civil((secs / 86_400) as i64);
            s(b, "1:M ");
            pad(b, d, 2);
            b.push(b' ');
            s(b, ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"][mo as usize - 1]);
            b.push(b' ');
            num(b, y as u64);
            b.push(b' ');
            let sod = secs % 86_400;
            pad(b, sod / 3600, 2);
            b.push(b':');
            pad(b, sod / 60 % 60, 2);
            b.push(b':');
            pad(b, sod % 60, 2);
            b.push(b'.');
            pad(b, t % 1_000_000_000 / 1_000_000, 3);
            match self.rng.below(4) {
                0 => s(b, " * 100 changes in 300 seconds. Saving..."),
                1 => s(b, " * Background saving started by pid 4711"),
                2 => s(b, " * DB saved on disk"),
                _ => s(b, " # Client id=82 addr=10.0.3.7:51234 closed: connection reset by peer"),
            }
        } else {
            match self.rng.below(3) {
                0 => {
                    // logfmt
                    s(b, "ts=");
                    date_time(b, t, b'T');
                    b.push(b'.');
                    pad(b, t % 1_000_000_000 / 1_000_000, 3);
                    s(b, "Z level=");
                    let lvl = *self.rng.pick(&["info", "info", "info", "warn", "error"]);
                    s(b, lvl);
                    s(b, " caller=exporterhelper/queue_sender.go:99 msg=\"");
                    s(b, if lvl == "info" { "Exporting finished." } else { "Exporting failed. Will retry the request after interval." });
                    s(b, "\" kind=exporter data_type=logs name=otlp items=");
                    num(b, 1 + self.rng.below(512));
                }
                1 => {
                    // zap-style generic JSON with epoch seconds
                    s(b, "{\"level\":\"info\",\"ts\":");
                    num(b, t / 1_000_000_000);
                    b.push(b'.');
                    pad(b, t % 1_000_000_000 / 1_000_000, 3);
                    s(b, ",\"caller\":\"batchprocessor/batch_processor.go:261\",\"msg\":\"Sending batch\",\"kind\":\"processor\",\"name\":\"batch\",\"batch_size\":");
                    num(b, 1 + self.rng.below(8192));
                    b.push(b'}');
                }
                _ => {
                    s(b, "2026/11/22 ");
                    let sod = t / 1_000_000_000 % 86_400;
                    pad(b, sod / 3600, 2);
                    b.push(b':');
                    pad(b, sod / 60 % 60, 2);
                    b.push(b':');
                    pad(b, sod % 60, 2);
                    s(b, " health check ok: 3 exporters, 2 receivers, queue depth ");
                    num(b, self.rng.below(100));
                }
            }
        }
        self.emit(pod, t, false);
    }
}

/// Python `repr(round(x, 2))` for a value given in hundredths.
fn py_centis(b: &mut Vec<u8>, c: u64) {
    num(b, c / 100);
    b.push(b'.');
    let f = c % 100;
    if f == 0 {
        b.push(b'0');
    } else if f.is_multiple_of(10) {
        num(b, f / 10);
    } else {
        pad(b, f, 2);
    }
}

fn tb(b: &mut Vec<u8>, e: &Exc) {
    s(b, e.head);
    s(b, TB_STARLETTE);
    s(b, e.tail);
}

fn char_floor(x: &[u8], mut i: usize) -> usize {
    while i > 0 && i < x.len() && (x[i] & 0xC0) == 0x80 {
        i -= 1;
    }
    i
}
