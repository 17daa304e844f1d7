//! The docker source: `docker://NAME_OR_ID` inputs and `--docker-label KEY=VALUE` selection,
//! read from the Docker Engine API (`DOCKER_HOST`, default `unix:///var/run/docker.sock`).
//!
//! * [`resolve`] inspects every container up front (`GET /containers/{id}/json`: id, name,
//!   `Config.Tty`, `Config.Labels`) so a missing container is an input error before any output.
//! * [`open_logs`] streams `GET /containers/{id}/logs?stdout=1&stderr=1&timestamps=1[&follow=1]
//!   [&since=…][&until=…]` and turns it into **CRI-format lines**
//!   (`<ts> stdout|stderr P|F <content>\n`), so the pipeline's existing envelope parser and
//!   [`crate::envelope::Joiner`] do the rest: stream tags, runtime timestamps, and re-joining of
//!   the 16 KiB pieces the engine's log driver cut long lines into.
//!
//! Wire formats (observed on dockerd 20.10, API 1.41): a non-TTY container's body is
//! multiplexed frames `[stream, 0, 0, 0, len u32 BE] payload`, one frame per log record, each
//! payload `<RFC3339 9-digit ts> <bytes>`; a TTY container's body is the raw byte stream (all on
//! stdout, `\r\n` line ends).
//!
//! # Invariants
//! * A frame whose content does not end in `\n` is a piece (`P`) only when it is a full
//!   16 KiB log-driver piece; a shorter unterminated frame is the container's final output
//!   without newline and is complete (`F`). So a followed stream never stalls on an open run.
//! * Each container is its own pipeline input, so the pipeline's per-(input, stream) join keys
//!   keep stdout and stderr runs apart.
//! * A followed stream that ends (the container stopped) is followed by one plain read since
//!   the last record's time ([`CatchUp`]), passing over the records already read at that
//!   time: the engine's follow stream can miss the last output; nothing is read twice.
//! * Never panics on any bytes from the engine; bad frames end the stream with an error.

use std::io::{self, BufRead, Read};
use std::path::PathBuf;
use std::time::Duration;

use super::http::{self, Endpoint, HttpError};

/// The json-file / local log drivers' piece size for long lines.
const PIECE: usize = 16 * 1024;
/// Most bytes accepted in one frame.
const MAX_FRAME: usize = 16 << 20;
/// Timeout for metadata requests.
const META_TIMEOUT: Duration = Duration::from_secs(30);

/// Docker source failures.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// `DOCKER_HOST` is not `unix://PATH` or `tcp://HOST:PORT`.
    #[error("unsupported DOCKER_HOST {0:?} (expected unix://PATH or tcp://HOST:PORT)")]
    BadHost(String),
    /// Transport failure.
    #[error("docker engine: {0}")]
    Http(#[from] HttpError),
    /// The engine answered with an error.
    #[error("docker engine: {message} (HTTP {status})")]
    Api {
        /// Status code.
        status: u16,
        /// The engine's `message`.
        message: String,
    },
    /// The engine's answer is not what the API documents.
    #[error("docker engine: unexpected response: {0}")]
    Protocol(String),
    /// `--docker-label` without `=`.
    #[error("--docker-label expects KEY=VALUE, got {0:?}")]
    BadLabel(String),
}

/// A resolved container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Container {
    /// Full id.
    pub id: String,
    /// Name without the leading `/`.
    pub name: String,
    /// Started with a TTY (raw log stream).
    pub tty: bool,
    /// `Config.Labels`, sorted by key.
    pub labels: Vec<(String, String)>,
}

/// How to read logs.
#[derive(Clone, Debug, Default)]
pub struct LogOpts {
    /// Keep streaming until the container stops.
    pub follow: bool,
    /// Only records at or after (UTC ns).
    pub since: Option<i64>,
    /// Only records before (UTC ns).
    pub until: Option<i64>,
}

