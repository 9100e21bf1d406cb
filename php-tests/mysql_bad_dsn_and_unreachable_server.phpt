--TEST--
mysql: a malformed DSN is a ValueError, a refused login or an unreachable server a prompt LockException, and no message shows the password
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
?>
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;
use ExakatLock\LockException;

$name = test_lock_name(__FILE__);
$secret = 'Sekr1t-' . bin2hex(random_bytes(4));
$url = parse_url(test_mysql_dsn());
$server = "{$url['host']}:" . ($url['port'] ?? 3306);

/** Everything PHP shows of an attempt: the exception class and message, or the result. */
function attempt(callable $step): string
{
    try {
        return 'returned ' . var_export($step(), true);
    } catch (Throwable $e) {
        return get_class($e) . ': ' . $e->getMessage();
    }
}

function dump(Lock $lock): string
{
    ob_start();
    var_dump($lock);
    return ob_get_clean();
}

// Malformed DSNs: a ValueError naming $options and "dsn", never the password.
$malformed = [
    'another scheme' => "postgres://user:$secret@$server/db",
    'no scheme' => "user:$secret@$server",
    'a port that is not a number' => "mysql://user:$secret@{$url['host']}:port/db",
    'port 0' => "mysql://user:$secret@{$url['host']}:0/db",
    'no host' => "mysql://user:$secret@/db",
    'an unknown parameter' => "mysql://user:$secret@$server/db?ssl=$secret",
    'an empty string' => '',
];
foreach ($malformed as $what => $dsn) {
    $result = attempt(fn () => new Lock($name, Lock::MYSQL, ['dsn' => $dsn]));
    $ok = str_starts_with($result, 'ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options)') && str_contains($result, '"dsn"');
    check("a DSN with $what is a ValueError naming \$options and \"dsn\"", $ok, $result);
    check("a DSN with $what: the message does not show the password", !str_contains($result, $secret), $result);
}
// Passwords with characters a URL reserves, written without percent-encoding:
// the credentials end at the last "@", so the DSN parses and the server is
// asked with that (wrong) password; no piece of it may show.
[$head, $tail] = ['Ab3-' . bin2hex(random_bytes(3)), 'Cd4-' . bin2hex(random_bytes(3))];
foreach (['/', '?'] as $reserved) {
    $result = attempt(fn () => (new Lock($name, Lock::MYSQL, ['dsn' => "mysql://{$url['user']}:$head$reserved$tail@$server/"]))->acquire());
    check("a DSN whose password holds an unencoded \"$reserved\" reaches the server, which refuses it", str_starts_with($result, 'ExakatLock\LockException: ') && str_contains($result, 'Access denied'), $result);
    check("a DSN whose password holds an unencoded \"$reserved\": the message shows no piece of the password", !str_contains($result, $head) && !str_contains($result, $tail), $result);
}
// A malformed part after the host names no piece of the password either.
$result = attempt(fn () => new Lock($name, Lock::MYSQL, ['dsn' => "mysql://user:$head/$tail@$server:0/db"]));
check('a bad port after a password with "/" is a ValueError naming "dsn"', str_starts_with($result, 'ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options)') && str_contains($result, '"dsn"'), $result);
check('that shows no piece of the password', !str_contains($result, $head) && !str_contains($result, $tail), $result);
$result = attempt(fn () => exakat_lock($name, 0.0, 'mysql', ['dsn' => "postgres://user:$secret@$server/db"]));
check('exakat_lock() with a malformed DSN is a ValueError naming $options', str_starts_with($result, 'ValueError: exakat_lock(): Argument #4 ($options)') && !str_contains($result, $secret), $result);

// A wrong password: the server refuses the login.
$wrong = "mysql://{$url['user']}:$secret@$server/";
$lock = new Lock($name, Lock::MYSQL, ['dsn' => $wrong]);
$result = attempt(fn () => $lock->acquire());
check('a wrong password makes acquire() throw a LockException', str_starts_with($result, 'ExakatLock\LockException: '), $result);
check('which names the lock, the backend and the refusal', str_contains($result, "\"$name\"") && str_contains($result, 'mysql backend') && str_contains($result, 'Access denied'), $result);
check('and not the password', !str_contains($result, $secret), $result);
check('var_dump() of that lock does not show the password', !str_contains(dump($lock), $secret), dump($lock));
$result = attempt(fn () => $lock->holder());
check('holder() throws a LockException without the password too', str_starts_with($result, 'ExakatLock\LockException: ') && !str_contains($result, $secret), $result);
$result = attempt(fn () => Lock::synchronized($name, fn () => 'ran', 0.0, Lock::MYSQL, ['dsn' => $wrong]));
check('synchronized() throws a LockException without the password', str_starts_with($result, 'ExakatLock\LockException: ') && !str_contains($result, $secret), $result);

