--TEST--
The $options parameters are #[\SensitiveParameter]: a DSN's password never shows in a trace
--EXTENSIONS--
exakat_lock
--FILE--
<?php
use ExakatLock\Lock;

$options = ['dsn' => 'mysql://app:TopSecret42@127.0.0.1:1/', 'connect_timeout' => 0.2];
$calls = [
    'exakat_lock()' => fn () => exakat_lock('x', 0.0, 'mysql', $options),
    'exakat_lock_holder()' => fn () => exakat_lock_holder('x', 'mysql', $options),
    'new Lock()' => fn () => new Lock('x', 'mysql', $options + ['unknown' => 1]),
    'Lock::synchronized()' => fn () => Lock::synchronized('x', fn () => null, 0.0, 'mysql', $options),
];
foreach ($calls as $call => $run) {
    try {
        $run();
        echo "$call: no exception\n";
    } catch (Throwable $e) {
        $shown = print_r($e, true) . var_export($e->getTrace(), true);
        printf("%s: %s, password %s\n", $call, get_class($e), str_contains($shown, 'TopSecret42') ? 'SHOWN' : 'hidden');
    }
}
foreach ((new ReflectionMethod(Lock::class, '__construct'))->getParameters() as $p) {
    echo '$', $p->getName(), ': ', implode(', ', array_map(fn ($a) => $a->getName(), $p->getAttributes())) ?: '-', "\n";
}
?>
--EXPECT--
exakat_lock(): ExakatLock\LockException, password hidden
exakat_lock_holder(): ExakatLock\LockException, password hidden
new Lock(): ValueError, password hidden
Lock::synchronized(): ExakatLock\LockException, password hidden
$name: -
$backend: -
$options: SensitiveParameter
