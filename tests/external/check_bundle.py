#!/usr/bin/env python3
"""Check that other engines read a logsleuth evidence bundle and agree with the report.

Runs `logsleuth analyze --format json --export` twice on the given inputs (one flat bundle, one
partitioned by service and date), then:
  * pyarrow and DuckDB read every Parquet file of both bundles: same row counts as the manifest;
  * both compute the per-endpoint request counts (and 4xx / 5xx) from requests.parquet, the
    events per service and level from events.parquet, and read the report's endpoint quantiles
    from endpoints.parquet, and DuckDB the findings with their group keys and evidence (each
    line's cause too) from findings.parquet: all equal to the JSON report; the manifest is
    logsleuth.bundle/2 and the evidence has its nullable string `cause`;
  * Apache Spark (pyspark, local mode) reads the partitioned events dataset (row count) and the
    partitioned requests dataset and computes the same per-endpoint request counts.

A missing tool (duckdb, pyarrow, pyspark, java) fails the check when CI=true, and is skipped
with a notice otherwise. Exit status: 0 all agree, 1 a difference or (under CI) a missing tool.

Usage: check_bundle.py --logsleuth target/debug/logsleuth [--no-spark] INPUT...
"""

import argparse
import collections
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Spark binds to loopback only (the check needs no network).
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
FAILURES = []


def fail(msg):
    FAILURES.append(msg)
    print(f"FAIL: {msg}", flush=True)


def ok(msg):
    print(f"ok: {msg}", flush=True)


def missing(tool, why):
    if IN_CI:
        fail(f"{tool} is not available under CI=true: {why}")
    else:
        print(f"SKIP: {tool} not available ({why}); CI=true would fail here", flush=True)


def same(what, got, want):
    if got == want:
        ok(what)
    else:
        fail(f"{what}: got {got!r}, want {want!r}")


def export(logsleuth, inputs, out, extra):
    cmd = [logsleuth, "analyze", "--format", "json", "--no-progress", *inputs,
           "--export", str(out), *extra]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({res.returncode}): {res.stderr}")
    return json.loads(res.stdout)


def endpoint_key(service, method, route):
    return (service, method if method is not None else "?", route if route is not None else "?")


def report_endpoints(report):
    return {endpoint_key(e["service"], e["method"], e["route"]):
            (e["requests"], e["status_4xx"], e["status_5xx"]) for e in report["endpoints"]}


def report_levels(report):
    out = {}
    for s in report["services"]:
        for level, n in s["levels"].items():
            if n:
                out[(s["service"], level)] = n
    return out


