--TEST--
Lock::__construct() names the bad backend, the unknown option key and the valid keys
--EXTENSIONS--
exakat_lock
--FILE--
<?php
use ExakatLock\Lock;

$cases = [
    ['x', 'Flock'],
    ['x', 'flock', ['prot' => 1]],
    ['x', 'socket', ['dir' => '/tmp']],
    ['x', 'tcp', [8080]],
    ['x', 'tcp', ['port' => '8080']],
    ['x', 'tcp', ['port' => 0]],
    ['x', 'tcp', ['port' => 65536]],
    ['x', 'tcp', ['host' => 'example.com']],
    ['x', 'semaphore', ['key' => 0]],
    ['x', 'semaphore', ['key' => -1]],
    ['x', 'semaphore', ['key' => 1 << 40]],
    ['x', 'semaphore', ['key' => 1.5]],
    ['x', 'flock', ['dir' => '']],
    ['x', 'flock', ['path' => "a\0b"]],
    ['x', 'flock', ['path' => '/tmp/a.lock', 'dir' => '/tmp']],
    ['x', 'flock', ['dir' => []]],
    ['x', 'mysql', ['dsn' => 'postgres://u:p@db/x']],
    ['x', 'mysql', ['dsn' => 'mysql://u:secret@db:0/x']],
    ['x', 'mysql', ['dsn' => 'mysql://u@db', 'connect_timeout' => 0]],
    ['x', 'mysql', ['dsn' => 'mysql://u@db', 'connect_timeout' => INF]],
    ['x', 'mysql', ['dsn' => 'mysql://u@db?ssl-mode=VERIFY_IDENTITY&ssl-mode=DISABLED']],
    ['x', 'mysql', ['dsn' => 'mysql://u@db', 'connect_timeout' => 'soon']],
];
foreach ($cases as $args) {
    try {
        new Lock(...$args);
        echo "accepted\n";
    } catch (Error $e) {
        echo get_class($e), ': ', $e->getMessage(), "\n";
    }
}
// null means "not given", so configuration arrays can pass optional values through.
var_dump((new Lock('x', 'tcp', ['port' => null, 'host' => null]))->backend());
?>
--EXPECT--
ValueError: ExakatLock\Lock::__construct(): Argument #2 ($backend) must be one of "auto", "socket", "tcp", "semaphore", "flock" or "mysql", "Flock" given
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) contains unknown option "prot" for the flock backend; valid options are "dir", "path", "slots"
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) contains unknown option "dir" for the socket backend; valid options are "slots"
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) contains unknown option "0" for the tcp backend; valid options are "port", "host", "slots"
TypeError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "port" must be of type int, string given
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "port" must be between 1 and 65535, 0 given
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "port" must be between 1 and 65535, 65536 given
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "host" must be an IPv4 or IPv6 address such as "127.0.0.1" or "::1", "example.com" given
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "key" must be a 32-bit SysV key other than 0 (IPC_PRIVATE) and -1 (what a failed ftok() returns), 0 given
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "key" must be a 32-bit SysV key other than 0 (IPC_PRIVATE) and -1 (what a failed ftok() returns), -1 given
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "key" must be a 32-bit SysV key other than 0 (IPC_PRIVATE) and -1 (what a failed ftok() returns), 1099511627776 given
TypeError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "key" must be of type int, float given
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "dir" must not be empty
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "path" must not contain any null bytes
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) must not give both "path" and "dir": "path" names the lock file itself
TypeError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "dir" must be of type string, array given
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "dsn" must start with "mysql://" (mysql://user:password@host:port/database)
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "dsn" has an invalid port (1 to 65535 expected)
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "connect_timeout" must be more than 0 and at most 31536000 seconds (a year, the server's own limit), 0 given
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "connect_timeout" must be more than 0 and at most 31536000 seconds (a year, the server's own limit), INF given
ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "dsn" gives "ssl-mode" more than once
TypeError: ExakatLock\Lock::__construct(): Argument #3 ($options) option "connect_timeout" must be of type int|float, string given
string(3) "tcp"
