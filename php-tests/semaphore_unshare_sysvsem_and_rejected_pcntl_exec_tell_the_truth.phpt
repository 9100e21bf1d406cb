--TEST--
semaphore: after pcntl_unshare(CLONE_SYSVSEM) the lock reads as lost, and a pcntl_exec() that PHP rejects before exec'ing never hands the lock to a waiter
--EXTENSIONS--
exakat_lock
pcntl
--SKIPIF--
<?php
if (!function_exists('pcntl_unshare')) die('skip pcntl_unshare() is not available');
?>
--FILE--
<?php
require __DIR__ . '/_hostile.inc';

use ExakatLock\Lock;

const CLONE_SYSVSEM_FLAG = 0x00040000; // <linux/sched.h>; PHP does not define CLONE_SYSVSEM

$name = test_lock_name(__FILE__);
$tryFromAnotherProcess = function () use ($name): string {
    $other = Child::withLock($name, Lock::SEMAPHORE, [], 'echo var_export($lock->acquire(), true), "\n";');
    $line = line_or_null($other, 5.0) ?? 'no answer';
    $other->wait();
    return $line;
};

// 1. pcntl_unshare(CLONE_SYSVSEM) (no privilege needed) detaches the process
//    from its SEM_UNDO adjustments: the kernel applies them, so the lock is
//    free. The extension must say so.
$holder = Child::withLock($name, Lock::SEMAPHORE, [], '
    echo var_export($lock->acquire(2.0), true), "\n";
    fgets(STDIN);
    echo var_export(pcntl_unshare(' . CLONE_SYSVSEM_FLAG . '), true), " ", var_export($lock->isHeld(), true), "\n";
    fgets(STDIN);
    echo var_export($lock->release(), true), "\n";');
check('a process takes the lock', line_or_null($holder, 5.0) === 'true');
$holder->send('unshare');
[$unshared, $held] = explode(' ', (string) line_or_null($holder, 5.0)) + ['', ''];
check('it calls pcntl_unshare(CLONE_SYSVSEM)', $unshared === 'true');
check('then isHeld() is false', $held === 'false');
check('another process can take the lock (the kernel undid the hold)', $tryFromAnotherProcess() === 'true');
$holder->send('release');
check('and release() is false', line_or_null($holder, 5.0) === 'false');
$holder->wait();

// 2. pcntl_exec() with an argument PHP cannot convert throws before any
//    exec happens: the lock must stay with the script, and a waiter queued
//    meanwhile must not get it.
$holder = Child::withLock($name, Lock::SEMAPHORE, [], '
    echo var_export($lock->acquire(2.0), true), "\n";
    fgets(STDIN);
    try {
        pcntl_exec("/bin/true", [new stdClass()]);
        echo "no exception\n";
    } catch (Throwable $e) {
        echo get_class($e), ": ", $e->getMessage(), "\n";
    }
    echo var_export($lock->isHeld(), true), "\n";
    fgets(STDIN);
    echo var_export($lock->release(), true), "\n";');
check('a process takes the lock', line_or_null($holder, 5.0) === 'true');
$waiter = Child::withLock($name, Lock::SEMAPHORE, [], '
    echo "waiting\n";
    echo var_export($lock->acquire(1.5), true), "\n";');
line_or_null($waiter, 5.0);
usleep(300000); // the waiter is queued in semtimedop() by now
$holder->send('exec');
$thrown = (string) line_or_null($holder, 5.0);
check('pcntl_exec() throws before exec\'ing', str_starts_with($thrown, 'Error: Object of class stdClass could not be converted to string'), $thrown);
check('the script still holds the lock', line_or_null($holder, 5.0) === 'true');
$waited = line_or_null($waiter, 5.0);
check('the queued waiter did not get it', $waited === 'false', (string) $waited);
$waiter->wait();
$holder->send('release');
check('release() is true', line_or_null($holder, 5.0) === 'true');
$holder->wait();
?>
--EXPECT--
ok a process takes the lock
ok it calls pcntl_unshare(CLONE_SYSVSEM)
ok then isHeld() is false
ok another process can take the lock (the kernel undid the hold)
ok and release() is false
ok a process takes the lock
ok pcntl_exec() throws before exec'ing
ok the script still holds the lock
ok the queued waiter did not get it
ok release() is true
