--TEST--
The semaphore backend works across processes without ext-sysvsem, and its set with an explicit key goes away with its last user
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
exec('ipcs -s 2>/dev/null', $out, $status);
if ($status !== 0) die('skip ipcs(1) is not available');
?>
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

// A key of our own, so that no other test can own the set we look for.
$key = 0x6c000000 | (getmypid() & 0xffffff);
$hexKey = sprintf('0x%08x', $key);
register_shutdown_function(function () use ($key, $hexKey) {
    if (semaphore_set_exists($hexKey)) {
        exec("ipcrm -S $key 2>/dev/null"); // only if a check below failed
    }
});

/** Whether `ipcs -s` lists a set with this key. */
function semaphore_set_exists(string $hexKey): bool
{
    exec('ipcs -s', $lines);
    foreach ($lines as $line) {
        if (strtolower(strtok($line, " \t")) === $hexKey) {
            return true;
        }
    }
    return false;
}

check('this PHP runs without ext-sysvsem', !extension_loaded('sysvsem') && !function_exists('sem_get'));
$name = test_lock_name(__FILE__);
$options = ['key' => $key];
check('no set with our key at first', !semaphore_set_exists($hexKey));

$lock = new Lock($name, Lock::SEMAPHORE, $options);
check('acquire() takes it', $lock->acquire() === true);
check('ipcs -s shows the set while it is held', semaphore_set_exists($hexKey));
check('holder() reports our key', ($lock->holder()['key'] ?? null) === $key);

$child = Child::withLock($name, Lock::SEMAPHORE, $options, '
    echo extension_loaded("sysvsem") ? "sysvsem" : "no sysvsem", "\n";
    echo $lock->acquire() ? "taken" : "busy", " ", $lock->holder()["pid"] ?? "unknown", "\n";
    fgets(STDIN);
    echo $lock->acquire(10) ? "taken" : "busy", "\n";
    fgets(STDIN);
    echo $lock->release() ? "released" : "not released", "\n";
    unset($lock);
    echo "destroyed\n";
    fgets(STDIN);');
check('the other process runs without ext-sysvsem too', $child->line() === 'no sysvsem');
check('the other process cannot take it and sees our pid', $child->line() === 'busy ' . getmypid());
$child->send('wait');
check('release() frees it', $lock->release() === true);
check('the other process takes it once released', $child->line() === 'taken');
check('acquire() fails while the other process holds it', $lock->acquire() === false && ($lock->holder()['pid'] ?? null) === $child->pid());
$child->send('release');
check('the other process releases it', $child->line() === 'released');
check('the other process destroyed its lock object', $child->line() === 'destroyed');
check('acquire() takes it again', $lock->acquire() === true);
check('ipcs -s shows the set while it is held again', semaphore_set_exists($hexKey));
unset($lock);
$child->send('exit');
check('the other process ends cleanly', $child->wait() === 0);
check('no set with our key is left once both objects are destroyed', !semaphore_set_exists($hexKey));
?>
--EXPECT--
ok this PHP runs without ext-sysvsem
ok no set with our key at first
ok acquire() takes it
ok ipcs -s shows the set while it is held
ok holder() reports our key
ok the other process runs without ext-sysvsem too
ok the other process cannot take it and sees our pid
ok release() frees it
ok the other process takes it once released
ok acquire() fails while the other process holds it
ok the other process releases it
ok the other process destroyed its lock object
ok acquire() takes it again
ok ipcs -s shows the set while it is held again
ok the other process ends cleanly
ok no set with our key is left once both objects are destroyed
