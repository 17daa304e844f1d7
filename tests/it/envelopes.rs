//! Every envelope around the real samples gives the same analysis as the bare samples.

use std::io::Write;

use super::{analyze_json, assert_accounted, bin, fixtures, samples};

/// The parts of a report that must not depend on the envelope.
fn essence(r: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "events": r["input"]["events"],
        "continuation_lines": r["input"]["continuation_lines"],
        "unparsed": r["input"]["unparsed_lines"],
        "services": r["services"],
        "requests": r["requests"],
        "endpoints": r["endpoints"],
    })
}

fn wrap_lines(path: &std::path::Path, wrap: impl Fn(usize, &str) -> String) -> Vec<u8> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for (i, l) in text.lines().enumerate() {
        out.extend_from_slice(wrap(i, l).as_bytes());
        out.push(b'\n');
    }
    out
}

fn kubelet_ts(i: usize) -> String {
    format!(
        "2026-11-22T08:00:{:02}.{:09}Z",
        (i / 1000) % 60,
        i % 1_000_000_000
    )
}

#[test]
fn kubectl_prefix_and_timestamps() {
    for path in samples() {
        let plain = analyze_json(&[path.to_str().unwrap()], b"");
        let wrapped = wrap_lines(&path, |i, l| {
            format!("[pod/api-7d9f-x2x/app] {} {l}", kubelet_ts(i))
        });
        let r = analyze_json(&[], &wrapped);
        assert_accounted(&r["input"]);
        assert_eq!(essence(&r), essence(&plain), "{}", path.display());
        // Prefix only (`kubectl logs --prefix` without --timestamps).
        let prefixed = wrap_lines(&path, |_, l| format!("[pod/api-0/app] {l}"));
        assert_eq!(essence(&analyze_json(&[], &prefixed)), essence(&plain));
    }
}

// Regression: podman's `logs -t` stamps lines to the second (`2026-11-22T07:08:49Z {…}`, no
// fraction); only kubelet's 9 digits were unwrapped, so every such line was `other` text.
#[test]
fn second_precision_timestamps_wrap_like_kubelets() {
    for path in samples() {
        let plain = analyze_json(&[path.to_str().unwrap()], b"");
        let wrapped = wrap_lines(&path, |i, l| {
            format!("2026-11-22T08:{:02}:{:02}Z {l}", (i / 60) % 60, i % 60)
        });
        let r = analyze_json(&[], &wrapped);
        assert_accounted(&r["input"]);
        assert_eq!(essence(&r), essence(&plain), "{}", path.display());
    }
}

#[test]
fn short_timestamps_are_the_runtimes() {
    let (events, report) = super::events_of("envelopes/short-timestamps.log", &[]);
    assert_eq!(report["input"]["unparsed_lines"], 0, "{}", report["input"]);
    let got: Vec<(&str, &str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["runtime_ts"].as_str().unwrap(),
                e["format"].as_str().unwrap(),
                e["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "2026-11-22T06:54:16.000000000Z",
                "uvicorn-default",
                "zero digits"
            ),
            (
                "2026-11-22T06:54:16.100000000Z",
                "uvicorn-default",
                "one digit"
            ),
            (
                "2026-11-22T06:54:16.123456000Z",
                "uvicorn-default",
                "six digits"
            ),
            (
                "2026-11-22T06:54:16.123456789Z",
                "uvicorn-default",
                "offset"
            ),
            (
                "2026-11-22T06:54:16.000000000Z",
                "uvicorn-default",
                "prefix zero digits"
            ),
            (
                "2026-11-22T07:08:49.000000000Z",
                "skreaver-json",
                "Initialized structured tracing"
            ),
        ]
    );
    // The payload's own time stays the event time.
    assert_eq!(events[5]["ts"], "2026-11-22T07:08:49.327514000Z");
    assert_eq!(events[4]["pod"], "a");
}

// A payload whose own layout starts with its time (tracing's text: one space before a 5-letter
// level) keeps it: the timestamp is the event's, not a runtime's.
#[test]
fn a_payloads_own_leading_time_stays_in_it() {
    let line = b"2026-11-22T07:09:46.768062Z DEBUG request{method=GET uri=/agents version=HTTP/1.1}: tower_http::trace::on_response: finished processing request latency=0 ms status=401\n";
    let r = bin(&["events", "--format", "json"], line);
    let ev: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(ev["format"], "skreaver-text");
    assert_eq!(ev["ts"], "2026-11-22T07:09:46.768062000Z");
    assert!(ev.get("runtime_ts").is_none(), "{ev}");
}

