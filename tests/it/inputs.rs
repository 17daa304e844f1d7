//! File inputs as they lie on real nodes: symlinks, hard links and compressed twins of one
//! file, lines cut by rotation, byte order marks, pzstd output, names that are not UTF-8,
//! and an export bundle inside an input directory.

use std::io::Write;
use std::path::Path;

use super::{analyze_json, assert_accounted, bin, bin_in, ndjson};

const CID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn write(path: &Path, text: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn gz(text: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(text).unwrap();
    e.finish().unwrap()
}

/// `events ARGS` in `cwd`.
fn events_in(cwd: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["events"];
    all.extend_from_slice(args);
    let r = bin_in(cwd, &all, b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    ndjson(&r.stdout)
}

fn file_name(e: &serde_json::Value) -> &str {
    let s = e["source"].as_str().unwrap();
    s.rsplit('/').next().unwrap()
}

/// Each event as (file name of its source, line, message).
fn where_from(ev: &[serde_json::Value]) -> Vec<(String, u64, String)> {
    ev.iter()
        .map(|e| {
            let msg = e["message"].as_str().unwrap_or_default();
            (
                file_name(e).to_string(),
                e["line"].as_u64().unwrap(),
                msg.to_string(),
            )
        })
        .collect()
}

fn owned(want: &[(&str, u64, &str)]) -> Vec<(String, u64, String)> {
    want.iter()
        .map(|(f, l, m)| (f.to_string(), *l, m.to_string()))
        .collect()
}

/// `/var/log/containers/<pod>_<ns>_<c>-<id>.log` → `/var/log/pods/…/<c>/0.log`: walked
/// together with the pods tree (the argument relative or absolute), the live file is read
/// once, as its own path, after its rotated member; the traceback the rotation cut stays one
/// event, and every event has the container id the symlink's name gives.
#[test]
fn a_symlinked_live_file_is_read_once_inside_its_rotated_set() {
    let tmp = tempfile::tempdir().unwrap();
    let pods = "logs/pods/prod_web-1_6f1c0000-1111-2222-3333-444455556666/app";
    let c = tmp.path().join(pods);
    write(
        &c.join("0.log.20261122-070000"),
        b"2026-11-22T07:00:00.000000000Z stderr F 2026-11-22 07:00:00,000 - skillmeat.api - ERROR - Request failed: GET /x\n\
          2026-11-22T07:00:00.000000001Z stderr F Traceback (most recent call last):\n",
    );
    write(
        &c.join("0.log"),
        b"2026-11-22T07:00:00.000000002Z stderr F   File \"/app/x.py\", line 1, in f\n\
          2026-11-22T07:00:00.000000003Z stderr F ValueError: boom\n\
          2026-11-22T07:00:01.000000000Z stderr F 2026-11-22 07:00:01,000 - skillmeat.api - INFO - next\n",
    );
    let links = tmp.path().join("logs/containers");
    std::fs::create_dir_all(&links).unwrap();
    std::os::unix::fs::symlink(
        "../pods/prod_web-1_6f1c0000-1111-2222-3333-444455556666/app/0.log",
        links.join(format!("web-1_prod_app-{CID}.log")),
    )
    .unwrap();
    let absolute = tmp.path().join("logs").display().to_string();
    for arg in ["logs", absolute.as_str()] {
        let ev = events_in(tmp.path(), &[arg]);
        assert_eq!(
            where_from(&ev),
            owned(&[
                ("0.log.20261122-070000", 1, "Request failed: GET /x"),
                ("0.log", 3, "next"),
            ]),
            "{arg}"
        );
        assert_eq!(
            ev[0]["exception"],
            "Traceback (most recent call last):\n  File \"/app/x.py\", line 1, in f\nValueError: boom",
            "{arg}"
        );
        assert!(ev.iter().all(|e| e["container_id"] == CID), "{arg}: {ev:?}");
    }
}

/// kubelet and docker rotate between the pieces of a long line: the piece at the end of the
/// rotated member and the one at the start of the next are one line, as in one file.
#[test]
fn a_line_cut_by_rotation_is_joined() {
    let tmp = tempfile::tempdir().unwrap();
    let cri = tmp.path().join("pods/prod_api-1_0123abcd/app");
    let older: &[u8] = b"2026-11-22T07:00:00.1Z stdout F {\"level\":\"info\",\"msg\":\"first\"}\n\
        2026-11-22T07:00:01.1Z stderr F {\"level\":\"info\",\"msg\":\"other stream\"}\n\
        2026-11-22T07:00:01.1Z stdout P {\"level\":\"error\",\"msg\":\"long li\n";
    let newer: &[u8] =
        b"2026-11-22T07:00:01.15Z stderr F {\"level\":\"info\",\"msg\":\"between\"}\n\
        2026-11-22T07:00:01.2Z stdout P ne, \n\
        2026-11-22T07:00:01.2Z stdout F joined\"}\n\
        2026-11-22T07:00:02.1Z stdout F {\"level\":\"info\",\"msg\":\"last\"}\n";
    // Oldest compressed, then the latest rotation, then the live file.
    write(
        &cri.join("0.log.20261122-070000.gz"),
        &gz(b"2026-11-22T06:59:00.1Z stdout F {\"level\":\"info\",\"msg\":\"zero\"}\n"),
    );
    write(&cri.join("0.log.20261122-070001"), older);
    write(&cri.join("0.log"), newer);

    let docker = tmp.path().join(format!("containers/{CID}"));
    let rec = |log: &str, t: &str| {
        format!(
            "{{\"log\":{},\"stream\":\"stdout\",\"time\":\"2026-11-22T07:00:0{t}Z\"}}\n",
            serde_json::json!(log)
        )
    };
    write(
        &docker.join(format!("{CID}-json.log.1")),
        (rec("{\"level\":\"info\",\"msg\":\"first\"}\n", "0.1")
            + &rec("{\"level\":\"error\",\"msg\":\"long li", "1.1"))
            .as_bytes(),
    );
    write(
        &docker.join(format!("{CID}-json.log")),
        (rec("ne joined\"}\n", "1.1") + &rec("{\"level\":\"info\",\"msg\":\"last\"}\n", "2.1"))
            .as_bytes(),
    );

    let (older_name, live_name) = (format!("{CID}-json.log.1"), format!("{CID}-json.log"));
    for (dir, want) in [
        (
            tmp.path().join("pods"),
            owned(&[
                ("0.log.20261122-070000.gz", 1, "zero"),
                ("0.log.20261122-070001", 1, "first"),
                ("0.log.20261122-070001", 2, "other stream"),
                // A joined line comes where it completes, as in one file.
                ("0.log", 1, "between"),
                ("0.log.20261122-070001", 3, "long line, joined"),
                ("0.log", 4, "last"),
            ]),
        ),
        (
            tmp.path().join("containers"),
            owned(&[
                (&older_name, 1, "first"),
                (&older_name, 2, "long line joined"),
                (&live_name, 2, "last"),
            ]),
        ),
    ] {
        let d = dir.display().to_string();
        let ev = events_in(tmp.path(), &[&d]);
        assert_eq!(where_from(&ev), want, "{d}");
        assert!(ev.iter().all(|e| e["format"] == "json"), "{ev:?}");
        let r = analyze_json(&["--no-rules", &d], b"");
        assert_accounted(&r["input"]);
        assert_eq!(r["input"]["unparsed_lines"], 0, "{d}: {}", r["input"]);
    }
}

/// The live file was just reopened (empty): the run handed on to it ends there, a line cut
/// short but counted, as at the end of any input.
#[test]
fn a_run_handed_to_an_empty_member_is_still_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tmp.path().join("app");
    write(
        &c.join("0.log.20261122-070001"),
        b"2026-11-22T07:00:01.1Z stdout P {\"level\":\"error\",\"msg\":\"cut\"}\n",
    );
    write(&c.join("0.log"), b"");
    let r = analyze_json(&["--no-rules", c.to_str().unwrap()], b"");
    assert_accounted(&r["input"]);
    assert_eq!(r["input"]["lines"], 1);
    assert_eq!(r["input"]["events"], 1, "{}", r["input"]);
}

/// A UTF-8 byte order mark at the start of a file, a compressed file, a rotated member or
/// stdin is not part of the first line.
#[test]
fn a_byte_order_mark_does_not_spoil_the_first_line() {
    let tmp = tempfile::tempdir().unwrap();
    let line = b"2026-11-22 07:00:00,432 - skillmeat.api.server - ERROR - db down\n";
    let bom = |text: &[u8]| [&b"\xef\xbb\xbf"[..], text].concat();
    write(&tmp.path().join("app.log.2.gz"), &gz(&bom(line)));
    write(&tmp.path().join("app.log.1"), &bom(line));
    write(
        &tmp.path().join("app.log"),
        &bom(
            br#"{"timestamp": "2026-11-22T06:57:45.175122", "level": "ERROR", "message": "db down"}
"#,
        ),
    );
    let ev = events_in(tmp.path(), &["."]);
    assert_eq!(ev.len(), 3, "{ev:?}");
    for e in &ev {
        assert_eq!(
            (&e["level"], &e["message"]),
            (&"error".into(), &"db down".into()),
            "{e}"
        );
    }
    let r = bin(&["events"], &bom(line));
    assert_eq!(
        ndjson(&r.stdout)[0]["format"],
        "skillmeat-text",
        "{}",
        r.stdout
    );
}

/// `pzstd` starts its files with a skippable frame: still zstd.
#[test]
fn zstd_starting_with_a_skippable_frame_is_read() {
    let tmp = tempfile::tempdir().unwrap();
    let text: String = (1..=100)
        .map(|i| format!("2026-11-22 07:00:00,000 - skillmeat.api - INFO - line {i}\n"))
        .collect();
    let mut data = 0x184D_2A50u32.to_le_bytes().to_vec();
    data.extend(4u32.to_le_bytes());
    data.extend(1234u32.to_le_bytes());
    data.extend(zstd::encode_all(text.as_bytes(), 3).unwrap());
    let path = tmp.path().join("p.zst");
    write(&path, &data);
    let r = analyze_json(&[path.to_str().unwrap()], b"");
    assert_eq!(r["input"]["events"], 100, "{}", r["input"]);
    assert_eq!(r["input"]["unparsed_lines"], 0);
    let r = analyze_json(&[], &data);
    assert_eq!(r["input"]["events"], 100, "stdin: {}", r["input"]);
}

/// A quoted glob matches a file whose name is not UTF-8, as the shell and a directory walk do.
#[test]
fn a_glob_matches_names_that_are_not_utf8() {
    use std::os::unix::ffi::OsStrExt;
    let tmp = tempfile::tempdir().unwrap();
    let latin1 = std::ffi::OsStr::from_bytes(b"caf\xe9.log");
    write(
        &tmp.path().join(latin1),
        b"2026-11-22 07:00:00,000 - skillmeat.api - ERROR - latin-1 name\n",
    );
    write(
        &tmp.path().join("ascii.log"),
        b"2026-11-22 07:00:00,000 - skillmeat.api - INFO - ascii\n",
    );
    let ev = events_in(tmp.path(), &["*.log"]);
    let msgs: Vec<&str> = ev.iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert_eq!(msgs, ["ascii", "latin-1 name"]);
}

/// A hard link, and kubelet's `X` + `X.gz` while it compresses a rotated file: one file each,
/// read once.
#[test]
fn the_same_file_is_read_once() {
    let tmp = tempfile::tempdir().unwrap();
    let hl = tmp.path().join("hl");
    write(
        &hl.join("app.log"),
        b"2026-11-22 07:00:00,000 - skillmeat.api - ERROR - once\n",
    );
    std::fs::hard_link(hl.join("app.log"), hl.join("app-copy.log")).unwrap();
    let ev = events_in(tmp.path(), &["hl"]);
    assert_eq!(ev.len(), 1, "{ev:?}");

    let c = tmp.path().join("prod_api-1_0123abcd/app");
    let old = b"2026-11-22T07:00:00.1Z stdout F {\"level\":\"error\",\"msg\":\"old\"}\n";
    write(&c.join("0.log.20261122-070000"), old);
    write(&c.join("0.log.20261122-070000.gz"), &gz(old));
    write(
        &c.join("0.log"),
        b"2026-11-22T07:00:01.1Z stdout F {\"level\":\"info\",\"msg\":\"live\"}\n",
    );
    let ev = events_in(tmp.path(), &["prod_api-1_0123abcd"]);
    let got: Vec<(&str, &str)> = ev
        .iter()
        .map(|e| (file_name(e), e["message"].as_str().unwrap()))
        .collect();
    assert_eq!(got, [("0.log.20261122-070000", "old"), ("0.log", "live")]);
}

/// `analyze --force --export DIR INPUTDIR` with DIR inside INPUTDIR: the old bundle is not an
/// input (it would be read while it is replaced).
#[test]
fn an_export_inside_an_input_directory_is_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        &tmp.path().join("es/app.log"),
        b"2026-11-22 07:00:00,000 - skillmeat.api - INFO - x\n",
    );
    for extra in [&[][..], &["--force"][..]] {
        let mut args = vec![
            "analyze",
            "--format",
            "json",
            "--no-progress",
            "--export",
            "es/bundle",
            "es",
        ];
        args.extend_from_slice(extra);
        let r = bin_in(tmp.path(), &args, b"");
        assert_eq!(r.code, 0, "{}", r.stderr);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(
            report["input"]["read_errors"],
            serde_json::json!([]),
            "{extra:?}"
        );
        assert_eq!(report["input"]["lines"], 1, "{extra:?}");
        let manifest = std::fs::read_to_string(tmp.path().join("es/bundle/manifest.json")).unwrap();
        let manifest: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        assert_eq!(manifest["complete"], true, "{extra:?}");
    }
}

