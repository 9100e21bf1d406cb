--TEST--
exakat_lock_backends() lists the usable backends, best first, and auto means the first
--EXTENSIONS--
exakat_lock
--ENV--
EXAKAT_LOCK_MYSQL_DSN=
EXAKAT_LOCK_MYSQL_DSN_FILE=
--FILE--
<?php
use ExakatLock\Lock;

var_dump(exakat_lock_backends());
var_dump((new Lock('x'))->backend(), (new Lock('x', Lock::AUTO))->backend());
foreach ([Lock::SOCKET, Lock::TCP, Lock::SEMAPHORE, Lock::FLOCK] as $backend) {
    echo (new Lock('x', $backend))->backend(), "\n";
}
// mysql is listed once a server is configured, and never chosen by auto.
ini_set('exakat_lock.mysql_dsn', 'mysql://u:p@127.0.0.1/x');
$backends = exakat_lock_backends();
var_dump(end($backends), (new Lock('x'))->backend());
// The configured default backend comes first, so auto stays "the first".
ini_set('exakat_lock.default_backend', 'flock');
var_dump(exakat_lock_backends()[0], (new Lock('x'))->backend());
// Without a DSN, mysql cannot be used, and says why.
ini_restore('exakat_lock.mysql_dsn');
try {
    new Lock('x', 'mysql');
} catch (ExakatLock\LockException $e) {
    echo $e->getMessage(), "\n";
}
?>
--EXPECTF--
array(4) {
  [0]=>
  string(6) "socket"
  [1]=>
  string(9) "semaphore"
  [2]=>
  string(5) "flock"
  [3]=>
  string(3) "tcp"
}
string(6) "socket"
string(6) "socket"
socket
tcp
semaphore
flock
string(5) "mysql"
string(6) "socket"
string(5) "flock"
string(5) "flock"
Lock "x" (mysql backend): the backend cannot be used here: no server configured: give the "dsn" or "dsn_file" option, or set exakat_lock.mysql_dsn, exakat_lock.mysql_dsn_file, EXAKAT_LOCK_MYSQL_DSN or EXAKAT_LOCK_MYSQL_DSN_FILE
