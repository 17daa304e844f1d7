//! SkillMeat request latency from its span lines (`Starting span` … `Span completed`) where the
//! lines print no duration: the default runtime JSON and text formats (src/spans.rs).

use serde_json::Value;

use super::{analyze_json, bin, fixtures, ndjson};

fn sample(name: &str) -> String {
    fixtures()
        .join("samples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn endpoint<'r>(r: &'r Value, method: &str, route: &str) -> &'r Value {
    r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["method"] == method && e["route"] == route)
        .unwrap_or_else(|| panic!("no endpoint {method} {route}: {r}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Within the sketch's 1 % of `want`.
fn near(got: &Value, want: f64) -> bool {
    (f(got) - want).abs() <= want * 0.01
}

/// Durations computed by hand from the samples' timestamps (`Span completed` minus `Starting
/// span`, same route, in order):
///
/// skillmeat-text-prod.log, `GET /api/v1/user-collections` (ms precision): 05,078→05,514 = 436,
/// 05,526→05,547 = 21 (the `[error]` one, after its `Span failed`), 05,632→05,942 = 310,
/// 05,961→05,962 = 1, 05,984→06,001 = 17, 06,003→06,173 = 170. Sorted 1 17 21 170 310 436:
/// p95 is rank ⌊0.95·5⌋ = 4, 310 ms; max 436. `GET /api/v1/mcp/health`: 06,181→11,314 = 5133.
///
/// skillmeat-json-prod.log, same route: 50.440006→51.026757 = 586.751, 51.052340→51.100002 =
/// 47.662, 51.261948→51.639934 = 377.986, 51.659094→51.660608 = 1.514, 51.758276→51.759370 =
/// 1.094, 51.782348→52.141310 = 358.962: p95 377.986, max 586.751. `GET /api/v1/mcp/health`:
/// 06:57:52.150181→06:57:57.647457 = 5497.276.
#[test]
fn span_lines_give_latency_in_the_default_formats() {
    for (file, p95, max, mcp) in [
        ("skillmeat-text-prod.log", 310.0, 436.0, 5133.0),
        ("skillmeat-json-prod.log", 377.986, 586.751, 5497.276),
    ] {
        let r = analyze_json(&["--slow-ms", "5000", &sample(file)], b"");
        let e = endpoint(&r, "GET", "/api/v1/user-collections");
        assert_eq!(
            (&e["requests"], &e["latency_samples"]),
            (&6.into(), &6.into())
        );
        assert!(near(&e["p95_ms"], p95), "{file}: {e}");
        assert_eq!(f(&e["max_ms"]), max, "{file}: {e}");
        let m = endpoint(&r, "GET", "/api/v1/mcp/health");
        assert_eq!(f(&m["max_ms"]), mcp, "{file}");
        // Every endpoint has a latency for each of its requests; counts are the access lines.
        for e in r["endpoints"].as_array().unwrap() {
            assert_eq!(e["latency_samples"], e["requests"], "{file}: {e}");
        }
        assert_eq!(r["requests"]["total"], 14, "{file}");
        assert_eq!(
            r["requests"]["span_latency"],
            serde_json::json!({"paired": 14, "timed": 14, "without_start": 0, "expired": 0, "evicted": 0, "unfinished": 0}),
            "{file}"
        );
        // --slow-ms 5000 (the runbook's alert threshold) lists the MCP health check.
        let slow = &r["slow_requests"];
        assert_eq!(slow["count"], 1, "{file}: {slow}");
        assert_eq!(slow["top"][0]["route"], "/api/v1/mcp/health");
        assert_eq!(f(&slow["top"][0]["duration_ms"]), mcp);
        assert_eq!(slow["top"][0]["status"], 401);
    }
}

/// The StructuredFormatter's own `duration_ms` wins: the middleware's 3454.58 ms, not the
/// span's 07:01:15.217383→07:01:18.671662 (3454.279 ms).
#[test]
fn a_duration_the_line_prints_wins_over_the_span() {
    let r = analyze_json(&[&sample("skillmeat-structured.log")], b"");
    let m = endpoint(&r, "GET", "/api/v1/mcp/health");
    assert_eq!(f(&m["max_ms"]), 3454.58);
    // Its spans are paired all the same (one FIFO for every format), and give no latency.
    assert_eq!(r["requests"]["span_latency"]["paired"], 14);
    assert_eq!(r["requests"]["span_latency"]["timed"], 0);
}

/// A filter that drops the span lines keeps their duration for the request line it keeps:
/// `--where 'status >= 500'` keeps only `Request completed: … - 500` and its access line.
#[test]
fn a_request_kept_by_a_filter_takes_its_filtered_span_duration() {
    let r = analyze_json(
        &[
            "--where",
            "status >= 500",
            &sample("skillmeat-text-prod.log"),
        ],
        b"",
    );
    assert_eq!(r["requests"]["total"], 1);
    let e = endpoint(&r, "GET", "/api/v1/user-collections");
    assert_eq!(f(&e["max_ms"]), 21.0, "{e}");
    assert_eq!(r["requests"]["span_latency"]["timed"], 1);
    // `paired` is of every span line read (pairing needs the lines the filter drops), and the
    // terminal report says so beside the one request.
    assert!(r["requests"]["span_latency"]["paired"].as_u64().unwrap() > 1);
    let t = bin(
        &[
            "analyze",
            "--where",
            "status >= 500",
            &sample("skillmeat-text-prod.log"),
        ],
        b"",
    );
    assert!(
        t.stdout
            .contains("latency of 1 requests from span start/end lines")
            && t.stdout
                .contains("of all span lines read, before filters: "),
        "{}",
        t.stdout
    );
    // The request before it (436 ms, a 401) was filtered out whole: its duration is not taken
    // by the one line kept.
    let r = analyze_json(
        &[
            "--grep",
            "Request completed: .* - 500",
            &sample("skillmeat-text-prod.log"),
        ],
        b"",
    );
    assert_eq!(r["requests"]["total"], 1);
    let e = endpoint(&r, "GET", "/api/v1/user-collections");
    assert_eq!(f(&e["max_ms"]), 21.0, "{e}");
}

/// `events` shows the duration on the `Span completed` line (as the StructuredFormatter prints
/// it there), and `--where duration_ms` sees it: the runbook's "find slow requests" query.
#[test]
fn events_show_the_span_duration_and_where_sees_it() {
    let r = bin(
        &[
            "events",
            "--where",
            "duration_ms > 5000",
            &sample("skillmeat-json-prod.log"),
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let events = ndjson(&r.stdout);
    assert_eq!(events.len(), 1, "{}", r.stdout);
    assert_eq!(
        events[0]["message"],
        "Span completed: GET /api/v1/mcp/health [success]"
    );
    assert_eq!(f(&events[0]["duration_ms"]), 5497.276);
    // `analyze` decides on each line as it prints it: it says so.
    let r = bin(
        &[
            "analyze",
            "--where",
            "duration_ms > 5000",
            &sample("skillmeat-json-prod.log"),
        ],
        b"",
    );
    assert!(
        r.stderr.contains("`duration_ms` is what each line prints"),
        "{}",
        r.stderr
    );
    // The start shows none.
    let r = bin(
        &[
            "events",
            "--grep",
            "Starting span: GET /api/v1/mcp/health",
            &sample("skillmeat-json-prod.log"),
        ],
        b"",
    );
    let events = ndjson(&r.stdout);
    assert_eq!(events.len(), 1);
    assert!(events[0].get("duration_ms").is_none(), "{}", events[0]);
}

/// Two pods of one input (`kubectl logs --prefix`), their lines interleaved, requests of the same
/// route overlapping across pods: each pod pairs its own spans.
#[test]
fn interleaved_pods_keep_their_own_spans() {
    let line = |pod: &str, t: &str, logger: &str, level: &str, msg: &str| {
        format!("[pod/{pod}/api] 2026-11-22 07:00:{t} - {logger} - {level} - {msg}\n")
    };
    let tracing = "skillmeat.observability.tracing";
    let mw = "skillmeat.api.middleware.observability";
    let input = [
        line(
            "a",
            "00,000",
            tracing,
            "INFO",
            "Starting span: GET /api/v1/artifacts",
        ),
        line(
            "b",
            "00,100",
            tracing,
            "INFO",
            "Starting span: GET /api/v1/artifacts",
        ),
        line(
            "b",
            "00,150",
            tracing,
            "INFO",
            "Span completed: GET /api/v1/artifacts [success]",
        ),
        line(
            "b",
            "00,151",
            mw,
            "INFO",
            "Request completed: GET /api/v1/artifacts - 200",
        ),
        line(
            "a",
            "02,000",
            tracing,
            "INFO",
            "Span completed: GET /api/v1/artifacts [success]",
        ),
        line(
            "a",
            "02,001",
            mw,
            "INFO",
            "Request completed: GET /api/v1/artifacts - 200",
        ),
    ]
    .concat();
    let r = analyze_json(&["--slow-ms", "1000"], input.as_bytes());
    let e = endpoint(&r, "GET", "/api/v1/artifacts");
    assert_eq!(
        (&e["requests"], &e["latency_samples"]),
        (&2.into(), &2.into())
    );
    // One stack for both pods would have paired b's end with a's start (150 ms, then 1900).
    assert_eq!(f(&e["max_ms"]), 2000.0, "{e}");
    let slow = &r["slow_requests"];
    assert_eq!(slow["count"], 1, "{slow}");
    assert_eq!(slow["top"][0]["pod"], "a");
    assert_eq!(f(&slow["top"][0]["duration_ms"]), 2000.0);
}

/// A start whose request never completed, and an end whose start was never read, are counted
/// in the report; the other requests are timed, the counts unchanged.
#[test]
fn unpaired_span_lines_are_counted() {
    let line = |t: &str, msg: &str| {
        format!("2026-11-22 07:00:{t} - skillmeat.observability.tracing - INFO - {msg}\n")
    };
    let input = [
        line("00,000", "Span completed: GET /health [success]"),
        line("00,010", "Starting span: POST /api/v1/artifacts"),
        line("00,020", "Starting span: GET /health"),
        line("00,032", "Span completed: GET /health [success]"),
    ]
    .concat();
    let r = analyze_json(&[], input.as_bytes());
    assert_eq!(r["requests"]["total"], 2);
    let e = endpoint(&r, "GET", "/health");
    assert_eq!((&e["latency_samples"], f(&e["max_ms"])), (&1.into(), 12.0));
    assert_eq!(
        r["requests"]["span_latency"],
        serde_json::json!({"paired": 1, "timed": 1, "without_start": 1, "expired": 0, "evicted": 0, "unfinished": 1})
    );
}
