//! Live output while following (`analyze --follow`): the incident [`Board`] on a terminal, or
//! [`JsonSnapshots`] (one compact `logsleuth.report/1` document per line) when stdout is not a
//! terminal. Both are [`EventSink`]s that take only snapshots.
//!
//! # Invariants
//! * The board draws on the terminal's alternate screen, rewriting it in place (cursor home,
//!   each line cleared to its end), so it never adds to the scrollback; it is cut to the
//!   terminal's size, and the normal screen is restored when it is dropped (the final report is
//!   then printed as usual).
//! * Rendering ([`render_board`]) is pure: a report, the previous one, and a size in; text out.

use std::io::{self, Write};
use std::time::Instant;

use crate::analyze::Report;
use crate::output::{self, Style};
use crate::pipeline::{EventSink, View};

/// One JSON report per line to `out`.
pub struct JsonSnapshots<W: Write> {
    out: W,
}

impl<W: Write> JsonSnapshots<W> {
    /// Write snapshots to `out`.
    pub fn new(out: W) -> Self {
        JsonSnapshots { out }
    }
}

impl<W: Write> EventSink for JsonSnapshots<W> {
    fn event(&mut self, _v: &View<'_, '_>, _pass: bool) -> io::Result<()> {
        Ok(())
    }
    fn wants_events(&self) -> bool {
        false
    }
    fn snapshot(&mut self, report: &Report) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, report)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

/// The live board on a terminal.
pub struct Board<W: Write> {
    out: W,
    prev: Option<(Instant, u64, u64)>,
    started: bool,
    colour: bool,
}

impl<W: Write> Board<W> {
    /// Draw on `out` (a terminal).
    pub fn new(out: W, colour: bool) -> Self {
        Board {
            out,
            prev: None,
            started: false,
            colour,
        }
    }
}

/// The board's text for `r`, cut to `cols` × `rows`. `rates` = (events/s, requests/s).
pub fn render_board(
    r: &Report,
    rates: Option<(f64, f64)>,
    cols: usize,
    rows: usize,
    colour: bool,
) -> String {
    let mut lines: Vec<String> = Vec::new();
    let total = r.requests.total;
    let s5 = r.requests.by_status_class.c5xx;
    let err_pct = if total > 0 {
        s5 as f64 * 100.0 / total as f64
    } else {
        0.0
    };
    let rate = match rates {
        Some((e, q)) => format!("{e:.1} events/s  {q:.1} req/s"),
        None => "- events/s  - req/s".to_string(),
    };
    lines.push(format!(
        "logsleuth live — {rate} — 5xx {err_pct:.1}% of {total} req — Ctrl-C: report"
    ));
    lines.push(String::new());
    // Findings so far one line each (the report prints their evidence), then the report.
    let style = Style { colour };
    let r = &output::for_people(r);
    let findings = r.findings.as_deref().unwrap_or_default();
    let text = output::render_findings_brief(findings, style, 8) + &output::render_body(r, style);
    let text = output::escape_controls(&text, colour);
    lines.extend(text.lines().map(str::to_string));
    let rows = rows.max(3);
    let mut out = String::new();
    for l in lines.iter().take(rows - 1) {
        out.push_str(&cut(l, cols));
        out.push('\n');
    }
    if lines.len() > rows - 1 {
        out.push_str(&cut(
            &format!(
                "… {} more lines (widen the terminal)",
                lines.len() - (rows - 1)
            ),
            cols,
        ));
        out.push('\n');
    }
    out
}

/// Cut to `cols` visible characters, skipping ANSI sequences when counting.
fn cut(s: &str, cols: usize) -> String {
    let mut out = String::new();
    let mut visible = 0;
    let mut in_esc = false;
    for c in s.chars() {
        if in_esc {
            out.push(c);
            if c.is_ascii_alphabetic() {
                in_esc = false;
            }
            continue;
        }
        if c == '\x1b' {
            in_esc = true;
            out.push(c);
            continue;
        }
        if visible >= cols {
            continue;
        }
        visible += 1;
        out.push(c);
    }
    out
}

impl<W: Write> EventSink for Board<W> {
    fn event(&mut self, _v: &View<'_, '_>, _pass: bool) -> io::Result<()> {
        Ok(())
    }
    fn wants_events(&self) -> bool {
        false
    }
    fn snapshot(&mut self, r: &Report) -> io::Result<()> {
        let now = Instant::now();
        let rates = self.prev.map(|(t, e, q)| {
            let dt = now.duration_since(t).as_secs_f64().max(1e-3);
            (
                r.input.events.saturating_sub(e) as f64 / dt,
                r.requests.total.saturating_sub(q) as f64 / dt,
            )
        });
        self.prev = Some((now, r.input.events, r.requests.total));
        let (cols, rows) = terminal_size::terminal_size()
            .map_or((100, 30), |(w, h)| (usize::from(w.0), usize::from(h.0)));
        let text = render_board(r, rates, cols, rows, self.colour);
        if !self.started {
            // Alternate screen, cursor hidden.
            self.out.write_all(b"\x1b[?1049h\x1b[?25l")?;
            self.started = true;
        }
        self.out.write_all(b"\x1b[H")?;
        // No line break after the last line: on the terminal's last row it would scroll the
        // board's first line away.
        for (i, line) in text.lines().enumerate() {
            if i > 0 {
                self.out.write_all(b"\r\n")?;
            }
            self.out.write_all(line.as_bytes())?;
            self.out.write_all(b"\x1b[K")?;
        }
        self.out.write_all(b"\x1b[J")?;
        self.out.flush()
    }
}

impl<W: Write> Drop for Board<W> {
    fn drop(&mut self) {
        if self.started {
            let _ = self.out.write_all(b"\x1b[?25h\x1b[?1049l");
            let _ = self.out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_counts_visible_chars() {
        assert_eq!(cut("héllo", 3), "hél");
        assert_eq!(cut("\x1b[1mab\x1b[0mcd", 3), "\x1b[1mab\x1b[0mc");
    }
}
