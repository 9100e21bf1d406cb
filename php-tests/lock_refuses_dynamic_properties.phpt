--TEST--
Lock refuses dynamic properties: a mistyped property on a lock is an Error, not a silent new property
--EXTENSIONS--
exakat_lock
--FILE--
<?php
use ExakatLock\Lock;

$lock = new Lock(basename(__FILE__) . getmypid());
try {
    $lock->foo = 1;
    echo "a dynamic property was created\n";
} catch (Error $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
var_dump(isset($lock->foo), get_object_vars($lock));
// Still a working lock afterwards.
var_dump($lock->acquire(), $lock->isHeld(), $lock->release());
?>
--EXPECT--
Error: Cannot create dynamic property ExakatLock\Lock::$foo
bool(false)
array(0) {
}
bool(true)
bool(true)
bool(true)
