#!/usr/bin/env bash
# Builds exakat_lock.so against each PHP this machine can provide and runs
# the whole phpt suite under that PHP's own run-tests.php, then prints a
# table: PHP × mode → build, phpt passed/failed/skipped, leaks, assertions.
# Exits non-zero when any entry fails.
#
#   scripts/matrix.sh                 # every entry
#   scripts/matrix.sh 8.2-zts-debug   # only the entries named
#
# Entries:
#   8.2-nts        the host's Debian PHP 8.2 (NTS, release)
#   8.2-zts-debug  PHP 8.2 built here from Debian's source with
#                  --enable-zts --enable-debug (and the embed SAPI): the
#                  phpt suite, where a debug PHP reports every leak and
#                  failed assertion of the binding, then the thread harness
#                  (php-tests/zts/): two threads of one process per round
#
# The source build is cached in $EXAKAT_LOCK_PHP_PREFIX (/opt/exakat-lock-php)
# with the version and configure flags it was built with, its sources and build tree in
# $EXAKAT_LOCK_PHP_CACHE (/var/cache/exakat-lock-php): a second run skips it,
# a fresh machine builds it (about 7 minutes on 2 cores). Debian's apt is
# asked through a private configuration there; the host's sources are never
# changed. The mysql tests run against a throwaway MariaDB started here,
# unless EXAKAT_LOCK_TEST_MYSQL_DSN names a server.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CACHE=${EXAKAT_LOCK_PHP_CACHE:-/var/cache/exakat-lock-php}
PREFIXES=${EXAKAT_LOCK_PHP_PREFIX:-/opt/exakat-lock-php}
TARGETS="${CARGO_TARGET_DIR:-$ROOT/target}/matrix"
ALL_ENTRIES=(8.2-nts 8.2-zts-debug)

# PHP 8.2 from Debian bookworm's source package (the upstream tarball).
SRC_VERSION=8.2.32
SRC_FLAGS=(--disable-all --enable-cli --enable-embed=shared --enable-pcntl --enable-posix
    --enable-sockets --with-ffi --enable-zts --enable-debug)

need_build_tools
need_packages mariadb-server mariadb-client util-linux procps openssl build-essential \
    pkg-config libffi-dev xz-utils

