#!/usr/bin/env python3
"""Export throughput: `logsleuth analyze --export` against DuckDB's `COPY … TO 'x.parquet'` of
the same events, measured in the same run on the same corpus. Prints a Markdown table.

  cargo build --release
  cargo run --release --example gen_corpus -- 1000000 > bench-data/corpus-1m.log
  python3 benches/export_vs_duckdb.py bench-data/corpus-1m.log   # needs duckdb (pip)

Per case: median of --runs runs of CPU seconds (user + sys, all threads) and wall seconds,
throughput in corpus MB per CPU-second, peak RSS, and the Parquet file sizes.
DuckDB cases (in this process, so CPU is measured with time.process_time):
  * `COPY events TO … (COMPRESSION zstd)` from a table that holds our events.parquet in memory:
    writing only, the same rows and columns (dictionary columns become VARCHAR);
  * `COPY (SELECT * FROM read_json(events.ndjson)) TO …`: DuckDB parsing logsleuth's NDJSON
    events and writing Parquet, end to end.
"""

import argparse
import os
import pathlib
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "logsleuth"


def child_run(cmd, stdout=subprocess.DEVNULL):
    """CPU and wall seconds of one run, and its own peak RSS in MB. (`ru_maxrss` of
    RUSAGE_CHILDREN is the largest of all children so far, so the peak is taken from
    /usr/bin/time for this child alone.)"""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.NamedTemporaryFile("r") as peak:
        t0 = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", peak.name, *cmd],
                       check=True, stdout=stdout, stderr=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        rss_kb = float(pathlib.Path(peak.name).read_text().split()[-1])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, rss_kb / 1024


def in_process(fn):
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - t0


def size(path):
    p = pathlib.Path(path)
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*.parquet"))
    return p.stat().st_size


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    import duckdb

    corpus = pathlib.Path(a.corpus)
    mb = corpus.stat().st_size / 1e6
    lines = sum(1 for _ in corpus.open("rb"))
    rows = []
    with tempfile.TemporaryDirectory(prefix="logsleuth-bench-") as tmp:
        tmp = pathlib.Path(tmp)

        def ours(name, extra, export=True):
            cpus, walls, rss = [], [], 0.0
            out = tmp / name
            for i in range(a.runs):
                cmd = [str(BIN), "analyze", "--format", "json", "--no-progress", str(corpus)]
                if export:
                    cmd += ["--export", str(out), "--force", *extra]
                cpu, wall, r = child_run(cmd)
                cpus.append(cpu)
                walls.append(wall)
                rss = max(rss, r)
            return out, statistics.median(cpus), statistics.median(walls), rss

        _, cpu, wall, rss = ours("none", [], export=False)
        rows.append(("logsleuth analyze (no export)", cpu, wall, rss, None, None))
        flat, cpu, wall, rss = ours("flat", [])
        rows.append(("logsleuth analyze --export", cpu, wall, rss,
                     size(flat / "events.parquet"), size(flat / "requests.parquet")))
        parts, cpu, wall, rss = ours("parts", ["--partition-by", "service,date"])
        rows.append(("logsleuth analyze --export --partition-by service,date", cpu, wall, rss,
                     size(parts / "events"), size(parts / "requests")))
        _, cpu, wall, rss = ours("noredact", ["--no-redact"])
        rows.append(("logsleuth analyze --export --no-redact", cpu, wall, rss, None, None))

        # DuckDB: the same events, from memory.
        con = duckdb.connect()
        con.execute(f"create table events as select * from read_parquet('{flat / 'events.parquet'}')")
        con.execute(f"create table requests as select * from read_parquet('{flat / 'requests.parquet'}')")
        n_events = con.execute("select count(*) from events").fetchone()[0]
        for codec in ("zstd", "snappy"):
            cpus, walls = [], []
            target = tmp / f"duck-{codec}.parquet"
            for _ in range(a.runs):
                c, w = in_process(lambda: con.execute(
                    f"copy events to '{target}' (format parquet, compression {codec})"))
                cpus.append(c)
                walls.append(w)
            rtarget = tmp / f"duck-req-{codec}.parquet"
            con.execute(f"copy requests to '{rtarget}' (format parquet, compression {codec})")
            rows.append((f"DuckDB COPY events TO parquet ({codec}), from memory",
                         statistics.median(cpus), statistics.median(walls), None,
                         size(target), size(rtarget)))
        # DuckDB end to end from logsleuth's NDJSON events.
        ndjson = tmp / "events.ndjson"
        with ndjson.open("wb") as f:
            subprocess.run([str(BIN), "events", "--no-progress", str(corpus)], check=True, stdout=f)
        cpus, walls = [], []
        target = tmp / "duck-json.parquet"
        for _ in range(a.runs):
            c, w = in_process(lambda: con.execute(
                f"copy (select * from read_json('{ndjson}', format = 'newline_delimited')) "
                f"to '{target}' (format parquet, compression zstd)"))
            cpus.append(c)
            walls.append(w)
        rows.append(("DuckDB COPY (read_json(events NDJSON)) TO parquet (zstd)",
                     statistics.median(cpus), statistics.median(walls), None, size(target), None))
        duck_version = duckdb.__version__

    print(f"corpus: {corpus.name}, {lines} lines, {mb:.1f} MB; {n_events} events; "
          f"{os.cpu_count()} CPUs; DuckDB {duck_version}; median of {a.runs} runs\n")
    print("| case | CPU s | wall s | corpus MB per CPU-s | peak RSS MB | events parquet MB | requests parquet MB |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, cpu, wall, rss, ev, rq in rows:
        f = lambda v, d=1: "-" if v is None else f"{v:.{d}f}"
        print(f"| {name} | {cpu:.2f} | {wall:.2f} | {mb / cpu:.0f} | {f(rss, 0)} | "
              f"{f(ev and ev / 1e6, 2)} | {f(rq and rq / 1e6, 2)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
