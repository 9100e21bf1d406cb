--TEST--
Inside a synchronized() callback on mysql, debug_backtrace() does not show the DSN's password
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
?>
--FILE--
<?php
require __DIR__ . '/_common.inc';

$password = urldecode(parse_url(test_mysql_dsn(), PHP_URL_PASS));
var_dump($password !== '');
// The callback captures nothing, so only the call's own arguments could show it.
$trace = ExakatLock\Lock::synchronized(test_lock_name(__FILE__), fn () => debug_backtrace(), 5.0, 'mysql', ['dsn' => test_mysql_dsn()]);
echo 'arguments of synchronized() seen: ', count($trace[1]['args'] ?? []), "\n";
echo 'password ', str_contains(print_r($trace, true), $password) ? 'SHOWN' : 'hidden', "\n";
?>
--EXPECT--
bool(true)
arguments of synchronized() seen: 5
password hidden
