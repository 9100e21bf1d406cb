--TEST--
mysql: a wait outlasts the server's statement time limit (MariaDB max_statement_time, MySQL max_execution_time)
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
if (!getenv('EXAKAT_LOCK_TEST_MARIADB_DIR')) die('skip needs a server whose statement time limit this test may set: set EXAKAT_LOCK_TEST_MARIADB_DIR (scripts/test-mysql.sh)');
if (test_mysql_client_program() === null) die('skip neither the mariadb nor the mysql client is installed');
?>
--CONFLICTS--
all
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

$admin = test_mysql_admin_client();
$mariadb = str_contains(test_mysql_query('SELECT VERSION()', $admin), 'MariaDB');
// MariaDB counts seconds, MySQL milliseconds (SELECTs only).
$setting = $mariadb ? 'max_statement_time' : 'max_execution_time';
$limit = $mariadb ? '1' : '1000';
$before = test_mysql_query("SELECT @@GLOBAL.$setting", $admin);
$restore = function () use ($admin, $setting, $before) {
    test_mysql_query("SET GLOBAL $setting = $before", $admin);
};
register_shutdown_function($restore);
test_mysql_query("SET GLOBAL $setting = $limit", $admin);

$name = test_lock_name(__FILE__);
$options = test_options('mysql');
$holder = Child::withLock($name, Lock::MYSQL, $options, 'echo var_export($lock->acquire(), true), "\n"; fgets(STDIN); usleep(2500000); $lock->release(); echo "released\n"; fgets(STDIN);');
check('another process holds it', $holder->line() === 'true');
$lock = new Lock($name, Lock::MYSQL, $options);
$holder->send('go');
$started = microtime(true);
try {
    $taken = var_export($lock->acquire(6.0), true);
} catch (ExakatLock\LockException $e) {
    $taken = get_class($e) . ': ' . $e->getMessage();
}
$waited = microtime(true) - $started;
check("a wait longer than the server's statement time limit gets the lock when it is released", $taken === 'true' && $waited > 2.0, sprintf('%s after %.2f s', $taken, $waited));
check('release() frees it', $lock->release() === true);
$holder->send('done');
$holder->wait();
$restore();

?>
--EXPECT--
ok another process holds it
ok a wait longer than the server's statement time limit gets the lock when it is released
ok release() frees it
