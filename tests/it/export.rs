//! `analyze --export` and `verify`: every file read back with the arrow-rs Parquet reader and
//! checked against the JSON report; partitioning; interrupts; redaction; tampering.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::Value;

use crate::{bin, samples};

const TABLES: [&str; 6] = [
    "events",
    "requests",
    "endpoints",
    "error_rate",
    "findings",
    "groups",
];

fn read(path: &Path) -> (SchemaRef, Vec<RecordBatch>) {
    let file = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let b = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap_or_else(|e| panic!("{}: not readable Parquet: {e}", path.display()));
    let schema = b.schema().clone();
    let batches = b
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{}: rows do not decode: {e}", path.display()));
    (schema, batches)
}

fn rows(batches: &[RecordBatch]) -> u64 {
    batches.iter().map(|b| b.num_rows() as u64).sum()
}

/// Values of a string or dictionary-of-string column, row by row.
fn strings(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    let Some(col) = batch.column_by_name(name) else {
        return vec![None; batch.num_rows()];
    };
    match col.data_type() {
        DataType::Utf8 => col
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        DataType::Dictionary(_, _) => {
            let d = col.as_dictionary::<Int32Type>();
            let values = d.values().as_string::<i32>();
            d.keys()
                .iter()
                .map(|k| k.map(|k| values.value(k as usize).to_string()))
                .collect()
        }
        other => panic!("{name}: not a string column: {other}"),
    }
}

/// Every string value of every file of a bundle (Parquet decoded), plus the text files.
fn all_text(dir: &Path) -> String {
    let mut out = String::new();
    for f in files(dir) {
        if f.extension().is_some_and(|x| x == "parquet") {
            let (_, batches) = read(&f);
            for b in &batches {
                for col in b.columns() {
                    push_strings(col.as_ref(), &mut out);
                }
            }
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&f).unwrap()));
        }
    }
    out
}

/// Every string value of a bundle by where it is (`file:column`, or the file's name for the
/// text files), to say where a value leaked.
fn text_by_column(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for f in files(dir) {
        let name = f.strip_prefix(dir).unwrap().display().to_string();
        if f.extension().is_some_and(|x| x == "parquet") {
            let (schema, batches) = read(&f);
            for (i, field) in schema.fields().iter().enumerate() {
                let mut text = String::new();
                for b in &batches {
                    push_strings(b.column(i).as_ref(), &mut text);
                }
                out.push((format!("{name}:{}", field.name()), text));
            }
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
            out.push((name, text));
        }
    }
    out
}

/// Every string in a column, also inside lists and structs (evidence, identifiers), one per
/// line.
fn push_strings(col: &dyn Array, out: &mut String) {
    match col.data_type() {
        DataType::Utf8 => {
            for v in col.as_string::<i32>().iter().flatten() {
                out.push_str(v);
                out.push('\n');
            }
        }
        DataType::Dictionary(_, _) => {
            push_strings(col.as_dictionary::<Int32Type>().values().as_ref(), out);
        }
        DataType::List(_) => push_strings(col.as_list::<i32>().values().as_ref(), out),
        DataType::Struct(_) => {
            for c in col.as_struct().columns() {
                push_strings(c.as_ref(), out);
            }
        }
        _ => {}
    }
}

/// Every file under `dir`, recursively, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn sample_args() -> Vec<String> {
    samples()
        .into_iter()
        .map(|p| p.display().to_string())
        .collect()
}

/// `analyze --format json <inputs> --export dir <extra>` → report.
fn export(dir: &Path, inputs: &[String], extra: &[&str], stdin: &[u8]) -> Value {
    let mut args = vec!["analyze", "--format", "json", "--no-progress"];
    args.extend(inputs.iter().map(String::as_str));
    let d = dir.display().to_string();
    args.extend(["--export", d.as_str()]);
    args.extend_from_slice(extra);
    let r = bin(&args, stdin);
    assert_eq!(r.code, 0, "stderr: {}", r.stderr);
    serde_json::from_str(&r.stdout).expect("report is JSON")
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

fn verify(dir: &Path) -> crate::Run {
    bin(&["verify", &dir.display().to_string()], b"")
}

/// The `raw` and `fields` values of `batch` that were JSON objects still parse as JSON
/// (redaction keeps JSON JSON, its escapes as written).
fn assert_json_stays_json(batch: &RecordBatch) {
    for col in ["raw", "fields"] {
        for v in strings(batch, col).into_iter().flatten() {
            if v.starts_with('{') {
                assert!(
                    serde_json::from_str::<Value>(&v).is_ok(),
                    "{col} is no longer JSON: {v}"
                );
            }
        }
    }
}

/// `verify` listed exactly `n` differences (its indented lines).
fn assert_differences(v: &crate::Run, n: usize) {
    assert_eq!(
        v.stdout.lines().filter(|l| l.starts_with("  ")).count(),
        n,
        "{}",
        v.stdout
    );
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

/// (service, method, route) → requests, from request rows (as the report keys endpoints).
fn endpoint_counts(
    batches: &[RecordBatch],
    service: Option<&str>,
) -> BTreeMap<(String, String, String), u64> {
    let mut counts = BTreeMap::new();
    for b in batches {
        let services = strings(b, "service");
        let methods = strings(b, "method");
        let routes = strings(b, "route");
        for i in 0..b.num_rows() {
            let svc = services[i]
                .clone()
                .or_else(|| service.map(str::to_string))
                .unwrap();
            let key = (
                svc,
                methods[i].clone().unwrap_or_else(|| "?".into()),
                routes[i].clone().unwrap_or_else(|| "?".into()),
            );
            *counts.entry(key).or_default() += 1;
        }
    }
    counts
}

fn report_endpoints(report: &Value) -> BTreeMap<(String, String, String), u64> {
    report["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            ((s("service"), s("method"), s("route")), n(&e["requests"]))
        })
        .collect()
}

#[test]
fn bundle_matches_the_report() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("incident");
    let report = export(&dir, &sample_args(), &[], b"");
    let input = &report["input"];

    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut want: Vec<String> = TABLES.iter().map(|t| format!("{t}.parquet")).collect();
    want.extend(["manifest.json".into(), "report.md".into()]);
    want.sort();
    assert_eq!(names, want);

    // events: one row per event that passed the filters, typed columns.
    let (schema, events) = read(&dir.join("events.parquet"));
    assert_eq!(
        rows(&events),
        n(&input["events"]) - n(&input["filtered_out"])
    );
    let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    assert_eq!(schema.field_with_name("ts").unwrap().data_type(), &ts);
    assert_eq!(
        schema.field_with_name("ts_ns").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(
        schema.field_with_name("status").unwrap().data_type(),
        &DataType::Int32
    );
    assert_eq!(
        schema.field_with_name("duration_ms").unwrap().data_type(),
        &DataType::Float64
    );
    for dict in [
        "service", "format", "level", "logger", "method", "route", "pod", "source",
    ] {
        assert!(
            matches!(
                schema.field_with_name(dict).unwrap().data_type(),
                DataType::Dictionary(..)
            ),
            "{dict} is dictionary-encoded"
        );
    }
    // Per service and level, the same counts as the report.
    let mut levels: BTreeMap<(String, String), u64> = BTreeMap::new();
    for b in &events {
        let s = strings(b, "service");
        let l = strings(b, "level");
        for i in 0..b.num_rows() {
            let level = l[i].clone().unwrap_or_else(|| "unknown".into());
            *levels.entry((s[i].clone().unwrap(), level)).or_default() += 1;
        }
        // ts and ts_ns agree; every event has its raw line.
        let us = b
            .column_by_name("ts")
            .unwrap()
            .as_primitive::<arrow_array::types::TimestampMicrosecondType>();
        let ns = b
            .column_by_name("ts_ns")
            .unwrap()
            .as_primitive::<arrow_array::types::Int64Type>();
        for i in 0..b.num_rows() {
            assert_eq!(us.is_null(i), ns.is_null(i));
            if !ns.is_null(i) {
                assert_eq!(us.value(i), ns.value(i).div_euclid(1000));
            }
        }
        assert!(strings(b, "raw").iter().all(Option::is_some));
    }
    for s in report["services"].as_array().unwrap() {
        let name = s["service"].as_str().unwrap();
        for (level, count) in s["levels"].as_object().unwrap() {
            let got = levels
                .get(&(name.to_string(), level.clone()))
                .copied()
                .unwrap_or(0);
            assert_eq!(got, n(count), "{name} {level}");
        }
    }

    // requests: one row per request; per-endpoint counts equal the report's.
    let (_, requests) = read(&dir.join("requests.parquet"));
    assert_eq!(rows(&requests), n(&report["requests"]["total"]));
    assert_eq!(endpoint_counts(&requests, None), report_endpoints(&report));

    // endpoints and error_rate: the report's rows, same values.
    let (_, endpoints) = read(&dir.join("endpoints.parquet"));
    let want = report["endpoints"].as_array().unwrap();
    assert_eq!(rows(&endpoints) as usize, want.len());
    let b = &endpoints[0];
    let routes = strings(b, "route");
    let p95 = b
        .column_by_name("p95_ms")
        .unwrap()
        .as_primitive::<arrow_array::types::Float64Type>();
    for (i, e) in want.iter().enumerate() {
        assert_eq!(routes[i].as_deref(), e["route"].as_str());
        assert_eq!(p95.is_null(i), e["p95_ms"].is_null());
        if let Some(v) = e["p95_ms"].as_f64() {
            assert_eq!(p95.value(i), v);
        }
    }
    let (_, error_rate) = read(&dir.join("error_rate.parquet"));
    assert_eq!(
        rows(&error_rate) as usize,
        report["error_rate"].as_array().unwrap().len()
    );

    // findings: one row per finding of the report, with its group key and evidence.
    let want_findings = report["findings"].as_array().unwrap();
    let (_, findings) = read(&dir.join("findings.parquet"));
    assert_eq!(rows(&findings) as usize, want_findings.len());
    assert!(!want_findings.is_empty());
    let mut row = want_findings.iter();
    let mut causes_seen = 0;
    for b in &findings {
        let (rules, keys) = (strings(b, "rule"), strings(b, "group_key"));
        let evidence = b.column_by_name("evidence").unwrap().as_list::<i32>();
        for i in 0..b.num_rows() {
            let want = row.next().unwrap();
            assert_eq!(rules[i].as_deref(), want["rule"].as_str());
            let group: Vec<String> = want["group"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap()))
                .collect();
            assert_eq!(
                keys[i].clone(),
                (!group.is_empty()).then(|| group.join(" "))
            );
            let items = evidence.value(i);
            let items = items.as_struct();
            let lines = items
                .column_by_name("line")
                .unwrap()
                .as_primitive::<arrow_array::types::Int64Type>();
            let messages = items.column_by_name("message").unwrap().as_string::<i32>();
            let causes = items.column_by_name("cause").unwrap().as_string::<i32>();
            let want_evidence = want["evidence"].as_array().unwrap();
            assert_eq!(items.len(), want_evidence.len());
            for (j, e) in want_evidence.iter().enumerate() {
                assert_eq!(lines.value(j) as u64, n(&e["line"]));
                assert_eq!(messages.value(j), e["message"].as_str().unwrap());
                assert_eq!(
                    (!causes.is_null(j)).then(|| causes.value(j)),
                    e["cause"].as_str(),
                    "{} evidence {j}",
                    want["rule"]
                );
                causes_seen += usize::from(!causes.is_null(j));
            }
        }
    }

    // The samples' tracebacks give causes (ERR003's `jwt.exceptions.DecodeError: …`).
    assert!(causes_seen > 0, "no evidence with a cause");
    let (schema, _) = read(&dir.join("findings.parquet"));
    let DataType::List(item) = schema.field_with_name("evidence").unwrap().data_type() else {
        panic!("evidence is a list");
    };
    let DataType::Struct(fields) = item.data_type() else {
        panic!("evidence items are structs");
    };
    let cause = fields.iter().find(|f| f.name() == "cause").expect("cause");
    assert_eq!(
        (cause.data_type(), cause.is_nullable()),
        (&DataType::Utf8, true)
    );

    // groups: one row per correlation group; the report's top groups are among them with the
    // same counts, times and identifiers.
    let (_, groups) = read(&dir.join("groups.parquet"));
    let correlation = &report["correlation"];
    assert_eq!(rows(&groups), n(&correlation["groups"]));
    assert!(n(&correlation["groups"]) > 10, "the samples correlate");
    // group_id → (events, errors, first_ns, identifiers, closed)
    type GroupRow = (i64, i64, Option<i64>, Vec<String>, String);
    let mut by_id: BTreeMap<String, GroupRow> = BTreeMap::new();
    for b in &groups {
        let ids = strings(b, "group_id");
        let closed = strings(b, "closed");
        let int = |name: &str| {
            b.column_by_name(name)
                .unwrap()
                .as_primitive::<arrow_array::types::Int64Type>()
                .clone()
        };
        let (events, errors, first) = (int("events"), int("errors"), int("first_ns"));
        let idents = b
            .column_by_name("identifiers")
            .unwrap()
            .as_list::<i32>()
            .clone();
        for i in 0..b.num_rows() {
            let list = idents.value(i);
            let list = list.as_struct();
            let kinds = list.column(0).as_string::<i32>();
            let values = list.column(1).as_string::<i32>();
            let names = (0..list.len())
                .map(|j| format!("{}:{}", kinds.value(j), values.value(j)))
                .collect();
            let first = (!first.is_null(i)).then(|| first.value(i));
            let prev = by_id.insert(
                ids[i].clone().unwrap(),
                (
                    events.value(i),
                    errors.value(i),
                    first,
                    names,
                    closed[i].clone().unwrap(),
                ),
            );
            assert!(prev.is_none(), "group ids are unique");
        }
    }
    let top = correlation["top"].as_array().unwrap();
    assert!(!top.is_empty());
    for g in top {
        let (events, errors, first, names, closed) = &by_id[g["id"].as_str().unwrap()];
        assert_eq!(*events as u64, n(&g["events"]));
        assert_eq!(*errors as u64, n(&g["errors"]));
        let want_first = g["first"]
            .as_str()
            .and_then(|t| logsleuth::time::parse_timestamp(t.as_bytes(), 0));
        assert_eq!(*first, want_first);
        for id in g["identifiers"].as_array().unwrap() {
            assert!(names.contains(&id.as_str().unwrap().to_string()), "{id}");
        }
        assert_eq!(names.len() as u64, n(&g["identifier_count"]));
        assert!(["idle", "evicted", "end_of_input"].contains(&closed.as_str()));
    }

    // The manifest describes all of it, and verify agrees.
    let m = manifest(&dir);
    assert_eq!(m["complete"], true);
    assert_eq!(m["schema"], "logsleuth.bundle/2");
    assert_eq!(m["input_accounting"], report["input"]);
    let inputs = m["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), samples().len());
    for (entry, path) in inputs.iter().zip(samples()) {
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(n(&entry["size"]), bytes.len() as u64);
        assert_eq!(n(&entry["bytes_read"]), bytes.len() as u64);
        assert_eq!(
            n(&entry["lines"]),
            bytes.iter().filter(|&&c| c == b'\n').count() as u64
        );
        assert_eq!(entry["sha256"].as_str().unwrap().len(), 64);
    }
    assert!(m["parsers"].as_array().unwrap().len() >= 2);
    // Every rule file checked, with the SHA-256 of its text.
    let rules = m["rules"].as_array().unwrap();
    let files: Vec<_> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    assert_eq!(rules.len(), files.len());
    for f in files {
        let name = format!("rules/{}", f.file_name().unwrap().to_string_lossy());
        let entry = rules.iter().find(|r| r["name"] == name.as_str()).unwrap();
        let text = std::fs::read(&f).unwrap();
        assert_eq!(
            entry["sha256"],
            logsleuth::export::sha256_hex(&text).as_str(),
            "{name}"
        );
    }
    for out in m["outputs"].as_array().unwrap() {
        let path = dir.join(out["path"].as_str().unwrap());
        if let Some(r) = out["rows"].as_u64() {
            assert_eq!(rows(&read(&path).1), r, "{path:?}");
        }
    }
    let v = verify(&dir);
    assert_eq!(v.code, 0, "{}", v.stdout);
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("## Endpoints") || md.contains("### Endpoints"),
        "{md}"
    );
    // Findings first and correlation last, as on the terminal.
    let (findings, correlation) = (md.find("## Findings"), md.find("## Correlation"));
    assert!(findings.is_some() && findings < md.find("## Input"), "{md}");
    assert!(correlation > md.find("## Slow requests"), "{md}");
    assert!(md.contains("AUTH003") && md.contains("conn_id:"), "{md}");
}