/// A gzip cut short: what was read before the damage is printed and counted, the error is
/// said on stderr, and the exit code (2) says the output is not all the input holds.
#[test]
fn a_cut_gzip_keeps_what_was_read_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let text: String = (0..2000)
        .map(|i| format!("{{\"time\":\"2026-11-22T07:00:00Z\",\"level\":\"info\",\"msg\":\"line {i} {}\"}}\n", i * 7919 % 10007))
        .collect();
    let whole = gz(text.as_bytes());
    let cut = dir.path().join("app.log.1.gz");
    write(&cut, &whole[..whole.len() / 2]);
    let name = cut.to_str().unwrap();
    let r = bin(&["trace", "no-such-id", name], b"");
    assert_eq!(r.code, 2, "trace: {}", r.stderr);
    assert!(r.stderr.contains("app.log.1.gz"), "{}", r.stderr);
    for cmd in ["events", "analyze"] {
        let r = bin(&[cmd, "--format", "json", name], b"");
        assert_eq!(r.code, 2, "{cmd}: {}", r.stderr);
        assert!(
            r.stderr.contains("app.log.1.gz")
                && r.stderr.contains("the output covers what was read before"),
            "{cmd}: {}",
            r.stderr
        );
        if cmd == "events" {
            let n = ndjson(&r.stdout).len();
            assert!(n > 100 && n < 2000, "{n} events before the damage");
        } else {
            let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
            assert_accounted(&report["input"]);
            assert_eq!(report["input"]["read_errors"].as_array().unwrap().len(), 1);
        }
    }
}

