//! Writers: NDJSON events (`logsleuth events`), and the `analyze` report as JSON or as aligned
//! terminal tables. Diagnostics never go here: stdout carries data only.
//!
//! Every output read by people (terminal report, `board`, `trace`, `report.md`, `events
//! --format text`) writes the log's texts through [`one_line`]; all but text events then pass
//! [`escape_controls`] over the whole output last, so only our own colour codes survive. A new
//! human-facing output must do the same (`tests/it/bad_input.rs` checks it).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use crate::analyze::Report;
use crate::correlate::CorrelationReport;
use crate::event::{Extra, Level, Slot};
use crate::pipeline::{EventSink, UnparsedLine, View};
use crate::rules::Severity;
use crate::rules::engine::Finding;
use crate::time::format_rfc3339_nanos;

fn put_str(out: &mut Vec<u8>, key: &str, value: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    // Serializing a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Write one event as a line of NDJSON with the schema's field order; absent values are omitted.
///
/// # Errors
/// Output errors (a closed pipe included).
pub fn write_event(out: &mut dyn Write, v: &View<'_, '_>) -> io::Result<()> {
    let ev = v.ev;
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    buf.extend_from_slice(b"{\"ts\":");
    match ev.ts {
        Some(t) => {
            let _ = serde_json::to_writer(&mut buf, &format_rfc3339_nanos(t));
        }
        None => buf.extend_from_slice(b"null"),
    }
    if let Some(t) = ev.runtime_ts {
        put_str(&mut buf, "runtime_ts", &format_rfc3339_nanos(t));
    }
    put_str(&mut buf, "service", v.reg.service_name(ev.service));
    put_str(&mut buf, "format", v.reg.format_name(ev.format));
    put_str(&mut buf, "source", v.source);
    let _ = write!(LineBuf(&mut buf), ",\"line\":{}", v.line);
    let o = v.origin;
    for (k, val) in [
        ("namespace", o.namespace.as_deref()),
        ("pod", o.pod.as_deref()),
        ("container", o.container.as_deref()),
        ("container_id", o.container_id.as_deref()),
        ("stream", o.stream.map(|s| s.as_str())),
        ("level", ev.level.map(|l| l.as_str())),
    ] {
        if let Some(val) = val {
            put_str(&mut buf, k, val);
        }
        if k == "container_id" && !o.labels.is_empty() {
            buf.extend_from_slice(b",\"labels\":{");
            for (i, (lk, lv)) in o.labels.iter().enumerate() {
                if i > 0 {
                    buf.push(b',');
                }
                let _ = serde_json::to_writer(&mut buf, lk);
                buf.push(b':');
                let _ = serde_json::to_writer(&mut buf, lv);
            }
            buf.push(b'}');
        }
    }
    for slot in Slot::ALL {
        if slot == Slot::Exception {
            if let Some(s) = ev.status {
                let _ = write!(LineBuf(&mut buf), ",\"status\":{s}");
            }
            if let Some(d) = ev.duration_ms {
                let _ = write!(
                    LineBuf(&mut buf),
                    ",\"duration_ms\":{}",
                    serde_json::Number::from_f64(d).map_or("null".into(), |n| n.to_string())
                );
            }
        }
        if let Some(val) = ev.get(slot) {
            put_str(&mut buf, slot.name(), val);
        }
    }
    if v.cut {
        buf.extend_from_slice(b",\"cut\":true");
    }
    if !ev.extras.is_empty() {
        buf.extend_from_slice(b",\"fields\":{");
        for (i, (k, val)) in ev.extras.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            let _ = serde_json::to_writer(&mut buf, k.as_ref());
            buf.push(b':');
            match val {
                Extra::Json(j) if crate::event::is_valid_json(j) => buf.extend_from_slice(j),
                Extra::Json(j) => {
                    let text = crate::event::invalid_json_as_text(j);
                    let _ = serde_json::to_writer(&mut buf, text.as_ref());
                }
                Extra::Str(s) => {
                    let _ = serde_json::to_writer(&mut buf, s.as_ref());
                }
            }
        }
        buf.push(b'}');
    }
    buf.extend_from_slice(b"}\n");
    out.write_all(&buf)
}

