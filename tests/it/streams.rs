//! Per-stream state is bounded (`logsleuth::streams`): past the cap of streams with state, the
//! least recently read stream releases its state as the end of input would. Nothing is lost,
//! a traceback already read stays whole, a slow writer is not cut because others are busy, and
//! nothing depends on chunking or threads.

use std::sync::Arc;

use proptest::prelude::*;

use logsleuth::analyze::{InputCounts, ReleasedStreams, Report};
use logsleuth::correlate::{CorrelationSettings, TraceSink};
use logsleuth::output::NdjsonSink;
use logsleuth::parse::Registry;
use logsleuth::pipeline::{self, Analysis, Input, InputKind, Mode, Outcome, Settings};
use logsleuth::rules::RuleSet;
use logsleuth::source::files::PathMeta;
use logsleuth::streams::MAX_STREAMS;

use super::{
    analyze_json, analyze_settings, assert_accounted, assert_report_accounted, bin, ndjson,
};

/// The further lines of a SkillMeat error (`fixtures/samples/skillmeat-text-prod.log`).
const TRACEBACK: [&str; 4] = [
    "Traceback (most recent call last):",
    "  File \"/usr/local/lib/python3.12/site-packages/jwt/api_jws.py\", line 364, in _load",
    "    signing_input, crypto_segment = jwt.rsplit(b\".\", 1)",
    "ValueError: not enough values to unpack (expected 2, got 1)",
];

/// kubectl's `--prefix` for pod `i`.
fn pod(i: usize) -> String {
    format!("[pod/web-{i}/app] ")
}

/// `hh:mm:ss,mmm` at `n` milliseconds after 07:00.
fn clock(n: usize) -> String {
    format!(
        "07:{:02}:{:02},{:03}",
        (n / 60_000) % 60,
        (n / 1000) % 60,
        n % 1000
    )
}

/// SkillMeat's text line that a traceback follows.
fn error_line(n: usize) -> String {
    format!(
        "2026-11-22 {} - skillmeat.observability.tracing - ERROR - Span failed: GET /api/v1/user-collections",
        clock(n)
    )
}

/// The first two lines of a SkillMeat request (span, then middleware): it waits for its
/// uvicorn access line.
fn request_lines(n: usize) -> [String; 2] {
    [
        format!(
            "2026-11-22 {} - skillmeat.observability.tracing - INFO - Span completed: GET /health/detailed [success]",
            clock(n)
        ),
        format!(
            "2026-11-22 {} - skillmeat.api.middleware.observability - INFO - Request completed: GET /health/detailed - 200",
            clock(n + 1)
        ),
    ]
}

/// A Skreaver tracing line (`fixtures/samples/skreaver-towerdebug.log`) with trace id `id`.
fn skreaver_line(n: usize, id: &str) -> String {
    format!(
        r#"{{"timestamp":"2026-11-22T07:{:02}:{:02}.{:03}000Z","level":"DEBUG","fields":{{"message":"finished processing request","latency":"20 ms","status":200}},"target":"tower_http::trace::on_response","span":{{"method":"GET","uri":"/health","version":"HTTP/1.1","name":"request"}},"trace_id":"{id}"}}"#,
        (n / 60_000) % 60,
        (n / 1000) % 60,
        n % 1000
    )
}

fn memory(bytes: &[u8]) -> Input {
    Input {
        name: "mem".into(),
        kind: InputKind::Memory(Arc::from(bytes)),
        meta: PathMeta::default(),
        size: None,
    }
}

fn settings(mode: Mode, threads: usize, chunk_bytes: usize, max_streams: usize) -> Settings {
    let mut s = match mode {
        Mode::Events => Settings::new(Mode::Events),
        Mode::Analyze { .. } => analyze_settings(),
    };
    s.threads = threads;
    s.chunk_bytes = chunk_bytes;
    s.max_streams = max_streams;
    s.parse.collect_extras = matches!(mode, Mode::Events);
    s
}

