--TEST--
Lock::synchronized() runs the callback under the lock, returns its result and releases whatever happens
--EXTENSIONS--
exakat_lock
--FILE--
<?php
use ExakatLock\Lock;
use ExakatLock\LockTimeoutException;

$name = basename(__FILE__) . getmypid();
$probe = new Lock($name);

var_dump(Lock::synchronized($name, function () use ($probe) {
    return ['held inside' => $probe->holder()['pid'] === getmypid()];
}));
var_dump($probe->holder());

// The callback's exception comes back unchanged, and the lock is free after it.
$thrown = new DomainException('from the callback', 42);
try {
    Lock::synchronized($name, function () use ($thrown) { throw $thrown; });
} catch (DomainException $e) {
    var_dump($e === $thrown, $probe->acquire(), $probe->release());
}

// Held elsewhere: LockTimeoutException naming the holder, callback never called.
$probe->acquire();
try {
    Lock::synchronized($name, function () { echo "must not run\n"; }, 0.1);
} catch (LockTimeoutException $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
    var_dump($e instanceof ExakatLock\LockException);
}
// The timeout as PHP writes it: 1e-300 came with its 300 zeros.
foreach ([1e-300, 0.25] as $timeout) {
    try {
        Lock::synchronized($name, function () { echo "must not run\n"; }, $timeout);
    } catch (LockTimeoutException $e) {
        echo preg_replace('/; it is held.*/', '', $e->getMessage()), "\n";
    }
}
$probe->release();

// Works with every callable form, and with the same backends and options as the class.
function add_one(int $x = 1): int { return $x + 1; }
var_dump(Lock::synchronized($name, 'add_one', 0.0, Lock::FLOCK, ['dir' => sys_get_temp_dir()]));
var_dump(Lock::synchronized($name, [new ArrayObject([1, 2, 3]), 'count']));
try {
    Lock::synchronized($name, 'no_such_function');
} catch (TypeError $e) {
    echo $e->getMessage(), "\n";
}

// A callback that returns by reference gives its value, as call_user_func()
// does: never an alias of the callback's variable.
$kept = [1];
$result = &Lock::synchronized($name, function &() use (&$kept) { return $kept; });
$result[] = 2;
function append_two(array &$list): void { $list[] = 2; }
append_two(Lock::synchronized($name, function &() use (&$kept) { return $kept; }));
var_dump($kept);
?>
--EXPECTF--
array(1) {
  ["held inside"]=>
  bool(true)
}
NULL
bool(true)
bool(true)
bool(true)
ExakatLock\LockTimeoutException: Could not acquire lock "synchronized_returns_and_releases.php%d" (socket backend) within 0.1 s; it is held by pid %d on %s
bool(true)
Could not acquire lock "synchronized_returns_and_releases.php%d" (socket backend) within 1.0E-300 s
Could not acquire lock "synchronized_returns_and_releases.php%d" (socket backend) within 0.25 s
int(2)
int(3)
ExakatLock\Lock::synchronized(): Argument #2 ($callback) must be a valid callback, function "no_such_function" not found or invalid function name

Notice: Only variables should be assigned by reference in %s on line %d

Notice: Only variables should be passed by reference in %s on line %d
array(1) {
  [0]=>
  int(1)
}
