#!/usr/bin/env bash
# `make sqlx-prepare`: regenerate the committed sqlx offline query data (.sqlx/) against a
# database with every migration applied, so builds (cargo lambda build, sam build, CI) never
# need one.
#
# The migrations are applied with psql to a scratch database (`fresh_migrated_database`), not
# with the migrate binary: that binary compiles `shared`, whose queries are the ones being
# prepared, so after a change to a query and its migration it could not be built yet.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
use_postgres postgres
scratch=$(fresh_migrated_database stockroom_sqlx_prepare)
trap 'drop_database stockroom_sqlx_prepare' EXIT
rm -rf .sqlx && mkdir .sqlx
# Make the query macros run again, online, each writing its query's data into .sqlx/.
find shared functions -name '*.rs' -exec touch {} +
DATABASE_URL="$scratch" SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$PWD/.sqlx" \
    cargo check --workspace --all-targets --quiet
echo "wrote $(ls .sqlx | wc -l) query file(s) to .sqlx/"