/// `events` NDJSON and the counts, through the library.
fn events(bytes: &[u8], threads: usize, chunk: usize, max_streams: usize) -> (String, InputCounts) {
    let reg = Registry::load(None).unwrap();
    let mut out = Vec::new();
    let outcome = pipeline::run(
        &[memory(bytes)],
        &reg,
        &settings(Mode::Events, threads, chunk, max_streams),
        &mut [&mut NdjsonSink::new(&mut out)],
    )
    .unwrap();
    let Outcome::Events(counts) = outcome else {
        panic!("events mode gives counts")
    };
    (String::from_utf8(out).unwrap(), *counts)
}

/// The report with every built-in rule and correlation, through the library.
fn report(bytes: &[u8], threads: usize, chunk: usize, max_streams: usize) -> Report {
    let reg = Registry::load(None).unwrap();
    let rules = RuleSet::load(None).unwrap();
    let analysis = Analysis {
        rules: Some(&rules),
        correlation: Some(CorrelationSettings::default()),
    };
    let s = settings(analyze_settings().mode, threads, chunk, max_streams);
    match pipeline::run_with(&[memory(bytes)], &reg, &s, analysis, &mut []).unwrap() {
        Outcome::Report(r) => *r,
        Outcome::Events(_) => panic!("analyze mode gives a report"),
    }
}

fn text(lines: &[String]) -> Vec<u8> {
    lines
        .iter()
        .flat_map(|l| [l.as_str(), "\n"])
        .collect::<String>()
        .into_bytes()
}

/// `pods` pods, one after another, each with a request still waiting for its last line and an
/// error whose traceback is read: each ends its output with both still open.
fn pods_with_open_events(pods: usize) -> Vec<u8> {
    let mut lines = Vec::new();
    for i in 0..pods {
        let p = pod(i);
        for l in request_lines(i * 10) {
            lines.push(format!("{p}{l}"));
        }
        lines.push(format!("{p}{}", error_line(i * 10 + 2)));
        lines.extend(TRACEBACK.iter().map(|l| format!("{p}{l}")));
        lines.push(format!(
            "{p}{}",
            skreaver_line(i * 10 + 3, &format!("t{}", i % 7))
        ));
    }
    text(&lines)
}

/// Regression: per-stream state was never freed (a million one-line pods took ~1.7 GB). Past
/// the cap the least recently read pods release theirs, ending their open traceback and
/// request as the end of input does: `events` writes the same events, the report counts the
/// same, and the releases are counted.
#[test]
fn released_streams_end_what_they_hold_as_the_end_of_input_does() {
    let input = pods_with_open_events(50);
    let (capped, counts) = events(&input, 2, 2048, 8);
    let (whole, whole_counts) = events(&input, 1, 1 << 20, MAX_STREAMS);
    assert_eq!(
        counts.streams_released,
        Some(ReleasedStreams {
            cap: 8,
            streams: 42,
            partial_runs: 0
        })
    );
    assert_eq!(whole_counts.streams_released, None);
    assert_eq!(capped, whole, "the same events, each with its traceback");
    let errors: Vec<serde_json::Value> = ndjson(&capped)
        .into_iter()
        .filter(|e| e["level"] == "error")
        .collect();
    assert_eq!(errors.len(), 50);
    for e in &errors {
        assert_eq!(e["exception"], TRACEBACK.join("\n"), "{e}");
    }
    let mut a = report(&input, 2, 2048, 8);
    let b = report(&input, 1, 1 << 20, MAX_STREAMS);
    assert_report_accounted(&a);
    assert_eq!(a.input.continuation_lines, 50 * 4);
    assert_eq!(
        a.requests.total, 100,
        "the waiting SkillMeat requests and Skreaver's"
    );
    assert_eq!(a.input.streams_released.take().map(|r| r.streams), Some(42));
    assert_eq!(a, b);
}