#[test]
fn filtered_rows_and_stdin_hash() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    let data = std::fs::read(&samples()[0]).unwrap();
    let report = export(&dir, &[], &["--level", "warn"], &data);
    let input = &report["input"];
    assert!(n(&input["filtered_out"]) > 0);
    let (_, events) = read(&dir.join("events.parquet"));
    assert_eq!(
        rows(&events),
        n(&input["events"]) - n(&input["filtered_out"])
    );
    let m = manifest(&dir);
    let stdin = &m["inputs"][0];
    assert_eq!(stdin["kind"], "stdin");
    assert_eq!(n(&stdin["bytes_read"]), data.len() as u64);
    // SHA-256 of the bytes read, as `sha256sum` would print it.
    let sha = Command::new("sha256sum")
        .arg(&samples()[0])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split(' ')
                .next()
                .unwrap_or("")
                .to_string()
        });
    if let Ok(sha) = sha {
        assert_eq!(stdin["sha256"].as_str().unwrap(), sha);
    }
}

#[test]
fn partitioned_by_service_and_date() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let report = export(
        &dir,
        &sample_args(),
        &["--partition-by", "service,date"],
        b"",
    );
    let mut event_rows = 0;
    let mut request_batches = Vec::new();
    let mut request_services = BTreeMap::new();
    for f in files(&dir) {
        let rel = f.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
        let parts: Vec<&str> = rel.split('/').collect();
        if parts[0] != "events" && parts[0] != "requests" {
            continue;
        }
        assert_eq!(parts.len(), 4, "{rel}");
        let service = parts[1].strip_prefix("service=").expect(&rel).to_string();
        let date = parts[2].strip_prefix("date=").expect(&rel);
        assert!(
            date.len() == 10 || date == "__HIVE_DEFAULT_PARTITION__",
            "{rel}"
        );
        assert!(
            parts[3].starts_with("part-") && parts[3].ends_with(".parquet"),
            "{rel}"
        );
        let (schema, batches) = read(&f);
        assert!(
            schema.field_with_name("service").is_err(),
            "partition column left out"
        );
        if parts[0] == "events" {
            event_rows += rows(&batches);
        } else {
            for (k, v) in endpoint_counts(&batches, Some(&service)) {
                *request_services.entry(k).or_insert(0) += v;
            }
            request_batches.extend(batches);
        }
    }
    let input = &report["input"];
    assert_eq!(event_rows, n(&input["events"]) - n(&input["filtered_out"]));
    assert_eq!(request_services, report_endpoints(&report));
    assert_eq!(
        manifest(&dir)["partition_by"],
        serde_json::json!(["service", "date"])
    );
    let v = verify(&dir);
    assert_eq!(v.code, 0, "{}", v.stdout);
}

/// A partitioned table without a row (no request at `info`, or filters that keep nothing)
/// still has a file — `requests/part-0.parquet`, every column plus the partition columns, no
/// row — so `requests/**/*.parquet` and Spark's read find the dataset.
#[test]
fn partitioned_tables_without_rows_still_have_a_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("p");
    let info = samples()
        .into_iter()
        .find(|p| p.ends_with("skreaver-info.log"))
        .unwrap();
    let report = export(
        &dir,
        &[info.display().to_string()],
        &["--partition-by", "service,date"],
        b"",
    );
    assert_eq!(n(&report["requests"]["total"]), 0);
    let empty = dir.join("requests/part-0.parquet");
    let (schema, batches) = read(&empty);
    assert_eq!(rows(&batches), 0);
    for column in ["service", "date", "route", "status", "duration_ms"] {
        assert!(schema.field_with_name(column).is_ok(), "{column}");
    }
    assert!(
        files(&dir)
            .iter()
            .any(|f| f.starts_with(dir.join("events/service=skreaver")))
    );
    let outputs = manifest(&dir)["outputs"].clone();
    assert!(
        outputs
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["path"] == "requests/part-0.parquet" && o["rows"] == 0),
        "{outputs}"
    );
    let v = verify(&dir);
    assert_eq!(v.code, 0, "{}", v.stdout);
}

#[test]
fn refuses_a_non_empty_directory_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("full");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let d = dir.display().to_string();
    let input = samples()[3].display().to_string();
    let r = bin(&["analyze", &input, "--export", &d], b"");
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(&d) && r.stderr.contains("not empty"),
        "{}",
        r.stderr
    );
    assert!(!dir.join("manifest.json").exists());

    let r = bin(&["analyze", &input, "--export", &d, "--force"], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
    // A file where the directory should be: the path and the cause are named.
    let file = tmp.path().join("plain");
    std::fs::write(&file, "x").unwrap();
    let f = file.display().to_string();
    let r = bin(&["analyze", &input, "--export", &f], b"");
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains(&f) && r.stderr.contains("not a directory"),
        "{}",
        r.stderr
    );
    // Unknown partition column.
    let r = bin(
        &[
            "analyze",
            &input,
            "--export",
            &d,
            "--force",
            "--partition-by",
            "pod",
        ],
        b"",
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("pod"), "{}", r.stderr);
}

