--TEST--
The exakat_lock.* INI entries refuse bad values and are used by new locks
--EXTENSIONS--
exakat_lock
--ENV--
EXAKAT_LOCK_MYSQL_DSN=
EXAKAT_LOCK_MYSQL_DSN_FILE=
--FILE--
<?php
use ExakatLock\Lock;

foreach (['default_backend', 'dir', 'tcp_port_range', 'mysql_dsn', 'mysql_dsn_file'] as $entry) {
    var_dump(ini_get("exakat_lock.$entry"));
}
// Bad values are refused, and the old value stays.
var_dump(
    ini_set('exakat_lock.default_backend', 'nope'),
    ini_set('exakat_lock.tcp_port_range', '10-5'),
    ini_set('exakat_lock.tcp_port_range', '0-10'),
    ini_set('exakat_lock.tcp_port_range', 'all'),
    ini_set('exakat_lock.mysql_dsn', 'postgres://u:p@db/x'),
    ini_set('exakat_lock.dir', "/tmp\0/elsewhere"),
    ini_set('exakat_lock.mysql_dsn_file', "/run/secrets/dsn\0x"),
    ini_get('exakat_lock.default_backend'),
    ini_get('exakat_lock.tcp_port_range'),
    ini_get('exakat_lock.dir'),
    ini_get('exakat_lock.mysql_dsn_file'),
);
// The `dir` option is checked alike where locks are listed.
try {
    exakat_lock_list('flock', ['dir' => "/tmp\0"]);
    echo "no exception\n";
} catch (\ValueError $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}

ini_set('exakat_lock.default_backend', 'semaphore');
var_dump((new Lock('x'))->backend());

$dir = sys_get_temp_dir() . '/exakat_lock-ini-' . getmypid();
mkdir($dir, 0700);
ini_set('exakat_lock.dir', $dir);
$flock = new Lock('ini-dir', 'flock');
$flock->acquire();
var_dump($flock->holder()['path'] === "$dir/exakat_lock.ini-dir.lock");
$flock->release();
unlink("$dir/exakat_lock.ini-dir.lock");
rmdir($dir);

ini_set('exakat_lock.tcp_port_range', '47000-47000');
$tcp = new Lock('any-name', 'tcp');
$tcp->acquire();
var_dump($tcp->holder()['port']);
$tcp->release();

ini_set('exakat_lock.mysql_dsn', 'mysql://u:p@127.0.0.1:1/x');
var_dump(in_array('mysql', exakat_lock_backends(), true));
?>
--EXPECT--
string(4) "auto"
string(0) ""
string(11) "61000-65535"
string(0) ""
string(0) ""
bool(false)
bool(false)
bool(false)
bool(false)
bool(false)
bool(false)
bool(false)
string(4) "auto"
string(11) "61000-65535"
string(0) ""
string(0) ""
ValueError: exakat_lock_list(): Argument #2 ($options) option "dir" must not contain any null bytes
string(9) "semaphore"
bool(true)
int(47000)
bool(true)