/// Span starts are per-stream state: a released pod's open starts count as unfinished, and a
/// completion it writes after its release has no start (as if its log began there).
#[test]
fn released_streams_count_their_open_spans_unfinished() {
    let span = |n: usize, what: &str| {
        format!(
            "2026-11-22 {} - skillmeat.observability.tracing - INFO - {what}",
            clock(n)
        )
    };
    let mut lines = Vec::new();
    for i in 0..50 {
        let p = pod(i);
        lines.push(format!(
            "{p}{}",
            span(i * 10, "Starting span: GET /api/v1/slow")
        ));
        lines.push(format!(
            "{p}{}",
            span(i * 10 + 1, "Starting span: GET /health")
        ));
        lines.push(format!(
            "{p}{}",
            span(i * 10 + 4, "Span completed: GET /health [success]")
        ));
    }
    lines.push(format!(
        "{}{}",
        pod(0),
        span(1000, "Span completed: GET /api/v1/slow [success]")
    ));
    let input = text(&lines);
    let spans = |max_streams| {
        let r = report(&input, 2, 1024, max_streams);
        let spans = r.requests.span_latency.expect("span lines were seen");
        let slow = r
            .endpoints
            .iter()
            .find(|e| e.route == "/api/v1/slow")
            .map(|e| e.max_ms);
        (r.requests.total, spans, slow)
    };
    let (total, whole, slow) = spans(MAX_STREAMS);
    assert_eq!(total, 51);
    assert_eq!(
        (
            whole.paired,
            whole.timed,
            whole.without_start,
            whole.unfinished
        ),
        (51, 51, 0, 49)
    );
    assert_eq!(slow, Some(Some(1000.0)));
    let (total, capped, slow) = spans(8);
    assert_eq!(total, 51, "requests are counted all the same");
    assert_eq!(
        (
            capped.paired,
            capped.timed,
            capped.without_start,
            capped.unfinished
        ),
        (50, 50, 1, 50)
    );
    assert_eq!(slow, Some(None));
}

/// A pod writing a traceback slowly keeps it whole however much other pods write meanwhile:
/// only the number of other streams counts, not their lines.
#[test]
fn a_slow_traceback_is_not_split_by_chatty_streams() {
    let mut lines = vec![format!("{}{}", pod(0), error_line(0))];
    for n in 0..3000 {
        lines.push(format!("{}{}", pod(1 + n % 2), skreaver_line(n, "x")));
    }
    lines.extend(TRACEBACK.iter().map(|l| format!("{}{l}", pod(0))));
    let (out, counts) = events(&text(&lines), 2, 4096, 3);
    assert_eq!(counts.streams_released, None);
    assert_eq!(counts.continuation_lines, 4);
    let first = &ndjson(&out)[0];
    assert_eq!(first["exception"], TRACEBACK.join("\n"));
}

/// A pod whose traceback goes on while many one-line pods come and go keeps it whole (it is
/// read all the time), and the events of the pods released meanwhile, held back behind it in
/// `events`, still come out with their names.
#[test]
fn events_of_released_pods_held_behind_an_open_traceback_keep_their_names() {
    let mut lines = vec![format!("{}{}", pod(0), error_line(0))];
    lines.push(format!("{}Traceback (most recent call last):", pod(0)));
    for j in 1..=100 {
        lines.push(format!("{}{}", pod(j), skreaver_line(j, "x")));
        lines.push(format!("{}  File \"/app/x.py\", line {j}, in f", pod(0)));
    }
    lines.push(format!("{}ValueError: boom", pod(0)));
    let (out, counts) = events(&text(&lines), 2, 1024, 4);
    assert_eq!(counts.streams_released.map(|r| r.streams), Some(97));
    assert_eq!(counts.continuation_lines, 102);
    let events = ndjson(&out);
    assert_eq!(events.len(), 101);
    assert_eq!(
        events[0]["exception"].as_str().map(|e| e.lines().count()),
        Some(102)
    );
    for (j, e) in events.iter().enumerate() {
        assert_eq!(e["pod"], format!("web-{j}"), "{e}");
    }
}