/// `logsleuth events`: matching events as NDJSON.
pub struct NdjsonSink<'w> {
    out: &'w mut dyn Write,
}

impl<'w> NdjsonSink<'w> {
    /// Write to `out`.
    pub fn new(out: &'w mut dyn Write) -> Self {
        NdjsonSink { out }
    }
}

impl EventSink for NdjsonSink<'_> {
    fn event(&mut self, v: &View<'_, '_>, pass: bool) -> io::Result<()> {
        if pass {
            write_event(self.out, v)
        } else {
            Ok(())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Write one event as a line for people (`events --format text`), in the layout of `trace` and
/// the findings' evidence: time, service, level, `file:line`, the pod, the message, what the line
/// says of its request, identifiers and other fields as `key=value`; an exception or traceback
/// follows on indented lines. Control characters of the input are escaped, so a log line
/// cannot drive the terminal.
///
/// # Errors
/// Output errors (a closed pipe included).
pub fn write_event_text(out: &mut dyn Write, v: &View<'_, '_>, style: Style) -> io::Result<()> {
    let ev = v.ev;
    let mut o = String::with_capacity(256);
    let ts = ev.ts.map_or_else(|| "-".to_string(), format_rfc3339_nanos);
    let level = ev.level.map_or("-", |l| l.as_str());
    let level_colour = match ev.level {
        Some(Level::Error | Level::Fatal) => "31",
        Some(Level::Warn) => "33",
        Some(Level::Trace | Level::Debug) | None => "2",
        Some(Level::Info) => "",
    };
    let file = v.source.rsplit('/').next().unwrap_or(v.source);
    let _ = write!(
        o,
        "{}  {:<9} {}  {}",
        style.paint("2", &format!("{ts:<30}")),
        v.reg.service_name(ev.service),
        style.paint(level_colour, &format!("{level:<5}")),
        style.paint("2", &format!("{file}:{}", v.line)),
    );
    if v.cut {
        let _ = write!(o, " {}", style.paint("33", "[cut]"));
    }
    if let Some(pod) = &v.origin.pod {
        let _ = write!(o, " [pod/{}]", escaped(pod));
    }
    let message = ev.get(Slot::Message).map(str::trim_end).unwrap_or_default();
    o.push_str("  ");
    push_indented(&mut o, message);
    // The method and path only when the message does not already name the path (SkillMeat's
    // access lines do), as in `trace`.
    let path = ev.get(Slot::Path);
    let named = path.is_some_and(|p| message.contains(p));
    let request: Vec<&str> = [ev.get(Slot::Method), path]
        .into_iter()
        .flatten()
        .filter(|_| !named)
        .collect();
    if !request.is_empty() {
        let _ = write!(o, "  {}", escaped(&request.join(" ")));
    }
    // The status too is left out when the message names the path and the status.
    if let Some(s) = ev.status
        && !(named && message.contains(&s.to_string()))
    {
        let status = format!("→ {s}");
        let colour = if s >= 500 {
            "31"
        } else if s >= 400 {
            "33"
        } else {
            ""
        };
        let _ = write!(o, " {}", style.paint(colour, &status));
    }
    if let Some(d) = ev.duration_ms {
        let _ = write!(o, " ({d} ms)");
    }
    let key = |o: &mut String, k: &str| {
        let _ = write!(o, "  {}=", style.paint("2", k));
    };
    for slot in Slot::IDS {
        if let Some(val) = ev.get(slot) {
            key(&mut o, slot.name());
            push_value(&mut o, val);
        }
    }
    for (k, val) in &ev.extras {
        key(&mut o, &escaped(k));
        match val {
            // A JSON string shows as its text; numbers, booleans, arrays and objects as JSON.
            // (JSON delimits itself; valid JSON holds no raw control character).
            Extra::Json(j) => match serde_json::from_slice::<String>(j) {
                Ok(text) => push_value(&mut o, &text),
                Err(_) => o.push_str(&escaped(&String::from_utf8_lossy(j))),
            },
            Extra::Str(s) => push_value(&mut o, s),
        }
    }
    if let Some(x) = ev.get(Slot::Exception) {
        for line in x.trim_end().lines() {
            o.push_str("\n    ");
            o.push_str(&escaped(line));
        }
    }
    o.push('\n');
    out.write_all(o.as_bytes())
}

/// `s` with every control character (ESC, newline…) written as a `\u001b`-style escape.
fn escaped(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    let mut s = s.to_string();
    one_line(&mut s);
    Cow::Owned(s)
}

/// Text for a terminal or a file people `cat`, from log lines nobody vetted: every control
/// character but newline and tab is written as a `\u001b`-style escape (as JSON writes them),
/// so no log line can move the cursor, clear the screen, retitle the window or hide text.
/// With `keep_sgr` (our colour is on), colour sequences `ESC[…m` pass: the last pass over a
/// report whose log texts were made [`one_line`] first, so only our own are left.
pub fn escape_controls(s: &str, keep_sgr: bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if c == '\x1b'
            && keep_sgr
            && let Some(n) = sgr_len(rest)
        {
            out.push_str(&rest[..n]);
            rest = &rest[n..];
            continue;
        }
        if unsafe_char(c) {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    Cow::Owned(out)
}

/// Length of the colour sequence `ESC [ digits/semicolons m` at the start of `s`.
fn sgr_len(s: &str) -> Option<usize> {
    let params = s.strip_prefix("\x1b[")?;
    let n = params
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b';')
        .count();
    (params.as_bytes().get(n) == Some(&b'm')).then_some(2 + n + 1)
}

/// A multi-line text: its further lines indented under the event.
fn push_indented(o: &mut String, text: &str) {
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            o.push_str("\n    ");
        }
        o.push_str(&escaped(line.strip_suffix('\r').unwrap_or(line)));
    }
}

