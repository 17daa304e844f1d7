//! Data-driven format cases: fixtures/formats/cases.toml (one real line per format variant).

use std::collections::BTreeMap;

use logsleuth::filter::{Fields, Value};
use logsleuth::parse::{ParseOpts, Parsed, Registry};
use logsleuth::pipeline::{Origin, View};
use logsleuth::time::format_rfc3339_nanos;

#[derive(serde::Deserialize)]
struct Cases {
    case: Vec<Case>,
}

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    line: String,
    expect: BTreeMap<String, String>,
}

fn text(v: Value<'_>) -> String {
    match v {
        Value::Str(s) => s.into_owned(),
        Value::Num(n) => n.to_string(),
        Value::Level(l) => logsleuth::event::Level::ALL[l as usize]
            .as_str()
            .to_string(),
        Value::Time(t) => logsleuth::time::format_rfc3339_nanos(t),
    }
}

#[test]
fn every_case_parses_as_expected() {
    let reg = Registry::load(None).unwrap();
    let src = std::fs::read_to_string(super::fixtures().join("formats/cases.toml")).unwrap();
    let cases: Cases = toml::from_str(&src).unwrap();
    assert!(cases.case.len() >= 25);
    let opts = ParseOpts {
        assume_offset: 0,
        collect_extras: true,
    };
    let mut scratch = reg.scratch();
    let mut failures = Vec::new();
    for c in &cases.case {
        let Parsed::Event { ev, weak } = reg.parse(&c.line, &opts, &mut scratch) else {
            failures.push(format!("{}: not an event", c.name));
            continue;
        };
        let origin = Origin::default();
        let view = View {
            ev: &ev,
            reg: &reg,
            source: "case",
            line: 1,
            origin: &origin,
            raw: Some(&c.line),
            cut: false,
        };
        for (k, want) in &c.expect {
            let got = match k.as_str() {
                "weak" => Some(weak.to_string()),
                "ts" => ev.ts.map(format_rfc3339_nanos),
                "request" => ev
                    .request
                    .map(|i| reg.request_chain(ev.service)[i as usize].clone()),
                _ => view.field(k).map(text),
            };
            // `-` expects the field absent.
            let want_value = (want != "-").then_some(want.as_str());
            if got.as_deref() != want_value {
                failures.push(format!("{}: {k}: want {want:?}, got {got:?}", c.name));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn parsers_dir_adds_a_service_without_rust() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("billing.toml"),
        r#"
service = "billing"
request_chain = ["access"]
[[format]]
name = "billing-json"
kind = "json"
detect = ["svc", "msg"]
[format.fields]
ts = "at"
level = "sev"
message = "msg"
path = "upstream_url"
status = "upstream_code"
[[message]]
pattern = "served <method> <path> <status> in <duration_ms>ms"
request = "access"
"#,
    )
    .unwrap();
    let reg = Registry::load(Some(dir.path())).unwrap();
    let line = r#"{"svc":"billing","at":"2026-01-01T00:00:00Z","sev":"info","msg":"served GET /invoices/123 200 in 17ms"}"#;
    let opts = ParseOpts {
        assume_offset: 0,
        collect_extras: false,
    };
    let Parsed::Event { ev, .. } = reg.parse(line, &opts, &mut reg.scratch()) else {
        panic!()
    };
    assert_eq!(reg.service_name(ev.service), "billing");
    assert_eq!(ev.status, Some(200));
    assert_eq!(ev.duration_ms, Some(17.0));
    assert_eq!(
        ev.get(logsleuth::event::Slot::Route),
        Some("/invoices/{id}")
    );
    assert!(ev.request.is_some());
    // The service names its request lines: another line with a path and a status (a call it
    // made upstream) is not one.
    let call = r#"{"svc":"billing","at":"2026-01-01T00:00:01Z","sev":"warn","msg":"upstream failed","upstream_url":"/ledger/7","upstream_code":502}"#;
    let Parsed::Event { ev, .. } = reg.parse(call, &opts, &mut reg.scratch()) else {
        panic!()
    };
    assert_eq!(ev.status, Some(502));
    assert!(ev.request.is_none());
    let services: Vec<&str> = reg.services().collect();
    assert_eq!(services, ["skillmeat", "skreaver", "billing", "other"]);

    // A second file for the same service: which one counts would be up to the file order.
    let first = std::fs::read_to_string(dir.path().join("billing.toml")).unwrap();
    std::fs::write(dir.path().join("billing2.toml"), &first).unwrap();
    let err = Registry::load(Some(dir.path())).unwrap_err().to_string();
    assert!(
        err.contains("billing2.toml") && err.contains("service 'billing' is also defined by"),
        "{err}"
    );
    std::fs::remove_file(dir.path().join("billing2.toml")).unwrap();
    // Format names are kebab-case, as the report and `--where format = …` show them.
    std::fs::write(
        dir.path().join("billing.toml"),
        first.replace("billing-json", "Billing_JSON"),
    )
    .unwrap();
    let err = Registry::load(Some(dir.path())).unwrap_err().to_string();
    assert!(
        err.contains("format name 'Billing_JSON' must be kebab-case"),
        "{err}"
    );
}

#[test]
fn a_service_without_a_request_chain_counts_one_request_per_access_line() {
    // A Go gateway (zap JSON) whose definition maps the request fields and declares no chain:
    // each line with a status and a method or path is one request.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gateway.toml"),
        r#"
service = "gateway"
routes = ["/v1/users/{user_id}"]
[[format]]
name = "gateway-json"
kind = "json"
detect = ["ts", "caller", "msg"]
[format.fields]
ts = "ts"
level = "level"
message = "msg"
method = "method"
path = "uri"
status = "code"
duration_ms = "took_ms"
"#,
    )
    .unwrap();
    let log = dir.path().join("gw.log");
    std::fs::write(
        &log,
        concat!(
            r#"{"level":"info","ts":1795000000.123,"caller":"s.go:88","msg":"request","method":"GET","uri":"/v1/users/42","code":200,"took_ms":12.5}"#,
            "\n",
            r#"{"level":"error","ts":1795000001.5,"caller":"s.go:88","msg":"request","method":"POST","uri":"/v1/orders/9f8e7d6c5b","code":502,"took_ms":5012}"#,
            "\n",
            r#"{"level":"warn","ts":1795000002,"caller":"pool.go:12","msg":"pool busy","code":503}"#,
            "\n",
        ),
    )
    .unwrap();
    let r = crate::bin(
        &[
            "analyze",
            "--format",
            "json",
            "--parsers",
            dir.path().to_str().unwrap(),
            log.to_str().unwrap(),
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["requests"]["total"], 2, "{report}");
    let routes = crate::routes_of(&report);
    assert_eq!(routes, ["/v1/orders/{id}", "/v1/users/{user_id}"]);
    assert_eq!(
        report["time_range"]["first"],
        "2026-11-18T11:06:40.123000000Z"
    );
}

#[test]
fn a_service_declares_the_tracing_fmt_layout() {
    // Replaces the built-in Skreaver definition (same service), whose own tracing-fmt format
    // would otherwise claim the line first.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("ledger.toml"),
        r#"
service = "skreaver"
[[format]]
name = "ledger-text"
kind = "tracing-fmt"
kv = ["span_fields", "message"]
[format.fields]
trace_id = ["trace_id"]
"#,
    )
    .unwrap();
    let reg = Registry::load(Some(dir.path())).unwrap();
    let opts = ParseOpts {
        assume_offset: 0,
        collect_extras: true,
    };
    let line = "2026-11-22T07:09:46.768062Z  WARN settle{trace_id=abc123}: ledger::settle: retrying attempt=2";
    let Parsed::Event { ev, .. } = reg.parse(line, &opts, &mut reg.scratch()) else {
        panic!()
    };
    assert_eq!(reg.format_name(ev.format), "ledger-text");
    assert_eq!(ev.level, Some(logsleuth::event::Level::Warn));
    assert_eq!(
        ev.get(logsleuth::event::Slot::Logger),
        Some("ledger::settle")
    );
    assert_eq!(ev.get(logsleuth::event::Slot::Message), Some("retrying"));
    assert_eq!(ev.get(logsleuth::event::Slot::TraceId), Some("abc123"));
    assert_eq!(ev.ts, Some(1_795_331_386_768_062_000));

    std::fs::write(
        dir.path().join("ledger.toml"),
        "service = \"ledger\"\n[[format]]\nname = \"a\"\nkind = \"tracing-fmt\"\nregex = \"^x\"\n",
    )
    .unwrap();
    let err = Registry::load(Some(dir.path())).unwrap_err().to_string();
    assert!(
        err.contains("ledger.toml") && err.contains("drop `regex`"),
        "{err}"
    );
}

#[test]
fn bad_parser_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("x.toml"),
        "service = \"x\"\n[[format]]\nname = \"a\"\nkind = \"regex\"\nregex = \"(\"\n",
    )
    .unwrap();
    let err = Registry::load(Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains("x.toml") && err.contains("bad regex"), "{err}");
    std::fs::write(dir.path().join("x.toml"), "service = \"x\"\nbogus = 1\n").unwrap();
    let err = Registry::load(Some(dir.path())).unwrap_err().to_string();
    assert!(err.contains("unknown field"), "{err}");
}