/// The other side of the policy: once as many other streams as the cap wrote since its last
/// line, a stream's open event is complete; its late lines are still every one accounted for.
#[test]
fn as_many_other_streams_as_the_cap_end_an_open_traceback() {
    let mut lines = vec![format!("{}{}", pod(0), error_line(0))];
    for i in 1..=3 {
        lines.push(format!("{}{}", pod(i), skreaver_line(i, "x")));
    }
    lines.extend(TRACEBACK.iter().map(|l| format!("{}{l}", pod(0))));
    let input = text(&lines);
    let (out, counts) = events(&input, 1, 1 << 20, 3);
    assert_eq!(counts.streams_released.map(|r| r.streams), Some(2));
    assert_eq!(
        counts.lines,
        counts.events + counts.continuation_lines + counts.unparsed_lines + counts.joined_partials
    );
    assert_eq!(counts.lines, 8);
    let first = &ndjson(&out)[0];
    assert_eq!(first["level"], "error");
    assert!(first.get("exception").is_none(), "{first}");
    // With room for one more stream, it stays whole.
    let (out, counts) = events(&input, 1, 1 << 20, 4);
    assert_eq!(
        (counts.streams_released, counts.continuation_lines),
        (None, 4)
    );
    assert_eq!(ndjson(&out)[0]["exception"], TRACEBACK.join("\n"));
}

/// `trace` keeps an event-time clock only for the streams with state: the clocks of released
/// streams go (they took ~80 bytes per pod ever seen), and the target's group is still whole.
#[test]
fn trace_keeps_clocks_of_streams_with_state_only() {
    let mut lines = Vec::new();
    for i in 0..400 {
        let id = if i % 100 == 0 {
            "T".to_string()
        } else {
            format!("n{i}")
        };
        lines.push(format!("{}{}", pod(i), skreaver_line(i * 10, &id)));
    }
    let input = text(&lines);
    let reg = Registry::load(None).unwrap();
    let mut sink = TraceSink::new(
        &reg,
        "T",
        CorrelationSettings::default(),
        vec!["mem".into()],
    );
    pipeline::run(
        &[memory(&input)],
        &reg,
        &settings(Mode::Events, 2, 1024, 16),
        &mut [&mut sink],
    )
    .unwrap();
    assert!(sink.stream_clocks() <= 16, "{}", sink.stream_clocks());
    let t = sink.finish().expect("T is there");
    let lines: Vec<u64> = t.events.iter().map(|e| e.line).collect();
    assert_eq!((t.groups, lines), (1, vec![1, 101, 201, 301]));
}

/// Through the binary, with the default cap: past 20 000 pods each with an error whose
/// traceback is read, every event still comes out whole and in input order, and the report
/// and stderr say that streams were released.
#[test]
fn past_the_cap_every_traceback_is_whole_and_every_line_counted() {
    let pods = MAX_STREAMS + 50;
    let mut lines = Vec::with_capacity(pods * 5);
    for i in 0..pods {
        let p = pod(i);
        lines.push(format!("{p}{}", error_line(i)));
        lines.extend(TRACEBACK.iter().map(|l| format!("{p}{l}")));
    }
    let input = text(&lines);
    let r = bin(&["events", "--format", "json"], &input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("more than 20000 streams at once: 50 releases"),
        "{}",
        r.stderr
    );
    let events = ndjson(&r.stdout);
    assert_eq!(events.len(), pods);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["line"], 5 * i + 1);
        assert_eq!(e["pod"], format!("web-{i}"));
        assert_eq!(e["exception"], TRACEBACK.join("\n"));
    }
    let report = analyze_json(&[], &input);
    let i = &report["input"];
    assert_accounted(i);
    assert_eq!(i["continuation_lines"], 4 * pods);
    assert_eq!(
        i["streams_released"],
        serde_json::json!({"cap": MAX_STREAMS, "streams": 50, "partial_runs": 0})
    );
}

