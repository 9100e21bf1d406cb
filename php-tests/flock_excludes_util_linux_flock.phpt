--TEST--
util-linux flock(1) and the flock backend exclude each other on one path, and a waiter wakes when flock(1) unlocks
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
exec('command -v flock', $out, $status);
if ($status !== 0) die('skip util-linux flock(1) is not installed');
?>
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

$dir = test_temp_dir(__FILE__);
$path = "$dir/shared.lock";
$lock = new Lock(test_lock_name(__FILE__), Lock::FLOCK, ['path' => $path]);

/** What `flock -n` says about the path right now: 0 when it got the lock, 75 when it is busy. */
function flock_nb(string $path): int
{
    exec('flock -n -E 75 ' . escapeshellarg($path) . ' true', $out, $status);
    return $status;
}

// The extension holds: flock(1) cannot take it, and can once it is released.
check('acquire() takes the file', $lock->acquire() === true);
check('flock -n fails while the extension holds it', flock_nb($path) === 75);
check('release() frees it', $lock->release() === true);
check('flock -n succeeds once it is released', flock_nb($path) === 0);

// flock(1) holds it on descriptor 9 of a shell, and unlocks with `flock -u`
// without closing the file: it prints the wall-clock time just before it
// unlocks, 150 ms after "go", while we wait in acquire(5).
$shell = Child::command(['sh', '-c', '
    exec 9<"$1" || exit 1
    flock -x 9 || exit 1
    echo held
    read go
    sleep 0.15
    date +%s%N
    flock -u 9
    echo unlocked
    read done
', 'sh', $path]);
check('flock(1) takes it', $shell->line() === 'held');
check('acquire() fails while flock(1) holds it', $lock->acquire() === false && !$lock->isHeld());
check('a bounded wait fails while flock(1) holds it', $lock->acquire(0.1) === false);
$shell->send('go');
$started = hrtime(true);
$taken = $lock->acquire(5.0);
$acquiredAt = microtime(true);
$waited = (hrtime(true) - $started) / 1e6;
$unlockedAt = (int) $shell->line() / 1e9;
check('flock(1) unlocked', $shell->line() === 'unlocked');
$latency = ($acquiredAt - $unlockedAt) * 1000;
check('acquire(5) wakes within 100 ms of flock -u', $taken && $latency < 100, sprintf('taken: %s, %.1f ms', var_export($taken, true), $latency));
check('and had really waited', $waited >= 100, sprintf('%.1f ms', $waited));
$shell->send('done');
check('the shell ends cleanly', $shell->wait() === 0);
check('flock -n fails while the extension holds it again', flock_nb($path) === 75);
check('release() frees it again', $lock->release() === true && flock_nb($path) === 0);
check('the lock file is the path given, and beside it only the gate a waiting writer passed', scandir($dir) === ['.', '..', 'shared.lock', 'shared.lock.gate']);
?>
--EXPECT--
ok acquire() takes the file
ok flock -n fails while the extension holds it
ok release() frees it
ok flock -n succeeds once it is released
ok flock(1) takes it
ok acquire() fails while flock(1) holds it
ok a bounded wait fails while flock(1) holds it
ok flock(1) unlocked
ok acquire(5) wakes within 100 ms of flock -u
ok and had really waited
ok the shell ends cleanly
ok flock -n fails while the extension holds it again
ok release() frees it again
ok the lock file is the path given, and beside it only the gate a waiting writer passed
