# shellcheck shell=bash
# Throwaway PostgreSQL servers for tests. Source this file, then:
#   pg_start          # initdb + start on 127.0.0.1:<free port>, export connection variables
#   pg_start_second   # a second, bare server (only the bootstrap superuser `postgres`)
#   pg_stop_second    # stop and delete the second one (idempotent, trap-safe)
#   pg_stop           # stop and delete the first one (idempotent, trap-safe)
#   pg_stop_all       # both, for an EXIT trap
# Exports after pg_start: EHRDATA_PG_TMPDIR, EHRDATA_TEST_PG (libpq conninfo),
# PGHOST, PGPORT, PGUSER. After pg_start_second: EHRDATA_PG2_TMPDIR, EHRDATA_TEST_PG2 (the
# PG* variables keep naming the first server). The functions return non-zero on failure
# rather than relying on the caller's `set -e`.

# Run a server binary as the postgres user: initdb/postgres refuse to run as root
# (and there is no sudo here). cd first: the caller's cwd (e.g. under /root) may be
# unreadable for postgres. As a non-root user, run them directly as that user.
# Usage: _pg_as_owner DIR CMD ARGS... (runs CMD with DIR as working directory).
_pg_as_owner() {
    local dir=$1
    shift
    if [[ $(id -u) -eq 0 ]]; then
        (cd "$dir" && runuser -u postgres -- "$@")
    else
        (cd "$dir" && "$@")
    fi
}

# Server binaries are not on PATH on Debian; pg_config (libpq-dev) knows where they are.
# Note: every `return` in this file has an explicit status: a bare `return` inside a
# trap handler (pg_stop from an EXIT trap) returns the status the script exited with.
_pg_bindir() {
    local d
    d=$(pg_config --bindir 2>/dev/null) && [[ -x $d/initdb ]] && { echo "$d"; return 0; }
    d=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)
    [[ -n $d && -x $d/initdb ]] && { echo "$d"; return 0; }
    echo "pg.sh: error: PostgreSQL server binaries not found (run scripts/install-deps.sh)" >&2
    return 1
}

# True if something accepts TCP connections on 127.0.0.1:$1 (bash's /dev/tcp, no extra tools).
_pg_port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pg_start() {
    _pg_server_start EHRDATA_PG_TMPDIR EHRDATA_TEST_PG || return 1
    export PGHOST=127.0.0.1 PGPORT=$_pg_port PGUSER=postgres
    return 0
}

pg_start_second() {
    _pg_server_start EHRDATA_PG2_TMPDIR EHRDATA_TEST_PG2 || return 1
    return 0
}

pg_stop() {
    _pg_server_stop EHRDATA_PG_TMPDIR EHRDATA_TEST_PG
    unset PGHOST PGPORT PGUSER
    return 0
}

pg_stop_second() {
    _pg_server_stop EHRDATA_PG2_TMPDIR EHRDATA_TEST_PG2
    return 0
}

pg_stop_all() {
    pg_stop_second
    pg_stop
    return 0
}

# _pg_server_start TMPDIR_VAR CONNINFO_VAR: one server; exports both variables, sets _pg_port.
_pg_server_start() {
    local dir_var=$1 conn_var=$2 bindir tmp port try log
    if [[ -n ${!dir_var:-} ]]; then
        echo "pg.sh: error: a server is already running from this shell (${!dir_var})" >&2
        return 1
    fi
    if [[ $(id -u) -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
        echo "pg.sh: error: user 'postgres' missing (install the postgresql package: scripts/install-deps.sh)" >&2
        return 1
    fi
    bindir=$(_pg_bindir) || return 1
    # Explicitly under /tmp (not $TMPDIR): postgres must be able to reach it, and
    # the unix-socket path must stay short (~107 bytes max).
    tmp=$(mktemp -d /tmp/ehrdata-pg.XXXXXXXX) || return 1
    export "$dir_var=$tmp"
    if [[ $(id -u) -eq 0 ]]; then
        chown postgres: "$tmp" || { _pg_server_stop "$dir_var" "$conn_var"; return 1; }
    fi
    log=$tmp/server.log

    # Without explicit -E/--locale a bare environment gives SQL_ASCII.
    # --no-sync: nothing to make durable for a throwaway cluster (the server keeps fsync on).
    if ! _pg_as_owner "$tmp" "$bindir/initdb" -D "$tmp/data" -E UTF8 --locale=C.UTF-8 -U postgres \
            --auth=trust --no-sync >"$tmp/initdb.log" 2>&1; then
        echo "pg.sh: error: initdb failed:" >&2
        tail -n 20 "$tmp/initdb.log" >&2
        _pg_server_stop "$dir_var" "$conn_var"
        return 1
    fi
    # Settings go to the config file (no quoting issues with paths); the port is per try.
    cat >>"$tmp/data/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$tmp'
max_connections = 50
EOF

    for try in 1 2 3 4 5; do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40001))
        _pg_port_busy "$port" && continue
        # The log must be created by postgres itself (pg_ctl opens it as that user).
        rm -f "$log"
        if _pg_as_owner "$tmp" "$bindir/pg_ctl" -D "$tmp/data" -l "$log" -o "-p $port" \
                -w -t 60 start >"$tmp/pg_ctl.out" 2>&1; then
            _pg_port=$port
            export "$conn_var=host=127.0.0.1 port=$port user=postgres dbname=postgres"
            echo "pg.sh: PostgreSQL $("$bindir/postgres" -V | awk '{print $3}') on 127.0.0.1:$port" \
                "($conn_var; socket dir and data in $tmp; log $log)" >&2
            return 0
        fi
        # Another process grabbed the port between the check and the bind: try again.
        grep -qsE 'could not bind|Address already in use|could not create any TCP/IP sockets' "$log" \
            || break
        echo "pg.sh: port $port was taken (try $try/5)" >&2
    done
    echo "pg.sh: error: PostgreSQL did not start; pg_ctl output and server log tail:" >&2
    tail -n 20 "$tmp/pg_ctl.out" "$log" >&2 2>/dev/null
    _pg_server_stop "$dir_var" "$conn_var"
    return 1
}

# _pg_server_stop TMPDIR_VAR CONNINFO_VAR: stop one server and delete its directory.
_pg_server_stop() {
    local dir_var=$1 conn_var=$2 tmp bindir
    tmp=${!dir_var:-}
    unset "$dir_var" "$conn_var"
    # Only ever delete a directory _pg_server_start made.
    [[ $tmp == /tmp/ehrdata-pg.* && -d $tmp ]] || return 0
    if [[ -f $tmp/data/postmaster.pid ]] && bindir=$(_pg_bindir 2>/dev/null); then
        _pg_as_owner "$tmp" "$bindir/pg_ctl" -D "$tmp/data" -m fast -w -t 60 stop >/dev/null 2>&1 \
            || _pg_as_owner "$tmp" "$bindir/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 \
            || true
    fi
    rm -rf -- "$tmp"
    return 0
}
