--TEST--
flock: a timed wait ends on time whatever the script did to the signal that times it (SIGRTMAX-7), and without any timer left to the user (ulimit -i 0)
--EXTENSIONS--
exakat_lock
pcntl
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

$name = test_lock_name(__FILE__);
$holder = Child::withLock($name, 'flock', [], 'var_dump($lock->acquire(0)); fgets(STDIN);');
echo $holder->line(), "\n";

$waiter = new Lock($name, 'flock');
/** How a 0.3 s wait on the held lock ends. */
function wait_once(Lock $waiter): string
{
    $started = hrtime(true);
    $taken = $waiter->acquire(0.3);
    $waited = (hrtime(true) - $started) / 1e9;
    return ($taken ? 'taken' : 'timed out') . ($waited >= 0.3 && $waited < 1.5 ? ' on time' : " after $waited s");
}

// The first wait installs the extension's handler; then the script sets
// its own for that signal (SIGRTMAX - 7), three ways.
echo 'first wait: ', wait_once($waiter), "\n";
$signal = 64 - 7; // SIGRTMAX is 64 on Linux
foreach (['ignored' => SIG_IGN, 'a PHP handler' => fn () => null] as $what => $handler) {
    pcntl_signal($signal, $handler);
    echo "signal $what: ", wait_once($waiter), "\n";
}
pcntl_signal($signal, SIG_DFL);
echo 'signal at its default: ', wait_once($waiter), "\n";

// No queued signal allowed to this process (no POSIX timer can be made).
$child = Child::command(array_merge(['prlimit', '--sigpending=0', '--'], test_php_command(), ['-r', sprintf('
    $waiter = new ExakatLock\Lock(%s, "flock");
    $started = hrtime(true);
    try {
        $taken = $waiter->acquire(0.3);
        $waited = (hrtime(true) - $started) / 1e9;
        echo $taken ? "taken" : "timed out", $waited >= 0.3 && $waited < 1.5 ? " on time" : " after $waited s", "\n";
    } catch (ExakatLock\LockException $e) {
        echo $e->getMessage(), "\n";
    }', var_export($name, true))]));
echo 'without timers: ', $child->line(), "\n";
$child->wait();
$holder->endInput();
$holder->wait();
echo 'after the release: ', $waiter->acquire(1) ? 'taken' : 'not taken', "\n";
?>
--EXPECT--
bool(true)
first wait: timed out on time
signal ignored: timed out on time
signal a PHP handler: timed out on time
signal at its default: timed out on time
without timers: timed out on time
after the release: taken
