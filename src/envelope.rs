//! Container-runtime envelopes around log payloads, and re-joining of split lines.
//!
//! # Role
//!
//! Log lines reach `logsleuth` wrapped in zero or more *envelopes* added by the tools
//! between the application and the reader. [`unwrap`] peels them off one raw line and
//! reports what it found; [`Joiner`] re-assembles lines that a runtime split into
//! partial pieces (CRI `P` records, docker json-file 16 KiB pieces).
//!
//! Envelopes are detected in this order, each optional:
//!
//! 1. **kubectl `--prefix`**: `[pod/<pod>/<container>] `. Names are `[A-Za-z0-9._-]+`
//!    (DNS-ish, lenient on case and underscore). Anything else is not a prefix.
//! 2. **docker json-file record**: the (rest of the) line starts with `{"log":"`. The object
//!    `{"log":"…","stream":"stdout|stderr",["attrs":{…},]"time":"…"}` is decoded by hand
//!    (full JSON string unescaping, `\uXXXX` and surrogate pairs; unknown keys are skipped).
//!    Anything that is not a well-formed object of this shape (bad escape, lone surrogate,
//!    trailing garbage, missing `log`) is *not* an envelope and the line is kept verbatim.
//!    The same record written with JSON whitespace or its keys in another order
//!    (`{"log": "…", "stream": "stdout", "time": "…"}`: `jq`, Python's `json.dumps`, tools
//!    that re-serialize docker logs) is one too, told by its first key being one of the
//!    record's (`DockerShape::Loose`) and decoded strictly: no other keys, a `log` string, a
//!    `stream` of `stdout` or `stderr`, a `time` (if any) that is an RFC 3339 timestamp. An
//!    application's own JSON line (`{"time":"…","level":"info",…}`) is not one; dockerd's
//!    compact form keeps its fast path (one prefix comparison).
//!    A decoded `log` that does not end in `\n` is `partial`; otherwise one trailing `\n`
//!    and then one trailing `\r` (TTY) are removed.
//! 3. **CRI line**: `<RFC3339 ts> <stdout|stderr> <tag>[ <content>]`, where the timestamp has
//!    `Z` or a numeric offset and 0–9 fractional digits (containerd omits the fraction when
//!    the nanoseconds are zero), the first `:`-separated item of the tag is `P` or `F`, and
//!    the content may be empty (line ends right after the tag, with or without the space).
//!    `P` means `partial`.
//! 4. **Leading kubelet / `docker logs -t` timestamp**: RFC3339 with **exactly 9** fractional
//!    digits and `Z` or an offset, then one space (or the end of the line), then the content.
//!    Rule: kubelet (`RFC3339NanoFixed`) and the docker API always print 9 digits, whereas
//!    applications (e.g. Skreaver/`tracing`: `2026-11-22T07:09:46.645428Z  INFO …`) print
//!    fewer; a leading timestamp with 1–8 (or 0) fractional digits is therefore part of the
//!    payload, not an envelope. Only the first timestamp is stripped: in
//!    `2025-…000000000Z 2026-11-22T07:09:46.645428Z  INFO …` the second one stays in the content.
//!    One known ambiguity: a 9-digit-stamped payload of the form `stdout F …` reads as CRI.
//!    A stamp with other than 9 digits (podman's `logs -t` prints whole seconds) is decided
//!    later, with the formats at hand: the pipeline takes it as the runtime's
//!    ([`loose_timestamp`]) when the line with it is no format's (a generic fallback's only).
//! 5. **ANSI escape sequences** in the content are removed (CSI `ESC [ … final`, OSC
//!    `ESC ] … BEL|ESC \`, the string sequences `ESC P|X|^|_ … ST`, `ESC <intermediates> final`
//!    and lone 2-byte `ESC x`); `ansi_stripped` is then set.
//!
//! # Invariants
//!
//! * [`unwrap`] never panics on any input bytes and never fails: at worst the whole line is
//!   the content with [`EnvelopeKind::NONE`].
//! * No allocation on the common path: lines with no envelope, a kubectl prefix, a leading
//!   timestamp or a CRI record give a borrowed `content`. `content` is `Owned` only when JSON
//!   unescaping (json-file) or ANSI stripping changed the bytes.
//! * Trailing `\r`: one trailing `\r` of the raw line is removed, except inside a CRI `P`
//!   piece, whose bytes are kept exactly (a `P` piece is cut mid-line, so a final `\r` is
//!   data, e.g. a progress bar), and except in a json-file partial piece (same reason).
//! * Bytes are never reinterpreted: content is `[u8]`, invalid UTF-8 passes through.
//! * [`Joiner`] never drops a record: pieces beyond its byte cap are counted but their bytes
//!   discarded (`truncated`), [`Joiner::finish`] flushes every open run, and a run ended because
//!   too many were open ([`crate::streams::MAX_STREAMS`]) is handed back as it stands
//!   ([`Joiner::released`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use crate::jsonscan::find_quote_or_backslash;

/// The output stream a container runtime recorded a line on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output (also everything from a TTY container).
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// The runtime's spelling: `"stdout"` or `"stderr"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    fn from_bytes(b: &[u8]) -> Option<Stream> {
        match b {
            b"stdout" => Some(Stream::Stdout),
            b"stderr" => Some(Stream::Stderr),
            _ => None,
        }
    }
}

/// Set of envelopes found around one line (a small bit set).
///
/// Combine with `|`; test with [`EnvelopeKind::contains`]. The default is [`EnvelopeKind::NONE`].
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct EnvelopeKind(u8);

impl EnvelopeKind {
    /// No envelope: the line is the payload.
    pub const NONE: EnvelopeKind = EnvelopeKind(0);
    /// kubectl `--prefix` `[pod/<pod>/<container>] `.
    pub const KUBECTL_PREFIX: EnvelopeKind = EnvelopeKind(1);
    /// Docker json-file record `{"log":…}`.
    pub const DOCKER_JSON: EnvelopeKind = EnvelopeKind(2);
    /// CRI log-file line `<ts> <stream> <P|F> <content>`.
    pub const CRI: EnvelopeKind = EnvelopeKind(4);
    /// Leading kubelet / `docker logs -t` timestamp with 9 fractional digits.
    pub const TIMESTAMP: EnvelopeKind = EnvelopeKind(8);

    const ALL: [(EnvelopeKind, &'static str); 4] = [
        (EnvelopeKind::KUBECTL_PREFIX, "kubectl-prefix"),
        (EnvelopeKind::DOCKER_JSON, "docker-json"),
        (EnvelopeKind::CRI, "cri"),
        (EnvelopeKind::TIMESTAMP, "timestamp"),
    ];

    /// Raw bits (stable: prefix 1, docker-json 2, cri 4, timestamp 8).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// True when no envelope was found.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when every envelope in `other` is also in `self`.
    pub const fn contains(self, other: EnvelopeKind) -> bool {
        self.0 & other.0 == other.0
    }

    /// The union of both sets.
    pub const fn union(self, other: EnvelopeKind) -> EnvelopeKind {
        EnvelopeKind(self.0 | other.0)
    }

    /// Short names of the envelopes in the set, outermost first
    /// (`kubectl-prefix`, `docker-json`, `cri`, `timestamp`), for reports.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::ALL
            .into_iter()
            .filter(move |(k, _)| self.contains(*k))
            .map(|(_, n)| n)
    }
}

impl std::ops::BitOr for EnvelopeKind {
    type Output = EnvelopeKind;
    fn bitor(self, rhs: EnvelopeKind) -> EnvelopeKind {
        self.union(rhs)
    }
}

impl std::ops::BitOrAssign for EnvelopeKind {
    fn bitor_assign(&mut self, rhs: EnvelopeKind) {
        *self = self.union(rhs);
    }
}

impl fmt::Debug for EnvelopeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EnvelopeKind(")?;
        if self.is_empty() {
            f.write_str("NONE")?;
        }
        for (i, n) in self.names().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            f.write_str(n)?;
        }
        f.write_str(")")
    }
}

/// What one raw input line (without its trailing `\n`) carried around its payload.
#[derive(Debug, PartialEq)]
pub struct Unwrapped<'a> {
    /// Pod name from a kubectl `--prefix`.
    pub pod: Option<&'a str>,
    /// Container name from a kubectl `--prefix`.
    pub container: Option<&'a str>,
    /// RFC3339 text of the kubelet / docker / CRI / json-file timestamp, unparsed.
    pub runtime_ts: Option<&'a str>,
    /// Stream recorded by a CRI line or a json-file record.
    pub stream: Option<Stream>,
    /// Which envelopes were found.
    pub kind: EnvelopeKind,
    /// This is a piece to be joined with the following pieces of the same stream
    /// (CRI tag `P`, or a json-file `log` not ending in `\n`). See [`Joiner`].
    pub partial: bool,
    /// The payload. `Owned` only when JSON unescaping or ANSI stripping changed the bytes.
    pub content: Cow<'a, [u8]>,
    /// ANSI escape sequences were removed from `content`.
    pub ansi_stripped: bool,
    /// Raw JSON text of a docker json-file `attrs` object, if present.
    pub attrs: Option<&'a [u8]>,
}

impl Unwrapped<'_> {
    /// True when at least one envelope was found.
    pub fn has_envelope(&self) -> bool {
        !self.kind.is_empty()
    }
}

/// A cheap, conservative test: may this line be a partial piece (a CRI `P` line or a docker
/// json-file record)? `false` means certainly not; `true` means [`unwrap`] will tell.
pub fn may_be_partial(line: &[u8]) -> bool {
    // Only the prefix's length matters here: no need to make its names text.
    let rest = match kubectl_prefix_len(line) {
        Some((_, _, n)) => line.get(n..).unwrap_or_default(),
        None => line,
    };
    payload_may_be_partial(rest)
}

/// A quicker, looser [`may_be_partial`] for scanning whole chunks: true for every line that
/// one is true for (and for a few more, which the caller then checks with it). A kubectl
/// prefix is skipped up to its `] ` without checking the names in it.
pub fn may_be_partial_hint(line: &[u8]) -> bool {
    if line.starts_with(b"[pod/")
        && let Some(close) = memchr::memchr(b']', line)
    {
        let n = close + 1 + usize::from(line.get(close + 1) == Some(&b' '));
        if payload_may_be_partial(&line[n..]) {
            return true;
        }
    }
    payload_may_be_partial(line)
}

/// May this line (or its start) be a piece of a line, or the piece that completes one: a
/// docker json-file record, or a CRI line (`P` or `F`)? Conservative like [`may_be_partial`];
/// the reader keeps such lines whole up to [`PIECE_RAW_MAX`] to decode them.
pub fn may_be_piece(line: &[u8]) -> bool {
    let rest = match kubectl_prefix_len(line) {
        Some((_, _, n)) => line.get(n..).unwrap_or_default(),
        None => line,
    };
    docker_shape(rest) != DockerShape::No
        || rest.first().is_some_and(u8::is_ascii_digit)
            && memchr::memchr(b' ', &rest[..rest.len().min(40)]).is_some_and(|sp| {
                let tail = &rest[sp + 1..];
                (tail.starts_with(b"stdout ") || tail.starts_with(b"stderr "))
                    && matches!(tail.get(7), Some(b'P' | b'F'))
            })
}

