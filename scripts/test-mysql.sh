#!/usr/bin/env bash
# A throwaway MySQL or MariaDB for the tests: its own data directory, socket
# and port, nothing shared with a system server. MariaDB where `mariadbd` is
# installed, else Oracle MySQL (`mysqld`): the matrix runs the mysql tests
# against both (scripts/matrix.sh).
#
#   scripts/test-mysql.sh start DIR   # prints the DSN of a user with a password
#   scripts/test-mysql.sh start DIR --no-tls
#   scripts/test-mysql.sh stop DIR
#   scripts/test-mysql.sh restart DIR # same port and data: a server restart
#   scripts/test-mysql.sh version DIR # what the server says it is
#
# With TLS (the default), a CA made for this run signs the server's
# certificate (names: 127.0.0.1 and localhost) in DIR/tls: ca.pem is the CA
# to verify it with, other-ca.pem one that did not sign it. The server also
# listens on 127.0.0.2, a name its certificate does not carry, and has a user
# exakat_tls (password tls-secret-42) that may log in over TLS only.
set -euo pipefail

command=${1:?start, stop, restart or version}
dir=${2:?a directory for the server}
sock="$dir/mysqld.sock"
tls="$dir/tls"

if command -v mariadbd >/dev/null; then
    flavour=mariadb server=mariadbd admin=mariadb-admin client=mariadb
elif command -v mysqld >/dev/null; then
    flavour=mysql server=mysqld admin=mysqladmin client=mysql
else
    echo "neither mariadbd nor mysqld is installed" >&2; exit 1
fi

server_args() {
    local port; port=$(cat "$dir/port")
    echo --no-defaults --datadir="$dir/data" --socket="$sock" --port="$port" \
        --bind-address=127.0.0.1,127.0.0.2 --pid-file="$dir/mysqld.pid" --log-error="$dir/error.log" \
        --skip-name-resolve --innodb-buffer-pool-size=16M
    # exakat_lock_list() asks the server for its user locks: MariaDB through
    # the metadata_lock_info plugin, MySQL through performance_schema.
    if [ $flavour = mysql ]; then echo --performance-schema=ON; else echo --performance-schema=OFF --plugin-load-add=metadata_lock_info; fi
    # MySQL's X protocol would take port 33060, shared by every server here.
    [ $flavour = mariadb ] || echo --mysqlx=OFF --skip-log-bin
    if [ -f "$tls/server-cert.pem" ]; then
        echo --ssl-ca="$tls/ca.pem" --ssl-cert="$tls/server-cert.pem" --ssl-key="$tls/server-key.pem"
    elif [ $flavour = mariadb ]; then
        # MariaDB 11.4+ makes a self-signed certificate of its own otherwise.
        echo --skip-ssl
    else
        # MySQL 9.7 has no --skip-ssl (mysqld --help lists none): no TLS version, no TLS.
        echo --tls-version= --auto-generate-certs=OFF
    fi
}

# What the clients here need: without TLS, a MariaDB 11.4+ client must be
# told not to insist on it.
client_args() {
    echo --no-defaults --socket="$sock" -uroot
    [ -f "$tls/server-cert.pem" ] || [ $flavour = mysql ] || echo --skip-ssl
}

# A CA and a server certificate of its own, made fresh for each server.
make_certificates() {
    mkdir -p "$tls"
    local key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
    local ca_ext=(-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign)
    openssl req -x509 "${key[@]}" "${ca_ext[@]}" -days 7 -subj "/CN=exakat_lock test CA" \
        -keyout "$tls/ca-key.pem" -out "$tls/ca.pem" 2>/dev/null
    openssl req -x509 "${key[@]}" "${ca_ext[@]}" -days 7 -subj "/CN=exakat_lock other test CA" \
        -keyout "$tls/other-ca-key.pem" -out "$tls/other-ca.pem" 2>/dev/null
    openssl req "${key[@]}" -subj "/CN=exakat_lock test server" \
        -keyout "$tls/server-key.pem" -out "$tls/server.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        >"$tls/server.ext"
    openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca-key.pem" -CAcreateserial \
        -days 7 -extfile "$tls/server.ext" -out "$tls/server-cert.pem" 2>/dev/null
}

wait_ready() {
    for _ in $(seq 1 300); do
        # shellcheck disable=SC2046
        if $admin $(client_args) ping >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    echo "$server did not start; its log:" >&2
    cat "$dir/error.log" >&2 || true
    return 1
}

start_server() {
    local user=()
    [ "$(id -u)" = 0 ] && user=(--user=root)
    # shellcheck disable=SC2046
    setsid $server $(server_args) "${user[@]}" </dev/null >/dev/null 2>&1 &
    wait_ready
}

stop_server() {
    [ -f "$dir/mysqld.pid" ] || return 0
    local pid; pid=$(cat "$dir/mysqld.pid")
    rm -f "$dir/mysqld.pid" # a stale one could name a reused pid later
    # Only a server of this data directory: never whatever now has that pid.
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--datadir=$dir/data" || return 0
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}

case "$command" in
start)
    mkdir -p "$dir"
    [ "${3:-}" = --no-tls ] || make_certificates
    # A free port below the ephemeral range (32768-60999) and the tcp
    # backend's (61000-65535): the port stays the server's across restarts,
    # and while it is down no outgoing connection can take it as source port.
    php -n -r 'do { $p = random_int(20000, 32767); } while (!@stream_socket_server("tcp://127.0.0.1:$p")); echo $p;' >"$dir/port"
    root_user=$([ "$(id -u)" = 0 ] && echo --user=root)
    if [ $flavour = mariadb ]; then
        mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=socket \
            --skip-test-db $root_user >"$dir/install.log" 2>&1
    else
        # root@localhost without a password, reachable through the socket only.
        mysqld --no-defaults --initialize-insecure --datadir="$dir/data" $root_user \
            --log-error="$dir/install.log" >>"$dir/install.log" 2>&1
    fi || { cat "$dir/install.log" >&2; exit 1; }
    start_server
    # shellcheck disable=SC2046
    $client $(client_args) <<'SQL'
CREATE USER 'exakat'@'%' IDENTIFIED BY 'lock-secret-42';
CREATE USER 'exakat'@'localhost' IDENTIFIED BY 'lock-secret-42';
GRANT PROCESS ON *.* TO 'exakat'@'%';
GRANT PROCESS ON *.* TO 'exakat'@'localhost';
GRANT SELECT ON performance_schema.* TO 'exakat'@'%';
GRANT SELECT ON performance_schema.* TO 'exakat'@'localhost';
CREATE USER 'killer'@'localhost' IDENTIFIED BY 'killer-secret';
GRANT ALL ON *.* TO 'killer'@'localhost';
SQL
    if [ -f "$tls/server-cert.pem" ]; then
        # shellcheck disable=SC2046
        $client $(client_args) <<'SQL'
CREATE USER 'exakat_tls'@'%' IDENTIFIED BY 'tls-secret-42' REQUIRE SSL;
SQL
    fi
    echo "mysql://exakat:lock-secret-42@127.0.0.1:$(cat "$dir/port")/"
    ;;
stop) stop_server ;;
restart) stop_server; start_server ;;
# shellcheck disable=SC2046
version) $client $(client_args) --batch --skip-column-names -e 'SELECT VERSION()' ;;
*) echo "unknown command $command" >&2; exit 2 ;;
esac
