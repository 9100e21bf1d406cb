--TEST--
Forked children and signals cannot break the mysql backend's promise
--EXTENSIONS--
exakat_lock
pcntl
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
?>
--FILE--
<?php
require __DIR__ . '/_contract.inc';
contract_pcntl('mysql', __FILE__);
?>
--EXPECT--
ok acquire() takes it
ok a forked child neither holds, releases nor takes it
ok the parent still holds it after the child exited
ok and other processes still cannot take it
ok when the parent exits first, its forked child does not keep it
ok a program started with pcntl_exec() does not keep it
ok a failed pcntl_exec() returns false
ok and the script still holds the lock
ok signals reach the script during a wait
ok signals neither shorten nor lengthen the wait
