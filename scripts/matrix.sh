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
#   8.4-nts        Debian trixie's PHP 8.4, in a chroot
#   8.5-nts        PHP 8.5 from experimental on a sid chroot
#   8.6-nts        PHP 8.6 RC from experimental on a sid chroot
#   mysql-9.7      Oracle MySQL 9.7 on a sid chroot: the mysql phpt (under
#                  PHP 8.5) and the core's mysql contract (cargo test)
#   (the other chroot entries use the chroot's MariaDB, 11.8 on trixie and
#   sid; 8.5-nts also runs the core's mysql contract against it)
#
# The source build is cached in $EXAKAT_LOCK_PHP_PREFIX (/opt/exakat-lock-php)
# with the version and configure flags it was built with, its sources and build tree in
# $EXAKAT_LOCK_PHP_CACHE (/var/cache/exakat-lock-php): a second run skips it,
# a fresh machine builds it (about 4 minutes on 2 cores). Debian's apt is
# asked through a private configuration there; the host's sources are never
# changed. The chroots are cached in $EXAKAT_LOCK_PHP_CACHE/chroots. The
# mysql tests run against a throwaway MariaDB started here (in the chroot for
# chroot entries), unless EXAKAT_LOCK_TEST_MYSQL_DSN names a server.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CACHE=${EXAKAT_LOCK_PHP_CACHE:-/var/cache/exakat-lock-php}
PREFIXES=${EXAKAT_LOCK_PHP_PREFIX:-/opt/exakat-lock-php}
TARGETS="${CARGO_TARGET_DIR:-$ROOT/target}/matrix"
ALL_ENTRIES=(8.2-nts 8.2-zts-debug 8.4-nts 8.5-nts 8.6-nts mysql-9.7 frameworks)

# PHP 8.2 from Debian bookworm's source package (the upstream tarball).
SRC_VERSION=8.2.32
SRC_FLAGS=(--disable-all --enable-cli --enable-embed=shared --enable-pcntl --enable-posix
    --enable-sockets --with-ffi --enable-zts --enable-debug)

need_build_tools
need_packages mariadb-server mariadb-client util-linux procps openssl build-essential \
    pkg-config libffi-dev xz-utils debootstrap

