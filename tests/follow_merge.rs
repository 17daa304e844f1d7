//! `--follow` over several inputs: events are merged in event-time order through the reorder
//! buffer (`--max-delay`), late events are counted (`input.late_events`); rotated sets are read
//! oldest first before the live member is followed.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

mod common;
use common::{append, interrupt};

fn ev(ts: &str, msg: &str) -> String {
    format!(r#"{{"timestamp":"2026-11-22T10:00:{ts}Z","level":"info","message":"{msg}"}}"#)
}

fn start(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_logsleuth"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn pause(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// Writes, in wall-clock order: a@05, b@03, a@10, then b@01 (9 s behind the newest: late).
fn scenario(dir: &Path, args: &[&str]) -> String {
    let (a, b) = (dir.join("a.log"), dir.join("b.log"));
    std::fs::write(&a, "").expect("create");
    std::fs::write(&b, "").expect("create");
    let (a_s, b_s) = (a.display().to_string(), b.display().to_string());
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--follow", &a_s, &b_s]);
    let child = start(&all);
    pause(500);
    append(&a, &[&ev("05", "a05")]);
    pause(150);
    append(&b, &[&ev("03", "b03")]);
    pause(150);
    append(&a, &[&ev("10", "a10")]);
    pause(150);
    append(&b, &[&ev("01", "b01-late")]);
    pause(600);
    interrupt(child).0
}

#[test]
fn live_inputs_are_merged_in_event_time_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = scenario(dir.path(), &["events", "--max-delay", "2s"]);
    let msgs: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json")["message"].to_string())
        .collect();
    // b03 overtakes a05; the late b01 is delivered after what was already released.
    assert_eq!(
        msgs,
        [r#""b03""#, r#""a05""#, r#""b01-late""#, r#""a10""#],
        "{out}"
    );
}

/// A JSON report of followed inputs at the end (no snapshots), with a 2 s reorder window.
const ANALYZE: &[&str] = &[
    "analyze",
    "--format",
    "json",
    "--max-delay",
    "2s",
    "--snapshot-every",
    "1h",
];

#[test]
fn late_events_are_counted() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = scenario(dir.path(), ANALYZE);
    let report: Value = serde_json::from_str(&out).expect("report");
    assert_eq!(report["input"]["late_events"], 1, "{out}");
    assert_eq!(report["input"]["events"], 4);
}

#[test]
fn rotated_members_are_read_oldest_first_then_the_live_one_followed() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let many = |tag: &str| {
        (0..30_000)
            .map(|i| format!("{tag} {i}"))
            .collect::<Vec<_>>()
    };
    for (name, tag) in [
        ("app.log.2", "old2"),
        ("app.log.1", "old1"),
        ("app.log", "live"),
    ] {
        let lines = many(tag);
        append(
            &d.join(name),
            &lines.iter().map(String::as_str).collect::<Vec<_>>(),
        );
    }
    let child = start(&["events", "--follow", d.to_str().expect("utf8")]);
    pause(800);
    append(&d.join("app.log"), &["live appended"]);
    pause(700);
    let (out, _) = interrupt(child);
    let tags: Vec<String> = out
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            let m = v["message"].as_str().unwrap_or("").to_string();
            m.split(' ').next().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(tags.len(), 90_001);
    let mut runs: Vec<&str> = tags.iter().map(String::as_str).collect();
    runs.dedup();
    assert_eq!(
        runs,
        ["old2", "old1", "live"],
        "members interleaved or out of order"
    );
    assert!(
        out.trim_end().ends_with(r#""message":"live appended"}"#) || out.contains("live appended")
    );
}

/// Identifiers, rule matches and request fields travel with an event through the reorder
/// buffer: the connection id of a (followed) file links the error on another file, the rule
/// fires, and a request line keeps its method and route.
#[test]
fn findings_and_groups_survive_the_reorder_buffer() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    std::fs::write(&a, "").expect("create");
    std::fs::write(&b, "").expect("create");
    let (a_s, b_s) = (a.display().to_string(), b.display().to_string());
    let skreaver = |ts: &str, level: &str, msg: &str| {
        format!(
            r#"{{"timestamp":"2026-11-22T10:00:{ts}Z","level":"{level}","fields":{{"message":"{msg}"}},"target":"skreaver_http::websocket::handlers"}}"#
        )
    };
    let conn = "27d74fa3-a403-43ee-8d7e-95fee56edb92";
    let mut args = ANALYZE.to_vec();
    args.extend(["--follow", &a_s, &b_s]);
    let child = start(&args);
    pause(500);
    let opened = format!("WebSocket connection established: {conn} from 127.0.0.1:60902");
    append(&a, &[&skreaver("05", "INFO", &opened)]);
    pause(150);
    let failed =
        format!("Error handling legacy message from {conn}: Authentication failed: Invalid token");
    append(&b, &[&skreaver("06", "ERROR", &failed)]);
    let request = r#"{"timestamp":"2026-11-22T10:00:07Z","level":"INFO","fields":{"message":"finished processing request","latency":"20 ms","status":200,"method":"GET","uri":"/agents/a1b2c3/observe"},"target":"tower_http::trace::on_response"}"#;
    append(&a, &[request]);
    pause(600);
    let out = interrupt(child).0;
    let report: Value = serde_json::from_str(&out).expect("report");
    let findings = report["findings"].as_array().expect("findings");
    let auth = findings
        .iter()
        .find(|f| f["rule"].as_str().is_some_and(|r| r.starts_with("AUTH003")));
    assert!(auth.is_some_and(|f| f["count"] == 1), "{out}");
    let top = &report["correlation"]["top"][0];
    assert_eq!(top["events"], 2, "{out}");
    assert_eq!(top["errors"], 1, "{out}");
    let endpoint = &report["endpoints"][0];
    assert_eq!(
        (
            &endpoint["method"],
            &endpoint["route"],
            &endpoint["requests"]
        ),
        (
            &json!("GET"),
            &json!("/agents/{agent_id}/observe"),
            &json!(1)
        ),
        "{out}"
    );
}