/// A text field value, quoted (JSON string syntax) when it is empty or holds spaces, quotes, `=` or
/// control characters, so `key=value` pairs stay unambiguous.
fn push_value(o: &mut String, val: &str) {
    let plain = !val.is_empty()
        && !val
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '='));
    if plain {
        o.push_str(val);
    } else {
        // Serializing a &str cannot fail.
        o.push_str(&serde_json::to_string(val).unwrap_or_default());
    }
}

/// `logsleuth events --format text`: matching events as lines for people.
pub struct TextSink<'w> {
    out: &'w mut dyn Write,
    style: Style,
}

impl<'w> TextSink<'w> {
    /// Write to `out`, coloured or not.
    pub fn new(out: &'w mut dyn Write, style: Style) -> Self {
        TextSink { out, style }
    }
}

impl EventSink for TextSink<'_> {
    fn event(&mut self, v: &View<'_, '_>, pass: bool) -> io::Result<()> {
        if pass {
            write_event_text(self.out, v, self.style)
        } else {
            Ok(())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// `logsleuth events --unparsed`: the lines that are no event, each with where it is and why
/// — as NDJSON (`source, line, namespace, pod, container, container_id, stream, reason,
/// text`) or, for people, `file:line [pod/NAME]  reason  text` (control characters escaped).
pub struct UnparsedSink<'w> {
    out: &'w mut dyn Write,
    text: bool,
    style: Style,
    shown: u64,
}

impl<'w> UnparsedSink<'w> {
    /// Write to `out`: lines for people when `text`, else NDJSON.
    pub fn new(out: &'w mut dyn Write, text: bool, style: Style) -> Self {
        UnparsedSink {
            out,
            text,
            style,
            shown: 0,
        }
    }

    /// Lines written so far.
    pub fn shown(&self) -> u64 {
        self.shown
    }
}

impl EventSink for UnparsedSink<'_> {
    fn event(&mut self, _v: &View<'_, '_>, _pass: bool) -> io::Result<()> {
        Ok(())
    }

    fn wants_events(&self) -> bool {
        false
    }

    fn unparsed(&mut self, u: &UnparsedLine<'_>) -> io::Result<()> {
        self.shown += 1;
        let o = u.origin;
        if self.text {
            let mut line = String::with_capacity(u.text.len() + 64);
            line.push_str(
                &self
                    .style
                    .paint("2", &format!("{}:{}", escaped(u.source), u.line)),
            );
            if let Some(pod) = &o.pod {
                let _ = write!(line, " [pod/{}]", escaped(pod));
            }
            let _ = write!(
                line,
                "  {}  {}",
                self.style.paint("33", u.reason.as_str()),
                escaped(u.text)
            );
            line.push('\n');
            return self.out.write_all(line.as_bytes());
        }
        let mut buf: Vec<u8> = Vec::with_capacity(u.text.len() + 128);
        buf.extend_from_slice(b"{\"source\":");
        let _ = serde_json::to_writer(&mut buf, u.source);
        let _ = write!(buf, ",\"line\":{}", u.line);
        for (key, value) in [
            ("namespace", &o.namespace),
            ("pod", &o.pod),
            ("container", &o.container),
            ("container_id", &o.container_id),
        ] {
            if let Some(v) = value {
                put_str(&mut buf, key, v);
            }
        }
        if let Some(stream) = o.stream {
            put_str(&mut buf, "stream", stream.as_str());
        }
        put_str(&mut buf, "reason", u.reason.as_str());
        put_str(&mut buf, "text", u.text);
        buf.extend_from_slice(b"}\n");
        self.out.write_all(&buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// `fmt::Write` over a byte buffer.
struct LineBuf<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for LineBuf<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Terminal styling.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    /// Emit ANSI colour.
    pub colour: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour && !code.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn head(&self, t: &str) -> String {
        self.paint("1", t)
    }
    fn bad(&self, n: u64) -> String {
        if n > 0 {
            self.paint("31", &n.to_string())
        } else {
            n.to_string()
        }
    }
}

/// Aligned columns; `align` has one `l` (left) or `r` (right) per column.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>], style: Style, align: &str) {
    let strip = |s: &str| -> usize {
        // Width without ANSI codes.
        let mut n = 0;
        let mut esc = false;
        for c in s.chars() {
            match (esc, c) {
                (false, '\x1b') => esc = true,
                (true, 'm') => esc = false,
                (true, _) => {}
                _ => n += 1,
            }
        }
        n
    };
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(strip(c));
            }
        }
    }
    let line = |out: &mut String, cells: &[String]| {
        let mut s = String::from("  ");
        for (i, c) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(strip(c));
            if align.as_bytes().get(i) == Some(&b'l') {
                s.push_str(c);
                s.push_str(&" ".repeat(pad));
            } else {
                s.push_str(&" ".repeat(pad));
                s.push_str(c);
            }
            s.push_str("  ");
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    let h: Vec<String> = header.iter().map(|h| style.head(h)).collect();
    line(out, &h);
    for r in rows {
        line(out, r);
    }
}

fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
    }
}

/// How many rows the terminal report shows per table.
const ROWS: usize = 25;

/// Error kinds shown on a terminal.
const TOP_ERROR_ROWS: usize = 10;

/// Render the report for a terminal (the log's own text with its control characters escaped).
pub fn render_text(r: &Report, style: Style) -> String {
    let r = for_people(r);
    let mut o = String::new();
    if let Some(f) = &r.findings {
        o.push_str(&render_findings(f, style));
    }
    o.push_str(&render_body(&r, style));
    escape_controls(&o, style.colour).into_owned()
}

/// A text from the log, for a line of a report: every control character — newline and ESC
/// included — as a `\u000a`-style escape, so it can neither start a line of its own nor
/// colour, hide or move anything.
pub fn one_line(s: &mut String) {
    if s.chars().any(char::is_control) {
        let mut out = String::with_capacity(s.len() + 8);
        for c in s.chars() {
            if c.is_control() {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            } else {
                out.push(c);
            }
        }
        *s = out;
    }
}

/// [`one_line`] for an optional text.
pub fn one_line_opt(s: &mut Option<String>) {
    if let Some(s) = s {
        one_line(s);
    }
}

/// The report with every text that comes from the log made [`one_line`]: what the terminal
/// report and the live board print.
pub fn for_people(r: &Report) -> Report {
    let mut r = r.clone();
    let opt = one_line_opt;
    for s in &mut r.services {
        one_line(&mut s.service);
    }
    for e in &mut r.endpoints {
        for s in [&mut e.service, &mut e.method, &mut e.route] {
            one_line(s);
        }
    }
    for t in &mut r.slow_requests.top {
        one_line(&mut t.service);
        one_line(&mut t.source);
        for s in [
            &mut t.method,
            &mut t.route,
            &mut t.path,
            &mut t.namespace,
            &mut t.pod,
            &mut t.container,
            &mut t.trace_id,
            &mut t.request_id,
        ] {
            opt(s);
        }
    }
    for b in &mut r.error_rate {
        one_line(&mut b.service);
    }
    if let Some(c) = &mut r.correlation {
        for g in &mut c.top {
            one_line(&mut g.id);
            for v in [
                &mut g.identifiers,
                &mut g.labels,
                &mut g.services,
                &mut g.sources,
            ] {
                v.iter_mut().for_each(one_line);
            }
            opt(&mut g.slowest_request);
        }
    }
    if let Some(findings) = &mut r.findings {
        for f in findings {
            f.group = std::mem::take(&mut f.group)
                .into_iter()
                .map(|(mut k, mut v)| {
                    one_line(&mut k);
                    one_line(&mut v);
                    (k, v)
                })
                .collect();
            opt(&mut f.detail);
            f.correlation_groups.iter_mut().for_each(one_line);
            for e in &mut f.evidence {
                one_line(&mut e.source);
                one_line(&mut e.message);
                opt(&mut e.pod);
                opt(&mut e.cause);
                opt(&mut e.correlation);
            }
        }
    }
    r
}