work=$(mktemp -d /tmp/exakat_lock-matrix.XXXXXX)
cleanup() {
    if [ -n "${own_mariadb:-}" ]; then "$ROOT/scripts/test-mysql.sh" stop "$work/mariadb" >/dev/null 2>&1 || true; fi
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
        (cd "$apt/src" && apt-get -c "$apt/apt.conf" source --download-only php8.2 >&2) || return 1
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

# Counts of a run-tests.php log: "passed failed skipped leaked".
phpt_counts() {
    local what
    for what in passed failed skipped leaked; do
        sed -n "s/^Tests $what *: *\([0-9]*\).*/\1/p" "$1" | grep . || echo '?'
    done | tr '\n' ' '
}

# Runs the phpt suite with $php's run-tests.php and records the counts. The
# command that runs it is "$@" followed by the tests (default: run-tests.php
# on this host). Tests that fail are run once more, alone: one that passes
# then is counted as flaky (shown, not failed) unless its first output
# reported a leak or an assertion; these tests time real processes on a
# shared 2-core machine. The table's "extra" column names every flaky test.
run_phpt() {
    local entry=$1 php=$2 run_tests=$3 log; shift 3
    log="$work/$entry/phpt.log"
    # PHPT_ONLY (a pattern such as 'mysql*'): just those tests.
    local tests=("$ROOT/php-tests") expected
    [ -z "${PHPT_ONLY:-}" ] || mapfile -t tests < <(find "$ROOT/php-tests" -maxdepth 1 -name "$PHPT_ONLY.phpt" | sort)
    expected=$(find "${tests[@]}" -name '*.phpt' | wc -l)
    say "[$entry] phpt suite ($run_tests)"
    # Outputs of failed tests are kept next to them (.out); start clean.
    find "$ROOT/php-tests" \( -name '*.out' -o -name '*.diff' -o -name '*.log' -o -name '*.mem' \) -delete
    rm -f "$ROOT/build/matrix-$entry-phpt-retry.log"
    if [ $# -eq 0 ]; then
        set -- env TEST_PHP_EXECUTABLE="$php" NO_INTERACTION=1 "$php" -n "$run_tests" -q -n \
            -d extension_dir="$work/$entry/ext" -d extension=exakat_lock -j2 --show-diff
    fi
    "$@" "${tests[@]}" >"$log" 2>&1
    local status=$?
    local passed failed skipped leaked
    read -r passed failed skipped leaked <<<"$(phpt_counts "$log")"
    # A debug PHP prints leaks and failed assertions into the test's output
    # (which fails the test); count the tests that did, from their .out files.
    local mm asserts
    mm=$(grep -lE 'memory leaks detected|Freeing 0x' -r "$ROOT/php-tests" --include='*.out' 2>/dev/null | wc -l)
    asserts=$(grep -lE 'Assertion .* failed|zend_mm_heap corrupted' -r "$ROOT/php-tests" --include='*.out' 2>/dev/null | wc -l)
    sed -n '/^FAILED TEST SUMMARY/,/^=====/p; /^SKIPPED TEST SUMMARY/,/^=====/p' "$log" >&2
    cp "$log" "$ROOT/build/matrix-$entry-phpt.log" 2>/dev/null || true
    local flaky=0 names=() retried=()
    # run-tests.php of PHP 8.3+ runs a failed test again by itself, and
    # counts it as "warned" when it then passes.
    mapfile -t retried < <(sed -n 's/.*php-tests\/\([^]\/]*\.phpt\)\] *(warn: Test passed on retry attempt).*/\1/p' "$log" | sort -u)
    if [ "${#retried[@]}" -gt 0 ] && [[ $passed =~ ^[0-9]+$ ]]; then
        passed=$((passed + ${#retried[@]}))
        result_extra[$entry]="flaky (passed on retry): $(printf '%s\n' "${retried[@]%.phpt}" | paste -sd, -)"
    fi
    if [[ $failed =~ ^[1-9][0-9]*$ ]] && [ "$failed" -le 5 ] && [ "$mm" -eq 0 ] && [ "$asserts" -eq 0 ]; then
        mapfile -t names < <(sed -n '/^FAILED TEST SUMMARY/,/^=====/s/.*php-tests\/\([^]\/]*\.phpt\)\]$/\1/p' "$log")
        if [ "${#names[@]}" -eq "$failed" ]; then
            say "[$entry] running the ${#names[@]} failed test(s) once more: ${names[*]}"
            local retry="$work/$entry/phpt-retry.log" paths=()
            for name in "${names[@]}"; do paths+=("$ROOT/php-tests/$name"); done
            "$@" "${paths[@]}" >"$retry" 2>&1
            local again
            read -r again _ <<<"$(phpt_counts "$retry")"
            cp "$retry" "$ROOT/build/matrix-$entry-phpt-retry.log" 2>/dev/null || true
            if [ "$again" = "${#names[@]}" ]; then
                flaky=$failed
                passed=$((passed + flaky)); failed=0; status=0
                result_extra[$entry]+="${result_extra[$entry]:+; }flaky (passed alone): $(printf '%s\n' "${names[@]%.phpt}" | paste -sd, -)"
            fi
        fi
    fi
    result_passed[$entry]=$passed
    result_failed[$entry]=$failed
    result_skipped[$entry]=$skipped
    result_leaks[$entry]=$(( ${leaked//\?/0} + mm ))
    result_asserts[$entry]=$asserts
    if [ "$status" -ne 0 ] || [ "$failed" != 0 ] || [ "$passed" != "$expected" ] \
        || [ "${result_leaks[$entry]}" -ne 0 ] || [ "$asserts" -ne 0 ]; then
        say "[$entry] phpt: $passed/$expected passed, $failed failed, $skipped skipped (exit $status; outputs kept in php-tests/*.out, log in build/)"
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
    result_extra[$entry]+="${result_extra[$entry]:+; }threads: $ok ok, $bad failed"
    grep -E 'FAIL|Fatal|Assertion|leak|Freeing' "$log" >&2 || true
    if [ "$status" -ne 0 ] || [ "$bad" -ne 0 ] || ! grep -q '^ALL OK$' "$log"; then
        say "[$entry] thread harness failed (exit $status)"; tail -30 "$log" >&2
        cp "$log" "$ROOT/build/matrix-$entry-threads.log" 2>/dev/null || true
        return 1
    fi
    # One more round under valgrind (EXAKAT_LOCK_MATRIX_VALGRIND=0 skips it):
    # invalid accesses or frees, or memory definitely lost, fail the entry.
    # Uninitialised-value reports are off: PHP's word-at-a-time string
    # comparison (zend_string_equal_val) makes them by the thousand.
    [ "${EXAKAT_LOCK_MATRIX_VALGRIND:-1}" != 0 ] || return 0
    need_packages valgrind
    say "[$entry] thread harness under valgrind: 2 threads x 1 round"
    rm -rf "$work/$entry/threads" && mkdir -p "$work/$entry/threads"
    PHPRC="$work/$entry/php.ini" EXAKAT_LOCK_ZTS_DIR="$work/$entry/threads" USE_ZEND_ALLOC=0 ZEND_DONT_UNLOAD_MODULES=1 \
        timeout 900 valgrind --error-exitcode=99 --undef-value-errors=no --leak-check=full \
        --show-leak-kinds=definite --errors-for-leak-kinds=definite --num-callers=30 \
        "$work/$entry/harness" "$ROOT/php-tests/zts/threads.inc" 2 1 >"$log.valgrind" 2>&1
    status=$?
    local lost
    lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log.valgrind" | tr -d , | tail -1)
    result_extra[$entry]+=", valgrind: $(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log.valgrind" | tail -1) errors, ${lost:-?} B lost"
    if [ "$status" -ne 0 ] || ! grep -q '^ALL OK$' "$log.valgrind"; then
        say "[$entry] valgrind found errors (exit $status)"; grep -A20 -E 'Invalid|definitely lost in' "$log.valgrind" | head -60 >&2
        cp "$log.valgrind" "$ROOT/build/matrix-$entry-threads-valgrind.log" 2>/dev/null || true
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

# Debian-packaged PHPs in debootstrap chroots under $CACHE/chroots, cached
# with their packages installed. Each command runs in its own mount namespace
# (nothing stays mounted if this script dies) with /proc, /dev, the checkout,
# $work, the host's CA bundle (what $SSL_CERT_FILE names; not the package
# ca-certificates, whose set-up would replace it) and the host's Rust
# toolchain (~/.cargo, ~/.rustup: Debian's rustc is too old for ext-php-rs)
# at their own paths.
MIRROR=$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
MIRROR=${MIRROR:-http://deb.debian.org/debian}

in_chroot() {
    local rootfs=$1; shift
    ROOTFS=$rootfs BINDS="$ROOT $work $HOME/.cargo $HOME/.rustup ${SSL_CERT_FILE:-}" \
        unshare --mount --propagation private -- bash -c '
        set -e
        mount -t proc proc "$ROOTFS/proc"
        mount --rbind /dev "$ROOTFS/dev"
        for path in $BINDS; do
            if [ -d "$path" ]; then
                mkdir -p "$ROOTFS$path"
            else
                mkdir -p "$(dirname "$ROOTFS$path")"; touch "$ROOTFS$path"
            fi
            mount --bind "$path" "$ROOTFS$path"
        done
        cp /etc/resolv.conf /etc/hosts "$ROOTFS/etc/"
        exec chroot "$ROOTFS" env -i HOME="$HOME" PATH="$HOME/.cargo/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
            LANG=C.UTF-8 SSL_CERT_FILE="${SSL_CERT_FILE:-}" "$@"' in_chroot "$@"
}

# A chroot of $suite in $CACHE/chroots/$name with the packages named ("pkg/suite"
# allowed) from $sources (deb lines); made once, then reused.
make_chroot() {
    local name=$1 suite=$2 sources=$3; shift 3
    local rootfs="$CACHE/chroots/$name" stamp
    stamp=$(printf '%s\n' "$suite" "$sources" "$@")
    if [ "$(cat "$rootfs/.exakat-lock-chroot" 2>/dev/null)" = "$stamp" ]; then
        say "[$name] chroot cached in $rootfs"; return 0
    fi
    local base="$CACHE/chroots/$suite.base"
    if [ ! -f "$base/.complete" ]; then
        say "debootstrap $suite into $base (minutes)"
        rm -rf "$base" && mkdir -p "$CACHE/chroots"
        debootstrap --variant=minbase "$suite" "$base" "$MIRROR" >"$work/debootstrap-$suite.log" 2>&1 \
            || { tail -20 "$work/debootstrap-$suite.log" >&2; return 1; }
        touch "$base/.complete"
    fi
    say "[$name] installing $* in a copy of $base"
    rm -rf "$rootfs" && cp -a "$base" "$rootfs" && rm -f "$rootfs/.complete" || return 1
    printf '%s\n' "$sources" >"$rootfs/etc/apt/sources.list"
    rm -f "$rootfs/etc/apt/sources.list.d/"*
    # The mirror here may be a snapshot, whose sid and experimental Release
    # files are past their Valid-Until: the signature is still checked.
    echo 'Acquire::Check-Valid-Until "false";' >"$rootfs/etc/apt/apt.conf.d/99exakat-lock-snapshot"
    # No service starts in a chroot (mariadb-server's postinst would try).
    printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d" && chmod 755 "$rootfs/usr/sbin/policy-rc.d"
    in_chroot "$rootfs" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"' \
        sh "$@" >"$work/packages-$name.log" 2>&1 || { tail -30 "$work/packages-$name.log" >&2; return 1; }
    echo "$stamp" >"$rootfs/.exakat-lock-chroot"
}

# Builds the .so in chroot $name against its PHP, then runs the phpt suite
# there against a MariaDB of that chroot.
chroot_entry() {
    local entry=$1 name=$2 rootfs="$CACHE/chroots/$2"
    mkdir -p "$work/$entry/ext"
    say "[$entry] building exakat_lock.so in $rootfs"
    # shellcheck disable=SC2016
    in_chroot "$rootfs" sh -c 'cd "$1" && CARGO_TARGET_DIR="$2" cargo build --release --locked -p exakat_lock >&2 &&
        install -m 755 "$2/release/libexakat_lock.so" "$3/exakat_lock.so" &&
        php -n -d extension_dir="$3" -d extension=exakat_lock -r "exit(extension_loaded(\"exakat_lock\") ? 0 : 1);" &&
        php -n -r "echo \"PHP \", PHP_VERSION, PHP_EOL;" >&2' sh "$ROOT" "$TARGETS/$entry" "$work/$entry/ext" || return 1
    with_chroot_server "$work/$entry/phpt.sh" 'TEST_PHP_EXECUTABLE=$(command -v php) NO_INTERACTION=1 php -n \
        "$(php-config --extension-dir)/build/run-tests.php" -q -n -d extension_dir="$2/ext" -d extension=exakat_lock \
        -j2 --show-diff "${@:3}"'
    run_phpt "$entry" php "run-tests.php of $name" in_chroot "$rootfs" bash "$work/$entry/phpt.sh" "$ROOT" "$work/$entry"
}

# Writes script $1: inside a chroot, a new MySQL or MariaDB of that chroot
# (scripts/test-mysql.sh), then command $2, run with the checkout as $1,
# $work/$entry as $2 and the script's other arguments after them.
with_chroot_server() {
    cat >"$1" <<INNER
cd "\$1" || exit 1
db=\$(mktemp -d "\$2/server.XXXXXX") || exit 1
trap 'scripts/test-mysql.sh stop "\$db" >/dev/null 2>&1' EXIT
dsn=\$(scripts/test-mysql.sh start "\$db") || exit 1
echo "server version: \$(scripts/test-mysql.sh version "\$db")"
export EXAKAT_LOCK_TEST_MYSQL_DSN="\$dsn" EXAKAT_LOCK_TEST_MARIADB_DIR="\$db" EXAKAT_LOCK_TEST_MYSQL_CA="\$db/tls/ca.pem"
$2
INNER
}

# The Rust core's mysql tests (the contract every backend passes, and the
# backend's own) against the server of chroot $name.
run_server_contract() {
    local entry=$1 name=$2 log="$work/$1/contract.log"
    say "[$entry] cargo test: the mysql contract against $name's server"
    mkdir -p "$work/$entry"
    with_chroot_server "$work/$entry/contract.sh" \
        'CARGO_TARGET_DIR="$3" CARGO_PROFILE_DEV_DEBUG=line-tables-only cargo test --locked -p exakat-lock-core -- --include-ignored mysql'
    in_chroot "$CACHE/chroots/$name" bash "$work/$entry/contract.sh" "$ROOT" "$work/$entry" "$TARGETS/$entry-contract" \
        >"$log" 2>&1
    local status=$? passed failed
    passed=$(sed -n 's/^test result: .* \([0-9]*\) passed.*/\1/p' "$log" | awk '{ n += $1 } END { print n + 0 }')
    failed=$(sed -n 's/^test result: .* \([0-9]*\) failed.*/\1/p' "$log" | awk '{ n += $1 } END { print n + 0 }')
    result_extra[$entry]+="${result_extra[$entry]:+; }$(sed -n 's/^server version: //p' "$log"): contract ${passed:-0} passed, ${failed:-?} failed"
    cp "$log" "$ROOT/build/matrix-$entry-contract.log" 2>/dev/null || true
    if [ "$status" -ne 0 ] || [ "${passed:-0}" -lt 12 ]; then
        say "[$entry] the mysql contract failed (exit $status)"; grep -E 'panicked|FAILED|failures:' -A5 "$log" | head -60 >&2
        return 1
    fi
}

CHROOT_TOOLS="clang libclang-dev gcc libc6-dev mariadb-server mariadb-client util-linux procps openssl"
SID_SOURCES="deb $MIRROR sid main
deb $MIRROR experimental main"

# shellcheck disable=SC2086
entry_8.4-nts() {
    make_chroot trixie-php84 trixie "deb $MIRROR trixie main" php8.4-cli php8.4-dev $CHROOT_TOOLS || return 1
    chroot_entry 8.4-nts trixie-php84
}

# experimental's php-common breaks php8.5-common; sid's does not.
# shellcheck disable=SC2086
entry_8.5-nts() {
    make_chroot sid-php85 sid "$SID_SOURCES" php8.5-cli/experimental php8.5-dev/experimental \
        php8.5-common/experimental php8.5-readline/experimental php-common/sid $CHROOT_TOOLS || return 1
    chroot_entry 8.5-nts sid-php85 || return 1
    run_server_contract 8.5-nts sid-php85
}

# Oracle MySQL (sid only: it needs glibc 2.38) under sid's PHP 8.5: the
# mysql phpt and the core's mysql contract. MariaDB 11.8 runs in 8.5-nts.
# shellcheck disable=SC2086
entry_mysql-9.7() {
    make_chroot sid-mysql97 sid "$SID_SOURCES" mysql-server/sid mysql-client/sid php8.5-cli/experimental \
        php8.5-dev/experimental php8.5-common/experimental php8.5-readline/experimental php-common/sid \
        ${CHROOT_TOOLS//mariadb-server mariadb-client/} || return 1
    PHPT_ONLY='*mysql*' chroot_entry mysql-9.7 sid-mysql97 || return 1
    run_server_contract mysql-9.7 sid-mysql97
}

# The framework stores of frameworks/ under sid's PHP 8.4 (Laravel 13 needs
# 8.3+), with Debian's phpunit: symfony/lock's own contract for third-party
# stores (AbstractStoreTestCase, shipped by php-symfony-lock 7.4) and the
# store's own tests; Laravel's lock API (php-laravel-framework 13) over the
# Laravel store.
entry_frameworks() {
    local rootfs="$CACHE/chroots/sid-frameworks" log="$work/frameworks/phpunit.log"
    make_chroot sid-frameworks sid "deb $MIRROR sid main" php8.4-cli php8.4-dev php-symfony-lock php-laravel-framework \
        phpunit clang libclang-dev gcc libc6-dev util-linux procps || return 1
    mkdir -p "$work/frameworks/ext"
    say "[frameworks] building exakat_lock.so in $rootfs"
    # shellcheck disable=SC2016
    in_chroot "$rootfs" sh -c 'cd "$1" && CARGO_TARGET_DIR="$2" cargo build --release --locked -p exakat_lock >&2 &&
        install -m 755 "$2/release/libexakat_lock.so" "$3/exakat_lock.so"' sh "$ROOT" "$TARGETS/frameworks" "$work/frameworks/ext" || return 1
    local framework status=0 summary
    for framework in symfony laravel; do
        say "[frameworks] $framework: phpunit in frameworks/$framework"
        # shellcheck disable=SC2016
        in_chroot "$rootfs" sh -c 'cd "$1/frameworks/$3" && php -r "echo \"PHP \", PHP_VERSION, \"; \";" &&
            EXAKAT_LOCK_SO="$2/exakat_lock.so" php -d extension="$2/exakat_lock.so" /usr/bin/phpunit' \
            sh "$ROOT" "$work/frameworks/ext" "$framework" >"$log.$framework" 2>&1 || status=1
        cp "$log.$framework" "$ROOT/build/matrix-frameworks-$framework.log" 2>/dev/null || true
        summary=$(grep -E '^(OK \(|Tests: )' "$log.$framework" | tail -1)
        result_extra[frameworks]+="${result_extra[frameworks]:+; }$framework: ${summary:-no summary}"
    done
    local versions
    # shellcheck disable=SC2016
    versions=$(in_chroot "$rootfs" dpkg-query -W -f '${Package} ${Version}, ' php-symfony-lock php-laravel-framework phpunit)
    result_extra[frameworks]+="; $(head -c 60 "$log.symfony" | sed -n '1s/;.*//p'), ${versions%, }"
    if [ "$status" -ne 0 ]; then
        say "[frameworks] phpunit failed: build/matrix-frameworks-*.log"
        grep -hE '^[0-9]+\)|Failed asserting|Error:' "$log".* | head -40 >&2
        return 1
    fi
}

# shellcheck disable=SC2086
entry_8.6-nts() {
    make_chroot sid-php86 sid "$SID_SOURCES" php8.6-cli/experimental php8.6-dev/experimental \
        php8.6-common/experimental php8.6-readline/experimental php-common/experimental $CHROOT_TOOLS || return 1
    chroot_entry 8.6-nts sid-php86
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
    EXAKAT_LOCK_TEST_MYSQL_DSN=$("$ROOT/scripts/test-mysql.sh" start "$work/mariadb") || exit 1
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
    # Each entry's build tree is 0.4 GB (1.4 GB more with a contract run) and
    # only its .so is used after it: a full matrix kept them all (5 GB) and
    # once filled the CI machine's disk. EXAKAT_LOCK_MATRIX_KEEP_TARGETS=1
    # keeps them, for a faster second run of one entry.
    [ -n "${EXAKAT_LOCK_MATRIX_KEEP_TARGETS:-}" ] || rm -rf "${TARGETS:?}/$entry" "$TARGETS/$entry-contract"
done

printf '\n%-14s %-6s %-7s %-7s %-8s %-6s %-7s %-6s %-7s %s\n' \
    "PHP" "build" "passed" "failed" "skipped" "leaks" "asserts" "result" "time" "extra"
for entry in "${entries[@]}"; do
    printf '%-14s %-6s %-7s %-7s %-8s %-6s %-7s %-6s %-7s %s\n' "$entry" "${result_build[$entry]}" \
        "${result_passed[$entry]:--}" "${result_failed[$entry]:--}" "${result_skipped[$entry]:--}" \
        "${result_leaks[$entry]:--}" "${result_asserts[$entry]:--}" "${result_status[$entry]}" \
        "${result_time[$entry]}" "${result_extra[$entry]:-}"
done
[ "$failures" -eq 0 ]
