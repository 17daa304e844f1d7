//! Identifiers in message text, as `trace` and the findings show them.

use super::{bin_in, fixtures};

const CONN: &str = "6f1c2a9e-2b1d-4c1e-9a0b-3f4e5d6c7b8a";

/// Skreaver's legacy WebSocket handler (`websocket/mod.rs`) and the `handlers.rs` warnings
/// name the connection only in their text (FORMATS.md §2.3). Regression: only `WebSocket
/// connection established` was read, so `trace <conn>` showed 1 of the connection's 9 events
/// and none of its errors, and AUTH003 / WS002 named no group.
#[test]
fn trace_of_a_legacy_websocket_connection_shows_all_its_events() {
    let dir = fixtures().join("correlation");
    let r = bin_in(
        &dir,
        &["trace", "--no-progress", CONN, "skreaver-ws-legacy.log"],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    insta::assert_snapshot!("trace-ws-legacy", r.stdout);

    let r = bin_in(
        &dir,
        &[
            "analyze",
            "--no-progress",
            "--format",
            "json",
            "skreaver-ws-legacy.log",
        ],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("json");
    let group = format!("conn_id:{CONN}");
    for rule in ["AUTH003", "WS002"] {
        let f = report["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .find(|f| f["rule"] == rule)
            .unwrap_or_else(|| panic!("{rule} fires"));
        assert!(
            f["correlation_groups"]
                .as_array()
                .expect("groups")
                .contains(&group.as_str().into()),
            "{rule}: {f}"
        );
        for e in f["evidence"].as_array().expect("evidence") {
            let message = e["message"].as_str().expect("message");
            let conn = message
                .split_whitespace()
                .find(|w| w.len() >= 36)
                .expect("a connection id")
                .trim_end_matches(':');
            assert_eq!(e["correlation"], format!("conn_id:{conn}"), "{rule}: {e}");
        }
    }
}
