#!/usr/bin/env bash
# `make sqlx-prepare`: regenerate the committed sqlx offline query data (.sqlx/) against a
# migrated database, so builds (cargo lambda build, sam build, CI) never need one.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
use_postgres stockroom_dev
cargo run --quiet -p migrate
rm -rf .sqlx && mkdir .sqlx
# Make the query macros run again, online, each writing its query's data into .sqlx/.
find shared functions -name '*.rs' -exec touch {} +
SQLX_OFFLINE=false SQLX_OFFLINE_DIR="$PWD/.sqlx" cargo check --workspace --all-targets --quiet
echo "wrote $(ls .sqlx | wc -l) query file(s) to .sqlx/"
