//! Bad input never panics, never stops the run, and is always accounted for.

use std::io::Read;
use std::process::{Command, Stdio};

use serde_json::json;

use super::{analyze_json, assert_accounted, bin, ndjson};

#[test]
fn garbage_is_counted_and_the_rest_still_parsed() {
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"timestamp\":\"2026-11-22T07:08:49.327514Z\",\"level\":\"INFO\",\"fields\":{\"message\":\"ok\"},\"target\":\"t\"}\n");
    input.extend_from_slice(b"{\"timestamp\":\"2026-11-22T07:08:49.3275"); // truncated JSON
    input.push(b'\n');
    input.extend_from_slice(&[0u8, 1, 2, 3, 0xff, 0xfe, 0, 0, 7, 8, b'\n']); // binary
    input.extend_from_slice(b"caf\xc3 invalid utf-8 \xff here\n");
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"{\"timestamp\":\"2026-11-22T07:08:50.000000Z\",\"level\":\"ERROR\",\"fields\":{\"message\":\"still here\"},\"target\":\"t\"}");
    let r = analyze_json(&[], &input);
    assert_accounted(&r["input"]);
    let i = &r["input"];
    assert_eq!(i["lines"], 6);
    assert_eq!(i["unparsed_reasons"]["invalid_json"], 1);
    assert_eq!(i["unparsed_reasons"]["binary"], 1);
    assert_eq!(i["invalid_utf8"], 2, "binary line and the latin-1 line");
    assert_eq!(
        r["services"][1]["levels"]["error"], 1,
        "the last line, without a newline, is parsed"
    );
}

/// Skreaver prints `target` after `fields`: a long message cuts it off, and with it one of the
/// keys its format is detected by. A cut line is still a Skreaver event with its message.
#[test]
fn a_cut_skreaver_line_keeps_its_format() {
    let message = "x".repeat(20_000);
    let line = format!(
        r#"{{"timestamp":"2026-11-22T07:09:46.768062Z","level":"ERROR","fields":{{"message":"Agent failed: {message}"}},"target":"skreaver_http::runtime"}}"#
    );
    let r = bin(
        &["events", "--format", "json", "--max-line-bytes", "8192"],
        format!("{line}\n").as_bytes(),
    );
    let ev: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(
        (ev["service"].as_str(), ev["level"].as_str()),
        (Some("skreaver"), Some("error"))
    );
    assert!(
        ev["message"]
            .as_str()
            .unwrap()
            .starts_with("Agent failed: xxx")
    );
    // Generic JSON that happens to have a `fields` key (but its own time key) stays generic.
    let generic = format!(
        r#"{{"ts":"2026-11-22T07:00:01Z","level":"warn","fields":{{"user":"bob"}},"message":"{message}"}}"#
    );
    let r = bin(
        &["events", "--format", "json", "--max-line-bytes", "8192"],
        format!("{generic}\n").as_bytes(),
    );
    let ev: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(ev["service"], "other");
}

