# PgBouncer in transaction mode, the local stand-in for RDS Proxy. Sourced by scripts/test.sh
# (the pooler pass) and scripts/bench.sh (the `connections` part); needs scripts/postgres.sh.
#
# RDS Proxy multiplexes the extended protocol's named prepared statements (what sqlx uses) since
# 2023; PgBouncer does so from 1.21 with `max_prepared_statements`. Debian 12 ships 1.18, so
# `ensure_pgbouncer` builds 1.24.1 from Debian's source tarball (checksum pinned) into target/
# when no pgbouncer >= 1.21 is installed: about 40 s once, with gcc, make and the libevent and
# OpenSSL headers (apt-installed as root).
#
# `use_pooled_postgres` puts PgBouncer in front of the test server (`use_postgres` first) with
# fewer server connections per database than the tests open clients, and exports
# POOLER_TEST_URL (e.g. postgres://postgres@127.0.0.1:6435): the tests route the functions'
# connections through it (shared::testing). `use_bench_servers` starts a small PostgreSQL
# (max_connections = 50, as a small RDS instance after its reservations) and PgBouncer in front
# of it, exporting BENCH_SMALL_DATABASE_URL and BENCH_POOLER_DATABASE_URL. Each returns 2 with a
# message where PgBouncer cannot be had, 1 on other failures.

PGBOUNCER_VERSION=1.24.1
PGBOUNCER_SHA256=da72a3aba13072876d055a3e58dd4aba4a5de4ed6148e73033185245598fd3e0
PGBOUNCER_BUILD_DIR="${PGBOUNCER_BUILD_DIR:-$PWD/target/pgbouncer-$PGBOUNCER_VERSION}"
SMALL_PG_DIR="${SMALL_PG_DIR:-$PWD/target/pg-small}"
SMALL_PG_PORT="${SMALL_PG_PORT:-25433}"
POOLER_DIR="${POOLER_DIR:-$PWD/target/pgbouncer}"
POOLER_PORT="${POOLER_PORT:-6434}"
TEST_POOLER_DIR="${TEST_POOLER_DIR:-$PWD/target/pgbouncer-test}"
TEST_POOLER_PORT="${TEST_POOLER_PORT:-6435}"

# Whether $1 is a pgbouncer of at least 1.21.
_pgbouncer_recent() {
    local version
    version=$("$1" --version 2>/dev/null | sed -n 's/^PgBouncer \([0-9.]*\).*/\1/p' | head -n 1)
    [ -n "$version" ] && [ "$(printf '%s\n1.21\n' "$version" | sort -V | head -n 1)" = 1.21 ]
}

# Prints the path of a pgbouncer >= 1.21, building one into target/ if needed.
ensure_pgbouncer() {
    local bin
    for bin in "$PGBOUNCER_BUILD_DIR/bin/pgbouncer" "$(command -v pgbouncer 2>/dev/null)" \
        /usr/sbin/pgbouncer; do
        if [ -n "$bin" ] && [ -x "$bin" ] && _pgbouncer_recent "$bin"; then
            echo "$bin"
            return 0
        fi
    done
    command -v cc >/dev/null && command -v make >/dev/null || {
        echo "No pgbouncer >= 1.21 and no C compiler to build one." >&2
        return 2
    }
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null \
        && ! dpkg -s libevent-dev libssl-dev pkg-config >/dev/null 2>&1; then
        echo "Installing PgBouncer's build dependencies with apt-get" >&2
        apt-get install -y -qq libevent-dev libssl-dev pkg-config >/dev/null 2>&1 || true
    fi
    local src tarball="pgbouncer_$PGBOUNCER_VERSION.orig.tar.gz"
    src=$(mktemp -d)
    echo "Building PgBouncer $PGBOUNCER_VERSION into $PGBOUNCER_BUILD_DIR" >&2
    if ! curl -fsSL -o "$src/$tarball" \
        "http://deb.debian.org/debian/pool/main/p/pgbouncer/$tarball"; then
        echo "Could not download PgBouncer's source from deb.debian.org." >&2
        rm -rf "$src"
        return 2
    fi
    if ! echo "$PGBOUNCER_SHA256  $src/$tarball" | sha256sum -c --quiet >/dev/null; then
        echo "PgBouncer's source tarball does not match its pinned checksum." >&2
        rm -rf "$src"
        return 1
    fi
    if ! (cd "$src" && tar xzf "$tarball" && cd "pgbouncer-$PGBOUNCER_VERSION" \
        && ./configure --prefix="$PGBOUNCER_BUILD_DIR" --without-cares --without-systemd \
            --without-pam --without-ldap >build.log 2>&1 \
        && make -j2 >>build.log 2>&1 && make install >>build.log 2>&1); then
        echo "Building PgBouncer failed (libevent and OpenSSL headers needed); see $src." >&2
        return 2
    fi
    rm -rf "$src"
    echo "$PGBOUNCER_BUILD_DIR/bin/pgbouncer"
}

