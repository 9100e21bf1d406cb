#!/usr/bin/env bash
# Runs every test: the Rust core (cargo test), then the built exakat_lock.so
# in a real PHP under PHP's own run-tests.php, against a real MariaDB that
# this script starts (unless EXAKAT_LOCK_TEST_MYSQL_DSN names one) and real
# util-linux tools; then `composer validate --strict` of the manifests with a
# current Composer (scripts/composer-validate.sh), the quick stress run
# (stress/run.sh), the Docker check (docker/check.sh: builds and runs the
# slim-image Dockerfile with podman) and the PHP matrix (scripts/matrix.sh:
# the phpt suite under PHP 8.2 ZTS debug, 8.4, 8.5 and 8.6 RC, the mysql
# tests against MariaDB 11.8 and Oracle MySQL 9.7, the symfony and Laravel
# stores under their frameworks' own tests). Fails when
# any test fails, and when the suite did not really run:
# run-tests.php skips tests whose extension is missing and still exits 0, so
# the counts are checked too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_build_tools
need_packages mariadb-server mariadb-client util-linux procps openssl strace

work=$(mktemp -d /tmp/exakat_lock-test.XXXXXX)
cleanup() {
    if [ -n "${own_mariadb:-}" ]; then "$ROOT/scripts/test-mysql.sh" stop "$work/mariadb" || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${EXAKAT_LOCK_TEST_MYSQL_DSN:-}" ]; then
    say "starting a throwaway MariaDB"
    own_mariadb=1
    EXAKAT_LOCK_TEST_MYSQL_DSN=$("$ROOT/scripts/test-mysql.sh" start "$work/mariadb")
    # The server speaks TLS with a certificate signed by this CA (the TLS tests need it).
    export EXAKAT_LOCK_TEST_MYSQL_DSN EXAKAT_LOCK_TEST_MARIADB_DIR="$work/mariadb" \
        EXAKAT_LOCK_TEST_MYSQL_CA="$work/mariadb/tls/ca.pem"
fi

semaphore_sets() { ipcs -s | grep -c '^0x' || true; }
sets_before=$(semaphore_sets)

say "cargo test"
(cd "$ROOT" && cargo test --locked --workspace --exclude exakat_lock -- --include-ignored >&2)

build_extension
php_with_extension -r 'exit(extension_loaded("exakat_lock") ? 0 : 1);' \
    || { say "PHP could not load $BUILD/exakat_lock.so"; exit 1; }

say "phpt suite (run-tests.php)"
run_tests="$(php-config --extension-dir)/build/run-tests.php"
expected=$(find "$ROOT/php-tests" -name '*.phpt' | wc -l)
set +e
TEST_PHP_EXECUTABLE=$(command -v php) NO_INTERACTION=1 php -n "$run_tests" -q -n \
    -d extension_dir="$BUILD" -d extension=exakat_lock -j2 --show-diff "$ROOT/php-tests" | tee "$work/phpt.log"
status=${PIPESTATUS[0]}
set -e
passed=$(sed -n 's/^Tests passed *: *\([0-9]*\).*/\1/p' "$work/phpt.log")
failed=$(sed -n 's/^Tests failed *: *\([0-9]*\).*/\1/p' "$work/phpt.log")
skipped=$(sed -n 's/^Tests skipped *: *\([0-9]*\).*/\1/p' "$work/phpt.log")
if [ "$status" -ne 0 ] || [ "${failed:-1}" -ne 0 ]; then
    say "phpt: ${failed:-?} failed"; exit 1
fi
if [ "${passed:-0}" -ne "$expected" ]; then
    say "phpt: $passed of $expected tests passed ($skipped skipped): every test must run here"
    grep -E '^SKIP' "$work/phpt.log" >&2 || true
    exit 1
fi

sets_after=$(semaphore_sets)
if [ "$sets_after" -gt "$sets_before" ]; then
    say "the suite leaked $((sets_after - sets_before)) SysV semaphore set(s):"; ipcs -s >&2; exit 1
fi
say "composer.json, stubs/ and frameworks/ manifests (scripts/composer-validate.sh)"
"$ROOT/scripts/composer-validate.sh"

say "stress run, quick mode (stress/run.sh)"
"$ROOT/stress/run.sh"

say "Docker: a slim php-cli image plus one .so (docker/check.sh)"
"$ROOT/docker/check.sh"

# The host's PHP 8.2 NTS ran above; the matrix adds the other builds.
say "PHP matrix: 8.2 ZTS debug, 8.4, 8.5, 8.6 RC; MariaDB 11.8 and MySQL 9.7; symfony and Laravel (scripts/matrix.sh)"
"$ROOT/scripts/matrix.sh" 8.2-zts-debug 8.4-nts 8.5-nts 8.6-nts mysql-9.7 frameworks

say "all tests passed: cargo test, $passed/$expected phpt, no semaphore set leaked ($sets_before before, $sets_after after), composer validate, stress, Docker, PHP matrix and framework stores"
