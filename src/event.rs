//! The normalized event: what every format parser produces and every later stage reads.
//!
//! Invariants: timestamps are UTC nanoseconds; levels are one of six severities (or absent for
//! plain text that names none); string fields borrow from the input line whenever no unescaping
//! was needed (`Cow::Borrowed`), so the hot path allocates only for what it must keep.

use std::borrow::Cow;

use crate::time::Nanos;

/// Normalized severity, ordered from least to most severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `TRACE`
    Trace,
    /// `DEBUG`
    Debug,
    /// `INFO`, `NOTICE`
    Info,
    /// `WARN`, `WARNING`
    Warn,
    /// `ERROR`, `ERR`
    Error,
    /// `FATAL`, `CRITICAL`, `PANIC`, `EMERG`, `ALERT`
    Fatal,
}

impl Level {
    /// All levels, least severe first.
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    /// Lower-case name used in reports and NDJSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    /// Parse any common spelling, case-insensitively (`WARNING`, `warn`, `CRITICAL`, `err`, `E`…).
    pub fn parse(s: &str) -> Option<Level> {
        let s = s.trim();
        let is = |spellings: &[&str]| spellings.iter().any(|a| s.eq_ignore_ascii_case(a));
        let first = s.as_bytes().first()?.to_ascii_lowercase();
        if s.len() == 1 {
            return match first {
                b't' => Some(Level::Trace),
                b'd' => Some(Level::Debug),
                b'i' => Some(Level::Info),
                b'w' => Some(Level::Warn),
                b'e' => Some(Level::Error),
                b'f' | b'c' => Some(Level::Fatal),
                _ => None,
            };
        }
        // By first letter, so a line's level costs one or two comparisons.
        let level = match first {
            b'i' if is(&["info", "information"]) => Level::Info,
            b'n' if is(&["notice"]) => Level::Info,
            b'd' if is(&["debug", "dbg"]) => Level::Debug,
            b'w' if is(&["warn", "warning"]) => Level::Warn,
            b'e' if is(&["error", "err", "eror"]) => Level::Error,
            b'e' if is(&["emerg", "emergency"]) => Level::Fatal,
            b't' if is(&["trace", "trc"]) => Level::Trace,
            b'f' if is(&["fatal"]) => Level::Fatal,
            b'c' if is(&["critical", "crit"]) => Level::Fatal,
            b'p' if is(&["panic"]) => Level::Fatal,
            b'a' if is(&["alert"]) => Level::Fatal,
            _ => return None,
        };
        Some(level)
    }
}

/// The named string fields of the event schema, in NDJSON output order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    /// Python logger name or Rust `target`.
    Logger,
    /// The human message.
    Message,
    /// Trace id.
    TraceId,
    /// Request id.
    RequestId,
    /// Span id.
    SpanId,
    /// Agent id (Skreaver).
    AgentId,
    /// User id.
    UserId,
    /// WebSocket / connection id.
    ConnId,
    /// Client address (ip, without port).
    ClientIp,
    /// HTTP method.
    Method,
    /// HTTP path as printed (query string kept).
    Path,
    /// Normalized route (`/agents/{agent_id}/observe`).
    Route,
    /// Exception / traceback / panic text.
    Exception,
}

impl Slot {
    /// Number of slots.
    pub const COUNT: usize = 13;
    /// All slots in output order.
    pub const ALL: [Slot; Slot::COUNT] = [
        Slot::Logger,
        Slot::Message,
        Slot::TraceId,
        Slot::RequestId,
        Slot::SpanId,
        Slot::AgentId,
        Slot::UserId,
        Slot::ConnId,
        Slot::ClientIp,
        Slot::Method,
        Slot::Path,
        Slot::Route,
        Slot::Exception,
    ];
    /// The identifier slots (`trace_id` … `client_ip`), in output order: [`Slot::ALL`]`[2..9]`.
    pub const IDS: [Slot; 7] = {
        let mut ids = [Slot::TraceId; 7];
        let mut i = 0;
        while i < ids.len() {
            ids[i] = Slot::ALL[i + 2];
            i += 1;
        }
        ids
    };

