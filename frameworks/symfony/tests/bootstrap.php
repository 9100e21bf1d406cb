<?php
// For phpunit: the classes, and the test case the store tests share.
// EXAKAT_LOCK_SO names the extension, which child processes load too.
require_once __DIR__ . '/autoload.php';
require_once __DIR__ . '/ExakatLockStoreTestCase.php';
if (!extension_loaded('exakat_lock') || !is_file((string) getenv('EXAKAT_LOCK_SO'))) {
    fwrite(STDERR, "run with EXAKAT_LOCK_SO=/path/to/exakat_lock.so php -d extension=\$EXAKAT_LOCK_SO phpunit\n");
    exit(1);
}
