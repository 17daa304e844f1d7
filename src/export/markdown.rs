//! `report.md`: the terminal report of `analyze`, as Markdown for an incident ticket or
//! post-mortem — the same sections and rows (findings first, top 25 per table, correlation
//! last, as on the terminal), plus a header naming the run and whether the bundle is complete.
//!
//! Invariants: table cells are escaped (`|`, newlines), so any log text renders as one cell;
//! paths shown come through the caller's redaction.

use std::fmt::Write as _;

use super::Redacting;
use crate::analyze::Report;
use crate::output::cut_by_interrupt;

/// Rows per table, as on the terminal.
const ROWS: usize = 25;

/// What the header says about the run.
pub struct Header<'h> {
    /// The command line.
    pub argv: &'h [String],
    /// Run start, RFC3339.
    pub started: &'h str,
    /// Every input read to its end, no interrupt.
    pub complete: bool,
    /// Why not.
    pub incomplete_reasons: &'h [String],
    /// Redaction on.
    pub redacted: bool,
}

fn cell(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

fn table(out: &mut String, header: &[&str], right_from: usize, rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let align: Vec<&str> = (0..header.len())
        .map(|i| if i < right_from { "---" } else { "---:" })
        .collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}

fn ms(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if x >= 100.0 => format!("{x:.0}"),
        Some(x) => format!("{x:.1}"),
    }
}