/// [`may_be_partial`] for a line without its kubectl prefix.
fn payload_may_be_partial(rest: &[u8]) -> bool {
    match docker_shape(rest) {
        DockerShape::Compact => return docker_record_may_be_partial(rest),
        // Rare (a record re-serialized with spaces or in another key order): decoded to tell.
        DockerShape::Loose => return loose_record_may_be_partial(rest),
        DockerShape::No => {}
    }
    // CRI: `<timestamp> stdout P…`; the timestamp is at most 35 bytes.
    rest.first().is_some_and(u8::is_ascii_digit)
        && memchr::memchr(b' ', &rest[..rest.len().min(40)]).is_some_and(|sp| {
            let tail = &rest[sp + 1..];
            tail.starts_with(b"stdout P") || tail.starts_with(b"stderr P")
        })
}

/// A json-file record is complete when its `log` ends in a newline, i.e. the text before
/// `","stream":` is an escaped `\n` (not an escaped backslash followed by `n`).
fn docker_record_may_be_partial(rec: &[u8]) -> bool {
    let Some(at) = memchr::memmem::find(rec, b"\",\"stream\":") else {
        return true;
    };
    let before = &rec[..at];
    let slashes = before
        .iter()
        .rev()
        .skip(1)
        .take_while(|&&c| c == b'\\')
        .count();
    !(before.ends_with(b"\\n") && slashes % 2 == 1)
}

/// Peels the envelopes off one raw line (without its `\n`); see the module docs for the rules.
///
/// Never panics and never fails; unrecognised input is returned as borrowed content.
pub fn unwrap(line: &[u8]) -> Unwrapped<'_> {
    unwrap_in(line, None, true)
}

/// [`unwrap`] for a line that lies in `text`, bytes the caller already checked to be UTF-8 (a
/// whole chunk at once): the names and timestamps are cut from `text` instead of being checked
/// again one by one. `esc`: the line may hold an ESC byte (false when the caller's newline
/// search looked for one too and found none: the ANSI search is skipped unless the payload was
/// decoded, as a docker record's `\u001b` is).
pub fn unwrap_in<'a>(line: &'a [u8], text: Option<&'a str>, esc: bool) -> Unwrapped<'a> {
    let trimmed = line.strip_suffix(b"\r").unwrap_or(line);
    let mut out = Unwrapped {
        pod: None,
        container: None,
        runtime_ts: None,
        stream: None,
        kind: EnvelopeKind::NONE,
        partial: false,
        content: Cow::Borrowed(trimmed),
        ansi_stripped: false,
        attrs: None,
    };

    // `rest` has the line's trailing \r removed, `rest_full` keeps it (for CRI `P`).
    let (mut rest, mut rest_full) = (trimmed, line);
    if let Some((pod, container, n)) = parse_kubectl_prefix(trimmed, text) {
        out.pod = Some(pod);
        out.container = Some(container);
        out.kind |= EnvelopeKind::KUBECTL_PREFIX;
        rest = trimmed.get(n..).unwrap_or_default();
        rest_full = line.get(n..).unwrap_or_default();
    }
    out.content = Cow::Borrowed(rest);
    // CRI lines and kubelet / `docker logs -t` lines both start with a timestamp: parse it once.
    let stamp = parse_rfc3339(rest);

    // dockerd's own form first, as before the loose one existed: its decoder is inlined here.
    let record = if rest.starts_with(DOCKER_JSON_START) {
        Some(parse_docker_json::<false>(rest, text))
    } else if rest.first() == Some(&b'{') {
        Some(loose_record(rest, text))
    } else {
        None
    };
    if let Some(record) = record {
        if let Some(rec) = record {
            out.kind |= EnvelopeKind::DOCKER_JSON;
            out.stream = rec.stream;
            out.runtime_ts = rec.time;
            out.attrs = rec.attrs;
            let mut log = rec.log;
            if log.ends_with(b"\n") {
                cow_truncate(&mut log, 1);
                if log.ends_with(b"\r") {
                    cow_truncate(&mut log, 1);
                }
            } else {
                out.partial = true;
            }
            out.content = log;
        }
    } else if let Some(cri) = stamp.and_then(|(n, _)| parse_cri(rest, n, text)) {
        out.kind |= EnvelopeKind::CRI;
        out.runtime_ts = Some(cri.ts);
        out.stream = Some(cri.stream);
        out.partial = cri.partial;
        out.content = Cow::Borrowed(match cri.content_start {
            None => &[],
            // A `P` piece keeps its bytes exactly, including a final `\r`.
            Some(i) if cri.partial => rest_full.get(i..).unwrap_or_default(),
            Some(i) => rest.get(i..).unwrap_or_default(),
        });
    } else if let Some((ts, n)) = stamp.and_then(|stamp| envelope_timestamp(rest, stamp, text)) {
        out.kind |= EnvelopeKind::TIMESTAMP;
        out.runtime_ts = Some(ts);
        out.content = Cow::Borrowed(rest.get(n..).unwrap_or_default());
    }

    // A piece is stripped once joined ([`Joiner`]): an escape sequence can be split between
    // two pieces.
    if !out.partial
        && (esc || matches!(out.content, Cow::Owned(_)))
        && let Some(stripped) = strip_ansi(&out.content)
    {
        out.content = Cow::Owned(stripped);
        out.ansi_stripped = true;
    }
    out
}

/// `part` as text: cut from `text` when `part` lies in it (the caller checked those bytes
/// already), else checked here.
pub fn as_text<'a>(part: &'a [u8], text: Option<&'a str>) -> Option<&'a str> {
    if let Some(t) = text
        && let Some(from) = (part.as_ptr() as usize).checked_sub(t.as_ptr() as usize)
        && let Some(s) = t.get(from..from + part.len())
    {
        return Some(s);
    }
    simdutf8::basic::from_utf8(part).ok()
}

/// Removes `n` bytes from the end of a `Cow` without copying a borrowed slice.
fn cow_truncate(c: &mut Cow<'_, [u8]>, n: usize) {
    match c {
        Cow::Borrowed(b) => *b = b.get(..b.len().saturating_sub(n)).unwrap_or_default(),
        Cow::Owned(v) => v.truncate(v.len().saturating_sub(n)),
    }
}

// ---------------------------------------------------------------------------------------------
// kubectl --prefix

fn is_name_byte(b: u8) -> bool {
    NAME_BYTES[usize::from(b)]
}

/// Bytes of a Kubernetes object name as `kubectl --prefix` prints it, as a table: every line
/// is checked for the prefix, and one load per byte beats the chain of range tests.
static NAME_BYTES: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_');
        b += 1;
    }
    t
};

/// `[pod/<pod>/<container>] ` → (pod, container, bytes consumed). The trailing space may be
/// missing only at the end of the line (empty payload with trailing whitespace trimmed).
fn parse_kubectl_prefix<'a>(
    b: &'a [u8],
    text: Option<&'a str>,
) -> Option<(&'a str, &'a str, usize)> {
    let (pod_len, ctr_len, n) = kubectl_prefix_len(b)?;
    let pod = as_text(b.get(5..5 + pod_len)?, text)?;
    let container = as_text(b.get(5 + pod_len + 1..5 + pod_len + 1 + ctr_len)?, text)?;
    Some((pod, container, n))
}

/// The shape of a kubectl prefix: (pod name length, container name length, bytes consumed).
/// Name bytes are ASCII, so the names are text whenever the shape is right.
fn kubectl_prefix_len(b: &[u8]) -> Option<(usize, usize, usize)> {
    let after = b.strip_prefix(b"[pod/")?;
    let pod_len = after.iter().position(|&c| !is_name_byte(c))?;
    if pod_len == 0 || after.get(pod_len) != Some(&b'/') {
        return None;
    }
    let after_pod = after.get(pod_len + 1..)?;
    let ctr_len = after_pod.iter().position(|&c| !is_name_byte(c))?;
    if ctr_len == 0 || after_pod.get(ctr_len) != Some(&b']') {
        return None;
    }
    let mut n = 5 + pod_len + 1 + ctr_len + 1;
    match b.get(n) {
        Some(b' ') => n += 1,
        None => {}
        Some(_) => return None,
    }
    Some((pod_len, ctr_len, n))
}

// ---------------------------------------------------------------------------------------------
// RFC3339 timestamps

fn digits(b: &[u8], start: usize, len: usize) -> Option<u32> {
    let s = b.get(start..start + len)?;
    s.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// Parses a leading RFC3339 timestamp `YYYY-MM-DDTHH:MM:SS[.f{1,9}](Z|±HH:MM)`.
/// Returns (length in bytes, number of fractional digits).
fn parse_rfc3339(b: &[u8]) -> Option<(usize, usize)> {
    let _year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let min = digits(b, 14, 2)?;
    let sec = digits(b, 17, 2)?;
    let seps = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if seps.iter().any(|&(i, c)| b.get(i) != Some(&c))
        || !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || min > 59
        || sec > 60
    {
        return None;
    }
    let mut i = 19;
    let mut frac = 0;
    if b.get(i) == Some(&b'.') {
        frac = b
            .get(i + 1..)?
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if !(1..=9).contains(&frac) {
            return None;
        }
        i += 1 + frac;
    }
    match b.get(i)? {
        b'Z' => i += 1,
        b'+' | b'-' => {
            let oh = digits(b, i + 1, 2)?;
            let om = digits(b, i + 4, 2)?;
            if b.get(i + 3) != Some(&b':') || oh > 23 || om > 59 {
                return None;
            }
            i += 6;
        }
        _ => return None,
    }
    Some((i, frac))
}

/// A leading RFC3339 timestamp with any number of fractional digits and one space after it
/// (podman's `logs -t`: `2026-11-22T07:08:49Z {…}`): the bytes to skip, the space included.
/// Not an envelope by itself ([`unwrap`] takes only 9 digits): the pipeline takes it as the
/// runtime's when the line with it is no known format's.
pub fn loose_timestamp(text: &str) -> Option<usize> {
    let (n, _) = parse_rfc3339(text.as_bytes())?;
    (text.as_bytes().get(n) == Some(&b' ')).then_some(n + 1)
}

/// The leading kubelet / `docker logs -t` timestamp, `b[..n]` with `frac` fractional digits
/// ([`parse_rfc3339`]): exactly 9 of them, then one space or the end of the line. Returns
/// (timestamp text, bytes to skip).
fn envelope_timestamp<'a>(
    b: &'a [u8],
    (n, frac): (usize, usize),
    text: Option<&'a str>,
) -> Option<(&'a str, usize)> {
    if frac != 9 {
        return None;
    }
    let skip = match b.get(n) {
        Some(b' ') => n + 1,
        None => n,
        Some(_) => return None,
    };
    Some((as_text(b.get(..n)?, text)?, skip))
}

// ---------------------------------------------------------------------------------------------
// CRI

struct Cri<'a> {
    ts: &'a str,
    stream: Stream,
    partial: bool,
    /// Offset of the content, `None` when the line ends right after the tag.
    content_start: Option<usize>,
}

/// A CRI line whose timestamp is `b[..n]` ([`parse_rfc3339`]).
fn parse_cri<'a>(b: &'a [u8], n: usize, text: Option<&'a str>) -> Option<Cri<'a>> {
    if b.get(n) != Some(&b' ') {
        return None;
    }
    let stream = Stream::from_bytes(b.get(n + 1..n + 7)?)?;
    if b.get(n + 7) != Some(&b' ') {
        return None;
    }
    let tag_start = n + 8;
    let tail = b.get(tag_start..)?;
    let tag_len = memchr::memchr(b' ', tail).unwrap_or(tail.len());
    let tag = tail.get(..tag_len)?;
    let first = tag.split(|&c| c == b':').next()?;
    let partial = match first {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    let content_start = (tag_len < tail.len()).then_some(tag_start + tag_len + 1);
    Some(Cri {
        ts: as_text(b.get(..n)?, text)?,
        stream,
        partial,
        content_start,
    })
}

// ---------------------------------------------------------------------------------------------
// docker json-file

const DOCKER_JSON_START: &[u8] = b"{\"log\":\"";

/// How a line may be a json-file record, told by its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DockerShape {
    /// Not one.
    No,
    /// dockerd's own form, `{"log":"` (the hot path): decoded leniently (unknown keys skipped).
    Compact,
    /// `{`, JSON whitespace, then one of the record's keys (`log`, `stream`, `time`, `attrs`):
    /// a record written with spaces or its keys in another order (`jq`, Python's `json.dumps`,
    /// tools that re-serialize docker logs). Decoded strictly: only those keys, a `log` string
    /// and a `stream` of `stdout` or `stderr`, and a `time` (if any) that is a timestamp — an
    /// application's own JSON line that starts with `{"time":` is not taken for one.
    Loose,
}

