--TEST--
The password of exakat_lock.mysql_dsn is masked in phpinfo() and php --ri, and never shown by var_dump(), holder() or exception messages
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
use ExakatLock\LockException;

$name = test_lock_name(__FILE__);
$dsn = test_mysql_dsn();
$url = parse_url($dsn);
$password = urldecode($url['pass'] ?? '');
$server = "{$url['host']}:" . ($url['port'] ?? 3306);
// How the extension shows the DSNs set below: password masked, default port and empty database left out.
$masked = "mysql://{$url['user']}:****@{$url['host']}" . (($url['port'] ?? 3306) === 3306 ? '' : ":{$url['port']}");

/** Whether $text contains no trace of any of the passwords. */
function clean(string $text, string ...$passwords): bool
{
    foreach ($passwords as $password) {
        if (str_contains($text, $password) || str_contains($text, rawurlencode($password))) {
            return false;
        }
    }
    return true;
}

function module_info(): string
{
    ob_start();
    phpinfo(INFO_MODULES);
    return ob_get_clean();
}

function dump(mixed $value): string
{
    ob_start();
    var_dump($value);
    return ob_get_clean();
}

function failure(callable $step): string
{
    try {
        return 'no exception: ' . var_export($step(), true);
    } catch (LockException $e) {
        return get_class($e) . ': ' . $e->getMessage();
    }
}

check('the test DSN has a password', $password !== '');
check('ini_set() accepts the DSN', ini_set('exakat_lock.mysql_dsn', "mysql://{$url['user']}:{$url['pass']}@$server/") !== false);
$info = module_info();
check('phpinfo() shows the DSN with its password masked', str_contains($info, "exakat_lock.mysql_dsn => $masked => "), implode("\n", preg_grep('/mysql_dsn/', explode("\n", $info))));
check('phpinfo() does not show the password', clean($info, $password));

// A lock on the INI's server: it works, and shows no password.
$lock = new Lock($name, Lock::MYSQL);
check('a mysql lock without a dsn option uses the INI one', $lock->acquire() === true);
check('var_dump() of the lock does not show the password', clean(dump($lock), $password), dump($lock));
check('var_dump() of holder() does not show it either', clean(dump($lock->holder()), $password), dump($lock->holder()));
$other = Child::withLock($name, Lock::MYSQL, ['dsn' => $dsn], '
    try {
        ExakatLock\Lock::synchronized($lock->name(), fn () => null, 0.2, "mysql", ["dsn" => ' . var_export($dsn, true) . ']);
        echo "ran\n";
    } catch (ExakatLock\LockTimeoutException $e) {
        echo json_encode($e->getMessage()), "\n";
    }');
$message = json_decode($other->line());
check("another process's LockTimeoutException does not show the password", is_string($message) && clean($message, $password), var_export($message, true));
$other->wait();
$lock->release();

// A password with characters a URL reserves, percent-encoded in the DSN: the
// login fails; neither its encoded nor its decoded form may show anywhere.
$wrong = 'W@r/ng:' . bin2hex(random_bytes(4)) . '?#%';
check('ini_set() accepts a DSN with an encoded password', ini_set('exakat_lock.mysql_dsn', "mysql://{$url['user']}:" . rawurlencode($wrong) . "@$server/") !== false);
$info = module_info();
check('phpinfo() masks it', str_contains($info, "exakat_lock.mysql_dsn => $masked => ") && clean($info, $wrong, $password));
$lock = new Lock($name, Lock::MYSQL);
$message = failure(fn () => $lock->acquire());
check('acquire() with a wrong password throws a LockException', str_starts_with($message, 'ExakatLock\LockException: ') && str_contains($message, 'Access denied'), $message);
check('its message shows no password', clean($message, $wrong, $password), $message);
$message = failure(fn () => exakat_lock_holder($name, Lock::MYSQL));
check('exakat_lock_holder() throws a LockException that shows no password', str_starts_with($message, 'ExakatLock\LockException: ') && clean($message, $wrong, $password), $message);
check('var_dump() of the lock shows no password', clean(dump($lock), $wrong, $password), dump($lock));

// The same INI set on the command line, as php --ri shows it.
$command = array_merge(test_php_command(), ['-d', 'exakat_lock.mysql_dsn=' . $dsn, '--ri', 'exakat_lock']);
exec(implode(' ', array_map('escapeshellarg', $command)), $lines);
$text = implode("\n", $lines);
check('php --ri masks the password in both columns', str_contains($text, "exakat_lock.mysql_dsn => $masked => $masked"), $text);
check('php --ri does not show the password', clean($text, $password));

// The environment variable, when no INI is set: a malformed one is reported
// without a piece of its password.
ini_set('exakat_lock.mysql_dsn', '');
[$head, $tail] = ['Ab3-' . bin2hex(random_bytes(3)), 'Cd4-' . bin2hex(random_bytes(3))];
putenv("EXAKAT_LOCK_MYSQL_DSN=mysql://{$url['user']}:$head/$tail@$server:0/");
$message = failure(fn () => new Lock($name, Lock::MYSQL));
check('a malformed EXAKAT_LOCK_MYSQL_DSN is a LockException', str_starts_with($message, 'ExakatLock\LockException: '), $message);
check('that shows no piece of its password', clean($message, $head, $tail), $message);
putenv('EXAKAT_LOCK_MYSQL_DSN');
?>
--EXPECT--
ok the test DSN has a password
ok ini_set() accepts the DSN
ok phpinfo() shows the DSN with its password masked
ok phpinfo() does not show the password
ok a mysql lock without a dsn option uses the INI one
ok var_dump() of the lock does not show the password
ok var_dump() of holder() does not show it either
ok another process's LockTimeoutException does not show the password
ok ini_set() accepts a DSN with an encoded password
ok phpinfo() masks it
ok acquire() with a wrong password throws a LockException
ok its message shows no password
ok exakat_lock_holder() throws a LockException that shows no password
ok var_dump() of the lock shows no password
ok php --ri masks the password in both columns
ok php --ri does not show the password
ok a malformed EXAKAT_LOCK_MYSQL_DSN is a LockException
ok that shows no piece of its password
