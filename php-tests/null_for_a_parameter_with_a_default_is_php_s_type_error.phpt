--TEST--
null passed where a parameter has a default is PHP's own TypeError naming the function, the argument and its type (DESIGN, decision 3); an anonymous class is named as PHP names it
--EXTENSIONS--
exakat_lock
--FILE--
<?php
use ExakatLock\Lock;

$lock = new Lock('phpt-null-' . getmypid(), 'flock');
$calls = [
    fn () => $lock->acquire(null),
    fn () => $lock->acquireShared(null),
    fn () => new Lock('x', null),
    fn () => new Lock('x', Lock::AUTO, null),
    fn () => Lock::synchronized('x', fn () => 1, null),
    fn () => Lock::synchronized('x', fn () => 1, 0.0, null),
    fn () => exakat_lock('x', null),
    fn () => exakat_lock_holder('x', null),
    fn () => exakat_lock_list(null, null),
    fn () => $lock->acquire(new class {}),
];
foreach ($calls as $call) {
    try {
        $call();
        echo "no exception\n";
    } catch (TypeError $e) {
        echo $e->getMessage(), "\n";
    }
}
// Everything else is as before: nothing taken, the defaults still apply,
// and null is still what ?string $backend takes. (The list itself is not
// compared: other tests running beside this one take and free locks.)
var_dump($lock->isHeld(), $lock->acquire(), $lock->release(), is_array(exakat_lock_list(null)));
?>
--EXPECT--
ExakatLock\Lock::acquire(): Argument #1 ($timeout) must be of type float, null given
ExakatLock\Lock::acquireShared(): Argument #1 ($timeout) must be of type float, null given
ExakatLock\Lock::__construct(): Argument #2 ($backend) must be of type string, null given
ExakatLock\Lock::__construct(): Argument #3 ($options) must be of type array, null given
ExakatLock\Lock::synchronized(): Argument #3 ($timeout) must be of type float, null given
ExakatLock\Lock::synchronized(): Argument #4 ($backend) must be of type string, null given
exakat_lock(): Argument #2 ($timeout) must be of type float, null given
exakat_lock_holder(): Argument #2 ($backend) must be of type string, null given
exakat_lock_list(): Argument #2 ($options) must be of type array, null given
ExakatLock\Lock::acquire(): Argument #1 ($timeout) must be of type float, class@anonymous given
bool(false)
bool(true)
bool(true)
bool(true)