#[test]
fn assume_tz_shifts_naive_timestamps_only() {
    let reg = Registry::load(None).unwrap();
    let opts = ParseOpts {
        assume_offset: 2 * 3600,
        collect_extras: false,
    };
    let naive = r#"{"time": "2026-11-22T06:57:50.391491", "level": "info", "msg": "m"}"#;
    let zoned = r#"{"time": "2026-11-22T06:57:50.391491Z", "level": "info", "msg": "m"}"#;
    // SkillMeat's runtime JSON: `utcnow()`, UTC without a zone (`naive_tz = "utc"`).
    let utc = r#"{"timestamp": "2026-11-22T06:57:50.391491", "level": "INFO", "logger": "x", "message": "m", "module": "m", "function": "f", "line": 1}"#;
    let ts = |l: &str| match reg.parse(l, &opts, &mut reg.scratch()) {
        Parsed::Event { ev, .. } => ev.ts.map(format_rfc3339_nanos),
        _ => None,
    };
    assert_eq!(ts(naive).unwrap(), "2026-11-22T04:57:50.391491000Z");
    assert_eq!(ts(zoned).unwrap(), "2026-11-22T06:57:50.391491000Z");
    assert_eq!(ts(utc).unwrap(), "2026-11-22T06:57:50.391491000Z");
}

