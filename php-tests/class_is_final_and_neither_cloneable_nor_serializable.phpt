--TEST--
Lock is final, cannot be cloned, serialized or unserialized
--EXTENSIONS--
exakat_lock
--FILE--
<?php
use ExakatLock\Lock;

// Reflection's isCloneable() says true: ext-php-rs installs a clone handler
// that refuses, instead of none. What counts is that cloning fails.
var_dump((new ReflectionClass(Lock::class))->isFinal());
$lock = new Lock(basename(__FILE__) . getmypid());
$lock->acquire();
try {
    $copy = clone $lock;
} catch (Error $e) {
    echo $e->getMessage(), "\n";
}
try {
    serialize($lock);
} catch (Exception $e) {
    echo $e->getMessage(), "\n";
}
try {
    unserialize('O:15:"ExakatLock\Lock":0:{}');
} catch (Exception $e) {
    echo $e->getMessage(), "\n";
}
var_dump($lock->isHeld());
?>
--EXPECT--
bool(true)
Trying to clone an uncloneable object of class ExakatLock\Lock
Serialization of 'ExakatLock\Lock' is not allowed
Unserialization of 'ExakatLock\Lock' is not allowed
bool(true)
