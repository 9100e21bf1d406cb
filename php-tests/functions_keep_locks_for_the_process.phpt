--TEST--
exakat_lock() keeps its locks in a per-process registry until exakat_unlock() or the end of the process
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_common.inc';

$name = test_lock_name(__FILE__);
var_dump(exakat_lock($name));
var_dump(exakat_lock($name), exakat_lock($name, 5.0)); // held already: true, not counted twice

$other = new Child(sprintf('var_dump(exakat_lock(%1$s), exakat_lock_holder(%1$s)["pid"] === %2$d);', var_export($name, true), getmypid()));
echo $other->line(), "\n", $other->line(), "\n";
$other->wait();

try {
    exakat_lock($name, 0.0, 'flock');
} catch (ExakatLock\LockException $e) {
    echo $e->getMessage(), "\n";
}
var_dump(exakat_unlock($name));

// The same name on another resource of the same backend is another lock, not "held already".
$dirs = [sys_get_temp_dir() . '/' . getmypid() . '-a', sys_get_temp_dir() . '/' . getmypid() . '-b'];
array_map('mkdir', $dirs);
var_dump(exakat_lock($name, 0.0, 'flock', ['dir' => $dirs[0]]));
try {
    exakat_lock($name, 0.0, 'flock', ['dir' => $dirs[1]]);
} catch (ExakatLock\LockException $e) {
    echo $e->getMessage(), "\n";
}
var_dump(exakat_unlock($name), exakat_lock($name, 0.0, 'flock', ['dir' => $dirs[1]]));

var_dump(exakat_unlock($name), exakat_unlock($name), exakat_unlock('never-taken'));
array_map('unlink', glob("{$dirs[0]}/*.lock"));
array_map('unlink', glob("{$dirs[1]}/*.lock"));
array_map('rmdir', $dirs);
var_dump(exakat_lock_holder($name));

// Discarding the return value never releases: nothing holds an object to destroy.
function take(string $name): void { exakat_lock($name); }
take($name);
gc_collect_cycles();
$probe = new ExakatLock\Lock($name);
var_dump($probe->acquire());
var_dump(exakat_unlock($name), $probe->acquire());
?>
--EXPECTF--
bool(true)
bool(true)
bool(true)
bool(false)
bool(true)
Lock "%s" (flock backend): cannot take it with exakat_lock(): this process already holds it through exakat_lock() on abstract socket @%s (socket backend); call exakat_unlock() first
bool(true)
bool(true)
Lock "%s" (flock backend): cannot take it with exakat_lock(): this process already holds it through exakat_lock() on lock file %s-a/%s (flock backend); call exakat_unlock() first
bool(true)
bool(true)
bool(true)
bool(false)
bool(false)
NULL
bool(false)
bool(true)
bool(true)
