--TEST--
An option key that is not UTF-8 is an unknown key (\ValueError), not a Rust panic
--EXTENSIONS--
exakat_lock
--FILE--
<?php
try {
    new ExakatLock\Lock('x', 'socket', ["\xff" => 1]);
} catch (ValueError $e) {
    echo get_class($e), ': ', bin2hex(substr($e->getMessage(), strpos($e->getMessage(), 'option "') + 8, 3)), "\n";
}
try {
    new ExakatLock\Lock('x', 'tcp', ["port\xfe" => 1]);
} catch (ValueError $e) {
    echo str_contains($e->getMessage(), 'valid options are "port", "host"') ? "names the valid keys\n" : $e->getMessage();
}
?>
--EXPECT--
ValueError: efbfbd
names the valid keys
