--TEST--
acquire() reads 0 as one try, negative and INF as no limit, and rejects NAN
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_common.inc';
use ExakatLock\Lock;

$lock = new Lock(basename(__FILE__) . getmypid());

// Against a holder that lets go 300 ms after it took the lock: 0 gives up
// at once, a short limit gives up at its end, no limit waits it out.
foreach ([['0', 0], ['0.1', 0.1], ['-1', -1], ['WAIT_FOREVER', Lock::WAIT_FOREVER], ['INF', INF]] as [$shown, $timeout]) {
    $holder = Child::withLock($lock->name(), Lock::AUTO, [], '$lock->acquire(2.0); echo "held\n"; usleep(300000); $lock->release(); fgets(STDIN);');
    $holder->line();
    $started = hrtime(true);
    $got = $lock->acquire($timeout);
    $waited = (hrtime(true) - $started) / 1e6;
    $expected = match ($shown) {
        '0' => !$got && $waited < 100,
        '0.1' => !$got && $waited >= 95 && $waited < 250,
        default => $got && $waited >= 150,
    };
    check("a held lock with timeout $shown", $expected, sprintf('%s after %.0f ms', var_export($got, true), $waited));
    $lock->release();
    $holder->endInput();
    $holder->wait();
}
foreach ([0, 0.0, -1, Lock::WAIT_FOREVER, -INF, INF, PHP_FLOAT_MAX, 1e-9, '0.5', true] as $timeout) {
    var_dump($lock->acquire($timeout) && $lock->release());
}
try {
    $lock->acquire(NAN);
} catch (ValueError $e) {
    echo $e->getMessage(), "\n";
}
try {
    $lock->acquire('soon');
} catch (TypeError $e) {
    echo $e->getMessage(), "\n";
}
try {
    exakat_lock('x', NAN);
} catch (ValueError $e) {
    echo $e->getMessage(), "\n";
}
?>
--EXPECT--
ok a held lock with timeout 0
ok a held lock with timeout 0.1
ok a held lock with timeout -1
ok a held lock with timeout WAIT_FOREVER
ok a held lock with timeout INF
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
ExakatLock\Lock::acquire(): Argument #1 ($timeout) must not be NAN
ExakatLock\Lock::acquire(): Argument #1 ($timeout) must be of type float, string given
exakat_lock(): Argument #2 ($timeout) must not be NAN