const GITHUB: &str = "ghp_R2d2C3poLuke0123456789SkywalkerXYZab";
const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudC0xMjMifQ.c2lnbmF0dXJlLXZhbHVlLTEyMw";
const API_KEY: &str = "sk_live_Zq81mXkP";
const PASSWORD: &str = "hunter2pass";
const BEARER: &str = "tok_9f8e7d6c5b4a3f2e1d0c";
const AGENT_TOKEN: &str = "ghp_AgentIdIsAToken0123456789abcdefXYZ";
const CLIENT_SECRET: &str = "cs_Vv7Qx2LmN9";
const FIELD_TOKEN: &str = "tk_Aa1Bb2Cc3";

fn secret_input() -> Vec<u8> {
    format!(
        concat!(
            "{{\"timestamp\":\"2026-11-22T07:00:00.000Z\",\"level\":\"INFO\",\"message\":\"auth with {gh}\",\"api_key\":\"{key}\"}}\n",
            "2026-11-22 07:00:01,000 - skillmeat.api - INFO - Request completed: GET /api/v1/maps?key={key}&q=1 - 200\n",
            "{{\"timestamp\":\"2026-11-22T07:00:02.000Z\",\"level\":\"ERROR\",\"message\":\"db postgres://app:{pw}@db:5432/x failed\",\"headers\":{{\"Authorization\":\"Bearer {bearer}\",\"x-api-key\":\"{key}\"}}}}\n",
            "level=info msg=\"token {jwt}\" ts=2026-11-22T07:00:03Z\n",
            // Fires AUTH001: the token is in a finding's evidence (report.md, findings.parquet).
            "{{\"timestamp\": \"2026-11-22T07:00:04.000000\", \"level\": \"WARNING\", \"logger\": \"skillmeat.api.auth\", \"message\": \"Invalid token: {jwt}\", \"module\": \"auth\", \"function\": \"verify\", \"line\": 12}}\n",
            // A slow request with a trace id: its path is a correlation group's slowest request
            // (report.md's correlation table, groups.parquet).
            "{{\"timestamp\": \"2026-11-22T07:00:05.000000Z\", \"level\": \"INFO\", \"logger\": \"skillmeat.api.middleware.observability\", \"message\": \"Request completed: GET /api/v1/artifacts - 200\", \"module\": \"m\", \"function\": \"f\", \"line\": 1, \"trace_id\": \"slow-1\", \"request_id\": \"r-1\", \"extra\": {{\"method\": \"GET\", \"path\": \"/api/v1/artifacts/{gh}?key={key}\", \"status_code\": 200, \"duration_ms\": 9000.5}}}}\n",
            // A token used as an agent id: the agent_id columns and a group id.
            "{{\"timestamp\":\"2026-11-22T07:00:06.000000Z\",\"level\":\"DEBUG\",\"fields\":{{\"message\":\"finished processing request\",\"latency\":\"3 ms\",\"status\":404}},\"target\":\"tower_http::trace::on_response\",\"span\":{{\"method\":\"POST\",\"uri\":\"/agents/{agent}/observe\",\"version\":\"HTTP/1.1\",\"name\":\"request\"}}}}\n",
            // Secret fields, in JSON and in tracing's text: the fields column and the raw line.
            "{{\"timestamp\":\"2026-11-22T07:00:07.000000Z\",\"level\":\"WARN\",\"fields\":{{\"message\":\"oauth exchange\",\"client_secret\":\"{cs}\",\"token\":\"{tk}\"}},\"target\":\"skreaver_http::runtime::auth\"}}\n",
            "2026-11-22T07:00:08.000000Z  WARN skreaver_http::runtime::auth: oauth exchange client_secret={cs} token={tk}\n",
        ),
        gh = GITHUB,
        key = API_KEY,
        pw = PASSWORD,
        bearer = BEARER,
        jwt = JWT,
        agent = AGENT_TOKEN,
        cs = CLIENT_SECRET,
        tk = FIELD_TOKEN,
    )
    .into_bytes()
}

#[test]
fn secrets_never_reach_the_bundle_unless_no_redact() {
    let tmp = tempfile::tempdir().unwrap();
    let secrets = [
        GITHUB,
        JWT,
        API_KEY,
        PASSWORD,
        BEARER,
        AGENT_TOKEN,
        CLIENT_SECRET,
        FIELD_TOKEN,
    ];
    let dir = tmp.path().join("redacted");
    export(&dir, &[], &[], &secret_input());
    let text = all_text(&dir);
    for s in secrets {
        assert!(!text.contains(s), "{s} leaked into the bundle");
    }
    // Raw bytes too (compressed or not).
    for f in files(&dir) {
        let bytes = std::fs::read(&f).unwrap();
        for s in secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{s} in {f:?}"
            );
        }
    }
    assert!(text.contains("[REDACTED:github_token]"), "{text}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("AUTH001") && md.contains("Invalid token: [REDACTED:jwt]"),
        "{md}"
    );
    let m = manifest(&dir);
    let counts = &m["redaction"]["counts"];
    // The bearer token is the whole value of an `Authorization` field: counted once, as that.
    for kind in [
        "github_token",
        "jwt",
        "api_key",
        "url_password",
        "authorization",
    ] {
        assert!(n(&counts[kind]) > 0, "{kind}: {counts}");
    }
    assert_eq!(verify(&dir).code, 0);

    let dir = tmp.path().join("raw");
    export(&dir, &[], &["--no-redact"], &secret_input());
    let text = all_text(&dir);
    for s in secrets {
        assert!(text.contains(s), "{s} kept with --no-redact");
    }
    assert_eq!(manifest(&dir)["redaction"]["enabled"], false);
}

/// Secrets behind JSON escapes, and keys spelled as they are in real headers and logfmt: one
/// line each, with the secret as written (`\u…`, `\/`) and its distinctive pieces.
struct Hidden {
    line: &'static str,
    /// As it stands in the input: in the raw column with `--no-redact`.
    written: &'static str,
    /// Also never in a bundle: the secret decoded, and its parts between escapes.
    also: &'static [&'static str],
}

/// The manifest counts at least one redaction of each of `kinds`.
fn assert_kinds_counted(dir: &Path, kinds: &[&str]) {
    let counts = &manifest(dir)["redaction"]["counts"];
    for kind in kinds {
        assert!(n(&counts[kind]) > 0, "{kind}: {counts}");
    }
}

/// Exported into `dir` with `--no-redact`, every secret of `cases` is in the bundle as written.
fn assert_kept_with_no_redact(dir: &Path, input: &str, cases: &[Hidden]) {
    export(dir, &[], &["--no-redact"], input.as_bytes());
    let text = all_text(dir);
    for h in cases {
        assert!(
            text.contains(h.written),
            "{} kept with --no-redact",
            h.written
        );
    }
}

const HIDDEN: &[Hidden] = &[
    // A key with one letter escaped (the issue's example).
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:00.000Z","level":"INFO","message":"login","to\u006ben":"tk_Esc1Key0001"}"#,
        written: "tk_Esc1Key0001",
        also: &[],
    },
    // Upper-case key, upper-case hex.
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:01.000Z","level":"INFO","message":"login","TO\u004BEN":"tk_Esc2Upper02"}"#,
        written: "tk_Esc2Upper02",
        also: &[],
    },
    // Every letter of the key escaped.
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:02.000Z","level":"INFO","message":"login","\u0070\u0061\u0073\u0073\u0077\u006F\u0072\u0064":"pw_Esc3All0003"}"#,
        written: "pw_Esc3All0003",
        also: &[],
    },
    // An escaped key in a nested object: the `fields` column copies the object as written.
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:03.000Z","level":"INFO","message":"call","headers":{"X-Api-\u004bey":"ak_Esc4Nested4"}}"#,
        written: "ak_Esc4Nested4",
        also: &[],
    },
    // `Bearer\u0020…`: the space escaped.
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:04.000Z","level":"WARN","message":"retrying with Bearer\u0020bt_Esc5Space0005abcdef"}"#,
        written: "bt_Esc5Space0005abcdef",
        also: &[],
    },
    // A GitHub token with an escaped letter in the middle, in a field of its own.
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:05.000Z","level":"INFO","message":"pushing","gh":"ghp_Esc6Mid\u0041bcdefghijklmnopqrstuv012"}"#,
        written: r"ghp_Esc6Mid\u0041bcdefghijklmnopqrstuv012",
        also: &[
            "ghp_Esc6MidAbcdefghijklmnopqrstuv012",
            "Esc6Mid",
            "bcdefghijklmnopqrstuv012",
        ],
    },
    // A password in a URL whose slashes are escaped (PHP's json_encode), in the message…
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:06.000Z","level":"ERROR","message":"connect https:\/\/svc:pw_Esc7Slash007@db.internal\/main failed"}"#,
        written: "pw_Esc7Slash007",
        also: &[],
    },
    // … and in a field of its own.
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:07.000Z","level":"ERROR","message":"db down","dsn":"postgres:\/\/app:pw_Esc8Dsn0008@db:5432\/x"}"#,
        written: "pw_Esc8Dsn0008",
        also: &[],
    },
    // Go's encoding/json writes `&` as `\u0026`: query parameters after the first one.
    Hidden {
        line: r#"{"timestamp": "2026-11-22T08:00:08.000000Z", "level": "INFO", "logger": "skillmeat.api.middleware.observability", "message": "Request completed: GET /api/v1/maps - 200", "module": "m", "function": "f", "line": 1, "trace_id": "esc-9", "request_id": "r-esc-9", "extra": {"method": "GET", "path": "/api/v1/maps?q=1\u0026key=ak_Esc9Amp0009", "status_code": 200, "duration_ms": 12.5}}"#,
        written: "ak_Esc9Amp0009",
        also: &[],
    },
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:09.000Z","level":"INFO","message":"callback \/cb?state=x\u0026access_token=at_Esc10Amp010"}"#,
        written: "at_Esc10Amp010",
        also: &[],
    },
    // Gson writes `=` as `\u003d`.
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:10.000Z","level":"INFO","message":"GET \/x?key\u003dak_Esc11Eq0011"}"#,
        written: "ak_Esc11Eq0011",
        also: &[],
    },
    // A base64 token holding `/`, escaped.
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:11.000Z","level":"WARN","message":"Authorization: Bearer bt\/Esc12Slash012abcdefgh"}"#,
        written: r"bt\/Esc12Slash012abcdefgh",
        also: &["bt/Esc12Slash012abcdefgh", "Esc12Slash012abcdefgh"],
    },
    // The word that gives the secret away, escaped.
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:12.000Z","level":"WARN","message":"sent \u0062earer bt_Esc13Hint0013abcdef"}"#,
        written: "bt_Esc13Hint0013abcdef",
        also: &[],
    },
    // JSON quoted in a message, its key escaped: the message column holds `"to\u006ben"`, and
    // the rule AUTH001 puts the message into findings and report.md.
    Hidden {
        line: r#"{"timestamp": "2026-11-22T08:00:13.000000", "level": "WARNING", "logger": "skillmeat.api.auth", "message": "Invalid token: {\"to\\u006ben\": \"tk_Esc14Deep014\"}", "module": "auth", "function": "verify", "line": 12}"#,
        written: "tk_Esc14Deep014",
        also: &[],
    },
    // Headers as CGI and Django name them, and `x_api_key` in JSON and in logfmt.
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:14.000Z","level":"INFO","message":"request","meta":{"HTTP_AUTHORIZATION":"Basic ba_Esc15Meta015","HTTP_X_API_KEY":"ak_Esc16Meta016"}}"#,
        written: "ba_Esc15Meta015",
        also: &["ak_Esc16Meta016"],
    },
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:15.000Z","level":"INFO","message":"request","x_api_key":"ak_Esc17Under17"}"#,
        written: "ak_Esc17Under17",
        also: &[],
    },
    Hidden {
        line: r#"level=warn msg="upstream call" x_api_key=ak_Esc18Logfmt8 ts=2026-11-22T08:00:16Z"#,
        written: "ak_Esc18Logfmt8",
        also: &[],
    },
    // Other case, already redacted before: kept here so that stays so.
    Hidden {
        line: r#"level=warn msg="upstream call" X-Api-Key=ak_Esc19Header9 Token=tk_Esc20Case020 PASSWORD=pw_Esc21Upper21 ts=2026-11-22T08:00:17Z"#,
        written: "ak_Esc19Header9",
        also: &["tk_Esc20Case020", "pw_Esc21Upper21"],
    },
    Hidden {
        line: r#"{"timestamp":"2026-11-22T08:00:18.000Z","level":"INFO","message":"call","headers":{"AUTHORIZATION":"Bearer\u0020bt_Esc22Field022abcdef"}}"#,
        written: "bt_Esc22Field022abcdef",
        also: &[],
    },
    // Docker's json-file envelope around the issue's example: the payload is what is kept.
    Hidden {
        line: r#"{"log":"{\"timestamp\":\"2026-11-22T08:00:19.000Z\",\"level\":\"INFO\",\"message\":\"login\",\"to\\u006ben\":\"tk_Esc23Docker3\"}\n","stream":"stdout","time":"2026-11-22T08:00:19.000000000Z"}"#,
        written: "tk_Esc23Docker3",
        also: &[],
    },
];

