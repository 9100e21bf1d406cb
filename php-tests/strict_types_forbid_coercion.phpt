--TEST--
Under strict_types, scalar arguments are not coerced
--EXTENSIONS--
exakat_lock
--FILE--
<?php
declare(strict_types=1);

use ExakatLock\Lock;

foreach ([fn () => new Lock(42), fn () => (new Lock('x'))->acquire('0.5'), fn () => exakat_lock('x', 0.0, 7), fn () => exakat_lock_list(7)] as $call) {
    try {
        $call();
        echo "accepted\n";
    } catch (TypeError $e) {
        echo $e->getMessage(), "\n";
    }
}
// An int for a float parameter is fine even in strict mode, as in PHP itself.
$lock = new Lock(basename(__FILE__) . getmypid());
var_dump($lock->acquire(0), $lock->release());
?>
--EXPECT--
ExakatLock\Lock::__construct(): Argument #1 ($name) must be of type string, int given
ExakatLock\Lock::acquire(): Argument #1 ($timeout) must be of type float, string given
exakat_lock(): Argument #3 ($backend) must be of type string, int given
exakat_lock_list(): Argument #1 ($backend) must be of type ?string, int given
bool(true)
bool(true)
