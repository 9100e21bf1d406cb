#!/usr/bin/env bash
# The reliability and security run: load, crashes, inheritance, namespaces,
# leaks, hostile input, permissions and MySQL faults, against the built
# build/exakat_lock.so. See stress/README.md.
#
#   stress/run.sh                 # quick mode (CI): a few minutes
#   stress/run.sh --long          # the big numbers
#   stress/run.sh --only mutex,crash [--keep]
#
# Prints a summary, writes stress/results/latest.{json,md} (and
# stress/results/<mode>.{json,md}; a run with --only writes
# stress/results/partial.{json,md} instead), and exits non-zero when any property is
# violated or a section could not run. Needs root (namespaces, veth pairs,
# a second user); installs what it needs when missing.
set -uo pipefail

args=("$@")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../scripts/lib.sh
source "$HERE/../scripts/lib.sh"

SECTIONS=(mutex crash slots matrix scopes leaks fuzz security hostile mysql_faults valgrind)
mode=quick
only=""
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
    --long) mode=long ;;
    --quick) mode=quick ;;
    --only) only=${2:?--only needs a list of sections}; shift ;;
    --keep) keep=1 ;;
    -h | --help) sed -n '2,13p' "$0"; echo "sections: ${SECTIONS[*]}"; exit 0 ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ "$(id -u)" != 0 ]; then
    say "stress/run.sh needs root: it creates namespaces and veth pairs and runs holders as another user"
    exit 2
fi

# The whole run lives in a private IPC namespace: the SysV semaphore sets it
# creates cannot meet anyone else's, their counts are exact, and the kernel
# removes whatever is left when the run ends.
if [ -z "${STRESS_IN_IPC_NS:-}" ]; then
    export STRESS_IN_IPC_NS=1
    exec unshare --ipc -- "$0" "${args[@]}"
fi

started=$(date +%s)
ext_sha() { sha256sum "$BUILD/exakat_lock.so" 2>/dev/null | cut -c1-16; }
need_packages php-cli valgrind iproute2 util-linux procps mariadb-server mariadb-client
if [ ! -f "$BUILD/exakat_lock.so" ]; then
    say "no $BUILD/exakat_lock.so: build it first (scripts/test.sh builds it)"
    exit 2
fi

