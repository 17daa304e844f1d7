//! Helpers shared by the integration tests that follow live inputs.
// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command};

/// Append `lines` to the file at `path` (created if missing), one write per line.
pub fn append(path: &Path, lines: &[impl AsRef<str>]) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open");
    for l in lines {
        writeln!(f, "{}", l.as_ref()).expect("write");
    }
}

/// Send SIGINT (Ctrl-C) to a run.
pub fn sigint(child: &Child) {
    let _ = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status();
}

/// Wait for an interrupted run to end, check it exited 0 (Ctrl-C ends a followed run
/// normally, with its final output), and return its stderr.
pub fn finish(child: &mut Child) -> String {
    let mut err = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut err)
        .expect("read");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}: {err}");
    err
}

/// Ctrl-C a `--follow` run whose stdout the test did not take: its stdout and stderr.
pub fn interrupt(mut child: Child) -> (String, String) {
    sigint(&child);
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("read");
    let err = finish(&mut child);
    (out, err)
}

/// The correlation group `id` (`trace_id:T1`) of an analyze report, with its event and error
/// counts.
pub fn group_counts(report: &serde_json::Value, id: &str) -> (u64, u64) {
    let g = report["correlation"]["top"]
        .as_array()
        .and_then(|t| t.iter().find(|g| g["id"] == id))
        .unwrap_or_else(|| panic!("no group {id}: {report}"));
    (
        g["events"].as_u64().unwrap_or(0),
        g["errors"].as_u64().unwrap_or(0),
    )
}