// Regression: uvicorn pads `levelname:` to 9 characters, so only INFO had the 5 spaces the
// format demanded; WARNING/ERROR/CRITICAL lines fell to the generic `other` text format.
#[test]
fn uvicorn_lines_of_every_level_are_skillmeat() {
    let (events, _) = crate::events_of("uvicorn/levels.log", &[]);
    let got: Vec<(&str, &str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["service"].as_str().unwrap(),
                e["format"].as_str().unwrap(),
                e["level"].as_str().unwrap(),
                e["message"].as_str().unwrap(),
            )
        })
        .collect();
    let uv = ("skillmeat", "uvicorn-default");
    assert_eq!(
        got,
        [
            (
                uv.0,
                uv.1,
                "info",
                "Started reloader process [1] using StatReload"
            ),
            (uv.0, uv.1, "debug", "= connection is CONNECTING"),
            (
                uv.0,
                uv.1,
                "warn",
                "StatReload detected changes in 'skillmeat/api/server.py'. Reloading..."
            ),
            (
                uv.0,
                uv.1,
                "error",
                "Error loading ASGI app. Could not import module \"skillmeat.api.server\"."
            ),
            (uv.0, uv.1, "fatal", "boom"),
        ]
    );
    // The per-width level groups are the level's source, not extra fields.
    assert!(
        events.iter().all(|e| e.get("fields").is_none()),
        "{events:?}"
    );
}

// Regression: uvicorn logs a lifespan failure as `ERROR:    Traceback (most recent call
// last):` and the traceback after it; its final `RuntimeError: …` line became an event of its
// own and the blank line after it an unparsed line.
#[test]
fn a_traceback_opened_by_the_log_line_itself_is_attached_whole() {
    let (events, report) = crate::events_of("uvicorn/traceback.log", &[]);
    let messages: Vec<&str> = events
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "Started server process [7]",
            "Waiting for application startup.",
            "Traceback (most recent call last):",
            "Application startup failed. Exiting.",
        ]
    );
    let tb = &events[2];
    assert_eq!(tb["level"], "error");
    assert_eq!(tb["format"], "uvicorn-default");
    let exception = tb["exception"].as_str().unwrap();
    assert!(
        exception
            .starts_with("  File \"/usr/local/lib/python3.12/site-packages/starlette/routing.py\""),
        "{exception}"
    );
    assert!(
        exception.contains("\nRuntimeError: database unavailable"),
        "{exception}"
    );
    assert_eq!(
        report["input"]["continuation_lines"], 4,
        "{}",
        report["input"]
    );
    assert_eq!(report["input"]["unparsed_lines"], 0, "{}", report["input"]);
}

