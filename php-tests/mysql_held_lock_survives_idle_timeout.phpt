--TEST--
mysql: a held lock survives its session idling past the server's wait_timeout; another process still cannot take it
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
if (!getenv('EXAKAT_LOCK_TEST_MARIADB_DIR')) die('skip needs a server whose wait_timeout this test may lower: set EXAKAT_LOCK_TEST_MARIADB_DIR (scripts/test-mysql.sh)');
if (test_mysql_client_program() === null) die('skip neither the mariadb nor the mysql client is installed');
?>
--CONFLICTS--
all
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

$admin = test_mysql_admin_client();
[$waitTimeout, $interactiveTimeout] = explode("\t", test_mysql_query('SELECT @@GLOBAL.wait_timeout, @@GLOBAL.interactive_timeout', $admin));
$restore = function () use ($admin, $waitTimeout, $interactiveTimeout) {
    test_mysql_query("SET GLOBAL wait_timeout = $waitTimeout, interactive_timeout = $interactiveTimeout", $admin);
};
register_shutdown_function($restore);

$name = test_lock_name(__FILE__);
$options = test_options('mysql');

// New sessions start with the global values: the lock's session would be
// ended by the server after 2 idle seconds, taking the lock with it.
test_mysql_query('SET GLOBAL wait_timeout = 2, interactive_timeout = 2', $admin);
$lock = new Lock($name, Lock::MYSQL, $options);
check('acquire() takes it', $lock->acquire() === true);
$restore();

sleep(4);
$other = Child::withLock($name, Lock::MYSQL, $options, 'echo $lock->acquire() ? "taken" : "busy", " ", $lock->holder()["pid"] ?? "", "\n";');
check('after 4 idle seconds another process still cannot take it, and names us', ($line = $other->line()) === 'busy ' . getmypid(), $line);
$other->wait();
check('isHeld() is still true', $lock->isHeld() === true);
check('release() frees it', $lock->release() === true);
?>
--EXPECT--
ok acquire() takes it
ok after 4 idle seconds another process still cannot take it, and names us
ok isHeld() is still true
ok release() frees it
