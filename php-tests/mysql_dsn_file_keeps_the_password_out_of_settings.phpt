--TEST--
mysql: the DSN can come from a file (dsn_file, exakat_lock.mysql_dsn_file, EXAKAT_LOCK_MYSQL_DSN_FILE), trimmed; precedence; errors name the file, never its content
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
?>
--ENV--
EXAKAT_LOCK_MYSQL_DSN=
EXAKAT_LOCK_MYSQL_DSN_FILE=
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;
use ExakatLock\LockException;

$name = test_lock_name(__FILE__);
$dsn = test_mysql_dsn();
$password = urldecode(parse_url($dsn, PHP_URL_PASS));
$dir = test_temp_dir(__FILE__);
// As Docker writes a secret: the value and a newline.
file_put_contents("$dir/dsn", "$dsn\n");
chmod("$dir/dsn", 0600);
$missing = "$dir/no-such-file";
$unreachable = 'mysql://nobody@127.0.0.1:1/';

function attempt(callable $step): string
{
    try {
        return var_export($step(), true);
    } catch (Throwable $e) {
        return get_class($e) . ': ' . $e->getMessage();
    }
}

/** Whether a lock made with these options (and the settings now in force) can be taken and released. */
function works(string $name, array $options = []): string
{
    return attempt(function () use ($name, $options) {
        $lock = new Lock($name, Lock::MYSQL, $options);
        return $lock->acquire() && $lock->release();
    });
}

check('the "dsn_file" option: a lock on the server named in the file', ($r = works($name, ['dsn_file' => "$dir/dsn"])) === 'true', $r);
$r = attempt(fn () => new Lock($name, Lock::MYSQL, ['dsn' => $dsn, 'dsn_file' => "$dir/dsn"]));
check('"dsn" and "dsn_file" together are a ValueError', str_starts_with($r, 'ValueError: ExakatLock\Lock::__construct(): Argument #3 ($options) must not give both "dsn" and "dsn_file"'), $r);

$r = attempt(fn () => new Lock($name, Lock::MYSQL, ['dsn_file' => $missing]));
check('a missing file is a LockException naming the path and the OS error', str_starts_with($r, 'ExakatLock\LockException: ') && str_contains($r, $missing) && str_contains($r, 'No such file or directory'), $r);
$r = attempt(fn () => new Lock($name, Lock::MYSQL, ['dsn_file' => $dir]));
check('a directory is a LockException naming the path', str_starts_with($r, 'ExakatLock\LockException: ') && str_contains($r, "$dir ") && str_contains($r, 'not a regular file'), $r);
$secret = 'Sekr1t-' . bin2hex(random_bytes(4));
file_put_contents("$dir/bad", "mysql://user:$secret@127.0.0.1:0/\n");
$r = attempt(fn () => new Lock($name, Lock::MYSQL, ['dsn_file' => "$dir/bad"]));
check('a malformed DSN in the file is a LockException naming the file and the problem', str_starts_with($r, 'ExakatLock\LockException: ') && str_contains($r, "$dir/bad") && str_contains($r, 'invalid port'), $r);
check('and not the password in it', !str_contains($r, $secret), $r);

// INI: the path shows in ini_get() and phpinfo(); the password is nowhere.
check('ini_set() accepts a path', ini_set('exakat_lock.mysql_dsn_file', "$dir/dsn") !== false);
check('ini_get() gives the path', ini_get('exakat_lock.mysql_dsn_file') === "$dir/dsn");
ob_start();
phpinfo(INFO_MODULES);
$info = ob_get_clean();
check('phpinfo() shows the path and not the password', str_contains($info, "exakat_lock.mysql_dsn_file => $dir/dsn => ") && !str_contains($info, $password));
check('exakat_lock_backends() lists mysql', in_array('mysql', exakat_lock_backends(), true));
check('exakat_lock.mysql_dsn_file: a lock without options uses it', ($r = works($name)) === 'true', $r);
check('the "dsn" option comes before it', ($r = works($name, ['dsn' => $unreachable, 'connect_timeout' => 0.5])) !== 'true' && str_contains($r, '127.0.0.1:1'), $r);

// Precedence: INI DSN > INI DSN file > env DSN > env DSN file.
ini_set('exakat_lock.mysql_dsn_file', $missing);
ini_set('exakat_lock.mysql_dsn', $dsn);
check('exakat_lock.mysql_dsn comes before exakat_lock.mysql_dsn_file', ($r = works($name)) === 'true', $r);
ini_set('exakat_lock.mysql_dsn', '');
$r = works($name);
check('without it, the missing file is the error, naming the INI entry', str_contains($r, $missing) && str_contains($r, 'exakat_lock.mysql_dsn_file'), $r);
putenv("EXAKAT_LOCK_MYSQL_DSN=$unreachable");
ini_set('exakat_lock.mysql_dsn_file', "$dir/dsn");
check('exakat_lock.mysql_dsn_file comes before EXAKAT_LOCK_MYSQL_DSN', ($r = works($name)) === 'true', $r);
ini_set('exakat_lock.mysql_dsn_file', '');
putenv("EXAKAT_LOCK_MYSQL_DSN=$dsn");
putenv("EXAKAT_LOCK_MYSQL_DSN_FILE=$missing");
check('EXAKAT_LOCK_MYSQL_DSN comes before EXAKAT_LOCK_MYSQL_DSN_FILE', ($r = works($name)) === 'true', $r);
putenv('EXAKAT_LOCK_MYSQL_DSN');
putenv("EXAKAT_LOCK_MYSQL_DSN_FILE=$dir/dsn");
check('EXAKAT_LOCK_MYSQL_DSN_FILE alone is used', ($r = works($name)) === 'true', $r);

// A process whose environment holds only the path.
$child = new Child('
    $lock = new ExakatLock\Lock(' . var_export($name, true) . ', "mysql");
    echo $lock->acquire() ? "taken" : "busy", " ", getenv("EXAKAT_LOCK_MYSQL_DSN") === false ? "no-dsn-in-env" : "dsn-in-env", "\n";');
check('a child given only EXAKAT_LOCK_MYSQL_DSN_FILE takes the lock, with no DSN in its environment', ($line = $child->line()) === 'taken no-dsn-in-env', $line . $child->stderr());
$child->wait();
?>
--EXPECT--
ok the "dsn_file" option: a lock on the server named in the file
ok "dsn" and "dsn_file" together are a ValueError
ok a missing file is a LockException naming the path and the OS error
ok a directory is a LockException naming the path
ok a malformed DSN in the file is a LockException naming the file and the problem
ok and not the password in it
ok ini_set() accepts a path
ok ini_get() gives the path
ok phpinfo() shows the path and not the password
ok exakat_lock_backends() lists mysql
ok exakat_lock.mysql_dsn_file: a lock without options uses it
ok the "dsn" option comes before it
ok exakat_lock.mysql_dsn comes before exakat_lock.mysql_dsn_file
ok without it, the missing file is the error, naming the INI entry
ok exakat_lock.mysql_dsn_file comes before EXAKAT_LOCK_MYSQL_DSN
ok EXAKAT_LOCK_MYSQL_DSN comes before EXAKAT_LOCK_MYSQL_DSN_FILE
ok EXAKAT_LOCK_MYSQL_DSN_FILE alone is used
ok a child given only EXAKAT_LOCK_MYSQL_DSN_FILE takes the lock, with no DSN in its environment
