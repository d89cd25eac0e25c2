#!/usr/bin/env bash
# `make dev`: the whole API on one base URL, with the same paths as behind API Gateway, and
# realtime updates at ws://127.0.0.1:9000/realtime.
#
# Finds or starts PostgreSQL, applies the migrations, then serves every function with
# `cargo lambda watch` (hot reload), whose router (Cargo.toml, [workspace.metadata.lambda.watch])
# sends each path to its function like the HTTP API does. In front of it, on PORT, the WebSocket
# API's stand-in (the gateway crate) serves /realtime and the @connections API and passes every
# other request on. The events queue is moto's SQS, consumed by scripts/dev_queue.py, which
# invokes the dispatcher as Lambda's event source mapping would. The files and exports buckets
# are moto's S3 on the same port, with the template's CORS rule for the frontend's origins.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/postgres.sh
source scripts/tools.sh

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-9000}"
BASE="http://$HOST:$PORT"
# Behind the gateway: the functions (cargo lambda watch); moto's SQS and S3 (the events queue,
# the buckets), which browsers reach directly for uploads and downloads.
FUNCTIONS_PORT="${FUNCTIONS_PORT:-9001}"
QUEUE_PORT="${QUEUE_PORT:-9002}"
FUNCTIONS="http://$HOST:$FUNCTIONS_PORT"

# One path per function, answered by that function once it runs (any status will do).
PROBES=(/health /api/auth/me /api/users /api/products /api/suppliers /api/inventory/stock /api/tasks
    /api/dashboard/summary /api/events /api/uploads/probe /webhooks/wise)
DEMO_EMAIL="demo@stockroom.test"
DEMO_PASSWORD="Demo-passw0rd!"

[ -f .env ] || cp .env.example .env
if ! grep -q '^SECRET_KEY=.' .env; then
    echo "SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')" >> .env
fi
use_postgres stockroom_dev
ensure_tools

cargo build --bins $(function_packages) -p gateway
# The binary that build made: `cargo run -p migrate` would build its dependencies again
# with the features of that one package (minutes, silently).
"${CARGO_TARGET_DIR:-target}/debug/migrate"

