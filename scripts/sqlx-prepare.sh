#!/usr/bin/env bash
# `make sqlx-prepare`: regenerate the committed sqlx offline query data (.sqlx/) against a
# database with every migration applied, so builds (cargo lambda build, sam build, CI) never
# need one.
#
# The migrations are applied with psql to a scratch database, not with the migrate binary: that
# binary compiles `shared`, whose queries are the ones being prepared, so after a change to a
# query and its migration it could not be built yet.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
use_postgres postgres
psql=$(_pg_bin psql) || { echo "psql is needed (PostgreSQL's client)" >&2; exit 1; }
scratch="${DATABASE_URL%/*}/stockroom_sqlx_prepare"
"$psql" -q "$DATABASE_URL" -c 'DROP DATABASE IF EXISTS stockroom_sqlx_prepare' \
    -c 'CREATE DATABASE stockroom_sqlx_prepare' >/dev/null
trap '"$psql" -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS stockroom_sqlx_prepare" >/dev/null' EXIT
# The table sqlx's migrator keeps (a migration revokes it from the tenant role).
"$psql" -q -v ON_ERROR_STOP=1 "$scratch" -c 'CREATE TABLE _sqlx_migrations (
    version bigint PRIMARY KEY, description text NOT NULL,
    installed_on timestamptz NOT NULL DEFAULT now(), success boolean NOT NULL,
    checksum bytea NOT NULL, execution_time bigint NOT NULL)' >/dev/null
for migration in migrations/*.sql; do
    "$psql" -q -v ON_ERROR_STOP=1 "$scratch" -f "$migration" >/dev/null
done
rm -rf .sqlx && mkdir .sqlx
# Make the query macros run again, online, each writing its query's data into .sqlx/.
find shared functions -name '*.rs' -exec touch {} +
DATABASE_URL="$scratch" SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$PWD/.sqlx" \
    cargo check --workspace --all-targets --quiet
echo "wrote $(ls .sqlx | wc -l) query file(s) to .sqlx/"
