#!/usr/bin/env bash
# Core pipeline throughput against DuckDB on the same corpus, in the same run (BENCHMARKS.md).
# usage: bash benches/core_vs_duckdb.sh [LINES]      (needs `pip install duckdb`)
# Prints, per case, user+sys CPU seconds, wall seconds and peak RSS of each of 3 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
lines="${1:-1000000}"
corpus="bench-data/corpus-$lines.log"
mkdir -p bench-data
[ -s "$corpus" ] || cargo run --release --locked --example gen_corpus -- "$lines" > "$corpus"
cargo build --release --locked
bin=target/release/logsleuth
measure() { # label, run number, command...
  local label="$1" i="$2"; shift 2
  /usr/bin/time -f "$label run$i cpu=%U+%S wall=%e rss=%MKB" "$@" > /dev/null
}
echo "corpus: $corpus ($(stat -c %s "$corpus") bytes)"
# Rounds interleave the cases, so that a machine that speeds up or slows down during the
# script (a shared VM does) affects every case alike; medians are taken per case.
for i in 1 2 3; do
  measure "logsleuth-core-2cpu" "$i" taskset -c 0,1 $bin analyze --no-rules --no-correlation --format json --no-progress "$corpus"
  measure "logsleuth-core-1cpu" "$i" taskset -c 0 $bin analyze --no-rules --no-correlation --format json --no-progress "$corpus"
  measure "logsleuth-all-rules" "$i" taskset -c 0,1 $bin analyze --format json --no-progress "$corpus"
  measure "duckdb-2threads" "$i" python3 benches/run_duckdb.py "$PWD/$corpus" 2
done