/// Where in the bundle `dir` each secret of `hidden` is (as written or in its other spellings):
/// one line per secret found, naming the columns and files.
fn leaks(dir: &Path, hidden: &[Hidden]) -> Vec<String> {
    let columns = text_by_column(dir);
    let files = files(dir);
    let mut leaks = Vec::new();
    for h in hidden {
        for s in std::iter::once(h.written).chain(h.also.iter().copied()) {
            let mut at: Vec<&str> = columns
                .iter()
                .filter(|(_, text)| text.contains(s))
                .map(|(name, _)| name.as_str())
                .collect();
            // Raw bytes too (compressed or not).
            let names: Vec<String> = files
                .iter()
                .filter(|f| {
                    let bytes = std::fs::read(f).unwrap();
                    bytes.windows(s.len()).any(|w| w == s.as_bytes())
                })
                .map(|f| f.strip_prefix(dir).unwrap().display().to_string())
                .collect();
            at.extend(names.iter().map(String::as_str));
            if !at.is_empty() {
                leaks.push(format!("{s} in {at:?}, from\n  {}", h.line));
            }
        }
    }
    leaks
}

#[test]
fn escaped_and_respelled_secrets_never_reach_the_bundle_unless_no_redact() {
    let tmp = tempfile::tempdir().unwrap();
    let input: String = HIDDEN.iter().map(|h| format!("{}\n", h.line)).collect();
    let dir = tmp.path().join("redacted");
    export(&dir, &[], &[], input.as_bytes());
    let leaks = leaks(&dir, HIDDEN);
    assert!(leaks.is_empty(), "leaked:\n{}", leaks.join("\n"));
    // Every line is an event, and redacted JSON stays JSON.
    let (_, batches) = read(&dir.join("events.parquet"));
    assert_eq!(rows(&batches), HIDDEN.len() as u64);
    for b in &batches {
        assert_json_stays_json(b);
    }
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(md.contains("AUTH001"), "{md}");
    assert_kinds_counted(
        &dir,
        &[
            "github_token",
            "api_key",
            "url_password",
            "authorization",
            "password",
            "bearer",
        ],
    );
    assert_eq!(verify(&dir).code, 0);
    let raw = tmp.path().join("raw");
    assert_kept_with_no_redact(&raw, &input, HIDDEN);
    assert_eq!(manifest(&raw)["redaction"]["enabled"], false);
}

/// Secrets after whitespace (JSON's `\t`, `\n` escapes, a literal tab), behind percent escapes,
/// and as plain-text `key: value` / `KEY=value` pairs.
const SPACED: &[Hidden] = &[
    Hidden {
        line: r#"{"timestamp":"2026-11-22T09:00:00.000Z","level":"WARN","message":"retry with Authorization:\tBearer bt_Tab1Escaped01abc"}"#,
        written: "bt_Tab1Escaped01abc",
        also: &[],
    },
    Hidden {
        line: r#"{"timestamp":"2026-11-22T09:00:01.000Z","level":"WARN","message":"retry with Authorization:\tBasic ba_Tab2Short2"}"#,
        written: "ba_Tab2Short2",
        also: &[],
    },
    Hidden {
        line: r#"{"timestamp":"2026-11-22T09:00:02.000Z","level":"INFO","message":"login password=\tpw_Tab3Esc003"}"#,
        written: "pw_Tab3Esc003",
        also: &[],
    },
    Hidden {
        line: "2026-11-22 09:00:03,000 - skillmeat.api - INFO - login password=\tpw_Tab4Lit004",
        written: "pw_Tab4Lit004",
        also: &[],
    },
    Hidden {
        line: r#"{"timestamp":"2026-11-22T09:00:04.000Z","level":"INFO","message":"step 1\ntoken=tk_Nl5Key00005\nstep 2"}"#,
        written: "tk_Nl5Key00005",
        also: &[],
    },
    // Percent escapes: a GitHub token, a JWT after `Bearer%20` in a request's path (the path
    // columns of events and requests), `key%3D`, a whole URL encoded in a parameter.
    Hidden {
        line: "2026-11-22 09:00:05,000 - skillmeat.api - INFO - callback GET /api/v1/cb?gh=ghp%5FPct6GithubToken0123456789 200",
        written: "ghp%5FPct6GithubToken0123456789",
        also: &["Pct6GithubToken0123456789"],
    },
    Hidden {
        line: r#"{"timestamp": "2026-11-22T09:00:06.000000Z", "level": "INFO", "logger": "skillmeat.api.middleware.observability", "message": "Request completed: GET /api/v1/cb - 200", "module": "m", "function": "f", "line": 1, "trace_id": "pct-7", "request_id": "r-pct-7", "extra": {"method": "GET", "path": "/api/v1/cb?auth=Bearer%20eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJQY3Q3In0.c2lnUGN0N3NpZw", "status_code": 200, "duration_ms": 12.5}}"#,
        written: "eyJzdWIiOiJQY3Q3In0",
        also: &["c2lnUGN0N3NpZw"],
    },
    Hidden {
        line: r#"{"timestamp":"2026-11-22T09:00:07.000Z","level":"INFO","message":"GET /maps?q=1&key%3Dak_Pct8Key0008"}"#,
        written: "ak_Pct8Key0008",
        also: &[],
    },
    Hidden {
        line: r#"{"timestamp":"2026-11-22T09:00:08.000Z","level":"INFO","message":"GET /login?next=https%3A%2F%2Fsvc%3Apw_Pct9Url09%40db%2Fx"}"#,
        written: "pw_Pct9Url09",
        also: &[],
    },
    Hidden {
        line: r#"{"timestamp":"2026-11-22T09:00:09.000Z","level":"ERROR","message":"connect postgres://app:pw@Raw10x@db:5432/x failed"}"#,
        written: "pw@Raw10x",
        also: &["Raw10x"],
    },
    // Plain text, as config dumps and start-up lines print it.
    Hidden {
        line: "2026-11-22 09:00:10,000 - skillmeat.config - INFO - token: tkPlainEleven",
        written: "tkPlainEleven",
        also: &[],
    },
    Hidden {
        line: "2026-11-22 09:00:11,000 - skillmeat.config - INFO - password: hunter2",
        written: "hunter2",
        also: &[],
    },
    Hidden {
        line: "2026-11-22 09:00:12,000 - skillmeat.config - INFO - settings api_key = ak_Plain13, secret=sc_Plain14, client_secret: csPlainFifteen",
        written: "ak_Plain13",
        also: &["sc_Plain14", "csPlainFifteen"],
    },
    Hidden {
        line: "2026-11-22T09:00:13.000000Z  WARN skreaver_http::runtime::config: environment DB_PASSWORD=pw_Env16 GITHUB_TOKEN=gt_Env17 x-auth-token: at_Env18",
        written: "pw_Env16",
        also: &["gt_Env17", "at_Env18"],
    },
    Hidden {
        line: r#"{"timestamp":"2026-11-22T09:00:14.000Z","level":"INFO","message":"connected","db_password":"pw_Json19","smtp":{"smtp_passwd":"pw_Json20"}}"#,
        written: "pw_Json19",
        also: &["pw_Json20"],
    },
    Hidden {
        line: "2026-11-22 09:00:15,000 - skillmeat.api - INFO - Using token: tk_9f8e21",
        written: "tk_9f8e21",
        also: &[],
    },
];

/// Lines that name secrets without holding one: kept whole.
const NEAR_MISSES: &[&str] = &[
    "GitHub API: Token configured (4999/5000 requests remaining)",
    "token_count: 5",
    "42 tokens remaining",
    "password reset requested for user 7",
    "Invalid token: expired",
    "Error validating token: Signature has expired",
    "max_tokens=512 token_type=bearer",
    "search GET /q?s=caf%C3%A9&next=%2Fa%3Fb%3D1",
];