#[test]
fn envelope_fields_reach_events() {
    let input = b"[pod/web-1/app] 2025-10-27T12:00:00.123456789Z plain text from app\n\
                  [pod/web-1/sidecar] 2025-10-27T12:00:00.200000000Z {\"level\":\"warn\",\"msg\":\"slow\"}\n";
    let r = bin(&["events"], input);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ev: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0]["pod"], "web-1");
    assert_eq!(ev[0]["container"], "app");
    // No payload time: the runtime timestamp is the event time.
    assert_eq!(ev[0]["ts"], "2025-10-27T12:00:00.123456789Z");
    assert_eq!(ev[0]["message"], "plain text from app");
    assert_eq!(ev[1]["container"], "sidecar");
    assert_eq!(ev[1]["level"], "warn");
}

#[test]
fn cri_lines_split_into_partials() {
    for path in samples() {
        let plain = analyze_json(&[path.to_str().unwrap()], b"");
        // Split every line into pieces of 7 bytes (P…P F), alternating offset styles.
        let text = std::fs::read_to_string(&path).unwrap();
        let mut cri = Vec::new();
        let mut pieces = 0u64;
        let mut lines = 0u64;
        for (i, l) in text.lines().enumerate() {
            let ts = if i % 2 == 0 {
                "2026-11-22T06:54:16.379285856+00:00"
            } else {
                "2026-11-22T06:55:36.7698915Z"
            };
            let b = l.as_bytes();
            let chunks: Vec<&[u8]> = if b.is_empty() {
                vec![b]
            } else {
                b.chunks(7).collect()
            };
            for (k, c) in chunks.iter().enumerate() {
                let tag = if k + 1 == chunks.len() { "F" } else { "P" };
                write!(cri, "{ts} stdout {tag} ").unwrap();
                cri.extend_from_slice(c);
                cri.push(b'\n');
                lines += 1;
            }
            pieces += chunks.len() as u64 - 1;
        }
        let r = analyze_json(&[], &cri);
        assert_accounted(&r["input"]);
        assert_eq!(r["input"]["lines"], lines);
        assert_eq!(r["input"]["joined_partials"], pieces);
        assert_eq!(essence(&r), essence(&plain), "{}", path.display());
    }
}

