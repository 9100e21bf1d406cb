--TEST--
mysql: ssl-mode and ssl-ca as the mysql client knows them, against a server whose certificate a test CA signed; a user allowed over TLS only proves TLS is used
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
if (!getenv('EXAKAT_LOCK_TEST_MYSQL_CA')) die('skip needs the TLS test server of scripts/test-mysql.sh: set EXAKAT_LOCK_TEST_MYSQL_CA');
?>
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

$name = test_lock_name(__FILE__);
$port = parse_url(test_mysql_dsn(), PHP_URL_PORT) ?? 3306;
$ca = getenv('EXAKAT_LOCK_TEST_MYSQL_CA');
$otherCa = dirname($ca) . '/other-ca.pem';
// scripts/test-mysql.sh: a user the server lets in over TLS only, and a
// second address of the server that its certificate does not name.
$tlsOnly = fn (string $host, string $parameters = '') => "mysql://exakat_tls:tls-secret-42@$host:$port/" . ($parameters === '' ? '' : "?$parameters");

function attempt(string $name, string $dsn): string
{
    try {
        $lock = new Lock($name, Lock::MYSQL, ['dsn' => $dsn]);
        return var_export($lock->acquire() && $lock->release(), true);
    } catch (Throwable $e) {
        return get_class($e) . ': ' . $e->getMessage();
    }
}

function refused(string $result, string ...$words): bool
{
    if (!str_starts_with($result, 'ExakatLock\LockException: ') || str_contains($result, 'tls-secret-42')) {
        return false;
    }
    foreach ($words as $word) {
        if (!str_contains($result, $word)) {
            return false;
        }
    }
    return true;
}

check('no ssl-mode (PREFERRED): the TLS-only user gets in', ($r = attempt($name, $tlsOnly('127.0.0.1'))) === 'true', $r);
check('REQUIRED: TLS, the certificate unchecked', ($r = attempt($name, $tlsOnly('127.0.0.1', 'ssl-mode=REQUIRED'))) === 'true', $r);
check('REQUIRED on an address the certificate does not name', ($r = attempt($name, $tlsOnly('127.0.0.2', 'ssl-mode=REQUIRED'))) === 'true', $r);
check('VERIFY_CA with the CA that signed it', ($r = attempt($name, $tlsOnly('127.0.0.1', "ssl-mode=VERIFY_CA&ssl-ca=$ca"))) === 'true', $r);
check('ssl-ca alone means VERIFY_CA', ($r = attempt($name, $tlsOnly('127.0.0.2', "ssl-ca=$ca"))) === 'true', $r);
$r = attempt($name, $tlsOnly('127.0.0.1', "ssl-ca=$otherCa"));
check('VERIFY_CA with another CA: a LockException saying the certificate was refused', refused($r, 'cannot connect to', 'TLS failed (ssl-mode VERIFY_CA): invalid peer certificate', 'UnknownIssuer'), $r);
$r = attempt($name, $tlsOnly('127.0.0.1', 'ssl-mode=VERIFY_CA'));
check('VERIFY_CA without ssl-ca: the system CAs do not know the test CA', refused($r, 'TLS failed (ssl-mode VERIFY_CA): invalid peer certificate', 'UnknownIssuer'), $r);
check('VERIFY_IDENTITY with the right CA and name 127.0.0.1', ($r = attempt($name, $tlsOnly('127.0.0.1', "ssl-mode=VERIFY_IDENTITY&ssl-ca=$ca"))) === 'true', $r);
check('VERIFY_IDENTITY with name localhost', ($r = attempt($name, $tlsOnly('localhost', "ssl-mode=VERIFY_IDENTITY&ssl-ca=$ca"))) === 'true', $r);
$r = attempt($name, $tlsOnly('127.0.0.2', "ssl-mode=VERIFY_IDENTITY&ssl-ca=$ca"));
check('VERIFY_IDENTITY to 127.0.0.2, a name the certificate lacks: refused', refused($r, 'TLS failed (ssl-mode VERIFY_IDENTITY): invalid peer certificate', 'not valid for name "127.0.0.2"'), $r);
$r = attempt($name, $tlsOnly('127.0.0.1', 'ssl-mode=DISABLED'));
check('DISABLED: plaintext, so the server refuses the TLS-only user', refused($r, 'Access denied'), $r);
check('DISABLED: plaintext works for the other user', ($r = attempt($name, test_mysql_dsn() . '?ssl-mode=DISABLED')) === 'true', $r);
$r = attempt($name, $tlsOnly('127.0.0.1', 'ssl-ca=' . dirname($ca) . '/no-such-ca.pem'));
check('a missing ssl-ca file: a LockException naming it and the OS error', refused($r, 'no-such-ca.pem', 'No such file or directory'), $r);

// Both ends agree: the lock taken over TLS is the one the plaintext client sees.
$lock = new Lock($name, Lock::MYSQL, ['dsn' => $tlsOnly('127.0.0.1', "ssl-mode=VERIFY_IDENTITY&ssl-ca=$ca")]);
check('a lock taken over TLS', $lock->acquire());
$other = Child::withLock($name, Lock::MYSQL, ['dsn' => test_mysql_dsn() . '?ssl-mode=DISABLED'], 'echo $lock->acquire() ? "taken" : "busy", " ", $lock->holder()["pid"] ?? "", "\n";');
check('excludes a plaintext client, which names us', ($line = $other->line()) === 'busy ' . getmypid(), $line);
$other->wait();
ob_start();
var_dump($lock);
$dump = ob_get_clean();
check('var_dump() shows no password', !str_contains($dump, 'tls-secret-42'), $dump);
$lock->release();
?>
--EXPECT--
ok no ssl-mode (PREFERRED): the TLS-only user gets in
ok REQUIRED: TLS, the certificate unchecked
ok REQUIRED on an address the certificate does not name
ok VERIFY_CA with the CA that signed it
ok ssl-ca alone means VERIFY_CA
ok VERIFY_CA with another CA: a LockException saying the certificate was refused
ok VERIFY_CA without ssl-ca: the system CAs do not know the test CA
ok VERIFY_IDENTITY with the right CA and name 127.0.0.1
ok VERIFY_IDENTITY with name localhost
ok VERIFY_IDENTITY to 127.0.0.2, a name the certificate lacks: refused
ok DISABLED: plaintext, so the server refuses the TLS-only user
ok DISABLED: plaintext works for the other user
ok a missing ssl-ca file: a LockException naming it and the OS error
ok a lock taken over TLS
ok excludes a plaintext client, which names us
ok var_dump() shows no password
