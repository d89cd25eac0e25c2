# Sourced by scripts/bench.sh for its `connections` part: a small PostgreSQL (max_connections =
# 50, as a small RDS instance after its reservations) and PgBouncer in transaction mode in front
# of it with fewer server connections than clients, the local stand-in for RDS Proxy.
# `use_bench_servers` exports BENCH_SMALL_DATABASE_URL and BENCH_POOLER_DATABASE_URL (or returns
# 1 with a message where PostgreSQL's server binaries or pgbouncer cannot be had);
# `stop_bench_servers` stops both.

SMALL_PG_DIR="${SMALL_PG_DIR:-$PWD/target/pg-small}"
SMALL_PG_PORT="${SMALL_PG_PORT:-54333}"
POOLER_DIR="${POOLER_DIR:-$PWD/target/pgbouncer}"
POOLER_PORT="${POOLER_PORT:-6434}"

_pgbouncer_bin() {
    command -v pgbouncer 2>/dev/null || { [ -x /usr/sbin/pgbouncer ] && echo /usr/sbin/pgbouncer; }
}

use_bench_servers() {
    local initdb pg_ctl pgbouncer
    initdb=$(_pg_bin initdb) && pg_ctl=$(_pg_bin pg_ctl) || {
        echo "bench: no PostgreSQL server binaries; the connections part is skipped." >&2
        return 1
    }
    pgbouncer=$(_pgbouncer_bin)
    if [ -z "$pgbouncer" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "Installing pgbouncer with apt-get" >&2
        apt-get install -y -qq pgbouncer >/dev/null 2>&1 || true
        pgbouncer=$(_pgbouncer_bin)
    fi
    [ -n "$pgbouncer" ] || {
        echo "bench: pgbouncer not found (Debian: apt-get install pgbouncer); the connections part is skipped." >&2
        return 1
    }
    mkdir -p "$POOLER_DIR" || return 1
    local created=0
    _init_cluster "$SMALL_PG_DIR" "$initdb" postgres || created=$?
    [ "$created" = 0 ] || [ "$created" = 3 ] || return 1
    _start_cluster "$SMALL_PG_DIR" "$SMALL_PG_PORT" SMALL_PG_PORT "$pg_ctl" \
        "-c max_connections=50" || return 1
    # extra_float_digits is a startup parameter sqlx sends that PgBouncer 1.18 does not track.
    cat >"$POOLER_DIR/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$SMALL_PG_PORT user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $POOLER_PORT
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 20
max_client_conn = 1000
ignore_startup_parameters = extra_float_digits,options
logfile = $POOLER_DIR/pgbouncer.log
pidfile = $POOLER_DIR/pgbouncer.pid
INI
    if ! { [ -f "$POOLER_DIR/pgbouncer.pid" ] && kill -0 "$(cat "$POOLER_DIR/pgbouncer.pid")" 2>/dev/null; }; then
        _port_free "$POOLER_PORT" POOLER_PORT || return 1
        PRIVATE_PG_DIR="$POOLER_DIR" _as_pg_user "$pgbouncer" -d -q "$POOLER_DIR/pgbouncer.ini" \
            || return 1
    fi
    export BENCH_SMALL_DATABASE_URL="postgres://postgres@127.0.0.1:$SMALL_PG_PORT/postgres"
    export BENCH_POOLER_DATABASE_URL="postgres://postgres@127.0.0.1:$POOLER_PORT/postgres"
}

stop_bench_servers() {
    if [ -f "$POOLER_DIR/pgbouncer.pid" ]; then
        kill "$(cat "$POOLER_DIR/pgbouncer.pid")" 2>/dev/null || true
    fi
    _stop_cluster "$SMALL_PG_DIR" "$(_pg_bin pg_ctl)"
}