/// Render the report; `redact` is applied to request paths.
pub fn render(r: &Report, h: &Header<'_>, redact: &mut Redacting<'_>) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Incident evidence — logsleuth report\n");
    let _ = writeln!(o, "- command: `{}`", h.argv.join(" ").replace('`', "'"));
    let _ = writeln!(o, "- run started: {}", h.started);
    let _ = writeln!(
        o,
        "- time range: {} .. {}",
        r.time_range.first.as_deref().unwrap_or("-"),
        r.time_range.last.as_deref().unwrap_or("-")
    );
    if h.complete {
        let _ = writeln!(o, "- bundle: complete");
    } else {
        let _ = writeln!(
            o,
            "- bundle: **incomplete** ({})",
            h.incomplete_reasons.join("; ")
        );
    }
    let _ = writeln!(
        o,
        "- secrets: {}",
        if h.redacted {
            "redacted (`[REDACTED:<kind>]`, counts in manifest.json)"
        } else {
            "**not redacted** (`--no-redact`)"
        }
    );

    findings(&mut o, r, redact);

    let i = &r.input;
    let _ = writeln!(o, "\n## Input\n");
    let _ = writeln!(
        o,
        "{} lines, {:.1} MB: {} events, {} continuation lines, {} unparsed, {} joined partials.",
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
            "{} truncated, {} invalid UTF-8, {} filtered out.",
            i.truncated, i.invalid_utf8, i.filtered_out
        );
    }
    if let Some(r) = &i.streams_released {
        let _ = writeln!(o, "- {}.", r.describe());
    }
    if i.cut_by_interrupt > 0 {
        let _ = writeln!(o, "- {}.", cut_by_interrupt(i.cut_by_interrupt));
    }
    for (reason, n) in &i.unparsed_reasons {
        let _ = writeln!(o, "- unparsed ({reason}): {n}");
    }
    for e in &i.read_errors {
        let _ = writeln!(o, "- **read error**: {}", cell(e));
    }
    for w in &i.warnings {
        let _ = writeln!(o, "- **warning**: {}", cell(w));
    }

    let _ = writeln!(o, "\n## Events by service and level\n");
    let rows: Vec<Vec<String>> = r
        .services
        .iter()
        .filter(|s| s.events > 0)
        .map(|s| {
            let l = &s.levels;
            [
                s.events, l.trace, l.debug, l.info, l.warn, l.error, l.fatal, l.unknown,
            ]
            .iter()
            .fold(vec![s.service.clone()], |mut v, n| {
                v.push(n.to_string());
                v
            })
        })
        .collect();
    table(
        &mut o,
        &[
            "service", "events", "trace", "debug", "info", "warn", "error", "fatal", "none",
        ],
        1,
        &rows,
    );

    let q = &r.requests;
    let c = &q.by_status_class;
    let _ = writeln!(o, "\n## Requests\n");
    let _ = writeln!(
        o,
        "{} total: {} 2xx, {} 3xx, {} 4xx, {} 5xx{}.",
        q.total,
        c.c2xx,
        c.c3xx,
        c.c4xx,
        c.c5xx,
        if c.unknown > 0 {
            format!(", {} without status", c.unknown)
        } else {
            String::new()
        }
    );
    if let Some(s) = q.span_latency.as_ref().filter(|s| s.worth_saying()) {
        let _ = writeln!(o, "\n{}.", s.describe(r.input.filtered_out > 0));
    }
    if !r.endpoints.is_empty() {
        let _ = writeln!(o, "\n### Endpoints (latency in ms)\n");
        let rows: Vec<Vec<String>> = r
            .endpoints
            .iter()
            .take(ROWS)
            .map(|e| {
                vec![
                    e.service.clone(),
                    e.method.clone(),
                    redact.text(&e.route),
                    e.requests.to_string(),
                    e.status_4xx.to_string(),
                    e.status_5xx.to_string(),
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
            3,
            &rows,
        );
        if r.endpoints.len() > ROWS {
            let _ = writeln!(
                o,
                "\n… {} more endpoints (all in endpoints.parquet).",
                r.endpoints.len() - ROWS
            );
        }
        if let Some(f) = &r.endpoints_folded {
            let _ = writeln!(
                o,
                "\nAbout {} endpoints beyond the first {} seen are folded into the `{}` rows: \
                 {} requests (requests.parquet has each with its route).",
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
        "\n## Error rate ({}s buckets with errors)\n",
        r.bucket_seconds
    );
    if busy.is_empty() {
        let _ = writeln!(o, "No 5xx responses and no error events.");
    } else {
        let skip = busy.len().saturating_sub(ROWS);
        let rows: Vec<Vec<String>> = busy
            .iter()
            .skip(skip)
            .map(|b| {
                vec![
                    b.bucket_start.clone(),
                    b.service.clone(),
                    b.requests.to_string(),
                    b.status_5xx.to_string(),
                    b.error_events.to_string(),
                ]
            })
            .collect();
        table(
            &mut o,
            &["bucket", "service", "requests", "5xx", "errors"],
            2,
            &rows,
        );
        if skip > 0 {
            let _ = writeln!(
                o,
                "\n… {skip} earlier buckets with errors (all in error_rate.parquet)."
            );
        }
    }

    let e = &r.top_errors;
    let _ = writeln!(o, "\n## Top errors (error and fatal events by kind)\n");
    if e.kinds.is_empty() && e.unkinded == 0 {
        let _ = writeln!(o, "No error events.");
    } else {
        let rows: Vec<Vec<String>> = e
            .kinds
            .iter()
            .map(|k| {
                vec![
                    k.service.clone(),
                    redact.text(&k.signature),
                    k.first.clone().unwrap_or_default(),
                    k.last.clone().unwrap_or_default(),
                    k.events.to_string(),
                ]
            })
            .collect();
        table(
            &mut o,
            &[
                "service",
                "message (`*` = varies)",
                "first",
                "last",
                "events",
            ],
            4,
            &rows,
        );
        if e.distinct > e.kinds.len() as u64 {
            let _ = writeln!(o, "\n… {} more kinds.", e.distinct - e.kinds.len() as u64);
        }
        if e.unkinded > 0 {
            let _ = writeln!(
                o,
                "\n{} error events without a message or beyond the kinds counted.",
                e.unkinded
            );
        }
    }

    let s = &r.slow_requests;
    let _ = writeln!(
        o,
        "\n## Slow requests (> {} ms): {}\n",
        s.threshold_ms, s.count
    );
    if !s.top.is_empty() {
        let rows: Vec<Vec<String>> = s
            .top
            .iter()
            .map(|t| {
                let origin = crate::output::slow_origin(t);
                vec![
                    format!("{:.0}", t.duration_ms),
                    t.service.clone(),
                    t.method.clone().unwrap_or_default(),
                    redact.text(t.path.as_deref().or(t.route.as_deref()).unwrap_or_default()),
                    t.status.map(|s| s.to_string()).unwrap_or_default(),
                    t.ts.clone().unwrap_or_default(),
                    origin,
                ]
            })
            .collect();
        table(
            &mut o,
            &["ms", "service", "method", "path", "status", "time", "from"],
            0,
            &rows,
        );
    }
    correlation(&mut o, r, redact);
    // Messages and paths are the log's own text: `cat report.md` must not run their escapes.
    crate::output::escape_controls(&o, false).into_owned()
}

/// Rule findings, most severe first (as on the terminal), with their evidence; messages come
/// through `redact`, like paths.
fn findings(o: &mut String, r: &Report, redact: &mut Redacting<'_>) {
    let Some(findings) = &r.findings else {
        return;
    };
    let _ = writeln!(o, "\n## Findings\n");
    if findings.is_empty() {
        let _ = writeln!(o, "No rule fired.");
        return;
    }
    for f in findings {
        let _ = writeln!(
            o,
            "### {} {} {} — {} ({}×)\n",
            f.severity.as_str().to_uppercase(),
            f.rule,
            f.name,
            cell(&f.title),
            f.count
        );
        let _ = writeln!(
            o,
            "- matches: {} .. {}",
            f.first.as_deref().unwrap_or("-"),
            f.last.as_deref().unwrap_or("-")
        );
        if !f.group.is_empty() {
            let _ = writeln!(o, "- group: {}", cell(&redact.text(&f.group_text())));
        }
        if let Some(d) = &f.detail {
            let _ = writeln!(o, "- {}", cell(d));
        }
        let _ = writeln!(o, "- runbook: {}", cell(&f.runbook));
        if !f.correlation_groups.is_empty() {
            let _ = writeln!(
                o,
                "- correlation groups: {}",
                cell(
                    &f.correlation_groups
                        .iter()
                        .map(|g| redact.group(g))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            );
        }
        let _ = writeln!(o);
        let rows: Vec<Vec<String>> = f
            .evidence
            .iter()
            .map(|e| {
                vec![
                    e.ts.clone().unwrap_or_default(),
                    match &e.pod {
                        Some(pod) => format!("{}:{} (pod/{pod})", e.source, e.line),
                        None => format!("{}:{}", e.source, e.line),
                    },
                    match &e.cause {
                        Some(cause) => redact.text(&format!("{} ↳ {cause}", e.message)),
                        None => redact.text(&e.message),
                    },
                ]
            })
            .collect();
        table(o, &["time", "from", "message"], 3, &rows);
        let _ = writeln!(o);
    }
}

/// The correlation section: counts and the top groups.
/// The correlation table; group ids and slowest requests through `redact` (a token can be an
/// agent id, or in a request's query string).
fn correlation(o: &mut String, r: &Report, redact: &mut Redacting<'_>) {
    let Some(c) = &r.correlation else {
        return;
    };
    let _ = writeln!(
        o,
        "\n## Correlation\n\n{} groups, {} merges, {} evicted (window {}s, at most {} open, peak {}).",
        c.groups, c.merges, c.evicted, c.window_seconds, c.max_open_groups, c.peak_open_groups
    );
    if c.top.is_empty() {
        return;
    }
    let _ = writeln!(o);
    let rows: Vec<Vec<String>> = c
        .top
        .iter()
        .map(|g| {
            vec![
                redact.group(&g.id),
                g.services.join(", "),
                g.first.clone().unwrap_or_default(),
                redact.text(g.slowest_request.as_deref().unwrap_or_default()),
                g.events.to_string(),
                g.errors.to_string(),
                format!("{:.1}", g.span_ms / 1000.0),
            ]
        })
        .collect();
    table(
        o,
        &[
            "group",
            "services",
            "first",
            "slowest request",
            "events",
            "errors",
            "span s",
        ],
        4,
        &rows,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_escaped() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