/// The line scanner checks a line's top level only: a nested value holding a raw control byte
/// or stray tokens is passed on as text, so NDJSON stays valid JSON on every line.
#[test]
fn malformed_nested_values_still_give_valid_ndjson() {
    let input = b"{\"time\":\"2026-11-22T07:00:00Z\",\"level\":\"info\",\"msg\":\"a\",\"func\":\"a\x13b\"}\n\
{\"time\":\"2026-11-22T07:00:01Z\",\"level\":\"info\",\"msg\":\"b\",\"span\":{\"a\":1 2 3 ]]]}}\n\
{\"time\":\"2026-11-22T07:00:02Z\",\"level\":\"info\",\"msg\":\"c\",\"extra\":{\"a\" \"b\"},\"n\":[1,2]}\n\
{\"time\":\"2026-11-22T07:00:03Z\",\"level\":\"info\",\"msg\":\"d\",\"x\":{\"y\":\"\\ud800\"},\"ok\":\"\\u00e9\"}\n";
    let r = bin(&["events", "--format", "json"], input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let events = ndjson(&r.stdout);
    assert_eq!(events.len(), 4);
    assert!(
        events[3]["fields"]["x"].is_string(),
        "a lone surrogate is no JSON text"
    );
    assert_eq!(events[3]["fields"]["ok"], "é");
    assert_eq!(events[0]["fields"]["func"], "a\u{13}b");
    assert_eq!(events[1]["fields"]["span"], "{\"a\":1 2 3 ]]]}");
    assert_eq!(events[2]["fields"]["extra"], "{\"a\" \"b\"}");
    assert_eq!(
        events[2]["fields"]["n"],
        serde_json::json!([1, 2]),
        "valid JSON stays JSON"
    );
}

/// A traceback of many frames is held for `events` like a joined record: capped at
/// `--max-line-bytes`, marked where it was cut, every line still counted.
#[test]
fn a_huge_traceback_is_capped_in_the_event() {
    let mut input = String::from(
        "2026-11-22 07:00:00,000 - skillmeat.api - ERROR - boom\nTraceback (most recent call last):\n",
    );
    for i in 0..2000 {
        input.push_str(&format!("  File \"/app/x.py\", line {i}, in f\n"));
    }
    input.push_str("RecursionError: maximum recursion depth exceeded\n");
    let r = bin(
        &["events", "--format", "json", "--max-line-bytes", "4096"],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let events = ndjson(&r.stdout);
    assert_eq!(events.len(), 1);
    let x = events[0]["exception"].as_str().expect("exception");
    assert!(x.len() < 4096 + 200, "{}", x.len());
    assert!(x.ends_with("[… cut at --max-line-bytes: further lines counted, not kept]"));
    assert_eq!(events[0]["cut"], true, "{}", events[0]);
    let a = analyze_json(&["--max-line-bytes", "4096"], input.as_bytes());
    assert_eq!(a["input"]["continuation_lines"], 2002);
}

/// An event whose text is not all there says so itself (`"cut": true`), not only the input's
/// `truncated` count: a line cut at `--max-line-bytes`, a JSON object the input ends in before
/// closing it (a process killed while writing it), a continuation line cut at the cap. Whole
/// events carry no `cut` at all.
#[test]
fn events_cut_at_the_cap_or_by_the_end_of_input_are_marked() {
    let long = "x".repeat(300);
    let input = format!(
        concat!(
            r#"{{"timestamp":"2026-11-22T07:00:00Z","level":"info","message":"short"}}"#,
            "\n",
            r#"{{"timestamp":"2026-11-22T07:00:01Z","level":"error","message":"long {long}"}}"#,
            "\n",
            "2026-11-22 07:00:02,000 - skillmeat.api - ERROR - whole\n",
            "Traceback (most recent call last):\n",
            "  File \"/app/x.py\", line 1, in f\n",
            "ValueError: whole\n",
            "2026-11-22 07:00:03,000 - skillmeat.api - ERROR - frame cut\n",
            "Traceback (most recent call last):\n",
            "  File \"/app/{long}.py\", line 1, in f\n",
            "ValueError: frame cut\n",
            r#"{{"timestamp":"2026-11-22T07:00:04Z","level":"ERROR","message":"FATAL out of mem"#,
        ),
        long = long
    );
    for args in [
        &["--max-line-bytes", "200"][..],
        &["--threads", "3", "--max-line-bytes", "200"],
    ] {
        let mut all = vec!["events", "--format", "json"];
        all.extend_from_slice(args);
        let r = bin(&all, input.as_bytes());
        assert_eq!(r.code, 0, "{}", r.stderr);
        let events = ndjson(&r.stdout);
        let cut: Vec<Option<&serde_json::Value>> = events.iter().map(|e| e.get("cut")).collect();
        let t = Some(&serde_json::Value::Bool(true));
        assert_eq!(cut, [None, t, None, t, t], "{events:#?}");
        assert_eq!(events[4]["message"], "FATAL out of mem");
        assert_eq!(events[4]["level"], "error");
        let a = analyze_json(args, input.as_bytes());
        assert_eq!(a["input"]["truncated"], 3, "{}", a["input"]);
    }
    // `--format text` marks them too.
    let r = bin(
        &["events", "--format", "text", "--max-line-bytes", "200"],
        input.as_bytes(),
    );
    assert_eq!(r.stdout.matches(" [cut] ").count(), 3, "{}", r.stdout);
}

/// `events` holds at most 4096 events waiting for a traceback's further lines. An event that
/// has to go out before its traceback ended stays its stream's open event, as it does for
/// `analyze` (which holds nothing): the traceback's later lines are its continuation lines in
/// both commands, not events of their own, and the event says it was cut.
#[test]
fn a_traceback_interrupted_by_thousands_of_events_is_counted_alike_by_events_and_analyze() {
    let mut input = String::from(concat!(
        "[pod/api-0/app] 2026-11-22 07:00:00,000 - skillmeat.api - ERROR - boom\n",
        "[pod/api-0/app] Traceback (most recent call last):\n",
        "[pod/api-0/app]   File \"/app/x.py\", line 1, in f\n",
    ));
    // More than 4096 events, and more than a chunk (1 MiB) of them: the merger looks at what it
    // holds after each chunk.
    let others = 12_000;
    let pad = "p".repeat(150);
    for i in 0..others {
        input.push_str(&format!(
            "[pod/web-1/app] {{\"timestamp\":\"2026-11-22T07:00:01Z\",\"level\":\"info\",\"message\":\"tick {i} {pad}\"}}\n"
        ));
    }
    input.push_str(concat!(
        "[pod/api-0/app]   File \"/app/x.py\", line 2, in g\n",
        "[pod/api-0/app]     raise ValueError(\"boom\")\n",
        "[pod/api-0/app] ValueError: boom\n",
        "[pod/api-0/app] 2026-11-22 07:00:02,000 - skillmeat.api - INFO - after\n",
    ));
    let a = analyze_json(&[], input.as_bytes());
    assert_accounted(&a["input"]);
    assert_eq!(a["input"]["events"], others + 2, "{}", a["input"]);
    assert_eq!(a["input"]["continuation_lines"], 5, "{}", a["input"]);
    for threads in ["1", "3"] {
        let r = bin(
            &["events", "--format", "json", "--threads", threads],
            input.as_bytes(),
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let events = ndjson(&r.stdout);
        assert_eq!(events.len(), others + 2, "threads {threads}");
        let boom = &events[0];
        assert_eq!(boom["message"], "boom");
        assert_eq!(boom["cut"], true, "{boom}");
        assert!(
            boom["exception"]
                .as_str()
                .unwrap()
                .ends_with("line 1, in f"),
            "{boom}"
        );
        assert_eq!(events[others + 1]["message"], "after");
        assert!(events[1..].iter().all(|e| e.get("cut").is_none()));
    }
}

#[test]
fn empty_input() {
    let r = analyze_json(&[], b"");
    assert_eq!(r["input"]["lines"], 0);
    assert_eq!(r["requests"]["total"], 0);
    let t = bin(&[], b"");
    assert_eq!(t.code, 0);
    assert!(t.stdout.contains("0 lines"));
}

#[test]
fn hundred_megabyte_line_is_truncated_not_dropped() {
    let mut input = Vec::with_capacity(101 << 20);
    input.extend_from_slice(b"{\"timestamp\":\"2026-11-22T07:08:49.327514Z\",\"level\":\"INFO\",\"fields\":{\"message\":\"");
    input.resize(input.len() + (100 << 20), b'x');
    input.extend_from_slice(b"\"},\"target\":\"t\"}\nafter the long line\n");
    let r = analyze_json(&[], &input);
    assert_accounted(&r["input"]);
    assert_eq!(r["input"]["lines"], 2);
    assert_eq!(r["input"]["truncated"], 1);
    // The cut record is closed where it was cut and parsed (a Skreaver event, although its
    // `target` came after the cut), and the next line is parsed too.
    assert_eq!(r["input"]["unparsed_lines"], 0);
    assert_eq!(r["services"][1]["events"], 1);
    assert_eq!(r["services"][2]["events"], 1);
}

/// A SkillMeat error line whose traceback runs past `--max-line-bytes` keeps its event: time,
/// level and message, the start of the traceback, and the finding it fires.
#[test]
fn a_json_line_cut_at_the_cap_keeps_its_event() {
    let frames: String = (0..800)
        .map(|i| format!(r#"  File \"/app/m{i}.py\", line {i}, in f\n    g()\n"#))
        .collect();
    let line = format!(
        r#"{{"timestamp": "2026-11-22T06:57:51.134055", "level": "ERROR", "logger": "skillmeat.api.server", "message": "Unexpected error for http://127.0.0.1:8765/api/v1/user-collections: maximum recursion depth exceeded", "module": "server", "function": "general_exception_handler", "line": 440, "exception": "Traceback (most recent call last):\n{frames}RecursionError: maximum recursion depth exceeded"}}"#
    );
    assert!(line.len() > 20_000);
    let input = format!("{line}\n");
    let r = analyze_json(&["--max-line-bytes", "8192"], input.as_bytes());
    assert_accounted(&r["input"]);
    assert_eq!(
        (
            r["input"]["truncated"].as_u64(),
            r["input"]["events"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(r["services"][0]["levels"]["error"], 1);
    let rules: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"ERR003"), "{rules:?}");
    let ev = bin(&["events", "--max-line-bytes", "8192"], input.as_bytes());
    let ev: serde_json::Value = serde_json::from_str(ev.stdout.trim()).unwrap();
    assert_eq!(ev["timestamp"], serde_json::Value::Null);
    assert_eq!(ev["ts"], "2026-11-22T06:57:51.134055000Z");
    assert!(
        ev["message"]
            .as_str()
            .unwrap()
            .ends_with("maximum recursion depth exceeded")
    );
    let exception = ev["exception"].as_str().unwrap();
    assert!(exception.starts_with("Traceback (most recent call last):\n  File \"/app/m0.py\""));
    assert!(
        exception.len() > 7_000 && exception.len() < 8192,
        "{}",
        exception.len()
    );
}

/// The last line of a pod killed while it wrote (OOM): a JSON object cut with no closing
/// brace and no newline. It was only counted unparsed; it is an event, closed where it was
/// cut, as a line cut at `--max-line-bytes` is (and counted `truncated`).
#[test]
fn a_json_line_cut_by_the_end_of_input_keeps_its_event() {
    let whole = r#"{"timestamp":"2026-11-22T07:08:49.329025Z","level":"WARN","fields":{"message":"Alerting enabled but no recipients or webhook configured"},"target":"skreaver_core::security::config"}"#;
    let cut = r#"{"timestamp":"2026-11-22T07:08:50.1Z","level":"ERROR","fields":{"message":"FATAL out of memory while allocating 1073741824 bytes for agent abc"#;
    let input = format!("{whole}\n{cut}");
    let r = analyze_json(&[], input.as_bytes());
    assert_accounted(&r["input"]);
    let n = |k: &str| r["input"][k].as_u64().unwrap();
    assert_eq!(
        (n("lines"), n("events"), n("unparsed_lines"), n("truncated")),
        (2, 2, 0, 1)
    );
    let r = bin(&["events", "--grep", "out of memory"], input.as_bytes());
    let ev = ndjson(&r.stdout);
    assert_eq!(ev.len(), 1, "{}", r.stderr);
    assert_eq!(
        (
            &ev[0]["line"],
            &ev[0]["level"],
            &ev[0]["ts"],
            &ev[0]["service"]
        ),
        (
            &json!(2),
            &json!("error"),
            &json!("2026-11-22T07:08:50.100000000Z"),
            &json!("skreaver")
        )
    );
    assert_eq!(
        ev[0]["message"],
        "FATAL out of memory while allocating 1073741824 bytes for agent abc"
    );
    // The same in a CRI log whose last `P` run never got its `F`.
    let cri = format!(
        "2026-11-22T07:08:50.000000001Z stdout F {whole}\n2026-11-22T07:08:50.100000001Z stdout P {}\n2026-11-22T07:08:50.100000002Z stdout P {}\n",
        &cut[..40],
        &cut[40..]
    );
    let r = analyze_json(&[], cri.as_bytes());
    assert_accounted(&r["input"]);
    let n = |k: &str| r["input"][k].as_u64().unwrap();
    assert_eq!(
        (n("events"), n("unparsed_lines"), n("truncated")),
        (2, 0, 1)
    );
    // A whole object without its newline is no cut; nor is a cut one with more lines after it.
    let r = analyze_json(&[], whole.as_bytes());
    assert_eq!(
        (
            r["input"]["events"].as_u64(),
            r["input"]["truncated"].as_u64()
        ),
        (Some(1), Some(0))
    );
    let r = analyze_json(&[], format!("{cut}\n{whole}\n").as_bytes());
    assert_eq!(r["input"]["unparsed_lines"], 1);
}

#[test]
fn long_cri_run_is_capped_and_counted() {
    let mut input = String::new();
    for _ in 0..40 {
        input.push_str("2026-11-22T06:54:16.379285856+00:00 stdout P ");
        input.push_str(&"y".repeat(1000));
        input.push('\n');
    }
    input.push_str("2026-11-22T06:54:16.379285856+00:00 stdout F end\n");
    let r = analyze_json(&["--max-line-bytes", "10000"], input.as_bytes());
    assert_accounted(&r["input"]);
    assert_eq!(r["input"]["truncated"], 1);
    assert_eq!(r["input"]["joined_partials"], 40);
    assert_eq!(r["input"]["events"], 1);
}

#[test]
fn missing_input_fails_before_any_output() {
    let ok = super::samples()[0].to_string_lossy().into_owned();
    let r = bin(
        &[
            "events",
            &ok,
            "/nonexistent/x.log",
            "/nonexistent/dir/*.log",
        ],
        b"",
    );
    assert_eq!(r.code, 2);
    assert!(r.stdout.is_empty(), "no output before the error");
    assert!(r.stderr.contains("/nonexistent/x.log"), "{}", r.stderr);
    assert!(r.stderr.contains("/nonexistent/dir/*.log"), "{}", r.stderr);
}

#[test]
fn an_error_names_its_cause_once() {
    let r = bin(
        &["analyze", "--parsers", "/nonexistent/parsers", "/dev/null"],
        b"",
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("/nonexistent/parsers"), "{}", r.stderr);
    assert_eq!(
        r.stderr.matches("No such file or directory").count(),
        1,
        "{}",
        r.stderr
    );
}

#[test]
fn error_text_keeps_the_causes_a_message_does_not_say() {
    let e = anyhow::Error::new(std::io::Error::other("disk full")).context("writing 'x'");
    assert_eq!(logsleuth::app::error_text(&e), "writing 'x': disk full");
}

#[test]
fn unreadable_input_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("secret.log");
    std::fs::write(&p, "x\n").unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    if std::fs::File::open(&p).is_ok() {
        // Running as root: permissions do not stop reads, nothing to test.
        return;
    }
    let r = bin(&[p.to_str().unwrap()], b"");
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("secret.log") && r.stderr.contains("permission denied"),
        "{}",
        r.stderr
    );
}

#[test]
fn input_that_disappears_is_reported_and_the_rest_processed() {
    use logsleuth::pipeline::{Input, InputKind};
    use logsleuth::source::files::PathMeta;
    let sample = &super::samples()[0];
    let inputs = [
        Input {
            name: "gone.log".into(),
            kind: InputKind::File("/nonexistent/gone.log".into()),
            meta: PathMeta::default(),
            size: None,
        },
        Input {
            name: "ok".into(),
            kind: InputKind::File(sample.clone()),
            meta: PathMeta::default(),
            size: None,
        },
    ];
    let reg = logsleuth::parse::Registry::load(None).unwrap();
    let mut settings = super::analyze_settings();
    settings.threads = 2;
    let logsleuth::pipeline::Outcome::Report(r) =
        logsleuth::pipeline::run(&inputs, &reg, &settings, &mut []).unwrap()
    else {
        panic!()
    };
    assert_eq!(r.input.read_errors.len(), 1);
    assert!(r.input.read_errors[0].contains("gone.log"));
    assert!(r.input.events > 0);
}

#[test]
fn closed_stdout_ends_quietly_with_zero() {
    // Enough output that the writer hits the closed pipe: 200k events; and a JSON report of
    // 5000 one-minute error buckets (the report is written by serde, whose error wraps the
    // pipe's).
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("big.log");
    let line = "{\"timestamp\":\"2026-11-22T07:08:49.327514Z\",\"level\":\"INFO\",\"fields\":{\"message\":\"m\"},\"target\":\"t\"}\n";
    std::fs::write(&events, line.repeat(200_000)).unwrap();
    let buckets = dir.path().join("buckets.log");
    let lines: String = (0..5000i64)
        .map(|m| {
            let t = 1_795_000_000 + m * 60;
            format!("{{\"time\":{t},\"level\":\"error\",\"message\":\"m\"}}\n")
        })
        .collect();
    std::fs::write(&buckets, lines).unwrap();
    for args in [
        vec!["events", events.to_str().unwrap()],
        vec!["analyze", "--format", "json", buckets.to_str().unwrap()],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_logsleuth"))
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let mut first = [0u8; 100];
        out.read_exact(&mut first).unwrap();
        drop(out);
        let status = child.wait().unwrap();
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        assert_eq!(status.code(), Some(0), "{args:?}: stderr: {err}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
}

/// README: a directory that holds no file to read (empty, or only kubelet's `.tmp` files) is
/// an input error without `-f`, as a glob matching nothing is (with `-f` both wait).
#[test]
fn a_directory_with_nothing_to_read_is_an_input_error() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty");
    let tmp_only = tmp.path().join("tmponly");
    std::fs::create_dir_all(empty.join("sub")).unwrap();
    std::fs::create_dir_all(&tmp_only).unwrap();
    std::fs::write(tmp_only.join("0.log.20261122-070000.tmp"), "x\n").unwrap();
    for dir in [&empty, &tmp_only] {
        let d = dir.display().to_string();
        for cmd in ["analyze", "events"] {
            let r = bin(&[cmd, &d], b"");
            assert_eq!(r.code, 2, "{cmd} {d}: {}", r.stderr);
            assert!(r.stdout.is_empty(), "{}", r.stdout);
            assert!(
                r.stderr
                    .contains(&format!("directory '{d}' holds no files to read")),
                "{}",
                r.stderr
            );
        }
    }
}

#[test]
fn own_output_inside_a_walked_directory_is_not_read() {
    // `logsleuth events DIR > DIR/out.ndjson`: the shell creates the output file before the
    // run; reading it would feed the output back in (endlessly with --follow).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("app.log"),
        "{\"level\":\"info\",\"message\":\"one\"}\n",
    )
    .unwrap();
    let out_path = dir.path().join("out.ndjson");
    // An earlier run's output is there too: as the file the run writes to, it is skipped.
    std::fs::write(&out_path, "{\"level\":\"info\",\"message\":\"stale\"}\n").unwrap();
    let out = std::fs::OpenOptions::new()
        .append(true)
        .open(&out_path)
        .unwrap();
    let status = Command::new(env!("CARGO_BIN_EXE_logsleuth"))
        .args(["events", dir.path().to_str().unwrap()])
        .stdout(Stdio::from(out))
        .status()
        .unwrap();
    assert!(status.success());
    let written = std::fs::read_to_string(&out_path).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert_eq!(lines.len(), 2, "{written}");
    assert!(lines[1].contains("\"message\":\"one\""), "{written}");
    assert!(lines[1].contains("app.log"), "{written}");
}

/// Log text reaches people through the terminal report, `trace` and `report.md`: an escape
/// sequence in a log line (a window title, a screen clear) is printed as `\u001b`, never run.
#[test]
fn escape_sequences_in_log_lines_are_printed_not_run() {
    let line = r#"{"timestamp":"2026-11-22T07:08:49.554320Z","level":"ERROR","fields":{"message":"Error handling legacy message from c1: Authentication failed: x \u001b]0;owned\u0007 \u001b[2J"},"target":"skreaver_http::websocket::handlers"}"#;
    let input = format!("{line}\n");
    let seen = r"\u001b]0;owned\u0007 \u001b[2J";
    for args in [
        &["analyze", "--color", "never"][..],
        &["analyze", "--color", "always"],
        &["trace", "c1"],
    ] {
        let r = bin(args, input.as_bytes());
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(r.stdout.contains(seen), "{args:?}: {}", r.stdout);
        assert!(
            !r.stdout.contains("\x1b]") && !r.stdout.contains("\x1b[2J"),
            "{args:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("b");
    let r = bin(
        &["analyze", "--export", bundle.to_str().unwrap()],
        input.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let md = std::fs::read_to_string(bundle.join("report.md")).unwrap();
    assert!(md.contains(seen) && !md.contains('\x1b'), "{md}");
}

/// Blank lines between one-line events (JSON, or a log line with no traceback) belong to no
/// event: counted as blank, not glued to the event before as an empty `exception`. Inside a
/// traceback (between chained exceptions) they stay part of it.
#[test]
fn blank_lines_after_one_line_events_are_counted_blank() {
    let input = concat!(
        r#"{"timestamp":"2026-11-22T07:08:49.327514Z","level":"INFO","fields":{"message":"one"},"target":"a::b"}"#,
        "\n\n\n",
        r#"{"timestamp":"2026-11-22T07:08:49.328723Z","level":"INFO","fields":{"message":"two"},"target":"a::b"}"#,
        "\n",
        "2026-11-22 07:00:00,432 - skillmeat.api - INFO - plain\n",
        "\n",
        "2026-11-22 07:00:01,000 - skillmeat.api - ERROR - failed\n",
        "Traceback (most recent call last):\n",
        "  File \"a.py\", line 1, in f\n",
        "ValueError: x\n",
        "\n",
        "The above exception was the direct cause of the following exception:\n",
        "\n",
        "Traceback (most recent call last):\n",
        "  File \"b.py\", line 2, in g\n",
        "RuntimeError: y\n",
    );
    let r = bin(&["events"], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let events = ndjson(&r.stdout);
    assert_eq!(events.len(), 4);
    assert!(
        events[..3].iter().all(|e| e.get("exception").is_none()),
        "{events:?}"
    );
    let exception = events[3]["exception"].as_str().unwrap();
    assert!(
        exception.contains("ValueError: x\n\nThe above exception")
            && exception.ends_with("RuntimeError: y"),
        "{exception:?}"
    );
    let report = analyze_json(&[], input.as_bytes());
    assert_eq!(report["input"]["unparsed_reasons"]["blank"], 3);
    assert_accounted(&report["input"]);
}

/// A newline or a colour code in a path, an identifier or a field name cannot forge a line of
/// a report or an event, nor hide what follows (`ESC[8m` conceals): every report line keeps
/// its layout, and the log's own codes are printed as escapes even with colour on.
#[test]
fn log_text_cannot_forge_report_lines_or_hide_text() {
    let input = concat!(
        r#"{"timestamp":"2026-11-22T07:00:01Z","level":"error","message":"boom\nFORGED-MESSAGE","method":"GET","path":"/p\u001b[8m\nFORGED-PATH","status":500,"duration_ms":5,"request_id":"r1\nFORGED-ID","trace_id":"t1"}"#,
        "\n",
        r#"{"timestamp":"2026-11-22T07:00:02Z","level":"info","message":"hi","k\nFORGED-KEY":"v","trace_id":"t1"}"#,
        "\n",
    );
    for args in [
        &["analyze", "--color", "always", "--slow-ms", "1"][..],
        &["trace", "t1"],
        &["events", "--format", "text", "--color", "always"],
    ] {
        let r = bin(args, input.as_bytes());
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        for line in r.stdout.lines() {
            assert!(
                !line.starts_with("FORGED"),
                "{args:?}: a forged line: {line:?}"
            );
        }
        assert!(
            r.stdout.contains(r"\u000aFORGED-"),
            "{args:?}: {}",
            r.stdout
        );
        assert!(!r.stdout.contains("\x1b[8m"), "{args:?}: hidden text");
        assert!(r.stdout.contains(r"\u001b[8m"), "{args:?}: {}", r.stdout);
    }
}

/// The report's `max_ms` is the exact maximum, also for absurd latencies (rounding to the
/// microsecond by scaling changed 1e20 into 99999999999999980000).
#[test]
fn max_latency_is_exact_for_huge_values() {
    let line = r#"{"timestamp": "2026-11-22T07:01:14.073892Z", "level": "INFO", "logger": "skillmeat.api.middleware.observability", "message": "Request completed: GET /health - 200", "module": "observability", "function": "dispatch", "line": 174, "trace_id": "t-1", "user_id": null, "request_id": "r-1", "extra": {"method": "GET", "path": "/health", "status_code": 200, "duration_ms": 1e20}}"#;
    let r = analyze_json(&[], format!("{line}\n").as_bytes());
    assert_eq!(r["endpoints"][0]["max_ms"].as_f64(), Some(1e20));
}

/// `events --unparsed` prints the lines that are no event, with where they are and why: they
/// were only counted, so an SRE could not see them but with `sed -n` on the right file.
#[test]
fn unparsed_lines_can_be_printed_with_file_line_and_reason() {
    let timed = |t: &str, m: &str| {
        format!(
            r#"{{"timestamp":"2026-11-22T{t}Z","level":"INFO","fields":{{"message":"{m}"}},"target":"skreaver_http::runtime::http"}}"#
        )
    };
    let input = [
        timed("07:00:00", "started"),
        r#"{"broken": "#.to_string(),
        "abc\u{0}def".to_string(),
        String::new(),
        timed("08:00:00", "later"),
        r#"[pod/api-7d9f/app] {"half":"#.to_string(),
        // Cut by the end of input: an event (closed), not unparsed.
        r#"{"timestamp":"2026-11-22T08:00:01Z","level":"ERROR","fields":{"message":"FATAL out of"#
            .to_string(),
    ]
    .join("\n");
    let r = bin(&["events", "--unparsed"], input.as_bytes());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        ndjson(&r.stdout),
        [
            json!({"source": "stdin", "line": 2, "reason": "invalid_json", "text": r#"{"broken": "#}),
            json!({"source": "stdin", "line": 3, "reason": "binary", "text": "abc\u{0}def"}),
            json!({"source": "stdin", "line": 6, "pod": "api-7d9f", "container": "app", "reason": "invalid_json", "text": r#"{"half":"#}),
        ]
    );
    // Every line is still counted once (the blank line unparsed, not printed).
    let a = analyze_json(&[], input.as_bytes());
    assert_accounted(&a["input"]);
    assert_eq!(a["input"]["unparsed_lines"], 4);
    assert_eq!(a["input"]["events"], 3);
    // For people; --grep on their text; --since judges them by the last time before them.
    let r = bin(
        &["events", "--unparsed", "--format", "text"],
        input.as_bytes(),
    );
    assert_eq!(
        r.stdout,
        "stdin:2  invalid_json  {\"broken\": \nstdin:3  binary  abc\\u0000def\nstdin:6 [pod/api-7d9f]  invalid_json  {\"half\":\n"
    );
    let lines = |args: &[&str]| -> Vec<u64> {
        let mut all = vec!["events", "--unparsed"];
        all.extend_from_slice(args);
        let r = bin(&all, input.as_bytes());
        assert_eq!(r.code, 0, "{}", r.stderr);
        ndjson(&r.stdout)
            .iter()
            .map(|e| e["line"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(lines(&["--grep", "half|broken"]), [2, 6]);
    // Line 6 is the pod's stream, with no time before it: kept either way.
    assert_eq!(lines(&["--since", "2026-11-22T07:30:00Z"]), [6]);
    assert_eq!(lines(&["--until", "2026-11-22T07:30:00Z"]), [2, 3, 6]);
    // Nothing to print: stderr says why.
    let r = bin(
        &["events", "--unparsed", "--grep", "nowhere"],
        input.as_bytes(),
    );
    assert_eq!((r.code, r.stdout.as_str()), (0, ""));
    assert!(
        r.stderr.contains(
            "no unparsed line to print: the filters keep none of the 3 unparsed lines (--grep)"
        ),
        "{}",
        r.stderr
    );
    // Filters on event fields do not apply to lines that are no event.
    let r = bin(&["events", "--unparsed", "--where", "status >= 500"], b"");
    assert_eq!(r.code, 2, "{}", r.stderr);
}