/// A run of pieces over three members (the middle one holds nothing but a piece of it) is one
/// line, the first member's, and every line is counted once.
#[test]
fn a_line_cut_over_three_members_is_joined() {
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("pods/prod_api-1_0123abcd/app");
    write(
        &app.join("0.log.20261122-070000"),
        b"2026-11-22T07:00:00.1Z stdout F {\"level\":\"info\",\"msg\":\"first\"}\n\
          2026-11-22T07:00:01.1Z stdout P {\"level\":\"error\",\"msg\":\"long \n",
    );
    write(
        &app.join("0.log.20261122-070001"),
        b"2026-11-22T07:00:01.1Z stdout P line, \n",
    );
    write(
        &app.join("0.log"),
        b"2026-11-22T07:00:01.2Z stdout F joined\"}\n\
          2026-11-22T07:00:02.1Z stdout F {\"level\":\"info\",\"msg\":\"last\"}\n",
    );
    let dir = tmp.path().join("pods");
    let ev = events_in(tmp.path(), &["--format", "json", dir.to_str().unwrap()]);
    assert_eq!(
        where_from(&ev),
        owned(&[
            ("0.log.20261122-070000", 1, "first"),
            ("0.log.20261122-070000", 2, "long line, joined"),
            ("0.log", 2, "last"),
        ])
    );
    let r = analyze_json(&[dir.to_str().unwrap()], b"");
    assert_accounted(&r["input"]);
    assert_eq!(r["input"]["joined_partials"], 2);
}

