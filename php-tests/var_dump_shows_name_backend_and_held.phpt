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
object(ExakatLock\Lock)#1 (6) {
  ["name"]=>
  string(7) "dump-me"
  ["backend"]=>
  string(5) "flock"
  ["held"]=>
  bool(false)
  ["shared"]=>
  bool(false)
  ["slots"]=>
  int(1)
  ["resource"]=>
  string(%d) "lock file %s/exakat_lock.dump-me.lock"
}
object(ExakatLock\Lock)#1 (6) {
  ["name"]=>
  string(7) "dump-me"
  ["backend"]=>
  string(5) "flock"
  ["held"]=>
  bool(true)
  ["shared"]=>
  bool(false)
  ["slots"]=>
  int(1)
  ["resource"]=>
  string(%d) "lock file %s/exakat_lock.dump-me.lock"
}
object(ExakatLock\Lock)#2 (6) {
  ["name"]=>
  string(7) "dump-me"
  ["backend"]=>
  string(6) "socket"
  ["held"]=>
  bool(false)
  ["shared"]=>
  bool(false)
  ["slots"]=>
  int(1)
  ["resource"]=>
  string(36) "abstract socket @exakat_lock/dump-me"
}
