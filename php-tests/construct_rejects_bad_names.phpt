--TEST--
Lock::__construct() rejects bad names with \ValueError and wrong types with \TypeError
--EXTENSIONS--
exakat_lock
--FILE--
<?php
use ExakatLock\Lock;

foreach (['', "a\0b", str_repeat('x', 256)] as $name) {
    try {
        new Lock($name);
    } catch (ValueError $e) {
        echo get_class($e), ': ', $e->getMessage(), "\n";
    }
}
foreach ([[], new stdClass(), null] as $name) {
    try {
        new Lock($name);
    } catch (TypeError $e) {
        echo get_class($e), ': ', $e->getMessage(), "\n";
    }
}
// 1 and 255 bytes of anything but NUL are fine.
var_dump((new Lock('x'))->name(), strlen((new Lock(str_repeat("\xff", 255)))->name()));
// Weak mode coerces scalars, as PHP's own functions do.
var_dump((new Lock(42))->name(), (new Lock(1.5))->name());
?>
--EXPECT--
ValueError: ExakatLock\Lock::__construct(): Argument #1 ($name) must not be empty
ValueError: ExakatLock\Lock::__construct(): Argument #1 ($name) must not contain any null bytes
ValueError: ExakatLock\Lock::__construct(): Argument #1 ($name) must be at most 255 bytes long, 256 given
TypeError: ExakatLock\Lock::__construct(): Argument #1 ($name) must be of type string, array given
TypeError: ExakatLock\Lock::__construct(): Argument #1 ($name) must be of type string, stdClass given
TypeError: ExakatLock\Lock::__construct(): Argument #1 ($name) must be of type string, null given
string(1) "x"
int(255)
string(2) "42"
string(3) "1.5"
