--TEST--
PHP's flock() and the flock backend exclude each other on one path, and a waiter wakes on LOCK_UN while the file stays open
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

$dir = test_temp_dir(__FILE__);
$path = "$dir/shared.lock";
$lock = new Lock(test_lock_name(__FILE__), Lock::FLOCK, ['path' => $path]);

/** Whether $pid shows up in /proc/locks as waiting for a flock() ("->" lines), polled for up to 10 s. */
function blocked_in_flock(int $pid): bool
{
    for ($deadline = hrtime(true) + 10e9; hrtime(true) < $deadline; usleep(1000)) {
        if (preg_match('/^\d+: -> FLOCK +ADVISORY +WRITE +' . $pid . ' /m', file_get_contents('/proc/locks'))) {
            return true;
        }
    }
    return false;
}

// Another process that uses nothing but PHP's own flock() on the path, one command per line.
$php = new Child('
    $fp = fopen(' . var_export($path, true) . ', "c");
    echo "open\n";
    while (($command = fgets(STDIN)) !== false) {
        switch (trim($command)) {
            case "try":
                $got = flock($fp, LOCK_EX | LOCK_NB, $wouldBlock);
                echo $got ? "locked" : ($wouldBlock ? "busy" : "error"), "\n";
                break;
            case "wait":
                echo flock($fp, LOCK_EX) ? "locked" : "error", "\n";
                break;
            case "unlock-later":
                usleep(150000);
                echo hrtime(true), "\n";
                echo flock($fp, LOCK_UN) ? "unlocked" : "error", "\n";
                break;
            case "unlock":
                echo flock($fp, LOCK_UN) ? "unlocked" : "error", "\n";
                break;
        }
    }');
check('the other process opened the file', $php->line() === 'open');

// The extension holds: PHP's flock() cannot take it.
check('acquire() takes it', $lock->acquire() === true);
$php->send('try');
check("PHP's flock(LOCK_NB) would block while the extension holds it", $php->line() === 'busy');

// A blocking flock() in PHP waits, and gets it when the extension releases.
$php->send('wait');
check('the blocking flock() waits in the kernel (/proc/locks lists it as blocked)', blocked_in_flock($php->pid()));
check('release() frees it', $lock->release() === true);
check("the blocking flock() gets it once it is released", $php->line() === 'locked');

// PHP's flock() holds: the extension cannot take it.
check('acquire() fails while PHP holds it', $lock->acquire() === false && !$lock->isHeld());
check("holder() names the process holding it with PHP's flock()", ($lock->holder()['pid'] ?? null) === $php->pid(), var_export($lock->holder(), true));

// The other process unlocks with flock($fp, LOCK_UN) 150 ms after the
// command, and keeps the file open: the waiter must wake on the unlock itself.
$php->send('unlock-later');
$started = hrtime(true);
$taken = $lock->acquire(5.0);
$acquiredAt = hrtime(true);
$unlockedAt = (int) $php->line();
check('the other process unlocked', $php->line() === 'unlocked');
$latency = ($acquiredAt - $unlockedAt) / 1e6;
// Stamped before LOCK_UN: taken before it would be two holders.
check('acquire(5) wakes within 100 ms of LOCK_UN, never before it', $taken && $latency >= 0 && $latency < 100, sprintf('taken: %s, %.1f ms', var_export($taken, true), $latency));
check('and had really waited', ($acquiredAt - $started) / 1e6 >= 100);
$open = array_map(fn ($fd) => @readlink($fd), glob('/proc/' . $php->pid() . '/fd/*'));
check('the other process still has the file open', in_array($path, $open, true));

$php->send('try');
check("PHP's flock(LOCK_NB) would block again", $php->line() === 'busy');
check('release() frees it', $lock->release() === true);
$php->send('try');
check("PHP's flock() takes it now", $php->line() === 'locked');
$php->send('unlock');
check('and unlocks it', $php->line() === 'unlocked');
check('the other process ends cleanly', $php->wait() === 0);
?>
--EXPECT--
ok the other process opened the file
ok acquire() takes it
ok PHP's flock(LOCK_NB) would block while the extension holds it
ok the blocking flock() waits in the kernel (/proc/locks lists it as blocked)
ok release() frees it
ok the blocking flock() gets it once it is released
ok acquire() fails while PHP holds it
ok holder() names the process holding it with PHP's flock()
ok the other process unlocked
ok acquire(5) wakes within 100 ms of LOCK_UN, never before it
ok and had really waited
ok the other process still has the file open
ok PHP's flock(LOCK_NB) would block again
ok release() frees it
ok PHP's flock() takes it now
ok and unlocks it
ok the other process ends cleanly
