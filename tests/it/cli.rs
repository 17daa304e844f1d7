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
