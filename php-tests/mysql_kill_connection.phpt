--TEST--
A mysql lock whose connection is killed on the server reads as lost: isHeld(), release(), acquire() and exakat_lock() know it, others take it at once
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

$name = test_lock_name(__FILE__);
$options = test_options('mysql');

$killer = test_mysql_admin_client();

/** KILLs the session holding $lock from another session; true once the server no longer lists it (within 10 s). */
function kill_holder(Lock $lock, array $killer): bool
{
    $id = $lock->holder()['connection_id'];
    test_mysql_query("KILL CONNECTION $id", $killer);
    for ($deadline = hrtime(true) + 10e9; hrtime(true) < $deadline; usleep(10000)) {
        if (test_mysql_query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = $id", $killer) === '0') {
            return true;
        }
    }
    return false;
}

// isHeld() first, then release().
$lock = new Lock($name, Lock::MYSQL, $options);
check('acquire() takes it', $lock->acquire() === true && $lock->isHeld());
check('KILL ends its session', kill_holder($lock, $killer));
check('isHeld() is false once its connection is killed', $lock->isHeld() === false);
check('release() is false, without throwing', $lock->release() === false);
check('isHeld() stays false', $lock->isHeld() === false);
$other = Child::withLock($name, Lock::MYSQL, $options, '
    echo $lock->acquire() ? "taken" : "busy", "\n";
    fgets(STDIN);');
check('another process takes it at once', $other->line() === 'taken');
check('acquire() fails while the other process holds it', $lock->acquire() === false && $lock->holder()['pid'] === $other->pid());
$other->send('exit');
$other->wait();
check('the object takes it again on a new connection once it is free', $lock->acquire() === true && $lock->isHeld());
check('and releases it', $lock->release() === true && $lock->holder() === null);

// release() straight after the kill, without asking isHeld() first.
$lock = new Lock($name, Lock::MYSQL, $options);
check('acquire() takes it again', $lock->acquire() === true);
check('KILL ends its session again', kill_holder($lock, $killer));
check('release() right after the kill is false, without throwing', $lock->release() === false);
check('isHeld() is false', $lock->isHeld() === false);
$other = Child::withLock($name, Lock::MYSQL, $options, 'echo $lock->acquire() ? "taken" : "busy", "\n";');
check('another process takes it at once', $other->line() === 'taken');
$other->wait();

// acquire() on an object that believes it holds the lock asks the server:
// after the kill, with another process holding it, the answer is false.
$lock = new Lock($name, Lock::MYSQL, $options);
check('acquire() takes it once more', $lock->acquire() === true);
check('KILL ends its session once more', kill_holder($lock, $killer));
$other = Child::withLock($name, Lock::MYSQL, $options, '
    echo $lock->acquire() ? "taken" : "busy", "\n";
    fgets(STDIN);');
check('another process takes it at once', $other->line() === 'taken');
check('acquire() again is false: the lock was lost, not held already', $lock->acquire() === false);
$other->send('exit');
$other->wait();

// exakat_lock() asks the server the same way.
check('exakat_lock() takes it', exakat_lock($name, 0.0, Lock::MYSQL, $options));
test_mysql_query('KILL CONNECTION ' . exakat_lock_holder($name, Lock::MYSQL, $options)['connection_id'], $killer);
$other = Child::withLock($name, Lock::MYSQL, $options, '
    echo $lock->acquire(10.0) ? "taken" : "busy", "\n";
    fgets(STDIN);');
check('another process takes it once the session is gone', $other->line() === 'taken');
check('exakat_lock() again is false, not "held already"', exakat_lock($name, 0.0, Lock::MYSQL, $options) === false);
$other->send('exit');
$other->wait();
check('and true once the other process is gone', exakat_lock($name, 0.0, Lock::MYSQL, $options) && exakat_unlock($name));

// Destroying an object whose connection was killed is quiet too.
$lock = new Lock($name, Lock::MYSQL, $options);
check('acquire() takes it a third time', $lock->acquire() === true);
check('KILL ends its session a third time', kill_holder($lock, $killer));
unset($lock);
echo "destroyed quietly\n";
?>
--EXPECT--
ok acquire() takes it
ok KILL ends its session
ok isHeld() is false once its connection is killed
ok release() is false, without throwing
ok isHeld() stays false
ok another process takes it at once
ok acquire() fails while the other process holds it
ok the object takes it again on a new connection once it is free
ok and releases it
ok acquire() takes it again
ok KILL ends its session again
ok release() right after the kill is false, without throwing
ok isHeld() is false
ok another process takes it at once
ok acquire() takes it once more
ok KILL ends its session once more
ok another process takes it at once
ok acquire() again is false: the lock was lost, not held already
ok exakat_lock() takes it
ok another process takes it once the session is gone
ok exakat_lock() again is false, not "held already"
ok and true once the other process is gone
ok acquire() takes it a third time
ok KILL ends its session a third time
destroyed quietly
