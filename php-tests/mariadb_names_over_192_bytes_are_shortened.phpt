--TEST--
MariaDB (the mysql backend): a name of 49 four-byte characters (196 bytes, over MariaDB's 192) is shortened, and can be locked
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
if (!getenv('EXAKAT_LOCK_TEST_MARIADB_DIR')) die('skip needs to ask the server what it is: set EXAKAT_LOCK_TEST_MARIADB_DIR (scripts/test-mysql.sh)');
if (test_mysql_client_program() === null) die('skip neither the mariadb nor the mysql client is installed');
if (!str_contains(test_mysql_query('SELECT VERSION()', test_mysql_admin_client()), 'MariaDB')) die('skip MariaDB only: MySQL refuses four-byte characters in lock names over this connection (ERROR 3057), shortened or not');
?>
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

$options = test_options('mysql');
$emoji = str_repeat("\u{1F512}", 49);
$long = new Lock($emoji, Lock::MYSQL, $options);
try {
    $taken = var_export($long->acquire(), true);
} catch (ExakatLock\LockException $e) {
    $taken = $e->getMessage();
}
check('49 four-byte characters: acquire() takes it', $taken === 'true', $taken);
$other = Child::withLock($emoji, Lock::MYSQL, $options, 'echo var_export($lock->acquire(), true), "\n";');
check('and another process with the same name is refused', $other->line() === 'false');
$other->wait();
check('release() frees it', $long->release() === true);
?>
--EXPECT--
ok 49 four-byte characters: acquire() takes it
ok and another process with the same name is refused
ok release() frees it
