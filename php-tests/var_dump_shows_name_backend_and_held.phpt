--TEST--
var_dump() of a Lock shows its name, backend, resource and whether it is held
--EXTENSIONS--
exakat_lock
--FILE--
<?php
use ExakatLock\Lock;

$lock = new Lock('dump-me', 'flock', ['dir' => sys_get_temp_dir()]);
var_dump($lock);
$lock->acquire();
var_dump($lock);
$lock->release();
$socket = new Lock('dump-me', Lock::AUTO);
var_dump($socket);
?>
--EXPECTF--
object(ExakatLock\Lock)#1 (4) {
  ["name"]=>
  string(7) "dump-me"
  ["backend"]=>
  string(5) "flock"
  ["held"]=>
  bool(false)
  ["resource"]=>
  string(%d) "lock file %s/exakat_lock.dump-me.lock"
}
object(ExakatLock\Lock)#1 (4) {
  ["name"]=>
  string(7) "dump-me"
  ["backend"]=>
  string(5) "flock"
  ["held"]=>
  bool(true)
  ["resource"]=>
  string(%d) "lock file %s/exakat_lock.dump-me.lock"
}
object(ExakatLock\Lock)#2 (4) {
  ["name"]=>
  string(7) "dump-me"
  ["backend"]=>
  string(6) "socket"
  ["held"]=>
  bool(false)
  ["resource"]=>
  string(36) "abstract socket @exakat_lock/dump-me"
}
