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
}

impl Target {
    /// Resolve a schema field name (`ts`, `level`, `status`, `duration_ms`, or a [`Slot`] name).
    pub fn from_name(name: &str) -> Option<Target> {
        Some(match name {
            "ts" | "timestamp" => Target::Ts,
            "level" => Target::Level,
            "status" => Target::Status,
            "duration_ms" => Target::DurationMs,
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

impl Extra<'_> {
    /// Copy into an owned value.
    pub fn into_owned(self) -> Extra<'static> {
        match self {
            Extra::Json(j) => Extra::Json(Cow::Owned(j.into_owned())),
            Extra::Str(s) => Extra::Str(Cow::Owned(s.into_owned())),
        }
    }
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
    /// Continuation rule for the lines after this event.
    pub multiline: Multiline,
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

    /// Copy every borrowed part so the event can outlive its input buffer.
    pub fn into_owned(self) -> Event<'static> {
        Event {
            ts: self.ts,
            runtime_ts: self.runtime_ts,
            level: self.level,
            service: self.service,
            format: self.format,
            strs: self.strs.map(|s| s.map(|c| Cow::Owned(c.into_owned()))),
            status: self.status,
            duration_ms: self.duration_ms,
            request: self.request,
            multiline: self.multiline,
            extras: self
                .extras
                .into_iter()
                .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Level, Slot};
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
}
