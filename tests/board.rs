//! The live board: its rendering (insta snapshot) and a run in a real terminal (tmux).

use std::process::Command;
use std::time::Duration;

use logsleuth::board::render_board;

const LINES: &str = r#"{"timestamp":"2026-11-22T07:00:00.000000Z","level":"INFO","fields":{"message":"finished processing request","latency":"20 ms","status":200,"method":"GET","uri":"/health"},"target":"tower_http::trace::on_response"}
{"timestamp":"2026-11-22T07:00:01.000000Z","level":"ERROR","fields":{"message":"boom"},"target":"skreaver"}
"#;

#[test]
fn board_rendering_snapshot() {
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("app.log");
    std::fs::write(&log, LINES).expect("write");
    let report = report_of(&log, false);
    let text = render_board(&report, Some((12.0, 3.5)), 80, 14, false);
    insta::assert_snapshot!(text.replace(&*log.to_string_lossy(), "app.log"));
    // Cut to the terminal: never more rows than asked, never wider.
    let small = render_board(&report, None, 20, 5, false);
    assert_eq!(small.lines().count(), 5);
    assert!(small.lines().all(|l| l.chars().count() <= 20));
}

#[test]
fn board_lists_findings_one_line_each() {
    // A WebSocket connection failing authentication three times (AUTH003) and a protocol error
    // (WS002): the board names the findings, without the evidence lines the report prints.
    let sample =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/samples/skreaver-info.log");
    let report = report_of(&sample, true);
    let text = render_board(&report, None, 200, 60, false);
    let findings: Vec<&str> = text.lines().filter(|l| l.contains("AUTH003")).collect();
    assert_eq!(findings.len(), 1, "{text}");
    assert!(
        findings[0].contains("(3×, last 2026-11-22T07:08:49"),
        "{text}"
    );
    assert!(text.contains("WS002"), "{text}");
    // Evidence names the connection; the board's top errors only the kind of failure.
    assert!(!text.contains("legacy message from 27d74fa3"), "{text}");
    assert!(
        text.contains("legacy message from *: Permission denied"),
        "{text}"
    );
    assert!(text.find("Findings") < text.find("Input"), "{text}");
}

/// The report of one file; `everything` turns the built-in rules and correlation on.
fn report_of(path: &std::path::Path, everything: bool) -> logsleuth::analyze::Report {
    use logsleuth::correlate::CorrelationSettings;
    use logsleuth::parse::Registry;
    use logsleuth::pipeline::{self, Analysis, Input, InputKind, Mode, Outcome, Settings};
    use logsleuth::rules::RuleSet;
    let reg = Registry::load(None).expect("registry");
    let rules = RuleSet::load(None).expect("rules");
    let settings = Settings::new(Mode::Analyze {
        bucket_ns: 60_000_000_000,
        slow_ms: 5000.0,
    });
    let name = path
        .file_name()
        .expect("file")
        .to_string_lossy()
        .into_owned();
    let inputs = [Input {
        name,
        kind: InputKind::File(path.to_path_buf()),
        meta: Default::default(),
        size: None,
    }];
    let analysis = Analysis {
        rules: everything.then_some(&rules),
        correlation: everything.then(CorrelationSettings::default),
    };
    match pipeline::run_with(&inputs, &reg, &settings, analysis, &mut []).expect("run") {
        Outcome::Report(r) => *r,
        Outcome::Events(_) => panic!("no report"),
    }
}

fn tmux(args: &[&str]) -> std::process::Output {
    Command::new("tmux").args(args).output().expect("tmux")
}

#[test]
fn board_in_a_real_terminal_with_tmux() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but tmux is missing"
        );
        eprintln!("skipping: tmux not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let log = dir.path().join("app.log");
    std::fs::write(&log, LINES).expect("write");
    let sock = dir.path().join("tmux.sock");
    let sock = sock.to_str().expect("utf8");
    let session = format!("ls{}", std::process::id());
    let cmd = format!(
        "{} analyze --follow --color never {}; echo EXITED; sleep 30",
        env!("CARGO_BIN_EXE_logsleuth"),
        log.display()
    );
    let out = tmux(&[
        "-S",
        sock,
        "new-session",
        "-d",
        "-s",
        &session,
        "-x",
        "90",
        "-y",
        "20",
        &cmd,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The session (and the logsleuth in it) ends with the test, also when an assertion fails.
    struct KillOnDrop<'s>(&'s str);
    impl Drop for KillOnDrop<'_> {
        fn drop(&mut self) {
            // The server of this test's own socket: its session and nothing else.
            tmux(&["-S", self.0, "kill-server"]);
        }
    }
    let _server = KillOnDrop(sock);
    let capture = || {
        String::from_utf8_lossy(&tmux(&["-S", sock, "capture-pane", "-p", "-t", &session]).stdout)
            .into_owned()
    };
    let mut screen = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        screen = capture();
        if screen.contains("logsleuth live") {
            break;
        }
    }
    assert!(screen.contains("logsleuth live"), "{screen}");
    assert!(screen.lines().count() <= 20);
    // A new line shows up on the next refresh.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .and_then(|mut f| {
            use std::io::Write;
            f.write_all(b"{\"timestamp\":\"2026-11-22T07:00:02Z\",\"level\":\"ERROR\",\"fields\":{\"message\":\"again\"},\"target\":\"skreaver\"}\n")
        })
        .expect("append");
    std::thread::sleep(Duration::from_millis(1800));
    let live = capture();
    // Ctrl-C: the board goes away and the final report is printed on the normal screen.
    tmux(&["-S", sock, "send-keys", "-t", &session, "C-c"]);
    let mut after = String::new();
    for _ in 0..50 {
        std::thread::sleep(Duration::from_millis(100));
        after = capture();
        if after.contains("EXITED") {
            break;
        }
    }
    let history = String::from_utf8_lossy(
        &tmux(&[
            "-S",
            sock,
            "capture-pane",
            "-p",
            "-S",
            "-200",
            "-t",
            &session,
        ])
        .stdout,
    )
    .into_owned();
    tmux(&["-S", sock, "kill-session", "-t", &session]);
    assert!(after.contains("EXITED"), "{after}");
    assert!(
        !after.contains("logsleuth live"),
        "board left on screen: {after}"
    );
    assert!(live.contains("3 events") || live.contains(" 3 "), "{live}");
    // The board never reached the scrollback.
    assert!(!history.contains("logsleuth live"), "{history}");
}