// Nothing listens on the port: refused at once.
$closed = test_options('tcp')['port'];
$lock = new Lock($name, Lock::MYSQL, ['dsn' => "mysql://user:$secret@127.0.0.1:$closed/", 'connect_timeout' => 0.5]);
$started = hrtime(true);
$result = attempt(fn () => $lock->acquire(10.0));
$took = (hrtime(true) - $started) / 1e9;
check('a closed port makes acquire(10) throw a LockException', str_starts_with($result, 'ExakatLock\LockException: ') && str_contains($result, "127.0.0.1:$closed"), $result);
check('at once', $took < 1.0, sprintf('%.3f s', $took));
check('and without the password', !str_contains($result, $secret) && !str_contains(dump($lock), $secret), $result);

// A server that accepts connections and never says a word: the kernel
// completes the handshake for this socket that nobody accept()s.
$silent = stream_socket_server('tcp://127.0.0.1:0');
$silentPort = (int) substr(strrchr(stream_socket_get_name($silent, false), ':'), 1);
$lock = new Lock($name, Lock::MYSQL, ['dsn' => "mysql://user:$secret@127.0.0.1:$silentPort/", 'connect_timeout' => 0.5]);
$started = hrtime(true);
$result = attempt(fn () => $lock->acquire(10.0));
$took = (hrtime(true) - $started) / 1e9;
check('a server that never speaks makes acquire(10) throw a LockException', str_starts_with($result, 'ExakatLock\LockException: ') && str_contains($result, "127.0.0.1:$silentPort"), $result);
check('within connect_timeout (0.5 s) and a margin', $took < 1.5, sprintf('%.3f s', $took));
check('and without the password', !str_contains($result, $secret) && !str_contains(dump($lock), $secret), $result);
fclose($silent);

// A blackhole address: nothing answers; the connect timeout bounds the attempt.
$lock = new Lock($name, Lock::MYSQL, ['dsn' => "mysql://user:$secret@10.255.255.1:3306/", 'connect_timeout' => 0.5]);
$started = hrtime(true);
$result = attempt(fn () => $lock->acquire(10.0));
$took = (hrtime(true) - $started) / 1e9;
check('an address that never answers makes acquire(10) throw a LockException', str_starts_with($result, 'ExakatLock\LockException: ') && str_contains($result, '10.255.255.1'), $result);
check('within connect_timeout (0.5 s) and a margin', $took < 1.5, sprintf('%.3f s', $took));
check('and without the password', !str_contains($result, $secret) && !str_contains(dump($lock), $secret), $result);
$result = attempt(fn () => $lock->isHeld());
check('isHeld() on a lock that never connected is false', $result === 'returned false', $result);
?>
--EXPECT--
ok a DSN with another scheme is a ValueError naming $options and "dsn"
ok a DSN with another scheme: the message does not show the password
ok a DSN with no scheme is a ValueError naming $options and "dsn"
ok a DSN with no scheme: the message does not show the password
ok a DSN with a port that is not a number is a ValueError naming $options and "dsn"
ok a DSN with a port that is not a number: the message does not show the password
ok a DSN with port 0 is a ValueError naming $options and "dsn"
ok a DSN with port 0: the message does not show the password
ok a DSN with no host is a ValueError naming $options and "dsn"
ok a DSN with no host: the message does not show the password
ok a DSN with an unknown parameter is a ValueError naming $options and "dsn"
ok a DSN with an unknown parameter: the message does not show the password
ok a DSN with an empty string is a ValueError naming $options and "dsn"
ok a DSN with an empty string: the message does not show the password
ok a DSN whose password holds an unencoded "/" reaches the server, which refuses it
ok a DSN whose password holds an unencoded "/": the message shows no piece of the password
ok a DSN whose password holds an unencoded "?" reaches the server, which refuses it
ok a DSN whose password holds an unencoded "?": the message shows no piece of the password
ok a bad port after a password with "/" is a ValueError naming "dsn"
ok that shows no piece of the password
ok exakat_lock() with a malformed DSN is a ValueError naming $options
ok a wrong password makes acquire() throw a LockException
ok which names the lock, the backend and the refusal
ok and not the password
ok var_dump() of that lock does not show the password
ok holder() throws a LockException without the password too
ok synchronized() throws a LockException without the password
ok a closed port makes acquire(10) throw a LockException
ok at once
ok and without the password
ok a server that never speaks makes acquire(10) throw a LockException
ok within connect_timeout (0.5 s) and a margin
ok and without the password
ok an address that never answers makes acquire(10) throw a LockException
ok within connect_timeout (0.5 s) and a margin
ok and without the password
ok isHeld() on a lock that never connected is false