/// `logsleuth app.log - < app.log` names one file twice: it is read once.
#[test]
fn a_file_given_as_a_path_and_as_stdin_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.log");
    write(
        &path,
        b"{\"level\":\"info\",\"msg\":\"one\"}\n{\"level\":\"info\",\"msg\":\"two\"}\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_logsleuth"))
        .args(["analyze", "--format", "json", path.to_str().unwrap(), "-"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["input"]["lines"], 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("read once"));
}

/// bzip2, xz and lz4 are told by their first bytes and refused, naming the file, its
/// compression and the command that reads it, before any output (exit 2) — given alone, as a
/// member of a rotated set or on stdin — instead of analyzing compressed bytes as text.
/// `xz -dk` beside a rotated member: the copy is read in its place.
#[test]
fn bzip2_xz_and_lz4_are_refused_naming_the_file_and_the_fix() {
    let dir = super::fixtures().join("compressed");
    for (name, tool) in [
        ("two.log.bz2", "bzip2"),
        ("two.log.xz", "xz"),
        ("two.log.lz4", "lz4"),
    ] {
        let path = dir.join(name);
        for cmd in ["analyze", "events"] {
            let r = bin(&[cmd, path.to_str().unwrap()], b"");
            assert_eq!(r.code, 2, "{name} {cmd}: {}", r.stderr);
            assert_eq!(r.stdout, "", "{name} {cmd}");
            assert!(
                r.stderr
                    .contains(&format!("cannot read '{}'", path.display()))
                    && r.stderr.contains(&format!("{tool}-compressed"))
                    && r.stderr
                        .contains(&format!("`{tool} -dc {} | logsleuth", path.display())),
                "{name} {cmd}: {}",
                r.stderr
            );
        }
        let stored = std::fs::read(&path).unwrap();
        let r = bin(&["analyze", "--format", "json"], &stored);
        assert_eq!(r.code, 2, "{name} on stdin: {}", r.stderr);
        let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(report["input"]["lines"], 0, "{name} on stdin");
        let errors = report["input"]["read_errors"].to_string();
        assert!(
            errors.contains(&format!("{tool}-compressed"))
                && errors.contains(&format!("`{tool} -dc`")),
            "{name} on stdin: {errors}"
        );
    }

    let tmp = tempfile::tempdir().unwrap();
    let line = |m: &str| format!("2026-11-22 07:00:00,000 - skillmeat.api - ERROR - {m}\n");
    write(&tmp.path().join("app.log"), line("live").as_bytes());
    write(&tmp.path().join("app.log.1"), line("one").as_bytes());
    write(
        &tmp.path().join("app.log.2.xz"),
        &std::fs::read(dir.join("two.log.xz")).unwrap(),
    );
    let r = bin_in(tmp.path(), &["analyze", "."], b"");
    assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("cannot read './app.log.2.xz': xz-compressed")
            && r.stderr.contains("`xz -dk ./app.log.2.xz`"),
        "{}",
        r.stderr
    );
    // What `xz -dk app.log.2.xz` leaves beside it.
    let two = "{\"timestamp\": \"2026-11-22T06:57:45.175122\", \"level\": \"ERROR\", \"logger\": \"skillmeat.api.server\", \"message\": \"db down\"}\n\
               {\"timestamp\": \"2026-11-22T06:57:46.175122\", \"level\": \"INFO\", \"logger\": \"skillmeat.api.server\", \"message\": \"db up\"}\n";
    write(&tmp.path().join("app.log.2"), two.as_bytes());
    let ev = events_in(tmp.path(), &["."]);
    let msgs: Vec<&str> = ev.iter().map(|e| e["message"].as_str().unwrap()).collect();
    assert_eq!(msgs, ["db down", "db up", "one", "live"]);
}

