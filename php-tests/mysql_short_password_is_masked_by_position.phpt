--TEST--
mysql: a one-character password is masked by its position in the DSN, never by replacing its text in messages (which revealed it and mangled the host)
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
if (str_contains(test_mysql_dsn(), '?socket=')) die('skip needs a test server reached over TCP');
?>
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

$name = test_lock_name(__FILE__);
$url = parse_url(test_mysql_dsn());
$port = $url['port'] ?? 3306;
$server = "127.0.0.1:$port";

function failure(callable $step): string
{
    try {
        return 'no exception: ' . var_export($step(), true);
    } catch (Throwable $e) {
        return get_class($e) . ': ' . $e->getMessage();
    }
}

function shown(mixed $value): string
{
    ob_start();
    var_dump($value);
    return ob_get_clean();
}

foreach (['1', '7', '.'] as $password) {
    // The right user, a wrong password that occurs in the host, the port or the server's message.
    $dsn = "mysql://{$url['user']}:$password@$server/";
    $lock = new Lock($name, Lock::MYSQL, ['dsn' => $dsn]);
    $message = failure(fn () => $lock->acquire());
    check("password \"$password\": the login fails with a LockException", str_starts_with($message, 'ExakatLock\LockException: '), $message);
    check("password \"$password\": the message shows the DSN masked by position", str_contains($message, "mysql://{$url['user']}:****@$server"), $message);
    check("password \"$password\": and the server intact, with one mask only", substr_count($message, '****') === 1, $message);
    check("password \"$password\": it says the access was denied", str_contains($message, 'Access denied'), $message);
    check("password \"$password\": var_dump() shows the server intact", str_contains(shown($lock), "on $server") && !str_contains(shown($lock), '****'), shown($lock));
    check("password \"$password\": phpinfo() masks it by position", ini_set('exakat_lock.mysql_dsn', $dsn) !== false
        && str_contains((function () { ob_start(); phpinfo(INFO_MODULES); return ob_get_clean(); })(), "exakat_lock.mysql_dsn => mysql://{$url['user']}:****@$server => "));
}
?>
--EXPECT--
ok password "1": the login fails with a LockException
ok password "1": the message shows the DSN masked by position
ok password "1": and the server intact, with one mask only
ok password "1": it says the access was denied
ok password "1": var_dump() shows the server intact
ok password "1": phpinfo() masks it by position
ok password "7": the login fails with a LockException
ok password "7": the message shows the DSN masked by position
ok password "7": and the server intact, with one mask only
ok password "7": it says the access was denied
ok password "7": var_dump() shows the server intact
ok password "7": phpinfo() masks it by position
ok password ".": the login fails with a LockException
ok password ".": the message shows the DSN masked by position
ok password ".": and the server intact, with one mask only
ok password ".": it says the access was denied
ok password ".": var_dump() shows the server intact
ok password ".": phpinfo() masks it by position
