--TEST--
Lock::synchronized() called again from its callback without end throws PHP's stack-size \Error, never crashes, and every level releases
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_common.inc';

// PHP 8.3 and newer check the C stack themselves; 8.1 and 8.2 crashed
// (SIGSEGV) at a depth of about 4,000 in an 8 MiB stack. A 1 MiB stack
// reaches the end in a few hundred levels, each holding a socket lock.
$code = sprintf('
    function nest(int $depth): int {
        return ExakatLock\Lock::synchronized(%1$s . $depth, fn () => nest($depth + 1), 1, "socket");
    }
    $deepest = 0;
    function deepest(Throwable $e): int {
        return intdiv(count($e->getTrace()), 3);
    }
    try {
        nest(0);
    } catch (Error $e) {
        echo get_class($e), ": ", $e->getMessage(), "\n";
        $deepest = deepest($e);
        echo $deepest > 100 ? "more than 100 levels deep\n" : "only $deepest levels deep\n";
    }
    foreach ([0, intdiv($deepest, 2), $deepest - 1] as $depth) {
        $lock = new ExakatLock\Lock(%1$s . $depth, "socket");
        echo "level $depth released: ", $lock->acquire(0) ? "yes" : "no", "\n";
    }
    echo "still running\n";',
    var_export(test_lock_name(__FILE__, '-'), true));
$child = Child::command(array_merge(['sh', '-c', 'ulimit -s 1024 && exec "$@"', 'sh'], test_php_command(), ['-r', $code]));
for ($i = 0; $i < 6; $i++) {
    echo preg_replace('/level \d+/', 'level N', $child->line()), "\n";
}
echo "exit code: ", $child->wait(), "\n";
?>
--EXPECTF--
Error: Maximum call stack size of %d bytes%sreached. Infinite recursion?
more than 100 levels deep
level N released: yes
level N released: yes
level N released: yes
still running
exit code: 0
