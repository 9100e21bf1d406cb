--TEST--
acquire(), release() and isHeld() (engine handlers of their own) check their arguments as every other method does
--EXTENSIONS--
exakat_lock
--FILE--
<?php
use ExakatLock\Lock;

$lock = new Lock(basename(__FILE__) . getmypid());
$calls = [
    'acquire(null)' => fn () => $lock->acquire(null),
    'acquire(0, 1)' => fn () => $lock->acquire(0, 1),
    'acquire([])' => fn () => $lock->acquire([]),
    'release(1)' => fn () => $lock->release(1),
    'isHeld(1)' => fn () => $lock->isHeld(1),
    'acquire(timeout: 0.0)' => fn () => $lock->acquire(timeout: 0.0),
    'acquire(seconds: 0.0)' => fn () => $lock->acquire(seconds: 0.0),
];
foreach ($calls as $what => $call) {
    try {
        $result = var_export($call(), true);
    } catch (Throwable $e) {
        $result = get_class($e) . ': ' . $e->getMessage();
    }
    echo "$what: $result\n";
}
var_dump($lock->isHeld(), $lock->release(), $lock->isHeld(), $lock->release());
// Through a callable string and call_user_func(), the same handlers run.
var_dump(call_user_func([$lock, 'acquire'], 0), call_user_func([$lock, 'isHeld']), call_user_func([$lock, 'release']));
?>
--EXPECTF--
acquire(null): TypeError: %s
acquire(0, 1): ArgumentCountError: ExakatLock\Lock::acquire() expects at most 1 argument, 2 given
acquire([]): TypeError: ExakatLock\Lock::acquire(): Argument #1 ($timeout) must be of type float, array given
release(1): ArgumentCountError: ExakatLock\Lock::release() expects exactly 0 arguments, 1 given
isHeld(1): ArgumentCountError: ExakatLock\Lock::isHeld() expects exactly 0 arguments, 1 given
acquire(timeout: 0.0): true
acquire(seconds: 0.0): Error: Unknown named parameter $seconds
bool(true)
bool(true)
bool(false)
bool(false)
bool(true)
bool(true)
bool(true)
