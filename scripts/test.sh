#!/usr/bin/env bash
# `make test`: the whole suite against a real PostgreSQL (each test gets a fresh database),
# real tool processes (moto, an SMTP server, cargo lambda watch, cfn-lint) and the real binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
source scripts/tools.sh

# sqlx::test creates a fresh database per test on this server.
use_postgres postgres
ensure_tools
ensure_nextest

# The end-to-end tests run the real function binaries behind `cargo lambda watch`.
cargo build --workspace --bins --locked
cargo nextest run --workspace --locked --no-fail-fast "$@"