#[inline]
fn docker_shape(rest: &[u8]) -> DockerShape {
    if rest.starts_with(DOCKER_JSON_START) {
        return DockerShape::Compact;
    }
    if rest.first() != Some(&b'{') {
        return DockerShape::No;
    }
    docker_shape_loose(rest)
}

#[cold]
#[inline(never)]
fn docker_shape_loose(rest: &[u8]) -> DockerShape {
    let i = skip_ws(rest, 1);
    let Some([b'"', key @ ..]) = rest.get(i..) else {
        return DockerShape::No;
    };
    // By its first letter, with fixed-size comparisons: most application lines start
    // `{"timestamp"`, `{"level"`… (this runs for each of them, in the reader and a worker).
    let n = match key.first() {
        Some(b'l') if key.first_chunk::<4>() == Some(b"log\"") => 4,
        Some(b's') if key.first_chunk::<7>() == Some(b"stream\"") => 7,
        Some(b't') if key.first_chunk::<5>() == Some(b"time\"") => 5,
        Some(b'a') if key.first_chunk::<6>() == Some(b"attrs\"") => 6,
        _ => return DockerShape::No,
    };
    match key.get(skip_ws(key, n)) {
        Some(b':') => DockerShape::Loose,
        _ => DockerShape::No,
    }
}

struct DockerRecord<'a> {
    log: Cow<'a, [u8]>,
    stream: Option<Stream>,
    attrs: Option<&'a [u8]>,
    time: Option<&'a str>,
}

fn is_json_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|&c| is_json_ws(c)) {
        i += 1;
    }
    i
}

/// [`payload_may_be_partial`] of a [`DockerShape::Loose`] line: decoded to tell.
#[cold]
#[inline(never)]
fn loose_record_may_be_partial(rest: &[u8]) -> bool {
    parse_docker_json::<true>(rest, None).is_some_and(|r| !r.log.ends_with(b"\n"))
}

/// A line that starts with `{` but not as dockerd writes a record: one written loosely
/// ([`DockerShape::Loose`]), or none.
#[cold]
#[inline(never)]
fn loose_record<'a>(rest: &'a [u8], text: Option<&'a str>) -> Option<DockerRecord<'a>> {
    match docker_shape_loose(rest) {
        DockerShape::Loose => parse_docker_json::<true>(rest, text),
        _ => None,
    }
}

/// Decodes `{"log":"…","stream":"…",["attrs":{…},]"time":"…"}` (any key order and JSON
/// whitespace; unknown keys skipped unless `STRICT`). The whole input must be the object,
/// optionally followed by JSON whitespace. `STRICT` ([`DockerShape::Loose`]): only the
/// record's keys, a valid `stream`, and a `time` (if any) that is a timestamp.
// Inlined into `unwrap_in` as it was with one caller (the json-file hot path).
#[inline(always)]
fn parse_docker_json<'a, const STRICT: bool>(
    b: &'a [u8],
    text: Option<&'a str>,
) -> Option<DockerRecord<'a>> {
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut log = None;
    let mut stream = None;
    let mut attrs = None;
    let mut time = None;
    let mut i = 1;
    loop {
        i = skip_ws(b, i);
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = skip_json_string(b, i + 1)?;
        let key = b.get(i + 1..key_end - 1)?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        match key {
            b"log" | b"stream" | b"time" => {
                if b.get(i) != Some(&b'"') {
                    return None;
                }
                let (s, end) = parse_json_string(b, i + 1)?;
                match key {
                    b"log" => log = Some(s),
                    b"stream" => {
                        stream = Stream::from_bytes(&s);
                        if STRICT && stream.is_none() {
                            return None;
                        }
                    }
                    _ => {
                        time = match s {
                            Cow::Borrowed(t) => as_text(t, text).filter(|t| {
                                parse_rfc3339(t.as_bytes()).map(|(n, _)| n) == Some(t.len())
                            }),
                            Cow::Owned(_) => None,
                        };
                        if STRICT && time.is_none() {
                            return None;
                        }
                    }
                }
                i = end;
            }
            b"attrs" => {
                if b.get(i) != Some(&b'{') {
                    return None;
                }
                let end = skip_json_value(b, i)?;
                attrs = Some(b.get(i..end)?);
                i = end;
            }
            _ if STRICT => return None,
            _ => i = skip_json_value(b, i)?,
        }
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i += 1,
            Some(b'}') => break,
            _ => return None,
        }
    }
    if skip_ws(b, i + 1) != b.len() || STRICT && stream.is_none() {
        return None;
    }
    Some(DockerRecord {
        log: log?,
        stream,
        attrs,
        time,
    })
}

/// Given `i` just after an opening quote, returns the index just after the closing quote.
fn skip_json_string(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let off = find_quote_or_backslash(b.get(i..)?)?;
        i += off;
        if b.get(i)? == &b'"' {
            return Some(i + 1);
        }
        i += 2; // backslash + escaped byte (validated only when decoding)
    }
}

fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let s = b.get(i..i + 4)?;
    s.iter()
        .try_fold(0u32, |acc, &c| Some(acc * 16 + char::from(c).to_digit(16)?))
}

/// Given `i` just after an opening quote, decodes the JSON string and returns it with the
/// index just after the closing quote. Borrowed when the string has no escapes. `None` on an
/// invalid escape, a lone surrogate or a missing closing quote.
fn parse_json_string(b: &[u8], start: usize) -> Option<(Cow<'_, [u8]>, usize)> {
    let tail = b.get(start..)?;
    let first = find_quote_or_backslash(tail)?;
    if tail.get(first) == Some(&b'"') {
        return Some((Cow::Borrowed(tail.get(..first)?), start + first + 1));
    }
    let mut out = Vec::with_capacity(tail.len());
    let mut i = start;
    loop {
        // Escaped JSON payloads have an escape every few bytes: copy 8 bytes at a time up to
        // the next quote or backslash (a search, then a copy call per piece, cost twice this).
        i = copy_plain(b, i, &mut out);
        if b.get(i)? == &b'"' {
            return Some((Cow::Owned(out), i + 1));
        }
        let esc = *b.get(i + 1)?;
        i += 2;
        let simple = match esc {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hi = hex4(b, i)?;
                i += 4;
                let cp = match hi {
                    0xD800..=0xDBFF => {
                        if b.get(i..i + 2)? != b"\\u" {
                            return None;
                        }
                        let lo = hex4(b, i + 2)?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return None;
                        }
                        i += 6;
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return None,
                    _ => hi,
                };
                let ch = char::from_u32(cp)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            _ => return None,
        };
        out.push(simple);
    }
}

/// Appends `b[i..]` to `out` up to the first quote or backslash (or the end); returns where it
/// stopped.
#[inline]
fn copy_plain(b: &[u8], mut i: usize, out: &mut Vec<u8>) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // High bit of each byte of `w` equal to `c` (exact: no borrow runs across bytes).
    let eq = |w: u64, c: u8| {
        let x = w ^ (LO * u64::from(c));
        !(((x & !HI) + !HI) | x) & HI
    };
    while let Some(chunk) = b.get(i..).and_then(|r| r.first_chunk::<8>()) {
        let w = u64::from_le_bytes(*chunk);
        let stop = eq(w, b'"') | eq(w, b'\\');
        // All 8 bytes are appended (a fixed-size copy), then those from the stop on dropped.
        out.extend_from_slice(chunk);
        if stop != 0 {
            let k = (stop.trailing_zeros() / 8) as usize;
            out.truncate(out.len() - (8 - k));
            return i + k;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' {
            break;
        }
        out.push(c);
        i += 1;
    }
    i
}

/// Given `i` at the first byte of a JSON value, returns the index just after it. Objects and
/// arrays are matched by bracket depth (strings inside are skipped); scalars run up to the next
/// delimiter. Lenient: only what is needed to find the end of the value.
fn skip_json_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_json_string(b, i + 1),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = skip_json_string(b, j + 1)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let len = b
                .get(i..)?
                .iter()
                .position(|&c| matches!(c, b',' | b'}' | b']') || is_json_ws(c))
                .unwrap_or(b.len() - i);
            (len > 0).then_some(i + len)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ANSI

const ESC: u8 = 0x1b;

/// Returns the content without ANSI escape sequences, or `None` if it has no `ESC` byte.
fn strip_ansi(b: &[u8]) -> Option<Vec<u8>> {
    let mut i = memchr::memchr(ESC, b)?;
    let mut out = Vec::with_capacity(b.len());
    out.extend_from_slice(b.get(..i)?);
    while i < b.len() {
        // `b[i]` is ESC here.
        i = match b.get(i + 1) {
            None => i + 1,
            Some(b'[') => {
                let mut j = i + 2;
                while b.get(j).is_some_and(|c| (0x20..=0x3f).contains(c)) {
                    j += 1;
                }
                if b.get(j).is_some_and(|c| (0x40..=0x7e).contains(c)) {
                    j += 1;
                }
                j
            }
            // OSC, DCS, SOS, PM, APC: a string ended by BEL or ST (`ESC \`). Another ESC also
            // ends it (not consumed); an unterminated string runs to the end of the content.
            Some(b']' | b'P' | b'X' | b'^' | b'_') => {
                let mut j = i + 2;
                loop {
                    match b.get(j) {
                        None => break j,
                        Some(0x07) => break j + 1,
                        Some(&ESC) if b.get(j + 1) == Some(&b'\\') => break j + 2,
                        Some(&ESC) => break j,
                        Some(_) => j += 1,
                    }
                }
            }
            // nF: `ESC <0x20–0x2F>+ <0x30–0x7E>` (e.g. charset designation `ESC ( B`).
            Some(0x20..=0x2f) => {
                let mut j = i + 1;
                while b.get(j).is_some_and(|c| (0x20..=0x2f).contains(c)) {
                    j += 1;
                }
                if b.get(j).is_some_and(|c| (0x30..=0x7e).contains(c)) {
                    j += 1;
                }
                j
            }
            Some(0x30..=0x7e) => i + 2,
            // ESC followed by a control or non-ASCII byte: drop the lone ESC.
            Some(_) => i + 1,
        };
        let next = b
            .get(i..)
            .and_then(|t| memchr::memchr(ESC, t))
            .map_or(b.len(), |o| i + o);
        out.extend_from_slice(b.get(i..next).unwrap_or_default());
        i = next;
    }
    Some(out)
}

// ---------------------------------------------------------------------------------------------
// Joining partial pieces

/// Default cap on one joined record used by the CLI (1 MiB).
pub const DEFAULT_MAX_JOINED_BYTES: usize = 1 << 20;

/// How long a raw line that may be a piece (a docker json-file record, a CRI `P` line) may be
/// before it is decoded, whatever the cap on payloads: a runtime writes pieces of 16 KiB
/// (docker's json-file driver, containerd), which a record's JSON escapes can make up to 6×
/// as long, plus its envelope. Cut before decoding, a json-file record loses its stream, time
/// and whether it goes on (all after its `log`), and a `P` piece would leave a gap in the
/// joined line; the payload cap (`--max-line-bytes`) applies to the decoded, joined line.
pub const PIECE_RAW_MAX: usize = 128 * 1024;

