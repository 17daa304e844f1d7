//! The real captures in fixtures/samples: every line accounted for, requests counted once,
//! reports pinned by snapshots.

use super::{analyze_json, assert_accounted, bin, fixtures, ndjson, samples};

/// Request lines a human would count in each capture.
fn expected_requests(path: &std::path::Path) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let count = |needle: &str| text.lines().filter(|l| l.contains(needle)).count() as u64;
    if path.to_string_lossy().contains("skillmeat") {
        // One uvicorn access line per request, rate-limited ones included.
        count("uvicorn.access")
    } else {
        count("finished processing request") + count("response failed")
    }
}

#[test]
fn every_sample_line_is_accounted_for_with_nothing_unparsed() {
    for path in samples() {
        let p = path.to_str().unwrap();
        let r = analyze_json(&[p], b"");
        assert_accounted(&r["input"]);
        assert_eq!(r["input"]["unparsed_lines"], 0, "{p}: {}", r["input"]);
        let lines = std::fs::read_to_string(&path).unwrap().lines().count() as u64;
        assert_eq!(r["input"]["lines"], lines, "{p}");
        assert_eq!(r["requests"]["total"], expected_requests(&path), "{p}");
    }
}

#[test]
fn sample_reports_snapshot() {
    for path in samples() {
        let p = path.to_str().unwrap();
        // Input paths (slow requests, findings evidence) depend on the checkout location.
        let text = analyze_json(&[p], b"")
            .to_string()
            .replace(fixtures().to_str().unwrap(), "<fixtures>");
        let r: serde_json::Value = serde_json::from_str(&text).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_json_snapshot!(format!("report-{name}"), r);
    }
}

