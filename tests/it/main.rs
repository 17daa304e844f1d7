//! Integration tests: one binary (short links), one module per concern.

mod bad_input;
mod cli;
mod correlation;
mod envelopes;
mod export;
mod filters;
mod formats;
mod inputs;
mod props;
mod samples;
mod spans;
mod streams;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use logsleuth::analyze::Report;
use logsleuth::parse::Registry;
use logsleuth::pipeline::{self, Input, InputKind, Mode, Outcome, Settings};
use logsleuth::source::files::PathMeta;

/// The repository's fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Every real capture in fixtures/samples, sorted.
pub fn samples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(fixtures().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    v.sort();
    v
}

/// Output of one run of the binary.
pub struct Run {
    pub stdout: String,
    pub stderr: String,
    pub code: i32,
}

/// The events of `events` NDJSON output.
pub fn ndjson(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Run the real binary with `args`, feeding `stdin`.
pub fn bin(args: &[&str], stdin: &[u8]) -> Run {
    bin_in(Path::new("."), args, stdin)
}

/// [`bin`] run in directory `cwd` (for relative input paths).
pub fn bin_in(cwd: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsleuth"))
        .current_dir(cwd)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn logsleuth");
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    Run {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        code: out.status.code().unwrap_or(-1),
    }
}

/// The report's endpoint routes, in its order.
pub fn routes_of(report: &serde_json::Value) -> Vec<&str> {
    report["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["route"].as_str().unwrap())
        .collect()
}

/// `analyze --format json` through the binary.
pub fn analyze_json(args: &[&str], stdin: &[u8]) -> serde_json::Value {
    let mut all = vec!["analyze", "--format", "json"];
    all.extend_from_slice(args);
    let r = bin(&all, stdin);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    serde_json::from_str(&r.stdout).expect("report is JSON")
}

/// Library settings for an analyze run.
pub fn analyze_settings() -> Settings {
    Settings::new(Mode::Analyze {
        bucket_ns: 60_000_000_000,
        slow_ms: 5000.0,
    })
}

/// Analyze in-memory bytes with the library (thread count and chunk size chosen by the test).
pub fn analyze_bytes(bytes: &[u8], threads: usize, chunk_bytes: usize) -> Report {
    analyze_capped(
        bytes,
        threads,
        chunk_bytes,
        logsleuth::analyze::MAX_ENDPOINTS,
    )
}

/// One in-memory input, named `mem`.
pub fn memory_input(bytes: &[u8]) -> Input {
    Input {
        name: "mem".into(),
        kind: InputKind::Memory(Arc::from(bytes)),
        meta: PathMeta::default(),
        size: None,
    }
}

/// Analyze in-memory bytes with the library and these settings.
pub fn analyze_memory(bytes: &[u8], settings: &Settings) -> Report {
    let reg = Registry::load(None).unwrap();
    match pipeline::run(&[memory_input(bytes)], &reg, settings, &mut []).unwrap() {
        Outcome::Report(r) => *r,
        Outcome::Events(_) => unreachable!(),
    }
}

/// [`analyze_bytes`] with lines (and joined records) cut at `max_line_bytes`.
pub fn analyze_bytes_with(
    bytes: &[u8],
    threads: usize,
    chunk_bytes: usize,
    max_line_bytes: usize,
) -> Report {
    let settings = Settings {
        threads,
        chunk_bytes,
        max_line_bytes,
        ..analyze_settings()
    };
    analyze_memory(bytes, &settings)
}

/// [`analyze_bytes`] with at most `max_endpoints` endpoint rows of their own.
pub fn analyze_capped(
    bytes: &[u8],
    threads: usize,
    chunk_bytes: usize,
    max_endpoints: usize,
) -> Report {
    let settings = Settings {
        threads,
        chunk_bytes,
        max_endpoints,
        ..analyze_settings()
    };
    analyze_memory(bytes, &settings)
}

/// The accounting invariant every run must satisfy.
pub fn assert_accounted(input: &serde_json::Value) {
    let n = |k: &str| input[k].as_u64().unwrap();
    assert_eq!(
        n("lines"),
        n("events") + n("continuation_lines") + n("unparsed_lines") + n("joined_partials"),
        "lines must equal events + continuation + unparsed + joined: {input}"
    );
}

/// Same, on a library report.
pub fn assert_report_accounted(r: &Report) {
    let i = &r.input;
    assert_eq!(
        i.lines,
        i.events + i.continuation_lines + i.unparsed_lines + i.joined_partials,
        "{i:?}"
    );
}

/// A Skreaver tower-http request line (`finished processing request`, logged at debug).
pub fn tower_line(i: usize, method: &str, uri: &str, status: u16) -> String {
    format!(
        r#"{{"timestamp":"2026-11-22T07:{:02}:{:02}.{:06}Z","level":"DEBUG","fields":{{"message":"finished processing request","latency":"{} ms","status":{status}}},"target":"tower_http::trace::on_response","span":{{"method":"{method}","uri":"{uri}","version":"HTTP/1.1","name":"request"}}}}"#,
        (i / 60_000) % 60,
        (i / 1000) % 60,
        (i % 1000) * 1000,
        1 + i % 300
    )
}

/// A path segment of letters no id rule takes (`g`..`z`, 5 of them): routes keep it.
pub fn word(mut i: usize) -> String {
    let mut w = String::new();
    for _ in 0..5 {
        w.push(char::from(b'g' + (i % 20) as u8));
        i /= 20;
    }
    w
}

/// Ten requests to three real endpoints, then a scanner probing `paths` distinct paths (404),
/// then one more real request.
pub fn scanner_input(paths: usize) -> Vec<u8> {
    let mut lines = Vec::new();
    for i in 0..5 {
        lines.push(tower_line(i, "GET", "/health", 200));
    }
    for i in 5..8 {
        lines.push(tower_line(i, "POST", "/agents/a1/observe", 200));
    }
    lines.push(tower_line(8, "GET", "/agents/a2/status", 200));
    lines.push(tower_line(9, "GET", "/agents/a2/status", 500));
    for i in 0..paths {
        lines.push(tower_line(10 + i, "GET", &format!("/r/{}/x", word(i)), 404));
    }
    lines.push(tower_line(10 + paths, "GET", "/health", 200));
    (lines.join("\n") + "\n").into_bytes()
}

/// `events --format json` of a fixture under fixtures/formats, with its `analyze` input counts
/// (every line accounted for).
pub fn events_of(fixture: &str, extra: &[&str]) -> (Vec<serde_json::Value>, serde_json::Value) {
    let path = fixtures().join("formats").join(fixture);
    let p = path.to_str().unwrap();
    let mut args = vec!["events", "--format", "json"];
    args.extend_from_slice(extra);
    args.push(p);
    let r = bin(&args, b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut args = extra.to_vec();
    args.push(p);
    let report = analyze_json(&args, b"");
    assert_accounted(&report["input"]);
    (ndjson(&r.stdout), report)
}
