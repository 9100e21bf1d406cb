--TEST--
semaphore: a held lock whose set an administrator removed reads as lost (isHeld() false), and once the kernel reuses its id for another key's set, the stale object never touches that set
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_hostile.inc';
if (test_euid() !== 0) die('skip hostile-neighbour test: needs root: a private IPC namespace (unshare --ipc) and sem_next_id');
exec('unshare --ipc -- true 2>/dev/null', $out, $status);
if ($status !== 0) die('skip hostile-neighbour test: unshare --ipc does not work here (no CAP_SYS_ADMIN?)');
if (!is_file('/proc/sys/kernel/sem_next_id')) die('skip hostile-neighbour test: no /proc/sys/kernel/sem_next_id (kernel without CONFIG_CHECKPOINT_RESTORE)');
?>
--FILE--
<?php
require __DIR__ . '/_hostile.inc';

// Everything runs in a private IPC namespace: its sets and sem_next_id are its own.
$dir = test_temp_dir(__FILE__);
file_put_contents("$dir/in-namespace.php", <<<'PHP'
<?php
require $argv[1];

use ExakatLock\Lock;

$name = $argv[2];
$setOf = fn (string $name) => semaphore_sets_by_key()[semaphore_key_of($name)] ?? null;
$tryFromAnotherProcess = function (string $name): string {
    $other = Child::withLock($name, Lock::SEMAPHORE, [], 'echo var_export($lock->acquire(), true), "\n";');
    $line = line_or_null($other, 5.0) ?? 'no answer';
    $other->wait();
    return $line;
};

// 1. An administrator removes the set of a held lock.
$lock = new Lock("$name-a", Lock::SEMAPHORE);
check('acquire() takes the lock', $lock->acquire());
$id = $setOf("$name-a")['id'] ?? -1;
exec("ipcrm -s $id", $out, $status);
check('an administrator removes its set (ipcrm -s)', $status === 0 && $setOf("$name-a") === null);
check('isHeld() is false once the set is gone', $lock->isHeld() === false);
check('another process can take the lock', $tryFromAnotherProcess("$name-a") === 'true');
check('release() is false', $lock->release() === false);
unset($lock);

// 2. The removed set's id is given to another key's set (Linux reuses ids;
//    sem_next_id makes it happen now rather than after millions of sets).
$stale = new Lock("$name-b", Lock::SEMAPHORE);
check('acquire() takes a second lock', $stale->acquire());
$id = $setOf("$name-b")['id'] ?? -1;
exec("ipcrm -s $id", $out, $status);
file_put_contents('/proc/sys/kernel/sem_next_id', (string) $id);
$victim = new Lock("$name-c", Lock::SEMAPHORE);
check("a lock on another key is taken", $victim->acquire());
check("its set got the removed set's id", ($setOf("$name-c")['id'] ?? null) === $id, json_encode($setOf("$name-c")) . " vs $id");
check('the stale object does not hold its lock', $stale->isHeld() === false);
check('and its release() is false', $stale->release() === false);
unset($stale);
check("the other key's lock is still held by its holder", $victim->isHeld());
check('and nobody else can take it', $tryFromAnotherProcess("$name-c") === 'false');
$victim->release();
PHP);

$child = Child::command(array_merge(['unshare', '--ipc', '--'], test_php_command(),
    ["$dir/in-namespace.php", __DIR__ . '/_hostile.inc', test_lock_name(__FILE__)]));
$deadline = hrtime(true) + 9e9;
while (($line = line_or_null($child, max(0.01, ($deadline - hrtime(true)) / 1e9))) !== null) {
    echo $line, "\n";
}
echo $child->stderr();
$child->wait();
?>
--EXPECT--
ok acquire() takes the lock
ok an administrator removes its set (ipcrm -s)
ok isHeld() is false once the set is gone
ok another process can take the lock
ok release() is false
ok acquire() takes a second lock
ok a lock on another key is taken
ok its set got the removed set's id
ok the stale object does not hold its lock
ok and its release() is false
ok the other key's lock is still held by its holder
ok and nobody else can take it
