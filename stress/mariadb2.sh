#!/usr/bin/env bash
# The stress run's own throwaway MariaDB, which it may restart and cut off:
# created by scripts/test-mysql.sh (data directory, port, users), then run
# here with more bind addresses (127.0.0.1 and the host end of a veth pair).
#
#   stress/mariadb2.sh start DIR BIND      # BIND: "127.0.0.1,10.213.5.1"
#   stress/mariadb2.sh stop DIR
#   stress/mariadb2.sh restart DIR BIND
set -euo pipefail

command=${1:?start, stop or restart}
dir=${2:?the server directory}
bind=${3:-127.0.0.1}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
sock="$dir/mysqld.sock"

ready() {
    for _ in $(seq 1 300); do
        mariadb-admin --no-defaults --socket="$sock" -uroot ping >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "the second MariaDB did not start; its log:" >&2
    tail -20 "$dir/error.log" >&2 || true
    return 1
}

run_server() {
    local port user=()
    port=$(cat "$dir/port")
    [ "$(id -u)" = 0 ] && user=(--user=root)
    # Not marked as one of the run's processes: the run's cleanup stops it with stop.
    env -u STRESS_RUN_ID setsid mariadbd --no-defaults --datadir="$dir/data" --socket="$sock" --port="$port" \
        --bind-address="$bind" --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" --skip-name-resolve \
        --innodb-buffer-pool-size=16M --performance-schema=OFF "${user[@]}" </dev/null >/dev/null 2>&1 &
    ready
}

# The same server directory layout as test-mysql.sh's, so its stop fits.
stop_server() { "$root/scripts/test-mysql.sh" stop "$dir"; }

case "$command" in
start)
    # Data directory, port and users as for the tests, then our own bind addresses.
    env -u STRESS_RUN_ID "$root/scripts/test-mysql.sh" start "$dir" >/dev/null
    "$root/scripts/test-mysql.sh" stop "$dir"
    run_server
    ;;
stop) stop_server ;;
restart) stop_server; run_server ;;
*) echo "unknown command $command" >&2; exit 2 ;;
esac
