#!/usr/bin/env bash
# `make bench`: builds every binary in release (the functions and the bench), then measures
# them against a real PostgreSQL. Arguments go to the bench (`make bench ARGS=--quick`,
# `scripts/bench.sh --only coldstart,memory`; `--help` lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
source scripts/tools.sh
source scripts/pooler.sh
use_postgres postgres
ensure_tools

started=$(date +%s)
cargo build --release --locked --workspace --bins
echo "release build: $(($(date +%s) - started)) s" >&2
# The connections part's own servers (it reports "not run" without them).
use_bench_servers || true
trap stop_bench_servers EXIT
target/release/bench "$@"
