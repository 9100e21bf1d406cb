--TEST--
phpinfo() shows the version, the PHP it was built for, the usable backends and the INI values, with the DSN's password masked
--EXTENSIONS--
exakat_lock
--INI--
exakat_lock.mysql_dsn="mysql://app:pa55word@db.example:3307/locks"
exakat_lock.mysql_dsn_file="/run/secrets/lock-dsn"
--FILE--
<?php
ob_start();
(new ReflectionExtension('exakat_lock'))->info();
$info = ob_get_clean();
echo $info;
var_dump(str_contains($info, 'pa55word'));
// The PHP the .so was built for is this one: same minor version, module API
// (the number in every extension directory's name), thread safety and mode.
preg_match('/\d{8}/', PHP_EXTENSION_DIR, $api);
$builtFor = sprintf('/^Built for => PHP %d\.%d\.\d+\S*, module API %s, %s%s$/m', PHP_MAJOR_VERSION, PHP_MINOR_VERSION,
    $api[0] ?? '?', PHP_ZTS ? 'ZTS' : 'NTS', PHP_DEBUG ? ', debug' : '');
var_dump(preg_match($builtFor, $info) === 1);
?>
--EXPECTF--
exakat_lock

exakat_lock support => enabled
Version => %d.%d.%d
Built for => PHP %s, module API %d, %s
Built with => rustc %s for %s
Backends usable here => socket, semaphore, flock, tcp, mysql
MySQL backend => compiled in

Directive => Local Value => Master Value
exakat_lock.default_backend => auto => auto
exakat_lock.dir => no value => no value
exakat_lock.tcp_port_range => 61000-65535 => 61000-65535
exakat_lock.mysql_dsn => mysql://app:****@db.example:3307/locks => mysql://app:****@db.example:3307/locks
exakat_lock.mysql_dsn_file => /run/secrets/lock-dsn => /run/secrets/lock-dsn
bool(false)
bool(true)