/// `  HIGH     DB001 name — title (12×`: a finding's first line, left open for the report and
/// the board to finish.
fn finding_headline(f: &Finding, style: Style) -> String {
    let sev = format!("{:<8}", f.severity.as_str().to_uppercase());
    format!(
        "  {} {} {} — {} ({}×",
        style.paint(severity_colour(f.severity), &sev),
        f.rule,
        f.name,
        f.title,
        f.count
    )
}

/// The findings one line each (the live board): severity, rule, title, count, last match;
/// at most `max`.
pub fn render_findings_brief(findings: &[Finding], style: Style, max: usize) -> String {
    let mut o = String::new();
    if findings.is_empty() {
        return o;
    }
    let _ = writeln!(o, "{}", style.head("Findings"));
    for f in findings.iter().take(max) {
        let last = f.last.as_deref().unwrap_or("-");
        let _ = writeln!(o, "{}, last {last})", finding_headline(f, style));
    }
    if findings.len() > max {
        let _ = writeln!(o, "  … {} more", findings.len() - max);
    }
    let _ = writeln!(o);
    o
}

/// What the input accounting's `cut_by_interrupt` means, for people.
pub fn cut_by_interrupt(n: u64) -> String {
    format!(
        "{n} partial last line{} left out: the interrupt stopped reading in the middle of it \
         (its bytes are in the bytes read, not in the lines)",
        if n == 1 { "" } else { "s" }
    )
}

