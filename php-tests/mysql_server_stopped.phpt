--TEST--
When the MySQL server stops, a waiter gets a LockException at once and the holder's lock reads as lost; after a restart locks work again
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
if (!getenv('EXAKAT_LOCK_TEST_MARIADB_DIR')) die('skip needs a server this test may stop: set EXAKAT_LOCK_TEST_MARIADB_DIR (scripts/test-mysql.sh)');
if (test_mysql_client_program() === null) die('skip neither the mariadb nor the mysql client is installed');
?>
--CONFLICTS--
all
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;
use ExakatLock\LockException;

$server = getenv('EXAKAT_LOCK_TEST_MARIADB_DIR');
$script = dirname(__DIR__) . '/scripts/test-mysql.sh';
$password = urldecode(parse_url(test_mysql_dsn(), PHP_URL_PASS));

function server_answers(): bool
{
    try {
        return test_mysql_query('SELECT 1') === '1';
    } catch (RuntimeException $e) {
        return false;
    }
}

/** `scripts/test-mysql.sh stop|restart DIR`; true when it succeeded. */
function server_control(string $script, string $command, string $server): bool
{
    exec(escapeshellarg($script) . " $command " . escapeshellarg($server) . ' 2>&1', $out, $status);
    return $status === 0;
}

// Whatever happens below, leave the server running for the tests after this one.
register_shutdown_function(function () use ($script, $server) {
    if (!server_answers()) {
        server_control($script, 'restart', $server);
    }
});

$name = test_lock_name(__FILE__);
$options = test_options('mysql');
check('the server answers at first', server_answers());
$lock = new Lock($name, Lock::MYSQL, $options);
check('acquire() takes it', $lock->acquire() === true);

// Another process waits for it, for up to 60 s.
$waitingSessions = fn () => (int) test_mysql_query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE STATE = 'User lock'");
$othersWaiting = $waitingSessions();
$waiter = Child::withLock($name, Lock::MYSQL, $options, '
    echo "connected ", $lock->acquire() ? "taken" : "busy", "\n";
    try {
        $result = "acquire(60) returned " . var_export($lock->acquire(60), true);
    } catch (ExakatLock\LockException $e) {
        $result = get_class($e) . ": " . $e->getMessage();
    }
    echo hrtime(true), " ", $result, "\n";
    echo "isHeld() ", var_export($lock->isHeld(), true), "\n";');
check('the waiter connected and found it busy', $waiter->line() === 'connected busy');
// Wait until the server shows one more session waiting in GET_LOCK(): the
// waiter's (no other test runs beside this one: --CONFLICTS-- all).
$waiting = false;
for ($deadline = hrtime(true) + 10e9; !$waiting && hrtime(true) < $deadline; usleep(10000)) {
    $waiting = $waitingSessions() > $othersWaiting;
}
check('the server shows the waiter waiting in GET_LOCK()', $waiting);

$stoppedAt = hrtime(true);
check('the server stops', server_control($script, 'stop', $server) && !server_answers());
[$failedAt, $result] = explode(' ', $waiter->line(), 2);
$after = ((int) $failedAt - $stoppedAt) / 1e9;
check('the waiter gets a LockException', str_starts_with($result, 'ExakatLock\LockException: '), $result);
check('which names the lock, the backend and the server', str_contains($result, "\"$name\"") && str_contains($result, 'mysql backend') && str_contains($result, parse_url(test_mysql_dsn(), PHP_URL_HOST)), $result);
check('and not the password', !str_contains($result, $password), $result);
check('within 5 s of the stop, not at the end of its 60 s', $after < 5.0, sprintf('%.3f s', $after));
check("the waiter's isHeld() is false", $waiter->line() === 'isHeld() false');
check('the waiter ends cleanly', $waiter->wait() === 0);

$started = hrtime(true);
check("the holder's isHeld() is false", $lock->isHeld() === false);
check('release() is false, without throwing', $lock->release() === false);
try {
    $result = 'acquire() returned ' . var_export($lock->acquire(), true);
} catch (LockException $e) {
    $result = $e->getMessage();
}
check('acquire() while the server is down throws a LockException saying it cannot connect', str_contains($result, 'cannot connect'), $result);
check('and not the password', !str_contains($result, $password), $result);
check('all that at once', (hrtime(true) - $started) / 1e9 < 2.0);

// The server comes back: locks work again, for old objects and new.
check('the server restarts', server_control($script, 'restart', $server) && server_answers());
check('the old object takes it again', $lock->acquire() === true && $lock->isHeld());
$other = Child::withLock($name, Lock::MYSQL, $options, 'echo $lock->acquire() ? "taken" : "busy", " ", $lock->holder()["pid"] ?? "", "\n";');
check('another process cannot take it, and sees our pid', $other->line() === 'busy ' . getmypid());
$other->wait();
check('release() frees it', $lock->release() === true);
$fresh = new Lock($name, Lock::MYSQL, $options);
check('a new object takes it', $fresh->acquire() === true && $fresh->release());
?>
--CLEAN--
<?php
// Belt and braces with the shutdown function: the server must be up for what follows.
require __DIR__ . '/_common.inc';
try {
    test_mysql_query('SELECT 1');
} catch (RuntimeException $e) {
    exec(escapeshellarg(dirname(__DIR__) . '/scripts/test-mysql.sh') . ' restart ' . escapeshellarg(getenv('EXAKAT_LOCK_TEST_MARIADB_DIR')) . ' 2>&1');
}
?>
--EXPECT--
ok the server answers at first
ok acquire() takes it
ok the waiter connected and found it busy
ok the server shows the waiter waiting in GET_LOCK()
ok the server stops
ok the waiter gets a LockException
ok which names the lock, the backend and the server
ok and not the password
ok within 5 s of the stop, not at the end of its 60 s
ok the waiter's isHeld() is false
ok the waiter ends cleanly
ok the holder's isHeld() is false
ok release() is false, without throwing
ok acquire() while the server is down throws a LockException saying it cannot connect
ok and not the password
ok all that at once
ok the server restarts
ok the old object takes it again
ok another process cannot take it, and sees our pid
ok release() frees it
ok a new object takes it
