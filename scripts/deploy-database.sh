#!/usr/bin/env bash
# `make deploy-database ENV=dev|prod`: creates or updates the database stack of a stage
# (database.yaml: VPC, Aurora PostgreSQL Serverless v2, RDS Proxy, endpoints, NAT) with the AWS
# CLI, no prompts. Then `DATABASE_STACK=stockroom-database-<env> make deploy ENV=<env>` imports
# its exports into the main stack. Optional: DATABASE_MIN_CAPACITY, DATABASE_MAX_CAPACITY,
# DATABASE_ENGINE_VERSION, DATABASE_DELETION_PROTECTION (true by default).
# DEPLOY_DRY_RUN=1 prints the command instead of running it.
set -euo pipefail
cd "$(dirname "$0")/.."

env=${1:-dev}
case "$env" in
    dev | prod) ;;
    *) echo "ENV must be dev or prod, not '$env'" >&2; exit 2 ;;
esac
overrides=("Stage=$env")
[ -z "${DATABASE_MIN_CAPACITY:-}" ] || overrides+=("MinCapacity=$DATABASE_MIN_CAPACITY")
[ -z "${DATABASE_MAX_CAPACITY:-}" ] || overrides+=("MaxCapacity=$DATABASE_MAX_CAPACITY")
[ -z "${DATABASE_ENGINE_VERSION:-}" ] || overrides+=("EngineVersion=$DATABASE_ENGINE_VERSION")
[ -z "${DATABASE_DELETION_PROTECTION:-}" ] \
    || overrides+=("DeletionProtection=$DATABASE_DELETION_PROTECTION")
deploy=(aws cloudformation deploy --template-file database.yaml
    --stack-name "stockroom-database-$env" --capabilities CAPABILITY_IAM
    --no-fail-on-empty-changeset --parameter-overrides "${overrides[@]}")
if [ -n "${DEPLOY_DRY_RUN:-}" ]; then
    printf '%q ' "${deploy[@]}"; echo
    exit 0
fi
"${deploy[@]}"
