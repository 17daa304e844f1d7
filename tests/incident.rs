//! Rules, findings and correlation end to end: every rule file has fixtures that pass, the
//! findings section and the `trace` timeline are snapshot-tested, and windowed results do not
//! depend on chunking or threads.

use std::path::{Path, PathBuf};

use logsleuth::correlate::{CorrelationSettings, TraceSink};
use logsleuth::output::{Style, render_findings};
use logsleuth::parse::Registry;
use logsleuth::pipeline::{self, Analysis, Input, InputKind, Mode, Outcome, Settings};
use logsleuth::rules::{BUILTIN, RuleSet, fixtures};
use logsleuth::source::files::PathMeta;
use proptest::prelude::*;

mod common;

/// A finding's `detail` starts with `prefix`.
fn assert_detail_starts(finding: &serde_json::Value, prefix: &str) {
    assert!(
        finding["detail"]
            .as_str()
            .is_some_and(|d| d.starts_with(prefix)),
        "{finding}"
    );
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn settings(mode: Mode, threads: usize, chunk_bytes: usize) -> Settings {
    let mut s = Settings::new(mode);
    s.threads = threads;
    s.chunk_bytes = chunk_bytes;
    s.parse.collect_extras = matches!(mode, Mode::Events);
    s
}

fn analyze_mode() -> Mode {
    Mode::Analyze {
        bucket_ns: 60_000_000_000,
        slow_ms: 5000.0,
    }
}

fn sample_inputs() -> Vec<Input> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("fixtures/samples"))
        .expect("samples")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| Input {
            name: p.strip_prefix(root()).unwrap_or(&p).display().to_string(),
            kind: InputKind::File(p),
            meta: PathMeta::default(),
            size: None,
        })
        .collect()
}

fn analyze(inputs: &[Input], threads: usize, chunk: usize) -> logsleuth::analyze::Report {
    let reg = Registry::load(None).expect("registry");
    let rules = RuleSet::load(None).expect("rules");
    let analysis = Analysis {
        rules: Some(&rules),
        correlation: Some(CorrelationSettings::default()),
    };
    match pipeline::run_with(
        inputs,
        &reg,
        &settings(analyze_mode(), threads, chunk),
        analysis,
        &mut [],
    )
    .expect("run")
    {
        Outcome::Report(r) => *r,
        Outcome::Events(_) => panic!("no report"),
    }
}

#[test]
fn every_rule_file_is_built_in_and_has_fixtures() {
    let mut files: Vec<String> = std::fs::read_dir(root().join("rules"))
        .expect("rules/")
        .filter_map(|e| {
            let name = e.ok()?.file_name().to_string_lossy().into_owned();
            name.ends_with(".toml").then_some(name)
        })
        .collect();
    files.sort();
    let mut listed: Vec<String> = BUILTIN.iter().map(|b| b.file.to_string()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "src/rules/builtin.rs must list every rules/*.toml"
    );
    for f in &files {
        let id = f.split('-').next().unwrap_or_default();
        for kind in ["fire.log", "miss.log"] {
            let p = root().join("fixtures/rules").join(id).join(kind);
            let text = std::fs::read_to_string(&p).unwrap_or_default();
            assert!(
                !text.trim().is_empty(),
                "{f}: missing or empty {}",
                p.display()
            );
        }
    }
}

