//! stdin that is a pipe (`kubectl logs -f … | logsleuth`): events come out as their lines
//! arrive, without `--follow` too; with `--follow`, Ctrl-C or SIGTERM end the run while the
//! writer is quiet (and never closes the pipe, as `tail -f` does).

use std::io::Write;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Long enough for a loaded machine; only a broken build waits this long.
const HANG_GUARD: Duration = Duration::from_secs(90);

const SAMPLE: &str = include_str!("../fixtures/samples/skreaver-info.log");

/// A run whose stdin the test writes as it goes, its stdout collected line by line.
struct Piped {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Piped {
    fn start(args: &[&str]) -> Piped {
        let mut child = Command::new(env!("CARGO_BIN_EXE_logsleuth"))
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let stdout = child.stdout.take().expect("stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let Ok(line) = line else { break };
                sink.lock().expect("lock").push(line);
            }
        });
        Piped {
            stdin: child.stdin.take(),
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// Write `text` to the run's stdin at once (the pipe stays open).
    fn write(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(text.as_bytes()).expect("write");
        stdin.flush().expect("flush");
    }

    /// Wait until the output so far satisfies `done`.
    fn wait_for(&self, what: &str, done: impl Fn(&[String]) -> bool) {
        let start = Instant::now();
        while !done(&self.lines.lock().expect("lock")) {
            assert!(
                start.elapsed() < HANG_GUARD,
                "waited {HANG_GUARD:?} for {what}; output so far:\n{}",
                self.lines.lock().expect("lock").join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait for the run to end by itself (with the pipe still open); its whole output and
    /// stderr. A run still going after [`HANG_GUARD`] is killed and fails the test.
    fn wait_exit(mut self) -> (Vec<String>, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            // Killed by `Drop`.
            assert!(
                start.elapsed() < HANG_GUARD,
                "still running {HANG_GUARD:?} after the signal"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        assert!(status.success(), "{status}: {err}");
        if let Some(r) = self.reader.take() {
            r.join().expect("reader");
        }
        let lines = std::mem::take(&mut *self.lines.lock().expect("lock"));
        (lines, err)
    }

    /// Close stdin, as the writer ending does; the run's output once it ended.
    fn close(mut self) -> (Vec<String>, String) {
        self.stdin = None;
        self.wait_exit()
    }
}

impl Drop for Piped {
    /// A test that failed while the run went on leaves no run behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sample_lines(range: std::ops::Range<usize>) -> String {
    SAMPLE
        .lines()
        .skip(range.start)
        .take(range.len())
        .fold(String::new(), |mut s, l| {
            s.push_str(l);
            s.push('\n');
            s
        })
}

fn line_numbers(lines: &[String]) -> Vec<u64> {
    lines
        .iter()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("json")["line"]
                .as_u64()
                .expect("line")
        })
        .collect()
}

#[test]
fn events_from_a_pipe_come_out_as_their_lines_arrive() {
    // Regression: without `-f`, nothing came out before 1 MiB had arrived or the pipe ended —
    // minutes of a quiet service's `kubectl logs -f`.
    let mut run = Piped::start(&["events"]);
    run.write(&sample_lines(0..3));
    // The last one too: the input is quiet, so it is complete.
    run.wait_for("the first 3 events", |l| l.len() >= 3);
    run.write(&sample_lines(3..5));
    run.wait_for("2 more events", |l| l.len() >= 5);
    // A traceback written with its event stays one event (the writer writes them together).
    run.write(
        "2026-11-22 07:09:00,000 - skillmeat.api - ERROR - boom\n\
         Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n\
         ValueError: bad\n",
    );
    run.wait_for("the traceback's event", |l| l.len() >= 6);
    let (lines, err) = run.close();
    assert_eq!(line_numbers(&lines), [1, 2, 3, 4, 5, 6], "{err}");
    let last: Value = serde_json::from_str(&lines[5]).expect("json");
    assert!(
        last["exception"]
            .as_str()
            .is_some_and(|e| e.ends_with("ValueError: bad")),
        "{last}"
    );
}

#[test]
fn text_events_from_a_pipe_come_out_as_their_lines_arrive() {
    let mut run = Piped::start(&["events", "--format", "text", "--level", "warn"]);
    run.write(&sample_lines(0..6));
    run.wait_for("the warning", |l| {
        l.iter().any(|l| l.contains("Alerting enabled"))
    });
    run.close();
}

/// Send `signal` (`INT`, `TERM`) to a run.
fn kill(child: &Child, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status();
}

#[test]
fn a_signal_ends_a_followed_stdin_whose_writer_is_quiet() {
    // Regression: the reader blocked in read(2) on stdin held the run until the writer closed
    // the pipe (`tail -f x | logsleuth analyze -f` never ended on Ctrl-C from `timeout`).
    for signal in ["INT", "TERM"] {
        let mut run = Piped::start(&[
            "analyze",
            "--follow",
            "--format",
            "json",
            "--snapshot-every",
            "1s",
        ]);
        run.write(&sample_lines(0..4));
        run.wait_for("a snapshot of the 4 lines", |lines| {
            lines
                .iter()
                .any(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| v["input"]["lines"] == 4))
        });
        kill(&run.child, signal);
        // The pipe is still open: the writer is quiet, not gone.
        let (lines, err) = run.wait_exit();
        let out = lines.join("\n");
        let final_start = out
            .find("{\n")
            .unwrap_or_else(|| panic!("{signal}: {out}\n{err}"));
        let report: Value = serde_json::from_str(&out[final_start..]).expect("report");
        assert_eq!(report["input"]["lines"], 4, "{signal}");
    }
}
