--TEST--
mysql: an object that holds nothing and whose session died (KILL) connects again on its next acquire() or holder(), without an exception
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
if (test_mysql_client_program() === null) die('skip neither the mariadb nor the mysql client is installed');
?>
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;
use ExakatLock\LockException;

$name = test_lock_name(__FILE__);
$options = test_options('mysql');
$killer = test_mysql_admin_client();

/** The connection id of $lock's session: take it, read it, give it back. */
function session_of(Lock $lock): int
{
    $lock->acquire();
    $id = $lock->holder()['connection_id'];
    $lock->release();
    return $id;
}

/** KILLs a session; true once the server no longer lists it (within 10 s). */
function kill_session(int $id, array $killer): bool
{
    test_mysql_query("KILL CONNECTION $id", $killer);
    for ($deadline = hrtime(true) + 10e9; hrtime(true) < $deadline; usleep(10000)) {
        if (test_mysql_query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = $id", $killer) === '0') {
            return true;
        }
    }
    return false;
}

function attempt(callable $step): string
{
    try {
        return var_export($step(), true);
    } catch (LockException $e) {
        return get_class($e) . ': ' . $e->getMessage();
    }
}

$lock = new Lock($name, Lock::MYSQL, $options);
$first = session_of($lock);
check('KILL ends the idle session of an object that holds nothing', kill_session($first, $killer));
check('acquire() connects again and takes the lock', ($result = attempt(fn () => $lock->acquire())) === 'true', $result);
$second = $lock->holder()['connection_id'] ?? null;
check('on a new session', is_int($second) && $second !== $first, var_export($second, true));
check('isHeld() is true', $lock->isHeld() === true);
check('release() frees it', $lock->release() === true);

// holder() the same way, while someone else holds the lock.
check('KILL ends the idle session again', kill_session($second ?? 0, $killer));
$other = Child::withLock($name, Lock::MYSQL, $options, '
    echo $lock->acquire() ? "taken" : "busy", "\n";
    fgets(STDIN);');
check('another process takes it', $other->line() === 'taken');
$holder = attempt(fn () => $lock->holder()['pid'] ?? null);
check('holder() connects again and names the other process', $holder === (string) $other->pid(), $holder);
check('a bounded acquire() on that session waits and fails', $lock->acquire(0.2) === false);
$other->send('exit');
$other->wait();
check('and acquire() takes it once the other process is gone', $lock->acquire(5.0) === true && $lock->release());
?>
--EXPECT--
ok KILL ends the idle session of an object that holds nothing
ok acquire() connects again and takes the lock
ok on a new session
ok isHeld() is true
ok release() frees it
ok KILL ends the idle session again
ok another process takes it
ok holder() connects again and names the other process
ok a bounded acquire() on that session waits and fails
ok and acquire() takes it once the other process is gone