/// A record re-assembled from partial pieces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Joined {
    /// The joined payload (at most the joiner's `max_bytes`).
    pub content: Vec<u8>,
    /// Number of input lines (pieces) joined, including the completing one.
    pub pieces: u32,
    /// The record was longer than `max_bytes`; only its first `max_bytes` bytes are kept
    /// (the cut may fall inside a UTF-8 sequence).
    pub truncated: bool,
    /// `runtime_ts` of the first piece.
    pub first_ts: Option<String>,
    /// Caller's line number of the first piece.
    pub first_line: u64,
    /// Caller's line number of the last piece.
    pub last_line: u64,
    /// `false` when the run was still open at end of input ([`Joiner::finish`]): no
    /// completing piece (`F` / `log` ending in `\n`) was seen.
    pub complete: bool,
}

/// What [`Joiner::feed`] did with a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Feed {
    /// A complete line with no open run for its key: the caller processes the
    /// [`Unwrapped`] itself (fast path, nothing was copied).
    Passthrough,
    /// The line was a partial piece; it was buffered and a run is open for its key.
    Buffered,
    /// The line completed a run; here is the joined record.
    Completed(Joined),
}

#[derive(Debug)]
struct Run {
    buf: Vec<u8>,
    pieces: u32,
    truncated: bool,
    first_ts: Option<String>,
    first_line: u64,
    last_line: u64,
    /// When its last piece came ([`Joiner::pieces`]).
    stamp: u64,
}

impl Run {
    fn into_joined(self, complete: bool) -> Joined {
        Joined {
            // Pieces keep their ANSI escape sequences (one can be split between two): they go
            // here, from the whole line.
            content: strip_ansi(&self.buf).unwrap_or(self.buf),
            pieces: self.pieces,
            truncated: self.truncated,
            first_ts: self.first_ts,
            first_line: self.first_line,
            last_line: self.last_line,
            complete,
        }
    }
}

/// Joins runs of partial pieces per key (the caller's key = source + pod + container + stream).
///
/// `P P P F` → one record; a json-file run of pieces without `\n` then one with `\n` → one
/// record. Runs of different keys (e.g. stdout and stderr of one container) interleave
/// independently. A completing piece with empty content (conmon's `F` after `P`s) is normal.
///
/// At most `max_runs` runs are open ([`crate::streams`]): a piece that opens one more ends the
/// run whose last piece is oldest, as [`Joiner::finish`] would at the end of input; the caller
/// takes it from [`Joiner::released`]. Pieces are counted in the order they are fed, so two
/// joiners fed the same lines (the reader's and a parse worker's) end the same runs.
#[derive(Debug)]
pub struct Joiner {
    max_bytes: usize,
    max_runs: usize,
    runs: BTreeMap<u64, Run>,
    /// Partial pieces fed so far: the stamps of [`Joiner::recency`].
    pieces: u64,
    recency: crate::streams::Recency,
    /// Runs ended at the cap, not yet taken.
    released: Vec<(u64, Joined)>,
}

impl Default for Joiner {
    /// A joiner with the [`DEFAULT_MAX_JOINED_BYTES`] cap.
    fn default() -> Self {
        Joiner::new(DEFAULT_MAX_JOINED_BYTES)
    }
}

impl Joiner {
    /// A joiner whose joined records hold at most `max_bytes` bytes. Beyond it the first
    /// `max_bytes` are kept, `truncated` is set, further pieces are still consumed and counted,
    /// and the record is never dropped. At most [`crate::streams::MAX_STREAMS`] runs are open
    /// ([`Joiner::max_runs`]).
    pub fn new(max_bytes: usize) -> Self {
        Joiner {
            max_bytes,
            max_runs: crate::streams::MAX_STREAMS,
            runs: BTreeMap::new(),
            pieces: 0,
            recency: crate::streams::Recency::default(),
            released: Vec::new(),
        }
    }

    /// At most `n` (at least 1) runs open at once.
    #[must_use]
    pub fn max_runs(mut self, n: usize) -> Self {
        self.max_runs = n.max(1);
        self
    }

    /// Feeds one unwrapped line read at `line_no` under `key`.
    ///
    /// * partial piece → [`Feed::Buffered`] (opens or extends the key's run; opening one more
    ///   than `max_runs` ends the least recently fed one: see [`Joiner::released`]);
    /// * complete line while a run is open → [`Feed::Completed`] with the joined record;
    /// * complete line with no open run → [`Feed::Passthrough`]: nothing is copied and the
    ///   caller handles `u` itself.
    pub fn feed(&mut self, key: u64, line_no: u64, u: &Unwrapped<'_>) -> Feed {
        if u.partial {
            self.pieces += 1;
            let stamp = self.pieces;
            if !self.runs.contains_key(&key) {
                if self.runs.len() >= self.max_runs {
                    self.release_oldest();
                }
                self.recency.push(key, stamp);
            }
            let run = self.runs.entry(key).or_insert_with(|| Run {
                buf: Vec::new(),
                pieces: 0,
                truncated: false,
                first_ts: u.runtime_ts.map(str::to_owned),
                first_line: line_no,
                last_line: line_no,
                stamp,
            });
            run.stamp = stamp;
            Self::append(self.max_bytes, run, &u.content, line_no);
            Feed::Buffered
        } else if let Some(mut run) = self.runs.remove(&key) {
            Self::append(self.max_bytes, &mut run, &u.content, line_no);
            let runs = &self.runs;
            self.recency
                .compact(runs.len(), || runs.iter().map(|(k, r)| (*k, r.stamp)));
            Feed::Completed(run.into_joined(true))
        } else {
            Feed::Passthrough
        }
    }

    /// End the run whose last piece is oldest (unfinished, as at the end of input).
    fn release_oldest(&mut self) {
        let runs = &self.runs;
        let Some(key) = self.recency.pop_oldest(|k| runs.get(&k).map(|r| r.stamp)) else {
            return;
        };
        if let Some(run) = self.runs.remove(&key) {
            self.released.push((key, run.into_joined(false)));
        }
    }

