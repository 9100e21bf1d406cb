#!/bin/sh
# Runs inside an image built from docker/Dockerfile, with the repository
# mounted read-only at /src: the extension must be loaded by the image's own
# ini line (no -d extension=...), run the demo, and pass the phpt suite.
# POSIX sh on purpose: Alpine images have no bash.
set -eu

src=${1:-/src}
work=$(mktemp -d)
fail() { echo "FAILED: $*" >&2; exit 1; }
say() { echo "--- $*"; }

say "php -m, with nothing but the image's own ini files"
php -m | grep -qx exakat_lock || fail "exakat_lock is not loaded by the image's ini files"
for missing in sysvsem sockets; do
    if php -m | grep -qx "$missing"; then fail "this image has $missing: it proves nothing about images without it"; fi
done
if php -m | grep -qx pcntl; then has_pcntl=1; else has_pcntl=0; fi
echo "loaded: exakat_lock; absent: sysvsem, sockets; pcntl: $([ "$has_pcntl" = 1 ] && echo built in || echo absent)"
php --ri exakat_lock

say "demo: two copies of examples/single-instance.php"
php "$src/examples/single-instance.php" 3 >"$work/first.out" 2>&1 &
first=$!
tries=0
until grep -q importing "$work/first.out"; do
    tries=$((tries + 1))
    [ "$tries" -lt 200 ] || fail "the first copy never took the lock: $(cat "$work/first.out")"
    sleep 0.05
done
cat "$work/first.out"
if php "$src/examples/single-instance.php" 0 2>"$work/second.err"; then
    fail "a second copy ran while the first held the lock"
fi
cat "$work/second.err"
grep -q "Another process is running (pid $first)" "$work/second.err" \
    || fail "the second copy did not name the first one (pid $first)"
wait "$first" || fail "the first copy failed"
php "$src/examples/single-instance.php" 0 || fail "the lock was not free once the first copy had ended"

say "phpt suite (run-tests.php of this PHP)"
run_tests=""
for candidate in "$(php-config --prefix)/lib/php/build/run-tests.php" \
                 "$(php-config --extension-dir)/build/run-tests.php"; do
    if [ -f "$candidate" ]; then run_tests=$candidate; break; fi
done
[ -n "$run_tests" ] || fail "no run-tests.php in this image"
# run-tests.php writes its scratch files next to the .phpt files, and some
# tests read other files of the repository (the stub): a writable copy of the
# repository without its build output.
mkdir "$work/repo"
tar -C "$src" --exclude=./target --exclude=./build --exclude=./.git -cf - . | tar -C "$work/repo" -xf -
tests="$work/repo/php-tests"
total=$(find "$tests" -name '*.phpt' | wc -l)
# The suite runs against the image's php.ini and conf.d, as an application
# would; the tests' child processes add -n -d extension=exakat_lock themselves.
set +e
env -u EXAKAT_LOCK_TEST_MYSQL_DSN TEST_PHP_EXECUTABLE="$(command -v php)" NO_INTERACTION=1 \
    php -n "$run_tests" -q -j2 --show-diff "$tests" >"$work/phpt.log" 2>&1
status=$?
set -e
cat "$work/phpt.log"
count() { sed -n "s/^Tests $1 *: *\([0-9]*\).*/\1/p" "$work/phpt.log"; }
passed=$(count passed); failed=$(count failed); skipped=$(count skipped)
passed=${passed:-0}; failed=${failed:-0}; skipped=${skipped:-0}
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then fail "phpt: $failed failed (run-tests.php exit $status)"; fi
[ $((passed + skipped)) -eq "$total" ] || fail "phpt: $passed passed + $skipped skipped is not the $total tests"

# A skip is only acceptable for the reasons this image is expected to
# have: no MySQL server configured, (on the official images) no pcntl, and
# what the hostile-neighbour tests need to attack as a second user (ext-sockets
# or FFI for the attacker, setpriv, namespaces a container may not create).
grep '^SKIP' "$work/phpt.log" | while IFS= read -r line; do
    case $line in
        *EXAKAT_LOCK_TEST_MYSQL_DSN*) ;;
        *"hostile-neighbour test:"*) ;;
        *"missing: pcntl"*) [ "$has_pcntl" = 0 ] || fail "skipped for pcntl although pcntl is loaded: $line" ;;
        *) fail "unexpected skip: $line" ;;
    esac
done
if [ "$has_pcntl" = 0 ]; then
    for test in "$tests"/*.phpt; do
        if sed -n '/^--EXTENSIONS--$/,/^--/p' "$test" | grep -qx pcntl; then
            grep -q "^SKIP.*$(basename "$test")" "$work/phpt.log" || fail "$(basename "$test") needs pcntl and was not skipped"
        fi
    done
fi
echo "phpt in image: $passed passed, $failed failed, $skipped skipped (of $total)"
rm -rf "$work"