/// Windows PowerShell 5's `kubectl logs > x.log` writes UTF-16LE with a byte order mark and
/// CRLF: read, it analyzes as its UTF-8 copy does (so does UTF-16BE); without the mark, the
/// run says what the file looks like and how to convert it.
#[test]
fn utf16_with_a_byte_order_mark_reads_like_its_utf8_copy() {
    let sample =
        std::fs::read_to_string(super::fixtures().join("samples/skillmeat-json-prod.log")).unwrap();
    // Non-ASCII text, and a character beyond the BMP (a surrogate pair in UTF-16).
    let text = format!(
        "{sample}{{\"timestamp\": \"2026-11-22T07:10:00.000000\", \"level\": \"ERROR\", \"logger\": \"skillmeat.api\", \"message\": \"caf\u{e9} \u{1f525} down\"}}\n"
    )
    .replace('\n', "\r\n");
    let utf16 = |le: bool, bom: bool| -> Vec<u8> {
        bom.then_some(0xfeff_u16)
            .into_iter()
            .chain(text.encode_utf16())
            .flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() })
            .collect()
    };
    let tmp = tempfile::tempdir().unwrap();
    let utf8 = tmp.path().join("utf8.log");
    write(&utf8, text.as_bytes());
    let le = tmp.path().join("le.log");
    write(&le, &utf16(true, true));
    let be = tmp.path().join("be.log");
    write(&be, &utf16(false, true));
    // The report of `name`, stored as `stdin`, without what tells the two apart: the input's
    // name (in the evidence) and its size.
    let report = |name: &str, stdin: &[u8]| {
        let args: &[&str] = if name == "stdin" { &[] } else { &[name] };
        let mut r = analyze_json(args, stdin);
        r["input"].as_object_mut().unwrap().remove("bytes");
        let text = r.to_string().replace(&format!("\"{name}\""), "\"INPUT\"");
        serde_json::from_str::<serde_json::Value>(&text).unwrap()
    };
    let want = report(utf8.to_str().unwrap(), b"");
    assert_accounted(&want["input"]);
    assert_eq!(want["input"]["unparsed_lines"], 0, "{}", want["input"]);
    assert!(want.to_string().contains("caf\u{e9} \u{1f525} down"));
    for path in [&le, &be] {
        assert_eq!(
            report(path.to_str().unwrap(), b""),
            want,
            "{}",
            path.display()
        );
    }
    assert_eq!(report("stdin", &utf16(true, true)), want, "stdin");
    let events = |path: &Path| -> Vec<serde_json::Value> {
        let mut ev = events_in(tmp.path(), &[path.to_str().unwrap()]);
        for e in &mut ev {
            e.as_object_mut().unwrap().remove("source");
        }
        ev
    };
    let want_events = events(&utf8);
    assert_eq!(
        want_events.last().unwrap()["message"],
        "caf\u{e9} \u{1f525} down"
    );
    assert_eq!(events(&le), want_events);

    // Without the mark, each line of the file is still one line (UTF-16LE's last `\n\0` is
    // no extra line), in either byte order.
    let bare_be = tmp.path().join("bare_be.log");
    write(&bare_be, &utf16(false, false));
    let r = analyze_json(&[bare_be.to_str().unwrap()], b"");
    assert_accounted(&r["input"]);
    assert_eq!(
        r["input"]["lines"], want["input"]["lines"],
        "{}",
        r["input"]
    );
    let bare = tmp.path().join("bare.log");
    write(&bare, &utf16(true, false));
    let r = bin(
        &["analyze", "--format", "json", bare.to_str().unwrap()],
        b"",
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_accounted(&report["input"]);
    assert_eq!(
        report["input"]["lines"], want["input"]["lines"],
        "{}",
        report["input"]
    );
    let warnings = report["input"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    for said in [warnings[0].as_str().unwrap(), r.stderr.as_str()] {
        assert!(
            said.contains(&format!("'{}' looks like UTF-16LE", bare.display()))
                && said.contains("iconv -f UTF-16LE -t UTF-8"),
            "{said}"
        );
    }
    // A file read as it should be has no warnings at all (the key is left out).
    assert!(want["input"].get("warnings").is_none(), "{}", want["input"]);
}

/// A UTF-16 file cut at an odd length (a copy stopped mid-character): the lone last byte is
/// not dropped unseen but counts as invalid text on the last line (`invalid_utf8`), which
/// shows U+FFFD in its place, as invalid UTF-8 does. So does an unpaired surrogate.
#[test]
fn utf16_cut_at_an_odd_byte_counts_the_lone_byte_as_invalid() {
    let text = "2026-11-22 07:00:00,000 - skillmeat.api - INFO - one\n\
                2026-11-22 07:00:01,000 - skillmeat.api - WARNING - cut HTTPS";
    for le in [true, false] {
        let mut stored: Vec<u8> = std::iter::once(0xfeff_u16)
            .chain(text.encode_utf16())
            .flat_map(|u| if le { u.to_le_bytes() } else { u.to_be_bytes() })
            .collect();
        // Half of one more character.
        stored.push(if le { b'!' } else { 0 });
        let r = analyze_json(&[], &stored);
        assert_accounted(&r["input"]);
        assert_eq!(
            (&r["input"]["lines"], &r["input"]["invalid_utf8"]),
            (&serde_json::json!(2), &serde_json::json!(1)),
            "{le}: {}",
            r["input"]
        );
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("cut.log");
        write(&path, &stored);
        let ev = events_in(tmp.path(), &[path.to_str().unwrap()]);
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert_eq!(ev[1]["message"], "cut HTTPS\u{fffd}", "{le}");
    }
}

/// `gzip -c` output followed by zero bytes (a preallocated file, a crash, a padded copy) reads
/// cleanly, as `gzip -d` reads it ("trailing zero bytes ignored"); anything else after the
/// data is still an error, after every line was read.
#[test]
fn a_gzip_padded_with_zero_bytes_reads_without_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let text: String = (0..50)
        .map(|i| format!("2026-11-22 07:00:00,000 - skillmeat.api - INFO - line {i}\n"))
        .collect();
    let padded = [gz(text.as_bytes()), vec![0; 4096]].concat();
    let path = tmp.path().join("app.log.1.gz");
    write(&path, &padded);
    for (what, report) in [
        ("file", analyze_json(&[path.to_str().unwrap()], b"")),
        ("stdin", analyze_json(&[], &padded)),
    ] {
        assert_eq!(
            report["input"]["read_errors"],
            serde_json::json!([]),
            "{what}"
        );
        assert_eq!(report["input"]["lines"], 50, "{what}");
        assert_eq!(report["input"]["events"], 50, "{what}");
    }
    let garbage = [gz(text.as_bytes()), vec![0; 16], b"junk".to_vec()].concat();
    write(&path, &garbage);
    let r = bin(
        &["analyze", "--format", "json", path.to_str().unwrap()],
        b"",
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["input"]["lines"], 50);
    assert_accounted(&report["input"]);
    assert!(
        report["input"]["read_errors"][0]
            .as_str()
            .unwrap()
            .contains("unexpected data after the 16 zero bytes"),
        "{}",
        report["input"]
    );
}