    /// The runs ended since the last call because `max_runs` were open (`complete == false`),
    /// oldest first. Nothing is lost: their pieces are in them, as in [`Joiner::finish`].
    pub fn released(&mut self) -> std::vec::Drain<'_, (u64, Joined)> {
        self.released.drain(..)
    }

    /// The piece just fed under `key` was cut before it was decoded (longer than the reader
    /// keeps): its run keeps what it has, and the pieces after it are counted but not appended
    /// (they would follow a gap).
    pub fn cut(&mut self, key: u64) {
        if let Some(run) = self.runs.get_mut(&key) {
            run.truncated = true;
        }
    }

    fn append(max_bytes: usize, run: &mut Run, piece: &[u8], line_no: u64) {
        // A truncated run is full (or was cut): nothing more joins it, so it stays a prefix
        // of the line.
        let room = if run.truncated {
            0
        } else {
            max_bytes.saturating_sub(run.buf.len())
        };
        if piece.len() > room {
            run.truncated = true;
        }
        run.buf
            .extend_from_slice(piece.get(..piece.len().min(room)).unwrap_or_default());
        run.pieces = run.pieces.saturating_add(1);
        run.last_line = line_no;
    }

    /// End of input: emits every open run as an incomplete record (`complete == false`),
    /// in ascending key order, and leaves the joiner empty (runs ended at the cap and not yet
    /// taken come first, oldest first).
    pub fn finish(&mut self) -> Vec<(u64, Joined)> {
        self.recency = crate::streams::Recency::default();
        let mut out = std::mem::take(&mut self.released);
        out.extend(
            std::mem::take(&mut self.runs)
                .into_iter()
                .map(|(k, r)| (k, r.into_joined(false))),
        );
        out
    }

    /// Open again, under `key`, a run that [`Joiner::finish`] returned incomplete: the next
    /// file of a rotated set completes a run its predecessor ended in (kubelet and docker
    /// rotate between the pieces of a line).
    pub fn resume(&mut self, key: u64, j: Joined) {
        self.pieces += 1;
        let run = Run {
            buf: j.content,
            pieces: j.pieces,
            truncated: j.truncated,
            first_ts: j.first_ts,
            first_line: j.first_line,
            last_line: j.last_line,
            stamp: self.pieces,
        };
        if self.runs.insert(key, run).is_none() {
            self.recency.push(key, self.pieces);
        }
    }

    /// Number of keys with an open run.
    pub fn open_runs(&self) -> usize {
        self.runs.len()
    }

    /// Total bytes currently buffered in open runs.
    pub fn buffered_bytes(&self) -> usize {
        self.runs.values().map(|r| r.buf.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(u: &Unwrapped<'_>) -> String {
        String::from_utf8_lossy(&u.content).into_owned()
    }

    fn borrowed(u: &Unwrapped<'_>) -> bool {
        matches!(u.content, Cow::Borrowed(_))
    }

    #[test]
    fn ansi_decoded_from_a_docker_record_is_stripped_without_the_esc_hint() {
        // The raw line holds no ESC byte (`\u001b` escapes), so the chunk's line search says
        // none; the decoded payload has them.
        let line = br#"{"log":"\u001b[31mred\u001b[0m\n","stream":"stdout","time":"2026-11-22T10:00:00.000000000Z"}"#;
        assert!(!line.contains(&0x1b));
        let u = unwrap_in(line, None, false);
        assert_eq!((&*u.content, u.ansi_stripped), (&b"red"[..], true));
    }

    #[test]
    fn kubectl_prefix_and_timestamp() {
        let u = unwrap(br#"[pod/web-1/app] 2025-10-27T12:00:00.123456789Z {"level":"info","msg":"started","port":8080}"#);
        assert_eq!(u.pod, Some("web-1"));
        assert_eq!(u.container, Some("app"));
        assert_eq!(u.runtime_ts, Some("2025-10-27T12:00:00.123456789Z"));
        assert_eq!(
            u.kind,
            EnvelopeKind::KUBECTL_PREFIX | EnvelopeKind::TIMESTAMP
        );
        assert_eq!(s(&u), r#"{"level":"info","msg":"started","port":8080}"#);
        assert!(borrowed(&u) && !u.partial && u.stream.is_none() && !u.ansi_stripped);

        let u = unwrap(b"[pod/web-1/sidecar] 2025-10-27T12:00:00.200000000Z sidecar ready");
        assert_eq!((u.pod, u.container), (Some("web-1"), Some("sidecar")));
        assert_eq!(s(&u), "sidecar ready");

        let u = unwrap(br#"[pod/web-2/app] {"level":"warn","msg":"slow"}"#);
        assert_eq!(u.kind, EnvelopeKind::KUBECTL_PREFIX);
        assert_eq!(u.runtime_ts, None);
        assert_eq!(s(&u), r#"{"level":"warn","msg":"slow"}"#);
        assert!(borrowed(&u));

        // Lenient on case / underscore; empty payload.
        let u = unwrap(b"[pod/My_Pod.1/Ctr-2] ");
        assert_eq!((u.pod, u.container), (Some("My_Pod.1"), Some("Ctr-2")));
        assert_eq!(s(&u), "");
        let u = unwrap(b"[pod/a/b]");
        assert_eq!(u.pod, Some("a"));
    }

    #[test]
    fn not_a_kubectl_prefix() {
        for l in [
            &b"[pod/web-1] x"[..],
            b"[pod//app] x",
            b"[pod/web-1/] x",
            b"[pod/web 1/app] x",
            b"[pod/web-1/app]x",
            b"[deploy/web-1/app] x",
            b"[pod/web-1/app/extra] x",
            b"[pod/web-1/app",
            b"[pod/",
        ] {
            let u = unwrap(l);
            assert_eq!(u.kind, EnvelopeKind::NONE, "{}", String::from_utf8_lossy(l));
            assert_eq!(&*u.content, l);
        }
    }

    #[test]
    fn conmon_cri_lines() {
        let u = unwrap(b"2026-11-22T06:54:16.379285856+00:00 stdout F line-one");
        assert_eq!(u.kind, EnvelopeKind::CRI);
        assert_eq!(u.runtime_ts, Some("2026-11-22T06:54:16.379285856+00:00"));
        assert_eq!(u.stream, Some(Stream::Stdout));
        assert!(!u.partial && borrowed(&u));
        assert_eq!(s(&u), "line-one");

        let u = unwrap(
            br#"2026-11-22T06:54:16.379285856+00:00 stdout F {"level":"info","msg":"json"}"#,
        );
        assert_eq!(s(&u), r#"{"level":"info","msg":"json"}"#);

        let u = unwrap(b"2026-11-22T06:54:16.379285856+00:00 stdout P no-newline-at-end");
        assert!(u.partial);
        assert_eq!(s(&u), "no-newline-at-end");

        let u = unwrap(b"2026-11-22T06:54:16.379383689+00:00 stderr F err-one");
        assert_eq!(u.stream, Some(Stream::Stderr));
        assert_eq!(s(&u), "err-one");

        // TTY under conmon: \r kept by the writer, removed here.
        let u = unwrap(b"2026-11-22T06:54:38.471446182+00:00 stdout F tty-line-1\r");
        assert_eq!(s(&u), "tty-line-1");
        assert!(borrowed(&u));

        // Empty content, with and without the space after the tag.
        for l in [
            &b"2026-11-22T06:54:38.471446182+00:00 stdout F"[..],
            b"2026-11-22T06:54:38.471446182+00:00 stdout F ",
            b"2026-11-22T06:54:38.471446182+00:00 stdout F\r",
        ] {
            let u = unwrap(l);
            assert_eq!(u.kind, EnvelopeKind::CRI);
            assert!(!u.partial);
            assert_eq!(s(&u), "");
        }

        // Documented kubelet example and a tag with extra `:` items.
        let u = unwrap(b"2016-10-06T00:17:09.669794202Z stdout P log content 1");
        assert!(u.partial);
        assert_eq!(s(&u), "log content 1");
        let u = unwrap(b"2016-10-06T00:17:09.669794203Z stderr F:x:y log content 2");
        assert!(!u.partial);
        assert_eq!(s(&u), "log content 2");
        // Content keeps extra spaces.
        let u = unwrap(b"2016-10-06T00:17:09.669794203Z stderr F   indented");
        assert_eq!(s(&u), "  indented");
    }

    #[test]
    fn containerd_cri_lines() {
        let u = unwrap(b"2026-11-22T06:55:36.76989152Z stdout F trimmed digits");
        assert_eq!(u.runtime_ts, Some("2026-11-22T06:55:36.76989152Z"));
        assert_eq!(s(&u), "trimmed digits");
        let u = unwrap(b"2026-11-22T13:55:36.7+07:00 stderr P local offset");
        assert_eq!(u.runtime_ts, Some("2026-11-22T13:55:36.7+07:00"));
        assert!(u.partial && u.stream == Some(Stream::Stderr));
        // Zero nanoseconds: RFC3339Nano drops the fraction.
        let u = unwrap(b"2026-11-22T06:55:36Z stdout F whole second");
        assert_eq!(u.kind, EnvelopeKind::CRI);
        assert_eq!(s(&u), "whole second");
        // A P piece keeps a final \r: it is data cut mid-line.
        let u = unwrap(b"2026-11-22T06:55:36.1Z stdout P progress 50%\r");
        assert!(u.partial);
        assert_eq!(s(&u), "progress 50%\r");
    }

    #[test]
    fn not_cri() {
        for l in [
            &b"2026-11-22T06:55:36.769891520Z stdin F x"[..],
            b"2026-11-22T06:55:36.769891520Z stdout Q x",
            b"2026-11-22T06:55:36.769891520Z stdout PF x",
            b"2026-11-22T06:55:36.769891520Z stdout  x",
        ] {
            let u = unwrap(l);
            // 9 digits: still a timestamp envelope, the rest is content.
            assert_eq!(
                u.kind,
                EnvelopeKind::TIMESTAMP,
                "{}",
                String::from_utf8_lossy(l)
            );
            assert!(!u.partial);
            assert!(u.content.starts_with(b"std"));
        }
        let u = unwrap(b"2026-11-22T06:55:36.76989152Z stdout Q x");
        assert_eq!(u.kind, EnvelopeKind::NONE);
        let u = unwrap(b"2026-13-22T06:55:36.769891520Z stdout F x");
        assert_eq!(u.kind, EnvelopeKind::NONE);
    }

    #[test]
    fn docker_json_file_lines() {
        let u = unwrap(
            br#"{"log":"line-one\n","stream":"stdout","time":"2026-11-22T06:55:35.525841068Z"}"#,
        );
        assert_eq!(u.kind, EnvelopeKind::DOCKER_JSON);
        assert_eq!(u.stream, Some(Stream::Stdout));
        assert_eq!(u.runtime_ts, Some("2026-11-22T06:55:35.525841068Z"));
        assert!(!u.partial && u.attrs.is_none());
        assert_eq!(s(&u), "line-one");

        let u = unwrap(br#"{"log":"{\"level\":\"info\",\"msg\":\"json\"}\n","stream":"stdout","time":"2026-11-22T06:55:35.530072215Z"}"#);
        assert_eq!(s(&u), r#"{"level":"info","msg":"json"}"#);

        let u = unwrap(
            br#"{"log":"err-one\n","stream":"stderr","time":"2026-11-22T06:55:35.530100057Z"}"#,
        );
        assert_eq!(u.stream, Some(Stream::Stderr));
        assert_eq!(s(&u), "err-one");

        let u = unwrap(br#"{"log":"no-newline-at-end","stream":"stdout","time":"2026-11-22T06:55:35.611313558Z"}"#);
        assert!(u.partial);
        assert!(borrowed(&u), "no escapes: borrowed");
        assert_eq!(s(&u), "no-newline-at-end");

        let u = unwrap(
            br#"{"log":"tty-line-2\r\n","stream":"stdout","time":"2026-11-22T06:55:36.76989152Z"}"#,
        );
        assert!(!u.partial);
        assert_eq!(s(&u), "tty-line-2");
        assert_eq!(u.runtime_ts, Some("2026-11-22T06:55:36.76989152Z"));

        let u = unwrap(br#"{"log":"with-attrs\n","stream":"stdout","attrs":{"MODE":"prod","app":"web"},"time":"2026-11-22T07:00:08.612145321Z"}"#);
        assert_eq!(u.attrs, Some(&br#"{"MODE":"prod","app":"web"}"#[..]));
        assert_eq!(s(&u), "with-attrs");
        assert_eq!(u.runtime_ts, Some("2026-11-22T07:00:08.612145321Z"));

        // Behind a kubectl prefix, with a CRLF line end from the file.
        let u = unwrap(b"[pod/p/c] {\"log\":\"x\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T06:55:35Z\"}\r");
        assert_eq!(
            u.kind,
            EnvelopeKind::KUBECTL_PREFIX | EnvelopeKind::DOCKER_JSON
        );
        assert_eq!(s(&u), "x");
    }

    #[test]
    fn json_unescaping() {
        let u = unwrap(br#"{"log":"caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \t\b\f\r\u001b\n","stream":"stdout","time":"2026-11-22T06:55:35.5Z"}"#);
        assert_eq!(u.kind, EnvelopeKind::DOCKER_JSON);
        // \u001b is a lone ESC before the end: stripped as ANSI.
        assert!(u.ansi_stripped);
        assert_eq!(&*u.content, "café 😀 \"q\" \\ / \t\x08\x0c\r".as_bytes());

        for bad in [
            &br#"{"log":"\ud83d x\n","stream":"stdout","time":"2026-11-22T06:55:35.5Z"}"#[..],
            br#"{"log":"\ude00\n","stream":"stdout","time":"2026-11-22T06:55:35.5Z"}"#,
            br#"{"log":"\ud83d\u0041\n","stream":"stdout","time":"2026-11-22T06:55:35.5Z"}"#,
            br#"{"log":"\x\n","stream":"stdout","time":"2026-11-22T06:55:35.5Z"}"#,
            br#"{"log":"\u12g4","stream":"stdout","time":"2026-11-22T06:55:35.5Z"}"#,
            br#"{"log":"a\n","stream":"stdout","time":"2026-11-22T06:55:35.5Z"} trailing"#,
            br#"{"log":"a\n","stream":"stdout","time":"2026-11-22T06:55:35.5Z""#,
            br#"{"log":"a\n","stream":"stdout",}"#,
            br#"{"log":"a\n","stream":stdout}"#,
            br#"{"log":"unterminated"#,
            br#"{"log":"\"#,
            br#"{"log":""#,
        ] {
            let u = unwrap(bad);
            assert_eq!(
                u.kind,
                EnvelopeKind::NONE,
                "{}",
                String::from_utf8_lossy(bad)
            );
            assert_eq!(&*u.content, bad);
            assert!(borrowed(&u));
        }

        // Unknown keys are skipped; missing time/stream is tolerated.
        let u = unwrap(br#"{"log":"a\n","extra":[1,{"b":"}"}],"n":-1.5e3,"stream":"stdout"}"#);
        assert_eq!(u.kind, EnvelopeKind::DOCKER_JSON);
        assert_eq!((s(&u).as_str(), u.runtime_ts), ("a", None));
    }

    #[test]
    fn json_file_records_with_spaces_or_keys_in_another_order() {
        let want = |line: &[u8], content: &str, stream: Stream, partial: bool| {
            let u = unwrap(line);
            let l = String::from_utf8_lossy(line);
            assert!(u.kind.contains(EnvelopeKind::DOCKER_JSON), "{l}");
            assert_eq!(
                (s(&u).as_str(), u.stream, u.partial),
                (content, Some(stream), partial),
                "{l}"
            );
            assert_eq!(u.runtime_ts, Some("2026-11-22T10:00:00.123456789Z"), "{l}");
            assert!(may_be_piece(line), "{l}");
            assert_eq!(may_be_partial(line), partial, "{l}");
            assert_eq!(may_be_partial_hint(line), partial, "{l}");
        };
        let t = "2026-11-22T10:00:00.123456789Z";
        for (line, content, stream, partial) in [
            // Python's `json.dumps`, a hand.
            (
                format!(r#"{{"log": "hello\n", "stream": "stdout", "time": "{t}"}}"#),
                "hello",
                Stream::Stdout,
                false,
            ),
            // Keys in another order (a re-serializer).
            (
                format!(r#"{{"stream":"stderr","time":"{t}","log":"err \"q\"\n"}}"#),
                r#"err "q""#,
                Stream::Stderr,
                false,
            ),
            (
                format!(
                    "{{ \"time\" : \"{t}\",\t\"log\": \"piece\", \"stream\": \"stdout\", \"attrs\": {{\"a\": \"b\"}} }}  "
                ),
                "piece",
                Stream::Stdout,
                true,
            ),
            (
                format!(
                    r#"[pod/web-1/app] {{"log": "tty\r\n", "stream": "stdout", "time": "{t}"}}"#
                ),
                "tty",
                Stream::Stdout,
                false,
            ),
        ] {
            want(line.as_bytes(), content, stream, partial);
        }
        let line =
            format!(r#"[pod/web-1/app] {{"log": "x\n", "stream": "stdout", "time": "{t}"}}"#);
        let u = unwrap(line.as_bytes());
        assert_eq!(
            u.kind,
            EnvelopeKind::KUBECTL_PREFIX | EnvelopeKind::DOCKER_JSON
        );

        // Pieces written with spaces are joined like dockerd's.
        let mut j = Joiner::new(DEFAULT_MAX_JOINED_BYTES);
        let piece = |log: &str| format!(r#"{{"log": "{log}", "stream": "stdout", "time": "{t}"}}"#);
        assert_eq!(
            j.feed(1, 1, &unwrap(piece("abc").as_bytes())),
            Feed::Buffered
        );
        assert_eq!(
            j.feed(1, 2, &unwrap(piece("def").as_bytes())),
            Feed::Buffered
        );
        let Feed::Completed(done) = j.feed(1, 3, &unwrap(piece(r"ghi\n").as_bytes())) else {
            panic!("completed");
        };
        assert_eq!(
            (done.content.as_slice(), done.pieces),
            (&b"abcdefghi"[..], 3)
        );

        // An application's own JSON lines are not records, nor is anything but the record's
        // shape once it is not dockerd's own form.
        for line in [
            format!(r#"{{"time":"{t}","level":"info","msg":"x"}}"#),
            format!(r#"{{"time": "{t}", "log": "x\n", "stream": "stdout", "level": "info"}}"#),
            r#"{"log": "x\n", "level": "info"}"#.to_string(),
            r#"{"log": "x\n", "stream": "stdout", "time": "yesterday"}"#.to_string(),
            r#"{"log": "x\n", "stream": "console", "time": "2026-11-22T10:00:00Z"}"#.to_string(),
            r#"{"log": "x\n", "time": "2026-11-22T10:00:00Z"}"#.to_string(),
            r#"{"stream": "stdout", "log": 5}"#.to_string(),
            r#"{"log": "x\n", "stream": "stdout"} trailing"#.to_string(),
            r#"{"attrs": "x", "log": "x\n", "stream": "stdout"}"#.to_string(),
            r#"{"logger": "x", "stream": "stdout"}"#.to_string(),
            r#"{"timestamp": "x"}"#.to_string(),
            "{ ".to_string(),
            r#"{"log""#.to_string(),
        ] {
            let u = unwrap(line.as_bytes());
            assert_eq!(u.kind, EnvelopeKind::NONE, "{line}");
            assert_eq!(&*u.content, line.as_bytes());
            assert!(!may_be_partial(line.as_bytes()), "{line}");
        }
    }

    #[test]
    fn json_file_16k_split_pieces() {
        let line = "a".repeat(40000);
        let lens = [16384, 16384, 7232];
        let mut pos = 0;
        let mut j = Joiner::new(DEFAULT_MAX_JOINED_BYTES);
        let mut got = None;
        for (n, len) in lens.iter().enumerate() {
            let mut piece = line[pos..pos + len].to_string();
            pos += len;
            if n == 2 {
                piece.push('\n');
            }
            let raw = format!(
                "{{\"log\":{},\"stream\":\"stdout\",\"time\":\"2026-11-22T06:55:36.22673588Z\"}}",
                serde_json::to_string(&piece).unwrap()
            );
            let u = unwrap(raw.as_bytes());
            assert_eq!(u.partial, n < 2);
            match j.feed(7, n as u64 + 1, &u) {
                Feed::Buffered => assert!(n < 2),
                Feed::Completed(r) => got = Some(r),
                Feed::Passthrough => panic!("passthrough"),
            }
        }
        let r = got.unwrap();
        assert_eq!(r.content, line.as_bytes());
        assert_eq!((r.pieces, r.truncated, r.complete), (3, false, true));
        assert_eq!((r.first_line, r.last_line), (1, 3));
        assert_eq!(r.first_ts.as_deref(), Some("2026-11-22T06:55:36.22673588Z"));
        assert_eq!(j.open_runs(), 0);
    }

    #[test]
    fn conmon_8k_split_then_empty_f() {
        let line = "b".repeat(40000);
        let mut j = Joiner::default();
        let mut lines = Vec::new();
        for chunk in line.as_bytes().chunks(8192) {
            let mut l = b"2026-11-22T06:54:20.000000001+00:00 stdout P ".to_vec();
            l.extend_from_slice(chunk);
            lines.push(l);
        }
        lines.push(b"2026-11-22T06:54:20.000000002+00:00 stdout F".to_vec());
        lines.push(b"2026-11-22T06:54:20.000000003+00:00 stdout F after".to_vec());
        let mut out = Vec::new();
        for (n, l) in lines.iter().enumerate() {
            let u = unwrap(l);
            match j.feed(1, n as u64, &u) {
                Feed::Buffered => {}
                Feed::Completed(r) => out.push(r.content),
                Feed::Passthrough => out.push(u.content.into_owned()),
            }
        }
        assert_eq!(out, vec![line.into_bytes(), b"after".to_vec()]);
    }

    #[test]
    fn docker_timestamps() {
        let u = unwrap(b"2026-11-22T06:55:35.525841068Z line-one");
        assert_eq!(u.kind, EnvelopeKind::TIMESTAMP);
        assert_eq!(u.runtime_ts, Some("2026-11-22T06:55:35.525841068Z"));
        assert_eq!(s(&u), "line-one");
        assert!(borrowed(&u));
        let u = unwrap(b"2026-11-22T06:55:36.769765505Z tty-line-1\r");
        assert_eq!(s(&u), "tty-line-1");
        let u = unwrap(b"2026-11-22T06:55:36.769891520Z ");
        assert_eq!((u.kind, s(&u).as_str()), (EnvelopeKind::TIMESTAMP, ""));
        let u = unwrap(b"2026-11-22T07:00:08.612145321Z MODE=prod,app=web with-attrs");
        assert_eq!(s(&u), "MODE=prod,app=web with-attrs");
        let u = unwrap(b"2026-11-22T07:00:08.612145321+02:00 offset");
        assert_eq!(s(&u), "offset");
        // Only one space is part of the envelope.
        let u = unwrap(b"2026-11-22T07:00:08.612145321Z   indented");
        assert_eq!(s(&u), "  indented");
        // Podman's second precision is ambiguous with application timestamps: payload.
        let u = unwrap(b"2026-11-22T06:54:16Z line-one");
        assert_eq!(u.kind, EnvelopeKind::NONE);
        // Not followed by a space.
        let u = unwrap(b"2026-11-22T06:55:35.525841068Zline-one");
        assert_eq!(u.kind, EnvelopeKind::NONE);
    }

    #[test]
    fn skreaver_plain_lines_are_payload() {
        for l in [
            &b"2026-11-22T07:09:46.645428Z  INFO skreaver_http::server: listening addr=0.0.0.0:8080"[..],
            b"2026-11-22T07:09:46.706887Z DEBUG request{method=GET uri=/health}: skreaver_http: done",
            b"2026-11-22T07:09:46.70688712Z  WARN x: eight digits",
        ] {
            let u = unwrap(l);
            assert_eq!(u.kind, EnvelopeKind::NONE, "{}", String::from_utf8_lossy(l));
            assert_eq!(u.runtime_ts, None);
            assert_eq!(&*u.content, l);
            assert!(borrowed(&u));
        }
        // Envelope timestamp followed by a Skreaver timestamp: only the first is stripped.
        let u = unwrap(
            b"2025-10-27T12:00:00.000000000Z 2026-11-22T07:09:46.645428Z  INFO skreaver_http: up",
        );
        assert_eq!(u.runtime_ts, Some("2025-10-27T12:00:00.000000000Z"));
        assert_eq!(s(&u), "2026-11-22T07:09:46.645428Z  INFO skreaver_http: up");
    }

    #[test]
    fn ansi_coloured_skreaver_line() {
        let l = b"\x1b[2m2026-11-22T07:09:46.645428Z\x1b[0m \x1b[32m INFO\x1b[0m \x1b[2mskreaver_http\x1b[0m\x1b[2m:\x1b[0m listening";
        let u = unwrap(l);
        assert!(u.ansi_stripped);
        assert_eq!(u.kind, EnvelopeKind::NONE);
        assert!(matches!(u.content, Cow::Owned(_)));
        assert_eq!(
            s(&u),
            "2026-11-22T07:09:46.645428Z  INFO skreaver_http: listening"
        );

        // Inside an envelope.
        let u = unwrap(b"2026-11-22T06:54:16.379285856+00:00 stderr F \x1b[31mERROR\x1b[0m boom");
        assert_eq!((u.kind, s(&u).as_str()), (EnvelopeKind::CRI, "ERROR boom"));
    }

    #[test]
    fn ansi_variants() {
        let cases: [(&[u8], &[u8]); 9] = [
            (b"a\x1b]0;title\x07b", b"ab"),
            (b"a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", b"alinkb"),
            (b"a\x1b(Bb", b"ab"),
            (b"a\x1b=b\x1b7c", b"abc"),
            (b"a\x1b", b"a"),
            (b"a\x1b[", b"a"),
            (b"a\x1b[1;2", b"a"),
            (b"a\x1b]unterminated", b"a"),
            (b"a\x1b\x01b\x1b\xffc", b"a\x01b\xffc"),
        ];
        for (inp, want) in cases {
            let u = unwrap(inp);
            assert!(u.ansi_stripped);
            assert_eq!(&*u.content, want, "{:?}", String::from_utf8_lossy(inp));
        }
        let u = unwrap(b"no escapes here");
        assert!(!u.ansi_stripped && borrowed(&u));
    }

    #[test]
    fn an_escape_sequence_split_between_pieces_is_stripped_whole() {
        let mut j = Joiner::new(1 << 20);
        let rec = |log: &str| {
            serde_json::json!({"log": log, "stream": "stdout", "time": "2026-11-22T06:55:35.5Z"})
                .to_string()
        };
        let (a, b) = (rec("\u{1b}[31mred\u{1b}[3"), rec("2mgreen\u{1b}[0m\n"));
        assert_eq!(j.feed(1, 1, &unwrap(a.as_bytes())), Feed::Buffered);
        let Feed::Completed(done) = j.feed(1, 2, &unwrap(b.as_bytes())) else {
            panic!("completed");
        };
        assert_eq!(String::from_utf8_lossy(&done.content), "redgreen");
        // CRI pieces too.
        let mut j = Joiner::new(1 << 20);
        let p = unwrap(b"2026-11-22T06:54:16.1Z stdout P a\x1b[3");
        assert!(p.partial && !p.ansi_stripped);
        j.feed(1, 1, &p);
        let Feed::Completed(done) =
            j.feed(1, 2, &unwrap(b"2026-11-22T06:54:16.1Z stdout F 1mb\x1b[0m"))
        else {
            panic!("completed");
        };
        assert_eq!(done.content, b"ab");
    }

    #[test]
    fn a_piece_cut_before_decoding_ends_what_its_run_keeps() {
        let mut j = Joiner::new(100);
        let piece = |c: &str| format!("2026-11-22T06:54:16.1Z stdout P {c}");
        j.feed(7, 1, &unwrap(piece("aaaa").as_bytes()));
        // The reader cut this one: what follows it would come after a gap.
        j.feed(7, 2, &unwrap(piece("bbbb").as_bytes()));
        j.cut(7);
        j.feed(7, 3, &unwrap(piece("cccc").as_bytes()));
        let Feed::Completed(done) = j.feed(7, 4, &unwrap(b"2026-11-22T06:54:16.1Z stdout F dd"))
        else {
            panic!("completed");
        };
        assert_eq!(
            (
                done.content.as_slice(),
                done.pieces,
                done.truncated,
                done.last_line
            ),
            (&b"aaaabbbb"[..], 4, true, 4)
        );
        // No run open: nothing to mark.
        j.cut(7);
        assert_eq!(j.open_runs(), 0);
    }

    #[test]
    fn pieces_and_the_lines_that_complete_them_are_told_by_their_start() {
        for line in [
            &br#"{"log":"x"#[..],
            br#"{"log":"x\n","stream":"stdout","time":"2026-11-22T06:55:35.5Z"}"#,
            b"2026-11-22T06:54:16.379285856+00:00 stdout P abc",
            b"2026-11-22T06:54:16.3Z stderr F abc",
            b"[pod/api-0/app] 2026-11-22T06:54:16.3Z stdout F",
            b"[pod/api-0/app] {\"log\":\"",
        ] {
            assert!(may_be_piece(line), "{}", String::from_utf8_lossy(line));
        }
        for line in [
            &b"plain text"[..],
            br#"{"level":"info","log":"x"}"#,
            b"2026-11-22T06:54:16.3Z stdout X abc",
            b"2026-11-22 07:00:00,432 - app - INFO - stdout P",
            b"",
        ] {
            assert!(!may_be_piece(line), "{}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn garbage_does_not_panic() {
        let mut inputs: Vec<Vec<u8>> = vec![
            vec![],
            b"\r".to_vec(),
            vec![0xff, 0xfe, 0x00, 0x1b],
            b"\x00\x01\x02binary\x1b[".to_vec(),
            b"2026-11-22T06:54:16.".to_vec(),
            b"2026-11-22T06:54:16.1234567890Z x".to_vec(),
            b"2026-11-22T06:54:16.123456789+0".to_vec(),
            b"2026-11-22T06:54:16.123456789Z stdout".to_vec(),
            b"2026-11-22T06:54:16.123456789Z stdout ".to_vec(),
            b"{\"log\":\"\xff\xfe\",\"stream\":\"stdout\"}".to_vec(),
            b"{\"log\":\"a\",\"attrs\":{\"x\":[[[".to_vec(),
            b"{\"log\":\"a\",\"attrs\":\"x\"}".to_vec(),
            b"[pod/\xff/x] y".to_vec(),
        ];
        for n in 0..40 {
            let base = br#"[pod/a/b] {"log":"x\ud83d\ude00\n","stream":"stdout","attrs":{"a":"b"},"time":"2026-11-22T06:55:35.5Z"}"#;
            inputs.push(base[..n.min(base.len())].to_vec());
            inputs.push(base[n.min(base.len())..].to_vec());
        }
        for i in inputs {
            let u = unwrap(&i);
            let _ = format!("{u:?}");
        }
        let u = unwrap(b"{\"log\":\"\xff\xfe\",\"stream\":\"stdout\"}");
        assert_eq!(&*u.content, b"\xff\xfe");
        assert!(u.partial);
    }

    #[test]
    fn joiner_interleaves_and_finishes() {
        let mut j = Joiner::new(100);
        let p = |st: &str, c: &str| format!("2026-11-22T06:54:16.1Z {st} P {c}");
        let f = |st: &str, c: &str| format!("2026-11-22T06:54:16.2Z {st} F {c}");
        let key = |u: &Unwrapped<'_>| u.stream.map_or(9, |s| s as u64);
        let lines = [
            p("stdout", "o1-"),
            p("stderr", "e1-"),
            f("stdout", "o2"),
            f("stdout", "solo"),
            p("stderr", "e2-"),
            p("stdout", "dangling"),
        ];
        let mut res = Vec::new();
        for (n, l) in lines.iter().enumerate() {
            let u = unwrap(l.as_bytes());
            res.push(j.feed(key(&u), n as u64, &u));
        }
        assert_eq!(res[0], Feed::Buffered);
        assert_eq!(res[1], Feed::Buffered);
        match &res[2] {
            Feed::Completed(r) => {
                assert_eq!(r.content, b"o1-o2");
                assert_eq!(
                    (r.pieces, r.first_line, r.last_line, r.complete),
                    (2, 0, 2, true)
                );
                assert_eq!(r.first_ts.as_deref(), Some("2026-11-22T06:54:16.1Z"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(res[3], Feed::Passthrough);
        assert_eq!(j.open_runs(), 2);
        assert_eq!(j.buffered_bytes(), "e1-e2-dangling".len());
        let fin = j.finish();
        assert_eq!(fin.len(), 2);
        assert_eq!(fin[0].0, 0);
        assert_eq!(fin[0].1.content, b"dangling");
        assert_eq!(fin[1].0, 1);
        assert_eq!(fin[1].1.content, b"e1-e2-");
        assert_eq!(fin[1].1.pieces, 2);
        assert!(fin.iter().all(|(_, r)| !r.complete));
        assert_eq!(j.open_runs(), 0);
        assert!(j.finish().is_empty());
    }

    #[test]
    fn joiner_cap() {
        let mut j = Joiner::new(4);
        for c in ["ab", "cd", "ef"] {
            let l = format!("2026-11-22T06:54:16.1Z stdout P {c}");
            assert_eq!(j.feed(0, 0, &unwrap(l.as_bytes())), Feed::Buffered);
        }
        match j.feed(0, 3, &unwrap(b"2026-11-22T06:54:16.1Z stdout F gh")) {
            Feed::Completed(r) => {
                assert_eq!(r.content, b"abcd");
                assert!(r.truncated);
                assert_eq!(r.pieces, 4);
            }
            other => panic!("{other:?}"),
        }
    }

    /// At most `max_runs` runs are open: a piece that opens one more ends the run whose last
    /// piece is oldest (not the oldest run), whole and unfinished, as `finish` would; runs
    /// that complete leave the count.
    #[test]
    fn joiner_ends_the_least_recently_fed_run_past_max_runs() {
        let mut j = Joiner::new(100).max_runs(2);
        let p = |c: &str| format!("2026-11-22T06:54:16.1Z stdout P {c}");
        let f = |c: &str| format!("2026-11-22T06:54:16.1Z stdout F {c}");
        let mut feed = |key: u64, line: u64, l: String| j.feed(key, line, &unwrap(l.as_bytes()));
        assert_eq!(feed(1, 1, p("a1-")), Feed::Buffered);
        assert_eq!(feed(2, 2, p("b1-")), Feed::Buffered);
        // Run 1 is fed again: run 2 is now the least recently fed.
        assert_eq!(feed(1, 3, p("a2-")), Feed::Buffered);
        assert_eq!(feed(3, 4, p("c1-")), Feed::Buffered);
        let released: Vec<(u64, Joined)> = j.released().collect();
        assert_eq!(released.len(), 1);
        let (key, r) = &released[0];
        assert_eq!((*key, &r.content[..], r.pieces), (2, &b"b1-"[..], 1));
        assert_eq!((r.first_line, r.last_line, r.complete), (2, 2, false));
        assert_eq!(j.open_runs(), 2);
        // Run 2 writes again: a new run (ending run 1, now the least recently fed).
        let mut feed = |key: u64, line: u64, l: String| j.feed(key, line, &unwrap(l.as_bytes()));
        assert_eq!(feed(2, 5, p("b2-")), Feed::Buffered);
        match feed(3, 6, f("c2")) {
            Feed::Completed(r) => assert_eq!((&r.content[..], r.complete), (&b"c1-c2"[..], true)),
            other => panic!("{other:?}"),
        }
        let released: Vec<(u64, Vec<u8>)> = j.released().map(|(k, r)| (k, r.content)).collect();
        assert_eq!(released, [(1, b"a1-a2-".to_vec())]);
        // Below the cap again: nothing more is ended.
        let mut feed = |key: u64, line: u64, l: String| j.feed(key, line, &unwrap(l.as_bytes()));
        assert_eq!(feed(4, 7, p("d1-")), Feed::Buffered);
        assert_eq!(j.released().count(), 0);
        let fin: Vec<(u64, Vec<u8>)> = j
            .finish()
            .into_iter()
            .map(|(k, r)| (k, r.content))
            .collect();
        assert_eq!(fin, [(2, b"b2-".to_vec()), (4, b"d1-".to_vec())]);
    }

    #[test]
    fn envelope_kind_names() {
        let k = EnvelopeKind::KUBECTL_PREFIX | EnvelopeKind::CRI;
        assert_eq!(k.names().collect::<Vec<_>>(), ["kubectl-prefix", "cri"]);
        assert_eq!(format!("{k:?}"), "EnvelopeKind(kubectl-prefix | cri)");
        assert_eq!(format!("{:?}", EnvelopeKind::NONE), "EnvelopeKind(NONE)");
        assert!(k.contains(EnvelopeKind::CRI) && !k.contains(EnvelopeKind::TIMESTAMP));
        assert!(EnvelopeKind::default().is_empty());
        assert_eq!(Stream::Stderr.as_str(), "stderr");
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        const TOKENS: &[&str] = &[
            "[pod/",
            "web-1",
            "/",
            "] ",
            "]",
            "{\"log\":\"",
            "\\u",
            "d83d",
            "de00",
            "\\",
            "\"",
            ",",
            ":",
            "}",
            "{",
            "[",
            "\"stream\":\"stdout\"",
            "\"time\":",
            "{\"log\": \"",
            "\"stream\": \"stderr\"",
            "\"attrs\":",
            "2026-11-22T06:54:16.379285856Z",
            "2026-11-22T06:54:16.37+07:00",
            " stdout ",
            " stderr ",
            "P",
            "F",
            " ",
            "\r",
            "\n",
            "\x1b[",
            "\x1b]",
            "\x1b",
            "m",
            "\x07",
            "x",
            "\u{e9}",
            "\u{1F600}",
        ];

        fn fragments() -> impl Strategy<Value = Vec<u8>> {
            prop::collection::vec(
                prop_oneof![
                    prop::sample::select(TOKENS).prop_map(|t| t.as_bytes().to_vec()),
                    prop::collection::vec(any::<u8>(), 0..4),
                ],
                0..24,
            )
            .prop_map(|v| v.concat())
        }

        /// Content bytes a CRI record can carry: no `\n`, no ESC (ANSI would be stripped),
        /// not ending in `\r` (one trailing `\r` of a complete line is removed by design).
        fn cri_content() -> impl Strategy<Value = Vec<u8>> {
            prop::collection::vec(
                any::<u8>().prop_map(|b| if b == b'\n' || b == 0x1b { b'.' } else { b }),
                0..40,
            )
            .prop_map(|mut v| {
                if v.last() == Some(&b'\r') {
                    v.push(b'z');
                }
                v
            })
        }

        /// Cut `len` bytes into pieces: at every position, or at arbitrary (possibly repeated) ones.
        fn cut(len: usize, every: bool, cuts: &[usize]) -> Vec<(usize, usize)> {
            let mut pts: Vec<usize> = if every {
                (1..len).collect()
            } else {
                cuts.iter().map(|c| c % (len + 1)).collect()
            };
            pts.sort_unstable();
            let mut out = Vec::new();
            let mut start = 0;
            for p in pts {
                out.push((start, p));
                start = p;
            }
            out.push((start, len));
            out
        }

        fn cri_lines(rec: &[u8], st: &str, ts: &str, every: bool, cuts: &[usize]) -> Vec<Vec<u8>> {
            let pieces = cut(rec.len(), every, cuts);
            let last = pieces.len() - 1;
            pieces
                .into_iter()
                .enumerate()
                .map(|(i, (a, b))| {
                    let tag = if i == last { "F" } else { "P" };
                    let mut l = format!("{ts} {st} {tag}").into_bytes();
                    // conmon omits nothing; exercise "no space before empty content" too.
                    if b > a || i % 2 == 0 {
                        l.push(b' ');
                    }
                    l.extend_from_slice(&rec[a..b]);
                    l
                })
                .collect()
        }

        /// Merge two line sequences by `choice`, keeping each sequence's order.
        fn interleave(a: Vec<Vec<u8>>, b: Vec<Vec<u8>>, choice: &[bool]) -> Vec<Vec<u8>> {
            let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
            let mut out = Vec::new();
            let mut k = 0;
            while a.peek().is_some() || b.peek().is_some() {
                let pick_a = b.peek().is_none()
                    || (a.peek().is_some()
                        && choice.get(k % choice.len().max(1)).copied().unwrap_or(true));
                k += 1;
                out.push(if pick_a { a.next() } else { b.next() }.unwrap());
            }
            out
        }

        /// Feed all lines; per stream key, the list of records (joined or passthrough).
        fn run(lines: &[Vec<u8>], max: usize) -> [Vec<(Vec<u8>, bool, u32)>; 2] {
            let mut j = Joiner::new(max);
            let mut out: [Vec<(Vec<u8>, bool, u32)>; 2] = [Vec::new(), Vec::new()];
            for (n, l) in lines.iter().enumerate() {
                let u = unwrap(l);
                let k = u.stream.expect("stream") as u64;
                match j.feed(k, n as u64, &u) {
                    Feed::Buffered => {}
                    Feed::Passthrough => out[k as usize].push((u.content.into_owned(), false, 1)),
                    Feed::Completed(r) => out[k as usize].push((r.content, r.truncated, r.pieces)),
                }
            }
            assert_eq!(j.open_runs(), 0);
            out
        }

        fn json_escape_ascii(s: &str) -> String {
            // serde_json leaves non-ASCII raw; re-escape it as \uXXXX (surrogate pairs above BMP).
            let mut out = String::new();
            for c in s.chars() {
                if c.is_ascii() {
                    out.push(c);
                } else {
                    let mut buf = [0u16; 2];
                    for unit in c.encode_utf16(&mut buf) {
                        out.push_str(&format!("\\u{unit:04x}"));
                    }
                }
            }
            out
        }

        fn json_lines(
            rec: &str,
            st: &str,
            every: bool,
            cuts: &[usize],
            ascii: bool,
            attrs: bool,
            layout: u8,
        ) -> Vec<Vec<u8>> {
            let bounds: Vec<usize> = rec
                .char_indices()
                .map(|(i, _)| i)
                .chain([rec.len()])
                .collect();
            let nchars = bounds.len() - 1;
            let pieces = cut(nchars, every, cuts);
            let last = pieces.len() - 1;
            pieces
                .into_iter()
                .enumerate()
                .map(|(i, (a, b))| {
                    let mut piece = rec[bounds[a]..bounds[b]].to_string();
                    if i == last {
                        piece.push('\n');
                    }
                    let mut log = serde_json::to_string(&piece).unwrap();
                    if ascii {
                        log = json_escape_ascii(&log);
                    }
                    let attrs = if attrs { r#","attrs":{"app":"w\"}{eb","n":[1,{}]}"# } else { "" };
                    let time = "2026-11-22T06:55:36.22673588Z";
                    match layout {
                        // dockerd's own.
                        0 => format!(r#"{{"log":{log},"stream":"{st}"{attrs},"time":"{time}"}}"#),
                        // Python's `json.dumps`, or a hand: spaces after `:` and `,`.
                        1 => format!(
                            r#"{{"log": {log}, "stream": "{st}"{}, "time": "{time}"}}"#,
                            attrs.replace(',', ", ").replace(':', ": ")
                        ),
                        // Keys in another order, whitespace around everything.
                        _ => format!(
                            "{{ \"time\" :\t\"{time}\" {attrs}, \"stream\":\"{st}\" , \"log\" : {log} }} "
                        ),
                    }
                    .into_bytes()
                })
                .collect()
        }

        fn json_content() -> impl Strategy<Value = String> {
            any::<String>().prop_map(|s| {
                let mut s: String = s.chars().filter(|&c| c != '\n' && c != '\x1b').collect();
                if s.ends_with('\r') {
                    s.push('z');
                }
                s
            })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Decoding a JSON string gives back what serde_json encoded, with escapes anywhere
            /// (also as `\uXXXX`, surrogate pairs included), whatever follows the string.
            #[test]
            fn json_string_decodes_what_serde_encodes(
                s in ".{0,80}",
                ascii in any::<bool>(),
                after in "[,}a-z\"\\\\]{0,3}",
            ) {
                let mut enc = serde_json::to_string(&s).unwrap();
                if ascii {
                    enc = json_escape_ascii(&enc);
                }
                let line = format!("{enc}{after}");
                let (got, end) = parse_json_string(line.as_bytes(), 1).expect("decodes");
                prop_assert_eq!(&*got, s.as_bytes());
                prop_assert_eq!(end, enc.len());
            }

            #[test]
            fn unwrap_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
                let u = unwrap(&bytes);
                prop_assert!(u.content.len() <= bytes.len() * 3);
            }

            #[test]
            fn the_partial_hint_misses_no_partial_line(
                prefix in prop::sample::select(&["", "[pod/web-1/app] ", "[pod/web-1/app]", "[pod/a b/c] ", "[pod/x] "][..]),
                payload in prop_oneof![
                    Just(b"2026-11-22T06:54:16.379285856Z stdout P part".to_vec()),
                    Just(b"2026-11-22T06:54:16Z stderr P ".to_vec()),
                    Just(br#"{"log":"part","stream":"stdout","time":"2026-11-22T06:54:16Z"}"#.to_vec()),
                    Just(br#"{"log":"whole\n","stream":"stdout","time":"2026-11-22T06:54:16Z"}"#.to_vec()),
                    Just(br#"{"log": "part", "stream": "stdout", "time": "2026-11-22T06:54:16Z"}"#.to_vec()),
                    Just(br#"{ "stream":"stderr","log":"part"}"#.to_vec()),
                    fragments(),
                ],
            ) {
                let line = [prefix.as_bytes(), &payload].concat();
                if may_be_partial(&line) {
                    prop_assert!(may_be_partial_hint(&line));
                }
            }

            #[test]
            /// Also when told whether the line holds an ESC byte, as the chunk's line search does.
            fn unwrap_in_checked_text_is_unwrap(bytes in fragments(), pad in 0usize..4) {
                // The line inside a larger validated buffer, as a chunk holds it.
                let mut chunk = vec![b'x'; pad];
                chunk.push(b'\n');
                let at = chunk.len();
                chunk.extend_from_slice(&bytes);
                chunk.push(b'\n');
                let text = std::str::from_utf8(&chunk).ok();
                let line = &chunk[at..at + bytes.len()];
                let esc = line.contains(&0x1b);
                let (a, b) = (unwrap(line), unwrap_in(line, text, esc));
                prop_assert_eq!((a.pod, a.container, a.runtime_ts), (b.pod, b.container, b.runtime_ts));
                prop_assert_eq!((a.stream, a.kind, a.partial), (b.stream, b.kind, b.partial));
                prop_assert_eq!(&a.content, &b.content);
                let content_text = as_text(&b.content, text).map(str::to_string);
                prop_assert_eq!(content_text, std::str::from_utf8(&a.content).ok().map(str::to_string));
            }

            #[test]
            fn unwrap_never_panics_structured(bytes in fragments()) {
                let u = unwrap(&bytes);
                // No-envelope lines are borrowed unless ANSI was stripped.
                if u.kind.is_empty() && !u.ansi_stripped {
                    prop_assert!(matches!(u.content, Cow::Borrowed(_)));
                }
            }

            #[test]
            fn cri_join_roundtrip(
                out_recs in prop::collection::vec(cri_content(), 0..4),
                err_recs in prop::collection::vec(cri_content(), 0..4),
                every in any::<bool>(),
                cuts in prop::collection::vec(any::<usize>(), 0..6),
                choice in prop::collection::vec(any::<bool>(), 1..16),
                ts in prop::sample::select(&[
                    "2026-11-22T06:54:16.379285856+00:00",
                    "2026-11-22T06:55:36.76989152Z",
                    "2026-11-22T13:55:36+07:00",
                ][..]),
            ) {
                let mk = |recs: &[Vec<u8>], st: &str| -> Vec<Vec<u8>> {
                    recs.iter().flat_map(|r| cri_lines(r, st, ts, every, &cuts)).collect()
                };
                let lines = interleave(mk(&out_recs, "stdout"), mk(&err_recs, "stderr"), &choice);
                let got = run(&lines, usize::MAX);
                let want = |recs: &[Vec<u8>]| recs.to_vec();
                prop_assert_eq!(got[0].iter().map(|r| r.0.clone()).collect::<Vec<_>>(), want(&out_recs));
                prop_assert_eq!(got[1].iter().map(|r| r.0.clone()).collect::<Vec<_>>(), want(&err_recs));
                let pieces: u32 = got.iter().flatten().map(|r| r.2).sum();
                prop_assert_eq!(pieces as usize, lines.len());
            }

            #[test]
            fn json_file_join_roundtrip(
                out_recs in prop::collection::vec(json_content(), 0..4),
                err_recs in prop::collection::vec(json_content(), 0..4),
                every in any::<bool>(),
                cuts in prop::collection::vec(any::<usize>(), 0..6),
                choice in prop::collection::vec(any::<bool>(), 1..16),
                ascii in any::<bool>(),
                attrs in any::<bool>(),
                layout in 0u8..3,
            ) {
                let mk = |recs: &[String], st: &str| -> Vec<Vec<u8>> {
                    recs.iter().flat_map(|r| json_lines(r, st, every, &cuts, ascii, attrs, layout)).collect()
                };
                let lines = interleave(mk(&out_recs, "stdout"), mk(&err_recs, "stderr"), &choice);
                for l in &lines {
                    let u = unwrap(l);
                    prop_assert!(u.kind.contains(EnvelopeKind::DOCKER_JSON));
                    // The reader tells pieces by their start, whatever the layout.
                    prop_assert!(may_be_piece(l));
                    if u.partial {
                        prop_assert!(may_be_partial(l) && may_be_partial_hint(l));
                    }
                }
                let got = run(&lines, usize::MAX);
                let as_bytes = |recs: &[String]| recs.iter().map(|r| r.as_bytes().to_vec()).collect::<Vec<_>>();
                prop_assert_eq!(got[0].iter().map(|r| r.0.clone()).collect::<Vec<_>>(), as_bytes(&out_recs));
                prop_assert_eq!(got[1].iter().map(|r| r.0.clone()).collect::<Vec<_>>(), as_bytes(&err_recs));
            }

            #[test]
            fn cap_respected(
                rec in prop::collection::vec(any::<u8>().prop_map(|b| if b == b'\n' || b == 0x1b { b'-' } else { b }), 0..200),
                cuts in prop::collection::vec(any::<usize>(), 1..8),
                max in 0usize..64,
            ) {
                let mut rec = rec;
                if rec.last() == Some(&b'\r') {
                    rec.push(b'z');
                }
                let lines = cri_lines(&rec, "stdout", "2026-11-22T06:55:36.1Z", false, &cuts);
                let got = run(&lines, max);
                prop_assert_eq!(got[0].len(), 1);
                let (content, truncated, pieces) = &got[0][0];
                prop_assert!(content.len() <= max);
                prop_assert_eq!(*truncated, rec.len() > max);
                prop_assert_eq!(&content[..], &rec[..rec.len().min(max)]);
                prop_assert_eq!(*pieces as usize, lines.len());
            }
        }
    }
}
