--TEST--
mysql: an unknown ssl-mode, ssl-ca with a mode that does not verify, or TLS asked over a unix socket are ValueErrors naming the valid choices
--EXTENSIONS--
exakat_lock
--FILE--
<?php
use ExakatLock\Lock;

foreach ([
    'mysql://u:Secret-1@db/?ssl-mode=VERIFY',
    'mysql://u:Secret-1@db/?ssl-mode=',
    'mysql://u:Secret-1@db/?ssl-mode=REQUIRED&ssl-ca=/etc/ca.pem',
    'mysql://u:Secret-1@db/?ssl-mode=DISABLED&ssl-ca=/etc/ca.pem',
    'mysql://u:Secret-1@localhost/?socket=/run/mysqld/mysqld.sock&ssl-mode=VERIFY_IDENTITY',
] as $dsn) {
    try {
        new Lock('x', Lock::MYSQL, ['dsn' => $dsn]);
        echo "accepted\n";
    } catch (ValueError $e) {
        echo $e->getMessage(), str_contains($e->getMessage(), 'Secret-1') ? ' PASSWORD SHOWN' : '', "\n";
    }
}
var_dump(ini_set('exakat_lock.mysql_dsn', 'mysql://u@db/?ssl-mode=bogus'));
foreach (['disabled', 'Preferred', 'REQUIRED', 'verify_ca', 'VERIFY_IDENTITY'] as $mode) {
    new Lock('x', Lock::MYSQL, ['dsn' => "mysql://u@db/?ssl-mode=$mode"]);
}
echo "every mode is accepted, in any case\n";
?>
--EXPECT--
ExakatLock\Lock::__construct(): Argument #3 ($options) option "dsn" has an unknown ssl-mode; valid ones are DISABLED, PREFERRED, REQUIRED, VERIFY_CA and VERIFY_IDENTITY
ExakatLock\Lock::__construct(): Argument #3 ($options) option "dsn" has an empty "ssl-mode"
ExakatLock\Lock::__construct(): Argument #3 ($options) option "dsn" has ssl-ca with ssl-mode REQUIRED, which does not verify certificates: use VERIFY_CA or VERIFY_IDENTITY
ExakatLock\Lock::__construct(): Argument #3 ($options) option "dsn" has ssl-ca with ssl-mode DISABLED, which does not verify certificates: use VERIFY_CA or VERIFY_IDENTITY
ExakatLock\Lock::__construct(): Argument #3 ($options) option "dsn" asks for ssl-mode VERIFY_IDENTITY over a unix socket: TLS is used over TCP only
bool(false)
every mode is accepted, in any case