#[test]
fn spaced_percent_encoded_and_plain_text_secrets_never_reach_the_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let mut input: String = SPACED.iter().map(|h| format!("{}\n", h.line)).collect();
    for (i, m) in NEAR_MISSES.iter().enumerate() {
        input.push_str(&format!(
            "2026-11-22 09:01:{i:02},000 - skillmeat.api - INFO - {m}\n"
        ));
    }
    let dir = tmp.path().join("redacted");
    export(&dir, &[], &[], input.as_bytes());
    let leaks = leaks(&dir, SPACED);
    assert!(leaks.is_empty(), "leaked:\n{}", leaks.join("\n"));
    let (_, batches) = read(&dir.join("events.parquet"));
    assert_eq!(rows(&batches), (SPACED.len() + NEAR_MISSES.len()) as u64);
    let mut messages = Vec::new();
    for b in &batches {
        messages.extend(strings(b, "message").into_iter().flatten());
        assert_json_stays_json(b);
    }
    for m in NEAR_MISSES {
        assert!(
            messages.iter().any(|x| x == m),
            "{m} not kept: {messages:?}"
        );
    }
    let raw = text_by_column(&dir)
        .into_iter()
        .find(|(c, _)| c == "events.parquet:raw")
        .unwrap()
        .1;
    for kept in [
        r"retry with Authorization:\tBearer [REDACTED:bearer]",
        "?gh=[REDACTED:github_token] 200",
        "&key%3D[REDACTED:api_key]",
        "next=https%3A%2F%2Fsvc%3A[REDACTED:url_password]%40db%2Fx",
        r"step 1\ntoken=[REDACTED:authorization]\nstep 2",
    ] {
        assert!(raw.contains(kept), "{kept} not in raw:\n{raw}");
    }
    let requests = text_by_column(&dir)
        .into_iter()
        .find(|(c, _)| c == "requests.parquet:path")
        .unwrap()
        .1;
    assert!(
        requests.contains("?auth=Bearer%20[REDACTED:jwt]"),
        "{requests}"
    );
    // Each kind counted, from these cases alone.
    assert_kinds_counted(
        &dir,
        &[
            "bearer",
            "authorization",
            "password",
            "github_token",
            "jwt",
            "api_key",
            "url_password",
        ],
    );
    assert_eq!(verify(&dir).code, 0);
    assert_kept_with_no_redact(&tmp.path().join("raw"), &input, SPACED);
}

/// Framework secrets, cookies, PEM private keys (on continuation lines too), double percent
/// escapes, the `Api-Key` scheme and all-caps glued names (QA's third pass).
const MORE: &[Hidden] = &[
    // Rails' secret_key_base: key=value, YAML-style `KEY: value`, a JSON field.
    Hidden {
        line: "2026-11-22 10:00:00,000 - skillmeat.config - INFO - boot secret_key_base=skb_More01Rails",
        written: "skb_More01Rails",
        also: &[],
    },
    Hidden {
        line: "2026-11-22 10:00:01,000 - skillmeat.config - INFO - SECRET_KEY_BASE: skb_More02Colon",
        written: "skb_More02Colon",
        also: &[],
    },
    Hidden {
        line: r#"{"timestamp":"2026-11-22T10:00:02.000Z","level":"INFO","message":"boot","secret_key_base":"skb_More03Json"}"#,
        written: "skb_More03Json",
        also: &[],
    },
    // Cookies: request and response headers in text, a JSON field, headers quoted in JSON.
    Hidden {
        line: "2026-11-22 10:00:03,000 - skillmeat.api - INFO - GET /home Cookie: session=ck_More04Sess; theme=ck_More05Theme",
        written: "ck_More04Sess",
        also: &["ck_More05Theme"],
    },
    Hidden {
        line: "2026-11-22 10:00:04,000 - skillmeat.api - INFO - login ok Set-Cookie: sid=ck_More06Sid; Path=/; HttpOnly",
        written: "ck_More06Sid",
        also: &[],
    },
    Hidden {
        line: r#"{"timestamp":"2026-11-22T10:00:05.000Z","level":"INFO","message":"request","cookie":"session=ck_More07Json; other=ck_More08Json"}"#,
        written: "ck_More07Json",
        also: &["ck_More08Json"],
    },
    Hidden {
        line: r#"{"timestamp":"2026-11-22T10:00:06.000Z","level":"INFO","message":"upstream said Set-Cookie: sid=ck_More09Esc; Path=/\r\nCookie: a=ck_More10Esc"}"#,
        written: "ck_More09Esc",
        also: &["ck_More10Esc"],
    },
    // PEM private keys: on a Python event's continuation lines (the exception column)…
    Hidden {
        line: "2026-11-22 10:00:07,000 - skillmeat.tls - ERROR - cannot load key\n    -----BEGIN RSA PRIVATE KEY-----\n    MIIEpMore11BodyLineOne\n    xyzMore12BodyLineTwo+/==\n    -----END RSA PRIVATE KEY-----",
        written: "MIIEpMore11BodyLineOne",
        also: &["xyzMore12BodyLineTwo"],
    },
    // … a Rust panic's…
    Hidden {
        line: "thread 'main' panicked at src/tls.rs:5:3:\nbad key -----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbMore13OpenSsh\n-----END OPENSSH PRIVATE KEY-----\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        written: "b3BlbMore13OpenSsh",
        also: &[],
    },
    // … and in a JSON string, its newlines escaped.
    Hidden {
        line: r#"{"timestamp":"2026-11-22T10:00:09.000Z","level":"ERROR","message":"key -----BEGIN PRIVATE KEY-----\nMIIEvMore14Json\nabcMore15Json\/x=\n-----END PRIVATE KEY-----\n"}"#,
        written: "MIIEvMore14Json",
        also: &["abcMore15Json"],
    },
    // Percent escapes encoded twice.
    Hidden {
        line: "2026-11-22 10:00:10,000 - skillmeat.api - INFO - GET /login?next=%2Fcb%253Ftoken%253Dtk_More16Dbl%2526b%253D2 302",
        written: "tk_More16Dbl",
        also: &[],
    },
    Hidden {
        line: "2026-11-22 10:00:11,000 - skillmeat.api - INFO - GET /r?q=1%2526password%253Apw_More17Dbl 200",
        written: "pw_More17Dbl",
        also: &[],
    },
    // The `Api-Key` Authorization scheme, and `ApiKey` alone.
    Hidden {
        line: r#"{"timestamp":"2026-11-22T10:00:12.000Z","level":"INFO","message":"call","headers":{"Authorization":"Api-Key ak_More18Scheme0123"}}"#,
        written: "ak_More18Scheme0123",
        also: &[],
    },
    Hidden {
        line: "2026-11-22 10:00:13,000 - skillmeat.api - WARNING - upstream 401 with Authorization: ApiKey ak_More19Short",
        written: "ak_More19Short",
        also: &[],
    },
    Hidden {
        line: "2026-11-22 10:00:14,000 - skillmeat.api - WARNING - retrying with ApiKey ak_More20Alone0123456",
        written: "ak_More20Alone0123456",
        also: &[],
    },
    // All-caps names glued to a key, as environment dumps print them.
    Hidden {
        line: "2026-11-22T10:00:15.000000Z  WARN skreaver_http::runtime::config: environment DBTOKEN=tk_More21 APITOKEN=tk_More22 JWTSECRET=js_More23 ADMINPASSWORD=pw_More24",
        written: "tk_More21",
        also: &["tk_More22", "js_More23", "pw_More24"],
    },
    Hidden {
        line: r#"{"timestamp":"2026-11-22T10:00:16.000Z","level":"INFO","message":"env","DBTOKEN":"tk_More25Json"}"#,
        written: "tk_More25Json",
        also: &[],
    },
];

/// Lines that name such secrets without holding one: kept whole.
const MORE_NEAR_MISSES: &[&str] = &[
    "the cookie jar is empty",
    "secret_key_base missing",
    "TOKENS=5 TOKENIZER=bert tokenizer=wordpiece",
    "ApiKey authentication failed",
    "loaded private key from /etc/tls/key.pem",
    "-----BEGIN CERTIFICATE----- MIIDdzCCMoreCert -----END CERTIFICATE-----",
];

#[test]
fn framework_cookie_pem_and_glued_secrets_never_reach_the_bundle_unless_no_redact() {
    let tmp = tempfile::tempdir().unwrap();
    let mut input: String = MORE.iter().map(|h| format!("{}\n", h.line)).collect();
    for (i, m) in MORE_NEAR_MISSES.iter().enumerate() {
        input.push_str(&format!(
            "2026-11-22 10:01:{i:02},000 - skillmeat.api - INFO - {m}\n"
        ));
    }
    // A certificate on continuation lines is no secret.
    input.push_str(
        "2026-11-22 10:02:00,000 - skillmeat.tls - ERROR - bad chain\n    -----BEGIN CERTIFICATE-----\n    MIIDdzCCMoreCertBody\n    -----END CERTIFICATE-----\n",
    );
    let dir = tmp.path().join("redacted");
    export(&dir, &[], &[], input.as_bytes());
    let leaks = leaks(&dir, MORE);
    assert!(leaks.is_empty(), "leaked:\n{}", leaks.join("\n"));
    let (_, batches) = read(&dir.join("events.parquet"));
    let mut messages = Vec::new();
    let mut exceptions = Vec::new();
    for b in &batches {
        messages.extend(strings(b, "message").into_iter().flatten());
        exceptions.extend(strings(b, "exception").into_iter().flatten());
        assert_json_stays_json(b);
    }
    for m in MORE_NEAR_MISSES {
        assert!(
            messages.iter().any(|x| x == m),
            "{m} not kept: {messages:?}"
        );
    }
    assert!(
        exceptions
            .iter()
            .any(|e| e.contains("MIIDdzCCMoreCertBody")),
        "{exceptions:?}"
    );
    // The key's BEGIN and END lines stay around its redacted body.
    assert!(
        exceptions.iter().any(|e| e.contains(
            "-----BEGIN RSA PRIVATE KEY-----\n    [REDACTED:private_key]\n    -----END RSA PRIVATE KEY-----"
        )),
        "{exceptions:?}"
    );
    assert_kinds_counted(
        &dir,
        &[
            "secret_key_base",
            "cookie",
            "private_key",
            "authorization",
            "password",
            "api_key",
        ],
    );
    assert_eq!(verify(&dir).code, 0);
    assert_kept_with_no_redact(&tmp.path().join("raw"), &input, MORE);
}

