#!/usr/bin/env bash
# `make bench`: release build, then the figures against a real PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
use_postgres postgres
cargo run --release --locked -p bench