/// The engine endpoint from `DOCKER_HOST` (default `/var/run/docker.sock`).
///
/// # Errors
/// An unsupported `DOCKER_HOST`.
pub fn endpoint() -> Result<Endpoint, DockerError> {
    let host = std::env::var("DOCKER_HOST").unwrap_or_default();
    endpoint_from(&host)
}

fn endpoint_from(host: &str) -> Result<Endpoint, DockerError> {
    if host.is_empty() {
        return Ok(Endpoint::Unix(PathBuf::from("/var/run/docker.sock")));
    }
    if let Some(p) = host.strip_prefix("unix://") {
        return Ok(Endpoint::Unix(PathBuf::from(p)));
    }
    for scheme in ["tcp://", "http://"] {
        if let Some(a) = host.strip_prefix(scheme) {
            let a = a.trim_end_matches('/');
            if !a.is_empty() {
                return Ok(Endpoint::Tcp(a.to_string()));
            }
        }
    }
    Err(DockerError::BadHost(host.to_string()))
}

fn api_get(
    ep: &Endpoint,
    target: &str,
    timeout: Option<Duration>,
) -> Result<http::Response, DockerError> {
    let r = http::get(ep, "docker", target, &[], timeout)?;
    if (200..300).contains(&r.status) {
        return Ok(r);
    }
    let status = r.status;
    let body = r.text(64 * 1024).unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string());
    Err(DockerError::Api { status, message })
}

fn get_json(ep: &Endpoint, target: &str) -> Result<serde_json::Value, DockerError> {
    let r = api_get(ep, target, Some(META_TIMEOUT))?;
    let body = r.text(64 << 20)?;
    serde_json::from_str(&body).map_err(|e| DockerError::Protocol(format!("{target}: {e}")))
}