/// A json-file record in `layout`: 0 as dockerd writes it, 1 with spaces (Python's
/// `json.dumps`, by hand), 2 with its keys in another order and spaces around them.
fn docker_record(log: &str, stream: &str, time: &str, layout: u8) -> String {
    let log = serde_json::to_string(log).unwrap();
    match layout {
        0 => format!(r#"{{"log":{log},"stream":"{stream}","time":"{time}"}}"#),
        1 => format!(r#"{{"log": {log}, "stream": "{stream}", "time": "{time}"}}"#),
        _ => format!(r#"{{ "stream" : "{stream}", "time": "{time}",  "log": {log} }}"#),
    }
}

#[test]
fn docker_json_file_records_with_pieces() {
    for layout in 0..3 {
        docker_records_with_pieces(layout);
    }
}

fn docker_records_with_pieces(layout: u8) {
    for path in samples() {
        let plain = analyze_json(&[path.to_str().unwrap()], b"");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = String::new();
        for l in text.lines() {
            // Long lines are split like the json-file driver does at 16 KiB (here: 40 chars).
            let chars: Vec<char> = l.chars().collect();
            let parts: Vec<String> = if chars.is_empty() {
                vec![String::new()]
            } else {
                chars.chunks(40).map(|c| c.iter().collect()).collect()
            };
            for (k, p) in parts.iter().enumerate() {
                let log = if k + 1 == parts.len() {
                    format!("{p}\n")
                } else {
                    p.clone()
                };
                let rec = docker_record(&log, "stderr", "2026-11-22T06:55:35.525841068Z", layout);
                out.push_str(&rec);
                out.push('\n');
            }
        }
        let r = analyze_json(&[], out.as_bytes());
        assert_accounted(&r["input"]);
        assert_eq!(
            essence(&r),
            essence(&plain),
            "layout {layout}: {}",
            path.display()
        );
        assert_eq!(
            r["input"]["unparsed_lines"],
            plain["input"]["unparsed_lines"]
        );
    }
}

#[test]
fn ansi_coloured_skreaver_text_equals_plain() {
    let path = super::fixtures().join("samples/skreaver-text-nocolor.log");
    let plain = analyze_json(&[path.to_str().unwrap()], b"");
    // tracing-subscriber's colours: dim timestamp, green level, dim target.
    let coloured = wrap_lines(&path, |_, l| {
        let (ts, rest) = l.split_once(' ').unwrap();
        format!("\x1b[2m{ts}\x1b[0m \x1b[32m{rest}\x1b[0m")
    });
    let r = analyze_json(&[], &coloured);
    assert_eq!(essence(&r), essence(&plain));
}

#[test]
fn interleaved_pods_keep_their_requests_apart() {
    // Two SkillMeat pods' request triplets interleaved line by line must give 2 requests per pod.
    let lines = |pod: &str, status: u16| {
        [
            format!(
                "[pod/{pod}/api] 2026-11-22T07:00:00.100000000Z INFO:     skillmeat.observability.tracing - Span completed: GET /health [success]"
            ),
            format!(
                "[pod/{pod}/api] 2026-11-22T07:00:00.200000000Z INFO:     skillmeat.api.middleware.observability - Request completed: GET /health - {status}"
            ),
            format!(
                "[pod/{pod}/api] 2026-11-22T07:00:00.300000000Z INFO:     uvicorn.access - 10.0.0.1:5000 - \"GET /health HTTP/1.1\" {status}"
            ),
        ]
    };
    let (a, b) = (lines("a", 200), lines("b", 503));
    let mut input = String::new();
    for i in 0..3 {
        input.push_str(&a[i]);
        input.push('\n');
        input.push_str(&b[i]);
        input.push('\n');
    }
    let r = analyze_json(&[], input.as_bytes());
    assert_eq!(r["requests"]["total"], 2);
    assert_eq!(r["requests"]["by_status_class"]["5xx"], 1);
    assert_eq!(r["requests"]["by_status_class"]["2xx"], 1);
}

#[test]
fn pods_tree_rotation_order_and_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join(
        "var/log/pods/prod_skreaver-7d9f-abcde_6f1c2a9e-2b1d-4c1e-9a0b-3f4e5d6c7b8a/skreaver",
    );
    std::fs::create_dir_all(&c).unwrap();
    let line = |n: u32| {
        format!(
            "2026-11-22T07:00:{n:02}.000000000Z stdout F {{\"timestamp\":\"2026-11-22T07:00:{n:02}.000000Z\",\"level\":\"INFO\",\"fields\":{{\"message\":\"m{n}\"}},\"target\":\"t\"}}\n"
        )
    };
    let gz = |text: String| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(text.as_bytes()).unwrap();
        e.finish().unwrap()
    };
    std::fs::write(c.join("0.log.20251027-100000.gz"), gz(line(1))).unwrap();
    std::fs::write(c.join("0.log.20251027-110000.gz"), gz(line(2))).unwrap();
    std::fs::write(c.join("0.log.20251027-120000"), line(3)).unwrap();
    std::fs::write(c.join("0.log"), line(4)).unwrap();
    std::fs::write(c.join("0.log.20251027-130000.tmp"), line(9)).unwrap();
    let r = bin(&["events", dir.path().to_str().unwrap()], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let ev: Vec<serde_json::Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let msgs: Vec<&str> = ev.iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert_eq!(
        msgs,
        ["m1", "m2", "m3", "m4"],
        ".tmp ignored, oldest first, live file last"
    );
    assert_eq!(ev[0]["namespace"], "prod");
    assert_eq!(ev[0]["pod"], "skreaver-7d9f-abcde");
    assert_eq!(ev[0]["container"], "skreaver");
    assert_eq!(ev[0]["stream"], "stdout");
}

/// Events, and the line numbers where they start.
fn events_and_starts(args: &[&str]) -> (Vec<serde_json::Value>, Vec<u64>) {
    let mut all = vec!["events"];
    all.extend_from_slice(args);
    let r = bin(&all, b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut starts = Vec::new();
    let events = r
        .stdout
        .lines()
        .map(|l| {
            let mut e: serde_json::Value = serde_json::from_str(l).unwrap();
            starts.push(e["line"].as_u64().unwrap());
            // Where an event came from is what depends on the split.
            let o = e.as_object_mut().unwrap();
            o.remove("source");
            o.remove("line");
            e
        })
        .collect();
    (events, starts)
}

/// logrotate can cut a file in the middle of a Python traceback or a Rust panic: the rest
/// continues the last event of the older file, as if the set were one file.
#[test]
fn multiline_events_continue_across_rotated_files() {
    let panic = fixtures().join("rules/PANIC001/fire.log");
    let traceback = fixtures().join("samples/skillmeat-text-prod.log");
    for path in [traceback, panic] {
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let (whole, starts) = events_and_starts(&[path.to_str().unwrap()]);
        // Cut before continuation lines, where a cut hurts (line numbers count from 1).
        let cuts: Vec<usize> = (1..lines.len())
            .filter(|&i| !starts.contains(&(i as u64 + 1)))
            .collect();
        assert!(cuts.len() >= 3, "{}: no continuation lines", path.display());
        for pick in [0, cuts.len() / 2, cuts.len() - 1] {
            let (a, b) = (cuts[pick / 2], cuts[pick]);
            let dir = tempfile::tempdir().unwrap();
            let part = |r: std::ops::Range<usize>| -> String {
                lines[r].iter().map(|l| format!("{l}\n")).collect()
            };
            // Oldest compressed, as logrotate leaves it; the two cuts may coincide.
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part(0..a).as_bytes()).unwrap();
            std::fs::write(dir.path().join("app.log.2.gz"), gz.finish().unwrap()).unwrap();
            std::fs::write(dir.path().join("app.log.1"), part(a..b)).unwrap();
            std::fs::write(dir.path().join("app.log"), part(b..lines.len())).unwrap();
            let (split, _) = events_and_starts(&[dir.path().to_str().unwrap()]);
            assert_eq!(
                split,
                whole,
                "{} cut before lines {} and {}",
                path.display(),
                a + 1,
                b + 1
            );
        }
    }
}

/// `skillmeat-text-prod.log` as `kubectl logs --timestamps` prints it from a container whose
/// clock is `local_offset_h` hours ahead of UTC: the runtime's time is the true one, SkillMeat's
/// `asctime` the local one (no zone). Lines before the first time get the first one.
fn skillmeat_text_in_zone(local_offset_h: i64) -> Vec<u8> {
    let text = std::fs::read_to_string(fixtures().join("samples/skillmeat-text-prod.log")).unwrap();
    let first = text
        .lines()
        .find_map(|l| logsleuth::time::parse_timestamp(l.get(..23)?.as_bytes(), 0))
        .unwrap();
    let mut last = first;
    let mut out = String::new();
    for l in text.lines() {
        if let Some(t) = l
            .get(..23)
            .and_then(|t| logsleuth::time::parse_timestamp(t.as_bytes(), 0))
        {
            last = t;
        }
        // The runtime stamps the line a millisecond after the service wrote it.
        let utc = last - local_offset_h * 3_600_000_000_000 + 1_000_000;
        out.push_str(&format!(
            "{} {l}\n",
            logsleuth::time::format_rfc3339_nanos(utc)
        ));
    }
    out.into_bytes()
}

// Regression: `--assume-tz` also shifted SkillMeat's runtime JSON, whose zone-less times are
// `utcnow()` (FORMATS.md §1.1(a)); only the text variant's `asctime` is local.
#[test]
fn assume_tz_reads_only_times_that_may_be_local() {
    let (events, _) = super::events_of("skillmeat/naive-times.log", &["--assume-tz", "+02:00"]);
    let got: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["format"].as_str().unwrap(), e["ts"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("skillmeat-json", "2026-11-22T06:57:50.391491000Z"),
            ("skillmeat-text", "2026-11-22T06:57:50.392000000Z"),
            ("json", "2026-11-22T06:57:50.500000000Z"),
        ]
    );
}

// The zone hint weighs only the times `--assume-tz` reads: SkillMeat's JSON, UTC without a
// zone, gave "it logs UTC — drop --assume-tz" to a run that needs it for the text variant.
#[test]
fn the_zone_hint_leaves_utc_without_a_zone_alone() {
    let text = std::fs::read_to_string(fixtures().join("samples/skillmeat-json-prod.log")).unwrap();
    let time = |l: &str| {
        let v: serde_json::Value = serde_json::from_str(l).ok()?;
        logsleuth::time::parse_timestamp(v["timestamp"].as_str()?.as_bytes(), 0)
    };
    let mut last = text.lines().find_map(time).unwrap();
    let mut wrapped = String::new();
    for l in text.lines() {
        last = time(l).unwrap_or(last);
        // kubelet stamps the line a millisecond after the service wrote it.
        let stamp = logsleuth::time::format_rfc3339_nanos(last + 1_000_000);
        wrapped.push_str(&format!("{stamp} {l}\n"));
    }
    let r = bin(
        &["analyze", "--format", "json", "--assume-tz", "+02:00"],
        wrapped.as_bytes(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("without a zone"), "{}", r.stderr);
}

/// SkillMeat's text mode logs local time without a zone; in a container whose TZ is not UTC
/// its events land hours away from everything else. The runtime's times say by how much, and
/// stderr says which `--assume-tz` reads them right.
#[test]
fn local_times_without_a_zone_get_the_assume_tz_hint() {
    let berlin = skillmeat_text_in_zone(2);
    let r = bin(&["analyze", "--format", "json"], &berlin);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "skillmeat: its times without a zone run 2h00m ahead of the container runtime's"
        ) && r.stderr.contains("read it with --assume-tz +02:00"),
        "{}",
        r.stderr
    );
    // A wrong guess is corrected from where it left the times.
    let r = bin(&["events", "--assume-tz", "+05:00"], &berlin);
    assert!(
        r.stderr.contains("run 3h00m behind") && r.stderr.contains("--assume-tz +02:00"),
        "{}",
        r.stderr
    );
    // Read right, the times agree with the runtime's: no hint.
    let r = bin(&["events", "--assume-tz", "+02:00"], &berlin);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    for line in r
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
    {
        if line["ts"] != line["runtime_ts"] {
            let ns = |k: &str| {
                logsleuth::time::parse_timestamp(line[k].as_str().unwrap().as_bytes(), 0).unwrap()
            };
            assert!((ns("runtime_ts") - ns("ts")).abs() <= 1_000_000, "{line}");
        }
    }
    // `trace` says it too.
    let r = bin(&["trace", "x"], &berlin);
    assert!(r.stderr.contains("--assume-tz +02:00"), "{}", r.stderr);
    // A UTC container, and the same lines without the runtime's times: nothing to say.
    let r = bin(&["analyze"], &skillmeat_text_in_zone(0));
    assert!(r.stderr.is_empty(), "{}", r.stderr);
    // … unless the flag moved them: then it is the flag that is off.
    let r = bin(
        &["events", "--assume-tz", "+02:00"],
        &skillmeat_text_in_zone(0),
    );
    assert!(
        r.stderr.contains("it logs UTC — drop --assume-tz"),
        "{}",
        r.stderr
    );
    let bare = fixtures().join("samples/skillmeat-text-prod.log");
    let r = bin(&["analyze", bare.to_str().unwrap()], b"");
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

/// A line of about 40 KiB as a runtime writes it in pieces: docker's json-file driver and
/// containerd at 16 KiB, conmon at 8 KiB (then an empty `F`), a kubectl prefix around CRI
/// lines, and text whose control characters docker escapes 6-fold (`\u001b`). Returns the
/// input (one line before, the pieces, one line after), the line as written, and the pieces.
fn long_line_in_pieces(kind: &str) -> (Vec<u8>, String, usize) {
    let body: String = (0..5200).map(|i| format!("{i:06},")).collect();
    let line = match kind {
        "ansi" => (0..2600)
            .map(|i| format!("\u{1b}[3{}m{i:05}\u{1b}[0m ", i % 8))
            .collect::<String>(),
        _ => format!(
            r#"{{"timestamp":"2026-11-22T07:00:00.000Z","level":"ERROR","message":"big {body}"}}"#
        ),
    };
    let size = match kind {
        "conmon" => 8192,
        _ => 16 * 1024,
    };
    let pieces: Vec<&str> = line
        .as_bytes()
        .chunks(size)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    let t = "2026-11-22T07:00:00.123456789Z";
    let mut out = String::new();
    let docker = |log: &str, out: &mut String| {
        let layout = if kind == "docker-spaced" { 1 } else { 0 };
        out.push_str(&docker_record(log, "stdout", t, layout));
        out.push('\n');
    };
    let cri = |prefix: &str, tag: &str, content: &str, out: &mut String| {
        out.push_str(&format!("{prefix}{t} stdout {tag} {content}\n"));
    };
    let prefix = if kind == "kubectl" {
        "[pod/api-0/app] "
    } else {
        ""
    };
    match kind {
        "docker" | "docker-spaced" | "ansi" => {
            docker("before\n", &mut out);
            for (i, p) in pieces.iter().enumerate() {
                if i + 1 == pieces.len() {
                    docker(&format!("{p}\n"), &mut out);
                } else {
                    docker(p, &mut out);
                }
            }
            docker("after\n", &mut out);
        }
        _ => {
            cri(prefix, "F", "before", &mut out);
            for (i, p) in pieces.iter().enumerate() {
                let last = i + 1 == pieces.len() && kind != "conmon";
                cri(prefix, if last { "F" } else { "P" }, p, &mut out);
            }
            if kind == "conmon" {
                cri(prefix, "F", "", &mut out);
            }
            cri(prefix, "F", "after", &mut out);
        }
    }
    let n = pieces.len() + usize::from(kind == "conmon");
    (out.into_bytes(), line, n)
}

// Regression: with `--max-line-bytes` under a piece's size (about 17 KiB), the reader cut a
// json-file record before it was decoded (its stream, time and "goes on" come after its
// `log`): the pieces were not joined, and each became an event of its own holding the raw
// record's start. A CRI `P` piece cut there left a gap in the joined line. Now the line is one
// event, its start (at most the limit), counted as truncated once.
#[test]
fn a_line_in_pieces_is_one_event_at_any_max_line_bytes() {
    let limits = [
        16,
        64,
        1000,
        8191,
        8192,
        8193,
        16_383,
        16_384,
        16_385,
        16_500,
        17_000,
        24_000,
        40_000,
        1 << 20,
    ];
    for kind in [
        "docker",
        "docker-spaced",
        "containerd",
        "conmon",
        "kubectl",
        "ansi",
    ] {
        let (input, line, pieces) = long_line_in_pieces(kind);
        let text_lines = 2 + pieces as u64;
        let want_message: String = match kind {
            "ansi" => line
                .replace("\u{1b}[0m", "")
                .split("\u{1b}[")
                .map(|s| s.get(3..).unwrap_or(s))
                .collect(),
            _ => serde_json::from_str::<serde_json::Value>(&line).unwrap()["message"]
                .as_str()
                .unwrap()
                .to_string(),
        };
        for limit in limits {
            let what = format!("{kind} --max-line-bytes {limit}");
            let l = limit.to_string();
            let r = analyze_json(&["--max-line-bytes", &l], &input);
            let i = &r["input"];
            assert_accounted(i);
            assert_eq!(i["lines"], text_lines, "{what}: {i}");
            assert_eq!(i["events"], 3, "{what}: {i}");
            assert_eq!(i["joined_partials"], pieces as u64 - 1, "{what}: {i}");
            let cut = line.len() > limit;
            assert_eq!(i["truncated"], u64::from(cut), "{what}: {i}");
            assert_eq!(i["unparsed_lines"], 0, "{what}: {i}");
            // The same with 3 workers and small chunks (pieces across chunk boundaries).
            let lib = super::analyze_bytes_with(&input, 3, 1024, limit);
            assert_eq!(
                (
                    lib.input.lines,
                    lib.input.events,
                    lib.input.joined_partials,
                    lib.input.truncated
                ),
                (text_lines, 3, pieces as u64 - 1, u64::from(cut)),
                "{what}, 3 threads, 1 KiB chunks"
            );

            let ev = bin(
                &["events", "--format", "json", "--max-line-bytes", &l],
                &input,
            );
            assert_eq!(ev.code, 0, "{what}: {}", ev.stderr);
            let ev = super::ndjson(&ev.stdout);
            assert_eq!(ev.len(), 3, "{what}");
            assert_eq!(
                (&ev[0]["message"], &ev[2]["message"]),
                (&"before".into(), &"after".into()),
                "{what}"
            );
            assert_eq!(
                (ev[0]["line"].as_u64(), ev[1]["line"].as_u64()),
                (Some(1), Some(2)),
                "{what}"
            );
            assert_eq!(ev[2]["line"].as_u64(), Some(text_lines), "{what}");
            let m = ev[1]["message"].as_str().unwrap_or_default();
            // The line's start: nothing from the raw records, no gap.
            assert!(want_message.starts_with(m), "{what}: {m:.80}…");
            assert!(m.len() <= limit, "{what}: {} bytes", m.len());
            if !cut {
                assert_eq!(m, want_message, "{what}");
            }
            if kind != "ansi" && limit >= 100 {
                assert_eq!(ev[1]["level"], "error", "{what}");
                assert!(
                    m.len() + 100 >= limit.min(line.len()),
                    "{what}: {} bytes",
                    m.len()
                );
            }
        }
    }
}