/// Through the binary: CRI `P` pieces of more pods than the cap, most never completed. The
/// oldest open runs end as lines of their own, unfinished, as at the end of input; every piece
/// is counted once, and the runs that complete are still joined.
#[test]
fn past_the_cap_dangling_partial_lines_are_lines_of_their_own() {
    let pods = MAX_STREAMS + 50;
    let mut lines = Vec::new();
    let mut completed = 0;
    for i in 0..pods {
        let p = pod(i);
        lines.push(format!(
            "{p}2026-11-22T07:00:00.{i:09}Z stdout P part of pod {i}"
        ));
        if i % 1000 == 0 {
            lines.push(format!(
                "{p}2026-11-22T07:00:01.{i:09}Z stdout F , the rest"
            ));
            completed += 1;
        }
    }
    // From a file: a piped stdin is read as its writer delivers (`source::stdin`), and where
    // the chunks end moves which of the oldest runs the cap ends and which end with a chunk.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("pods.log");
    std::fs::write(&file, text(&lines)).unwrap();
    let file = file.display().to_string();
    let dangling = pods - completed;
    let report = analyze_json(&[&file], b"");
    let i = &report["input"];
    assert_accounted(i);
    assert_eq!(i["lines"], pods + completed);
    assert_eq!(i["events"], pods);
    assert_eq!(i["joined_partials"], completed);
    assert_eq!(
        i["streams_released"]["partial_runs"],
        dangling - MAX_STREAMS
    );
    let r = bin(&["events", "--format", "json", &file], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut messages: Vec<String> = ndjson(&r.stdout)
        .iter()
        .map(|e| e["message"].as_str().unwrap().to_string())
        .collect();
    messages.sort();
    let mut want: Vec<String> = (0..pods)
        .map(|i| match i % 1000 {
            0 => format!("part of pod {i}, the rest"),
            _ => format!("part of pod {i}"),
        })
        .collect();
    want.sort();
    assert_eq!(messages, want);
}

/// Following several inputs, items wait in the reorder buffer: a stream released while later
/// lines of it still wait there keeps its name (pod, container) for them, and every line is
/// accounted for.
#[test]
fn following_several_inputs_released_streams_keep_their_names_for_waiting_lines() {
    // Two inputs, each a pod after pod; every pod writes twice, a second apart (within
    // --max-delay, so its second line waits in the reorder buffer while others are merged).
    let input = |first: usize| {
        let mut lines = Vec::new();
        for i in (first..first + 300).step_by(2) {
            lines.push(format!("{}{}", pod(i), skreaver_line(i * 100, "a")));
            lines.push(format!("{}{}", pod(i), skreaver_line(i * 100 + 1000, "b")));
        }
        Input {
            name: format!("in-{first}"),
            ..memory(text(&lines).as_slice())
        }
    };
    let inputs = [input(0), input(1)];
    let reg = Registry::load(None).unwrap();
    let run = |max_streams: usize| {
        let mut s = settings(Mode::Events, 2, 1024, max_streams);
        s.follow = true;
        s.max_delay = Some(std::time::Duration::from_secs(2));
        let mut out = Vec::new();
        let outcome = pipeline::run(&inputs, &reg, &s, &mut [&mut NdjsonSink::new(&mut out)]);
        let Ok(Outcome::Events(counts)) = outcome else {
            panic!("events mode gives counts")
        };
        let mut events: Vec<String> = ndjson(&String::from_utf8(out).unwrap())
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} {}",
                    e["source"], e["line"], e["pod"], e["trace_id"]
                )
            })
            .collect();
        events.sort();
        (events, counts)
    };
    let (capped, counts) = run(4);
    let (whole, _) = run(MAX_STREAMS);
    assert!(counts.streams_released.is_some_and(|r| r.streams >= 290));
    assert_eq!(counts.lines, 600);
    assert_eq!(counts.events, 600);
    assert_eq!(capped, whole);
    assert!(capped.iter().all(|e| e.contains("\"web-")), "{capped:?}");
}

