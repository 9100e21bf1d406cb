#!/usr/bin/env bash
# A throwaway MariaDB for the tests: its own data directory, socket and port,
# nothing shared with a system server.
#
#   scripts/test-mariadb.sh start DIR   # prints the DSN of a user with a password
#   scripts/test-mariadb.sh stop DIR
#   scripts/test-mariadb.sh restart DIR # same port and data: a server restart
set -euo pipefail

command=${1:?start, stop or restart}
dir=${2:?a directory for the server}
sock="$dir/mysqld.sock"

server_args() {
    local port; port=$(cat "$dir/port")
    echo --no-defaults --datadir="$dir/data" --socket="$sock" --port="$port" \
        --bind-address=127.0.0.1 --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" \
        --skip-name-resolve --innodb-buffer-pool-size=16M --performance-schema=OFF
}

wait_ready() {
    for _ in $(seq 1 300); do
        if mariadb-admin --no-defaults --socket="$sock" -uroot ping >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "MariaDB did not start; its log:" >&2
    cat "$dir/error.log" >&2 || true
    return 1
}

start_server() {
    local user=()
    [ "$(id -u)" = 0 ] && user=(--user=root)
    # shellcheck disable=SC2046
    setsid mariadbd $(server_args) "${user[@]}" </dev/null >/dev/null 2>&1 &
    wait_ready
}

stop_server() {
    [ -f "$dir/mysqld.pid" ] || return 0
    local pid; pid=$(cat "$dir/mysqld.pid")
    rm -f "$dir/mysqld.pid" # a stale one could name a reused pid later
    # Only a mariadbd of this data directory: never whatever now has that pid.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--datadir=$dir/data" || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}

case "$command" in
start)
    mkdir -p "$dir"
    # A free port below the ephemeral range (32768-60999) and the tcp
    # backend's (61000-65535): the port stays the server's across restarts,
    # and while it is down no outgoing connection can take it as source port.
    php -n -r 'do { $p = random_int(20000, 32767); } while (!@stream_socket_server("tcp://127.0.0.1:$p")); echo $p;' >"$dir/port"
    mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=socket \
        --skip-test-db $([ "$(id -u)" = 0 ] && echo --user=root) >"$dir/install.log" 2>&1 \
        || { cat "$dir/install.log" >&2; exit 1; }
    start_server
    mariadb --no-defaults --socket="$sock" -uroot <<'SQL'
CREATE USER 'exakat'@'%' IDENTIFIED BY 'lock-secret-42';
CREATE USER 'exakat'@'localhost' IDENTIFIED BY 'lock-secret-42';
GRANT PROCESS ON *.* TO 'exakat'@'%';
GRANT PROCESS ON *.* TO 'exakat'@'localhost';
CREATE USER 'killer'@'localhost' IDENTIFIED BY 'killer-secret';
GRANT ALL ON *.* TO 'killer'@'localhost';
SQL
    echo "mysql://exakat:lock-secret-42@127.0.0.1:$(cat "$dir/port")/"
    ;;
stop) stop_server ;;
restart) stop_server; start_server ;;
*) echo "unknown command $command" >&2; exit 2 ;;
esac