/// `findings.parquet`'s evidence carries the cause the report shows (a traceback's last
/// `XError: …` line), redacted like the message.
#[test]
fn findings_evidence_carries_the_redacted_cause() {
    let tmp = tempfile::tempdir().unwrap();
    let input = concat!(
        "2026-11-22 07:00:05,572 - skillmeat.api.server - ERROR - Unexpected error for http://127.0.0.1:8785/api/v1/x: boom\n",
        "Traceback (most recent call last):\n",
        "  File \"/app/db.py\", line 12, in connect\n",
        "    engine.connect()\n",
        "ValueError: cannot connect to postgres://app:pw_Cause01@db:5432/x\n",
        "2026-11-22 07:00:06,000 - skillmeat.api.server - ERROR - Unexpected error for http://127.0.0.1:8785/api/v1/y: no traceback\n",
    );
    let dir = tmp.path().join("b");
    let report = export(&dir, &[], &[], input.as_bytes());
    let evidence = &report["findings"][0]["evidence"];
    assert_eq!(
        evidence[0]["cause"],
        "ValueError: cannot connect to postgres://app:pw_Cause01@db:5432/x"
    );
    let (_, batches) = read(&dir.join("findings.parquet"));
    let mut causes = Vec::new();
    for b in &batches {
        let list = b.column_by_name("evidence").unwrap().as_list::<i32>();
        for i in 0..b.num_rows() {
            let items = list.value(i);
            let c = items
                .as_struct()
                .column_by_name("cause")
                .unwrap()
                .as_string::<i32>();
            causes.extend((0..c.len()).map(|j| (!c.is_null(j)).then(|| c.value(j).to_string())));
        }
    }
    assert_eq!(
        causes,
        [
            Some(
                "ValueError: cannot connect to postgres://app:[REDACTED:url_password]@db:5432/x"
                    .to_string()
            ),
            None
        ]
    );
    assert!(!all_text(&dir).contains("pw_Cause01"));
    // Unredacted with --no-redact.
    let dir = tmp.path().join("raw");
    export(&dir, &[], &["--no-redact"], input.as_bytes());
    assert!(all_text(&dir).contains("postgres://app:pw_Cause01@db:5432/x"));
}

/// A private key logged by a text-format logger that prints a multi-line message as it is: its
/// body lines are events of their own (no traceback opens them), each replaced whole, up to
/// the END line; the stream's next line is read as usual (QA s17v N1).
#[test]
fn a_private_key_written_one_line_per_event_never_reaches_the_bundle() {
    let tmp = tempfile::tempdir().unwrap();
    let input = concat!(
        "2026-11-22 10:00:00,000 - skillmeat.api.x - ERROR - Failed to parse key: -----BEGIN RSA PRIVATE KEY-----\n",
        "MIIEowIBAAKCAQEAkeyBodyLineOne0123456789abcdefghijklmnopqrstuv\n",
        "Zm9vYmFyYmF6keyBodyLineTwo+/==\n",
        "-----END RSA PRIVATE KEY-----\n",
        "2026-11-22 10:00:01,000 - skillmeat.api.x - INFO - next\n",
        "2026-11-22 10:00:02,000 - skillmeat.api.x - ERROR - bad key\n",
        "-----BEGIN EC PRIVATE KEY-----\n",
        "MHcCAQEEIBk3keyBodyLineThree\n",
    );
    let dir = tmp.path().join("b");
    export(&dir, &[], &[], input.as_bytes());
    for (place, text) in text_by_column(&dir) {
        assert!(!text.contains("keyBodyLine"), "key body in {place}");
    }
    let (_, batches) = read(&dir.join("events.parquet"));
    let messages: Vec<String> = batches
        .iter()
        .flat_map(|b| strings(b, "message"))
        .flatten()
        .collect();
    assert!(messages.contains(&"next".to_string()), "{messages:?}");
    assert!(messages.contains(&"-----END RSA PRIVATE KEY-----".to_string()));
    assert_eq!(
        messages
            .iter()
            .filter(|m| *m == "[REDACTED:private_key]")
            .count(),
        3,
        "{messages:?}"
    );
    assert_kinds_counted(&dir, &["private_key"]);
    let raw = tmp.path().join("raw");
    export(&raw, &[], &["--no-redact"], input.as_bytes());
    assert!(all_text(&raw).contains("keyBodyLineTwo"));
}

/// Identifiers that look like secrets (an agent id that is a GitHub token): no secret reaches
/// the bundle through a group's name (findings' groups and evidence, `report.md`), and three
/// agents stay three — numbered apart, the same number in every file (QA s17x M2).
#[test]
fn secret_looking_identifiers_stay_apart_and_never_leak_through_group_names() {
    let tmp = tempfile::tempdir().unwrap();
    let token = |i: u32| format!("ghp_{i}bcdefghijklmnopqrstuvwxyz012345678{i}");
    let mut input = String::new();
    for i in 1..=3 {
        let t = token(i);
        input.push_str(&format!(
            concat!(
                r#"{{"timestamp":"2026-11-22T07:0{i}:59.270650Z","level":"DEBUG","fields":{{"message":"finished processing request","latency":"9 ms","status":500}},"target":"tower_http::trace::on_response","span":{{"method":"GET","uri":"/agents/{t}/status","version":"HTTP/1.1","name":"request"}}}}"#,
                "\n",
                r#"{{"timestamp":"2026-11-22T07:0{i}:59.300000Z","level":"ERROR","fields":{{"message":"Timeout occurred while waiting for a slot","agent_id":"{t}"}},"target":"skreaver_http::db"}}"#,
                "\n",
            ),
            i = i,
            t = t
        ));
    }
    let dir = tmp.path().join("b");
    let report = export(&dir, &[], &[], input.as_bytes());
    // The report itself names the groups by their ids: the secret is in them.
    assert!(report["findings"].to_string().contains(&token(1)));
    for (place, text) in text_by_column(&dir) {
        for i in 1..=3 {
            assert!(!text.contains(&token(i)), "{} in {place}", token(i));
        }
    }
    let names = |file: &str, column: &str| -> Vec<String> {
        let (_, batches) = read(&dir.join(file));
        batches
            .iter()
            .flat_map(|b| strings(b, column))
            .flatten()
            .collect()
    };
    let mut groups = names("groups.parquet", "group_id");
    groups.sort();
    assert_eq!(
        groups,
        (1..=3)
            .map(|i| format!("agent_id:[REDACTED:github_token]#{i}"))
            .collect::<Vec<_>>()
    );
    let agents: std::collections::BTreeSet<String> =
        names("events.parquet", "agent_id").into_iter().collect();
    assert_eq!(agents.len(), 3, "{agents:?}");
    let md = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(
        md.contains("correlation groups: agent_id:[REDACTED:github_token]#"),
        "{md}"
    );
    assert_eq!(verify(&dir).code, 0);
    let raw = tmp.path().join("raw");
    export(&raw, &[], &["--no-redact"], input.as_bytes());
    assert!(all_text(&raw).contains(&token(2)));
}

/// A bundle of the schema before `cause` (`logsleuth.bundle/1`) still verifies; an unknown
/// schema is a difference.
#[test]
fn verify_reads_older_bundles() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    export(&dir, &[samples()[2].display().to_string()], &[], b"");
    let mut m = manifest(&dir);
    assert_eq!(m["schema"], "logsleuth.bundle/2");
    m["schema"] = "logsleuth.bundle/1".into();
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    let v = verify(&dir);
    assert_eq!(v.code, 0, "{}", v.stdout);
    m["schema"] = "logsleuth.bundle/9".into();
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();
    let v = verify(&dir);
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(v.stdout.contains("logsleuth.bundle/9"), "{}", v.stdout);
}

#[test]
fn verify_detects_tampering() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    export(&dir, &[samples()[2].display().to_string()], &[], b"");
    assert_eq!(verify(&dir).code, 0);

    // One flipped byte in the middle of the events file.
    let events = dir.join("events.parquet");
    let mut bytes = std::fs::read(&events).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&events, &bytes).unwrap();
    // An extra file, a missing one, and a manifest edited to claim other row counts.
    std::fs::write(dir.join("extra.csv"), "a,b\n").unwrap();
    std::fs::remove_file(dir.join("groups.parquet")).unwrap();
    let mut m = manifest(&dir);
    for out in m["outputs"].as_array_mut().unwrap() {
        if out["path"] == "requests.parquet" {
            out["rows"] = serde_json::json!(123456);
        }
    }
    std::fs::write(dir.join("manifest.json"), serde_json::to_vec(&m).unwrap()).unwrap();

    let v = verify(&dir);
    assert_eq!(v.code, 1, "{}", v.stdout);
    for needle in [
        "events.parquet: SHA-256",
        "extra.csv: not in the manifest",
        "groups.parquet: missing",
        "requests.parquet:",
        "123456",
    ] {
        assert!(v.stdout.contains(needle), "{needle} in:\n{}", v.stdout);
    }
    // No manifest at all: a usage error naming it.
    std::fs::remove_file(dir.join("manifest.json")).unwrap();
    let v = verify(&dir);
    assert_eq!(v.code, 2);
    assert!(v.stderr.contains("manifest.json"), "{}", v.stderr);
}

fn write_manifest(dir: &Path, m: &Value) {
    std::fs::write(
        dir.join("manifest.json"),
        serde_json::to_vec_pretty(m).unwrap(),
    )
    .unwrap();
}

fn outputs_mut(m: &mut Value) -> &mut Vec<Value> {
    m["outputs"].as_array_mut().unwrap()
}

fn sha256_hex(bytes: &[u8]) -> String {
    logsleuth::export::sha256_hex(bytes)
}

