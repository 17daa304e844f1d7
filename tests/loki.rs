//! The Loki source against an **emulated** Grafana Loki: no Loki binary can be had on this
//! machine kind (../shared/SOURCES.md §4.1), so these tests run an in-process HTTP server on
//! 127.0.0.1 (port 0) that follows Loki's documented API and source (grafana/loki @ 65e30f84,
//! SOURCES.md §4.2): `query_range` with `limit` (default 100, capped by
//! `max_entries_limit_per_query` = 5000 with Loki's exact 400 text), `direction`, `start`
//! inclusive / `end` exclusive, nanosecond timestamps as strings, one stream object per label
//! set (structured metadata folded in unless `categorize-labels` is asked for), HTML-escaped
//! lines, plain-text error bodies, `X-Scope-OrgID` (401 `no org id`), a gateway's basic/bearer
//! check, and the `/loki/api/v1/tail` WebSocket with `dropped_entries`. [`Emu::https`] serves
//! the same state over TLS (rustls server side, a self-signed certificate for `localhost` and
//! 127.0.0.1 made with rcgen), for `loki+https://` inputs and the `wss` tail.

use std::collections::{BTreeMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use logsleuth::source::loki::{self, LokiInput, LokiOpts};
use logsleuth::source::ws;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use serde_json::{Value, json};

mod common;
use common::interrupt;

type Labels = Vec<(String, String)>;

#[derive(Clone)]
struct Entry {
    ts: i64,
    line: String,
    sm: Labels,
}

/// A request: path, query parameters, headers (lower-case names).
type Logged = (String, BTreeMap<String, String>, BTreeMap<String, String>);

#[derive(Default)]
struct State {
    streams: Vec<(Labels, Vec<Entry>)>,
    max_entries: usize,
    /// Statuses to answer the next requests with (429, 500 …).
    fail_next: VecDeque<u16>,
    /// From the Nth request on (counting every request from 0), answer all with this status:
    /// a Loki that fails in the middle of a run.
    fail_from: Option<(usize, u16)>,
    /// Sleep this long before answering the next request, once.
    stall_next: Option<Duration>,
    /// Sleep this long before answering every request (a real server's query time).
    latency: Duration,
    require_org: Option<String>,
    /// Expected `Authorization` header value (the gateway in front of Loki).
    require_authz: Option<String>,
    /// Dropped entries to report in the next tail message.
    tail_dropped: usize,
    /// Close the next tail connection after this many messages.
    tail_close_after: Option<usize>,
    /// Send each stream's new entries as a tail message of its own, streams in the order they
    /// were first pushed: Loki's querier forwards what each ingester's tail delivers, so one
    /// message is not a time-ordered merge of all streams (hence the tail's `delay_for`).
    tail_per_stream: bool,
    /// Requests seen: path, query parameters, headers.
    log: Vec<Logged>,
}

#[derive(Clone)]
struct Emu {
    state: Arc<Mutex<State>>,
    addr: String,
    /// Set when this listener speaks TLS.
    cert: Option<Arc<TestCert>>,
}

/// A self-signed certificate for `localhost` and 127.0.0.1, its PEM file (what a user would
/// trust with SSL_CERT_FILE or --ca-file) and the server configuration that presents it.
struct TestCert {
    _dir: tempfile::TempDir,
    pem: PathBuf,
    config: Arc<ServerConfig>,
}

fn test_cert() -> TestCert {
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .expect("certificate");
    let dir = tempfile::tempdir().expect("tmp");
    let pem = dir.path().join("loki-ca.pem");
    std::fs::write(&pem, cert.pem()).expect("write pem");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(signing_key.serialize_der()));
    let config =
        ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key)
            .expect("server config");
    TestCert {
        _dir: dir,
        pem,
        config: Arc::new(config),
    }
}

impl Emu {
    fn start() -> Emu {
        let state = Arc::new(Mutex::new(State {
            max_entries: 5000,
            ..State::default()
        }));
        Emu::listen(state, None)
    }

    /// The same emulated Loki (same entries, settings and request log) on a second listener
    /// that speaks TLS with a new self-signed certificate.
    fn https(&self) -> Emu {
        Emu::listen(self.state.clone(), Some(Arc::new(test_cert())))
    }

    fn listen(state: Arc<Mutex<State>>, cert: Option<Arc<TestCert>>) -> Emu {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr").to_string();
        let st = state.clone();
        let tls = cert.as_ref().map(|c| c.config.clone());
        std::thread::spawn(move || {
            for conn in l.incoming() {
                let Ok(conn) = conn else { return };
                let st = st.clone();
                let tls = tls.clone();
                std::thread::spawn(move || {
                    let _ = match tls {
                        // The handshake runs on the first read; a client that refuses the
                        // certificate ends it with an alert, and this connection with an error.
                        Some(cfg) => ServerConnection::new(cfg)
                            .map_err(std::io::Error::other)
                            .and_then(|c| serve(StreamOwned::new(c, conn), &st)),
                        None => serve(conn, &st),
                    };
                });
            }
        });
        Emu { state, addr, cert }
    }

    fn uri(&self) -> String {
        let scheme = if self.cert.is_some() { "https" } else { "http" };
        format!("loki+{scheme}://{}", self.addr)
    }

    /// The PEM file of this listener's certificate.
    fn ca_pem(&self) -> PathBuf {
        self.cert.as_ref().expect("an https emulator").pem.clone()
    }