/// logrotate's `copytruncate` copies the file in the middle of a write: the rotated member
/// ends inside a line and the live file starts with its rest. A rotated set reads as its
/// members concatenated (`cat`) do — plain lines, a member holding only a piece, a compressed
/// member, a line over `--max-line-bytes`, a CRI line cut inside its envelope — and the joined
/// line is the line of the member it ends in.
#[test]
fn a_line_cut_by_copytruncate_reads_as_the_members_concatenated() {
    let json = |i: usize, msg: &str| {
        format!(
            "{{\"timestamp\":\"2026-11-22T07:08:{i:02}.333271Z\",\"level\":\"INFO\",\"fields\":{{\"message\":\"{msg} {i}\"}},\"target\":\"skreaver_http::runtime::http\"}}\n"
        )
    };
    let lines =
        |from: usize, to: usize| -> String { (from..to).map(|i| json(i, "served")).collect() };
    let cut = json(40, "Connection limits: max=10000, per_ip=100");
    let (head, rest) = cut.split_at(50);
    let cri = "2026-11-22T07:00:01.1Z stdout F {\"level\":\"error\",\"msg\":\"cri cut\"}\n";
    let (cri_head, cri_rest) = cri.split_at(20);
    let long = json(41, &"x".repeat(200));
    let (long_head, long_rest) = long.split_at(150);
    /// What is tested, the members (name, text) oldest first, and `--max-line-bytes`.
    type Layout<'a> = (&'a str, Vec<(&'a str, String)>, &'a str);
    let layouts: Vec<Layout> = vec![
        (
            "two members",
            vec![
                ("app.log.1", lines(0, 4) + head),
                ("app.log", rest.to_string() + &lines(5, 9)),
            ],
            "1048576",
        ),
        (
            "a member holding only a piece",
            vec![
                ("app.log.2", lines(0, 2) + &head[..20]),
                ("app.log.1", head[20..].to_string()),
                ("app.log", rest.to_string() + &lines(5, 7)),
            ],
            "1048576",
        ),
        (
            "a compressed member",
            vec![
                ("app.log.2.gz", lines(0, 2) + head),
                ("app.log.1", rest.to_string() + &lines(3, 5)),
                ("app.log", lines(6, 8)),
            ],
            "1048576",
        ),
        (
            "a line over the cap",
            vec![
                ("app.log.1", lines(0, 2) + long_head),
                ("app.log", long_rest.to_string() + &lines(3, 5)),
            ],
            "100",
        ),
        (
            "a CRI line cut in its envelope",
            vec![
                ("0.log.20261122-070000", cri_head.to_string()),
                ("0.log", cri_rest.to_string() + cri),
            ],
            "1048576",
        ),
    ];
    for (what, members, cap) in layouts {
        let tmp = tempfile::tempdir().unwrap();
        let mut all = String::new();
        for (name, text) in &members {
            let stored = if name.ends_with(".gz") {
                gz(text.as_bytes())
            } else {
                text.as_bytes().to_vec()
            };
            write(&tmp.path().join(name), &stored);
            all.push_str(text);
        }
        let dir = tmp.path().to_str().unwrap();
        let input = |mut r: serde_json::Value| {
            let mut i = r["input"].take();
            i.as_object_mut().unwrap().remove("bytes");
            i
        };
        let set = input(analyze_json(&["--max-line-bytes", cap, dir], b""));
        let cat = input(analyze_json(&["--max-line-bytes", cap], all.as_bytes()));
        assert_accounted(&set);
        assert_eq!(set, cat, "{what}");
        assert_eq!(set["lines"], all.matches('\n').count(), "{what}");
        let messages = |ev: Vec<serde_json::Value>| -> Vec<String> {
            ev.iter().map(|e| e["message"].to_string()).collect()
        };
        let from_set = messages(events_in(tmp.path(), &["--max-line-bytes", cap, dir]));
        let r = bin(&["events", "--max-line-bytes", cap], all.as_bytes());
        assert_eq!(from_set, messages(ndjson(&r.stdout)), "{what}");
    }

    // Where the joined line is: the live file's first line, and the files' own line numbers.
    let tmp = tempfile::tempdir().unwrap();
    write(
        &tmp.path().join("app.log.1"),
        (lines(0, 2) + head).as_bytes(),
    );
    write(
        &tmp.path().join("app.log"),
        (rest.to_string() + &lines(5, 6)).as_bytes(),
    );
    let ev = events_in(tmp.path(), &["."]);
    assert_eq!(
        where_from(&ev),
        owned(&[
            ("app.log.1", 1, "served 0"),
            ("app.log.1", 2, "served 1"),
            ("app.log", 1, "Connection limits: max=10000, per_ip=100 40"),
            ("app.log", 2, "served 5"),
        ])
    );
}