/// The report without its findings: input, services, requests, endpoints, error rate, slow
/// requests, correlation.
pub fn render_body(r: &Report, style: Style) -> String {
    let mut o = String::new();
    let i = &r.input;
    let _ = writeln!(o, "{}", style.head("Input"));
    let _ = writeln!(
        o,
        "  {} lines, {:.1} MB: {} events, {} continuation lines, {} unparsed, {} joined partials",
        i.lines,
        i.bytes as f64 / 1e6,
        i.events,
        i.continuation_lines,
        i.unparsed_lines,
        i.joined_partials
    );
    if i.truncated + i.invalid_utf8 + i.filtered_out > 0 {
        let _ = writeln!(
            o,
            "  {} truncated, {} invalid UTF-8, {} filtered out",
            i.truncated, i.invalid_utf8, i.filtered_out
        );
    }
    if i.late_events + i.dropped_entries > 0 {
        let _ = writeln!(
            o,
            "  {} late events (beyond --max-delay), {} entries dropped by Loki's tail",
            i.late_events, i.dropped_entries
        );
    }
    if let Some(r) = &i.streams_released {
        let _ = writeln!(o, "  {}", r.describe());
    }
    if i.cut_by_interrupt > 0 {
        let _ = writeln!(o, "  {}", cut_by_interrupt(i.cut_by_interrupt));
    }
    for (reason, n) in &i.unparsed_reasons {
        // Where they are: `events --unparsed` prints them (not blank lines).
        let hint = if reason == "blank" {
            ""
        } else {
            " (`logsleuth events --unparsed` prints them)"
        };
        let _ = writeln!(o, "  unparsed ({reason}): {n}{hint}");
    }
    for e in &i.read_errors {
        let _ = writeln!(o, "  {}: {e}", style.paint("31", "read error"));
    }
    for w in &i.warnings {
        let _ = writeln!(o, "  {}: {w}", style.paint("33", "warning"));
    }
    let _ = writeln!(
        o,
        "  time range: {} .. {}",
        r.time_range.first.as_deref().unwrap_or("-"),
        r.time_range.last.as_deref().unwrap_or("-")
    );

    let _ = writeln!(o, "\n{}", style.head("Events by service and level"));
    let rows: Vec<Vec<String>> = r
        .services
        .iter()
        .filter(|s| s.events > 0)
        .map(|s| {
            let l = &s.levels;
            vec![
                s.service.clone(),
                s.events.to_string(),
                l.trace.to_string(),
                l.debug.to_string(),
                l.info.to_string(),
                l.warn.to_string(),
                style.bad(l.error),
                style.bad(l.fatal),
                l.unknown.to_string(),
            ]
        })
        .collect();
    table(
        &mut o,
        &[
            "service", "events", "trace", "debug", "info", "warn", "error", "fatal", "none",
        ],
        &rows,
        style,
        "lrrrrrrrr",
    );

    let q = &r.requests;
    let c = &q.by_status_class;
    let _ = writeln!(o, "\n{}", style.head("Requests"));
    let _ = writeln!(
        o,
        "  {} total: {} 2xx, {} 3xx, {} 4xx, {} 5xx{}",
        q.total,
        c.c2xx,
        c.c3xx,
        c.c4xx,
        style.bad(c.c5xx),
        if c.unknown > 0 {
            format!(", {} without status", c.unknown)
        } else {
            String::new()
        }
    );
    if let Some(s) = q.span_latency.as_ref().filter(|s| s.worth_saying()) {
        let _ = writeln!(o, "  {}", s.describe(r.input.filtered_out > 0));
    }
    if !r.endpoints.is_empty() {
        let _ = writeln!(o, "\n{}", style.head("Endpoints (latency in ms)"));
        let rows: Vec<Vec<String>> = r
            .endpoints
            .iter()
            .take(ROWS)
            .map(|e| {
                vec![
                    e.service.clone(),
                    e.method.clone(),
                    e.route.clone(),
                    e.requests.to_string(),
                    e.status_4xx.to_string(),
                    style.bad(e.status_5xx),
                    ms(e.p50_ms),
                    ms(e.p95_ms),
                    ms(e.p99_ms),
                    ms(e.max_ms),
                ]
            })
            .collect();
        table(
            &mut o,
            &[
                "service", "method", "route", "requests", "4xx", "5xx", "p50", "p95", "p99", "max",
            ],
            &rows,
            style,
            "lllrrrrrrr",
        );
        if r.endpoints.len() > ROWS {
            let _ = writeln!(
                o,
                "  … {} more endpoints (--format json lists all)",
                r.endpoints.len() - ROWS
            );
        }
        if let Some(f) = &r.endpoints_folded {
            let _ = writeln!(
                o,
                "  about {} endpoints beyond the first {} seen are folded into the {} rows: \
                 {} requests",
                f.endpoints,
                f.cap,
                crate::analyze::OTHER_ROUTES,
                f.requests
            );
        }
    }

    let busy: Vec<_> = r
        .error_rate
        .iter()
        .filter(|b| b.status_5xx > 0 || b.error_events > 0)
        .collect();
    let _ = writeln!(
        o,
        "\n{} ({}s buckets with errors)",
        style.head("Error rate"),
        r.bucket_seconds
    );
    if busy.is_empty() {
        let _ = writeln!(o, "  no 5xx responses and no error events");
    } else {
        let rows: Vec<Vec<String>> = busy
            .iter()
            .rev()
            .take(ROWS)
            .rev()
            .map(|b| {
                vec![
                    b.bucket_start.clone(),
                    b.service.clone(),
                    b.requests.to_string(),
                    style.bad(b.status_5xx),
                    style.bad(b.error_events),
                ]
            })
            .collect();
        table(
            &mut o,
            &["bucket", "service", "requests", "5xx", "errors"],
            &rows,
            style,
            "llrrr",
        );
        if busy.len() > ROWS {
            let _ = writeln!(o, "  … {} earlier buckets with errors", busy.len() - ROWS);
        }
    }

    let e = &r.top_errors;
    let _ = writeln!(
        o,
        "\n{} (error and fatal events by kind)",
        style.head("Top errors")
    );
    if e.kinds.is_empty() && e.unkinded == 0 {
        let _ = writeln!(o, "  no error events");
    } else {
        let rows: Vec<Vec<String>> = e
            .kinds
            .iter()
            .take(TOP_ERROR_ROWS)
            .map(|k| {
                vec![
                    style.bad(k.events),
                    k.service.clone(),
                    k.first.clone().unwrap_or_default(),
                    k.last.clone().unwrap_or_default(),
                    k.signature.clone(),
                ]
            })
            .collect();
        table(
            &mut o,
            &["events", "service", "first", "last", "message (* = varies)"],
            &rows,
            style,
            "rllll",
        );
        let more = e.distinct.saturating_sub(TOP_ERROR_ROWS as u64);
        if more > 0 {
            let _ = writeln!(
                o,
                "  … {more} more kinds (--format json lists {})",
                e.kinds.len()
            );
        }
        if e.unkinded > 0 {
            let _ = writeln!(
                o,
                "  {} error events without a message or beyond the kinds counted",
                e.unkinded
            );
        }
    }

    let s = &r.slow_requests;
    let _ = writeln!(
        o,
        "\n{} (> {} ms): {}",
        style.head("Slow requests"),
        s.threshold_ms,
        s.count
    );
    if !s.top.is_empty() {
        let rows: Vec<Vec<String>> = s
            .top
            .iter()
            .map(|t| {
                let origin = slow_origin(t);
                vec![
                    format!("{:.0}", t.duration_ms),
                    t.service.clone(),
                    t.method.clone().unwrap_or_default(),
                    t.path
                        .clone()
                        .or_else(|| t.route.clone())
                        .unwrap_or_default(),
                    t.status.map(|s| s.to_string()).unwrap_or_default(),
                    t.ts.clone().unwrap_or_default(),
                    origin,
                ]
            })
            .collect();
        table(
            &mut o,
            &["ms", "service", "method", "path", "status", "time", "from"],
            &rows,
            style,
            "rlllrll",
        );
    }
    if let Some(c) = &r.correlation {
        o.push_str(&render_correlation(c, style));
    }
    o
}

