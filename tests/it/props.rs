//! Property tests over the whole pipeline: no panics, every line accounted for, and results
//! independent of thread count and chunk boundaries.

use proptest::prelude::*;

use logsleuth::analyze::{OTHER_METHOD, OTHER_ROUTES};
use logsleuth::parse::Registry;
use logsleuth::pipeline::{self, Filter, Outcome, Settings};

use super::{
    analyze_bytes, analyze_capped, analyze_settings, assert_report_accounted, samples, tower_line,
    word,
};

/// Lines from the real samples, so generated inputs look like production.
fn sample_lines() -> Vec<String> {
    samples()
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn envelope(kind: u8, i: usize, line: &str, cut: usize) -> String {
    let ts = format!("2026-11-22T08:00:00.{:09}Z", i);
    match kind % 5 {
        0 => line.to_string(),
        1 => format!("[pod/p/c] {ts} {line}"),
        2 => {
            // CRI, split at a char boundary near `cut`.
            let mut at = cut.min(line.len());
            while !line.is_char_boundary(at) {
                at -= 1;
            }
            if at == 0 || at == line.len() {
                format!("{ts} stdout F {line}")
            } else {
                format!(
                    "{ts} stdout P {}\n{ts} stdout F {}",
                    &line[..at],
                    &line[at..]
                )
            }
        }
        3 => serde_json::json!({"log": format!("{line}\n"), "stream": "stdout", "time": ts})
            .to_string(),
        _ => format!("\x1b[2m{line}\x1b[0m"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_are_accounted(bytes in proptest::collection::vec(any::<u8>(), 0..6000)) {
        let a = analyze_bytes(&bytes, 1, 1 << 20);
        assert_report_accounted(&a);
        let b = analyze_bytes(&bytes, 3, 1024);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn envelope_like_fragments_never_panic(parts in proptest::collection::vec(
        prop_oneof![
            Just("[pod/a/b] ".to_string()),
            Just("2026-11-22T06:54:16.379285856+00:00 stdout P ".to_string()),
            Just("2026-11-22T06:54:16.379285856Z stderr F ".to_string()),
            Just("{\"log\":\"x".to_string()),
            Just("\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-22T06:55:35.525841068Z\"}".to_string()),
            Just("\n".to_string()),
            Just("Traceback (most recent call last):\n".to_string()),
            Just("  File \"x\"\n".to_string()),
            Just("thread 'main' panicked at x:1:2:\n".to_string()),
            Just("\x1b[31m".to_string()),
            "[ -~]{0,30}",
        ], 0..60)) {
        let bytes = parts.concat().into_bytes();
        let a = analyze_bytes(&bytes, 1, 1 << 20);
        assert_report_accounted(&a);
        let b = analyze_bytes(&bytes, 2, 1024);
        prop_assert_eq!(a, b);
    }

    #[test]
    fn sample_lines_in_any_envelope_give_the_same_requests(
        kind in any::<u8>(),
        picks in proptest::collection::vec((0usize..10_000, 0usize..400), 1..150)
    ) {
        let lines = sample_lines();
        let mut plain = String::new();
        let mut wrapped = String::new();
        for (i, (pick, cut)) in picks.iter().enumerate() {
            let line = &lines[pick % lines.len()];
            plain.push_str(line);
            plain.push('\n');
            // One envelope kind per input: envelopes that name a stream put every line in it,
            // so continuation and request pairing see the same neighbours as in the plain input.
            wrapped.push_str(&envelope(kind, i, line, *cut));
            wrapped.push('\n');
        }
        let a = analyze_bytes(plain.as_bytes(), 1, 1 << 20);
        let b = analyze_bytes(wrapped.as_bytes(), 2, 1024);
        assert_report_accounted(&b);
        prop_assert_eq!(a.input.events, b.input.events);
        prop_assert_eq!(a.input.continuation_lines, b.input.continuation_lines);
        prop_assert_eq!(&a.requests, &b.requests);
        prop_assert_eq!(&a.endpoints, &b.endpoints);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// With endpoints beyond the cap: the rows kept are the first endpoints seen, with the
    /// numbers they have without a cap; the rest are one `(other routes)` row per service;
    /// every request is in a row; nothing depends on chunking or threads.
    #[test]
    fn capped_endpoints_add_up_and_are_chunking_independent(
        picks in proptest::collection::vec((any::<u8>(), 0usize..12, 0usize..3), 1..120),
        cap in 0usize..8,
        chunk in 256usize..4096,
    ) {
        let samples = sample_lines();
        let mut text = String::new();
        for (i, (kind, path, method)) in picks.iter().enumerate() {
            if kind % 4 == 0 {
                // Real lines of every service (requests among them).
                text.push_str(&samples[(usize::from(*kind) * 37 + path) % samples.len()]);
            } else {
                let m = ["GET", "POST", "DELETE"][*method];
                let status = 200 + u16::from(*kind % 3) * 150;
                text.push_str(&tower_line(i, m, &format!("/r/{}", word(*path)), status));
            }
            text.push('\n');
        }
        let full = analyze_bytes(text.as_bytes(), 1, 1 << 20);
        let a = analyze_capped(text.as_bytes(), 1, 1 << 20, cap);
        let b = analyze_capped(text.as_bytes(), 3, chunk, cap);
        prop_assert_eq!(&a.endpoints, &b.endpoints);
        prop_assert_eq!(&a.endpoints_folded, &b.endpoints_folded);
        prop_assert!(full.endpoints_folded.is_none());
        prop_assert_eq!(a.endpoints.iter().map(|e| e.requests).sum::<u64>(), a.requests.total);
        let (other, kept): (Vec<_>, Vec<_>) = a
            .endpoints
            .iter()
            .partition(|e| e.method == OTHER_METHOD && e.route == OTHER_ROUTES);
        prop_assert_eq!(kept.len(), cap.min(full.endpoints.len()));
        for e in &kept {
            prop_assert!(full.endpoints.contains(e), "{:?}", e);
        }
        match &a.endpoints_folded {
            None => prop_assert!(full.endpoints.len() <= cap && other.is_empty()),
            Some(f) => {
                prop_assert_eq!(f.cap, cap as u64);
                // An estimate: exact but for a rare hash collision among these few.
                prop_assert!(f.endpoints.abs_diff((full.endpoints.len() - cap) as u64) <= 1);
                prop_assert_eq!(f.requests, other.iter().map(|e| e.requests).sum::<u64>());
            }
        }
    }
}

/// `tower_line(i, …)`'s time: 2026-11-22T07:00:00Z plus `i` milliseconds.
fn tower_time(i: usize) -> i64 {
    1_795_330_800_000_000_000 + i as i64 * 1_000_000
}

/// Analyze with `--since`/`--until`.
fn analyze_range(
    bytes: &[u8],
    (since, until): (Option<i64>, Option<i64>),
    threads: usize,
    chunk_bytes: usize,
) -> logsleuth::analyze::Report {
    let settings = Settings {
        threads,
        chunk_bytes,
        filter: Filter {
            since,
            until,
            ..Filter::default()
        },
        ..analyze_settings()
    };
    super::analyze_memory(bytes, &settings)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// `--since`/`--until` judge an event without a time (uvicorn's own lines) by the last
    /// timed event before it in its stream, and keep it when there is none; whatever the
    /// chunking and threads. Pods interleave (kubectl `--prefix`), times go back and forth.
    #[test]
    fn untimed_events_are_judged_by_their_streams_last_time_whatever_the_chunking(
        picks in proptest::collection::vec((0u8..3, 0usize..100_000, any::<bool>()), 1..150),
        since in proptest::option::of(0usize..100_000),
        span in proptest::option::of(1usize..100_000),
        chunk in 256usize..4096,
    ) {
        let until = span.map(|n| since.unwrap_or(0) + n);
        let mut text = String::new();
        let mut last: [Option<usize>; 3] = [None; 3];
        let mut kept = 0u64;
        for (pod, i, untimed) in &picks {
            text.push_str(&format!("[pod/p{pod}/app] "));
            let at = if *untimed {
                text.push_str("INFO:     Waiting for application startup.");
                last[usize::from(*pod)]
            } else {
                text.push_str(&tower_line(*i, "GET", "/health", 200));
                last[usize::from(*pod)] = Some(*i);
                Some(*i)
            };
            text.push('\n');
            let inside = |t: usize| since.is_none_or(|s| t >= s) && until.is_none_or(|u| t < u);
            kept += u64::from(at.is_none_or(inside));
        }
        let range = (since.map(tower_time), until.map(tower_time));
        let a = analyze_range(text.as_bytes(), range, 1, 1 << 20);
        let b = analyze_range(text.as_bytes(), range, 3, chunk);
        assert_report_accounted(&a);
        prop_assert_eq!(a.input.events, picks.len() as u64);
        prop_assert_eq!(a.services.iter().map(|s| s.events).sum::<u64>(), kept);
        prop_assert_eq!(a.input.filtered_out, picks.len() as u64 - kept);
        prop_assert_eq!(a, b);
    }
}

/// `events --unparsed` output of `bytes` (NDJSON), and the run's counts.
fn unparsed_of(
    bytes: &[u8],
    threads: usize,
    chunk_bytes: usize,
) -> (String, logsleuth::analyze::InputCounts) {
    let reg = Registry::load(None).unwrap();
    let mut settings = Settings {
        threads,
        chunk_bytes,
        ..Settings::new(pipeline::Mode::Events)
    };
    settings.keep_unparsed = true;
    settings.keep_events = false;
    let input = super::memory_input(bytes);
    let mut out = Vec::new();
    let style = logsleuth::output::Style { colour: false };
    let mut sink = logsleuth::output::UnparsedSink::new(&mut out, false, style);
    let counts = match pipeline::run(&[input], &reg, &settings, &mut [&mut sink]).unwrap() {
        Outcome::Events(c) => c,
        Outcome::Report(_) => unreachable!(),
    };
    (String::from_utf8(out).unwrap(), *counts)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// `events --unparsed` prints every line that is no event but blank ones, once, in input
    /// order, whatever the chunking and threads.
    #[test]
    fn unparsed_lines_printed_are_those_counted_whatever_the_chunking(
        picks in proptest::collection::vec((0usize..10_000, 0u8..6), 1..120),
        chunk in 256usize..4096,
    ) {
        let lines = sample_lines();
        let mut text = String::new();
        for (pick, kind) in &picks {
            match kind {
                0 => text.push_str(r#"{"cut": "#),
                1 => text.push_str("\u{0}\u{1}\u{2}"),
                2 => {}
                _ => text.push_str(&lines[pick % lines.len()]),
            }
            text.push('\n');
        }
        let (a, counts) = unparsed_of(text.as_bytes(), 1, 1 << 20);
        let (b, _) = unparsed_of(text.as_bytes(), 3, chunk);
        prop_assert_eq!(&a, &b);
        let blank = counts.unparsed_reasons.get("blank").copied().unwrap_or(0);
        prop_assert_eq!(a.lines().count() as u64, counts.unparsed_lines - blank);
        let numbers: Vec<u64> = a
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["line"].as_u64().unwrap())
            .collect();
        prop_assert!(numbers.windows(2).all(|w| w[0] < w[1]), "{:?}", numbers);
    }
}
