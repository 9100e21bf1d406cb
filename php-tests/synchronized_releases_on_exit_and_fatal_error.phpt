--TEST--
Lock::synchronized() releases when the callback calls exit() or dies of a fatal error
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_common.inc';

$name = test_lock_name(__FILE__);
foreach (['exit(0);', 'undefined_function_for_a_fatal_error();'] as $ending) {
    // The child checks from its own shutdown function, in the same process,
    // that the lock was released before the process ends.
    $child = new Child(sprintf('
        register_shutdown_function(function () {
            $probe = new ExakatLock\Lock(%1$s);
            echo $probe->acquire() ? "released before shutdown\n" : "still held at shutdown\n";
        });
        ExakatLock\Lock::synchronized(%1$s, function () { echo "inside\n"; %2$s });',
        var_export($name, true), $ending));
    echo $child->line(), "\n", $child->line(), "\n";
    $child->wait();
}
?>
--EXPECT--
inside
released before shutdown
inside
released before shutdown