/// `verify` holds the manifest to what the bundle format always writes (QA s17 M1): every table
/// and `report.md` listed, events rows = the events the input accounting kept, requests rows =
/// the requests of `endpoints.parquet`, and `lines` accounted for.
#[test]
fn verify_checks_the_manifest_against_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    // The manifest's SHA-256 is printed when the bundle is written and when it is verified.
    let d = base.display().to_string();
    let input = samples()[2].display().to_string();
    let r = bin(&["analyze", "--no-progress", &input, "--export", &d], b"");
    assert_eq!(r.code, 0, "{}", r.stderr);
    let sha = sha256_hex(&std::fs::read(base.join("manifest.json")).unwrap());
    assert!(
        r.stderr.contains(&format!("manifest.json SHA-256 {sha}")),
        "{}",
        r.stderr
    );
    let v = verify(&base);
    assert_eq!(v.code, 0, "{}", v.stdout);
    assert!(
        v.stdout.contains(&format!("SHA-256: {sha}")),
        "{}",
        v.stdout
    );

    let copy = |name: &str| {
        let dir = tmp.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        for f in std::fs::read_dir(&base).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
        }
        dir
    };

    // Nothing left: no output listed, every data file deleted.
    let dir = copy("empty");
    let mut m = manifest(&dir);
    m["outputs"] = serde_json::json!([]);
    write_manifest(&dir, &m);
    for f in files(&dir) {
        if !f.ends_with("manifest.json") {
            std::fs::remove_file(f).unwrap();
        }
    }
    let v = verify(&dir);
    assert_eq!(v.code, 1, "{}", v.stdout);
    for needle in TABLES
        .iter()
        .map(|t| format!("table {t}: no file in the manifest"))
        .chain(["report.md: not in the manifest".to_string()])
    {
        assert!(v.stdout.contains(&needle), "{needle} in:\n{}", v.stdout);
    }

    // The input accounting edited to another event count.
    let dir = copy("count");
    let mut m = manifest(&dir);
    let kept = n(&m["input_accounting"]["events"]) - n(&m["input_accounting"]["filtered_out"]);
    assert!(kept > 1);
    m["input_accounting"]["events"] = 1.into();
    m["input_accounting"]["filtered_out"] = 0.into();
    write_manifest(&dir, &m);
    let v = verify(&dir);
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(
        v.stdout.contains(&format!(
            "table events: {kept} rows in the manifest's files, but its input accounting counts 1 events kept"
        )),
        "{}",
        v.stdout
    );
    assert!(v.stdout.contains("input accounting: lines"), "{}", v.stdout);

    // Another run's requests file, with its own (correct) manifest entry: every file matches
    // its entry, but the requests no longer add up to endpoints.parquet.
    let other = tmp.path().join("other");
    export(&other, &sample_args(), &[], b"");
    let dir = copy("requests");
    std::fs::copy(other.join("requests.parquet"), dir.join("requests.parquet")).unwrap();
    let theirs = manifest(&other)["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["path"] == "requests.parquet")
        .unwrap()
        .clone();
    let mut m = manifest(&dir);
    for o in outputs_mut(&mut m) {
        if o["path"] == "requests.parquet" {
            assert_ne!(o["rows"], theirs["rows"]);
            *o = theirs.clone();
        }
    }
    write_manifest(&dir, &m);
    let v = verify(&dir);
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(
        v.stdout.contains("table requests: ") && v.stdout.contains("but endpoints.parquet counts"),
        "{}",
        v.stdout
    );
    assert_differences(&v, 1);
}

/// Partition files hold only rows of their partition (QA s17 M1): two partitions swapped with
/// their manifest paths, and a partition moved to another date with its path and values
/// rewritten in the manifest, are found.
#[test]
fn verify_checks_partitions() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    export(
        &base,
        &sample_args(),
        &["--partition-by", "service,date"],
        b"",
    );
    assert_eq!(verify(&base).code, 0);
    let copy = |name: &str| {
        let dir = tmp.path().join(name);
        let r = Command::new("cp")
            .arg("-r")
            .arg(&base)
            .arg(&dir)
            .status()
            .unwrap();
        assert!(r.success());
        dir
    };
    let a = "events/service=skreaver/date=2026-11-22/part-0.parquet";
    let b = "events/service=skillmeat/date=2026-11-22/part-0.parquet";

    let dir = copy("swap");
    std::fs::rename(dir.join(a), dir.join("x")).unwrap();
    std::fs::rename(dir.join(b), dir.join(a)).unwrap();
    std::fs::rename(dir.join("x"), dir.join(b)).unwrap();
    let mut m = manifest(&dir);
    for o in outputs_mut(&mut m) {
        if o["path"] == a {
            o["path"] = b.into();
        } else if o["path"] == b {
            o["path"] = a.into();
        }
    }
    write_manifest(&dir, &m);
    let v = verify(&dir);
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(
        v.stdout.contains(&format!(
            "{a}: the path says date=2026-11-22 service=skreaver, its manifest entry says date=2026-11-22 service=skillmeat"
        )),
        "{}",
        v.stdout
    );

    // Moved to another day, path and partition values rewritten: the rows' times tell.
    let dir = copy("moved");
    let moved = "events/service=skreaver/date=2026-11-21/part-0.parquet";
    std::fs::create_dir_all(dir.join(moved).parent().unwrap()).unwrap();
    std::fs::rename(dir.join(a), dir.join(moved)).unwrap();
    let mut m = manifest(&dir);
    let mut rows = 0;
    for o in outputs_mut(&mut m) {
        if o["path"] == a {
            rows = n(&o["rows"]);
            o["path"] = moved.into();
            o["partition"]["date"] = "2026-11-21".into();
        }
    }
    write_manifest(&dir, &m);
    let v = verify(&dir);
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(
        v.stdout.contains(&format!(
            "{moved}: {rows} row(s) outside the partition date=2026-11-21 (row 0: 2026-11-22)"
        )),
        "{}",
        v.stdout
    );
    assert_differences(&v, 1);
}

/// A bundle marked incomplete verifies with exit code 3, not 0, naming why (QA s17 L1); a
/// manifest whose `complete` contradicts its reasons is a difference.
#[test]
fn verify_tells_incomplete_bundles_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    export(&dir, &[samples()[3].display().to_string()], &[], b"");
    let mut m = manifest(&dir);
    m["complete"] = false.into();
    m["incomplete_reasons"] = serde_json::json!(["interrupted by a signal (Ctrl-C or SIGTERM)"]);
    write_manifest(&dir, &m);
    let v = verify(&dir);
    assert_eq!(v.code, 3, "{}", v.stdout);
    assert!(
        v.stdout.starts_with("incomplete: 7 files match")
            && v.stdout.contains("interrupted by a signal"),
        "{}",
        v.stdout
    );
    m["incomplete_reasons"] = serde_json::json!([]);
    write_manifest(&dir, &m);
    let v = verify(&dir);
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(
        v.stdout
            .contains("complete is false but it gives 0 reason(s)"),
        "{}",
        v.stdout
    );
}

/// After a SIGKILL the bundle has no manifest: `verify` says the export never finished and
/// names the temporary files left (QA s17 L6).
#[test]
fn verify_names_what_a_killed_export_left() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("k");
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsleuth"))
        .args(["analyze", "--no-progress", "--export"])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // stdin stays open: the export is still running when the files appear.
    let stdin = child.stdin.take();
    let tmp_file = dir.join(".groups.parquet.tmp");
    for _ in 0..200 {
        if tmp_file.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(tmp_file.exists(), "no temporary file appeared");
    child.kill().unwrap();
    child.wait().unwrap();
    drop(stdin);
    let v = verify(&dir);
    assert_eq!(v.code, 2, "{}", v.stderr);
    assert!(
        v.stderr.contains("never finished") && v.stderr.contains(".groups.parquet.tmp"),
        "{}",
        v.stderr
    );
}

/// A manifest path that is a symbolic link to a file outside the bundle is refused like `../`;
/// a path listed twice is reported as such, and counted once (QA s17 L7).
#[test]
fn verify_refuses_links_out_and_reports_duplicates() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    export(&dir, &[samples()[3].display().to_string()], &[], b"");
    let outside = tmp.path().join("elsewhere.parquet");
    std::fs::rename(dir.join("events.parquet"), &outside).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("events.parquet")).unwrap();
    let mut m = manifest(&dir);
    let dup = m["outputs"][0].clone();
    let dup_path = dup["path"].as_str().unwrap().to_string();
    outputs_mut(&mut m).push(dup);
    write_manifest(&dir, &m);
    let v = verify(&dir);
    assert_eq!(v.code, 1, "{}", v.stdout);
    assert!(
        v.stdout.contains(
            "events.parquet: a symbolic link leading outside the bundle directory; not followed"
        ),
        "{}",
        v.stdout
    );
    assert!(
        v.stdout
            .contains(&format!("{dup_path}: listed 2 times in the manifest")),
        "{}",
        v.stdout
    );
    assert!(!v.stdout.contains("not in the manifest"), "{}", v.stdout);
    // A link that stays inside the bundle is followed.
    std::fs::remove_file(dir.join("events.parquet")).unwrap();
    std::fs::rename(&outside, dir.join("real.parquet")).unwrap();
    std::os::unix::fs::symlink("real.parquet", dir.join("events.parquet")).unwrap();
    outputs_mut(&mut m).pop();
    write_manifest(&dir, &m);
    let v = verify(&dir);
    assert!(
        v.stdout.contains("real.parquet: not in the manifest"),
        "{}",
        v.stdout
    );
    assert!(!v.stdout.contains("symbolic link"), "{}", v.stdout);
}

/// Input for an export that is still running whenever it is interrupted: the samples with a
/// kubectl prefix, many times over, fed through stdin and held open until after the signal, so
/// the outcome does not depend on how fast this build or machine exports.
fn big_input() -> Vec<u8> {
    let mut data = Vec::new();
    for round in 0..40 {
        for s in samples() {
            for line in std::fs::read_to_string(&s).unwrap().lines() {
                data.extend_from_slice(format!("[pod/api-{round}/app] ").as_bytes());
                data.extend_from_slice(line.as_bytes());
                data.push(b'\n');
            }
        }
    }
    data
}

/// A small deterministic generator (no extra crate): xorshift seeded from the clock, printed so a
/// failure can be replayed by reading the delays from the output.
fn delays(count: usize, max_ms: u64) -> Vec<u64> {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % max_ms
        })
        .collect()
}

