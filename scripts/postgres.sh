# Sourced by the other scripts: `use_postgres DBNAME` exports DATABASE_URL.
#
# Order: DATABASE_URL from the environment or .env; else a server on 127.0.0.1:5432 (user
# postgres); else a private throwaway cluster started from the system's PostgreSQL binaries
# under target/pg (port 54329), created on first use and reused afterwards.

PRIVATE_PG_DIR="${PRIVATE_PG_DIR:-$PWD/target/pg}"
PRIVATE_PG_PORT="${PRIVATE_PG_PORT:-54329}"

_port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

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