# `_start_pgbouncer BIN DIR PORT PORT_VARIABLE UPSTREAM_PORT POOL_SIZE`: PgBouncer in
# transaction mode on 127.0.0.1:PORT for every database of the server on UPSTREAM_PORT, with
# POOL_SIZE server connections per database and user; restarted with this configuration.
_start_pgbouncer() {
    local bin=$1 dir=$2 port=$3 port_var=$4 upstream=$5 pool_size=$6
    mkdir -p "$dir" || return 1
    if [ -f "$dir/pgbouncer.pid" ] && kill -0 "$(cat "$dir/pgbouncer.pid")" 2>/dev/null; then
        kill "$(cat "$dir/pgbouncer.pid")"
        sleep 0.5
    fi
    _port_free "$port" "$port_var" || return 1
    # max_prepared_statements: named statements follow the client from one server connection to
    # the next, as with RDS Proxy. extra_float_digits is a startup parameter sqlx sends.
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=$upstream

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = trust
auth_file = $dir/users.txt
admin_users = postgres
stats_users = postgres
pool_mode = transaction
default_pool_size = $pool_size
max_client_conn = 2000
max_prepared_statements = 200
stats_period = 1
# Every test has a database of its own: close a finished test's idle server connections soon,
# or they pile up against the server's max_connections (PgBouncer keeps them 10 minutes).
server_idle_timeout = 5
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
INI
    printf '"%s" ""\n' postgres stockroom_api stockroom_auth stockroom_worker >"$dir/users.txt"
    PRIVATE_PG_DIR="$dir" _as_pg_user "$bin" -d -q "$dir/pgbouncer.ini" || return 1
    local tries=0
    until _port_open 127.0.0.1 "$port"; do
        tries=$((tries + 1))
        [ "$tries" -lt 50 ] || { echo "PgBouncer did not start; see $dir/pgbouncer.log" >&2; return 1; }
        sleep 0.1
    done
}

_stop_pgbouncer() {
    if [ -f "$1/pgbouncer.pid" ]; then
        kill "$(cat "$1/pgbouncer.pid")" 2>/dev/null || true
        rm -f "$1/pgbouncer.pid"
    fi
}

use_pooled_postgres() {
    local bin rc=0
    bin=$(ensure_pgbouncer) || rc=$?
    [ "$rc" = 0 ] || return "$rc"
    local upstream
    upstream=$(echo "${DATABASE_URL:-}" | sed -n 's#^postgres[a-z]*://[^/]*:\([0-9][0-9]*\)/.*#\1#p')
    # Two server connections per test database: fewer than the functions' clients.
    _start_pgbouncer "$bin" "$TEST_POOLER_DIR" "$TEST_POOLER_PORT" TEST_POOLER_PORT \
        "${upstream:-5432}" 2 || return 1
    export POOLER_TEST_URL="postgres://postgres@127.0.0.1:$TEST_POOLER_PORT"
}

stop_pooled_postgres() {
    _stop_pgbouncer "$TEST_POOLER_DIR"
}

use_bench_servers() {
    local initdb pg_ctl bin rc=0
    initdb=$(_pg_bin initdb) && pg_ctl=$(_pg_bin pg_ctl) || {
        echo "bench: no PostgreSQL server binaries; the connections part is skipped." >&2
        return 2
    }
    bin=$(ensure_pgbouncer) || rc=$?
    [ "$rc" = 0 ] || return "$rc"
    local created=0
    _init_cluster "$SMALL_PG_DIR" "$initdb" postgres || created=$?
    [ "$created" = 0 ] || [ "$created" = 3 ] || return 1
    _start_cluster "$SMALL_PG_DIR" "$SMALL_PG_PORT" SMALL_PG_PORT "$pg_ctl" \
        "-c max_connections=50" || return 1
    _start_pgbouncer "$bin" "$POOLER_DIR" "$POOLER_PORT" POOLER_PORT "$SMALL_PG_PORT" 20 || return 1
    export BENCH_SMALL_DATABASE_URL="postgres://postgres@127.0.0.1:$SMALL_PG_PORT/postgres"
    export BENCH_POOLER_DATABASE_URL="postgres://postgres@127.0.0.1:$POOLER_PORT/postgres"
}

stop_bench_servers() {
    _stop_pgbouncer "$POOLER_DIR"
    _stop_cluster "$SMALL_PG_DIR" "$(_pg_bin pg_ctl)"
}
