#!/usr/bin/env bash
# `make deploy ENV=dev|prod`: builds and deploys the stack `stockroom-<env>` without prompts.
#
# Stack parameters come from the environment (unset ones keep the stack's current value on an
# update, or the template's default on the first deploy):
#   DATABASE_URL              an existing database, as its owner: needed on the first deploy of a
#                             stage (stored in its database secret, which only migrate reads),
#                             unless DATABASE_STACK is given
#   DATABASE_HOST             with DATABASE_URL: where the login roles connect (the stack makes
#   DATABASE_PORT             each role's secret and migrate gives it its password); port and
#   DATABASE_NAME             database default to 5432 and stockroom
#   DATABASE_STACK            a stack of database.yaml (make deploy-database, named
#                             stockroom-database-<env>): its exports give the VPC, RDS Proxy and
#                             the login secrets
#   CORS_ALLOWED_ORIGINS      the frontend's origins, comma-separated   } required for prod,
#   APP_URL                   the frontend's base URL, for email links  } and never localhost
#   MAIL_FROM                 the sender of the emails                  } there
#   ALARM_TOPIC_ARN           SNS topic for the alarms
#   DURATION_ALARM_MS         p99 duration (ms) of the slowest function that raises an alarm
#   EXISTING_KEYS_SECRET_ARN  the keys secret of an earlier stack of this stage
#   EXISTING_SETTINGS_SECRET_ARN  the settings secret of an earlier stack of this stage
#   LOG_RETENTION_DAYS        how long logs are kept
#   KEY_ROTATION_DAYS         how often the keys rotate (0: never on a schedule)
#   WISE_API_URL              Wise sandbox (default) or https://api.wise.com
#   ARCHITECTURE              arm64 (default) or x86_64; `sam build` builds for the template's
#                             value, so set it for both (the script does)
# DEPLOY_DRY_RUN=1 prints the commands instead of running them.
set -euo pipefail
cd "$(dirname "$0")/.."

env=${1:-dev}
case "$env" in
    dev) log_level=debug ;;
    prod) log_level=info ;;
    *) echo "ENV must be dev or prod, not '$env'" >&2; exit 2 ;;
esac

if [ "$env" = prod ]; then
    for name in CORS_ALLOWED_ORIGINS APP_URL MAIL_FROM; do
        value=${!name:-}
        if [ -z "$value" ]; then
            echo "prod needs $name (the localhost defaults are for dev only)" >&2
            exit 2
        fi
        case "$value" in
            *localhost* | *127.0.0.1* | *'[::1]'*)
                echo "prod refuses $name=$value: it points at this machine" >&2
                exit 2 ;;
        esac
    done
fi

# Key="value" pairs as SAM's --parameter-overrides reads them (quotes keep spaces).
overrides=("Stage=$env" "LogLevel=$log_level")
add() { # PARAMETER VALUE
    [ -n "${2:-}" ] || return 0
    local value=${2//\\/\\\\}
    overrides+=("$1=\"${value//\"/\\\"}\"")
}
add DatabaseUrl "${DATABASE_URL:-}"
add DatabaseHost "${DATABASE_HOST:-}"
add DatabasePort "${DATABASE_PORT:-}"
add DatabaseName "${DATABASE_NAME:-}"
add CorsAllowedOrigins "${CORS_ALLOWED_ORIGINS:-}"
add AppUrl "${APP_URL:-}"
add MailFrom "${MAIL_FROM:-}"
add AlarmTopicArn "${ALARM_TOPIC_ARN:-}"
add DurationAlarmMs "${DURATION_ALARM_MS:-}"
add ExistingKeysSecretArn "${EXISTING_KEYS_SECRET_ARN:-}"
add ExistingSettingsSecretArn "${EXISTING_SETTINGS_SECRET_ARN:-}"
add LogRetentionDays "${LOG_RETENTION_DAYS:-}"
add KeyRotationDays "${KEY_ROTATION_DAYS:-}"
add WiseApiUrl "${WISE_API_URL:-}"

add DatabaseStack "${DATABASE_STACK:-}"
if [ -z "${DATABASE_URL:-}${DATABASE_STACK:-}" ]; then
    echo "note: neither DATABASE_URL nor DATABASE_STACK is set; a stage's first deploy needs one" >&2
fi

add Architecture "${ARCHITECTURE:-}"

build=(sam build --beta-features)
[ -z "${ARCHITECTURE:-}" ] || build+=(--parameter-overrides "Architecture=$ARCHITECTURE")
deploy=(sam deploy --config-env "$env" --no-confirm-changeset --no-fail-on-empty-changeset
    --parameter-overrides "${overrides[@]}")
if [ -n "${DEPLOY_DRY_RUN:-}" ]; then
    printf '%q ' "${build[@]}"; echo
    printf '%q ' "${deploy[@]}"; echo
    exit 0
fi
"${build[@]}"
"${deploy[@]}"