    /// Field name in the event schema.
    pub fn name(self) -> &'static str {
        match self {
            Slot::Logger => "logger",
            Slot::Message => "message",
            Slot::TraceId => "trace_id",
            Slot::RequestId => "request_id",
            Slot::SpanId => "span_id",
            Slot::AgentId => "agent_id",
            Slot::UserId => "user_id",
            Slot::ConnId => "conn_id",
            Slot::ClientIp => "client_ip",
            Slot::Method => "method",
            Slot::Path => "path",
            Slot::Route => "route",
            Slot::Exception => "exception",
        }
    }

    /// Inverse of [`Slot::name`].
    pub fn from_name(name: &str) -> Option<Slot> {
        Slot::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Where to find what a format extracts: a typed schema target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Event time.
    Ts,
    /// Severity.
    Level,
    /// HTTP status code.
    Status,
    /// Request latency in milliseconds.
    DurationMs,
    /// One of the string slots.
    Str(Slot),
    /// A client address with its port (`10.0.0.5:50000`, `[::1]:60902`, and uvicorn's
    /// unbracketed `2001:db8::7:48001`): the client ip is what comes before the port.
    ClientAddr,
}

impl Target {
    /// Resolve a schema field name (`ts`, `level`, `status`, `duration_ms`, or a [`Slot`] name).
    pub fn from_name(name: &str) -> Option<Target> {
        Some(match name {
            "ts" | "timestamp" => Target::Ts,
            "level" => Target::Level,
            "status" => Target::Status,
            "duration_ms" => Target::DurationMs,
            "client_addr" => Target::ClientAddr,
            other => Target::Str(Slot::from_name(other)?),
        })
    }
}

/// How lines that follow an event may continue it (tracebacks, panics, warning source lines).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Multiline {
    /// No continuation beyond blank lines.
    #[default]
    None,
    /// Python: indented lines, `Traceback (most recent call last):`, chained-exception headers,
    /// and inside a traceback the final `module.Error: message` line.
    Python,
    /// Rust panic: every unrecognized line until `note: …RUST_BACKTRACE…`.
    RustPanic,
}

