--TEST--
acquire() reads 0 as one try, negative and INF as no limit, and rejects NAN
--EXTENSIONS--
exakat_lock
--FILE--
<?php
use ExakatLock\Lock;

$lock = new Lock(basename(__FILE__) . getmypid());
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