work=$(mktemp -d /tmp/exakat_lock-matrix.XXXXXX)
cleanup() {
    if [ -n "${own_mariadb:-}" ]; then "$ROOT/scripts/test-mariadb.sh" stop "$work/mariadb" >/dev/null 2>&1 || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

declare -A result_status result_build result_passed result_failed result_skipped result_leaks result_asserts result_extra result_time
failures=0

# PHP $SRC_VERSION with SRC_FLAGS, installed under $PREFIXES unless there
# already; prints the prefix.
php_from_source() {
    local prefix="$PREFIXES/$SRC_VERSION-zts-debug" stamp
    stamp="$SRC_VERSION ${SRC_FLAGS[*]}"
    if [ -x "$prefix/bin/php" ] && [ "$(cat "$prefix/.built-with" 2>/dev/null)" = "$stamp" ]; then
        say "PHP $SRC_VERSION zts debug: cached in $prefix"
        echo "$prefix"; return 0
    fi
    local apt="$CACHE/apt" build="$CACHE/build"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/src" "$build"
    # A private apt: its own source list, lists and cache (deb-src for bookworm).
    cat >"$apt/sources.list" <<EOF
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
EOF
    cat >"$apt/apt.conf" <<EOF
Dir::Etc::SourceList "$apt/sources.list";
Dir::Etc::SourceParts "/nonexistent";
Dir::State::Lists "$apt/lists";
Dir::Cache "$apt/cache";
EOF
    local tarball="$apt/src/php8.2_$SRC_VERSION.orig.tar.xz"
    if [ ! -f "$tarball" ]; then
        say "fetching php8.2 $SRC_VERSION's source from Debian (private apt configuration)"
        apt-get -c "$apt/apt.conf" update -qq >&2 || return 1
        (cd "$apt/src" && apt-get -c "$apt/apt.conf" source --download-only "php8.2=$SRC_VERSION-*" >&2) || return 1
        [ -f "$tarball" ] || { say "no $tarball: bookworm no longer has php8.2 $SRC_VERSION"; return 1; }
    fi
    say "building PHP $SRC_VERSION ${SRC_FLAGS[*]} (make -j2; several minutes)"
    rm -rf "$build/php-$SRC_VERSION" "$prefix" && tar -C "$build" -xJf "$tarball" || return 1
    (
        cd "$build/php-$SRC_VERSION" &&
            ./configure "${SRC_FLAGS[@]}" --prefix="$prefix" >"$build/configure.log" 2>&1 &&
            make -j2 >"$build/make.log" 2>&1 &&
            make install >"$build/install.log" 2>&1
    ) || { say "PHP build failed: see $build/*.log"; tail -20 "$build/make.log" >&2; return 1; }
    echo "$stamp" >"$prefix/.built-with"
    echo "$prefix"
}

# Builds the extension against $php/$php_config into $work/$entry/ext.
build_against() {
    local entry=$1 php=$2 php_config=$3
    mkdir -p "$work/$entry/ext"
    say "[$entry] building exakat_lock.so against $("$php" -n -r 'echo PHP_VERSION, PHP_ZTS ? " ZTS" : " NTS", PHP_DEBUG ? " debug" : "";')"
    (cd "$ROOT" && PHP="$php" PHP_CONFIG="$php_config" CARGO_TARGET_DIR="$TARGETS/$entry" \
        cargo build --release --locked -p exakat_lock >&2) || return 1
    install -m 755 "$TARGETS/$entry/release/libexakat_lock.so" "$work/$entry/ext/exakat_lock.so"
    "$php" -n -d extension_dir="$work/$entry/ext" -d extension=exakat_lock \
        -r 'exit(extension_loaded("exakat_lock") ? 0 : 1);' || { say "[$entry] PHP cannot load the .so"; return 1; }
}

# Runs the phpt suite with $php's run-tests.php and records the counts.
run_phpt() {
    local entry=$1 php=$2 run_tests=$3 log="$work/$entry/phpt.log"
    local expected; expected=$(find "$ROOT/php-tests" -name '*.phpt' | wc -l)
    say "[$entry] phpt suite ($run_tests)"
    # Outputs of failed tests are kept next to them (.out); start clean.
    find "$ROOT/php-tests" \( -name '*.out' -o -name '*.diff' -o -name '*.log' -o -name '*.mem' \) -delete
    TEST_PHP_EXECUTABLE="$php" NO_INTERACTION=1 "$php" -n "$run_tests" -q -n \
        -d extension_dir="$work/$entry/ext" -d extension=exakat_lock -j2 --show-diff "$ROOT/php-tests" >"$log" 2>&1
    local status=$?
    local passed failed skipped leaked
    passed=$(sed -n 's/^Tests passed *: *\([0-9]*\).*/\1/p' "$log")
    failed=$(sed -n 's/^Tests failed *: *\([0-9]*\).*/\1/p' "$log")
    skipped=$(sed -n 's/^Tests skipped *: *\([0-9]*\).*/\1/p' "$log")
    leaked=$(sed -n 's/^Tests leaked *: *\([0-9]*\).*/\1/p' "$log")
    # A debug PHP prints leaks and failed assertions into the test's output
    # (which fails the test); count the tests that did, from their .out files.
    local mm asserts
    mm=$(grep -lE 'memory leaks detected|Freeing 0x' -r "$ROOT/php-tests" --include='*.out' 2>/dev/null | wc -l)
    asserts=$(grep -lE 'Assertion .* failed|zend_mm_heap corrupted' -r "$ROOT/php-tests" --include='*.out' 2>/dev/null | wc -l)
    result_passed[$entry]=${passed:-?}
    result_failed[$entry]=${failed:-?}
    result_skipped[$entry]=${skipped:-?}
    result_leaks[$entry]=$(( ${leaked:-0} + mm ))
    result_asserts[$entry]=$asserts
    sed -n '/^FAILED TEST SUMMARY/,/^=====/p; /^SKIPPED TEST SUMMARY/,/^=====/p' "$log" >&2
    if [ "$status" -ne 0 ] || [ "${failed:-1}" -ne 0 ] || [ "${passed:-0}" -ne "$expected" ] \
        || [ "${result_leaks[$entry]}" -ne 0 ] || [ "$asserts" -ne 0 ]; then
        say "[$entry] phpt: ${passed:-?}/$expected passed, ${failed:-?} failed, ${skipped:-?} skipped (log: kept in $ROOT/php-tests/*.out)"
        cp "$log" "$ROOT/build/matrix-$entry-phpt.log" 2>/dev/null || true
        return 1
    fi
    find "$ROOT/php-tests" \( -name '*.out' -o -name '*.diff' -o -name '*.log' -o -name '*.mem' \) -delete
}

# Two threads of one ZTS process per round (php-tests/zts/harness.c).
run_threads() {
    local entry=$1 prefix=$2 log="$work/$entry/threads.log"
    say "[$entry] thread harness: 2 threads x 3 rounds of new threads"
    cc -Wall -Werror -o "$work/$entry/harness" "$ROOT/php-tests/zts/harness.c" \
        $("$prefix/bin/php-config" --includes) -L"$prefix/lib" -lphp -Wl,-rpath,"$prefix/lib" -pthread \
        || return 1
    printf 'extension_dir=%s\nextension=exakat_lock\nexakat_lock.default_backend=semaphore\nzend.exception_ignore_args=0\ndisplay_errors=1\n' \
        "$work/$entry/ext" >"$work/$entry/php.ini"
    mkdir -p "$work/$entry/threads"
    PHPRC="$work/$entry/php.ini" EXAKAT_LOCK_ZTS_DIR="$work/$entry/threads" \
        timeout 300 "$work/$entry/harness" "$ROOT/php-tests/zts/threads.inc" 2 3 >"$log" 2>&1
    local status=$?
    local ok bad
    ok=$(grep -c ': ok ' "$log"); bad=$(grep -cE 'FAIL|Fatal|Assertion|memory leaks detected|Freeing 0x' "$log")
    result_extra[$entry]="threads: $ok ok, $bad failed"
    grep -E 'FAIL|Fatal|Assertion|leak|Freeing' "$log" >&2 || true
    if [ "$status" -ne 0 ] || [ "$bad" -ne 0 ] || ! grep -q '^ALL OK$' "$log"; then
        say "[$entry] thread harness failed (exit $status)"; tail -30 "$log" >&2
        cp "$log" "$ROOT/build/matrix-$entry-threads.log" 2>/dev/null || true
        return 1
    fi
}

entry_8.2-nts() {
    need_packages php8.2-cli php8.2-dev
    build_against 8.2-nts /usr/bin/php8.2 /usr/bin/php-config8.2 || return 1
    run_phpt 8.2-nts /usr/bin/php8.2 "$(/usr/bin/php-config8.2 --extension-dir)/build/run-tests.php"
}

entry_8.2-zts-debug() {
    local prefix
    prefix=$(php_from_source) || return 1
    build_against 8.2-zts-debug "$prefix/bin/php" "$prefix/bin/php-config" || return 1
    local run_tests="$prefix/lib/php/build/run-tests.php"
    [ -f "$run_tests" ] || run_tests="$CACHE/build/php-$SRC_VERSION/run-tests.php"
    local status=0
    run_phpt 8.2-zts-debug "$prefix/bin/php" "$run_tests" || status=1
    run_threads 8.2-zts-debug "$prefix" || status=1
    return $status
}

entries=("$@")
[ ${#entries[@]} -gt 0 ] || entries=("${ALL_ENTRIES[@]}")
for entry in "${entries[@]}"; do
    declare -F "entry_$entry" >/dev/null || { say "unknown entry $entry (known: ${ALL_ENTRIES[*]})"; exit 2; }
done

mkdir -p "$ROOT/build"
if [ -z "${EXAKAT_LOCK_TEST_MYSQL_DSN:-}" ]; then
    say "starting a throwaway MariaDB"
    own_mariadb=1
    EXAKAT_LOCK_TEST_MYSQL_DSN=$("$ROOT/scripts/test-mariadb.sh" start "$work/mariadb") || exit 1
    export EXAKAT_LOCK_TEST_MYSQL_DSN EXAKAT_LOCK_TEST_MARIADB_DIR="$work/mariadb" \
        EXAKAT_LOCK_TEST_MYSQL_CA="$work/mariadb/tls/ca.pem"
fi

for entry in "${entries[@]}"; do
    started=$SECONDS
    result_build[$entry]=no
    if "entry_$entry"; then
        result_build[$entry]=ok
        status=PASS
    else
        [ -f "$work/$entry/ext/exakat_lock.so" ] && result_build[$entry]=ok
        status=FAIL
        failures=$((failures + 1))
    fi
    result_time[$entry]="$((SECONDS - started)) s"
    result_status[$entry]=$status
done

printf '\n%-16s %-6s %-7s %-7s %-8s %-6s %-7s %-6s %-24s %s\n' \
    "PHP" "build" "passed" "failed" "skipped" "leaks" "asserts" "result" "extra" "time"
for entry in "${entries[@]}"; do
    printf '%-16s %-6s %-7s %-7s %-8s %-6s %-7s %-6s %-24s %s\n' "$entry" "${result_build[$entry]}" \
        "${result_passed[$entry]:--}" "${result_failed[$entry]:--}" "${result_skipped[$entry]:--}" \
        "${result_leaks[$entry]:--}" "${result_asserts[$entry]:--}" "${result_status[$entry]}" \
        "${result_extra[$entry]:--}" "${result_time[$entry]}"
done
[ "$failures" -eq 0 ]
