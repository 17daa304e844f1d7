//! `--follow` on files: rotation by rename-and-create and by copytruncate, with nothing lost
//! and nothing read twice; Ctrl-C (SIGINT) ends the run with its final output.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

mod common;
use common::interrupt;

fn append(path: &Path, lines: &[String]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open");
    for l in lines {
        writeln!(f, "{l}").expect("write");
    }
}

fn batch(tag: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{tag}-{i}")).collect()
}

fn settle() {
    std::thread::sleep(Duration::from_millis(400));
}

fn start(args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_logsleuth"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn messages(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("json")["message"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

#[test]
fn follow_survives_rename_and_create() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("app.log");
    let mut want = batch("before", 3);
    append(&log, &want);
    let child = start(&["events", "--follow", log.to_str().expect("utf8")]);
    settle();
    for (i, step) in ["grow", "late-old", "new", "newer"].iter().enumerate() {
        let b = batch(step, 50);
        append(&log, &b);
        want.extend(b);
        if i == 1 {
            // logrotate's default: rename, then a new file at the same path.
            fs::rename(&log, dir.path().join("app.log.1")).expect("rename");
            // The writer has not reopened yet: it still appends to the renamed file.
            let b = batch("after-rename-old-file", 5);
            append(&dir.path().join("app.log.1"), &b);
            want.extend(b);
            settle();
            fs::write(&log, "").expect("create");
        }
        settle();
    }
    let (out, err) = interrupt(child);
    assert_eq!(messages(&out), want, "{err}");
}

#[test]
fn follow_survives_copytruncate() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("app.log");
    let mut want = batch("before", 20);
    append(&log, &want);
    let child = start(&["events", "--follow", log.to_str().expect("utf8")]);
    settle();
    let b = batch("grow", 10);
    append(&log, &b);
    want.extend(b);
    settle();
    // copytruncate: copy away, truncate in place, keep writing to the same file.
    fs::copy(&log, dir.path().join("app.log.1")).expect("copy");
    OpenOptions::new()
        .write(true)
        .open(&log)
        .expect("open")
        .set_len(0)
        .expect("truncate");
    settle();
    for step in ["after", "more"] {
        let b = batch(step, 5);
        append(&log, &b);
        want.extend(b);
        settle();
    }
    let (out, err) = interrupt(child);
    assert_eq!(messages(&out), want, "{err}");
}

#[test]
fn follow_analyze_prints_the_final_report_on_ctrl_c() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("app.log");
    append(&log, &[r#"{"level":"error","msg":"x"}"#.to_string()]);
    let child = start(&[
        "analyze",
        "--follow",
        "--format",
        "json",
        "--snapshot-every",
        "1s",
        log.to_str().expect("utf8"),
    ]);
    settle();
    append(&log, &[r#"{"level":"error","msg":"y"}"#.to_string()]);
    std::thread::sleep(Duration::from_millis(1500));
    let (out, _) = interrupt(child);
    // Snapshot lines (compact JSON, one per line), then the final report.
    let first: Value = serde_json::from_str(out.lines().next().expect("a snapshot")).expect("json");
    assert_eq!(first["schema"], "logsleuth.report/1");
    let final_start = out.find("{\n").expect("final pretty report");
    let report: Value = serde_json::from_str(&out[final_start..]).expect("report");
    assert_eq!(report["input"]["events"], 2);
}

#[test]
fn busy_inputs_are_delivered_while_they_keep_writing() {
    // Two files written to in turn every 20 ms never go quiet together; the one event kept by
    // `--grep` must still reach stdout while the writing goes on (regression: output waited
    // for a pause in the input, or for the output buffer to fill, which filtered noise never
    // does).
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b) = (dir.path().join("a.log"), dir.path().join("b.log"));
    fs::write(&a, "").expect("create");
    fs::write(&b, "").expect("create");
    let mut child = start(&[
        "events",
        "--follow",
        "--max-delay",
        "200ms",
        "--grep",
        "wanted",
        a.to_str().expect("utf8"),
        b.to_str().expect("utf8"),
    ]);
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line);
        let _ = tx.send(line);
    });
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            // Bounded so that a broken build ends (3000 rounds: a minute or more).
            for i in 0..3000 {
                if seen.load(std::sync::atomic::Ordering::Relaxed) {
                    return true;
                }
                let path = if i % 2 == 0 { &a } else { &b };
                let text = if i == 0 { "wanted" } else { "noise" };
                append(path, &[format!("{text}-{i}")]);
                std::thread::sleep(Duration::from_millis(20));
            }
            false
        })
    };
    let first = rx.recv().unwrap_or_default();
    seen.store(true, std::sync::atomic::Ordering::Relaxed);
    let delivered_while_writing = writer.join().expect("writer");
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        delivered_while_writing,
        "no event while the inputs kept writing (first line: {first:?})"
    );
    assert!(first.contains("wanted-0"), "{first}");
}
