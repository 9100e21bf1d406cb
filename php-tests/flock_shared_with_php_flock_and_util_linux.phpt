--TEST--
acquireShared() on the flock backend shares with PHP's flock(LOCK_SH) and util-linux flock -s on the same file, and excludes their exclusive locks both ways
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

/** What util-linux `flock -n` says right now: 0 when it got the lock, 75 when it is busy. */
function flock_cmd(string $mode, string $path): int
{
    exec("flock $mode -n -E 75 " . escapeshellarg($path) . ' true', $out, $status);
    return $status;
}

// PHP's own flock(): another process, so that the kernel sees two open files.
$php = new Child('
    $f = fopen(' . var_export($path, true) . ', "c");
    flock($f, LOCK_SH) or exit(1);
    echo "php shared\n";
    fgets(STDIN);
    flock($f, LOCK_UN);
    echo var_export(flock($f, LOCK_EX | LOCK_NB), true), "\n";
    fgets(STDIN);');
check("PHP's flock(LOCK_SH) holds the file", $php->line() === 'php shared');
check("acquireShared() shares with PHP's flock(LOCK_SH)", $lock->acquireShared() === true);
check('flock -s shares with both', flock_cmd('-s', $path) === 0);
check('flock -x is excluded', flock_cmd('-x', $path) === 75);
$php->send('unlock');
check("PHP's flock(LOCK_EX | LOCK_NB) is excluded by acquireShared()", $php->line() === 'false');
$php->endInput();
$php->wait();
check('release() frees it', $lock->release() === true && flock_cmd('-x', $path) === 0);

// util-linux holds it shared: we share, acquire() waits in vain.
$shell = Child::command(['sh', '-c', 'exec 9<"$1" && flock -s 9 && echo held && cat >/dev/null', 'sh', $path]);
check('flock -s holds the file', $shell->line() === 'held');
$writer = new Lock(test_lock_name(__FILE__), Lock::FLOCK, ['path' => $path]);
check('acquire() is excluded by flock -s', $writer->acquire(0.05) === false);
check('acquireShared() shares with flock -s', $lock->acquireShared() === true);
$shell->endInput();
$shell->wait();
check('acquire() still waits for our own reader', $writer->acquire() === false);
$lock->release();
check('and takes it once it is gone', $writer->acquire() === true);
check('an exclusive holder excludes flock -s', flock_cmd('-s', $path) === 75);
?>
--EXPECT--
ok PHP's flock(LOCK_SH) holds the file
ok acquireShared() shares with PHP's flock(LOCK_SH)
ok flock -s shares with both
ok flock -x is excluded
ok PHP's flock(LOCK_EX | LOCK_NB) is excluded by acquireShared()
ok release() frees it
ok flock -s holds the file
ok acquire() is excluded by flock -s
ok acquireShared() shares with flock -s
ok acquire() still waits for our own reader
ok and takes it once it is gone
ok an exclusive holder excludes flock -s
