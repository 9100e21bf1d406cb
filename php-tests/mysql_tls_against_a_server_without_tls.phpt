--TEST--
mysql: against a server without TLS, PREFERRED (the default) connects in plaintext and REQUIRED, VERIFY_CA and VERIFY_IDENTITY fail clearly
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
if (!getenv('EXAKAT_LOCK_TEST_MARIADB_DIR')) die('skip starts a throwaway server of its own: needs scripts/test-mysql.sh (set EXAKAT_LOCK_TEST_MARIADB_DIR)');
if (test_mysql_client_program() === null) die('skip neither the mariadb nor the mysql client is installed');
?>
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

$script = dirname(__DIR__) . '/scripts/test-mysql.sh';
// Registered before test_temp_dir()'s own clean-up, so that it runs first:
// the stop needs the server's pid file, which the clean-up deletes.
$dir = null;
register_shutdown_function(function () use (&$dir, $script) {
    if ($dir !== null) {
        exec(escapeshellarg($script) . ' stop ' . escapeshellarg("$dir/db") . ' 2>&1');
    }
});
$dir = test_temp_dir(__FILE__);
exec(escapeshellarg($script) . ' start ' . escapeshellarg("$dir/db") . ' --no-tls 2>&1', $out, $status);
$dsn = trim((string) end($out));
check('a server without TLS starts', $status === 0 && str_starts_with($dsn, 'mysql://'), implode("\n", $out));
$client = test_mysql_client($dsn, tls: false);
// MariaDB says have_ssl DISABLED; MySQL 9 has no have_ssl, and no TLS version.
$tlsSettings = test_mysql_query("SHOW VARIABLES WHERE Variable_name IN ('have_ssl', 'tls_version')", $client);
check('it has no TLS', preg_match("/^(have_ssl\tDISABLED|tls_version\t)$/m", $tlsSettings) === 1, $tlsSettings);

$name = test_lock_name(__FILE__);
function attempt(string $name, string $dsn): string
{
    try {
        $lock = new Lock($name, Lock::MYSQL, ['dsn' => $dsn]);
        return var_export($lock->acquire() && $lock->release(), true);
    } catch (Throwable $e) {
        return get_class($e) . ': ' . $e->getMessage();
    }
}

check('no ssl-mode (PREFERRED): plaintext', ($r = attempt($name, $dsn)) === 'true', $r);
check('PREFERRED written out: plaintext', ($r = attempt($name, "$dsn?ssl-mode=PREFERRED")) === 'true', $r);
check('DISABLED: plaintext', ($r = attempt($name, "$dsn?ssl-mode=DISABLED")) === 'true', $r);
foreach (['REQUIRED', 'VERIFY_CA', 'VERIFY_IDENTITY'] as $mode) {
    $r = attempt($name, "$dsn?ssl-mode=$mode");
    check("$mode: a LockException saying the server does not offer TLS", str_starts_with($r, 'ExakatLock\LockException: ')
        && str_contains($r, "the server does not offer TLS, which ssl-mode $mode requires") && !str_contains($r, 'lock-secret-42'), $r);
}
?>
--EXPECT--
ok a server without TLS starts
ok it has no TLS
ok no ssl-mode (PREFERRED): plaintext
ok PREFERRED written out: plaintext
ok DISABLED: plaintext
ok REQUIRED: a LockException saying the server does not offer TLS
ok VERIFY_CA: a LockException saying the server does not offer TLS
ok VERIFY_IDENTITY: a LockException saying the server does not offer TLS
