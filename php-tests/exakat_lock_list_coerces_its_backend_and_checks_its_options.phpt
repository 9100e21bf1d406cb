--TEST--
exakat_lock_list()'s ?string $backend is coerced as every other string parameter is, without strict_types (a Stringable names a backend, an int is read as its digits: it took neither); a 'dir' it cannot read is a LockException and a 'dsn' is a server to ask with every backend (both listed nothing, unchecked)
--EXTENSIONS--
exakat_lock
--FILE--
<?php
use ExakatLock\Lock;

$flock = new class {
    public function __toString(): string
    {
        return 'flock';
    }
};
$name = 'coerced-' . getmypid();
$lock = new Lock($name, $flock);
$lock->acquire();
$listed = array_column(exakat_lock_list($flock), 'backend', 'name');
var_dump($listed[$name] ?? null);
$calls = [
    fn () => exakat_lock_list(5),
    fn () => new Lock($name, 5),
    fn () => exakat_lock_list([]),
    fn () => exakat_lock_list(null, ['dsn' => 'x']),
    fn () => exakat_lock_list('flock', ['dir' => __DIR__ . '/no-such-dir']),
    fn () => exakat_lock_list(null, ['dir' => __FILE__]),
];
foreach ($calls as $call) {
    try {
        $call();
    } catch (ValueError | TypeError | ExakatLock\LockException $e) {
        echo get_class($e), ': ', $e->getMessage(), "\n";
    }
}
?>
--EXPECTF--
string(5) "flock"
ValueError: exakat_lock_list(): Argument #1 ($backend) must be one of "auto", "socket", "tcp", "semaphore", "flock" or "mysql", "5" given
ValueError: ExakatLock\Lock::__construct(): Argument #2 ($backend) must be one of "auto", "socket", "tcp", "semaphore", "flock" or "mysql", "5" given
TypeError: exakat_lock_list(): Argument #1 ($backend) must be of type ?string, array given
ValueError: exakat_lock_list(): Argument #2 ($options) option "dsn" must start with "mysql://" (mysql://user:password@host:port/database)
ExakatLock\LockException: Lock "(every lock in %s/no-such-dir)" (flock backend): cannot list the lock files in %s/no-such-dir: No such file or directory (os error 2)
ExakatLock\LockException: Lock "(every lock in %s.php)" (flock backend): cannot list the lock files in %s.php: Not a directory (os error 20)