/// A rotated set read as one log with more pods than the cap: a traceback cut by the rotation
/// still continues in the next file while its pod has state, the pods of the older file are
/// released as others start, and every event keeps its pod.
#[test]
fn a_rotated_set_past_the_cap_continues_tracebacks_and_keeps_names() {
    let dir = tempfile::tempdir().unwrap();
    let (older, live) = (dir.path().join("app.log.1"), dir.path().join("app.log"));
    let mut first: Vec<String> = (1..=20)
        .map(|i| format!("{}{}", pod(i), skreaver_line(i, "x")))
        .collect();
    first.push(format!("{}{}", pod(0), error_line(30)));
    first.push(format!("{}{}", pod(0), TRACEBACK[0]));
    let mut second: Vec<String> = TRACEBACK[1..]
        .iter()
        .map(|l| format!("{}{l}", pod(0)))
        .collect();
    second.extend((21..=40).map(|i| format!("{}{}", pod(i), skreaver_line(i + 40, "y"))));
    std::fs::write(&older, text(&first)).unwrap();
    std::fs::write(&live, text(&second)).unwrap();
    let inputs: Vec<Input> = [older, live]
        .into_iter()
        .map(|p| Input {
            name: p.display().to_string(),
            kind: InputKind::File(p),
            meta: PathMeta::default(),
            size: None,
        })
        .collect();
    let reg = Registry::load(None).unwrap();
    let mut out = Vec::new();
    let outcome = pipeline::run(
        &inputs,
        &reg,
        &settings(Mode::Events, 2, 1024, 4),
        &mut [&mut NdjsonSink::new(&mut out)],
    )
    .unwrap();
    let Outcome::Events(counts) = outcome else {
        panic!("events mode gives counts")
    };
    assert_eq!(counts.continuation_lines, 4);
    assert_eq!(counts.events, 41);
    assert!(counts.streams_released.is_some_and(|r| r.streams >= 36));
    let events = ndjson(&String::from_utf8(out).unwrap());
    let error = events.iter().find(|e| e["level"] == "error").unwrap();
    assert_eq!(error["exception"], TRACEBACK.join("\n"));
    assert_eq!(error["pod"], "web-0");
    let pods: Vec<&str> = events.iter().map(|e| e["pod"].as_str().unwrap()).collect();
    let want: Vec<String> = (1..=20)
        .chain([0])
        .chain(21..=40)
        .map(|i| format!("web-{i}"))
        .collect();
    assert_eq!(pods, want);
}

/// One line of pod `pod` of kind `kind`: real line shapes, tracebacks, requests and CRI pieces,
/// so releases end open events, requests and partial runs.
fn mixed_line(pod_no: usize, kind: u8, n: usize) -> String {
    let p = pod(pod_no);
    match kind % 8 {
        0 => format!("{p}{}", error_line(n)),
        1 => format!("{p}{}", TRACEBACK[n % TRACEBACK.len()]),
        2 => format!("{p}{}", request_lines(n)[0]),
        3 => format!("{p}{}", request_lines(n)[1]),
        4 => format!("{p}{}", skreaver_line(n, &format!("t{}", n % 5))),
        5 => format!("{p}2026-11-22T07:00:00.{n:09}Z stdout P piece {n} "),
        6 => format!("{p}2026-11-22T07:00:00.{n:09}Z stdout F end {n}"),
        _ => format!("{p}INFO:     127.0.0.1:39062 - \"GET /health/detailed HTTP/1.1\" 200 OK"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// With a small cap, releases happen all along: the report (every rule, correlation) and
    /// the events do not depend on chunking or threads, and every line is accounted for.
    #[test]
    fn capped_streams_are_chunking_independent(
        picks in prop::collection::vec((0usize..14, any::<u8>()), 1..200),
        cap in 1usize..7,
        chunk in 256usize..4096,
    ) {
        let lines: Vec<String> = picks
            .iter()
            .enumerate()
            .map(|(n, (p, kind))| mixed_line(*p, *kind, n))
            .collect();
        let input = text(&lines);
        let a = report(&input, 1, 1 << 20, cap);
        let b = report(&input, 3, chunk, cap);
        assert_report_accounted(&a);
        prop_assert_eq!(&a, &b);
        let (ea, ca) = events(&input, 1, 1 << 20, cap);
        let (eb, cb) = events(&input, 2, chunk, cap);
        prop_assert_eq!(ea, eb);
        prop_assert_eq!(&ca, &cb);
        prop_assert_eq!(ca.lines, lines.len() as u64);
        // Below the cap nothing is released (a pod's CRI lines are its stdout: a stream of
        // their own).
        let streams = picks
            .iter()
            .map(|(p, kind)| (p, matches!(kind % 8, 5 | 6)))
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        prop_assert_eq!(a.input.streams_released.is_none(), streams <= cap);
    }
}