#[test]
fn interrupts_leave_only_readable_files() {
    let tmp = tempfile::tempdir().unwrap();
    let input = std::sync::Arc::new(big_input());
    let mut interrupted = 0;
    let plan: Vec<(&str, u64)> = delays(4, 1500)
        .into_iter()
        .enumerate()
        .map(|(i, d)| (if i == 3 { "-TERM" } else { "-INT" }, 100 + d))
        .collect();
    for (i, (signal, delay)) in plan.iter().enumerate() {
        let dir = tmp.path().join(format!("run{i}"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_logsleuth"))
            .args([
                "analyze",
                "--format",
                "json",
                "--no-progress",
                "--partition-by",
                "service",
            ])
            .arg("--export")
            .arg(&dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Write everything, then hold stdin open until the signal has been sent (a write
        // error means the process has gone, which the checks below look at).
        let mut stdin = child.stdin.take().unwrap();
        let (sent, wait_for_signal) = std::sync::mpsc::channel::<()>();
        let writer = std::thread::spawn({
            let input = std::sync::Arc::clone(&input);
            move || {
                use std::io::Write;
                let _ = stdin.write_all(&input);
                let _ = wait_for_signal.recv();
            }
        });
        std::thread::sleep(Duration::from_millis(*delay));
        let _ = Command::new("kill")
            .args([signal.to_string(), child.id().to_string()])
            .status();
        drop(sent);
        writer.join().unwrap();
        let out = child.wait_with_output().unwrap();
        let code = out.status.code();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let context = format!("run {i}: kill {signal} after {delay} ms: {code:?} {stderr}");
        // Every file under its final name reads completely.
        for f in files(&dir) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                !name.ends_with(".tmp"),
                "{context}: temporary file left: {f:?}"
            );
            if name.ends_with(".parquet") {
                read(&f);
            }
        }
        match code {
            Some(130) => {
                interrupted += 1;
                let m = manifest(&dir);
                assert_eq!(m["complete"], false, "{context}");
                // Intact but incomplete: a code of its own.
                let v = verify(&dir);
                assert_eq!(v.code, 3, "{context}: {}", v.stdout);
                assert!(
                    v.stdout.starts_with("incomplete: "),
                    "{context}: {}",
                    v.stdout
                );
            }
            Some(0) => assert_eq!(manifest(&dir)["complete"], true, "{context}"),
            // Killed before the handler was installed: nothing half-written may remain.
            None => assert!(!dir.join("manifest.json").exists(), "{context}"),
            other => panic!("{context}: unexpected exit {other:?}"),
        }
    }
    assert!(
        interrupted > 0,
        "no run was interrupted mid-export: {plan:?}"
    );
}

/// An export interrupted (SIGINT) while a line is half read: its writer wrote the samples and
/// half a JSON line, then waits. Stdin is `-`, then a file the interrupt comes before.
struct MidLine {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    report: Value,
    /// Every byte written to stdin.
    written: Vec<u8>,
    /// The complete lines among them.
    lines: u64,
    /// The half line's bytes.
    half: usize,
}

fn interrupted_mid_line() -> MidLine {
    use std::io::Write;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    let mut written = Vec::new();
    for s in samples() {
        written.extend_from_slice(&std::fs::read(&s).unwrap());
    }
    let lines = written.iter().filter(|&&c| c == b'\n').count() as u64;
    let half = br#"{"timestamp":"2026-11-22T07:08:50.1Z","level":"ERROR","fields":{"message":"Half written when the interrupt came"#;
    written.extend_from_slice(half);
    let unread = samples()[0].display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_logsleuth"))
        .args(["analyze", "--format", "json", "--no-progress", "-", &unread])
        .arg("--export")
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&written).unwrap();
    stdin.flush().unwrap();
    // Once the pipe is empty, logsleuth has read the half line (and waits for its rest).
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while rustix::io::ioctl_fionread(&stdin).unwrap() > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the input is not read"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    drop(stdin);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    MidLine {
        _tmp: tmp,
        dir,
        report,
        written,
        lines,
        half: half.len(),
    }
}

/// The half line an interrupt stopped reading in is no event — not closed as a cut JSON object
/// (which is for an input that ends there), not parsed, not in `lines` nor `truncated` — but
/// counted `cut_by_interrupt`; the manifest's byte count and SHA-256 still cover every byte
/// read, the half line's too (`cut_line_bytes`).
#[test]
fn an_interrupt_mid_line_leaves_the_half_line_out_and_says_so() {
    use sha2::Digest;
    let run = interrupted_mid_line();
    let input = &run.report["input"];
    crate::assert_accounted(input);
    assert_eq!(
        (
            n(&input["lines"]),
            n(&input["truncated"]),
            input["cut_by_interrupt"].as_u64()
        ),
        (run.lines, 0, Some(1)),
        "{input}"
    );
    // No event of the half line, closed or not.
    let (_, events) = read(&run.dir.join("events.parquet"));
    let raws: Vec<String> = events
        .iter()
        .flat_map(|b| strings(b, "raw"))
        .flatten()
        .collect();
    assert_eq!(raws.len() as u64, n(&input["events"]));
    assert!(
        !raws.iter().any(|r| r.contains("Half written") || r == "{}"),
        "the half line became an event"
    );
    let m = manifest(&run.dir);
    assert_eq!(m["complete"], false);
    assert_eq!(m["input_accounting"], *input);
    let stdin = &m["inputs"][0];
    assert_eq!(
        (
            n(&stdin["bytes_read"]),
            n(&stdin["lines"]),
            stdin["cut_line_bytes"].as_u64(),
            &stdin["read_complete"],
        ),
        (
            run.written.len() as u64,
            run.lines,
            Some(run.half as u64),
            &Value::Bool(false)
        ),
        "{stdin}"
    );
    let sha: String = sha2::Sha256::digest(&run.written)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        stdin["sha256"],
        sha.as_str(),
        "the digest of every byte read"
    );
    let md = std::fs::read_to_string(run.dir.join("report.md")).unwrap();
    assert!(md.contains("1 partial last line left out"), "{md}");
}

/// An input the interrupt came before is listed as not read, with no digest (not that of no
/// bytes); `verify` reads such a manifest.
#[test]
fn an_input_the_interrupt_came_before_is_listed_as_not_read() {
    let run = interrupted_mid_line();
    let m = manifest(&run.dir);
    let file = &m["inputs"][1];
    assert_eq!(
        (
            &file["read"],
            &file["sha256"],
            n(&file["bytes_read"]),
            n(&file["lines"]),
            &file["read_complete"],
        ),
        (&Value::Bool(false), &Value::Null, 0, 0, &Value::Bool(false)),
        "{file}"
    );
    assert_eq!(m["inputs"][0]["read"], true);
    let v = verify(&run.dir);
    assert!(!v.stdout.contains("difference"), "{}", v.stdout);
}

/// Correlation groups still open when an interrupt stopped the reading are closed as
/// `interrupted` in groups.parquet, not as at the input's end.
#[test]
fn groups_open_at_an_interrupt_close_as_interrupted() {
    let run = interrupted_mid_line();
    let (_, groups) = read(&run.dir.join("groups.parquet"));
    let closed: Vec<String> = groups
        .iter()
        .flat_map(|b| strings(b, "closed"))
        .flatten()
        .collect();
    assert!(closed.iter().any(|c| c == "interrupted"), "{closed:?}");
    assert!(!closed.iter().any(|c| c == "end_of_input"), "{closed:?}");
}

/// A scanner probing more distinct paths than the endpoint cap: the report keeps the first
/// endpoints seen and folds the rest into one `(other routes)` row per service, and says so in
/// the JSON, the terminal report and report.md; `endpoints.parquet` has the report's rows, and
/// `requests.parquet` every request with its own route.
#[test]
fn endpoints_beyond_the_cap_are_folded_and_said_so() {
    const CAP: usize = logsleuth::analyze::MAX_ENDPOINTS;
    let paths = CAP + 40;
    let input = crate::scanner_input(paths);
    let dir = tempfile::tempdir().unwrap();
    let report = export(dir.path(), &[], &[], &input);
    let total = n(&report["requests"]["total"]);
    assert_eq!(total, paths as u64 + 11);

    // Three real endpoints and the first CAP - 3 scanner paths keep rows; 43 paths are folded.
    let want = report_endpoints(&report);
    assert_eq!(want.len(), CAP + 1);
    assert_eq!(want.values().sum::<u64>(), total, "every request in a row");
    let other = ("skreaver".into(), "*".into(), "(other routes)".into());
    assert_eq!(want[&other], 43);
    assert_eq!(
        want[&("skreaver".into(), "GET".into(), "/health".into())],
        6
    );
    assert_eq!(
        report["endpoints_folded"],
        serde_json::json!({"cap": CAP, "endpoints": 43, "requests": 43})
    );

    // requests.parquet is exact: every path its own route; folding its counts beyond the
    // report's rows gives the report's rows.
    let (_, requests) = read(&dir.path().join("requests.parquet"));
    assert_eq!(rows(&requests), total);
    let mut folded = BTreeMap::new();
    let per_route = endpoint_counts(&requests, None);
    assert_eq!(per_route.len(), paths + 3);
    for (key, count) in per_route {
        let key = if want.contains_key(&key) {
            key
        } else {
            other.clone()
        };
        *folded.entry(key).or_default() += count;
    }
    assert_eq!(folded, want);

    let (_, endpoints) = read(&dir.path().join("endpoints.parquet"));
    assert_eq!(rows(&endpoints) as usize, CAP + 1);
    let routes: Vec<Option<String>> = endpoints.iter().flat_map(|b| strings(b, "route")).collect();
    assert!(routes.contains(&Some("(other routes)".into())));

    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains(
            "About 43 endpoints beyond the first 10000 seen are folded into the \
             `(other routes)` rows: 43 requests"
        ),
        "{md}"
    );
    let text = bin(&["analyze", "--no-progress"], &input);
    assert_eq!(text.code, 0, "{}", text.stderr);
    insta::assert_snapshot!("terminal-endpoints-folded", text.stdout);
}

/// Latency from SkillMeat's span lines (text format, no duration printed) reaches the bundle:
/// `requests.parquet` has each request's duration, `events.parquet` the `Span completed` line's
/// (the start has none), and `report.md` says where the latencies came from.
#[test]
fn span_latencies_reach_requests_and_events() {
    let text = crate::fixtures().join("samples/skillmeat-text-prod.log");
    let dir = tempfile::tempdir().unwrap();
    export(dir.path(), &[text.display().to_string()], &[], b"");
    let f64s = |b: &RecordBatch, name: &str| -> Vec<Option<f64>> {
        let col = b.column_by_name(name).unwrap();
        let col = col.as_primitive::<arrow_array::types::Float64Type>();
        (0..col.len())
            .map(|i| (!col.is_null(i)).then(|| col.value(i)))
            .collect()
    };
    let (_, requests) = read(&dir.path().join("requests.parquet"));
    let mut mcp = Vec::new();
    for b in &requests {
        for (route, d) in strings(b, "route").into_iter().zip(f64s(b, "duration_ms")) {
            assert!(
                d.is_some(),
                "{route:?}: every request has its span's latency"
            );
            if route.as_deref() == Some("/api/v1/mcp/health") {
                mcp.push(d);
            }
        }
    }
    // 07:00:06,181 → 07:00:11,314.
    assert_eq!(mcp, [Some(5133.0)]);
    let (_, events) = read(&dir.path().join("events.parquet"));
    let mut lines = Vec::new();
    for b in &events {
        for (m, d) in strings(b, "message")
            .into_iter()
            .zip(f64s(b, "duration_ms"))
        {
            if m.as_deref().is_some_and(|m| {
                m.contains("span: GET /api/v1/mcp/health")
                    || m.contains("completed: GET /api/v1/mcp/health")
            }) {
                lines.push((m.unwrap_or_default(), d));
            }
        }
    }
    assert_eq!(
        lines,
        [
            ("Starting span: GET /api/v1/mcp/health".to_string(), None),
            (
                "Span completed: GET /api/v1/mcp/health [success]".into(),
                Some(5133.0)
            ),
            (
                "Request completed: GET /api/v1/mcp/health - 401".into(),
                None
            ),
        ]
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        md.contains("latency of 14 requests from span start/end lines"),
        "{md}"
    );
}
