//! The command line itself: usage errors, help, hints.

use super::{bin, fixtures};

fn sample(name: &str) -> String {
    fixtures()
        .join("samples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// `--fail-on` with `--no-rules` can never fail (no rule, no finding): a CI gate written so
/// passed whatever the logs said.
#[test]
fn fail_on_without_rules_is_a_usage_error() {
    let s = sample("skreaver-info.log");
    for args in [
        &["analyze", "--fail-on", "low", "--no-rules", &s][..],
        &["--no-rules", "--fail-on", "high", &s][..],
    ] {
        let r = bin(args, b"");
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stdout.is_empty());
        assert!(
            r.stderr.starts_with("logsleuth: error: --fail-on ")
                && r.stderr.contains("with --no-rules can never fail"),
            "{}",
            r.stderr
        );
    }
    // Each alone is fine.
    assert_eq!(bin(&["analyze", "--no-rules", &s], b"").code, 0);
    assert_eq!(bin(&["analyze", "--fail-on", "critical", &s], b"").code, 0);
}

/// `trace --format json` with an ID nothing carries printed nothing, so `| jq` read no input:
/// an empty timeline document now (exit code 1 still).
#[test]
fn trace_json_of_an_unknown_id_is_an_empty_timeline() {
    let s = sample("skreaver-info.log");
    let r = bin(&["trace", "--format", "json", "nope", &s], b"");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("no event carries the identifier"),
        "{}",
        r.stderr
    );
    let doc: serde_json::Value = serde_json::from_str(&r.stdout).expect("a JSON document");
    assert_eq!(doc["id"], "nope");
    assert_eq!(doc["groups"], 0);
    assert_eq!(doc["events"], serde_json::json!([]));
    assert!(doc["first"].is_null() && doc["first_error"].is_null());
    // The text form prints no timeline.
    let r = bin(&["trace", "nope", &s], b"");
    assert_eq!((r.code, r.stdout.as_str()), (1, ""));
}

/// `bogus:1095377d` was looked for as that literal value and quietly found nothing.
#[test]
fn trace_names_the_known_kinds_for_an_unknown_kind() {
    let s = sample("skreaver-info.log");
    let r = bin(&["trace", "bogus:1095377d", &s], b"");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stdout.is_empty());
    assert!(
        r.stderr
            .starts_with(r#"logsleuth: error: trace: unknown identifier kind "bogus""#)
            && r.stderr.contains(
                "known kinds: trace_id, request_id, span_id, agent_id, user_id, conn_id, client_ip"
            ),
        "{}",
        r.stderr
    );
    // A known kind, and values with ':' that no kind prefix could be, are looked for.
    let conn = "conn_id:27d74fa3-a403-43ee-8d7e-95fee56edb92";
    for id in [conn, "10.0.0.7:443", "fe80::1", "request_id:bogus:1"] {
        let r = bin(&["trace", id, &s], b"");
        assert_ne!(r.code, 2, "{id}: {}", r.stderr);
    }
    let r = bin(&["trace", "--format", "json", conn, &s], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
}

/// `logsleuth analyse x.log` read `analyse` as an input: say which subcommand was meant.
#[test]
fn a_misspelt_subcommand_gets_a_did_you_mean() {
    let s = sample("skreaver-info.log");
    let r = bin(&["analyse", &s], b"");
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "logsleuth: error: cannot read 'analyse': no such file or directory; did you mean `analyze`?\n"
    );
    let r = bin(&["evnets", "--level", "error", "missing.log"], b"");
    assert_eq!(
        r.stderr,
        "logsleuth: error: cannot read 'evnets': no such file or directory; did you mean `events`?\nlogsleuth: error: cannot read 'missing.log': no such file or directory\n"
    );
    // A missing file that is no near subcommand, or a near word that is not first: no hint.
    for args in [
        &["analyze.log"][..],
        &[&s, "analyse"][..],
        &["events", "evnets"][..],
    ] {
        let r = bin(args, b"");
        assert_eq!(r.code, 2);
        assert!(!r.stderr.contains("did you mean"), "{args:?}: {}", r.stderr);
    }
}

/// Each subcommand's help ends with examples of that subcommand (it ended with the top-level
/// footer only: stdin and exit codes; `rules` had none).
#[test]
fn each_subcommand_help_ends_with_its_examples() {
    for sub in [
        &["analyze"][..],
        &["events"],
        &["trace"],
        &["verify"],
        &["rules"],
        &["rules", "list"],
        &["rules", "test"],
        &["rules", "lint"],
    ] {
        let mut args = sub.to_vec();
        args.push("--help");
        let r = bin(&args, b"");
        assert_eq!(r.code, 0, "{sub:?}: {}", r.stderr);
        let (_, examples) = r
            .stdout
            .rsplit_once("\nExamples:\n")
            .unwrap_or_else(|| panic!("{sub:?}: no examples:\n{}", r.stdout));
        let lines: Vec<&str> = examples.lines().collect();
        assert!((2..=3).contains(&lines.len()), "{sub:?}: {examples}");
        for l in lines {
            assert!(
                l.starts_with("  ") && l.contains(&format!("logsleuth {}", sub[0])),
                "{sub:?}: {l}"
            );
        }
        assert!(r.stdout.contains("Exit codes:"), "{sub:?}");
    }
    // The top level keeps its footer.
    let r = bin(&["--help"], b"");
    assert!(
        r.stdout
            .contains("With no subcommand and no INPUT, logsleuth analyzes stdin")
    );
}