/// Inspect one container by name or id.
///
/// # Errors
/// Not found (`DockerError::Api` with status 404), transport and protocol errors.
pub fn inspect(ep: &Endpoint, name_or_id: &str) -> Result<Container, DockerError> {
    let v = get_json(
        ep,
        &format!("/containers/{}/json", http::encode(name_or_id)),
    )?;
    let id = v
        .get("Id")
        .and_then(|x| x.as_str())
        .ok_or_else(|| DockerError::Protocol("container without Id".into()))?
        .to_string();
    let name = v
        .get("Name")
        .and_then(|x| x.as_str())
        .unwrap_or(&id)
        .trim_start_matches('/')
        .to_string();
    let config = v.get("Config");
    let tty = config
        .and_then(|c| c.get("Tty"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    let mut labels: Vec<(String, String)> = config
        .and_then(|c| c.get("Labels"))
        .and_then(|l| l.as_object())
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    Ok(Container {
        id,
        name,
        tty,
        labels,
    })
}

/// Every container (running or not) carrying all `labels` (`KEY=VALUE`), sorted by name.
///
/// # Errors
/// A label without `=`, transport and protocol errors.
pub fn by_labels(ep: &Endpoint, labels: &[String]) -> Result<Vec<Container>, DockerError> {
    for l in labels {
        if !l.contains('=') {
            return Err(DockerError::BadLabel(l.clone()));
        }
    }
    let filters = serde_json::json!({ "label": labels }).to_string();
    let v = get_json(
        ep,
        &format!("/containers/json?all=1&filters={}", http::encode(&filters)),
    )?;
    let list = v
        .as_array()
        .ok_or_else(|| DockerError::Protocol("container list is not an array".into()))?;
    let mut out = Vec::new();
    for c in list {
        if let Some(id) = c.get("Id").and_then(|x| x.as_str()) {
            out.push(inspect(ep, id)?);
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn unix_arg(ns: i64) -> String {
    format!(
        "{}.{:09}",
        ns.div_euclid(1_000_000_000),
        ns.rem_euclid(1_000_000_000)
    )
}

/// Open a container's log stream as CRI-format lines (see the module docs).
///
/// # Errors
/// Transport errors and engine errors (e.g. the container was removed since [`resolve`]).
pub fn open_logs(
    ep: &Endpoint,
    c: &Container,
    opts: &LogOpts,
) -> Result<Box<dyn Read + Send>, DockerError> {
    let mut lines = CriLines::new(logs_request(ep, c, opts)?);
    if opts.follow {
        lines.catch_up = Some(CatchUp {
            ep: ep.clone(),
            container: c.clone(),
            opts: LogOpts {
                follow: false,
                ..opts.clone()
            },
        });
    }
    Ok(Box::new(lines))
}

/// The decoded body of one `GET /containers/{id}/logs` request.
fn logs_request(
    ep: &Endpoint,
    c: &Container,
    opts: &LogOpts,
) -> Result<Box<dyn Decode>, DockerError> {
    let mut target = format!(
        "/containers/{}/logs?stdout=1&stderr=1&timestamps=1",
        http::encode(&c.id)
    );
    if opts.follow {
        target.push_str("&follow=1");
    }
    if let Some(s) = opts.since {
        target.push_str(&format!("&since={}", unix_arg(s)));
    }
    if let Some(u) = opts.until {
        target.push_str(&format!("&until={}", unix_arg(u)));
    }
    // Followed streams may be silent for a long time: no read timeout then.
    let timeout = (!opts.follow).then_some(Duration::from_secs(300));
    let r = api_get(ep, &target, timeout)?;
    Ok(if c.tty {
        Box::new(RawDecoder::new(r.body))
    } else {
        Box::new(FrameDecoder { body: r.body })
    })
}

/// A followed stream ends when the container stops, and the engine's follow stream can end
/// before the container's last record — output without a final newline, flushed as the
/// container exits — which a plain read then has (dockerd 20.10). So at the end of a followed
/// stream the records since the last one read are asked for once more.
struct CatchUp {
    ep: Endpoint,
    container: Container,
    /// The run's options, not following.
    opts: LogOpts,
}

/// Inputs named `docker://…` and the `--docker-label` selection, resolved to containers.
///
/// # Errors
/// Every name that does not resolve, joined; transport errors.
pub fn resolve(
    ep: &Endpoint,
    names: &[String],
    labels: &[String],
) -> Result<Vec<Container>, DockerError> {
    let mut out = Vec::new();
    for n in names {
        out.push(inspect(ep, n)?);
    }
    if !labels.is_empty() {
        for c in by_labels(ep, labels)? {
            if !out.iter().any(|o| o.id == c.id) {
                out.push(c);
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------- decoding

/// One decoded log record: stream, then `<ts> <content>` payload.
type Record = (&'static str, Vec<u8>);

trait Decode: Send {
    /// Next record; `None` at the end of the stream.
    fn next_record(&mut self) -> io::Result<Option<Record>>;
    /// Is more input already buffered (so decoding another record will not wait)?
    fn ready(&self) -> bool;
}

struct FrameDecoder {
    body: http::Body,
}

impl Decode for FrameDecoder {
    fn next_record(&mut self) -> io::Result<Option<Record>> {
        loop {
            let mut head = [0u8; 8];
            let mut got = 0;
            while got < 8 {
                match self.body.read(&mut head[got..]) {
                    Ok(0) if got == 0 => return Ok(None),
                    Ok(0) => {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "docker stream ended inside a frame header",
                        ));
                    }
                    Ok(n) => got += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            let stream = match head[0] {
                0 | 1 => "stdout",
                2 => "stderr",
                b => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("docker stream: bad frame type {b}"),
                    ));
                }
            };
            let len = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
            if len > MAX_FRAME {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("docker stream: frame of {len} bytes"),
                ));
            }
            let mut payload = vec![0u8; len];
            self.body.read_exact(&mut payload)?;
            if len == 0 {
                continue;
            }
            return Ok(Some((stream, payload)));
        }
    }

    fn ready(&self) -> bool {
        self.body.buffered() >= 8
    }
}

/// TTY containers: raw bytes, one record per `\n`-terminated line.
struct RawDecoder {
    body: io::BufReader<http::Body>,
}

impl RawDecoder {
    fn new(body: http::Body) -> Self {
        RawDecoder {
            body: io::BufReader::with_capacity(64 * 1024, body),
        }
    }
}

impl Decode for RawDecoder {
    fn next_record(&mut self) -> io::Result<Option<Record>> {
        let mut line = Vec::new();
        // Bounded: a line beyond 64 pieces is handed on in parts (the pipeline caps it anyway).
        let n = (&mut self.body)
            .take((PIECE * 64) as u64)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return Ok(None);
        }
        // The engine prefixes each 16 KiB piece with its own timestamp, even inside one raw line.
        let ts_len = ts_prefix_len(&line);
        if ts_len > 0 {
            let mut at = ts_len + PIECE;
            while line.len() > at && ts_prefix_len(&line[at..]) > 0 {
                let l = ts_prefix_len(&line[at..]);
                line.drain(at..at + l);
                at += PIECE;
            }
        }
        Ok(Some(("stdout", line)))
    }

    fn ready(&self) -> bool {
        self.body.buffer().contains(&b'\n')
    }
}

/// Length of a leading `YYYY-MM-DDTHH:MM:SS[.f]Z ` (with the space), or 0.
fn ts_prefix_len(b: &[u8]) -> usize {
    let Some(sp) = b.iter().take(40).position(|&c| c == b' ') else {
        return 0;
    };
    let t = &b[..sp];
    let ok = t.len() >= 20
        && t[..4].iter().all(u8::is_ascii_digit)
        && t[4] == b'-'
        && t[10] == b'T'
        && (t.ends_with(b"Z") || t[t.len() - 6] == b'+' || t[t.len() - 6] == b'-');
    if ok { sp + 1 } else { 0 }
}

/// Turns records into CRI lines, served through `Read`.
struct CriLines {
    dec: Box<dyn Decode>,
    out: Vec<u8>,
    pos: usize,
    /// Following: read what the follow stream missed at its end ([`CatchUp`]).
    catch_up: Option<CatchUp>,
    /// The time of the last record read and how many records had it.
    last: Option<(i64, u32)>,
    /// Records of the catch-up read still to pass over: those up to `last`.
    skip: Option<(i64, u32)>,
}

impl CriLines {
    fn new(dec: Box<dyn Decode>) -> Self {
        CriLines {
            dec,
            out: Vec::new(),
            pos: 0,
            catch_up: None,
            last: None,
            skip: None,
        }
    }

    /// The next record not read before, remembering its time; at the end of a followed stream
    /// (not when the run is stopping), once, the records since the last one read.
    fn next_record(&mut self) -> io::Result<Option<Record>> {
        loop {
            let Some((stream, payload)) = self.dec.next_record()? else {
                let Some(c) = self.catch_up.take() else {
                    return Ok(None);
                };
                if super::live::stopping() {
                    return Ok(None);
                }
                let mut opts = c.opts.clone();
                if let Some((t, _)) = self.last {
                    opts.since = Some(t);
                }
                // A container removed as it stopped (`docker run --rm`) has no logs to ask for:
                // what the follow stream gave is all there is.
                let Ok(dec) = logs_request(&c.ep, &c.container, &opts) else {
                    return Ok(None);
                };
                self.dec = dec;
                self.skip = self.last;
                continue;
            };
            let ts = record_time(&payload);
            if let (Some((upto, n)), Some(t)) = (self.skip.as_mut(), ts) {
                if t < *upto {
                    continue;
                }
                if t == *upto && *n > 0 {
                    *n -= 1;
                    continue;
                }
            }
            if let Some(t) = ts {
                self.last = match self.last {
                    Some((l, n)) if l == t => Some((t, n.saturating_add(1))),
                    _ => Some((t, 1)),
                };
            }
            return Ok(Some((stream, payload)));
        }
    }
}

/// The engine's time of a record (its `<ts> ` prefix).
fn record_time(payload: &[u8]) -> Option<i64> {
    let len = ts_prefix_len(payload);
    (len > 0)
        .then(|| crate::time::parse_timestamp(&payload[..len - 1], 0))
        .flatten()
}

/// Append the CRI line(s) for one record to `out`.
fn to_cri(stream: &str, payload: &[u8], out: &mut Vec<u8>) {
    let ts_len = ts_prefix_len(payload);
    if ts_len == 0 {
        // No timestamp (should not happen with timestamps=1): keep the bytes as they are.
        out.extend_from_slice(payload);
        if !payload.ends_with(b"\n") {
            out.push(b'\n');
        }
        return;
    }
    let ts = &payload[..ts_len - 1];
    let mut content = &payload[ts_len..];
    loop {
        let (piece, tag, rest) = match memchr::memchr(b'\n', content) {
            Some(i) => (&content[..i], b'F', &content[i + 1..]),
            None if content.len() >= PIECE => (content, b'P', &content[content.len()..]),
            None => (content, b'F', &content[content.len()..]),
        };
        out.extend_from_slice(ts);
        out.push(b' ');
        out.extend_from_slice(stream.as_bytes());
        out.push(b' ');
        out.push(tag);
        out.push(b' ');
        out.extend_from_slice(piece);
        out.push(b'\n');
        content = rest;
        if content.is_empty() {
            break;
        }
    }
}

impl Read for CriLines {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.out.len() {
            self.out.clear();
            self.pos = 0;
            // One record at least; more only while they are already buffered (no waiting),
            // up to about the caller's buffer size.
            match self.next_record()? {
                None => return Ok(0),
                Some((stream, payload)) => to_cri(stream, &payload, &mut self.out),
            }
            while self.out.len() < buf.len() && self.dec.ready() {
                match self.next_record()? {
                    None => break,
                    Some((stream, payload)) => to_cri(stream, &payload, &mut self.out),
                }
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
    use crate::envelope;

    #[test]
    fn docker_host_forms() {
        assert_eq!(
            endpoint_from("").unwrap(),
            Endpoint::Unix("/var/run/docker.sock".into())
        );
        assert_eq!(
            endpoint_from("unix:///tmp/d.sock").unwrap(),
            Endpoint::Unix("/tmp/d.sock".into())
        );
        assert_eq!(
            endpoint_from("tcp://127.0.0.1:2375").unwrap(),
            Endpoint::Tcp("127.0.0.1:2375".into())
        );
        assert!(endpoint_from("ssh://x").is_err());
    }

    #[test]
    fn records_become_cri_lines_that_the_envelope_reads() {
        let mut out = Vec::new();
        to_cri(
            "stderr",
            b"2026-11-22T06:55:35.530100057Z err-one\n",
            &mut out,
        );
        to_cri(
            "stdout",
            b"2026-11-22T06:55:35.611313558Z no-newline-at-end",
            &mut out,
        );
        let long = format!("2026-11-22T06:55:36.226735880Z {}", "a".repeat(PIECE));
        to_cri("stdout", long.as_bytes(), &mut out);
        to_cri(
            "stdout",
            b"2026-11-22T06:55:36.226735880Z tail\r\n",
            &mut out,
        );
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "2026-11-22T06:55:35.530100057Z stderr F err-one");
        assert_eq!(
            lines[1],
            "2026-11-22T06:55:35.611313558Z stdout F no-newline-at-end"
        );
        let u = envelope::unwrap(lines[2].as_bytes());
        assert!(u.partial);
        assert_eq!(u.content.len(), PIECE);
        let u = envelope::unwrap(lines[3].as_bytes());
        assert!(!u.partial);
        assert_eq!(&u.content[..], b"tail");
        assert_eq!(u.stream, Some(envelope::Stream::Stdout));
    }

    #[test]
    fn timestamp_prefix() {
        assert_eq!(ts_prefix_len(b"2026-11-22T06:55:35.530100057Z x"), 31);
        assert_eq!(ts_prefix_len(b"2026-11-22T06:55:35Z x"), 21);
        assert_eq!(ts_prefix_len(b"hello world"), 0);
        assert_eq!(ts_prefix_len(b""), 0);
        assert_eq!(
            ts_prefix_len(b"\xff\xff\xff\xff-\xff\xff\xff\xff\xffT\xff\xff\xff\xff\xffZ "),
            0
        );
    }
}
