--TEST--
LockTimeoutException extends LockException extends RuntimeException, and both construct like any exception
--EXTENSIONS--
exakat_lock
--FILE--
<?php
use ExakatLock\LockException;
use ExakatLock\LockTimeoutException;

var_dump(get_parent_class(LockException::class), get_parent_class(LockTimeoutException::class));
$e = new LockTimeoutException('waited too long', 7, new RuntimeException('cause'));
var_dump($e->getMessage(), $e->getCode(), $e->getPrevious()->getMessage(), $e instanceof RuntimeException);
try {
    throw new LockException('thrown by user code');
} catch (RuntimeException $caught) {
    echo get_class($caught), ': ', $caught->getMessage(), "\n";
}
?>
--EXPECT--
string(16) "RuntimeException"
string(24) "ExakatLock\LockException"
string(15) "waited too long"
int(7)
string(5) "cause"
bool(true)
ExakatLock\LockException: thrown by user code