#[test]
fn every_rule_passes_its_fixtures() {
    let set = RuleSet::load(None).expect("rules");
    let dir = root().join("fixtures/rules");
    let failures: Vec<String> = fixtures::test_all(&set, Some(&dir))
        .into_iter()
        .flat_map(|r| {
            r.problems
                .into_iter()
                .map(move |p| format!("{} {}: {p}", r.rule, r.name))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn rules_lint_clean() {
    let set = RuleSet::load(None).expect("rules");
    let issues = fixtures::lint(&set, Some(&root().join("fixtures/rules")));
    assert!(issues.is_empty(), "{issues:#?}");
}

#[test]
fn findings_section_on_samples() {
    let report = analyze(&sample_inputs(), 2, 1 << 20);
    let findings = report.findings.expect("findings");
    insta::assert_snapshot!(
        "findings-samples",
        render_findings(&findings, Style { colour: false })
    );
    insta::assert_json_snapshot!("correlation-samples", report.correlation);
}

#[test]
fn findings_on_all_fire_fixtures_are_ordered_by_severity() {
    let dir = root().join("fixtures/rules");
    let mut inputs = Vec::new();
    for b in BUILTIN {
        let id = b.file.split('-').next().unwrap_or_default();
        let p = dir.join(id).join("fire.log");
        inputs.push(Input {
            name: format!("fixtures/rules/{id}/fire.log"),
            kind: InputKind::File(p),
            meta: PathMeta::default(),
            size: None,
        });
    }
    let report = analyze(&inputs, 2, 1 << 20);
    let findings = report.findings.expect("findings");
    let fired: std::collections::BTreeSet<&str> =
        findings.iter().map(|f| f.rule.as_str()).collect();
    for b in BUILTIN {
        let id = b.file.split('-').next().unwrap_or_default();
        // ERR004 is decided per stream: its fixture's pod logging failures alone fires it
        // beside the other fixtures, which log every request.
        assert!(
            fired.contains(id),
            "{id} did not fire on the combined fixtures"
        );
    }
    for w in findings.windows(2) {
        assert!(
            w[0].severity >= w[1].severity,
            "findings must be most severe first"
        );
    }
}

fn trace(id: &str) -> logsleuth::correlate::Timeline {
    let reg = Registry::load(None).expect("registry");
    let inputs = sample_inputs();
    let mut sink = TraceSink::new(
        &reg,
        id,
        CorrelationSettings::default(),
        inputs.iter().map(|i| i.name.clone()).collect(),
    );
    pipeline::run(
        &inputs,
        &reg,
        &settings(Mode::Events, 2, 1 << 20),
        &mut [&mut sink],
    )
    .expect("run");
    sink.finish().expect("the id is in the samples")
}

#[test]
fn trace_timeline_websocket_connection() {
    let t = trace("27d74fa3-a403-43ee-8d7e-95fee56edb92");
    insta::assert_snapshot!("trace-conn", t.render_text());
}

#[test]
fn trace_timeline_requests_text() {
    // Request lines show their method, path, status and latency (tower-http's messages name
    // none of them).
    let t = trace("agent_id:demo-agent-1");
    assert!(t.events.iter().any(|e| e.method.is_some()));
    insta::assert_snapshot!("trace-agent", t.render_text());
}

#[test]
fn trace_timeline_request_json() {
    let t = trace("trace_id:a9ceab2b-9398-422f-b021-8b455686c03e");
    assert!(!t.events.is_empty());
    insta::assert_json_snapshot!("trace-request", t);
}

/// `trace` holds the events of open groups and of the target's groups only: a group that
/// closes without the target is dropped, so memory does not grow with the input. An event
/// seen before the target that a later merge joins to the target's group is still shown.
#[test]
fn trace_holds_only_open_groups_and_the_targets() {
    let line = |s: u32, ids: &str| {
        format!(
            "{{\"time\":\"2026-11-22T07:{:02}:{:02}Z\",\"level\":\"info\",\"msg\":\"m\",{ids}}}\n",
            s / 60,
            s % 60
        )
    };
    let mut text = String::new();
    // Before the target: groups without it, then `x` (merged into the target's group below
    // while still open: fewer than the cap of groups start in between).
    for i in 0..600 {
        text += &line(i, &format!(r#""trace_id":"n{i}""#));
    }
    text += &line(600, r#""request_id":"x""#);
    for i in 0..40 {
        text += &line(600, &format!(r#""trace_id":"k{i}""#));
    }
    text += &line(601, r#""trace_id":"T""#);
    text += &line(601, r#""trace_id":"T","request_id":"x""#);
    for i in 0..600 {
        text += &line(602 + i, &format!(r#""trace_id":"m{i}""#));
    }
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("ids.log");
    std::fs::write(&path, &text).expect("write");
    let input = Input {
        name: "ids.log".into(),
        kind: InputKind::File(path),
        meta: PathMeta::default(),
        size: None,
    };
    let reg = Registry::load(None).expect("registry");
    let settings = CorrelationSettings {
        window_ns: 1_000_000_000_000,
        max_open: 50,
    };
    for target in ["T", "nothing"] {
        let mut sink = TraceSink::new(&reg, target, settings, vec![input.name.clone()]);
        let run = pipeline::run(
            std::slice::from_ref(&input),
            &reg,
            &settings_small(),
            &mut [&mut sink],
        );
        run.expect("run");
        // At most 50 open groups of one event each, plus the target's three events.
        assert!(sink.events_held() <= 53, "{target}: {}", sink.events_held());
        match sink.finish() {
            Some(t) => {
                let lines: Vec<u64> = t.events.iter().map(|e| e.line).collect();
                assert_eq!((t.groups, lines), (1, vec![601, 642, 643]));
            }
            None => assert_eq!(target, "nothing"),
        }
    }
}

/// Small chunks and two threads: what is held must not depend on them.
fn settings_small() -> Settings {
    settings(Mode::Events, 2, 1024)
}

/// Timestamps that jump back years (a bad clock): each request's event and the request
/// merged from it stay one group, and no id names two groups.
#[test]
fn a_clock_jumping_back_keeps_each_request_one_group() {
    let line = |year: u32, s: u32, id: &str| {
        format!(
            "{{\"timestamp\":\"{year}-11-22T07:08:{s:02}.000000Z\",\"level\":\"ERROR\",\"fields\":{{\"message\":\"finished processing request\",\"latency\":\"1 ms\",\"status\":500}},\"target\":\"tower_http::trace::on_response\",\"span\":{{\"method\":\"GET\",\"uri\":\"/health\",\"version\":\"HTTP/1.1\",\"name\":\"request\"}},\"trace_id\":\"{id}\"}}\n"
        )
    };
    let input = [
        line(2026, 0, "t0"),
        line(2024, 1, "t1"),
        line(2026, 2, "t2"),
        line(2024, 3, "t3"),
    ]
    .concat();
    let (out, _) = run_with_stdin(&["analyze", "--format", "json"], &input);
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    let c = &report["correlation"];
    assert_eq!(c["groups"], 4, "{c}");
    for g in c["top"].as_array().expect("top") {
        assert_eq!(
            (&g["events"], &g["requests"]),
            (&1.into(), &1.into()),
            "{g}"
        );
    }
    let (out, _) = run_with_stdin(&["trace", "t1", "--format", "json"], &input);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(doc["groups"], 1, "{doc}");
}

/// A Skreaver request waits for a `response failed` line until the next request line of its
/// stream. Its group stays open while it waits (pinned), though other events move the clock
/// past the window: the request is counted in it, not in `late_requests`, and starts no second
/// group with the same name.
#[test]
fn a_request_completed_after_its_group_went_idle_is_counted_in_it() {
    let event = |m: u32, id: &str, status: u16| {
        format!(
            "{{\"timestamp\":\"2026-11-22T07:{m:02}:00.000000Z\",\"level\":\"INFO\",\"fields\":{{\"message\":\"finished processing request\",\"latency\":\"1 ms\",\"status\":{status}}},\"target\":\"tower_http::trace::on_response\",\"span\":{{\"method\":\"GET\",\"uri\":\"/health\",\"version\":\"HTTP/1.1\",\"name\":\"request\"}},\"trace_id\":\"{id}\"}}\n"
        )
    };
    // A 5xx: the request's error is its group's (and ranks the group first).
    let mut input = event(0, "t1", 500);
    for m in 1..21 {
        input += &format!(
            "{{\"timestamp\":\"2026-11-22T07:{m:02}:00.000000Z\",\"level\":\"INFO\",\"fields\":{{\"message\":\"working\"}},\"target\":\"skreaver::x\",\"trace_id\":\"w{m}\"}}\n"
        );
    }
    input += &event(21, "t2", 200);
    let (out, _) = run_with_stdin(&["analyze", "--format", "json"], &input);
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    let c = &report["correlation"];
    assert_eq!(
        (&c["groups"], &c["late_requests"]),
        (&22.into(), &serde_json::Value::Null),
        "{c}"
    );
    let t1 = &c["top"][0];
    assert_eq!(
        (&t1["id"], &t1["events"], &t1["errors"], &t1["requests"]),
        (&"trace_id:t1".into(), &1.into(), &1.into(), &1.into()),
        "{t1}"
    );
}

/// A quiet pod: a failed Skreaver request's lines, then the pod's next request line 30 minutes
/// later (past `--correlation-window`). The failed request still counts in its group — its
/// request, its slowest request — whether the input is read in one chunk or many.
#[test]
fn a_request_of_a_quiet_pod_joins_its_group() {
    let input = concat!(
        r#"{"timestamp":"2026-11-22T07:00:00.000000Z","level":"ERROR","fields":{"message":"agent step failed","request_id":"r-1"},"target":"skreaver_http::runtime"}"#,
        "\n",
        r#"{"timestamp":"2026-11-22T07:00:00.100000Z","level":"DEBUG","fields":{"message":"finished processing request","latency":"900 ms","status":500},"target":"tower_http::trace::on_response","span":{"method":"GET","uri":"/x","version":"HTTP/1.1","name":"request","request_id":"r-1"}}"#,
        "\n",
        r#"{"timestamp":"2026-11-22T07:30:00.000000Z","level":"DEBUG","fields":{"message":"finished processing request","latency":"1 ms","status":200},"target":"tower_http::trace::on_response","span":{"method":"GET","uri":"/y","version":"HTTP/1.1","name":"request","request_id":"r-2"}}"#,
        "\n",
    );
    for threads in ["1", "2"] {
        let (out, _) = run_with_stdin(
            &["analyze", "--format", "json", "--threads", threads],
            input,
        );
        let report: serde_json::Value = serde_json::from_str(&out).expect("json");
        let c = &report["correlation"];
        assert_eq!(
            (&c["groups"], &c["late_requests"]),
            (&2.into(), &serde_json::Value::Null),
            "{c}"
        );
        let r1 = c["top"]
            .as_array()
            .and_then(|t| t.iter().find(|g| g["id"] == "request_id:r-1"))
            .expect("r-1");
        assert_eq!(
            (&r1["events"], &r1["errors"], &r1["requests"]),
            (&2.into(), &1.into(), &1.into()),
            "{r1}"
        );
        assert_eq!(r1["slowest_request"], "GET /x → 500 (900 ms)", "{r1}");
    }
}

/// A quiet pod (QA s17v N2): a failed Skreaver request for an agent, nothing for an hour,
/// then the same agent's next request. The first request waits for its last line until that
/// next request line, pinning its group; the next request's lines, more than the window after
/// the group's last activity, start a second group, and the waiting request still counts in
/// its own: two groups of 5 ms, as `trace` shows, not one spanning the hour.
#[test]
fn a_pinned_group_idle_past_the_window_is_not_joined_an_hour_later() {
    let line = |ts: &str, level: &str, fields: &str, target: &str| {
        format!(
            r#"{{"timestamp":"2026-11-22T{ts}Z","level":"{level}","fields":{{{fields}}},"target":"tower_http::trace::{target}","span":{{"method":"GET","uri":"/agents/c7950fe3-8649-4afb-b3d2-46a81f47b67a/status","version":"HTTP/1.1","name":"request"}}}}"#
        ) + "\n"
    };
    let input = [
        line("09:00:00.000000", "DEBUG", r#""message":"started processing request""#, "on_request"),
        line("09:00:00.005000", "DEBUG", r#""message":"finished processing request","latency":"5 ms","status":500"#, "on_response"),
        line("09:00:00.005000", "ERROR", r#""message":"response failed","classification":"Status code: 500 Internal Server Error","latency":"5 ms""#, "on_failure"),
        line("10:00:00.000000", "DEBUG", r#""message":"started processing request""#, "on_request"),
        line("10:00:00.005000", "DEBUG", r#""message":"finished processing request","latency":"5 ms","status":200"#, "on_response"),
    ]
    .concat();
    for threads in ["1", "2"] {
        let (out, _) = run_with_stdin(
            &["analyze", "--format", "json", "--threads", threads],
            &input,
        );
        let report: serde_json::Value = serde_json::from_str(&out).expect("json");
        let c = &report["correlation"];
        assert_eq!(
            (&c["groups"], &c["late_requests"]),
            (&2.into(), &serde_json::Value::Null),
            "{c}"
        );
        let mut groups: Vec<_> = c["top"]
            .as_array()
            .expect("top")
            .iter()
            .map(|g| {
                (
                    g["first"].as_str().unwrap_or_default().to_string(),
                    g["events"].clone(),
                    g["errors"].clone(),
                    g["requests"].clone(),
                    g["span_ms"].clone(),
                    g["identifier_count"].clone(),
                )
            })
            .collect();
        groups.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            groups,
            [
                (
                    "2026-11-22T09:00:00.000000000Z".to_string(),
                    3.into(),
                    1.into(),
                    1.into(),
                    5.0.into(),
                    1.into()
                ),
                (
                    "2026-11-22T10:00:00.000000000Z".to_string(),
                    2.into(),
                    0.into(),
                    1.into(),
                    5.0.into(),
                    1.into()
                ),
            ],
            "{c}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]
    /// Skreaver pods whose clocks jump ahead past the window while requests wait for their
    /// last line (every `finished processing request` waits until its stream's next request
    /// line): no request is late (its group is pinned open; nothing is evicted below the cap),
    /// and the groups do not depend on chunking or thread count.
    #[test]
    fn waiting_requests_keep_their_groups_whatever_the_chunking(
        lines in proptest::collection::vec((0usize..3, 0usize..4, 0usize..4, 0usize..6), 1..120),
        chunk in 1024usize..8192,
        threads in 1usize..4,
    ) {
        let mut ms: u64 = 0;
        let mut text = String::new();
        for &(pod, step, kind, id) in &lines {
            ms += [100, 2_000, 700_000, 1_800_000][step];
            let ts = format!(
                "2026-11-22T{:02}:{:02}:{:02}.{:03}Z",
                7 + ms / 3_600_000,
                ms / 60_000 % 60,
                ms / 1000 % 60,
                ms % 1000
            );
            let line = match kind {
                0 | 1 => format!(
                    r#"{{"timestamp":"{ts}","level":"INFO","fields":{{"message":"finished processing request","latency":"{} ms","status":{}}},"target":"tower_http::trace::on_response","span":{{"method":"GET","uri":"/x","version":"HTTP/1.1","name":"request","trace_id":"t{id}"}}}}"#,
                    ms % 97,
                    [200, 500][kind]
                ),
                2 => format!(
                    r#"{{"timestamp":"{ts}","level":"ERROR","fields":{{"message":"response failed","classification":"Status code: 500 Internal Server Error","latency":"3 ms"}},"target":"tower_http::trace::on_failure","span":{{"method":"GET","uri":"/x","version":"HTTP/1.1","name":"request","trace_id":"t{id}"}}}}"#
                ),
                _ => format!(
                    r#"{{"timestamp":"{ts}","level":"WARN","fields":{{"message":"working","trace_id":"t{id}"}},"target":"skreaver::x"}}"#
                ),
            };
            text += &format!("[pod/web-{pod}/app] {line}\n");
        }
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("pods.log");
        std::fs::write(&p, text).expect("write");
        let input = file_inputs(&[p]);
        let base = analyze(&input, 1, 1 << 20);
        let other = analyze(&input, threads, chunk);
        let c = base.correlation.clone().expect("on");
        prop_assert_eq!((c.late_requests, c.evicted), (0, 0));
        prop_assert_eq!(&base.correlation, &other.correlation);
        prop_assert_eq!(base.requests.total, other.requests.total);
    }
}

fn concat_samples(dir: &Path) -> PathBuf {
    let mut all = Vec::new();
    for i in sample_inputs() {
        if let InputKind::File(p) = &i.kind {
            all.extend(std::fs::read(p).expect("sample"));
        }
    }
    for b in BUILTIN {
        all.extend_from_slice(b.fire.as_bytes());
    }
    let p = dir.join("all.log");
    std::fs::write(&p, all).expect("write");
    p
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]
    #[test]
    fn windowed_results_do_not_depend_on_chunking(chunk in 1024usize..32_768, threads in 1usize..4) {
        let dir = tempfile::tempdir().expect("tmp");
        let p = concat_samples(dir.path());
        let input = vec![Input {
            name: "all.log".into(),
            kind: InputKind::File(p),
            meta: PathMeta::default(),
            size: None,
        }];
        let base = analyze(&input, 1, 1 << 20);
        let other = analyze(&input, threads, chunk);
        prop_assert_eq!(&base.findings, &other.findings);
        prop_assert_eq!(&base.correlation, &other.correlation);
    }
}

/// Corruptions of a real line: a byte overwritten, a span cut out, JSON punctuation or escape
/// bytes inserted, the line truncated, invalid UTF-8 inserted.
fn corrupt(line: &[u8], edits: &[(u8, usize, u8)]) -> Vec<u8> {
    let mut b = line.to_vec();
    for &(op, at, byte) in edits {
        if b.is_empty() {
            break;
        }
        let at = at % b.len();
        match op % 5 {
            0 => b[at] = byte,
            1 => {
                let end = (at + 1 + usize::from(byte % 16)).min(b.len());
                b.drain(at..end);
            }
            2 => {
                let junk = b"{}[]\":,\\\r\x00\x1b0e-.";
                b.insert(at, junk[usize::from(byte) % junk.len()]);
            }
            3 => b.truncate(at),
            _ => b.splice(at..at, [0xff, 0xfe, 0xc3]).for_each(drop),
        }
    }
    b
}

/// One line in one of the envelopes a kubectl, containerd or docker pipe delivers.
fn enveloped(kind: u8, i: usize, line: &[u8], out: &mut Vec<u8>) {
    let ts = format!("2026-11-22T07:00:{:02}.{:09}Z", i % 60, i);
    match kind % 5 {
        0 => out.extend_from_slice(line),
        1 => {
            out.extend_from_slice(format!("[pod/p-{}/app] {ts} ", i % 3).as_bytes());
            out.extend_from_slice(line);
        }
        2 => {
            let cut = i % (line.len() + 1);
            out.extend_from_slice(format!("{ts} stdout P ").as_bytes());
            out.extend_from_slice(&line[..cut]);
            out.extend_from_slice(format!("\n{ts} stdout F ").as_bytes());
            out.extend_from_slice(&line[cut..]);
        }
        3 => {
            let log = format!("{}\n", String::from_utf8_lossy(line));
            let record = serde_json::json!({"log": log, "stream": "stderr", "time": ts});
            out.extend_from_slice(record.to_string().as_bytes());
        }
        _ => {
            out.extend_from_slice(b"\x1b[32m");
            out.extend_from_slice(line);
            out.extend_from_slice(b"\x1b[0m");
        }
    }
    out.push(b'\n');
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    /// Real lines, some corrupted, in mixed envelopes, with every rule and correlation on: no
    /// panic, every line accounted for, and the same findings and groups whatever the
    /// chunking and threads.
    #[test]
    fn corrupted_sample_lines_are_accounted_and_chunking_independent(
        picks in proptest::collection::vec(
            (0usize..100_000, any::<u8>(), proptest::collection::vec((any::<u8>(), any::<usize>(), any::<u8>()), 0..4)),
            1..200,
        ),
        chunk in 256usize..8192,
    ) {
        let dir = tempfile::tempdir().expect("tmp");
        let all = std::fs::read(concat_samples(dir.path())).expect("samples");
        let lines: Vec<&[u8]> = all.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        let mut bytes = Vec::new();
        for (i, (pick, kind, edits)) in picks.iter().enumerate() {
            enveloped(*kind, i, &corrupt(lines[pick % lines.len()], edits), &mut bytes);
        }
        let p = dir.path().join("corrupted.log");
        std::fs::write(&p, &bytes).expect("write");
        let input = vec![Input {
            name: "corrupted.log".into(),
            kind: InputKind::File(p),
            meta: PathMeta::default(),
            size: None,
        }];
        let base = analyze(&input, 1, 1 << 20);
        let i = &base.input;
        prop_assert_eq!(
            i.lines,
            i.events + i.continuation_lines + i.unparsed_lines + i.joined_partials
        );
        let other = analyze(&input, 3, chunk);
        prop_assert_eq!(&base.input, &other.input);
        prop_assert_eq!(&base.findings, &other.findings);
        prop_assert_eq!(&base.correlation, &other.correlation);
        prop_assert_eq!(&base.endpoints, &other.endpoints);
    }
}

/// A user's rule directory through the CLI: `rules test DIR` and `rules lint DIR` name what is
/// wrong and exit 1; with fixtures in `DIR/fixtures/<ID>/` the rule passes both.
#[test]
fn user_rules_dir_through_the_cli() {
    let dir = tempfile::tempdir().expect("tmp");
    let rule = r#"id = "CUSTOM001"
name = "oom-killed"
title = "A process was killed for memory"
severity = "high"
runbook = "Skreaver SRE runbook › Common Issues › 1. High Memory Usage"
description = """
The kernel's OOM killer ended a process of the service: requests in flight failed and the
pod restarts. Check the memory limits and what grew before it (see the runbook section).
"""
[match]
field = "message"
contains = "Out of memory: Killed process"
"#;
    std::fs::write(dir.path().join("CUSTOM001-oom-killed.toml"), rule).expect("rule");
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_logsleuth"))
            .args(args)
            .output()
            .expect("run")
    };
    let d = dir.path().to_str().expect("utf8");
    for args in [["rules", "test", d], ["rules", "lint", d]] {
        let out = cli(&args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert!(
            text.contains("CUSTOM001") && text.contains("fixtures"),
            "{text}"
        );
    }
    let fx = dir.path().join("fixtures/CUSTOM001");
    std::fs::create_dir_all(&fx).expect("fixtures");
    std::fs::write(
        fx.join("fire.log"),
        r#"{"level":"error","msg":"Out of memory: Killed process 4242 (skreaver)"}"#.to_string()
            + "\n",
    )
    .expect("fire");
    std::fs::write(
        fx.join("miss.log"),
        r#"{"level":"warn","msg":"Out of memory soon: 95% used"}"#.to_string() + "\n",
    )
    .expect("miss");
    for args in [["rules", "test", d], ["rules", "lint", d]] {
        let out = cli(&args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {text}");
    }
    // A second file with the same id: which one counts would be up to the file order.
    let second = dir.path().join("CUSTOM001-oom-killed-again.toml");
    std::fs::write(&second, rule.replace("oom-killed", "oom-killed-again")).expect("rule");
    for args in [&["rules", "list", "--rules", d][..], &["rules", "lint", d]] {
        let out = cli(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("rule id CUSTOM001 is also used by")
                && err.contains("CUSTOM001-oom-killed.toml")
                && err.contains("CUSTOM001-oom-killed-again.toml"),
            "{err}"
        );
    }
}

fn file_inputs(paths: &[PathBuf]) -> Vec<Input> {
    paths
        .iter()
        .map(|p| Input {
            name: p.strip_prefix(root()).unwrap_or(p).display().to_string(),
            kind: InputKind::File(p.clone()),
            meta: PathMeta::default(),
            size: None,
        })
        .collect()
}

fn input_order(names: &[&str]) -> Vec<Input> {
    let dir = root().join("fixtures/input-order");
    file_inputs(&names.iter().map(|n| dir.join(n)).collect::<Vec<_>>())
}

/// Two pods' logs read one after the other: each starts its event time again. A client's 401s
/// are a burst (AUTH005: 10 within a minute) only when they are, whichever file comes first.
#[test]
fn threshold_windows_do_not_depend_on_input_order() {
    // pod-a: nine 401s within 40 s; pod-b: one more an hour earlier. No burst (pod-a first
    // used to count ten: pod-b's match was compared with pod-a's latest).
    for order in [["pod-a.log", "pod-b.log"], ["pod-b.log", "pod-a.log"]] {
        let r = analyze(&input_order(&order), 1, 1 << 20);
        let findings = r.findings.expect("rules ran");
        assert!(findings.is_empty(), "{order:?}: {findings:#?}");
    }
    // pod-c and pod-d: five 401s each within 50 s, then pod-c runs on for an hour. One burst
    // of exactly those ten (pod-c first used to find none: its 08:10 match ended the window).
    for order in [["pod-c.log", "pod-d.log"], ["pod-d.log", "pod-c.log"]] {
        let r = analyze(&input_order(&order), 1, 1 << 20);
        let findings = r.findings.expect("rules ran");
        let f: Vec<_> = findings.iter().filter(|f| f.rule == "AUTH005").collect();
        assert_eq!(f.len(), 1, "{order:?}: {findings:#?}");
        assert_eq!(f[0].count, 10, "{order:?}");
        assert_eq!(
            f[0].first.as_deref(),
            Some("2026-11-22T07:10:00.100000000Z")
        );
        assert_eq!(f[0].last.as_deref(), Some("2026-11-22T07:10:50.100000000Z"));
        // Evidence in event time: the first three from pod-c, the last three from pod-d.
        let lines: Vec<(&str, u64)> = f[0]
            .evidence
            .iter()
            .map(|e| (e.source.rsplit('/').next().unwrap_or(""), e.line))
            .collect();
        assert_eq!(
            lines,
            [
                ("pod-c.log", 1),
                ("pod-c.log", 3),
                ("pod-c.log", 5),
                ("pod-d.log", 5),
                ("pod-d.log", 7),
                ("pod-d.log", 9)
            ],
            "{order:?}"
        );
    }
}

/// Two services' files covering the same hour: the trace id both carry joins one group in
/// either order (svc-a first used to close it by svc-a's clock, an hour on, before svc-b's
/// event could join).
#[test]
fn correlation_across_files_does_not_depend_on_input_order() {
    for order in [["svc-a.log", "svc-b.log"], ["svc-b.log", "svc-a.log"]] {
        let r = analyze(&input_order(&order), 1, 1 << 20);
        let c = r.correlation.expect("correlation");
        assert_eq!(c.groups, 2, "{order:?}");
        let t1 = c.top.iter().find(|g| g.id == "trace_id:T1").expect("T1");
        assert_eq!(
            (t1.events, t1.errors, t1.sources.len()),
            (2, 1, 2),
            "{order:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]
    /// The samples, every rule's fire fixture (one file) and the input-order fixtures, in any
    /// order: the same findings and correlation groups.
    #[test]
    fn findings_and_groups_do_not_depend_on_input_order(
        order in Just((0..13usize).collect::<Vec<_>>()).prop_shuffle()
    ) {
        let dir = tempfile::tempdir().expect("tmp");
        let fire = dir.path().join("fire.log");
        let all: String = BUILTIN.iter().map(|b| b.fire).collect();
        std::fs::write(&fire, all).expect("write");
        let mut paths: Vec<PathBuf> = sample_inputs()
            .into_iter()
            .filter_map(|i| match i.kind {
                InputKind::File(p) => Some(p),
                _ => None,
            })
            .collect();
        paths.push(fire);
        for n in ["pod-a.log", "pod-b.log", "pod-c.log", "pod-d.log", "svc-a.log", "svc-b.log"] {
            paths.push(root().join("fixtures/input-order").join(n));
        }
        prop_assert_eq!(paths.len(), 13);
        let shuffled: Vec<PathBuf> = order.iter().map(|&i| paths[i].clone()).collect();
        let base = analyze(&file_inputs(&paths), 1, 1 << 20);
        let other = analyze(&file_inputs(&shuffled), 2, 8192);
        prop_assert_eq!(&base.findings, &other.findings);
        let (mut b, mut o) = (base.correlation.expect("on"), other.correlation.expect("on"));
        // How many groups were open at once depends on the reading order; the groups do not.
        b.peak_open_groups = 0;
        o.peak_open_groups = 0;
        prop_assert_eq!(b, o);
    }
}

/// `trace` over the same two files: one group holding both events, in either order.
#[test]
fn trace_across_files_does_not_depend_on_input_order() {
    let dir = root().join("fixtures/input-order");
    for order in [["svc-a.log", "svc-b.log"], ["svc-b.log", "svc-a.log"]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_logsleuth"))
            .args(["trace", "T1", "--format", "json"])
            .args(order.iter().map(|n| dir.join(n)))
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(0), "{order:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(doc["groups"], 1, "{order:?}: {doc}");
        assert_eq!(doc["events"].as_array().map(Vec::len), Some(2), "{order:?}");
    }
}

/// The binary's stdout and stderr for `args` with `input` on stdin (exit code 0 expected).
fn run_with_stdin(args: &[&str], input: &str) -> (String, String) {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_logsleuth"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    let mut stdin = child.stdin.take().expect("stdin");
    std::io::Write::write_all(&mut stdin, input.as_bytes()).expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8(out.stderr).expect("utf8");
    assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    (String::from_utf8(out.stdout).expect("utf8"), err)
}

/// `kubectl logs -l … --prefix` without `-f` prints pod after pod on one stdin, each going back
/// in time. Each pod's stream has its own clock: the second pod's trace stays one group (with
/// one clock per input, the first pod's later times closed each of the second pod's groups
/// at its next event — every event a group of its own).
#[test]
fn correlation_of_pods_printed_one_after_another() {
    let line = |pod: &str, time: &str, level: &str, msg: &str, trace: &str| {
        format!(
            "[pod/{pod}/app] {{\"time\":\"2026-11-22T{time}Z\",\"level\":\"{level}\",\"msg\":\"{msg}\",\"trace_id\":\"{trace}\"}}\n"
        )
    };
    let late: String = (0..30)
        .map(|i| {
            line(
                "api-1",
                &format!("09:{i:02}:00"),
                "info",
                "served",
                &format!("X{i}"),
            )
        })
        .collect();
    let early: String = [
        line("api-2", "06:00:00", "info", "request accepted", "T1"),
        line("api-2", "06:00:01", "info", "calling downstream", "T1"),
        line("api-2", "06:00:02", "error", "downstream call failed", "T1"),
    ]
    .concat();
    let run = |args: &[&str], input: &str| {
        serde_json::from_str::<serde_json::Value>(&run_with_stdin(args, input).0).expect("json")
    };
    for input in [format!("{late}{early}"), format!("{early}{late}")] {
        let report = run(&["analyze", "--format", "json"], &input);
        let c = &report["correlation"];
        assert_eq!(c["groups"], 31, "{c}");
        assert_eq!(common::group_counts(&report, "trace_id:T1"), (3, 1));
        let doc = run(&["trace", "T1", "--format", "json"], &input);
        assert_eq!(doc["groups"], 1, "{doc}");
        assert_eq!(doc["events"].as_array().map(Vec::len), Some(3));
    }
}

/// When one stdin goes back in time at a new pod by more than the correlation window, stderr
/// says that groups shared across pods may be split, and what to do instead; not when the
/// pods come in time order, nor for one stream.
#[test]
fn a_pod_printed_after_a_later_one_is_pointed_out() {
    let line = |pod: &str, h: u32, m: u32, trace: &str| {
        format!(
            "[pod/{pod}/app] {{\"time\":\"2026-11-22T{h:02}:{m:02}:00Z\",\"level\":\"info\",\"msg\":\"served\",\"trace_id\":\"{trace}\"}}\n"
        )
    };
    let late: String = (0..3).map(|m| line("api-1", 9, m, "X")).collect();
    let early: String = (0..3).map(|m| line("api-2", 6, m, "T1")).collect();
    let stderr = |args: &[&str], input: &str| run_with_stdin(args, input).1;
    let back = format!("{late}{early}");
    for args in [&["analyze", "--format", "json"][..], &["trace", "T1"][..]] {
        let err = stderr(args, &back);
        assert!(
            err.contains("stdin: pod/api-2/app starts 3h02m before events already read from it")
                && err.contains("k8s://NS/?selector="),
            "{args:?}: {err}"
        );
    }
    // Within the window, with correlation off, in time order, or one stream: nothing to say.
    let err = stderr(
        &["analyze", "--correlation-window", "4h", "--format", "json"],
        &back,
    );
    assert!(!err.contains("starts"), "{err}");
    let err = stderr(&["analyze", "--no-correlation", "--format", "json"], &back);
    assert!(!err.contains("starts"), "{err}");
    let err = stderr(&["analyze", "--format", "json"], &format!("{early}{late}"));
    assert!(!err.contains("starts"), "{err}");
    let one_stream: String = back
        .lines()
        .map(|l| format!("{}\n", l.split_once("] ").map_or(l, |p| p.1)))
        .collect();
    let err = stderr(&["analyze", "--format", "json"], &one_stream);
    assert!(!err.contains("starts"), "{err}");
}

/// From a `kubectl logs --prefix` pipe, evidence names the pod each line came from (in JSON and
/// on the terminal): "stdin:12" alone does not say which replica failed.
#[test]
fn evidence_names_the_pod_of_a_kubectl_prefixed_line() {
    let fire =
        std::fs::read_to_string(root().join("fixtures/rules/AUTH003/fire.log")).expect("fixture");
    let input: String = fire
        .lines()
        .map(|l| format!("[pod/skreaver-77b9c-q2x/api] {l}\n"))
        .collect();
    let run = |args: &[&str]| run_with_stdin(args, &input).0;
    let report: serde_json::Value =
        serde_json::from_str(&run(&["analyze", "--format", "json"])).expect("json");
    let f = report["findings"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["rule"] == "AUTH003"))
        .expect("AUTH003 fires");
    let evidence = f["evidence"].as_array().expect("evidence");
    assert!(!evidence.is_empty());
    for e in evidence {
        assert_eq!(e["pod"], "skreaver-77b9c-q2x", "{e}");
        assert_eq!(e["source"], "stdin", "{e}");
    }
    let text = run(&["analyze", "--color", "never"]);
    assert!(text.contains(" [pod/skreaver-77b9c-q2x] "), "{text}");
}

/// A correlation group is named by the first identifier of its earliest event, whatever order
/// the inputs are read in; and a finding's evidence names its group as the report does at the
/// end, also when the group was renamed after the match was seen (an earlier event read later,
/// or a merge into an older group).
#[test]
fn findings_and_groups_name_a_group_as_the_report_does() {
    let dir = tempfile::tempdir().expect("tmp");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.to_string_lossy().into_owned()
    };
    let skillmeat = |ts: &str, trace: &str, request: &str| {
        format!(
            r#"{{"timestamp":"2026-11-22T{ts}Z","level":"INFO","logger":"skillmeat.x","message":"m","module":"m","function":"f","line":1,"trace_id":"{trace}","request_id":"{request}","extra":{{}}}}"#
        ) + "\n"
    };
    // DB002 fires on the Skreaver line.
    let pool_timeout = |ts: &str, request: &str| {
        format!(
            r#"{{"timestamp":"2026-11-22T{ts}Z","level":"ERROR","fields":{{"message":"Timeout occurred while waiting for a slot","request_id":"{request}"}},"target":"skreaver_http::db"}}"#
        ) + "\n"
    };
    let names = |args: &[&str]| {
        let mut all = vec!["analyze", "--format", "json"];
        all.extend_from_slice(args);
        let (out, _) = run_with_stdin(&all, "");
        let r: serde_json::Value = serde_json::from_str(&out).expect("json");
        let groups: Vec<String> = r["correlation"]["top"]
            .as_array()
            .expect("top")
            .iter()
            .map(|g| g["id"].as_str().expect("id").to_string())
            .collect();
        let finding = r["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["rule"] == "DB002")
            .expect("DB002")
            .clone();
        (
            groups,
            finding["correlation_groups"].clone(),
            finding["evidence"][0]["correlation"].clone(),
        )
    };
    let a = write("a.log", &skillmeat("07:00:00.000000", "TX", "req-1"));
    let b = write("b.log", &pool_timeout("07:00:00.500000", "req-1"));
    for order in [[&a, &b], [&b, &a]] {
        let (groups, finding, evidence) = names(&[order[0].as_str(), order[1].as_str()]);
        assert_eq!(groups, ["trace_id:TX"], "{order:?}");
        assert_eq!(finding, serde_json::json!(["trace_id:TX"]), "{order:?}");
        assert_eq!(evidence, "trace_id:TX", "{order:?}");
    }
    // The match's group (request_id:R2) is merged into an older one by a later event.
    let merged = write(
        "m.log",
        &[
            skillmeat("07:00:00.000000", "T0", "R0"),
            pool_timeout("07:00:02.000000", "R2"),
            skillmeat("07:00:03.000000", "T0", "R2"),
        ]
        .concat(),
    );
    let (groups, finding, _) = names(&[merged.as_str()]);
    assert_eq!(groups, ["trace_id:T0"]);
    assert_eq!(finding, serde_json::json!(["trace_id:T0"]));
    // The group named `trace_id:B` closes; `request_id:A` comes back 30 minutes later in a
    // group of its own, and the match there names that one.
    let reused = write(
        "r.log",
        &[
            pool_timeout("07:00:10.000000", "A"),
            skillmeat("07:00:05.000000", "B", "A"),
            pool_timeout("07:30:00.000000", "A"),
        ]
        .concat(),
    );
    let (groups, finding, _) = names(&[reused.as_str()]);
    assert_eq!(groups, ["trace_id:B", "request_id:A"]);
    assert_eq!(finding, serde_json::json!(["trace_id:B", "request_id:A"]));
}

/// An error event without a time has no offset in the trace: `?` in its header line, as in
/// the timeline (not `+0.000s`, which would place it at the start).
#[test]
fn trace_first_error_without_a_time_has_no_offset() {
    let input = concat!(
        r#"{"time":"2026-11-22T07:00:05Z","level":"info","msg":"second","trace_id":"T9"}"#,
        "\n",
        r#"level=error msg="no time here" trace_id=T9"#,
        "\n",
        r#"{"time":"2026-11-22T07:00:01Z","level":"info","msg":"first","trace_id":"T9"}"#,
        "\n",
    );
    let (out, _) = run_with_stdin(&["trace", "T9"], input);
    assert!(
        out.contains("  first error: ? other stdin:2 no time here"),
        "{out}"
    );
}

/// The runbooks' alerts over 5 minutes are decided over every window of 5 minutes, not only
/// those that start on a minute: a burst across minute boundaries fires; a latency quantile
/// just above its limit fires (decided from counts, not the sketch's estimate); a finding's
/// first and last are the times of its requests.
#[test]
fn windowed_alerts_see_every_window_and_exact_quantiles() {
    let access = |t: f64, status: u16| {
        let (m, s) = ((t / 60.0) as u32, t % 60.0);
        format!(
            r#"{{"timestamp": "2026-11-22T07:{m:02}:{s:09.6}", "level": "INFO", "logger": "uvicorn.access", "message": "10.0.0.5:50000 - \"GET /api/v1/artifacts HTTP/1.1\" {status}", "module": "httptools_impl", "function": "send", "line": 482}}"#
        ) + "\n"
    };
    let findings = |input: &str| -> Vec<serde_json::Value> {
        let (out, _) = run_with_stdin(&["analyze", "--no-correlation", "--format", "json"], input);
        let r: serde_json::Value = serde_json::from_str(&out).expect("json");
        r["findings"].as_array().expect("findings").clone()
    };
    // 30 errors at 07:00:50–07:00:58.7 and 30 at 07:05:00–07:05:08.7: 60 in the five minutes
    // from 07:00:50 (0.2/s, limit 0.1/s), but only 30 in any window starting on a minute.
    let burst: String = (0..30)
        .flat_map(|i| {
            [
                access(50.0 + 0.3 * f64::from(i), 500),
                access(300.0 + 0.3 * f64::from(i), 500),
            ]
        })
        .collect();
    let f = findings(&burst);
    let err001 = f
        .iter()
        .find(|f| f["rule"] == "ERR001")
        .expect("ERR001 fires");
    assert_eq!(err001["count"], 60);
    assert_eq!(err001["first"], "2026-11-22T07:00:50.000000000Z");
    assert_eq!(err001["last"], "2026-11-22T07:05:08.700000000Z");
    // Exactly 30 in every window: the limit is not exceeded.
    let at_limit: String = (0..30)
        .map(|i| access(50.0 + 9.0 * f64::from(i), 500))
        .collect();
    assert!(findings(&at_limit).iter().all(|f| f["rule"] != "ERR001"));

    let completed = |i: u32, ms: f64| {
        format!(
            r#"{{"timestamp": "2026-11-22T07:01:{:02}Z", "level": "INFO", "logger": "skillmeat.api.middleware.observability", "message": "Request completed: GET /api/v1/artifacts - 200", "module": "observability", "function": "dispatch", "line": 174, "trace_id": "t-{i}", "user_id": null, "request_id": "r-{i}", "extra": {{"method": "GET", "path": "/api/v1/artifacts", "status_code": 200, "duration_ms": {ms}}}}}"#,
            i * 2
        ) + "\n"
    };
    // p95 of 20 requests is the value at rank ⌊0.95·19⌋ = 18: 2 requests of 5010 ms make it
    // 5010 ms (> 5000); 1 does not. The sketch alone reads 5010 as 4965.
    let latencies = |slow: u32| -> String {
        (0..20)
            .map(|i| completed(i, if i < 20 - slow { 120.0 } else { 5010.0 }))
            .collect()
    };
    let f = findings(&latencies(2));
    let lat = f
        .iter()
        .find(|f| f["rule"] == "LAT001")
        .expect("LAT001 fires");
    assert_eq!(lat["count"], 2);
    // The sketch reads 5010 ms as 4965: the detail says what was decided, not a value below
    // the limit (regression).
    assert_detail_starts(lat, "peak p95 > 5000 ms over 5m (2 of 20 requests");
    assert_eq!(
        (lat["first"].as_str(), lat["last"].as_str()),
        (
            Some("2026-11-22T07:01:36.000000000Z"),
            Some("2026-11-22T07:01:38.000000000Z")
        )
    );
    assert!(
        findings(&latencies(1))
            .iter()
            .all(|f| f["rule"] != "LAT001")
    );
    // Exactly at the limit is not above it.
    let at: String = (0..20).map(|i| completed(i, 5000.0)).collect();
    assert!(findings(&at).iter().all(|f| f["rule"] != "LAT001"));
}

/// Skreaver at `tower_http=debug` prints `finished processing request` for every request: a log
/// where all of them are 5xx (an outage) is an error ratio of 100 % and fires ERR002. At `info`
/// only `response failed` lines are printed: they say nothing of the share of errors.
#[test]
fn an_outage_fires_the_error_ratio_but_failure_only_logs_do_not() {
    let span =
        r#""span": {"method": "GET", "uri": "/agents", "version": "HTTP/1.1", "name": "request"}"#;
    let line = |i: u32, message: &str, extra: &str, level: &str| {
        format!(
            r#"{{"timestamp": "2026-11-22T07:10:{:02}.010000Z", "level": "{level}", "fields": {{"message": "{message}", "latency": "10 ms"{extra}}}, "target": "tower_http::trace", {span}}}"#,
            i * 2
        ) + "\n"
    };
    let finished = |i| {
        line(
            i,
            "finished processing request",
            r#", "status": 500"#,
            "DEBUG",
        )
    };
    let failed = |i| {
        line(
            i,
            "response failed",
            r#", "classification": "Status code: 500 Internal Server Error""#,
            "ERROR",
        )
    };
    let err002 = |input: String| -> Option<serde_json::Value> {
        let (out, _) = run_with_stdin(&["analyze", "--no-correlation", "--format", "json"], &input);
        let r: serde_json::Value = serde_json::from_str(&out).expect("json");
        r["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["rule"] == "ERR002")
            .cloned()
    };
    let outage = err002((0..25).map(|i| finished(i) + &failed(i)).collect())
        .expect("an outage fires ERR002");
    assert_eq!(outage["count"], 25);
    assert!(err002((0..25).map(failed).collect()).is_none());
}

/// Regression: windows at the edge of the data tripped the 5-minute alerts. Ten minutes of
/// Skreaver requests at 1/s with 8 5xx (no 5-minute window inside the data above 1.7 %): a
/// window placed mostly before the first or after the last request held ~20 of them, so 2 5xx
/// in the first or last 20 s read as 10 %. Windows lie within the data; where they do, a real
/// burst still fires, and data shorter than a window is judged as one window.
#[test]
fn alerts_judge_only_windows_within_the_data() {
    let skreaver = |i: u32, status: u16, latency_ms: u32| {
        format!(
            r#"{{"timestamp":"2026-11-22T08:{:02}:{:02}.000000Z","level":"DEBUG","fields":{{"message":"finished processing request","latency":"{latency_ms} ms","status":{status}}},"target":"tower_http::trace::on_response","span":{{"method":"GET","uri":"/agents","version":"HTTP/1.1","name":"request"}}}}"#,
            i / 60,
            i % 60
        ) + "\n"
    };
    let fired = |input: &str, rule: &str| -> Option<serde_json::Value> {
        let (out, _) = run_with_stdin(&["analyze", "--no-correlation", "--format", "json"], input);
        let r: serde_json::Value = serde_json::from_str(&out).expect("json");
        r["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["rule"] == rule)
            .cloned()
    };
    // 600 requests, a 5xx at every 100th (+50) and at `extra`.
    let errors = |extra: &[u32]| -> String {
        (0..600)
            .map(|i| {
                let bad = i % 100 == 50 || extra.contains(&i);
                skreaver(i, if bad { 500 } else { 200 }, 5)
            })
            .collect()
    };
    for (what, extra) in [
        ("last 20 s", [585, 595]),
        ("first 20 s", [3, 13]),
        ("a minute before the end", [525, 535]),
    ] {
        assert_eq!(
            fired(&errors(&extra), "ERR002"),
            None,
            "2 more 5xx in the {what}"
        );
    }
    // 16 5xx within five minutes inside the data (> 5 % of 300) fire; the peak is of a window
    // placed to within a sub-bucket (17 of 310 s).
    let burst: Vec<u32> = (0..14).map(|k| 400 + 10 * k).collect();
    let f = fired(&errors(&burst), "ERR002").expect("a burst inside the data fires");
    assert_detail_starts(&f, "peak error ratio 5.5% over 310s");
    // Shorter than a window: one window of all of it (2 of 30 = 6.7 %).
    let short: String = (0..30)
        .map(|i| skreaver(i, if i >= 28 { 500 } else { 200 }, 5))
        .collect();
    assert!(fired(&short, "ERR002").is_some());

    // LAT002 (p99 above 1 s): 2 slow requests in the first 20 s of 600 do not make a p99.
    let slow = |at: &[u32]| -> String {
        (0..600)
            .map(|i| skreaver(i, 200, if at.contains(&i) { 3000 } else { 5 }))
            .collect()
    };
    assert_eq!(fired(&slow(&[3, 13]), "LAT002"), None);
    assert_eq!(fired(&slow(&[585, 595]), "LAT002"), None);
    assert!(fired(&slow(&(300..310).collect::<Vec<_>>()), "LAT002").is_some());
}

/// Regression: DB002 fired on Skreaver's Redis pool (deadpool: Skreaver uses it only for
/// Redis) but pointed to the runbook's Postgres pool section; START001 pointed SkillMeat's
/// failed migrations to the Skreaver runbook. Each finding names its own service's section.
#[test]
fn findings_point_to_the_runbook_section_of_what_failed() {
    let input = concat!(
        "[pod/skreaver-25q5zcvpgk-zqhb8/skreaver] 2026-11-22T06:01:10.850848296Z {\"timestamp\":\"2026-11-22T06:01:10.787130Z\",\"level\":\"ERROR\",\"fields\":{\"message\":\"Failed to get connection: Connection failed: Timeout occurred while waiting for a slot to become available\"},\"target\":\"skreaver_mesh::redis\"}\n",
        "[pod/skillmeat-6c9f-2kq7d/skillmeat] 2026-11-22T06:02:00.000000000Z [entrypoint] ERROR: Alembic migrations failed\n",
    );
    let (out, _) = run_with_stdin(&["analyze", "--format", "json"], input);
    let r: serde_json::Value = serde_json::from_str(&out).expect("json");
    let refs: Vec<(String, String)> = r["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap_or("").into(),
                f["runbook"].as_str().unwrap_or("").into(),
            )
        })
        .collect();
    assert_eq!(
        refs,
        [
            (
                "START002".to_string(),
                "SkillMeat monitoring runbook › Incident Response Workflow › 4. Mitigation (rollback deployment)".to_string()
            ),
            (
                "DB002".to_string(),
                "Skreaver SRE runbook › Common Issues › 5. Redis Connection Issues".to_string()
            ),
        ]
    );
}

/// Regression: a panic finding showed only where it panicked, and the terminal cut the GitHub
/// rate-limit message before `Resets at:`, which the runbook asks for. The evidence shows a
/// panic's message (attached as its continuation lines) and a message's end; a slow request
/// read from kubectl `--prefix` output keeps its line number beside its pod.
#[test]
fn evidence_shows_why_and_what_the_runbook_asks_for() {
    let panic = concat!(
        "thread 'tokio-runtime-worker' (31) panicked at crates/skreaver-http/src/runtime/backpressure/mod.rs:412:38:\n",
        "called `Option::unwrap()` on a `None` value\n",
        "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
    );
    let (out, _) = run_with_stdin(&["analyze"], panic);
    assert!(
        out.contains("panicked at crates/skreaver-http/src/runtime/backpressure/mod.rs:412:38\n             ↳ called `Option::unwrap()` on a `None` value\n"),
        "{out}"
    );
    let (json, _) = run_with_stdin(&["analyze", "--format", "json"], panic);
    let r: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(
        r["findings"][0]["evidence"][0]["cause"],
        "called `Option::unwrap()` on a `None` value"
    );

    let gh = r#"{"timestamp": "2026-11-22T07:01:49.006012", "level": "WARNING", "logger": "skillmeat.core.github_metadata", "message": "GitHub API rate limit exceeded while fetching skills/pdf/SKILL.md: GitHub API rate limit exceeded (get_repo(anthropics/skills)). Limit: 60, Resets at: 2026-11-22 07:31:43+00:00", "module": "github_metadata", "function": "_fetch_file_content", "line": 352}"#;
    let (out, _) = run_with_stdin(&["analyze"], &format!("{gh}\n"));
    assert!(
        out.contains("Limit: 60, Resets at: 2026-11-22 07:31:43+00:00\n"),
        "{out}"
    );

    let slow = "[pod/skreaver-7d9f-x2b/skreaver] 2026-11-22T08:00:00.000000000Z {\"timestamp\":\"2026-11-22T08:00:00.000000Z\",\"level\":\"DEBUG\",\"fields\":{\"message\":\"finished processing request\",\"latency\":\"2500 ms\",\"status\":200},\"target\":\"tower_http::trace::on_response\",\"span\":{\"method\":\"GET\",\"uri\":\"/agents\",\"version\":\"HTTP/1.1\",\"name\":\"request\"}}\n";
    let (out, _) = run_with_stdin(&["analyze", "--slow-ms", "1000"], &format!("{slow}{slow}"));
    assert!(out.contains("stdin:2 skreaver-7d9f-x2b/skreaver"), "{out}");
}

/// Skreaver at `info` logs only failed requests: no ratio, so ERR002 is silent; ERR004 counts
/// the failures (more than 30 in 5 minutes). Regression: 50 `response failed` 5xx in 50 s
/// gave "Findings: none".
#[test]
fn failure_only_logs_fire_on_the_count_of_5xx() {
    let failed = |i: u32| {
        format!(
            r#"{{"timestamp":"2026-11-22T08:00:{i:02}.000000Z","level":"ERROR","fields":{{"message":"response failed","classification":"Status code: 500 Internal Server Error","latency":"0 ms"}},"target":"tower_http::trace::on_failure"}}"#
        ) + "\n"
    };
    let rules = |n: u32| -> Vec<String> {
        let input: String = (0..n).map(failed).collect();
        let (out, _) = run_with_stdin(&["analyze", "--format", "json"], &input);
        let r: serde_json::Value = serde_json::from_str(&out).expect("json");
        r["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["rule"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(rules(50), ["ERR004"]);
    assert!(rules(30).is_empty());
}

/// The binary's stdout for `args`, run in the crate's root (so inputs keep their relative
/// names in the output); `code` is the exit code expected.
fn run_in_root(args: &[&str], code: i32) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logsleuth"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    String::from_utf8(out.stdout).expect("utf8")
}

fn json_in_root(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&run_in_root(args, 0)).expect("json")
}

/// A request answered 500 that logged nothing at error level (SkillMeat logs a handled
/// `HTTPException(500)` only as INFO `Request completed … - 500`) is an error of its group for
/// `trace` as for `analyze`, and the first error is that request's line.
#[test]
fn trace_counts_a_5xx_request_without_an_error_event_as_analyze_does() {
    let file = "fixtures/trace/handled-500.log";
    let report = json_in_root(&["analyze", "--format", "json", file]);
    assert_eq!(common::group_counts(&report, "trace_id:trace-zzz"), (6, 1));
    let text = run_in_root(&["trace", "trace-zzz", file], 0);
    insta::assert_snapshot!("trace-handled-500", text);
    let doc = json_in_root(&["trace", "trace-zzz", "--format", "json", file]);
    assert_eq!(doc["errors"], 1, "{doc}");
    let first = &doc["first_error"];
    assert_eq!(
        (&first["source"], &first["line"], &first["status"]),
        (&file.into(), &6.into(), &500.into()),
        "{doc}"
    );
}

/// An id that reappears after the window is in two groups: each has its own heading, events,
/// errors, first error and slowest request, in text and in JSON (`by_group`).
#[test]
fn trace_of_an_id_in_two_groups_shows_each_group() {
    let files = [
        "fixtures/trace/handled-500.log",
        "fixtures/trace/handled-500-later.log",
    ];
    let text = run_in_root(&[&["trace", "trace-zzz"][..], &files].concat(), 0);
    insta::assert_snapshot!("trace-two-groups", text);
    let doc = json_in_root(&[&["trace", "trace-zzz", "--format", "json"][..], &files].concat());
    assert_eq!(
        (&doc["groups"], &doc["errors"]),
        (&2.into(), &1.into()),
        "{doc}"
    );
    let groups = doc["by_group"].as_array().expect("by_group");
    let summary: Vec<_> = groups
        .iter()
        .map(|g| {
            (
                g["id"].as_str().unwrap_or_default(),
                g["events"].as_u64(),
                g["errors"].as_u64(),
                g["first_error"]["line"].as_u64(),
                g["span_ms"].as_f64(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "trace_id:trace-zzz",
                Some(6),
                Some(1),
                Some(6),
                Some(300_100.0)
            ),
            ("trace_id:trace-zzz", Some(3), Some(0), None, Some(100.0)),
        ]
    );
    // Each event names its group (an index into `by_group`).
    let of: Vec<_> = doc["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e["group"].as_u64())
        .collect();
    assert_eq!(of, [[Some(0); 6].as_slice(), &[Some(1); 3]].concat());
}

/// A label (`client_ip`, `user_id`) labels groups without linking them: `trace` of one shows
/// each group it is in under its own heading, each with the counts `analyze` gives the group;
/// the events that carry the label but belong to no group come last, on their own.
#[test]
fn trace_of_a_label_shows_each_group_on_its_own() {
    let dir = "fixtures/trace/labels";
    let report = json_in_root(&["analyze", "--format", "json", dir]);
    for (target, n) in [("10.0.0.5", 5), ("user_42", 3)] {
        let text = run_in_root(&["trace", target, dir], 0);
        insta::assert_snapshot!(format!("trace-label-{target}"), text);
        let doc = json_in_root(&["trace", target, "--format", "json", dir]);
        assert_eq!(doc["groups"], n, "{doc}");
        let groups = doc["by_group"].as_array().expect("by_group");
        assert_eq!(groups.len(), n);
        let mut firsts = Vec::new();
        for g in groups {
            let id = g["id"].as_str().expect("id");
            assert_eq!(
                (
                    g["events"].as_u64().unwrap_or(0),
                    g["errors"].as_u64().unwrap_or(0)
                ),
                common::group_counts(&report, id),
                "{id}"
            );
            let top = report["correlation"]["top"]
                .as_array()
                .and_then(|t| t.iter().find(|x| x["id"] == id))
                .expect("group");
            assert_eq!(
                (&g["first"], &g["span_ms"], &g["requests"]),
                (&top["first"], &top["span_ms"], &top["requests"]),
                "{id}"
            );
            firsts.push(g["first"].as_str().unwrap_or_default().to_string());
        }
        assert!(firsts.is_sorted(), "{firsts:?}");
        let errors: u64 = groups.iter().filter_map(|g| g["errors"].as_u64()).sum();
        let loose = doc["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["group"].is_null() && e["level"] == "error")
            .count() as u64;
        assert_eq!(doc["errors"].as_u64(), Some(errors + loose));
    }
}

/// The evidence of a match in a text-mode traceback or panic is the event: its line and
/// message, the matching line as its cause — as for a JSON event whose `exception` matched.
/// Regression: it cited the traceback line (`:4 sqlalchemy.exc.TimeoutError: …`), losing the
/// request path, and the same finding read differently in text and JSON logs.
#[test]
fn evidence_of_a_traceback_match_is_its_event_in_text_as_in_json() {
    let timeout = "sqlalchemy.exc.TimeoutError: QueuePool limit of size 5 overflow 10 reached, connection timed out, timeout 30.00 (Background on this error at: https://sqlalche.me/e/20/3o7r)";
    let text = format!(
        "2026-11-22 10:00:04,000 - skillmeat.api.server - INFO - Logging configured\n\
         2026-11-22 10:00:05,000 - skillmeat.api.middleware.observability - ERROR - Request failed: GET /api/v1/artifacts\n\
         Traceback (most recent call last):\n  File \"/app/x.py\", line 1, in f\n{timeout}\n"
    );
    let json = format!(
        "{{\"timestamp\": \"2026-11-22T10:00:04\", \"level\": \"INFO\", \"logger\": \"skillmeat.api.server\", \"message\": \"Logging configured\", \"module\": \"server\", \"function\": \"lifespan\", \"line\": 1}}\n\
         {{\"timestamp\": \"2026-11-22T10:00:05\", \"level\": \"ERROR\", \"logger\": \"skillmeat.api.middleware.observability\", \"message\": \"Request failed: GET /api/v1/artifacts\", \"module\": \"observability\", \"function\": \"dispatch\", \"line\": 134, \"exception\": \"Traceback (most recent call last):\\n  File \\\"/app/x.py\\\", line 1, in f\\n{timeout}\"}}\n"
    );
    let evidence = |input: &str, rule: &str| {
        let (out, _) = run_with_stdin(&["analyze", "--format", "json"], input);
        let r: serde_json::Value = serde_json::from_str(&out).expect("json");
        let f = r["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["rule"] == rule)
            .unwrap_or_else(|| panic!("{rule} fires: {out}"))
            .clone();
        let e = &f["evidence"][0];
        (e["line"].clone(), e["message"].clone(), e["cause"].clone())
    };
    let want = (
        serde_json::json!(2),
        serde_json::json!("Request failed: GET /api/v1/artifacts"),
        serde_json::json!(timeout),
    );
    assert_eq!(evidence(&text, "DB001"), want, "text");
    assert_eq!(evidence(&json, "DB001"), want, "json");
    let (out, _) = run_with_stdin(&["analyze"], &text);
    assert!(
        out.contains(&format!(
            "stdin:2 Request failed: GET /api/v1/artifacts\n             ↳ {timeout}\n"
        )),
        "{out}"
    );

    // A panic's text: the panic line, and the line of its message that matched.
    let panic = concat!(
        "thread 'main' (1) panicked at crates/skreaver-http/src/runtime/http/mod.rs:89:13:\n",
        "FATAL: Authentication configuration validation failed\n",
        "Error: SKREAVER_JWT_SECRET environment variable must be set in production. Generate a secure random secret: openssl rand -base64 32\n",
        "CRITICAL: Invalid authentication configuration prevents startup. Please set SKREAVER_JWT_SECRET environment variable in production.\n",
        "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
    );
    assert_eq!(
        evidence(panic, "START001"),
        (
            serde_json::json!(1),
            serde_json::json!("panicked at crates/skreaver-http/src/runtime/http/mod.rs:89:13"),
            serde_json::json!("FATAL: Authentication configuration validation failed"),
        )
    );
}

/// A request seen only through tower-http's `response failed` (Skreaver at `info`) has no
/// method or path: its evidence says so. Regression: it read `? ? → 500 (3 ms)`.
#[test]
fn evidence_of_a_failure_only_request_says_what_was_not_logged() {
    let input: String = (0..31)
        .map(|i| {
            format!(
                r#"{{"timestamp":"2026-11-22T08:00:{i:02}.000000Z","level":"ERROR","fields":{{"message":"response failed","classification":"Status code: 500 Internal Server Error","latency":"3 ms"}},"target":"tower_http::trace::on_failure"}}"#
            ) + "\n"
        })
        .collect();
    let (out, _) = run_with_stdin(&["analyze", "--format", "json"], &input);
    let r: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(r["findings"][0]["rule"], "ERR004", "{out}");
    assert_eq!(
        r["findings"][0]["evidence"][0]["message"],
        "(method and path not logged) → 500 (3 ms)"
    );
    let (out, _) = run_with_stdin(&["analyze"], &input);
    assert!(
        out.contains("stdin:1 (method and path not logged) → 500 (3 ms)\n"),
        "{out}"
    );
    assert!(!out.contains("? ?"), "{out}");
}

/// Severities of the rules that answer a runbook alert are the runbooks' (Critical →
/// `critical`, Warning → `medium`): MCPServerUnhealthy and "DB Connections Exhausted" are
/// Critical (SkillMeat monitoring runbook, Skreaver SRE runbook › Alert Thresholds). DB002 is
/// Redis, which the runbook's database-pool alert does not cover. Regression: MCP001 and DB006
/// were `high`, so `--fail-on critical` passed them.
#[test]
fn severities_follow_the_runbooks() {
    let (out, _) = run_with_stdin(&["rules", "list"], "");
    let severity = |id: &str| {
        out.lines()
            .find_map(|l| {
                let mut w = l.split_whitespace();
                (w.next() == Some(id)).then(|| w.next().unwrap_or("").to_string())
            })
            .unwrap_or_else(|| panic!("{id} listed: {out}"))
    };
    for (id, want) in [
        ("MCP001", "critical"),
        ("DB003", "critical"),
        ("DB006", "critical"),
        ("ERR001", "medium"),
        ("LAT001", "medium"),
        ("GH002", "medium"),
        ("ERR002", "critical"),
        ("LAT002", "medium"),
        ("WS004", "medium"),
        ("DB002", "high"),
    ] {
        assert_eq!(severity(id), want, "{id}");
    }
}

/// `2026-11-22T09:00:00Z` plus `secs`, as Skreaver and kubectl print it.
fn at_0900(secs: f64) -> String {
    let us = (secs * 1e6).round() as u64;
    let s = us / 1_000_000;
    format!(
        "2026-11-22T{:02}:{:02}:{:02}.{:06}Z",
        9 + s / 3600,
        s / 60 % 60,
        s % 60,
        us % 1_000_000
    )
}

/// The findings of `analyze --format json` over stdin.
fn json_findings(input: &str) -> Vec<serde_json::Value> {
    let (out, _) = run_with_stdin(&["analyze", "--no-correlation", "--format", "json"], input);
    let r: serde_json::Value = serde_json::from_str(&out).expect("json");
    r["findings"].as_array().expect("findings").clone()
}

fn finding<'f>(f: &'f [serde_json::Value], rule: &str) -> Option<&'f serde_json::Value> {
    f.iter().find(|f| f["rule"] == rule)
}

/// A Skreaver request at `tower_http=debug` (`finished processing request`; a 5xx also logs
/// `response failed`).
fn skreaver_debug(secs: f64, status: u16, latency_ms: u32) -> String {
    let t = at_0900(secs);
    let span = r#""span":{"method":"GET","uri":"/agents","version":"HTTP/1.1","name":"request"}"#;
    let mut out = format!(
        r#"{{"timestamp":"{t}","level":"DEBUG","fields":{{"message":"finished processing request","latency":"{latency_ms} ms","status":{status}}},"target":"tower_http::trace::on_response",{span}}}"#
    ) + "\n";
    if status >= 500 {
        out += &(format!(
            r#"{{"timestamp":"{t}","level":"ERROR","fields":{{"message":"response failed","classification":"Status code: {status} Internal Server Error","latency":"{latency_ms} ms"}},"target":"tower_http::trace::on_failure",{span}}}"#
        ) + "\n");
    }
    out
}

/// A failed Skreaver request at `info`: only `response failed` is printed.
fn skreaver_info_failure(secs: f64) -> String {
    let t = at_0900(secs);
    format!(
        r#"{{"timestamp":"{t}","level":"ERROR","fields":{{"message":"response failed","classification":"Status code: 500 Internal Server Error","latency":"3 ms"}},"target":"tower_http::trace::on_failure"}}"#
    ) + "\n"
}

/// Each line of `text` as kubectl `--prefix --timestamps` prints it for `pod`.
fn kubectl(pod: &str, text: &str) -> String {
    text.lines()
        .map(|l| {
            let t = l
                .split("\"timestamp\":\"")
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or_default();
            format!("[pod/{pod}/skreaver] {t} {l}\n")
        })
        .collect()
}

/// QA s17 #4: `[rate]` windows sat on a grid of a thirtieth of their length, so 31 SkillMeat
/// 5xx within 295 s astride grid points did not fire ERR001 ("more than 30 in any 5-minute
/// window"). A count of errors is now exact (every window, to the nanosecond, as
/// `[threshold]`); a ratio is judged over windows of 5 m and 5 m 10 s on sub-bucket
/// boundaries, so a burst that fits in 5 minutes is never split.
#[test]
fn rate_windows_judge_any_window_of_their_length() {
    let access = |secs: f64, status: u16| {
        let t = at_0900(secs);
        let t = t.trim_end_matches('Z');
        format!(
            r#"{{"timestamp": "{t}", "level": "INFO", "logger": "uvicorn.access", "message": "10.0.0.5:50000 - \"GET /api/v1/artifacts HTTP/1.1\" 500", "module": "httptools_impl", "function": "send", "line": 482}}"#
        )
        .replace("500\"", &format!("{status}\"")) + "\n"
    };
    // 31 5xx from `start` over `span` seconds.
    let errors = |start: f64, span: f64| -> String {
        (0..31)
            .map(|i| access(start + span * f64::from(i) / 30.0, 500))
            .collect()
    };
    let f = json_findings(&errors(9.0, 295.0));
    let err001 = finding(&f, "ERR001").expect("31 in 295 s astride the grid fire");
    assert_eq!(err001["count"], 31);
    assert_eq!(err001["first"], "2026-11-22T09:00:09.000000000Z");
    assert_eq!(err001["last"], "2026-11-22T09:05:04.000000000Z");
    assert_detail_starts(err001, "peak 31 errors within 5m (0.103/s");
    // A window of exactly 5 minutes holds both ends (as [threshold]); 300.5 s is too long.
    assert!(finding(&json_findings(&errors(5.0, 300.0)), "ERR001").is_some());
    assert!(finding(&json_findings(&errors(5.0, 300.5)), "ERR001").is_none());

    // ERR002: 1 request/s for 20 minutes; 16 5xx from 09:05:05 to 09:10:04 (16 of the 300
    // requests of that stretch, 5.3 %). Every window of 5 minutes on the 10 s grid holds at
    // most 15 of 300 (5 %, not above): the window of 5 m 10 s from 09:05:00 holds all 16.
    let bad: Vec<u32> = [305, 604]
        .into_iter()
        .chain((0..14).map(|k| 320 + 20 * k))
        .collect();
    let input: String = (0..1200u32)
        .map(|i| skreaver_debug(f64::from(i), if bad.contains(&i) { 500 } else { 200 }, 5))
        .collect();
    let f = json_findings(&input);
    let err002 = finding(&f, "ERR002").expect("a burst astride the grid fires");
    assert_eq!(err002["count"], 16);
    assert_detail_starts(err002, "peak error ratio 5.2% over 310s");
}

/// QA s17 #5: `min_requests = 20` / `min_samples = 20` silenced total outages on low traffic
/// (19 of 19 requests answered 500; 19 requests of 3 s). The guards are now a minimum of
/// errors (slow requests) in the window: 2 for ERR002, LAT001, LAT002 and 3 for WS004, the
/// fewest each could fire on with 20 requests — so one failure among a handful stays silent.
#[test]
fn low_traffic_outages_fire_on_a_minimum_of_errors() {
    // ERR002: 2 of 2 fire; 1 of 3 does not.
    let requests = |statuses: &[u16]| -> String {
        statuses
            .iter()
            .enumerate()
            .map(|(i, &s)| skreaver_debug(20.0 * i as f64, s, 5))
            .collect()
    };
    assert!(finding(&json_findings(&requests(&[500, 500])), "ERR002").is_some());
    assert!(finding(&json_findings(&requests(&[200, 500, 200])), "ERR002").is_none());

    // LAT001: 19 SkillMeat requests of 6 s fire; 1 of 3, or one request alone, does not.
    let completed = |i: usize, ms: f64| {
        format!(
            r#"{{"timestamp": "2026-11-22T07:01:{:02}Z", "level": "INFO", "logger": "skillmeat.api.middleware.observability", "message": "Request completed: GET /api/v1/artifacts - 200", "module": "observability", "function": "dispatch", "line": 174, "trace_id": "t-{i}", "user_id": null, "request_id": "r-{i}", "extra": {{"method": "GET", "path": "/api/v1/artifacts", "status_code": 200, "duration_ms": {ms}}}}}"#,
            i * 3
        ) + "\n"
    };
    let latencies = |ms: &[f64]| -> String {
        ms.iter()
            .enumerate()
            .map(|(i, &m)| completed(i, m))
            .collect()
    };
    let f = json_findings(&latencies(&[6000.0; 19]));
    let lat = finding(&f, "LAT001").expect("19 requests of 6 s fire");
    assert_eq!(lat["count"], 19);
    assert!(
        finding(
            &json_findings(&latencies(&[120.0, 6000.0, 120.0])),
            "LAT001"
        )
        .is_none()
    );
    assert!(finding(&json_findings(&latencies(&[6000.0])), "LAT001").is_none());

    // WS004: 3 of 5 connection attempts refused fire; 2 of 5 do not.
    let attempts = |refused: usize| -> String {
        (0..5)
            .map(|i| {
                let t = at_0900(2.0 * i as f64);
                if i < refused {
                    format!("{t}  WARN skreaver_http::websocket::handlers: Connection limit exceeded for 10.0.5.{i}:59910\n")
                } else {
                    format!("{t}  INFO skreaver_http::websocket::handlers: WebSocket connection established: 9c0a7a5d-0d8c-20aa-bbbb-00000000000{i} from 10.0.2.{i}:50535\n")
                }
            })
            .collect()
    };
    assert!(finding(&json_findings(&attempts(3)), "WS004").is_some());
    assert!(finding(&json_findings(&attempts(2)), "WS004").is_none());
}

/// QA s17 #2: "only failures logged" was decided per service over the whole run, so a pod at
/// `info` (failures only) analysed beside a pod at `tower_http=debug` lost its ERR004 finding,
/// and ERR002 mixed the failures of a pod whose successes are invisible into its ratio. It is
/// now decided per stream: the failure-only pod's 5xx count in ERR004, and are kept out of
/// ERR002's numerator and denominator — in either order of the pods.
#[test]
fn failure_only_streams_are_decided_per_stream() {
    // The debug pod: 40 requests in 4 minutes, 4 of them 5xx (10 %); the info pod: 31 5xx
    // within 4 minutes.
    let debug: String = (0..40u32)
        .map(|i| skreaver_debug(6.0 * f64::from(i), if i % 10 == 3 { 500 } else { 200 }, 5))
        .collect();
    let info: String = (0..31u32)
        .map(|i| skreaver_info_failure(1.0 + 8.0 * f64::from(i)))
        .collect();
    let (debug, info) = (
        kubectl("skreaver-7c9d4-dbg01", &debug),
        kubectl("skreaver-7c9d4-inf02", &info),
    );
    for input in [format!("{debug}{info}"), format!("{info}{debug}")] {
        let f = json_findings(&input);
        let err004 = finding(&f, "ERR004").expect("the info pod's 31 5xx fire ERR004");
        assert_eq!(err004["count"], 31);
        assert!(
            err004["evidence"]
                .as_array()
                .is_some_and(|e| e.iter().all(|e| e["pod"] == "skreaver-7c9d4-inf02")),
            "{err004}"
        );
        let err002 = finding(&f, "ERR002").expect("the debug pod's 10 % fires ERR002");
        assert_eq!(err002["count"], 4);
        assert_detail_starts(err002, "peak error ratio 10.0% over 5m");
    }
    // The debug pod alone with 30 more 5xx, logged both ways: ERR002's, never ERR004's.
    let burst: String = (0..31u32)
        .map(|i| skreaver_debug(250.0 + f64::from(i), 500, 5))
        .collect();
    let f = json_findings(&kubectl("skreaver-7c9d4-dbg01", &burst));
    assert!(finding(&f, "ERR004").is_none());
    assert!(finding(&f, "ERR002").is_some());
}

/// QA s17v N3: a pod at `info` that failed 35 times from 09:00 to 09:04:32 and was restarted at
/// `tower_http=debug` into the same stream, printing successes from 09:30, was no failure-only
/// stream over the whole run: ERR004 was silent, and ERR002 (which counts only requests seen
/// through success-type lines) never saw the 35 failures. A failure now counts for ERR004 when
/// its stream printed no success-type line within the window (5 minutes) before or after it,
/// both ends included — in either order of the input.
#[test]
fn failure_only_is_decided_around_each_failure() {
    let failures: String = (0..35u32)
        .map(|i| skreaver_info_failure(8.0 * f64::from(i)))
        .collect();
    let restarted = |from: f64| -> String {
        (0..50u32)
            .map(|i| skreaver_debug(from + 5.0 * f64::from(i), 200, 5))
            .collect()
    };
    let pod = |text: &str| kubectl("skreaver-7c9d4-inf02", text);
    let count = |after: f64| {
        let (failures, restarted) = (pod(&failures), pod(&restarted(after)));
        let counts: Vec<Option<u64>> = [
            format!("{failures}{restarted}"),
            format!("{restarted}{failures}"),
        ]
        .iter()
        .map(|input| {
            let f = json_findings(input);
            assert!(finding(&f, "ERR002").is_none(), "{f:?}");
            finding(&f, "ERR004").and_then(|e| e["count"].as_u64())
        })
        .collect();
        assert_eq!(counts[0], counts[1], "input order");
        counts[0]
    };
    // Restarted 25 minutes later: all 35 failures count.
    assert_eq!(count(1800.0), Some(35));
    // The last failure (272 s) has a success exactly 5 minutes after it: left out.
    assert_eq!(count(572.0), Some(34));
    assert_eq!(count(572.000_001), Some(35));
    // Near miss: the same failures with the stream's successes between them are ERR002's
    // (whose ratio counts only requests seen through success-type lines), never ERR004's.
    let interleaved: String = (0..35u32)
        .map(|i| {
            skreaver_info_failure(8.0 * f64::from(i))
                + &skreaver_debug(8.0 * f64::from(i) + 4.0, 200, 5)
        })
        .collect();
    let f = json_findings(&pod(&interleaved));
    assert!(finding(&f, "ERR004").is_none(), "{f:?}");
}