    fn push(&self, labels: &[(&str, &str)], ts: i64, line: &str, sm: &[(&str, &str)]) {
        let mut labels: Labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        let e = Entry {
            ts,
            line: line.to_string(),
            sm: sm
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let mut s = self.state.lock().expect("lock");
        // Each stream is kept in time order (Loki's chunks are), so a query can binary-search.
        match s.streams.iter_mut().find(|(l, _)| *l == labels) {
            Some((_, v)) => {
                let at = v.partition_point(|x| x.ts <= e.ts);
                v.insert(at, e);
            }
            None => s.streams.push((labels, vec![e])),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().expect("lock"))
    }

    fn requests(&self, path: &str) -> Vec<BTreeMap<String, String>> {
        self.with(|s| {
            s.log
                .iter()
                .filter(|(p, _, _)| p == path)
                .map(|(_, q, _)| q.clone())
                .collect()
        })
    }
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let h = std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(h, 16) {
                    Ok(v) => {
                        out.push(v);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Loki's `parseTimestamp`: float seconds, ≤10 digits seconds, else nanoseconds.
fn parse_ts(s: &str) -> Option<i64> {
    if s.contains('.') {
        return s.parse::<f64>().ok().map(|f| (f * 1e9) as i64);
    }
    let n: i64 = s.parse().ok()?;
    Some(if s.len() <= 10 { n * 1_000_000_000 } else { n })
}

/// `{a="x", b!="y"}` plus optional `|= "text"` line filters (a subset of LogQL).
type Matcher = (String, bool, String);
fn parse_query(q: &str) -> Option<(Vec<Matcher>, Vec<String>)> {
    let q = q.trim();
    let rest = q.strip_prefix('{')?;
    let close = rest.find('}')?;
    let mut matchers = Vec::new();
    for m in rest[..close].split(',').filter(|m| !m.trim().is_empty()) {
        let (k, neg, v) = if let Some((k, v)) = m.split_once("!=") {
            (k, true, v)
        } else {
            let (k, v) = m.split_once('=')?;
            (k, false, v)
        };
        let v = v.trim().strip_prefix('"')?.strip_suffix('"')?;
        matchers.push((k.trim().to_string(), neg, v.to_string()));
    }
    let mut filters = Vec::new();
    let mut tail = rest[close + 1..].trim();
    while !tail.is_empty() {
        let r = tail.strip_prefix("|=")?.trim();
        let r = r.strip_prefix('"')?;
        let end = r.find('"')?;
        filters.push(r[..end].to_string());
        tail = r[end + 1..].trim();
    }
    Some((matchers, filters))
}

fn respond(s: &mut impl Write, status: u16, ctype: &str, body: &str) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        504 => "Gateway Timeout",
        _ => "Internal Server Error",
    };
    write!(
        s,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n{body}",
        body.len(),
        if status == 200 {
            ""
        } else {
            "X-Content-Type-Options: nosniff\r\n"
        }
    )
}

/// Loki's `WriteError`: plain text, `http.Error` appends a newline.
fn error(s: &mut impl Write, status: u16, msg: &str) -> std::io::Result<()> {
    respond(s, status, "text/plain; charset=utf-8", &format!("{msg}\n"))
}

fn html_escape_json(v: &Value) -> String {
    // jsoniter WriteStringWithHTMLEscaped: <, >, & as \u escapes.
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn serve<S: Read + Write>(conn: S, st: &Arc<Mutex<State>>) -> std::io::Result<()> {
    let mut r = BufReader::new(conn);
    let mut first = String::new();
    r.read_line(&mut first)?;
    let mut headers = BTreeMap::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l)? == 0 || l == "\r\n" {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    // The request has no body: from here on the connection is only written to.
    let conn = r.get_mut();
    let target = first.split(' ').nth(1).unwrap_or("/").to_string();
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let params: BTreeMap<String, String> = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (pct_decode(k), pct_decode(v)))
        .collect();
    let (fail, stall, latency) = {
        let mut s = st.lock().expect("lock");
        s.log
            .push((path.to_string(), params.clone(), headers.clone()));
        let n = s.log.len() - 1;
        let fail = s.fail_next.pop_front().or(s
            .fail_from
            .filter(|(from, _)| n >= *from)
            .map(|(_, code)| code));
        (fail, s.stall_next.take(), s.latency)
    };
    if let Some(d) = stall {
        std::thread::sleep(d);
    }
    std::thread::sleep(latency);
    // The gateway in front of Loki checks credentials; Loki checks the tenant.
    let (authz, org) = {
        let s = st.lock().expect("lock");
        (s.require_authz.clone(), s.require_org.clone())
    };
    if let Some(want) = authz
        && headers.get("authorization") != Some(&want)
    {
        return respond(
            conn,
            401,
            "text/html",
            "<html>401 Authorization Required</html>",
        );
    }
    if let Some(want) = org
        && headers.get("x-scope-orgid") != Some(&want)
    {
        return error(conn, 401, "no org id");
    }
    match fail {
        Some(429) => return error(conn, 429, "too many outstanding requests"),
        Some(400) => {
            return error(
                conn,
                400,
                "the query time range exceeds the limit (query length: 745h0m0s, limit: 721h0m0s)",
            );
        }
        Some(504) => {
            return error(
                conn,
                504,
                "request timed out, decrease the duration of the request or add more label matchers",
            );
        }
        Some(code) => {
            return error(
                conn,
                code,
                "rpc error: code = Internal desc = emulated failure",
            );
        }
        None => {}
    }
    let Some((matchers, filters)) = params.get("query").and_then(|q| parse_query(q)) else {
        return error(
            conn,
            400,
            "parse error at line 1, col 1: syntax error: unexpected IDENTIFIER",
        );
    };
    let limit: i64 = match params.get("limit") {
        None => 100,
        Some(l) => l.parse().unwrap_or(0),
    };
    let max = st.lock().expect("lock").max_entries as i64;
    if limit <= 0 {
        return error(conn, 400, "limit must be a positive value");
    }
    if limit > max {
        return error(
            conn,
            400,
            &format!(
                "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {max})"
            ),
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64);
    let end = params.get("end").and_then(|e| parse_ts(e)).unwrap_or(now);
    let start = params
        .get("start")
        .and_then(|e| parse_ts(e))
        .unwrap_or(end - 3_600_000_000_000);
    let categorize = headers
        .get("x-loki-response-encoding-flags")
        .is_some_and(|v| v.contains("categorize-labels"));
    // At most `per_stream` entries from each stream, from the start (forward) or the end.
    let select_n = |s: &State, from: i64, to: i64, per_stream: usize, forward: bool| {
        let mut out = Vec::new();
        for (labels, entries) in &s.streams {
            let ok = matchers.iter().all(|(k, neg, v)| {
                let has = labels.iter().any(|(lk, lv)| lk == k && lv == v);
                has != *neg
            });
            if !ok {
                continue;
            }
            let lo = entries.partition_point(|e| e.ts < from);
            let hi = entries.partition_point(|e| e.ts < to);
            let hits = entries[lo..hi]
                .iter()
                .filter(|e| filters.iter().all(|f| e.line.contains(f.as_str())));
            let picked: Vec<&Entry> = if forward {
                hits.take(per_stream).collect()
            } else {
                let mut v: Vec<&Entry> = hits.rev().take(per_stream).collect();
                v.reverse();
                v
            };
            out.extend(picked.into_iter().map(|e| (labels.clone(), e.clone())));
        }
        out
    };
    let select = |s: &State, from: i64, to: i64| -> Vec<(Labels, Entry)> {
        let mut out = Vec::new();
        for (labels, entries) in &s.streams {
            let ok = matchers.iter().all(|(k, neg, v)| {
                let has = labels.iter().any(|(lk, lv)| lk == k && lv == v);
                has != *neg
            });
            if !ok {
                continue;
            }
            for e in entries {
                if e.ts >= from && e.ts < to && filters.iter().all(|f| e.line.contains(f.as_str()))
                {
                    out.push((labels.clone(), e.clone()));
                }
            }
        }
        out
    };
    let stream_json = |sel: Vec<(Labels, Entry)>| -> Value {
        // One stream object per label set (structured metadata folded in unless categorized).
        let mut groups: Vec<(Labels, Vec<Value>)> = Vec::new();
        for (labels, e) in sel {
            let mut key = labels.clone();
            if !categorize {
                key.extend(e.sm.iter().cloned());
                key.sort();
            }
            let mut v = vec![json!(e.ts.to_string()), json!(e.line)];
            if categorize {
                let sm: serde_json::Map<String, Value> =
                    e.sm.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
                v.push(if sm.is_empty() {
                    json!({})
                } else {
                    json!({ "structuredMetadata": sm })
                });
            }
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, vals)) => vals.push(Value::Array(v)),
                None => groups.push((key, vec![Value::Array(v)])),
            }
        }
        Value::Array(
            groups
                .into_iter()
                .map(|(k, vals)| {
                    let m: serde_json::Map<String, Value> =
                        k.into_iter().map(|(a, b)| (a, json!(b))).collect();
                    json!({ "stream": m, "values": vals })
                })
                .collect(),
        )
    };
    match path {
        "/loki/api/v1/query_range" => {
            let forward = match params.get("direction").map(String::as_str) {
                None | Some("backward") => false,
                Some("forward") => true,
                Some(d) => return error(conn, 400, &format!("invalid direction '{d}'")),
            };
            let mut sel = select_n(
                &st.lock().expect("lock"),
                start,
                end,
                limit as usize,
                forward,
            );
            sel.sort_by(|a, b| (a.1.ts, &a.0, &a.1.line).cmp(&(b.1.ts, &b.0, &b.1.line)));
            if !forward {
                sel.reverse();
            }
            sel.truncate(limit as usize);
            let mut data = json!({ "resultType": "streams", "result": stream_json(sel),
                "stats": { "summary": { "bytesProcessedPerSecond": 0, "execTime": 0,
                    "linesProcessedPerSecond": 0, "queueTime": 0, "totalBytesProcessed": 0,
                    "totalLinesProcessed": 0 } } });
            if categorize {
                data["encodingFlags"] = json!(["categorize-labels"]);
            }
            let body = html_escape_json(&json!({ "status": "success", "data": data }));
            respond(conn, 200, "application/json; charset=UTF-8", &body)
        }
        "/loki/api/v1/tail" => {
            let key = headers
                .get("sec-websocket-key")
                .cloned()
                .unwrap_or_default();
            write!(
                conn,
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                ws::accept_key(&key)
            )?;
            let (close_after, per_stream) = {
                let mut s = st.lock().expect("lock");
                (s.tail_close_after.take(), s.tail_per_stream)
            };
            let mut sent_upto = start; // entries at or after start, each once, in time order
            let mut sent_at: Vec<(Labels, String)> = Vec::new();
            let mut messages = 0usize;
            loop {
                let (sel, mut dropped, order) = {
                    let mut s = st.lock().expect("lock");
                    let mut sel = select(&s, sent_upto, i64::MAX);
                    sel.retain(|(l, e)| {
                        !(e.ts == sent_upto && sent_at.contains(&(l.clone(), e.line.clone())))
                    });
                    sel.sort_by(|a, b| (a.1.ts, &a.0, &a.1.line).cmp(&(b.1.ts, &b.0, &b.1.line)));
                    let d = if sel.is_empty() {
                        0
                    } else {
                        std::mem::take(&mut s.tail_dropped)
                    };
                    let order: Vec<Labels> = s.streams.iter().map(|(l, _)| l.clone()).collect();
                    (sel, d, order)
                };
                for (l, e) in &sel {
                    if e.ts > sent_upto {
                        sent_upto = e.ts;
                        sent_at.clear();
                    }
                    sent_at.push((l.clone(), e.line.clone()));
                }
                let batches: Vec<Vec<(Labels, Entry)>> = if per_stream {
                    order
                        .iter()
                        .map(|want| sel.iter().filter(|(l, _)| l == want).cloned().collect())
                        .collect()
                } else {
                    vec![sel]
                };
                for batch in batches.into_iter().filter(|b: &Vec<_>| !b.is_empty()) {
                    let mut msg = json!({ "streams": stream_json(batch) });
                    if dropped > 0 {
                        msg["dropped_entries"] = Value::Array(
                            (0..dropped)
                                .map(|i| json!({"labels": {"app": "tail"}, "timestamp": (1_000 + i).to_string()}))
                                .collect(),
                        );
                        dropped = 0;
                    }
                    let payload = html_escape_json(&msg);
                    let mut f = vec![0x81u8];
                    let n = payload.len();
                    if n < 126 {
                        f.push(n as u8);
                    } else if n <= 0xffff {
                        f.push(126);
                        f.extend_from_slice(&(n as u16).to_be_bytes());
                    } else {
                        f.push(127);
                        f.extend_from_slice(&(n as u64).to_be_bytes());
                    }
                    f.extend_from_slice(payload.as_bytes());
                    conn.write_all(&f)?;
                    messages += 1;
                    if close_after.is_some_and(|c| messages >= c) {
                        // Close frame, then drop the connection.
                        conn.write_all(&[0x88, 2, 0x03, 0xe8])?;
                        return Ok(());
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        _ => error(conn, 404, "404 page not found"),
    }
}

// ------------------------------------------------------------------ helpers

const T0: i64 = 1_795_330_000_000_000_000; // 2026-11-22T…

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_logsleuth"));
    for k in [
        "LOKI_ORG_ID",
        "LOKI_USERNAME",
        "LOKI_PASSWORD",
        "LOKI_BEARER_TOKEN",
        "LOKI_BEARER_TOKEN_FILE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
    ] {
        c.env_remove(k);
    }
    c
}

/// `bin()` trusting the https emulator's certificate through SSL_CERT_FILE, as an SRE would.
fn bin_trusting(https: &Emu) -> Command {
    let mut c = bin();
    c.env("SSL_CERT_FILE", https.ca_pem());
    c
}

/// `logsleuth events --follow` on the emulator's `{app="api"}` streams, stdout and stderr piped.
fn follow_events(mut cmd: Command, emu: &Emu) -> Child {
    cmd.args([
        "events",
        "--follow",
        &emu.uri(),
        "--query",
        r#"{app="api"}"#,
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("spawn")
}

fn range_args(emu: &Emu, query: &str) -> Vec<String> {
    vec![
        "events".into(),
        emu.uri(),
        "--query".into(),
        query.into(),
        "--from".into(),
        "2026-11-22T00:00:00Z".into(),
        "--to".into(),
        "2027-01-01T00:00:00Z".into(),
    ]
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run")
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("ndjson"))
        .collect()
}

fn msg(v: &Value) -> &str {
    v["message"].as_str().unwrap_or("")
}

// ------------------------------------------------------------------ tests

/// `n` entries of `{job="demo"}` in three streams (`app` api, web, worker), `per_ts` of them
/// sharing each timestamp (1 µs apart from T0).
fn push_demo(emu: &Emu, n: i64, per_ts: i64, line: impl Fn(i64) -> String) {
    for i in 0..n {
        let app = ["api", "web", "worker"][(i % 3) as usize];
        emu.push(
            &[("job", "demo"), ("app", app)],
            T0 + (i / per_ts) * 1000,
            &line(i),
            &[],
        );
    }
}

#[test]
fn pages_past_the_cap_without_losing_or_repeating_equal_timestamps() {
    let emu = Emu::start();
    // 12 000 entries in three streams; groups of 7 entries share one timestamp across streams,
    // so batch boundaries (every 5000) fall inside groups.
    push_demo(&emu, 12_000, 7, |i| format!("entry {i:05} <&>"));
    // One request at a time: the paging itself is under test (slices page the same way).
    let out = run(bin()
        .args(range_args(&emu, r#"{job="demo"}"#))
        .args(["--loki-parallel", "1"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = events(&out);
    assert_eq!(ev.len(), 12_000);
    let mut seen: Vec<&str> = ev.iter().map(msg).collect();
    // Time order: the entry number follows the timestamp.
    let ts: Vec<&str> = ev.iter().map(|v| v["ts"].as_str().unwrap_or("")).collect();
    assert!(ts.windows(2).all(|w| w[0] <= w[1]), "not in time order");
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 12_000, "lost or repeated entries");
    assert_eq!(msg(&ev[0]), "entry 00000 <&>");
    // Stream labels are fields.
    let one = ev
        .iter()
        .find(|v| msg(v) == "entry 00001 <&>")
        .expect("entry 1");
    assert_eq!(one["labels"]["app"], "web");
    assert_eq!(one["labels"]["job"], "demo");
    let reqs = emu.requests("/loki/api/v1/query_range");
    // One check request (limit=1), then three pages of 5000 forward.
    assert_eq!(reqs.len(), 4, "{reqs:?}");
    assert!(
        reqs[1..]
            .iter()
            .all(|q| q["limit"] == "5000" && q["direction"] == "forward")
    );
    assert_eq!(reqs[2]["start"], (T0 + (4999 / 7) * 1000).to_string());
}

/// Slices of the range fetched at once give exactly what one request at a time gives: the
/// same entries in the same order, none lost or repeated where a slice boundary falls among
/// entries that share a timestamp, and paging inside each slice past the batch size.
#[test]
fn parallel_slices_read_exactly_what_one_request_at_a_time_reads() {
    let emu = Emu::start();
    // Five entries per timestamp; the range's slices cut through such runs.
    push_demo(&emu, 3000, 5, |i| format!("e{i:04}"));
    let (start, end) = (T0, T0 + 600 * 1000);
    let read = |parallel: u32| -> Vec<String> {
        let mut input = lib_input(&emu, r#"{job="demo"}"#, start, end);
        input.opts.batch = 40;
        input.opts.parallel = parallel;
        let input = Arc::new(input);
        let mut bytes = Vec::new();
        loki::open(input.clone())
            .read_to_end(&mut bytes)
            .expect("read");
        // Label set ids depend on which slice saw a set first: compare the sets themselves.
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (tag, rest) = loki::split_tag(l);
                let labels = input.labels.get(tag.expect("tagged").labels);
                format!("{labels:?} {}", String::from_utf8_lossy(rest))
            })
            .collect()
    };
    let one = read(1);
    assert_eq!(one.len(), 3000, "every entry of [start, end)");
    for parallel in [2, 3, 7, 64] {
        assert_eq!(read(parallel), one, "--loki-parallel {parallel}");
    }
    // Through the CLI: the slices' first requests start at slice boundaries (3 × 16 slices of
    // 12.5 µs over the entries' 600 µs).
    let before = emu.requests("/loki/api/v1/query_range").len();
    let args = [
        "events".to_string(),
        emu.uri(),
        "--query".into(),
        r#"{job="demo"}"#.into(),
        "--from".into(),
        "2026-11-22T06:46:40Z".into(),
        "--to".into(),
        "2026-11-22T06:46:40.000600Z".into(),
        "--loki-parallel".into(),
        "3".into(),
    ];
    let out = run(bin().args(&args));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(events(&out).len(), 3000);
    let starts: Vec<String> = emu.requests("/loki/api/v1/query_range")[before + 1..]
        .iter()
        .map(|q| q["start"].clone())
        .collect();
    for boundary in [T0, T0 + 200_000, T0 + 400_000] {
        assert!(
            starts.contains(&boundary.to_string()),
            "{boundary} not in {starts:?}"
        );
    }
    // Label set ids differ between runs; nothing the user sees does.
    let report = |parallel: &str| {
        let mut a = args.to_vec();
        a[0] = "analyze".into();
        a[9] = parallel.into();
        a.extend(["--format".into(), "json".into()]);
        let out = run(bin().args(&a));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    assert_eq!(report("1"), report("3"));
}

#[test]
fn where_sees_labels_and_structured_metadata() {
    let emu = Emu::start();
    emu.push(&[("app", "api")], T0, "first", &[("trace_id", "abc")]);
    emu.push(&[("app", "web")], T0 + 1, "second", &[]);
    emu.push(
        &[("app", "api")],
        T0 + 2,
        "third\n  indented continuation",
        &[],
    );
    let mut args = range_args(&emu, r#"{app=~".+"}"#);
    args[3] = r#"{app!="none"}"#.into();
    args.extend(["--where".into(), "labels.app = api".into()]);
    let out = run(bin().args(&args));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = events(&out);
    let msgs: Vec<&str> = ev.iter().map(msg).collect();
    assert_eq!(msgs, ["first", "third"], "{ev:?}");
    assert_eq!(ev[0]["labels"]["trace_id"], "abc");
    assert_eq!(ev[0]["ts"], "2026-11-22T06:46:40.000000000Z");
}

#[test]
fn batch_over_the_server_cap_shows_lokis_message() {
    let emu = Emu::start();
    emu.push(&[("app", "api")], T0, "x", &[]);
    let mut args = range_args(&emu, r#"{app="api"}"#);
    args.extend(["--loki-batch".into(), "10000".into()]);
    let out = run(bin().args(&args));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HTTP 400: max entries limit per query exceeded, limit > max_entries_limit_per_query (10000 > 5000)"),
        "{err}"
    );
    // A LogQL error is shown the same way.
    let out = run(bin().args(range_args(&emu, "app=api")));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "HTTP 400: parse error at line 1, col 1: syntax error: unexpected IDENTIFIER"
        )
    );
}

#[test]
fn retries_429_and_500_then_succeeds() {
    let emu = Emu::start();
    for i in 0..10 {
        emu.push(&[("app", "api")], T0 + i, &format!("l{i}"), &[]);
    }
    emu.with(|s| s.fail_next.extend([429, 500, 503]));
    let out = run(bin()
        .args(range_args(&emu, r#"{app="api"}"#))
        .args(["--loki-parallel", "1"]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(events(&out).len(), 10);
    assert_eq!(emu.requests("/loki/api/v1/query_range").len(), 5);
}

#[test]
fn persistent_5xx_gives_up_with_exit_2() {
    let emu = Emu::start();
    emu.with(|s| s.fail_next.extend([500; 20]));
    let out = run(bin().args(range_args(&emu, r#"{app="api"}"#)));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("giving up after 6 attempts: HTTP 500"),
        "{err}"
    );
    // The bound: 1 try + 5 retries, then no more requests.
    assert_eq!(emu.requests("/loki/api/v1/query_range").len(), 6);
}

#[test]
fn loki_down_is_a_clear_error() {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    // The listener is dropped: nothing listens on the port.
    let out = run(bin().args([
        "events",
        &format!("loki+http://127.0.0.1:{port}"),
        "--query",
        r#"{app="api"}"#,
    ]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not reachable") && err.contains("refused"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_uri_and_missing_query_are_usage_errors() {
    let out = run(bin().args(["events", "loki+ftp://127.0.0.1:1", "--query", "{a=\"b\"}"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected loki+http://"));
    let out = run(bin().args(["events", "loki+http://127.0.0.1:1"]));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("need --query"));
}

#[test]
fn tenant_basic_and_bearer_auth_never_printed() {
    let emu = Emu::start();
    emu.push(&[("app", "api")], T0, "hello", &[]);
    emu.with(|s| s.require_org = Some("team-a".into()));
    // No tenant: Loki's 401.
    let out = run(bin().args(range_args(&emu, r#"{app="api"}"#)));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("HTTP 401: no org id"));
    // Tenant and bearer from the environment.
    emu.with(|s| s.require_authz = Some("Bearer tok-123".into()));
    let out = run(bin()
        .args(range_args(&emu, r#"{app="api"}"#))
        .env("LOKI_ORG_ID", "team-a")
        .env("LOKI_BEARER_TOKEN", "tok-123"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(events(&out).len(), 1);
    // Basic from a file; a wrong password is refused by the gateway and not echoed.
    emu.with(|s| s.require_authz = Some(format!("Basic {}", ws::base64(b"alice:right"))));
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("loki.env");
    std::fs::write(
        &f,
        "LOKI_ORG_ID=team-a\nLOKI_USERNAME=alice\nLOKI_PASSWORD=wrong-pw\n",
    )
    .expect("write");
    let mut args = range_args(&emu, r#"{app="api"}"#);
    args.extend(["--loki-auth-file".into(), f.display().to_string()]);
    let out = run(bin().args(&args));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HTTP 401") && !err.contains("wrong-pw") && !err.contains("alice"),
        "{err}"
    );
    std::fs::write(
        &f,
        "LOKI_ORG_ID=team-a\nLOKI_USERNAME=alice\nLOKI_PASSWORD=right\n",
    )
    .expect("write");
    let out = run(bin().args(&args));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let heads = emu.with(|s| s.log.last().map(|l| l.2.clone()).unwrap_or_default());
    assert_eq!(
        heads.get("x-scope-orgid").map(String::as_str),
        Some("team-a")
    );
}

#[test]
fn https_query_range_returns_the_same_events_as_http() {
    let emu = Emu::start();
    // Groups of 3 entries share a timestamp, so pages of 5 split them over TLS too.
    for i in 0..40i64 {
        let app = ["api", "web"][(i % 2) as usize];
        emu.push(
            &[("app", app)],
            T0 + (i / 3) * 1000,
            &format!("entry {i:02} <&>"),
            &[("n", &i.to_string())],
        );
    }
    let https = emu.https();
    let args = |e: &Emu| {
        let mut a = range_args(e, r#"{app=~".+"}"#);
        a[3] = r#"{app!="none"}"#.into();
        a.extend(["--loki-batch".into(), "5".into()]);
        a
    };
    let plain = run(bin().args(args(&emu)));
    assert!(
        plain.status.success(),
        "{}",
        String::from_utf8_lossy(&plain.stderr)
    );
    let before = emu.requests("/loki/api/v1/query_range").len();
    let tls = run(bin_trusting(&https).args(args(&https)));
    assert!(
        tls.status.success(),
        "{}",
        String::from_utf8_lossy(&tls.stderr)
    );
    // The same events, but for the input name (`source`).
    let without_source = |out: &Output| -> Vec<Value> {
        events(out)
            .into_iter()
            .map(|mut v| {
                v.as_object_mut().map(|o| o.remove("source"));
                v
            })
            .collect()
    };
    assert_eq!(events(&tls)[0]["source"], https.uri().as_str());
    assert_eq!(without_source(&plain).len(), 40);
    assert_eq!(without_source(&tls), without_source(&plain));
    // The https run paged through the TLS listener exactly as the http run did.
    let after = emu.requests("/loki/api/v1/query_range").len();
    assert!(before > 2, "{before}");
    assert_eq!(after - before, before);
}

#[test]
fn https_follow_tails_over_wss() {
    let https = Emu::start().https();
    let mut child = follow_events(bin_trusting(&https), &https);
    // Once the tail is open (over wss), an entry pushed now is newer than the run's start.
    let guard = Instant::now() + Duration::from_secs(60);
    while https.requests("/loki/api/v1/tail").is_empty() && Instant::now() < guard {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!https.requests("/loki/api/v1/tail").is_empty(), "no tail");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i64;
    https.push(
        &[("app", "api")],
        now,
        r#"{"level":"error","message":"boom over tls"}"#,
        &[],
    );
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // A guard against a hang, not a timing assertion.
    let line = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("a live event");
    common::sigint(&child);
    common::finish(&mut child);
    assert!(line.contains("\"message\":\"boom over tls\""), "{line}");
}

#[test]
fn untrusted_certificate_fails_clearly_and_sends_nothing() {
    let emu = Emu::start();
    emu.push(&[("app", "api")], T0, "hello", &[]);
    let https = emu.https();
    // The system store does not know the emulator's self-signed certificate.
    let out = run(bin()
        .args(range_args(&https, r#"{app="api"}"#))
        .env("LOKI_BEARER_TOKEN", "never-sent-tok"));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&https.addr) && err.contains("certificate not trusted"),
        "{err}"
    );
    assert!(
        !err.contains("never-sent-tok") && !err.contains("panick"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    // Nothing reached the server: the handshake failed before the request was written.
    assert!(emu.with(|s| s.log.is_empty()));
    // --ca-file trusts it (without SSL_CERT_FILE).
    let mut args = range_args(&https, r#"{app="api"}"#);
    args.extend(["--ca-file".into(), https.ca_pem().display().to_string()]);
    let out = run(bin().args(&args));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(events(&out).len(), 1);
    // Another server's certificate is not this one's.
    let other = Emu::start().https();
    let out = run(bin_trusting(&other).args(range_args(&https, r#"{app="api"}"#)));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("certificate"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn basic_and_bearer_auth_over_https_never_printed() {
    let emu = Emu::start();
    emu.push(&[("app", "api")], T0, "hello", &[]);
    let https = emu.https();
    emu.with(|s| {
        s.require_org = Some("team-a".into());
        s.require_authz = Some("Bearer tls-tok-456".into());
    });
    let out = run(bin_trusting(&https)
        .args(range_args(&https, r#"{app="api"}"#))
        .env("LOKI_ORG_ID", "team-a")
        .env("LOKI_BEARER_TOKEN", "tls-tok-456"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(events(&out).len(), 1);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("tls-tok-456"));
    // Basic: a wrong password is refused by the gateway and not echoed; the right one works.
    emu.with(|s| s.require_authz = Some(format!("Basic {}", ws::base64(b"bob:right-pw"))));
    for (pw, ok) in [("wrong-pw-789", false), ("right-pw", true)] {
        let out = run(bin_trusting(&https)
            .args(range_args(&https, r#"{app="api"}"#))
            .env("LOKI_ORG_ID", "team-a")
            .env("LOKI_USERNAME", "bob")
            .env("LOKI_PASSWORD", pw));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.success(), ok, "{err}");
        if !ok {
            assert_eq!(out.status.code(), Some(2));
            assert!(err.contains("HTTP 401"), "{err}");
        }
        assert!(!err.contains(pw) && !err.contains("bob"), "{err}");
    }
    let heads = emu.with(|s| s.log.last().map(|l| l.2.clone()).unwrap_or_default());
    assert_eq!(
        heads.get("authorization").map(String::as_str),
        Some(format!("Basic {}", ws::base64(b"bob:right-pw")).as_str())
    );
}

fn lib_input(emu: &Emu, query: &str, start: i64, end: i64) -> LokiInput {
    let target = loki::parse_uri(&emu.uri(), None).expect("uri");
    let mut opts = LokiOpts::new(query, start, end);
    opts.backoff = Duration::from_millis(20);
    LokiInput::new(target, opts)
}

#[test]
fn a_timeout_is_retried() {
    let emu = Emu::start();
    emu.push(&[("app", "api")], T0, "late answer", &[]);
    emu.with(|s| s.stall_next = Some(Duration::from_millis(1500)));
    let mut input = lib_input(&emu, r#"{app="api"}"#, T0, T0 + 10);
    input.opts.timeout = Duration::from_millis(300);
    input.opts.parallel = 1;
    let mut text = String::new();
    loki::open(Arc::new(input))
        .read_to_string(&mut text)
        .expect("read");
    assert!(text.ends_with("stdout F late answer\n"), "{text:?}");
    assert_eq!(emu.requests("/loki/api/v1/query_range").len(), 2);
}

#[test]
fn paging_stops_when_one_timestamp_holds_more_than_a_batch() {
    let emu = Emu::start();
    for i in 0..12 {
        emu.push(&[("app", "api")], T0, &format!("same {i:02}"), &[]);
    }
    let mut input = lib_input(&emu, r#"{app="api"}"#, T0, T0 + 10);
    input.opts.batch = 5;
    let mut text = String::new();
    let err = loki::open(Arc::new(input))
        .read_to_string(&mut text)
        .expect_err("stuck");
    assert!(
        err.to_string()
            .contains("at least 5 entries (a whole --loki-batch) share the timestamp"),
        "{err}"
    );
    // Exactly a batch at one timestamp: paging cannot tell that no more follow at it.
    let five = Emu::start();
    for i in 0..5 {
        five.push(&[("app", "api")], T0, &format!("same {i:02}"), &[]);
    }
    five.push(&[("app", "api")], T0 + 1, "later", &[]);
    let mut input = lib_input(&five, r#"{app="api"}"#, T0, T0 + 10);
    input.opts.batch = 5;
    input.opts.parallel = 1;
    let err = loki::open(Arc::new(input))
        .read_to_string(&mut String::new())
        .expect_err("stuck");
    assert!(
        err.to_string().starts_with("Loki: at least 5 entries"),
        "{err}"
    );
    // Equal timestamps that fit in a batch page fine.
    let mut input = lib_input(&emu, r#"{app="api"}"#, T0, T0 + 10);
    input.opts.batch = 13;
    let mut text = String::new();
    loki::open(Arc::new(input))
        .read_to_string(&mut text)
        .expect("read");
    assert_eq!(text.lines().count(), 12);
}

#[test]
fn tail_follows_reconnects_and_counts_dropped_entries() {
    let emu = Emu::start();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i64;
    emu.push(&[("app", "api")], now - 1_000_000_000, "history", &[]);
    emu.with(|s| {
        s.tail_close_after = Some(1);
        s.tail_dropped = 3;
    });
    let mut input = lib_input(&emu, r#"{app="api"}"#, now - 60_000_000_000, now);
    input.opts.follow = true;
    let input = Arc::new(input);
    let mut reader = loki::open(input.clone());
    let e = emu.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        e.push(&[("app", "api")], now + 1, "live one", &[]);
        e.push(&[("app", "api")], now + 1, "live one b", &[]);
        std::thread::sleep(Duration::from_millis(400));
        e.push(&[("app", "api")], now + 2, "live two", &[]);
    });
    let mut got = Vec::new();
    let mut r = BufReader::new(&mut reader);
    // A guard against a hang, not a timing assertion.
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < 4 && Instant::now() < deadline {
        let mut l = String::new();
        if r.read_line(&mut l).expect("read") == 0 {
            break;
        }
        got.push(l.rsplit(" F ").next().unwrap_or("").trim_end().to_string());
    }
    assert_eq!(got, ["history", "live one", "live one b", "live two"]);
    assert_eq!(input.dropped(), 3);
    // The server closed the first tail after one message; the second started at the newest
    // timestamp emitted and its repeats were dropped.
    let tails = emu.requests("/loki/api/v1/tail");
    assert_eq!(tails.len(), 2, "{tails:?}");
    assert_eq!(tails[0]["start"], now.to_string());
    assert_eq!(tails[1]["start"], (now + 1).to_string());
}

#[test]
fn follow_on_the_command_line_tails_until_interrupted() {
    let emu = Emu::start();
    let child = follow_events(bin(), &emu);
    std::thread::sleep(Duration::from_millis(800));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i64;
    emu.with(|s| s.tail_dropped = 2);
    emu.push(
        &[("app", "api")],
        now,
        r#"{"level":"error","message":"boom"}"#,
        &[],
    );
    std::thread::sleep(Duration::from_millis(1200));
    let (out, err) = interrupt(child);
    assert!(out.contains("\"message\":\"boom\""), "{out}");
    assert!(err.contains("Loki dropped 2 tail entries"), "{err}");
}

/// Throughput of the Loki source against the emulated server (release build):
/// `cargo test --release --test loki -- --ignored --nocapture loki_throughput`
/// (`LOKI_BENCH_ENTRIES=N`; `LOKI_BENCH_LATENCY_MS=M`: the server takes M ms per request;
/// `LOKI_BENCH_PARALLEL=P`: `--loki-parallel P`).
#[test]
#[ignore = "benchmark; run in release with --ignored --nocapture"]
fn loki_throughput() {
    let emu = Emu::start();
    let n: i64 = std::env::var("LOKI_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let latency: u64 = std::env::var("LOKI_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    emu.with(|s| s.latency = Duration::from_millis(latency));
    let parallel: u32 = std::env::var("LOKI_BENCH_PARALLEL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(loki::DEFAULT_PARALLEL);
    let line = r#"{"timestamp":"2026-11-22T07:00:00.000000Z","level":"INFO","fields":{"message":"finished processing request","latency":"20 ms","status":200,"method":"GET","uri":"/health"},"target":"tower_http::trace::on_response"}"#;
    let pods = [
        "api-0", "api-1", "api-2", "web-0", "web-1", "worker-0", "worker-1", "worker-2",
    ];
    for i in 0..n {
        let pod = pods[(i % pods.len() as i64) as usize];
        emu.push(
            &[("app", "skreaver"), ("pod", pod)],
            T0 + i * 1_000,
            line,
            &[],
        );
    }
    let mut args = range_args(&emu, r#"{app="skreaver"}"#);
    // The entries' own range (T0 is 2026-11-22T06:46:40Z), so every slice holds some.
    let span = n * 1_000 + 1;
    assert!(
        span < 19_000_000_000,
        "LOKI_BENCH_ENTRIES too large for the range below"
    );
    args[5] = "2026-11-22T06:46:40Z".into();
    args[7] = format!(
        "2026-11-22T06:46:{:02}.{:09}Z",
        40 + span / 1_000_000_000,
        span % 1_000_000_000
    );
    args.extend(["--loki-parallel".into(), parallel.to_string()]);
    // The server and client alone: the source's reader drained, no pipeline.
    let t = Instant::now();
    let mut input = lib_input(&emu, r#"{app="skreaver"}"#, T0, T0 + n * 1_000 + 1);
    input.opts.parallel = parallel;
    let mut sink = Vec::new();
    loki::open(Arc::new(input))
        .read_to_end(&mut sink)
        .expect("read");
    let alone = t.elapsed();
    assert_eq!(sink.iter().filter(|b| **b == b'\n').count() as i64, n);
    for cmd in ["events", "analyze"] {
        let mut a = args.clone();
        a[0] = cmd.into();
        if cmd == "analyze" {
            a.extend(["--format".into(), "json".into()]);
        }
        let t = Instant::now();
        let out = run(bin().args(&a));
        let took = t.elapsed();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "logsleuth {cmd} loki+http://… ({n} entries): {:.2} s, {:.0} entries/s",
            took.as_secs_f64(),
            n as f64 / took.as_secs_f64()
        );
    }
    println!(
        "source reader alone (query_range paging + JSON decoding + CRI lines, no pipeline; {parallel} slices): {:.2} s, {:.0} entries/s",
        alone.as_secs_f64(),
        n as f64 / alone.as_secs_f64()
    );
}

/// `analyze --format json` on `args` (an `events` argument list): the report.
fn analyze_report(args: &[String]) -> (Option<i32>, Value, String) {
    let mut a = args.to_vec();
    a[0] = "analyze".into();
    a.extend(["--format".into(), "json".into()]);
    let out = run(bin().args(&a));
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (
        out.status.code(),
        report,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `lines = events + continuation_lines + unparsed_lines + joined_partials`.
fn assert_accounted(input: &Value) {
    let n = |k: &str| input[k].as_u64().unwrap_or(u64::MAX);
    assert_eq!(
        n("lines"),
        n("events") + n("continuation_lines") + n("unparsed_lines") + n("joined_partials"),
        "{input}"
    );
}

/// Loki gives each entry's boundary: an entry of several lines is one event, its further
/// lines its continuation (`exception`), whatever they look like — counted as a file's
/// continuation lines are. The same text in a file gives the same event where the file's
/// heuristic joins it.
#[test]
fn an_entry_of_several_lines_is_one_event() {
    let emu = Emu::start();
    let python = "2026-11-22 06:46:41,514 - skillmeat.api.middleware.observability - ERROR - Request failed: GET /api/v1/artifacts\n\
                  Traceback (most recent call last):\n  File \"/app/pool.py\", line 177, in _do_get\n    raise exc.TimeoutError(\n\
                  sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached";
    let app = [("app", "api")];
    emu.push(&app, T0, r#"{"level":"info","message":"one line"}"#, &[]);
    // Alone in a file, a "Traceback" line after a JSON event starts an event and its last
    // line another; pushed as one entry, they are one event.
    emu.push(
        &app,
        T0 + 1,
        "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nValueError: boom\n",
        &[],
    );
    // A further line that would parse as an event of its own is still a continuation.
    emu.push(
        &app,
        T0 + 2,
        "worker stopped\r\n{\"level\":\"error\",\"message\":\"inner json\"}",
        &[],
    );
    emu.push(&app, T0 + 3, python, &[]);
    emu.push(&app, T0 + 4, "after", &[]);
    // An entry whose first line is no event: neither are its further lines.
    emu.push(
        &app,
        T0 + 5,
        "{\"level\": \"error\",\n  \"message\": \"pretty\"}",
        &[],
    );
    let args = range_args(&emu, r#"{app="api"}"#);
    let out = run(bin().args(&args));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = events(&out);
    let msgs: Vec<&str> = ev.iter().map(msg).collect();
    assert_eq!(
        msgs,
        [
            "one line",
            "Traceback (most recent call last):",
            "worker stopped",
            "Request failed: GET /api/v1/artifacts",
            "after"
        ],
        "{ev:?}"
    );
    assert_eq!(
        ev[1]["exception"],
        "  File \"x.py\", line 1, in <module>\nValueError: boom"
    );
    assert_eq!(
        ev[2]["exception"],
        r#"{"level":"error","message":"inner json"}"#
    );
    // Every line of an entry is a line; the further ones are continuation lines.
    let (code, report, err) = analyze_report(&args);
    assert_eq!(code, Some(0), "{err}");
    let input = &report["input"];
    assert_accounted(input);
    assert_eq!(input["lines"], 14, "{input}");
    assert_eq!(input["unparsed_reasons"]["invalid_json"], 2, "{input}");
    assert_eq!(input["events"], 5, "{input}");
    assert_eq!(input["continuation_lines"], 7, "{input}");
    // --where on `exception` sees the attached lines.
    let mut w = args.clone();
    w.extend(["--where".into(), "exception ~ ValueError".into()]);
    let out = run(bin().args(&w));
    let msgs: Vec<String> = events(&out).iter().map(|v| msg(v).to_string()).collect();
    assert_eq!(msgs, ["Traceback (most recent call last):"]);
    // The Python record as a file: the same event, the same counts.
    let dir = tempfile::tempdir().expect("tmp");
    let f = dir.path().join("app.log");
    std::fs::write(&f, format!("{python}\n")).expect("write");
    let file = events(&run(bin().arg("events").arg(&f)));
    let loki = &ev[3];
    assert_eq!(file.len(), 1);
    for k in ["message", "exception", "level", "service", "logger"] {
        assert_eq!(file[0][k], loki[k], "{k}");
    }
    let out = run(bin().args(["analyze", "--format", "json"]).arg(&f));
    let file_input: Value = serde_json::from_slice(&out.stdout).expect("report");
    assert_eq!(file_input["input"]["continuation_lines"], 4);
}

/// A Loki that fails in the middle of a run: what was read before is output (events, or the
/// report), in time order with no gap, stderr names the input once and the cause, exit 2.
#[test]
fn a_failure_mid_run_keeps_what_was_read() {
    let emu = Emu::start();
    push_demo(&emu, 200, 1, |i| format!("entry {i:03}"));
    let mut args = range_args(&emu, r#"{job="demo"}"#);
    args.extend(["--loki-batch".into(), "10".into()]);
    let one_at_a_time = |args: &[String]| {
        let mut a = args.to_vec();
        a.extend(["--loki-parallel".into(), "1".into()]);
        a
    };
    // The check, then 4 pages of 10 (each after the first starts at the newest timestamp of
    // the one before, repeating its last entry): 37 entries; then a refusal (not retried).
    emu.with(|s| s.fail_from = Some((5, 400)));
    let out = run(bin().args(one_at_a_time(&args)));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let msgs: Vec<String> = events(&out).iter().map(|v| msg(v).to_string()).collect();
    let want: Vec<String> = (0..37).map(|i| format!("entry {i:03}")).collect();
    assert_eq!(msgs, want);
    assert!(
        err.contains(&format!(
            "error reading '{}': Loki answered HTTP 400: the query time range exceeds the limit",
            emu.uri()
        )) && err.contains("the output covers what was read before"),
        "{err}"
    );
    assert_eq!(
        err.matches(&emu.uri()).count(),
        1,
        "the input named once: {err}"
    );
    // Retried failures that go on past the bound (5 retries); the report of what was read.
    emu.with(|s| {
        s.log.clear();
        s.fail_from = Some((5, 504));
    });
    let (code, report, err) = analyze_report(&one_at_a_time(&args));
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(report["input"]["events"], 37, "{report}");
    assert_eq!(
        report["input"]["read_errors"].as_array().map(Vec::len),
        Some(1)
    );
    assert!(
        err.contains(&format!(
            "error reading '{}': Loki: giving up after 6 attempts: HTTP 504: request timed out",
            emu.uri()
        )),
        "{err}"
    );
    assert_eq!(err.matches(&emu.uri()).count(), 1, "{err}");
    // Slices fetched at once: what is output is the entries before the failure, in time order,
    // with nothing missing before it (later slices' pages are not output).
    emu.with(|s| {
        s.log.clear();
        s.fail_from = Some((9, 400));
    });
    let out = run(bin().args(&args));
    assert_eq!(out.status.code(), Some(2));
    let msgs: Vec<String> = events(&out).iter().map(|v| msg(v).to_string()).collect();
    let want: Vec<String> = (0..msgs.len()).map(|i| format!("entry {i:03}")).collect();
    assert_eq!(msgs, want);
    // A failure before any output is still a startup error.
    emu.with(|s| {
        s.log.clear();
        s.fail_from = Some((0, 400));
    });
    let out = run(bin().args(&args));
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains(&format!("Loki at {} answered HTTP 400", emu.uri()))
    );
}

/// After a reconnect the tail replays from the newest timestamp emitted, its messages in
/// whatever order Loki sends them: a repeat at that timestamp that comes after a newer entry
/// of another stream is still dropped, and a new entry at that timestamp is not.
#[test]
fn tail_reconnect_drops_every_repeat_of_the_replay() {
    let emu = Emu::start();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i64;
    let (a, b, c) = (
        [("app", "api"), ("pod", "p-a")],
        [("app", "api"), ("pod", "p-b")],
        [("app", "api"), ("pod", "p-c")],
    );
    emu.push(&a, now + 1, "tail 1", &[]);
    emu.push(&a, now + 2, "tail 2", &[]);
    emu.push(&b, now + 2, "tail 3", &[]);
    emu.with(|s| {
        s.tail_per_stream = true;
        // The first tail sends p-a's message and p-b's, then closes.
        s.tail_close_after = Some(2);
    });
    let mut input = lib_input(&emu, r#"{app="api"}"#, now - 60_000_000_000, now);
    input.opts.follow = true;
    let mut reader = BufReader::new(loki::open(Arc::new(input)));
    let mut next = || {
        let mut l = String::new();
        reader.read_line(&mut l).expect("read");
        l.rsplit(" F ").next().unwrap_or("").trim_end().to_string()
    };
    let mut got: Vec<String> = (0..3).map(|_| next()).collect();
    // While the reader waits to reconnect: a newer entry of p-a, a new one of p-c at the
    // resume timestamp. The replay sends p-a [tail 2, tail 5], p-b [tail 3], p-c [tail 4].
    emu.push(&a, now + 3, "tail 5", &[]);
    emu.push(&c, now + 2, "tail 4", &[]);
    // The first line after the reconnect: tail 2 is dropped as a repeat.
    got.push(next());
    // A guard against a hang, not a timing assertion: one more entry ends the wait.
    emu.push(&a, now + 4, "tail 6", &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.last().is_some_and(|l| l != "tail 6") && Instant::now() < deadline {
        got.push(next());
    }
    assert_eq!(
        got,
        ["tail 1", "tail 2", "tail 3", "tail 5", "tail 4", "tail 6"]
    );
    let tails = emu.requests("/loki/api/v1/tail");
    assert_eq!(tails[1]["start"], (now + 2).to_string(), "{tails:?}");
}

/// `-f`: the history is read, then the tail fails past its retries: the history is still
/// output, stderr says at once that this input stops and again at the end, exit 2.
#[test]
fn a_tail_that_gives_up_keeps_what_was_read() {
    let emu = Emu::start();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as i64;
    emu.push(&[("app", "api")], now - 1_000_000_000, "history", &[]);
    // The check and the one history page answer; every tail handshake gets a 504.
    emu.with(|s| s.fail_from = Some((2, 504)));
    let mut child = bin()
        .args([
            "events",
            "--follow",
            &emu.uri(),
            "--query",
            r#"{app="api"}"#,
        ])
        .args(["--loki-parallel", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // A guard against a hang, not a timing assertion (the retries take about 8 s).
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().expect("wait").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    if child.try_wait().expect("wait").is_none() {
        let _ = child.kill();
    }
    let out = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    let msgs: Vec<String> = events(&out).iter().map(|v| msg(v).to_string()).collect();
    assert_eq!(msgs, ["history"]);
    let cause = "Loki: giving up after 6 attempts: HTTP 504";
    assert!(
        err.contains(&format!("{}: {cause}", emu.uri()))
            && err.contains("this input stops here")
            && err.contains(&format!("error reading '{}': {cause}", emu.uri())),
        "{err}"
    );
}
