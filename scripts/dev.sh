#!/usr/bin/env bash
# `make dev`: the whole API on one base URL, with the same paths as behind API Gateway.
#
# Finds or starts PostgreSQL, applies the migrations, then serves every function with
# `cargo lambda watch` (hot reload), whose router (Cargo.toml, [workspace.metadata.lambda.watch])
# sends each path to its function like the HTTP API does.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
source scripts/tools.sh

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-9000}"
BASE="http://$HOST:$PORT"

# One path per function, answered by that function once it runs (any status will do).
PROBES=(/health)

[ -f .env ] || cp .env.example .env
use_postgres stockroom_dev
ensure_tools

cargo build --workspace --bins
cargo run --quiet -p migrate

cargo lambda watch --invoke-address "$HOST" --invoke-port "$PORT" --disable-cors \
    --env-var "DATABASE_URL=$DATABASE_URL" &
watch_pid=$!
trap 'kill $watch_pid 2>/dev/null; wait $watch_pid 2>/dev/null' EXIT INT TERM

# Every function answers with an x-request-id header; the emulator's own errors do not.
for path in "${PROBES[@]}"; do
    until curl -s -o /dev/null -D - --max-time 600 "$BASE$path" | grep -qi '^x-request-id:'; do
        kill -0 $watch_pid 2>/dev/null || { echo "cargo lambda watch exited" >&2; exit 1; }
        sleep 1
    done
done
echo "API ready at $BASE"
wait $watch_pid