/// The offset a process has read an open file to (`/proc/PID/fdinfo`), if it has it open.
fn read_offset(pid: u32, file: &Path) -> Option<u64> {
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        if std::fs::read_link(fd.path()).ok().as_deref() != Some(file) {
            continue;
        }
        let info = std::fs::read_to_string(format!(
            "/proc/{pid}/fdinfo/{}",
            fd.file_name().to_string_lossy()
        ))
        .ok()?;
        let pos = info.lines().find_map(|l| l.strip_prefix("pos:"))?;
        return pos.trim().parse().ok();
    }
    None
}

/// logrotate's `copytruncate` running while a file is read without `-f`: the output covers
/// what was read, and the run says so — on stderr and in the report's `input.warnings`,
/// naming the file — with exit code 0 (as `tail` goes on after "file truncated"). The run is
/// stopped (SIGSTOP) while it reads, the file truncated, and the run let go on.
#[test]
fn a_file_truncated_while_it_is_read_is_said_to_have_shrunk() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("app.log");
    let line = |i: usize| {
        format!(
            "{{\"timestamp\":\"2026-11-22T07:08:49.333271Z\",\"level\":\"INFO\",\"fields\":{{\"message\":\"served request {i} and more words\"}},\"target\":\"skreaver_http::runtime::http\"}}\n"
        )
    };
    let text: String = (0..200_000).map(line).collect();
    write(&path, text.as_bytes());
    let size = text.len() as u64;
    let path = std::fs::canonicalize(&path).unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_logsleuth"))
        .args([
            "analyze",
            "--format",
            "json",
            "--no-progress",
            "--threads",
            "1",
        ])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let signal = |sig: &str| {
        let ok = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    };
    // Reading (past what a first look at its head reads), with most of the file to go: the
    // reader is held back by the parser (two chunks of 1 MiB in flight with one thread).
    let started = std::time::Instant::now();
    while read_offset(pid, &path).is_none_or(|pos| pos < 1 << 20) {
        assert!(
            started.elapsed().as_secs() < 60,
            "the run never read the file"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    signal("-STOP");
    let pos = read_offset(pid, &path).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0)
        .unwrap();
    signal("-CONT");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        pos < size,
        "read {pos} of {size} before the file was truncated"
    );
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let input = &report["input"];
    assert_accounted(input);
    assert!(input["lines"].as_u64().unwrap() < 200_000, "{input}");
    assert_eq!(input["read_errors"], serde_json::json!([]));
    let said = format!(
        "'{}' shrank while it was read (copytruncate?)",
        path.display()
    );
    let warnings = input["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{input}");
    assert!(
        warnings[0].as_str().unwrap().contains(&said)
            && warnings[0].as_str().unwrap().contains(&format!(
                "it held {size} bytes when opened and 0 at the end"
            )),
        "{input}"
    );
    assert!(
        stderr.contains(&format!("logsleuth: warning: {said}")),
        "{stderr}"
    );
}
