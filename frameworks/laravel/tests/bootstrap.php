<?php
// Debian's php-laravel-framework and phpunit, and this package's classes: no
// Composer needed. EXAKAT_LOCK_SO names the extension, which child processes load too.
require_once '/usr/share/php/Illuminate/autoload.php';
foreach (['ExakatLockStore', 'ExakatLockLock'] as $class) {
    require_once __DIR__ . "/../src/$class.php";
}
if (!extension_loaded('exakat_lock') || !is_file((string) getenv('EXAKAT_LOCK_SO'))) {
    fwrite(STDERR, "run with EXAKAT_LOCK_SO=/path/to/exakat_lock.so php -d extension=\$EXAKAT_LOCK_SO phpunit\n");
    exit(1);
}
