--TEST--
exakat_lock() and Lock::synchronized() take 'slots' and 'shared' in their options; bad values are a ValueError or TypeError naming the option
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

$name = test_lock_name(__FILE__);
check('exakat_lock() takes a slot', exakat_lock("$name-slots", 0, 'semaphore', ['slots' => 2]) === true);
check('again: held, not counted twice', exakat_lock("$name-slots", 0, 'semaphore', ['slots' => 2]) === true);
$other = new Lock("$name-slots", 'semaphore', ['slots' => 2]);
check('one slot is left for others', $other->acquire() === true && (new Lock("$name-slots", 'semaphore', ['slots' => 2]))->acquire() === false);
$holders = $other->holders();
check('holders() shows both slots', array_column($holders, 'slot') == [0, 1] || array_column($holders, 'slot') == [1, 0]);
check('exakat_unlock() gives the slot back', exakat_unlock("$name-slots") === true);

check("exakat_lock() with 'shared' => true holds it shared", exakat_lock("$name-shared", 0, 'flock', ['shared' => true]) === true);
$reader = new Lock("$name-shared", 'flock');
check('so another reader shares it', $reader->acquireShared() === true);
check('and a writer is refused', (new Lock("$name-shared", 'flock'))->acquire() === false);
try {
    exakat_lock("$name-shared", 0, 'flock');
    check('asking for it exclusively while holding it shared throws', false);
} catch (ExakatLock\LockException $e) {
    // Not "this object holds it shared; release it first": no object here.
    check('asking for it exclusively while holding it shared throws', str_contains($e->getMessage(), 'cannot take it exclusive with exakat_lock(): this process holds it shared through exakat_lock(); call exakat_unlock() first'));
}
check('exakat_unlock() ends the shared hold', exakat_unlock("$name-shared") === true);
$reader->release();

$inside = Lock::synchronized("$name-sync", function () use ($name) {
    $probe = new Lock("$name-sync", 'semaphore');
    return [$probe->acquireShared(), $probe->release(), $probe->acquire()];
}, 0, 'semaphore', ['shared' => true]);
check('synchronized() with shared lets readers in and keeps writers out', $inside === [true, true, false]);
check('and releases after', (new Lock("$name-sync", 'semaphore'))->acquire() === true);
$count = Lock::synchronized("$name-sync-slots", fn () => (new Lock("$name-sync-slots", 'socket', ['slots' => 2]))->acquire(), 0, 'socket', ['slots' => 2]);
check('synchronized() takes slots', $count === true);

foreach ([
    fn () => exakat_lock($name, 0, 'flock', ['shared' => 'yes']),
    fn () => exakat_lock($name, 0, 'flock', ['slots' => 0]),
    fn () => exakat_lock($name, 0, 'flock', ['slots' => 1025]),
    fn () => exakat_lock($name, 0, 'flock', ['slots' => '2']),
    fn () => exakat_lock($name, 0, 'flock', ['slots' => 2, 'shared' => true]),
    fn () => exakat_lock($name, 0, 'socket', ['shared' => true]),
    fn () => Lock::synchronized($name, fn () => 1, 0, 'flock', ['shared' => 1]),
    fn () => new Lock($name, 'flock', ['shared' => true]),
    fn () => new Lock($name, 'tcp', ['port' => 65535, 'slots' => 2]),
] as $call) {
    try {
        $call();
        echo "no exception\n";
    } catch (Throwable $e) {
        echo get_class($e), ': ', $e->getMessage(), "\n";
    }
}
?>
--EXPECTF--
ok exakat_lock() takes a slot
ok again: held, not counted twice
ok one slot is left for others
ok holders() shows both slots
ok exakat_unlock() gives the slot back
ok exakat_lock() with 'shared' => true holds it shared
ok so another reader shares it
ok and a writer is refused
ok asking for it exclusively while holding it shared throws
ok exakat_unlock() ends the shared hold
ok synchronized() with shared lets readers in and keeps writers out
ok and releases after
ok synchronized() takes slots
TypeError: exakat_lock(): Argument #4 ($options) option "shared" must be of type bool, string given
ValueError: exakat_lock(): Argument #4 ($options) option "slots" must be between 1 and 1024, 0 given
ValueError: exakat_lock(): Argument #4 ($options) option "slots" must be between 1 and 1024, 1025 given
TypeError: exakat_lock(): Argument #4 ($options) option "slots" must be of type int, string given
ValueError: exakat_lock(): Argument #4 ($options) option "slots" must be 1 for a lock held shared (a lock is counted or shared), 2 given
ExakatLock\LockException: Lock "phpt-functions_and_synchronized_take_slots_and_shared-%d" (socket backend): cannot take it shared: the socket backend has no shared mode (semaphore and flock have one)
TypeError: ExakatLock\Lock::synchronized(): Argument #5 ($options) option "shared" must be of type bool, int given
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "shared" is for exakat_lock() and Lock::synchronized(); a Lock object is held shared with acquireShared()
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "port" must be between 1 and 65534 (with 2 slots, one port each), 65535 given