/// Two followed files that already hold interleaved history (a node's pods when `-f` starts):
/// the history is merged in event-time order — not one file after the other — and nothing is
/// counted late; lines written afterwards are merged as before.
#[test]
fn followed_files_with_history_merge_in_time_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let line = |name: &str, t: u32| {
        format!(
            r#"{{"timestamp":"2026-11-22T10:{:02}:{:02}.{}Z","level":"info","message":"{name}-{t}"}}"#,
            t / 60,
            t % 60,
            if name == "a" { "000" } else { "500" }
        )
    };
    let (ha, hb): (Vec<String>, Vec<String>) =
        (0..1500).map(|t| (line("a", t), line("b", t))).unzip();
    append(&a, &ha);
    append(&b, &hb);
    let (a_s, b_s) = (a.display().to_string(), b.display().to_string());
    let child = start(&["events", "--follow", &a_s, &b_s]);
    pause(1500);
    append(&b, &[line("b", 1600)]);
    pause(150);
    append(&a, &[line("a", 1601)]);
    pause(2500);
    let (out, _) = interrupt(child);
    let ts: Vec<String> = out
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json")["ts"].to_string())
        .collect();
    assert_eq!(ts.len(), 3002);
    let mut sorted = ts.clone();
    sorted.sort();
    assert!(ts == sorted, "not in event-time order");

    let child = start(&[
        "analyze",
        "--format",
        "json",
        "--snapshot-every",
        "1h",
        "--follow",
        &a_s,
        &b_s,
    ]);
    pause(1500);
    let (out, _) = interrupt(child);
    let report: Value = serde_json::from_str(&out).expect("report");
    assert_eq!(report["input"]["events"], 3002);
    assert_eq!(
        report["input"].get("late_events"),
        None,
        "{}",
        report["input"]
    );
}
