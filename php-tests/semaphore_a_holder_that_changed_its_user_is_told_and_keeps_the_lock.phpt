--TEST--
semaphore: a holder that changed its user (posix_seteuid) gets LockException from isHeld() and release() and keeps the lock, cannot pcntl_exec() it away to another program, and nobody loops asking who holds a set they may not read
--EXTENSIONS--
exakat_lock
pcntl
--SKIPIF--
<?php
require __DIR__ . '/_hostile.inc';
if (test_euid() !== 0) die('skip needs root: the holder changes its user to nobody and back');
if (attacker_extension_args(['posix']) === null) die('skip the posix extension is not available');
?>
--FILE--
<?php
require __DIR__ . '/_hostile.inc';

use ExakatLock\Lock;

$name = test_lock_name(__FILE__);
$withPosix = fn (string $code) => Child::command(array_merge(
    test_php_command(),
    attacker_extension_args(['posix']),
    ['-r', '$lock = new ExakatLock\Lock(' . var_export($name, true) . ', "semaphore");
        function answer(callable $call): void {
            try {
                echo var_export($call(), true), "\n";
            } catch (ExakatLock\LockException $e) {
                echo "LockException: ", $e->getMessage(), "\n";
            }
        }' . $code]
));
$tryFromAnotherProcess = function () use ($name): string {
    $other = Child::withLock($name, Lock::SEMAPHORE, [], 'echo var_export($lock->acquire(), true), "\n";');
    $line = line_or_null($other, 5.0) ?? 'no answer';
    $other->wait();
    return $line;
};

$holder = $withPosix('
    answer(fn () => $lock->acquire());
    posix_seteuid(65534);
    answer(fn () => $lock->isHeld());
    answer(fn () => $lock->release());
    answer(fn () => $lock->holder());
    usleep(20000); // past the 10 ms in which a checked set is not looked at again
    answer(fn () => $lock->holder());
    fgets(STDIN);
    answer(fn () => pcntl_exec("/bin/true"));
    posix_seteuid(0);
    echo var_export($lock->isHeld(), true), " ", var_export($lock->release(), true), "\n";
    answer(fn () => $lock->acquire());
    // The same through the functions: exakat_unlock() keeps what it could not free.
    answer(fn () => exakat_lock(' . var_export("$name-function", true) . ', 0, "semaphore"));
    posix_seteuid(65534);
    answer(fn () => exakat_unlock(' . var_export("$name-function", true) . '));
    posix_seteuid(0);
    answer(fn () => exakat_unlock(' . var_export("$name-function", true) . '));
    posix_seteuid(65534);
    echo "ends holding the lock, as nobody\n";');
check('a process takes the lock', line_or_null($holder, 5.0) === 'true');
$told = fn (string $what, string $pattern) => check($what, preg_match($pattern, (string) ($line = line_or_null($holder, 5.0))) === 1, (string) $line);
$told('once it changed its user, isHeld() throws: it cannot tell', '/^LockException: .*its user changed since it took the lock/');
$told('so does release(), which cannot give the lock back', '/^LockException: .*its user changed since it took the lock/');
$told('holder() says the set is another user\'s, at once', '/^LockException: .*the set belongs to another user/');
$told('and again once the set is looked at anew', '/^LockException: .*the set belongs to another user/');
check('the lock is still held: another process cannot take it', $tryFromAnotherProcess() === 'false');

$asker = $withPosix('
    posix_seteuid(65534);
    answer(fn () => $lock->holder());');
check('another process, as nobody, is told at once that it may not read the set', preg_match('/^LockException: .*the set belongs to another user/', (string) ($line = line_or_null($asker, 5.0))) === 1, (string) $line);
$asker->wait();

$holder->send('exec');
$told('pcntl_exec() throws instead of handing the lock to /bin/true', '/^LockException: pcntl_exec\(\): the semaphore lock with key 0x[0-9a-f]{8} cannot be given back before the exec/');
check('back to root, it still holds the lock, and releases it', line_or_null($holder, 5.0) === 'true true');
check('it takes the lock again', line_or_null($holder, 5.0) === 'true');
check('exakat_lock() takes another', line_or_null($holder, 5.0) === 'true');
$told('exakat_unlock() throws once the user changed', '/^LockException: .*its user changed since it took the lock/');
check('and frees it once the user is back', line_or_null($holder, 5.0) === 'true');
check('and ends holding it, as nobody', line_or_null($holder, 5.0) === 'ends holding the lock, as nobody');
check('its end comes at once (no loop in the destructor)', $holder->endsWithin(5.0));
check('and frees the lock', $tryFromAnotherProcess() === 'true');
$holder->wait();
?>
--EXPECT--
ok a process takes the lock
ok once it changed its user, isHeld() throws: it cannot tell
ok so does release(), which cannot give the lock back
ok holder() says the set is another user's, at once
ok and again once the set is looked at anew
ok the lock is still held: another process cannot take it
ok another process, as nobody, is told at once that it may not read the set
ok pcntl_exec() throws instead of handing the lock to /bin/true
ok back to root, it still holds the lock, and releases it
ok it takes the lock again
ok exakat_lock() takes another
ok exakat_unlock() throws once the user changed
ok and frees it once the user is back
ok and ends holding it, as nobody
ok its end comes at once (no loop in the destructor)
ok and frees the lock