fn severity_colour(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        Severity::Low => "36",
        Severity::Info => "2",
    }
}

/// Most characters of an evidence message on the terminal ([`shorten`]).
const EVIDENCE_WIDTH: usize = 200;

/// `s` in at most about `max` characters: a longer text keeps its start and its end (where
/// messages put what an operator looks up: `…, Resets at: 2026-11-22 07:31:43+00:00`, the
/// exception after `…: `), joined by ` … `.
pub fn shorten(s: &str, max: usize) -> Cow<'_, str> {
    let n = s.chars().count();
    if n <= max {
        return Cow::Borrowed(s);
    }
    let tail = max * 2 / 5;
    let head = max.saturating_sub(tail + 3);
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    Cow::Owned(format!("{} … {}", start.trim_end(), end.trim_start()))
}

/// Where a slow request was logged: `file:line`, and the pod/container when known (a kubectl
/// `--prefix` input names them on every line; the line number finds it in the input).
pub fn slow_origin(t: &crate::analyze::SlowRequest) -> String {
    match (&t.pod, &t.container) {
        (Some(p), Some(c)) => format!("{}:{} {p}/{c}", t.source, t.line),
        _ => format!("{}:{}", t.source, t.line),
    }
}

/// The findings section (most severe first, as the report orders them).
pub fn render_findings(findings: &[Finding], style: Style) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "{}", style.head("Findings"));
    if findings.is_empty() {
        let _ = writeln!(o, "  none\n");
        return o;
    }
    for f in findings {
        let _ = writeln!(o, "{})", finding_headline(f, style));
        let _ = writeln!(
            o,
            "           {} .. {}",
            f.first.as_deref().unwrap_or("-"),
            f.last.as_deref().unwrap_or("-")
        );
        if !f.group.is_empty() {
            let _ = writeln!(o, "           group: {}", f.group_text());
        }
        if let Some(d) = &f.detail {
            let _ = writeln!(o, "           {d}");
        }
        let _ = writeln!(o, "           runbook: {}", f.runbook);
        for e in &f.evidence {
            let src = e.source.rsplit('/').next().unwrap_or(&e.source);
            let msg = shorten(&e.message, EVIDENCE_WIDTH);
            let pod = e
                .pod
                .as_deref()
                .map_or_else(String::new, |p| format!(" [pod/{p}]"));
            let _ = writeln!(
                o,
                "           {} {src}:{}{pod} {msg}",
                e.ts.as_deref().unwrap_or("-"),
                e.line
            );
            if let Some(cause) = &e.cause {
                let _ = writeln!(o, "             ↳ {}", shorten(cause, EVIDENCE_WIDTH));
            }
        }
        if !f.correlation_groups.is_empty() {
            let _ = writeln!(o, "           groups: {}", f.correlation_groups.join(", "));
        }
    }
    let _ = writeln!(o);
    o
}

