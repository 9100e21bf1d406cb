#!/usr/bin/env bash
# One command for the whole benchmark: builds the extension (with and
# without the mysql backend, for the size figures) and the C floor, starts
# a throwaway MariaDB unless EXAKAT_LOCK_TEST_MYSQL_DSN names a server,
# installs the PHP libraries compared against, and runs bench/bench.php.
#   bench/run.sh [ROUNDS] [SECONDS_PER_CONTENDED_RUN]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"

need_packages php-symfony-lock php-malkusch-lock php-mysql mariadb-server mariadb-client gcc valgrind
build_extension
say "building the extension without the mysql backend (size only)"
(cd "$ROOT" && cargo build --release --locked -p exakat_lock --no-default-features --target-dir "$ROOT/target/no-mysql" >&2)
sizes=$(printf '{"with_mysql": %d, "without_mysql": %d}' \
    "$(stat -c %s "$BUILD/exakat_lock.so")" "$(stat -c %s "$ROOT/target/no-mysql/release/libexakat_lock.so")")

work=$(mktemp -d /tmp/exakat_lock-bench.XXXXXX)
cleanup() {
    if [ -n "${own_mariadb:-}" ]; then "$ROOT/scripts/test-mysql.sh" stop "$work/mariadb" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
if [ -z "${EXAKAT_LOCK_TEST_MYSQL_DSN:-}" ]; then
    own_mariadb=1
    EXAKAT_LOCK_TEST_MYSQL_DSN=$("$ROOT/scripts/test-mysql.sh" start "$work/mariadb")
    export EXAKAT_LOCK_TEST_MYSQL_DSN
fi

# A private copy: a rebuild of build/ during the run can neither change nor crash what is measured.
cp "$BUILD/exakat_lock.so" "$work/exakat_lock.so"

gcc -O2 -Wall -Wextra -o "$work/floor" "$ROOT/bench/floor.c"
floor=$("$work/floor" 7 300000 "$work")

# The user-space instructions callgrind counts for a command.
callgrind_total() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

# Loading, counted in instructions: deterministic for one environment, but
# glibc's malloc consolidates its free chunks (~600k instructions) in one
# heap layout and not in the next, and the environment's size moves the
# layout: so pairs under 8 environment sizes, and the median difference.
instructions() {
    callgrind_total php -n "$@" -r ''
}
load_pairs=
for pad in 0 1 2 3 4 5 6 7; do
    padding=$(printf '%*s' $((pad * 700)) '')
    load_pairs+="${load_pairs:+, }[$(BENCH_PAD="$padding" instructions), $(BENCH_PAD="$padding" instructions -d extension="$work/exakat_lock.so")]"
done
load_instructions="[$load_pairs]"

ext=$(php-config --extension-dir)
php=(php -n -d memory_limit=1G -d extension_dir="$work" -d extension=exakat_lock
    -d "extension=$ext/sysvsem.so" -d "extension=$ext/pdo.so" -d "extension=$ext/mysqlnd.so" -d "extension=$ext/pdo_mysql.so")
# Per cycle, in instructions too: the count of 3,000 cycles less that of 1,000.
cycle_instructions() {
    local id=$1 counts=()
    for n in 1000 3000; do
        counts+=("$(BENCH_LOCK_DIR="$work/cycle-locks" callgrind_total "${php[@]}" "$ROOT/bench/bench.php" cycles "$id" "$n")")
    done
    echo $(((counts[1] - counts[0]) / 2000))
}
mkdir -p "$work/cycle-locks"
cycle_json=
for id in $(BENCH_LOCK_DIR="$work/cycle-locks" "${php[@]}" "$ROOT/bench/bench.php" cycle-ids); do
    say "callgrind: instructions per cycle of $id"
    cycle_json+="${cycle_json:+, }\"$id\": $(cycle_instructions "$id")"
done

BENCH_CYCLE_INSTRUCTIONS="{$cycle_json}" \
BENCH_PHP=$(printf '%s\n' "${php[@]}" | php -n -r 'echo json_encode(file("php://stdin", FILE_IGNORE_NEW_LINES));') \
BENCH_ROUNDS=${1:-5} BENCH_SECONDS=${2:-1.5} BENCH_FLOOR="$floor" BENCH_SIZES="$sizes" BENCH_LOAD_INSTRUCTIONS="$load_instructions" \
    "${php[@]}" "$ROOT/bench/bench.php"
say "written: bench/results/latest.json, latest.md, chart.svg"
