--TEST--
A NUL byte in a DSN, raw or %00-encoded, is a \ValueError naming the part
--EXTENSIONS--
exakat_lock
--FILE--
<?php
foreach (["mysql://u:p@h\0st/", 'mysql://u%00x:p@host/', 'mysql://u:p@host/db%00x', 'mysql://u:p@localhost/?socket=/tmp/a%00b'] as $dsn) {
    try {
        new ExakatLock\Lock('x', 'mysql', ['dsn' => $dsn]);
        echo "accepted\n";
    } catch (ValueError $e) {
        echo substr($e->getMessage(), strpos($e->getMessage(), 'option "')), "\n";
    }
}
?>
--EXPECT--
option "dsn" must not contain any null bytes
option "dsn" has a null byte in its user
option "dsn" has a null byte in its database
option "dsn" has a null byte in its socket