/// The correlation section.
pub fn render_correlation(c: &CorrelationReport, style: Style) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\n{}\n  {} groups, {} merges, {} evicted (window {}s, at most {} open, peak {})",
        style.head("Correlation"),
        c.groups,
        c.merges,
        c.evicted,
        c.window_seconds,
        c.max_open_groups,
        c.peak_open_groups
    );
    if c.top.is_empty() {
        return o;
    }
    let rows: Vec<Vec<String>> = c
        .top
        .iter()
        .map(|g| {
            vec![
                g.id.clone(),
                g.events.to_string(),
                style.bad(g.errors),
                format!("{:.1}", g.span_ms / 1000.0),
                g.services.join(","),
                g.first.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(
        &mut o,
        &["group", "events", "errors", "span s", "services", "first"],
        &rows,
        style,
        "lrrrll",
    );
    o
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::escape_controls;

    #[test]
    fn controls_are_escaped_and_only_colour_may_pass() {
        let evil = "a\x1b]0;title\x07 b\x1b[2J c\r d\u{9b}31m e\x1b[31mred\x1b[0m\n\tf";
        assert_eq!(
            escape_controls(evil, false),
            "a\\u001b]0;title\\u0007 b\\u001b[2J c\\u000d d\\u009b31m e\\u001b[31mred\\u001b[0m\n\tf"
        );
        // With our colour on, `ESC[…m` passes; a screen clear (`ESC[2J`) or a title does not.
        assert_eq!(
            escape_controls(evil, true),
            "a\\u001b]0;title\\u0007 b\\u001b[2J c\\u000d d\\u009b31m e\x1b[31mred\x1b[0m\n\tf"
        );
        assert!(matches!(
            escape_controls("plain\ttext\n", false),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    proptest! {
        #[test]
        fn nothing_but_newline_tab_and_colour_survives(s in "(\\PC|[\\x00-\\x1f\\x7f\\u{80}-\\u{9f}]|\x1b\\[[0-9;]{0,3}m?){0,40}") {
            let plain = escape_controls(&s, false);
            prop_assert!(!plain.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
            let coloured = escape_controls(&s, true);
            for (i, _) in coloured.match_indices('\x1b') {
                let rest = &coloured[i + 2..];
                prop_assert!(coloured[i..].starts_with("\x1b["));
                let n = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b';').count();
                prop_assert_eq!(rest.as_bytes().get(n), Some(&b'm'));
            }
            prop_assert!(!coloured.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\x1b')));
        }
    }
}