// Regression: SkillMeat's span names `/api/v1/artifacts/{id}` for `/api/v1/artifacts/deadbeef`
// (its normalized_path takes every hex string of 6+ characters, FORMATS.md §1.3), while the id
// rule wanted a digit: the span and the lines printing the path were two requests.
#[test]
fn a_skillmeat_hex_id_without_a_digit_is_one_request() {
    let path = super::fixtures().join("formats/skillmeat/hex-id-without-digit.log");
    let report = crate::analyze_json(&[path.to_str().unwrap()], b"");
    crate::assert_accounted(&report["input"]);
    assert_eq!(report["requests"]["total"], 1, "{}", report["requests"]);
    let routes = crate::routes_of(&report);
    assert_eq!(routes, ["/api/v1/artifacts/{id}"]);
}

// Skreaver's routes are not SkillMeat's: a segment of hex letters alone is a word there.
#[test]
fn skreaver_routes_keep_hex_letter_words() {
    let input = crate::tower_line(1, "GET", "/api/facade/deadbeef", 200) + "\n";
    let report = crate::analyze_json(&[], input.as_bytes());
    assert_eq!(report["endpoints"][0]["route"], "/api/facade/deadbeef");
}

/// `span = "start"` / `"end"` rules time a service's requests from its span lines: a start's
/// `<method>` and `<path>` only name the span (its event gets no request fields), the end's
/// request takes the duration. Rules that cannot name a span are clear errors.
#[test]
fn a_service_times_requests_by_its_span_lines() {
    let dir = tempfile::tempdir().unwrap();
    let spec = r#"
service = "jobs"
request_chain = ["done"]
[[format]]
name = "jobs-text"
kind = "regex"
regex = '^(?P<ts>[0-9T:.-]+Z) (?P<message>.*)$'
[[message]]
pattern = "begin <method> <path>"
span = "start"
[[message]]
pattern = "end <method> <path> -> <status>"
request = "done"
span = "end"
"#;
    std::fs::write(dir.path().join("jobs.toml"), spec).unwrap();
    let reg = Registry::load(Some(dir.path())).unwrap();
    let opts = ParseOpts {
        assume_offset: 0,
        collect_extras: true,
    };
    let Parsed::Event { ev, .. } = reg.parse(
        "2026-11-22T07:00:00Z begin RUN /jobs/42",
        &opts,
        &mut reg.scratch(),
    ) else {
        panic!()
    };
    assert_eq!(reg.service_name(ev.service), "jobs");
    assert!(ev.span.is_some() && ev.request.is_none());
    assert_eq!(ev.get(logsleuth::event::Slot::Path), None);
    assert!(ev.extras.is_empty(), "{:?}", ev.extras);
    let log = concat!(
        "2026-11-22T07:00:00Z begin RUN /jobs/42\n",
        "2026-11-22T07:00:01.5Z end RUN /jobs/42 -> 200\n",
    );
    let r = crate::bin(
        &[
            "analyze",
            "--format",
            "json",
            "--parsers",
            dir.path().to_str().unwrap(),
        ],
        log.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["requests"]["total"], 1, "{report}");
    assert_eq!(report["endpoints"][0]["route"], "/jobs/{id}");
    assert_eq!(report["endpoints"][0]["max_ms"], 1500.0);

    for (bad, says) in [
        (
            spec.replace("begin <method> <path>", "begin <path>"),
            "a span rule needs a pattern with <method> and <path>",
        ),
        (
            spec.replace("span = \"start\"", "span = \"start\"\nrequest = \"done\""),
            "a span's start is no request line",
        ),
        (
            spec.replace("span = \"start\"", "span = \"begin\""),
            "unknown variant `begin`",
        ),
    ] {
        std::fs::write(dir.path().join("jobs.toml"), bad).unwrap();
        let err = Registry::load(Some(dir.path())).unwrap_err().to_string();
        assert!(err.contains("jobs.toml") && err.contains(says), "{err}");
    }
}
