"""DuckDB peer for BENCHMARKS.md: the per-endpoint report of benches/duckdb_endpoints.sql.
usage: python3 benches/run_duckdb.py CORPUS [THREADS]   (needs `pip install duckdb`)"""
import sys

import duckdb

corpus, threads = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2
sql = open(__file__.replace("run_duckdb.py", "duckdb_endpoints.sql")).read()
sql = sql.replace("__CORPUS__", corpus.replace("'", "''")).replace("__THREADS__", str(threads))
stmts = [s for s in sql.split(";\n") if any(l.strip() and not l.strip().startswith("--") for l in s.splitlines())]
con = duckdb.connect()
for s in stmts[:-1]:
    con.execute(s)
rows = con.execute(stmts[-1]).fetchall()
print(f"{len(rows)} endpoints, {sum(r[3] for r in rows)} requests")