RUN_ID="$(date +%H%M%S)$$"
WORK=$(mktemp -d /var/tmp/exakat-stress.XXXXXX)
# Workers that cannot see the checkout run from a copy (lib.php's stage()):
# a private /tmp (unshare --mount) hides a checkout under /tmp, and the user
# nobody may not enter one under a home directory. 0711: nobody can reach
# the copy by its path, and list nothing.
chmod 711 "$WORK"
STAGE=$WORK/stage
mkdir -p "$STAGE/ext" && cp "$HERE"/*.php "$STAGE/" && cp "$BUILD/exakat_lock.so" "$STAGE/ext/" \
    && chmod -R a+rX "$STAGE"
NS="exs$RUN_ID"
VETH_HOST="exh$$"
VETH_NS="exc$$"
SUBNET="10.213.$((RANDOM % 250 + 1))"
MDB2="$WORK/mariadb2"
mdb2_started=""
failed=0

# Processes of this run carry STRESS_RUN_ID in their environment, daemons
# and namespace holders included; cleanup ends those, by pid, and nothing else.
kill_marked() {
    local count=0 p pid
    for p in /proc/[0-9]*; do
        pid=${p#/proc/}
        [ "$pid" = "$$" ] && continue
        if grep -qxz "STRESS_RUN_ID=$RUN_ID" "$p/environ" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null && count=$((count + 1))
        fi
    done
    echo "$count"
}

cleanup() {
    set +e
    local left
    left=$(kill_marked)
    [ "$left" != 0 ] && say "cleanup: ended $left leftover process(es) of this run"
    [ -n "$mdb2_started" ] && "$HERE/mariadb2.sh" stop "$MDB2"
    ip netns del "$NS" 2>/dev/null
    ip link del "$VETH_HOST" 2>/dev/null
    rm -f /tmp/exakat_lock.stress-"$RUN_ID"-* 2>/dev/null
    if [ "$keep" = 1 ] || [ "$failed" != 0 ]; then
        say "work directory kept: $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export STRESS_MODE=$mode STRESS_WORK=$WORK STRESS_STAGE=$STAGE STRESS_EXT_DIR=$BUILD STRESS_ROOT=$ROOT STRESS_ONLY=$only
# The figures must all come from one build: the report fails the run if the .so changed meanwhile.
export STRESS_EXT_SHA_START=$(ext_sha)
mkdir -p "$WORK/results"

say "setting up: a network namespace with a veth pair, and a second throwaway MariaDB"
if ip netns add "$NS" && ip link add "$VETH_HOST" type veth peer name "$VETH_NS" \
    && ip link set "$VETH_NS" netns "$NS" && ip addr add "$SUBNET.1/30" dev "$VETH_HOST" \
    && ip link set "$VETH_HOST" up && ip netns exec "$NS" ip addr add "$SUBNET.2/30" dev "$VETH_NS" \
    && ip netns exec "$NS" ip link set "$VETH_NS" up && ip netns exec "$NS" ip link set lo up; then
    export STRESS_NETNS=$NS STRESS_VETH_HOST=$VETH_HOST STRESS_VETH_HOST_IP="$SUBNET.1" STRESS_VETH_NS_IP="$SUBNET.2"
else
    say "could not set up the network namespace: the scopes and mysql_faults sections will report it"
fi
export STRESS_MDB2_DIR=$MDB2 STRESS_MDB2_BIND="127.0.0.1${STRESS_VETH_HOST_IP:+,$STRESS_VETH_HOST_IP}"
mdb2_started=1 # before start: a start that fails half-way still leaves a server to stop
if "$HERE/mariadb2.sh" start "$MDB2" "$STRESS_MDB2_BIND"; then
    port=$(cat "$MDB2/port")
    export STRESS_MDB2_DSN="mysql://exakat:lock-secret-42@127.0.0.1:$port/"
    [ -n "${STRESS_VETH_HOST_IP:-}" ] && export STRESS_MDB2_VETH_DSN="mysql://exakat:lock-secret-42@$STRESS_VETH_HOST_IP:$port/"
else
    say "could not start the second MariaDB: the mysql_faults section will report it"
fi
# The server the load, crash, leak and fuzz sections use: the test server
# scripts/test.sh started, else our own.
export STRESS_MYSQL_DSN=${EXAKAT_LOCK_TEST_MYSQL_DSN:-${STRESS_MDB2_DSN:-}}
export STRESS_RUN_ID=$RUN_ID

php_cmd=(php -n -d "extension_dir=$BUILD" -d extension=exakat_lock -d display_errors=stderr -d memory_limit=1G)
posix="$(php -n -r 'echo PHP_EXTENSION_DIR;')/posix.so"
[ -f "$posix" ] && php_cmd+=(-d "extension=$posix")

declare -A budget=([mutex]=240 [crash]=240 [slots]=240 [matrix]=180 [scopes]=180 [leaks]=300 [fuzz]=240 [security]=120 [hostile]=90
    [mysql_faults]=240 [valgrind]=300)
if [ "$mode" = long ]; then
    for s in "${!budget[@]}"; do budget[$s]=$((budget[$s] * 10)); done
    budget[valgrind]=14400
fi

for section in "${SECTIONS[@]}"; do
    if [ -n "$only" ] && [[ ",$only," != *",$section,"* ]]; then continue; fi
    say "$section ($mode)"
    t0=$(date +%s)
    timeout -k 10 "${budget[$section]}" "${php_cmd[@]}" "$HERE/$section.php"
    rc=$?
    if [ ! -f "$WORK/results/$section.json" ]; then
        reason="it ended with status $rc and wrote no results"
        [ "$rc" = 124 ] && reason="it did not finish within ${budget[$section]} s (a hang)"
        "${php_cmd[@]}" -r 'file_put_contents($argv[1], json_encode(["section" => $argv[2], "title" => $argv[2],
            "mode" => $argv[3], "figures" => [], "tables" => [], "violations" => [$argv[4]], "known_bugs" => [],
            "notes" => [], "checks" => 1, "seconds" => (float) $argv[5]]));' \
            "$WORK/results/$section.json" "$section" "$mode" "the section did not complete: $reason" "$(($(date +%s) - t0))"
    elif [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
        # Results written, then the process died: a crash at shutdown or in a destructor.
        "${php_cmd[@]}" -r '$r = json_decode(file_get_contents($argv[1]), true);
            $r["violations"][] = "the section wrote its results, then ended with status $argv[2] (a crash at exit?)";
            file_put_contents($argv[1], json_encode($r));' "$WORK/results/$section.json" "$rc"
    fi
    left=$(kill_marked)
    if [ "$left" != 0 ]; then
        say "$section left $left process(es) running; ended them"
    fi
done

total=$(($(date +%s) - started))
"${php_cmd[@]}" "$HERE/report.php" "$total" || failed=1
exit $failed
