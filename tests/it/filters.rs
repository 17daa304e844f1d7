//! --since/--until, --service, --level, --where, --grep on the real samples.

use super::{analyze_json, bin, fixtures};

fn events(args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["events"];
    all.extend_from_slice(args);
    let r = bin(&all, b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    r.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn sample(name: &str) -> String {
    fixtures()
        .join("samples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn where_status_and_route_regex() {
    let s = sample("skreaver-towerdebug.log");
    let ev = events(&["--where", r#"status >= 400 and route ~ "/agents""#, &s]);
    assert!(!ev.is_empty());
    for e in &ev {
        assert!(e["status"].as_u64().unwrap() >= 400);
        assert!(e["route"].as_str().unwrap().contains("/agents"));
    }
    let none = events(&["--where", "status >= 500", &s]);
    assert!(none.is_empty());
}

/// `exception` in `--where` sees the traceback lines attached to a text event (they follow its
/// first line), exactly as the NDJSON output shows them.
#[test]
fn where_on_exception_sees_attached_traceback_lines() {
    let s = sample("skillmeat-text-prod.log");
    let all = events(&[&s]);
    let by_hand: Vec<_> = all
        .iter()
        .filter(|e| {
            e["exception"]
                .as_str()
                .is_some_and(|x| x.contains("DecodeError"))
        })
        .collect();
    assert!(!by_hand.is_empty());
    let got = events(&["--where", r#"exception ~ "DecodeError""#, &s]);
    assert_eq!(got.iter().collect::<Vec<_>>(), by_hand);
    let rest = events(&["--where", r#"not exception ~ "DecodeError""#, &s]);
    assert_eq!(got.len() + rest.len(), all.len());
    let with = events(&["--where", "exception", &s]);
    assert_eq!(
        with.len(),
        all.iter().filter(|e| e["exception"].is_string()).count()
    );
    // `analyze` counts an event when it starts, before its traceback: it says so.
    let r = bin(&["analyze", "--where", r#"exception ~ "x""#, &s], b"");
    assert!(
        r.stderr.contains("tested on each event's own line"),
        "{}",
        r.stderr
    );
}

/// A number field compared with a value that is no number would compare text (`100ms` sorts
/// after `13.5`); a level with no level name would match nothing: both are errors.
#[test]
fn where_rejects_values_a_field_cannot_hold() {
    let s = sample("skillmeat-json-prod.log");
    for (expr, says) in [
        (
            "duration_ms > 100ms",
            r#"'duration_ms > 100ms': "100ms" is not a number"#,
        ),
        ("status < abc", r#""abc" is not a number"#),
        ("status in (401, 4xx)", r#""4xx" is not a number"#),
        ("level >= warnn", r#""warnn" is not a level name"#),
    ] {
        let r = bin(&["events", "--where", expr, &s], b"");
        assert_eq!(r.code, 2, "{expr}");
        assert!(r.stderr.contains(says), "{expr}: {}", r.stderr);
    }
    // A quoted number compares as a number with a number field, not as text.
    let quoted = events(&["--where", r#"duration_ms > "100""#, &s]);
    assert_eq!(quoted, events(&["--where", "duration_ms > 100", &s]));
    for ok in [
        r#"status = "401""#,
        "duration_ms > 1e2",
        "level in (warn, ERROR)",
    ] {
        let r = bin(&["events", "--where", ok, &s], b"");
        assert_eq!(r.code, 0, "{ok}: {}", r.stderr);
    }
}

/// Times compare as times (a text comparison puts `07:02:00.5Z` before `07:02:00Z`), and the
/// runtime's timestamp (`kubectl --timestamps`) is a field like `ts`.
#[test]
fn where_compares_times_as_times() {
    let input = b"2026-11-22T07:02:00.900000000Z {\"time\":\"2026-11-22T07:01:59.9Z\",\"level\":\"info\",\"msg\":\"a\"}\n\
2026-11-22T07:02:01.100000000Z {\"time\":\"2026-11-22T07:02:00.5Z\",\"level\":\"info\",\"msg\":\"b\"}\n";
    let msgs = |expr: &str| -> Vec<String> {
        let r = bin(&["events", "--format", "json", "--where", expr], input);
        assert_eq!(r.code, 0, "{expr}: {}", r.stderr);
        r.stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["message"].to_string())
            .collect()
    };
    assert_eq!(msgs("ts >= 2026-11-22T07:02:00Z"), [r#""b""#]);
    assert_eq!(msgs(r#"ts < "2026-11-22T09:02:00+02:00""#), [r#""a""#]);
    assert_eq!(msgs("runtime_ts < 2026-11-22T07:02:01Z"), [r#""a""#]);
    assert_eq!(msgs(r#"ts ~ "T07:01""#), [r#""a""#]);
    let r = bin(&["events", "--where", "ts > yesterday"], input);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("is not an RFC3339 time"), "{}", r.stderr);
}

/// A time without a zone in `--where` is read as `--since` reads one: at `--assume-tz` when
/// given, else UTC, and stderr says once how. It was read as UTC whatever `--assume-tz` said.
#[test]
fn where_time_without_a_zone_is_read_in_assume_tz_and_said_once() {
    let input = b"{\"time\":\"2026-11-22T07:01:59.9Z\",\"level\":\"info\",\"msg\":\"a\"}\n\
{\"time\":\"2026-11-22T07:02:00.5Z\",\"level\":\"info\",\"msg\":\"b\"}\n";
    let run = |args: &[&str]| -> (Vec<String>, String) {
        let mut all = vec!["events", "--format", "json"];
        all.extend_from_slice(args);
        let r = bin(&all, input);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let msgs = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["message"].to_string())
            .collect();
        (msgs, r.stderr)
    };
    let (msgs, stderr) = run(&["--where", "ts >= 2026-11-22T07:02:00"]);
    assert_eq!(msgs, [r#""b""#]);
    assert_eq!(
        stderr,
        "logsleuth: --where 'ts >= 2026-11-22T07:02:00' read as UTC; add Z or an offset such as +02:00\n"
    );
    let (msgs, stderr) = run(&[
        "--assume-tz",
        "+02:00",
        "--where",
        "ts >= 2026-11-22T09:02:00 and level >= info",
    ]);
    assert_eq!(msgs, [r#""b""#], "{stderr}");
    assert_eq!(
        stderr,
        "logsleuth: --where 'ts >= 2026-11-22T09:02:00' (2026-11-22T07:02:00Z) read as +02:00 (--assume-tz); add Z or an offset such as +02:00\n"
    );
    // With --since on the same line; a zone given in --where says nothing and wins.
    let (msgs, stderr) = run(&[
        "--assume-tz",
        "+02:00",
        "--since",
        "2026-11-22",
        "--where",
        "ts < 2026-11-22T09:02:00 or ts > 2026-11-22T07:03:00Z",
    ]);
    assert_eq!(msgs, [r#""a""#], "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "logsleuth: --since 2026-11-22 (2026-11-21T22:00:00Z) and --where 'ts < 2026-11-22T09:02:00' (2026-11-22T07:02:00Z) read as +02:00 (--assume-tz);"
        ),
        "{stderr}"
    );
    let (msgs, stderr) = run(&[
        "--assume-tz",
        "+02:00",
        "--where",
        "ts >= 2026-11-22T07:02:00Z",
    ]);
    assert_eq!((msgs, stderr.as_str()), (vec![r#""b""#.to_string()], ""));
}

#[test]
fn where_status_in_a_set() {
    // The runbooks' "401 or 403" question, as a set; `not in` is its complement.
    let s = sample("skillmeat-json-prod.log");
    let all = events(&[&s]);
    let auth = events(&["--where", "status in (401, 403)", &s]);
    let by_hand: Vec<_> = all
        .iter()
        .filter(|e| matches!(e["status"].as_u64(), Some(401 | 403)))
        .collect();
    assert!(!auth.is_empty());
    assert_eq!(auth.iter().collect::<Vec<_>>(), by_hand);
    let rest = events(&["--where", "status not in (401, 403)", &s]);
    assert_eq!(auth.len() + rest.len(), all.len());
    let r = bin(&["events", "--where", "status in (401 403)", &s], b"");
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("expected ')' to close the '('"),
        "{}",
        r.stderr
    );
}

#[test]
fn where_names_a_misspelt_field() {
    // `statuz` is no event field: read as an extra field (none has it), with a warning — a
    // typo otherwise just matches nothing. Schema and `fields.` names get no warning.
    let s = sample("skreaver-towerdebug.log");
    let r = bin(&["events", "--where", "statuz >= 400", &s], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains("'statuz' is not an event field"),
        "{}",
        r.stderr
    );
    let r = bin(
        &[
            "events",
            "--where",
            "status >= 400 and not fields.x = 1",
            &s,
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    assert!(!r.stdout.is_empty());
}

#[test]
fn where_on_extra_fields_and_not() {
    let s = sample("skreaver-info.log");
    let ev = events(&["--where", "fields.tool_name = no_such_tool", &s]);
    assert_eq!(ev.len(), 2);
    let not_warn = events(&["--where", "not level = warn", &s]);
    assert!(not_warn.iter().all(|e| e["level"] != "warn"));
}

#[test]
fn level_service_grep() {
    let all = [
        sample("skillmeat-json-prod.log"),
        sample("skreaver-info.log"),
    ];
    let mut args = vec!["--level", "error", "--service", "skreaver"];
    args.extend(all.iter().map(String::as_str));
    let ev = events(&args);
    assert!(!ev.is_empty());
    assert!(
        ev.iter().all(|e| e["service"] == "skreaver"
            && matches!(e["level"].as_str(), Some("error" | "fatal")))
    );
    let g = events(&["--grep", "Authentication failed", &all[1]]);
    assert_eq!(g.len(), 2);
}

#[test]
fn since_until_window_and_report_accounting() {
    let s = sample("skreaver-info.log");
    let r = analyze_json(
        &[
            "--since",
            "2026-11-22T07:08:49.5Z",
            "--until",
            "2026-11-22T07:08:50Z",
            &s,
        ],
        b"",
    );
    super::assert_accounted(&r["input"]);
    let kept: u64 = r["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["events"].as_u64().unwrap())
        .sum();
    assert_eq!(
        kept + r["input"]["filtered_out"].as_u64().unwrap(),
        r["input"]["events"].as_u64().unwrap()
    );
    assert!(r["time_range"]["first"].as_str().unwrap() >= "2026-11-22T07:08:49.5");
    assert!(kept > 0 && kept < 26);
}

/// `--since`/`--until` without a zone are read where the log's own zone-less times are:
/// `--assume-tz` when given, else UTC — and stderr says once how they were read. They were
/// read as UTC whatever `--assume-tz` said, without a word.
#[test]
fn since_without_a_zone_is_read_in_assume_tz_and_said_once() {
    let s = sample("skreaver-info.log"); // 26 events, 07:08:49.33Z to 07:08:50.57Z
    let run = |args: &[&str]| {
        let mut all = vec!["analyze", "--format", "json"];
        all.extend_from_slice(args);
        all.push(&s);
        let r = bin(&all, b"");
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        (report["input"]["filtered_out"].as_u64().unwrap(), r.stderr)
    };
    let (zoned, stderr) = run(&["--since", "2026-11-22T07:08:50Z"]);
    assert_eq!(zoned, 21);
    assert!(!stderr.contains("read as"), "{stderr}");
    let (out, stderr) = run(&["--since", "2026-11-22T07:08:50"]);
    assert_eq!(out, zoned);
    assert_eq!(
        stderr,
        "logsleuth: --since 2026-11-22T07:08:50 read as UTC; add Z or an offset such as +02:00\n"
    );
    // A SkillMeat asctime copied from a +02:00 container, read as --assume-tz says.
    let (out, stderr) = run(&["--assume-tz", "+02:00", "--since", "2026-11-22 09:08:50"]);
    assert_eq!(out, zoned, "{stderr}");
    assert_eq!(
        stderr,
        "logsleuth: --since 2026-11-22 09:08:50 (2026-11-22T07:08:50Z) read as +02:00 (--assume-tz); add Z or an offset such as +02:00\n"
    );
    // Both bounds without a zone: one line; a date alone is midnight there.
    let (out, stderr) = run(&[
        "--assume-tz",
        "+02:00",
        "--since",
        "2026-11-22",
        "--until",
        "2026-11-22T09:08:50",
    ]);
    assert_eq!(out, 26 - zoned, "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "logsleuth: --since 2026-11-22 (2026-11-21T22:00:00Z) and --until 2026-11-22T09:08:50 (2026-11-22T07:08:50Z) read as +02:00 (--assume-tz)"
        ),
        "{stderr}"
    );
    // A zone given wins over --assume-tz, and says nothing.
    let (out, stderr) = run(&[
        "--assume-tz",
        "+02:00",
        "--since",
        "2026-11-22T08:08:50+01:00",
    ]);
    assert_eq!((out, stderr.as_str()), (zoned, ""));
}

/// An event without a time (uvicorn's own lines, Python warnings: `ts` null) is judged by the
/// last timed event before it in its stream, and kept before any: `--since` dropped every one
/// of them, line 113 of the SkillMeat capture too, in the middle of the range.
#[test]
fn since_until_judge_untimed_events_by_the_last_time_before_them() {
    let s = sample("skillmeat-json-prod.log");
    let lines = |args: &[&str]| -> Vec<u64> {
        let mut all = args.to_vec();
        all.push(&s);
        events(&all)
            .iter()
            .map(|e| e["line"].as_u64().unwrap())
            .collect()
    };
    let untimed: Vec<u64> = events(&[&s])
        .iter()
        .filter(|e| e["ts"].is_null())
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(untimed, [1, 3, 5, 6, 113]);
    // Line 112 is at 06:58:01.039972, 115 at 06:58:01.040510; 1–6 come before any time.
    assert_eq!(
        lines(&[
            "--since",
            "2026-11-22T06:58:01.0399Z",
            "--until",
            "2026-11-22T06:58:01.0406Z"
        ]),
        [1, 3, 5, 6, 112, 113, 115]
    );
    assert_eq!(
        lines(&[
            "--since",
            "2026-11-22T06:58:01.04Z",
            "--until",
            "2026-11-22T06:58:01.0406Z"
        ]),
        [1, 3, 5, 6, 115]
    );
    // A range over the whole capture keeps every event.
    let r = analyze_json(&["--since", "2020-01-01T00:00:00Z", &s], b"");
    assert_eq!(r["input"]["filtered_out"], 0);
    assert_eq!(r["input"]["events"], 122);
}

/// A `--since` at or after `--until` can keep nothing: a usage error naming both values (it
/// ran, and only said that every event was filtered out).
#[test]
fn a_range_that_holds_no_time_is_a_usage_error() {
    let s = sample("skreaver-info.log");
    for (cmd, since, until, said) in [
        (
            "analyze",
            "2026-11-22T08:00:00Z",
            "2026-11-22T07:00:00Z",
            "--since 2026-11-22T08:00:00Z is after --until 2026-11-22T07:00:00Z",
        ),
        (
            "events",
            "2026-11-22T07:00:00Z",
            "2026-11-22T09:00:00+02:00",
            "--since 2026-11-22T07:00:00Z is the same time as --until 2026-11-22T09:00:00+02:00 (2026-11-22T07:00:00Z)",
        ),
        ("events", "1h", "2h", "--since 1h (20"),
    ] {
        let r = bin(&[cmd, "--since", since, "--until", until, &s], b"");
        assert_eq!(r.code, 2, "{since} {until}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "{}", r.stdout);
        assert!(
            r.stderr.starts_with("logsleuth: error: ")
                && r.stderr.contains(said)
                && r.stderr.contains(&format!("--until {until}")),
            "{}",
            r.stderr
        );
    }
}

/// `--grep` reads each event's own line: a traceback's text is in the lines attached to it,
/// which `--where 'exception ~ …'` reads. When --grep keeps nothing, stderr says so.
#[test]
fn grep_that_keeps_nothing_points_to_where_exception() {
    let s = sample("skillmeat-text-prod.log");
    let r = bin(&["events", "--grep", "ValueError", &s], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr.contains(
            r#"--grep reads each event's own line, not the traceback lines attached to it: `logsleuth events --where 'exception ~ "ValueError"'` finds an exception's text"#
        ),
        "{}",
        r.stderr
    );
    // What it points to finds them.
    assert!(!events(&["--where", r#"exception ~ "ValueError""#, &s]).is_empty());
    // Other filters that keep nothing: no such hint.
    let r = bin(&["events", "--level", "fatal", &s], b"");
    assert!(r.stderr.contains("filtered out") && !r.stderr.contains("exception ~"));
}

#[test]
fn bad_filter_arguments_are_usage_errors() {
    for args in [
        vec!["--where", "status >= "],
        vec!["--where", "route ~ \"(\""],
        vec!["--since", "yesterday-ish"],
        vec!["--level", "loud"],
        vec!["--service", "nope"],
        vec!["--bucket", "0"],
        vec!["--grep", "("],
        vec!["--assume-tz", "Mars/Olympus"],
    ] {
        let r = bin(&args, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.starts_with("logsleuth: error:"),
            "{args:?}: {}",
            r.stderr
        );
        assert!(r.stdout.is_empty());
    }
}

/// Filters that keep nothing say so, with when the input's events were: `--since 2h` on an
/// older capture printed an empty report and nothing else.
#[test]
fn filters_that_keep_nothing_say_when_the_events_were() {
    let s = sample("skreaver-info.log");
    let r = bin(&["analyze", "--since", "2h", "--format", "json", &s], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("events were filtered out (--since 20")
            && r.stderr
                .contains("the input's events run from 2026-11-22T07:08:"),
        "{}",
        r.stderr
    );
    let r = bin(&["events", "--level", "fatal", &s], b"");
    assert!(r.stdout.is_empty());
    assert!(r.stderr.contains("filtered out (--level)"), "{}", r.stderr);
    // Something kept: no such note.
    let r = bin(&["events", "--level", "error", &s], b"");
    assert!(!r.stdout.is_empty());
    assert!(!r.stderr.contains("filtered out"), "{}", r.stderr);
}