/// A value of a field outside the schema (kept for NDJSON `fields`, `--where fields.x`).
#[derive(Clone, Debug, PartialEq)]
pub enum Extra<'a> {
    /// Raw JSON text of the value, as it appeared in the line.
    Json(Cow<'a, [u8]>),
    /// A plain string (from text formats' `key=value` pairs).
    Str(Cow<'a, str>),
}

/// Is this raw JSON text of an [`Extra::Json`] valid JSON? The line scanner checks a line's
/// top level only (raw control bytes and stray tokens inside nested values pass it), so
/// writers that copy the text verbatim check it first and write a string otherwise.
pub fn is_valid_json(j: &[u8]) -> bool {
    // Skipping strings does not check their `\u` escapes (a lone surrogate `\ud800` is no
    // text, and jq refuses it): a value with one is decoded whole.
    if memchr::memmem::find(j, b"\\u").is_some() {
        return serde_json::from_slice::<serde_json::Value>(j).is_ok();
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(j).is_ok()
}

/// What to write, as a JSON string, for raw JSON text that is not valid JSON: a string's
/// decoded text (a raw control byte in it is escaped when written), else the text as it was.
pub fn invalid_json_as_text(j: &[u8]) -> Cow<'_, str> {
    crate::jsonscan::Raw(j)
        .as_str()
        .unwrap_or_else(|| String::from_utf8_lossy(j))
}

/// One normalized log event.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Event<'a> {
    /// Event time (the payload's, else the runtime envelope's), UTC ns.
    pub ts: Option<Nanos>,
    /// Time the container runtime recorded (kubelet, CRI, docker envelope), UTC ns.
    pub runtime_ts: Option<Nanos>,
    /// Normalized severity.
    pub level: Option<Level>,
    /// Index into the registry's service names.
    pub service: u16,
    /// Index into the registry's format names.
    pub format: u16,
    /// The string slots of the schema.
    pub strs: [Option<Cow<'a, str>>; Slot::COUNT],
    /// HTTP status.
    pub status: Option<u16>,
    /// Latency in ms.
    pub duration_ms: Option<f64>,
    /// This line reports an HTTP request: index of its kind in the service's request chain.
    pub request: Option<u8>,
    /// This line starts or ends a timed span ([`crate::spans`]).
    pub span: Option<crate::spans::Mark>,
    /// Continuation rule for the lines after this event.
    pub multiline: Multiline,
    /// `ts` came from a time without a zone that is the writer's local time (SkillMeat's
    /// `asctime`), read at the `--assume-tz` offset; not for a format whose zone-less times are
    /// UTC (`naive_tz = "utc"`: SkillMeat's `utcnow().isoformat()`).
    pub naive_ts: bool,
    /// Remaining fields, collected only when the caller asks for them.
    pub extras: Vec<(Cow<'a, str>, Extra<'a>)>,
}

impl<'a> Event<'a> {
    /// Read a string slot.
    pub fn get(&self, slot: Slot) -> Option<&str> {
        self.strs[slot as usize].as_deref()
    }

    /// Set a string slot unless it is already set (first writer wins: formats list the richest
    /// source first).
    pub fn set_if_absent(&mut self, slot: Slot, value: Cow<'a, str>) {
        let cell = &mut self.strs[slot as usize];
        if cell.is_none() {
            *cell = Some(value);
        }
    }
}

/// A byte range of [`PackedEvent::buf`].
type Span = (u32, u32);

/// An event that outlives its input buffer, in one allocation: the payload line it was parsed
/// from, then any text that is not a slice of that line (unescaped JSON strings, joined
/// exceptions). Slots and extras are ranges of that buffer. Exported events are kept this
/// way until delivered: an owned [`Event`] cost an allocation per field, freed by another
/// thread.
#[derive(Clone, Debug)]
pub struct PackedEvent {
    /// The line, then the text the line does not hold verbatim.
    buf: String,
    /// Length of the line at the start of `buf`.
    line_len: u32,
    /// The event's scalars (its slots and extras are empty here).
    head: Event<'static>,
    strs: [Option<Span>; Slot::COUNT],
    /// Name, value, and whether the value is raw JSON.
    extras: Vec<(Span, Span, bool)>,
}

impl PackedEvent {
    /// Pack `ev`, whose borrowed text should be slices of `line` (other text is copied).
    pub fn pack(ev: &Event<'_>, line: &str) -> PackedEvent {
        let mut buf = String::with_capacity(line.len() + 64);
        buf.push_str(line);
        let line_len = u32::try_from(line.len()).unwrap_or(u32::MAX);
        // A slice of the line is found by its address.
        let in_line = |bytes: &[u8]| -> Option<Span> {
            let at = (bytes.as_ptr() as usize).wrapping_sub(line.as_ptr() as usize);
            let end = at.checked_add(bytes.len())?;
            line.get(at..end)?;
            Some((span_u32(at), span_u32(end)))
        };
        // Anything else goes at the end.
        let put = |buf: &mut String, text: &str| -> Span {
            in_line(text.as_bytes()).unwrap_or_else(|| {
                let start = buf.len();
                buf.push_str(text);
                (span_u32(start), span_u32(buf.len()))
            })
        };
        let strs = ev
            .strs
            .each_ref()
            .map(|s| s.as_deref().map(|t| put(&mut buf, t)));
        let extras = ev
            .extras
            .iter()
            .map(|(k, v)| {
                let key = put(&mut buf, k);
                match v {
                    Extra::Json(j) => match in_line(j) {
                        Some(span) => (key, span, true),
                        None => match std::str::from_utf8(j) {
                            Ok(t) => (key, put(&mut buf, t), true),
                            // What the JSON writers did with such bytes: a string of their text.
                            Err(_) => (key, put(&mut buf, &String::from_utf8_lossy(j)), false),
                        },
                    },
                    Extra::Str(t) => (key, put(&mut buf, t), false),
                }
            })
            .collect();
        PackedEvent {
            buf,
            line_len,
            head: Event {
                ts: ev.ts,
                runtime_ts: ev.runtime_ts,
                level: ev.level,
                service: ev.service,
                format: ev.format,
                status: ev.status,
                duration_ms: ev.duration_ms,
                request: ev.request,
                span: ev.span,
                multiline: ev.multiline,
                naive_ts: ev.naive_ts,
                ..Event::default()
            },
            strs,
            extras,
        }
    }

    /// The line the event was parsed from.
    pub fn line(&self) -> &str {
        self.buf.get(..self.line_len as usize).unwrap_or("")
    }

    fn text(&self, (a, b): Span) -> &str {
        self.buf.get(a as usize..b as usize).unwrap_or("")
    }

    /// The event, borrowing from this one.
    pub fn event(&self) -> Event<'_> {
        let h = &self.head;
        Event {
            ts: h.ts,
            runtime_ts: h.runtime_ts,
            level: h.level,
            service: h.service,
            format: h.format,
            status: h.status,
            duration_ms: h.duration_ms,
            request: h.request,
            span: h.span,
            multiline: h.multiline,
            naive_ts: h.naive_ts,
            strs: self.strs.map(|s| s.map(|s| Cow::Borrowed(self.text(s)))),
            extras: self
                .extras
                .iter()
                .map(|&(k, v, json)| {
                    let value = match json {
                        true => Extra::Json(Cow::Borrowed(self.text(v).as_bytes())),
                        false => Extra::Str(Cow::Borrowed(self.text(v))),
                    };
                    (Cow::Borrowed(self.text(k)), value)
                })
                .collect(),
        }
    }

    /// Set the event's latency (a span's end timed by its start, [`crate::spans`]).
    pub fn set_duration_ms(&mut self, ms: f64) {
        self.head.duration_ms = Some(ms);
    }

    /// Bytes of the exception text so far.
    pub fn exception_len(&self) -> usize {
        self.strs[Slot::Exception as usize].map_or(0, |(a, b)| b.saturating_sub(a) as usize)
    }

    /// Append a continuation line to the exception (after a newline, unless both are empty).
    pub fn append_exception(&mut self, line: &str) {
        let slot = Slot::Exception as usize;
        let end = span_u32(self.buf.len());
        let old = self.strs[slot];
        let start = match old {
            // Already the last text of the buffer (perhaps the end of the line): it grows in
            // place; appending changes no other range.
            Some((a, b)) if b == end => a,
            Some((a, b)) => {
                // Copied to the end of the buffer, where it can grow.
                let (a, b) = (a as usize, b as usize);
                if self.buf.get(a..b).is_some() {
                    self.buf.extend_from_within(a..b);
                }
                end
            }
            None => end,
        };
        if old.is_some_and(|(a, b)| a < b) || line.is_empty() {
            self.buf.push('\n');
        }
        self.buf.push_str(line);
        self.strs[slot] = Some((start, span_u32(self.buf.len())));
    }
}

