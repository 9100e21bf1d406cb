--TEST--
A mysql lock is the server's named lock: the command-line client sees PHP's, and PHP waits for the client's
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
if (test_mysql_client_program() === null) die('skip neither the mariadb nor the mysql client is installed');
?>
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

$name = test_lock_name(__FILE__);
$options = test_options('mysql');
$sqlName = "'" . addslashes($name) . "'";

// PHP holds it: the client sees PHP's connection as the holder.
$lock = new Lock($name, Lock::MYSQL, $options);
check('acquire() takes it', $lock->acquire() === true);
$holder = $lock->holder();
check('holder() gives the connection id and the name the server knows', is_int($holder['connection_id'] ?? null) && ($holder['lock_name'] ?? null) === $name, var_export($holder, true));
check("the command-line client's IS_USED_LOCK() names PHP's connection", test_mysql_query("SELECT IS_USED_LOCK($sqlName)") === (string) $holder['connection_id']);
check("and IS_FREE_LOCK() says it is taken", test_mysql_query("SELECT IS_FREE_LOCK($sqlName)") === '0');
check('release() frees it', $lock->release() === true);
check('the command-line client sees it free', test_mysql_query("SELECT IS_USED_LOCK($sqlName) IS NULL, IS_FREE_LOCK($sqlName)") === "1\t1");

// The client holds it with GET_LOCK() in a session kept open, fed line by line.
$client = Child::command(test_mysql_client());
$client->send("SELECT GET_LOCK($sqlName, 0), CONNECTION_ID();");
[$got, $clientConnection] = explode("\t", $client->line()) + [1 => ''];
check("the client's GET_LOCK() takes it", $got === '1');
check("acquire() fails while the client holds it", $lock->acquire() === false && !$lock->isHeld());
check("a bounded wait fails while the client holds it", $lock->acquire(0.2) === false);
$holder = $lock->holder();
check("holder() gives the client's connection id", ($holder['connection_id'] ?? null) === (int) $clientConnection, var_export($holder, true));
check("and the client's pid", ($holder['pid'] ?? null) === $client->pid(), var_export($holder, true));

// The client ends its session 150 ms after our go, printing the server's
// time just before it quits, while we wait in acquire(5).
$client->send('DO SLEEP(0.15); SELECT UNIX_TIMESTAMP(NOW(6));');
$client->endInput(); // MySQL's client knows no `quit` in batch mode
$started = hrtime(true);
$taken = $lock->acquire(5.0);
$acquiredAt = microtime(true);
$waited = (hrtime(true) - $started) / 1e6;
$quitAt = (float) $client->line();
$latency = ($acquiredAt - $quitAt) * 1000;
check('acquire(5) wakes within 100 ms of the end of the client session', $taken && $latency < 100, sprintf('taken: %s, %.1f ms', var_export($taken, true), $latency));
check('and had really waited', $waited >= 100, sprintf('%.1f ms', $waited));
check('the client ended cleanly', $client->wait() === 0);
check('the command-line client sees PHP holding it now', test_mysql_query("SELECT IS_USED_LOCK($sqlName)") === (string) $lock->holder()['connection_id']);
$lock->release();

// A name longer than MySQL's 64 characters is locked under a shorter mapped
// name, the same in every process.
$long = $name . '-' . str_repeat('long', 20);
$longLock = new Lock($long, Lock::MYSQL, $options);
check('acquire() takes a 100+ character name', strlen($long) > 64 && $longLock->acquire() === true);
$holder = $longLock->holder();
$mapped = $holder['lock_name'] ?? '';
check('holder() gives the mapped name, at most 64 characters', $mapped !== $long && preg_match("/^.{1,64}\z/su", $mapped) === 1 && str_starts_with($mapped, substr($long, 0, 30)), $mapped);
check('the command-line client sees the lock under the mapped name', test_mysql_query("SELECT IS_USED_LOCK('" . addslashes($mapped) . "')") === (string) $holder['connection_id']);
// MySQL refuses the long name outright (error 4163); MariaDB has it free.
try {
    $underLongName = test_mysql_query("SELECT IS_USED_LOCK('" . addslashes($long) . "') IS NOT NULL");
} catch (RuntimeException $e) {
    $underLongName = str_contains($e->getMessage(), 'ERROR 4163') ? 'refused' : $e->getMessage();
}
check('and not under the long name', in_array($underLongName, ['0', 'refused'], true), $underLongName);
$other = Child::withLock($long, Lock::MYSQL, $options, '
    echo $lock->acquire() ? "taken" : "busy", " ", $lock->holder()["lock_name"] ?? "", "\n";');
check('another process maps the long name the same way and cannot take it', $other->line() === "busy $mapped");
$other->wait();
$longLock->release();
check('the command-line client sees the mapped name free once released', test_mysql_query("SELECT IS_FREE_LOCK('" . addslashes($mapped) . "')") === '1');
?>
--EXPECT--
ok acquire() takes it
ok holder() gives the connection id and the name the server knows
ok the command-line client's IS_USED_LOCK() names PHP's connection
ok and IS_FREE_LOCK() says it is taken
ok release() frees it
ok the command-line client sees it free
ok the client's GET_LOCK() takes it
ok acquire() fails while the client holds it
ok a bounded wait fails while the client holds it
ok holder() gives the client's connection id
ok and the client's pid
ok acquire(5) wakes within 100 ms of the end of the client session
ok and had really waited
ok the client ended cleanly
ok the command-line client sees PHP holding it now
ok acquire() takes a 100+ character name
ok holder() gives the mapped name, at most 64 characters
ok the command-line client sees the lock under the mapped name
ok and not under the long name
ok another process maps the long name the same way and cannot take it
ok the command-line client sees the mapped name free once released
