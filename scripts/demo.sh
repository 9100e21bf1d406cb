#!/usr/bin/env bash
# Builds exakat_lock.so on a fresh Debian machine and shows what it is for:
# two copies of one script, where the second says who is already running.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_extension
say "demo: two copies of examples/single-instance.php"
php_with_extension "$ROOT/examples/single-instance.php" 3 &
first=$!
sleep 1
php_with_extension "$ROOT/examples/single-instance.php" 0 || true
wait "$first"
say "and once the first copy has finished, the lock is free again:"
php_with_extension "$ROOT/examples/single-instance.php" 0
say "the exakat-lock command shares the lock with PHP (built into build/exakat-lock):"
php_with_extension "$ROOT/examples/single-instance.php" 2 &
first=$!
sleep 1
"$BUILD/exakat-lock" list
"$BUILD/exakat-lock" -n -E 75 nightly-import echo "not printed: PHP holds it" || echo "exakat-lock -n: status $? (busy)"
wait "$first"
"$BUILD/exakat-lock" -n nightly-import echo "exakat-lock ran this while holding nightly-import"