def parquet_outputs(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    return manifest, [o for o in manifest["outputs"] if o.get("table")]


def check_pyarrow(flat, parts, report):
    try:
        import pyarrow.dataset as ds
        import pyarrow.parquet as pq
    except ImportError as e:
        missing("pyarrow", e)
        return
    for bundle in (flat, parts):
        _, outputs = parquet_outputs(bundle)
        for o in outputs:
            t = pq.read_table(bundle / o["path"])
            same(f"pyarrow rows of {bundle.name}/{o['path']}", t.num_rows, o["rows"])
    manifest, _ = parquet_outputs(flat)
    same("manifest schema", manifest["schema"], "logsleuth.bundle/2")
    item = pq.read_schema(flat / "findings.parquet").field("evidence").type.value_type
    i = item.get_field_index("cause")
    same("pyarrow findings evidence cause (nullable string)",
         (str(item.field(i).type), item.field(i).nullable) if i >= 0 else None, ("string", True))
    req = pq.read_table(flat / "requests.parquet").to_pylist()
    counts = collections.Counter()
    for r in req:
        k = endpoint_key(r["service"], r["method"], r["route"])
        s = r["status"]
        counts[k] = tuple(a + b for a, b in zip(counts.get(k, (0, 0, 0)), (
            1, int(s is not None and 400 <= s < 500), int(s is not None and 500 <= s < 600))))
    same("pyarrow per-endpoint requests/4xx/5xx", dict(counts), report_endpoints(report))
    ev = pq.read_table(flat / "events.parquet", columns=["service", "level"]).to_pylist()
    levels = collections.Counter((e["service"], e["level"] or "unknown") for e in ev)
    same("pyarrow events per service and level", dict(levels), report_levels(report))
    ep = pq.read_table(flat / "endpoints.parquet").to_pylist()
    same("pyarrow endpoints p95", [e["p95_ms"] for e in ep],
         [e["p95_ms"] for e in report["endpoints"]])
    dataset = ds.dataset(parts / "events", format="parquet", partitioning="hive")
    want = report["input"]["events"] - report["input"]["filtered_out"]
    same("pyarrow partitioned events dataset rows", dataset.count_rows(), want)
    services = set(dataset.to_table(columns=["service"]).column("service").to_pylist())
    same("pyarrow partition column service", services,
         {s["service"] for s in report["services"] if s["events"]})


def check_duckdb(flat, parts, report):
    try:
        import duckdb
    except ImportError as e:
        missing("duckdb", e)
        return
    con = duckdb.connect()
    for bundle in (flat, parts):
        _, outputs = parquet_outputs(bundle)
        for o in outputs:
            n = con.execute("select count(*) from read_parquet(?)",
                            [str(bundle / o["path"])]).fetchone()[0]
            same(f"duckdb rows of {bundle.name}/{o['path']}", n, o["rows"])
    rows = con.execute(
        "select service, method, route, count(*), "
        "count(*) filter (where status between 400 and 499), "
        "count(*) filter (where status between 500 and 599) "
        "from read_parquet(?) group by all", [str(flat / "requests.parquet")]).fetchall()
    same("duckdb per-endpoint requests/4xx/5xx",
         {endpoint_key(s, m, r): (n, c4, c5) for s, m, r, n, c4, c5 in rows},
         report_endpoints(report))
    rows = con.execute(
        "select service, coalesce(level, 'unknown'), count(*) from read_parquet(?) group by all",
        [str(flat / "events.parquet")]).fetchall()
    same("duckdb events per service and level", {(s, l): n for s, l, n in rows},
         report_levels(report))
    bad = con.execute(
        "select count(*) from read_parquet(?) where ts is distinct from make_timestamptz(ts_ns // 1000)",
        [str(flat / "events.parquet")]).fetchone()[0]
    same("duckdb ts (TIMESTAMP WITH TIME ZONE) equals ts_ns", bad, 0)
    groups = str(flat / "groups.parquet")
    n = con.execute("select count(*) from read_parquet(?)", [groups]).fetchone()[0]
    same("duckdb correlation groups", n, report["correlation"]["groups"])
    top = report["correlation"]["top"][0]
    got = con.execute(
        "select events, errors, len(identifiers) from read_parquet(?) where group_id = ?",
        [groups, top["id"]]).fetchone()
    same("duckdb top group events/errors/identifiers", tuple(got),
         (top["events"], top["errors"], top["identifier_count"]))
    findings = str(flat / "findings.parquet")
    rows = con.execute(
        "select rule, coalesce(group_key, ''), count, len(evidence) from read_parquet(?)",
        [findings]).fetchall()
    same("duckdb findings (rule, group, count, evidence)", sorted(rows), sorted(
        (f["rule"], " ".join(f"{k}={v}" for k, v in sorted(f["group"].items())), f["count"],
         len(f["evidence"])) for f in report["findings"]))
    lines = con.execute(
        "select rule, e.source, e.line, e.cause from "
        "(select rule, unnest(evidence) as e from read_parquet(?))", [findings]).fetchall()
    same("duckdb findings evidence lines and causes", sorted(lines, key=repr), sorted(
        ((f["rule"], e["source"], e["line"], e.get("cause"))
         for f in report["findings"] for e in f["evidence"]), key=repr))
    same("duckdb findings evidence with a cause (the samples' tracebacks)",
         any(c is not None for *_, c in lines), True)
    glob = str(parts / "requests" / "**" / "*.parquet")
    rows = con.execute(
        "select service, method, route, count(*), "
        "count(*) filter (where status between 400 and 499), "
        "count(*) filter (where status between 500 and 599) "
        "from read_parquet(?, hive_partitioning = true) group by all", [glob]).fetchall()
    same("duckdb partitioned per-endpoint requests",
         {endpoint_key(s, m, r): (n, c4, c5) for s, m, r, n, c4, c5 in rows},
         report_endpoints(report))


def check_spark(parts, report):
    if shutil.which("java") is None:
        missing("java", "not on PATH")
        return
    try:
        from pyspark.sql import SparkSession
        from pyspark.sql import functions as F
    except ImportError as e:
        missing("pyspark", e)
        return
    spark = (SparkSession.builder.master("local[2]").appName("logsleuth-bundle-check")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.driver.host", "127.0.0.1")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        events = spark.read.parquet(str(parts / "events"))
        want = report["input"]["events"] - report["input"]["filtered_out"]
        same("spark partitioned events rows", events.count(), want)
        same("spark partition columns", {"service", "date"} <= set(events.columns), True)
        requests = spark.read.parquet(str(parts / "requests"))
        rows = (requests
                .select(F.col("service").cast("string").alias("service"),
                        F.coalesce(F.col("method"), F.lit("?")).alias("method"),
                        F.coalesce(F.col("route"), F.lit("?")).alias("route"))
                .groupBy("service", "method", "route").count().collect())
        same("spark per-endpoint request counts",
             {(r["service"], r["method"], r["route"]): r["count"] for r in rows},
             {k: v[0] for k, v in report_endpoints(report).items()})
    finally:
        spark.stop()


def check_inputs(bundle):
    """Every input of the manifest: read (with the 64-hex SHA-256 of its bytes read), or listed
    as not read (`read: false`, an interrupt came before it) with no digest."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    for i in manifest["inputs"]:
        sha = i.get("sha256")
        if i.get("read", True):
            same(f"{bundle.name} input {i['name']}: SHA-256 of the bytes read",
                 isinstance(sha, str) and len(sha) == 64, True)
        else:
            same(f"{bundle.name} input {i['name']} not read: no digest", sha, None)
    if manifest["complete"]:
        same(f"{bundle.name}: complete, every input read",
             all(i.get("read", True) for i in manifest["inputs"]), True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--logsleuth", required=True)
    p.add_argument("--no-spark", action="store_true")
    p.add_argument("inputs", nargs="+")
    a = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="logsleuth-bundle-") as tmp:
        flat = pathlib.Path(tmp) / "flat"
        parts = pathlib.Path(tmp) / "partitioned"
        report = export(a.logsleuth, a.inputs, flat, [])
        again = export(a.logsleuth, a.inputs, parts, ["--partition-by", "service,date"])
        same("both exports report the same", again["endpoints"], report["endpoints"])
        check_inputs(flat)
        check_pyarrow(flat, parts, report)
        check_duckdb(flat, parts, report)
        if not a.no_spark:
            check_spark(parts, report)
    if FAILURES:
        print(f"bundle check: {len(FAILURES)} failure(s)")
        return 1
    print("bundle check: all engines agree with the report")
    return 0


if __name__ == "__main__":
    sys.exit(main())
