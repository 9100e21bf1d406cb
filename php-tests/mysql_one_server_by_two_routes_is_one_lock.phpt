--TEST--
mysql: one server reached by two addresses (or its socket) is one lock space, so an endless wait on our own lock throws
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
if (!str_contains(test_mysql_dsn(), '@127.0.0.1:')) die('skip the test server is not on 127.0.0.1');
if ((string) getenv('EXAKAT_LOCK_TEST_MARIADB_DIR') === '') die('skip needs the server scripts/test-mysql.sh starts (127.0.0.2 and its socket): EXAKAT_LOCK_TEST_MARIADB_DIR');
?>
--FILE--
<?php
require __DIR__ . '/_common.inc';
use ExakatLock\{Lock, LockException};

$name = test_lock_name(__FILE__);
$dsn = test_mysql_dsn();
// The test server also listens on 127.0.0.2; and on its socket.
$routes = ['127.0.0.2' => str_replace('@127.0.0.1:', '@127.0.0.2:', $dsn)];
$routes['socket'] = preg_replace('~@127\.0\.0\.1:\d+/?~', '@localhost/', $dsn) . '?socket=' . getenv('EXAKAT_LOCK_TEST_MARIADB_DIR') . '/mysqld.sock';
$holder = new Lock($name, Lock::MYSQL, ['dsn' => $dsn]);
check('held over 127.0.0.1', $holder->acquire());
foreach ($routes as $route => $other) {
    $waiter = new Lock($name, Lock::MYSQL, ['dsn' => $other]);
    $started = microtime(true);
    try {
        $waiter->acquire(Lock::WAIT_FOREVER);
        check("an endless wait over $route throws", false, 'it took the lock');
    } catch (LockException $e) {
        check("an endless wait over $route throws at once",
            microtime(true) - $started < 5 && str_contains($e->getMessage(), 'another Lock object of this process holds it'),
            $e->getMessage());
    }
    check("a bounded wait over $route times out", $waiter->acquire(0.2) === false);
}
check('released', $holder->release());
$waiter = new Lock($name, Lock::MYSQL, ['dsn' => $routes['127.0.0.2']]);
check('free again: an endless wait takes it', $waiter->acquire(Lock::WAIT_FOREVER));
?>
--EXPECT--
ok held over 127.0.0.1
ok an endless wait over 127.0.0.2 throws at once
ok a bounded wait over 127.0.0.2 times out
ok an endless wait over socket throws at once
ok a bounded wait over socket times out
ok released
ok free again: an endless wait takes it