/// Offsets within a packed event (its buffer is at most a capped line plus its fields).
fn span_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::{Event, Extra, Level, PackedEvent, Slot};
    use proptest::prelude::*;

    /// Every spelling `Level::parse` accepts, as a plain list (what the dispatch by first letter
    /// must agree with).
    const SPELLINGS: &[(&str, Level)] = &[
        ("info", Level::Info),
        ("information", Level::Info),
        ("notice", Level::Info),
        ("debug", Level::Debug),
        ("dbg", Level::Debug),
        ("warn", Level::Warn),
        ("warning", Level::Warn),
        ("error", Level::Error),
        ("err", Level::Error),
        ("eror", Level::Error),
        ("trace", Level::Trace),
        ("trc", Level::Trace),
        ("fatal", Level::Fatal),
        ("critical", Level::Fatal),
        ("crit", Level::Fatal),
        ("panic", Level::Fatal),
        ("emerg", Level::Fatal),
        ("emergency", Level::Fatal),
        ("alert", Level::Fatal),
        ("t", Level::Trace),
        ("d", Level::Debug),
        ("i", Level::Info),
        ("w", Level::Warn),
        ("e", Level::Error),
        ("f", Level::Fatal),
        ("c", Level::Fatal),
    ];

    fn by_list(s: &str) -> Option<Level> {
        let s = s.trim();
        SPELLINGS
            .iter()
            .find(|(a, _)| s.eq_ignore_ascii_case(a))
            .map(|&(_, l)| l)
    }

    #[test]
    fn level_spellings_in_any_case() {
        for &(a, l) in SPELLINGS {
            for v in [a.to_string(), a.to_uppercase(), format!(" {a}\t")] {
                assert_eq!(Level::parse(&v), Some(l), "{v:?}");
            }
        }
        for v in ["", " ", "x", "infos", "warnings", "errors", "é", "in fo"] {
            assert_eq!(Level::parse(v), None, "{v:?}");
        }
    }

    proptest! {
        #[test]
        fn level_parse_is_the_spelling_list(s in "[ a-zA-Z]{0,11}") {
            prop_assert_eq!(Level::parse(&s), by_list(&s));
        }
    }

    /// Code indexes per-slot arrays by `slot as usize` and walks them with `Slot::ALL`.
    #[test]
    fn all_lists_the_slots_in_discriminant_order() {
        assert_eq!(Slot::ALL.len(), Slot::COUNT);
        for (i, slot) in Slot::ALL.into_iter().enumerate() {
            assert_eq!(slot as usize, i, "{slot:?}");
        }
    }

    /// An event with scalars, owned text in every third slot, and extras of both kinds.
    fn sample(owned: &str) -> Event<'static> {
        Event {
            ts: Some(7),
            level: Some(Level::Warn),
            service: 1,
            status: Some(503),
            duration_ms: Some(1.5),
            strs: std::array::from_fn(|i| (i % 3 == 0).then(|| Cow::Owned(format!("{owned}{i}")))),
            extras: vec![
                (
                    Cow::Owned("k".into()),
                    Extra::Json(Cow::Owned(b"{\"a\":1}".to_vec())),
                ),
                (
                    Cow::Owned(owned.into()),
                    Extra::Str(Cow::Owned(owned.into())),
                ),
            ],
            ..Event::default()
        }
    }

    proptest! {
        /// Packing keeps every slot, extra and scalar: slices of the line by reference, other
        /// text copied.
        #[test]
        fn packed_events_read_back_as_they_were(
            line in "(?s).{0,60}",
            owned in "(?s).{0,12}",
            picks in proptest::collection::vec((0usize..80, 0usize..80), Slot::COUNT),
        ) {
            let mut ev = sample(&owned);
            // Slots that borrow from the line (on char boundaries).
            let bounds: Vec<usize> = (0..=line.len()).filter(|&i| line.is_char_boundary(i)).collect();
            for (i, &(a, b)) in picks.iter().enumerate() {
                if i % 3 == 1 {
                    let (a, b) = (bounds[a % bounds.len()], bounds[b % bounds.len()]);
                    let (a, b) = (a.min(b), a.max(b));
                    ev.strs[i] = Some(Cow::Borrowed(&line[a..b]));
                }
            }
            ev.extras.push((Cow::Borrowed(&line[..bounds[bounds.len() / 2]]), Extra::Json(Cow::Borrowed(line.as_bytes()))));
            let packed = PackedEvent::pack(&ev, &line);
            prop_assert_eq!(packed.line(), line.as_str());
            prop_assert_eq!(packed.event(), ev);
        }

        /// Continuation lines join the exception as the owned event did: after a newline,
        /// unless both the exception and the line are empty; wherever the exception was.
        #[test]
        fn exceptions_grow_as_strings_do(
            line in "[a-z ]{0,20}",
            start in 0usize..3,
            lines in proptest::collection::vec("[a-z]{0,4}", 0..5),
            message in proptest::option::of("[a-z]{0,3}"),
        ) {
            let mut ev = Event::default();
            ev.strs[Slot::Exception as usize] = match start {
                0 => None,
                1 => Some(Cow::Borrowed(&line[line.len() / 2..])),
                _ => Some(Cow::Owned("E".into())),
            };
            // Owned text after the line, or none.
            ev.strs[Slot::Message as usize] = message.clone().map(Cow::Owned);
            let mut want = ev.get(Slot::Exception).map(str::to_string);
            let mut packed = PackedEvent::pack(&ev, &line);
            for l in &lines {
                let mut s = want.take().unwrap_or_default();
                if !s.is_empty() || l.is_empty() {
                    s.push('\n');
                }
                s.push_str(l);
                want = Some(s);
                packed.append_exception(l);
                let got = packed.event();
                prop_assert_eq!(got.get(Slot::Exception), want.as_deref());
                prop_assert_eq!(got.get(Slot::Message), message.as_deref());
                prop_assert_eq!(packed.line(), line.as_str());
            }
        }
    }
}