# Each function logs in as its role, as deployed: the tenant functions as stockroom_api
# (TENANT_DATABASE_URL), auth as stockroom_auth (AUTH_DATABASE_URL), the scheduler and webhooks
# as stockroom_worker (WORKER_DATABASE_URL), when the local server lets the role in without a
# password (trust, as make dev's own cluster does); otherwise they use DATABASE_URL and this
# says so. A URL set in the environment or .env wins.
psql=$(_pg_bin psql) || psql=
login_url() { # SETTING ROLE
    local url
    url="${!1:-$(sed -n "s/^$1=//p" .env | tail -n 1)}"
    if [ -z "$url" ]; then
        url=$(python3 -c 'import sys, urllib.parse as u
p = u.urlsplit(sys.argv[1]); host = p.hostname + (":%d" % p.port if p.port else "")
print(u.urlunsplit((p.scheme, sys.argv[2] + "@" + host, p.path, p.query, "")))' "$DATABASE_URL" "$2")
        if [ -z "$psql" ] || ! "$psql" -q "$DATABASE_URL" -c "ALTER ROLE $2 LOGIN" >/dev/null 2>&1 \
            || ! "$psql" -q "$url" -c 'SELECT 1' >/dev/null 2>&1; then
            echo "$1 is unset and $2 cannot log in here without a password: those functions use DATABASE_URL." >&2
            url=$DATABASE_URL
        fi
    fi
    printf '%s' "$url"
}
TENANT_DATABASE_URL=$(login_url TENANT_DATABASE_URL stockroom_api)
AUTH_DATABASE_URL=$(login_url AUTH_DATABASE_URL stockroom_auth)
WORKER_DATABASE_URL=$(login_url WORKER_DATABASE_URL stockroom_worker)

# A local SMTP server that prints every message (confirmation, invitation and reset links...)
# to this terminal, and keeps them in .dev-mail/ (the demo account is confirmed from there).
SMTP_PORT=$(sed -n 's|^SMTP_URL=smtp://127.0.0.1:\([0-9]*\)$|\1|p' .env | tail -n 1)
DEV_MAIL=.dev-mail
smtp_pid=
if [ -n "$SMTP_PORT" ] && ! (exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null; then
    PYTHONPATH=scripts aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" -c dev_mail.PrintAndKeep "$DEV_MAIL" &
    smtp_pid=$!
fi

# The events queue: moto's SQS. The functions' AWS SDK reaches it (and signs for the gateway's
# @connections API) with local credentials.
moto_server -H "$HOST" -p "$QUEUE_PORT" >/dev/null 2>&1 &
queue_pid=$!
until curl -s -o /dev/null "http://$HOST:$QUEUE_PORT/moto-api/"; do
    kill -0 $queue_pid 2>/dev/null || { echo "moto_server exited (is port $QUEUE_PORT free?)" >&2; exit 1; }
    sleep 0.2
done
EVENTS_QUEUE_URL=$(python3 scripts/dev_queue.py create "http://$HOST:$QUEUE_PORT" events)
# The buckets: uploads go straight to the files bucket; large exports answer a link into theirs.
# The files bucket announces each upload's file on a queue (moto's S3 notifies SQS; it cannot
# invoke a function), from which scripts/dev_queue.py invokes the thumbnail function with the
# very S3 event the bucket gives it in AWS.
CORS_ORIGINS="${CORS_ALLOWED_ORIGINS:-$(sed -n 's/^CORS_ALLOWED_ORIGINS=//p' .env | tail -n 1)}"
# The functions' own default (shared::config::sections::DEV_ORIGINS): the usual local dev servers.
CORS_ORIGINS="${CORS_ORIGINS:-http://localhost:3000,http://127.0.0.1:3000,http://localhost:5173,http://127.0.0.1:5173}"
S3="http://$HOST:$QUEUE_PORT"
UPLOADS_QUEUE_URL=$(python3 scripts/dev_queue.py create "$S3" uploads)
python3 scripts/dev_queue.py bucket "$S3" stockroom-files "$CORS_ORIGINS" \
    "$UPLOADS_QUEUE_URL"
python3 scripts/dev_queue.py bucket "$S3" stockroom-exports "$CORS_ORIGINS"

cargo lambda watch --invoke-address "$HOST" --invoke-port "$FUNCTIONS_PORT" --disable-cors \
    --env-var "DATABASE_URL=$DATABASE_URL" --env-var "TENANT_DATABASE_URL=$TENANT_DATABASE_URL" \
    --env-var "AUTH_DATABASE_URL=$AUTH_DATABASE_URL" --env-var "WORKER_DATABASE_URL=$WORKER_DATABASE_URL" \
    --env-var "EVENTS_QUEUE_URL=$EVENTS_QUEUE_URL" --env-var "AWS_ENDPOINT_URL_SQS=http://$HOST:$QUEUE_PORT" \
    --env-var "REALTIME_ENDPOINT=$BASE" --env-var "AWS_REGION=eu-west-1" \
    --env-var "AWS_ENDPOINT_URL_S3=$S3" --env-var "FILES_BUCKET=stockroom-files" \
    --env-var "EXPORT_BUCKET=stockroom-exports" \
    --env-var "AWS_ACCESS_KEY_ID=local" --env-var "AWS_SECRET_ACCESS_KEY=local" \
    --env-var "WEBHOOK_ALLOW_LOCAL_TARGETS=${WEBHOOK_ALLOW_LOCAL_TARGETS:-true}" &
watch_pid=$!
"${CARGO_TARGET_DIR:-target}/debug/gateway" --listen "$HOST:$PORT" --upstream "$FUNCTIONS" \
    --invoke "$FUNCTIONS/2015-03-31/functions/realtime/invocations" &
gateway_pid=$!
python3 scripts/dev_queue.py consume "$EVENTS_QUEUE_URL" \
    "$FUNCTIONS/2015-03-31/functions/dispatcher/invocations" &
consumer_pid=$!
python3 scripts/dev_queue.py deliver "$UPLOADS_QUEUE_URL" \
    "$FUNCTIONS/2015-03-31/functions/thumbnails/invocations" &
uploads_pid=$!
trap 'kill $watch_pid $smtp_pid $queue_pid $gateway_pid $consumer_pid $uploads_pid 2>/dev/null; wait $watch_pid 2>/dev/null' EXIT INT TERM

# Every function answers with an x-request-id header; the emulator's own errors do not.
for path in "${PROBES[@]}"; do
    until curl -s -o /dev/null -D - --max-time 600 "$BASE$path" | grep -qi '^x-request-id:'; do
        kill -0 $watch_pid 2>/dev/null || { echo "cargo lambda watch exited" >&2; exit 1; }
        sleep 1
    done
done
# A demo organization to sign in with (registered and confirmed once; later runs find it), with
# demo data. Registering answers 202 and mails a link; the link's token confirms the address.
demo_login() {
    curl -s -o /dev/null -w '%{http_code}' -X POST "$BASE/api/auth/login" \
        -H 'content-type: application/json' \
        -d "{\"email\":\"$DEMO_EMAIL\",\"password\":\"$DEMO_PASSWORD\"}"
}
# The token of the newest confirmation link mailed to the demo address, if any.
demo_confirmation() {
    local mail
    for mail in $(ls -r "$DEV_MAIL" 2>/dev/null); do
        if grep -q "^To: $DEMO_EMAIL" "$DEV_MAIL/$mail"; then
            sed -n 's|.*/confirm-registration?token=\([A-Za-z0-9_-]*\).*|\1|p' "$DEV_MAIL/$mail"
            return 0
        fi
    done
}
status=$(demo_login)
if [ "$status" != 200 ]; then
    curl -s -o /dev/null -X POST "$BASE/api/auth/register" -H 'content-type: application/json' \
        -d "{\"organization_name\":\"Demo Hardware\",\"name\":\"Demo Owner\",\"email\":\"$DEMO_EMAIL\",\"password\":\"$DEMO_PASSWORD\"}"
    token=
    for _ in $(seq 50); do
        token=$(demo_confirmation)
        [ -n "$token" ] && break
        sleep 0.2
    done
    if [ -n "$token" ]; then
        curl -s -o /dev/null -X POST "$BASE/api/auth/register/confirm" \
            -H 'content-type: application/json' -d "{\"token\":\"$token\"}"
    fi
    status=$(demo_login)
fi
case "$status" in
    200)
        echo "Demo login: $DEMO_EMAIL / $DEMO_PASSWORD (POST $BASE/api/auth/login)"
        # A small hardware shop in it, once (a rerun finds its products); the API serves either way.
        python3 scripts/demo_data.py "$BASE" "$DEMO_EMAIL" "$DEMO_PASSWORD" \
            || echo "Could not add the demo data (see above); serving without it" >&2
        ;;
    *) echo "Could not create the demo organization (login answered HTTP $status; is SMTP_URL set to the local mail server?)" >&2 ;;
esac
# Tenants' webhooks and realtime: the dispatcher sends each committed write's events at once
# (the events queue above); the scheduler's deliver_webhooks job, every 5 seconds here (every
# minute in AWS), retries, sends what the fast path missed and closes ended connections. It is
# invoked as EventBridge would, through the emulator's Lambda invoke API. A receiver on this
# machine may be an endpoint (http://127.0.0.1:...): WEBHOOK_ALLOW_LOCAL_TARGETS above.
(
    while kill -0 $watch_pid 2>/dev/null; do
        curl -s -o /dev/null --max-time 120 -X POST \
            "$FUNCTIONS/2015-03-31/functions/scheduler/invocations" -d '{"job": "deliver_webhooks"}'
        sleep 5
    done
) &
echo "API ready at $BASE (realtime: ws://$HOST:$PORT/realtime)"
wait $watch_pid
