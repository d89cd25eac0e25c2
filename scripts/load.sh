#!/usr/bin/env bash
# `make load`: warm throughput of the products function under wrk, a load generator of its own
# (the bench's `load` part uses its own client). One `bench serve products` process (the
# function's router and state, as its Lambda binary builds them, logging at info as in
# production) with a pool of 4 connections as the bench's load part has (`LOAD_POOL`; a Lambda
# environment has 1 and serves one request at a time, so one process stands for several)
# and an update of one product on a fresh database with 200 products; wrk with 2 threads
# and 32 connections on the same cores reads a product by id, then lists 50, 10 s each after a
# 3 s warm-up. Prints wrk's figures. Needs wrk (Debian: apt-get install wrk; installed when
# root). `LOAD_DATABASE_URL` points the functions elsewhere (through a pooler, say);
# `LOAD_HOLD=FILE` keeps the servers up for 10 minutes after the set-up, with "address token
# product-id" in FILE, for a profiler or a fault injected by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
use_postgres postgres
if ! command -v wrk >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -qq wrk >/dev/null
    else
        echo "wrk is needed (Debian: apt-get install wrk)" >&2
        exit 1
    fi
fi
# LOAD_BENCH: another build of the bench binary, to compare (e.g. an older commit's).
bench="${LOAD_BENCH:-target/release/bench}"
[ -n "${LOAD_BENCH:-}" ] || cargo build --release --locked -p bench --bin bench

db=$(fresh_migrated_database stockroom_load)

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    drop_database stockroom_load || true
    rm -rf "$work"
}
trap cleanup EXIT

# `serve FUNCTION`: starts `bench serve FUNCTION`; its address is then in $address.
serve() {
    DATABASE_URL="${LOAD_DATABASE_URL:-$db}" DB_MAX_CONNECTIONS="${LOAD_POOL:-4}" \
        SECRET_KEY="load-secret-key-0123456789abcdef0123456789" \
        RUST_LOG=info "$bench" serve "$1" >/dev/null 2>"$work/$1.addr" &
    pids+=($!)
    local tries=0
    until [ -s "$work/$1.addr" ]; do
        tries=$((tries + 1))
        [ "$tries" -lt 100 ] || { echo "bench serve $1 did not start" >&2; exit 1; }
        sleep 0.1
    done
    address=$(head -n 1 "$work/$1.addr")
}
serve auth
auth=$address
serve products
products=$address

token=$(curl -fsS "http://$auth/api/auth/register" -H 'content-type: application/json' \
    -d '{"organization_name":"Load","name":"Lou","email":"lou@example.com","password":"Corr3ct-horse"}' \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
for n in $(seq 1 200); do
    curl -fsS "http://$products/api/products" -H "authorization: Bearer $token" \
        -H 'content-type: application/json' \
        -d "{\"sku\":\"LOAD-$n\",\"name\":\"Product $n\",\"price\":\"9.99\",\"cost\":\"4.50\"}" \
        >"$work/product.json"
done
id=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$work/product.json")

# The update: the same product renamed over and over (a write with its audit row).
cat >"$work/patch.lua" <<'LUA'
wrk.method = "PATCH"
wrk.body = '{"name": "Renamed under load"}'
wrk.headers["Content-Type"] = "application/json"
LUA

# `run WHAT PATH [METHOD]`
run() {
    local what=$1 path=$2 method=${3:-GET} script=()
    [ "$method" = GET ] || script=(-s "$work/patch.lua")
    wrk -t2 -c32 -d3s "${script[@]}" -H "authorization: Bearer $token" "http://$products$path" >/dev/null
    echo "== $what: $method $path (wrk -t2 -c32 -d10s)"
    wrk -t2 -c32 -d10s --latency "${script[@]}" -H "authorization: Bearer $token" \
        "http://$products$path" | grep -E 'Requests/sec|Non-2xx|Socket errors|^ +(50|90|99)%|Latency '
}
[ -n "${LOAD_HOLD:-}" ] && { echo "$products $token $id" > "$LOAD_HOLD"; sleep 600; }
run "product by id" "/api/products/$id"
run "product list of 50" "/api/products?limit=50"
run "product update" "/api/products/$id" PATCH