#[test]
fn terminal_report_snapshot() {
    let paths: Vec<String> = samples()
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["analyze", "--color", "never", "--slow-ms", "1000"];
    args.extend(paths.iter().map(String::as_str));
    let r = bin(&args, b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = r.stdout.replace(fixtures().to_str().unwrap(), "<fixtures>");
    insta::assert_snapshot!("terminal-all-samples", text);
}

#[test]
fn stdin_is_the_default_input() {
    let path = &samples()[0];
    let bytes = std::fs::read(path).unwrap();
    let from_stdin = bin(&["--format", "json"], &bytes);
    assert_eq!(from_stdin.code, 0, "{}", from_stdin.stderr);
    let a: serde_json::Value = serde_json::from_str(&from_stdin.stdout).unwrap();
    let b = analyze_json(&[path.to_str().unwrap()], b"");
    assert_eq!(a["requests"], b["requests"]);
    assert_eq!(a["endpoints"], b["endpoints"]);
    assert_eq!(a["input"]["lines"], b["input"]["lines"]);
}

#[test]
fn skillmeat_three_line_requests_keep_the_richest_data() {
    let path = super::fixtures().join("samples/skillmeat-structured.log");
    let r = analyze_json(&[path.to_str().unwrap()], b"");
    let health = r["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["route"] == "/health")
        .unwrap();
    // Two requests to /health; latency comes from the span / Request completed lines.
    assert_eq!(health["requests"], 2);
    assert_eq!(health["latency_samples"], 2);
    let rate_limited = r["requests"]["by_status_class"]["4xx"].as_u64().unwrap();
    assert!(rate_limited > 0);
}

#[test]
fn events_ndjson_fields_and_continuations() {
    let path = super::fixtures().join("samples/skillmeat-text-prod.log");
    let r = bin(&["events", "--level", "error", path.to_str().unwrap()], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let events = ndjson(&r.stdout);
    assert!(!events.is_empty());
    for e in &events {
        assert_eq!(e["level"], "error");
        assert!(e["ts"].as_str().unwrap().ends_with('Z'));
        assert_eq!(e["ts"].as_str().unwrap().len(), 30, "9 fractional digits");
    }
    // The traceback after "Span failed" is attached to it, ending with the exception line.
    let failed = events
        .iter()
        .find(|e| e["message"] == "Span failed: GET /api/v1/user-collections")
        .unwrap();
    let exc = failed["exception"].as_str().unwrap();
    assert!(
        exc.starts_with("Traceback (most recent call last):"),
        "{exc}"
    );
    assert!(
        exc.trim_end()
            .ends_with("jwt.exceptions.DecodeError: Not enough segments"),
        "{exc}"
    );
}

/// `events --format text`: one line per event (its traceback on indented lines under it), in
/// the layout of `trace`; the same events as the NDJSON form.
#[test]
fn events_as_text_for_people() {
    let info = std::fs::read_to_string(fixtures().join("samples/skreaver-info.log")).unwrap();
    let prefixed: String = info
        .lines()
        .map(|l| format!("[pod/sk-1/app] {l}\n"))
        .collect();
    let r = bin(&["events", "--format", "text"], prefixed.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("events-text-kubectl-prefixed", r.stdout);
    let errors = fixtures().join("samples/skillmeat-text-prod.log");
    let errors = errors.to_str().unwrap();
    let r = bin(
        &["events", "--format", "text", "--level", "error", errors],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("events-text-skillmeat-errors", r.stdout);

    for path in samples() {
        let path = path.to_str().unwrap();
        let json = bin(&["events", path], b"");
        let text = bin(
            &["events", "--format", "text", "--color", "never", path],
            b"",
        );
        assert_eq!(
            (json.code, text.code),
            (0, 0),
            "{}{}",
            json.stderr,
            text.stderr
        );
        let heads = text.stdout.lines().filter(|l| !l.starts_with(' ')).count();
        assert_eq!(heads, json.stdout.lines().count(), "{path}");
        assert!(!text.stdout.contains('\x1b'), "{path}");
        let coloured = bin(
            &["events", "--format", "text", "--color", "always", path],
            b"",
        );
        assert!(coloured.stdout.contains("\x1b["), "{path}");
    }
}

/// A log line cannot drive the terminal: control characters in messages and fields are
/// written as escapes, also with colour on.
#[test]
fn events_text_escapes_control_characters() {
    let line = b"{\"level\":\"error\",\"msg\":\"evil \\u001b]0;owned\\u0007 title\",\"who\":\"a\\u001b[2Jb\"}\n";
    let r = bin(&["events", "--format", "text", "--color", "always"], line);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(r"evil \u001b]0;owned\u0007 title"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(r#"="a\u001b[2Jb""#), "{}", r.stdout);
    // Our own colour codes are the only ESC bytes: each opens `ESC[` and a number.
    let ours = r.stdout.matches("\x1b[").count();
    assert_eq!(ours, r.stdout.matches('\x1b').count());
}

/// Error events are counted by kind: what varies between occurrences (a connection id) is
/// masked, what tells failures apart is kept, and warnings are not errors.
#[test]
fn top_errors_count_error_events_by_kind() {
    let line = |ts: &str, conn: &str, why: &str| {
        format!(
            r#"{{"timestamp":"2026-11-22T07:08:{ts}Z","level":"ERROR","fields":{{"message":"Error handling legacy message from {conn}: {why}"}},"target":"skreaver_http::websocket::handlers"}}"#
        )
    };
    let input = [
        line("49.554320", "27d74fa3-a403-43ee-8d7e-95fee56edb92", "Authentication failed: Invalid token"),
        line("50.000001", "0b6de5b0-705e-49d5-ab9b-9b0497919dd7", "Authentication failed: Invalid token"),
        line("51.000002", "8d598b70-f9d2-488c-a8e1-a5a29a3a46d8", "Permission denied"),
        line("52.000003", "c1aa0d75-1111-4222-8333-944444444444", "Authentication failed: Invalid token"),
        r#"{"timestamp":"2026-11-22T07:08:53.000000Z","level":"WARN","fields":{"message":"Error handling legacy message from 1: Permission denied"},"target":"skreaver_http::websocket::handlers"}"#.to_string(),
    ]
    .join("\n");
    let r = analyze_json(&[], input.as_bytes());
    let e = &r["top_errors"];
    assert_eq!(e["distinct"], 2, "{e:#}");
    assert_eq!(e["unkinded"], 0);
    let kinds = e["kinds"].as_array().unwrap();
    assert_eq!(kinds[0]["service"], "skreaver");
    assert_eq!(
        kinds[0]["signature"],
        "Error handling legacy message from *: Authentication failed: Invalid token"
    );
    assert_eq!(kinds[0]["events"], 3);
    assert_eq!(kinds[0]["first"], "2026-11-22T07:08:49.554320000Z");
    assert_eq!(kinds[0]["last"], "2026-11-22T07:08:52.000003000Z");
    assert_eq!(
        kinds[1]["signature"],
        "Error handling legacy message from *: Permission denied"
    );
    assert_eq!(kinds[1]["events"], 1);

    let text = bin(&["analyze"], input.as_bytes()).stdout;
    let section = &text[text.find("Top errors").expect("a Top errors section")..];
    assert!(
        section
            .contains("Error handling legacy message from *: Authentication failed: Invalid token"),
        "{section}"
    );
}
