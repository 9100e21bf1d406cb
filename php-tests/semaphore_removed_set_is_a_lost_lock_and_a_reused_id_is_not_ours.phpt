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
if (attacker_extension_args(['posix']) === null) die('skip the posix extension is not available');
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

// 3. The same across processes, for a shared hold (no semaphore of its
//    own to check a pid on), for the give-back around a failed
//    pcntl_exec(), and for a holder of another user, who may not read the
//    set now at its old id (that is no reason to think itself still
//    holding): the stale holder must not give back the other process's
//    hold in the set now at its old id.
$variants = [
    ['shared', 'acquireShared', 's'],
    ['exclusive, then a failed pcntl_exec()', 'acquire', 'x'],
    ['exclusive, as nobody', 'acquire', 'n'],
];
foreach ($variants as [$how, $take, $suffix]) {
    $asNobody = $suffix === 'n';
    $stale = Child::command(array_merge(test_php_command(), attacker_extension_args(['posix']), ['-r',
        '$lock = new ExakatLock\Lock(' . var_export("$name-$suffix-old", true) . ', "semaphore");
        if (' . var_export($asNobody, true) . ') {
            posix_seteuid(65534);
        }
        echo var_export($lock->' . $take . '(), true), "\n";
        fgets(STDIN);
        if (' . var_export($suffix === 'x', true) . ') {
            @pcntl_exec("/nonexistent/program");
        }
        echo var_export($lock->isHeld(), true), " ", var_export($lock->release(), true), "\n";
        fgets(STDIN);']));
    check("another process holds a lock ($how)", line_or_null($stale, 5.0) === 'true');
    // A new process probes the backends with a set of its own first: done
    // before the id is set, so that the lock's set is the one to get it.
    $victim = Child::withLock("$name-$suffix-new", Lock::SEMAPHORE, [], '
        exakat_lock_backends();
        echo "ready\n";
        fgets(STDIN);
        echo var_export($lock->' . $take . '(), true), "\n";
        fgets(STDIN);
        echo var_export($lock->isHeld(), true), "\n";');
    line_or_null($victim, 5.0);
    // sem_next_id (root only) brings an id round at once; anyone else needs
    // millions of creations, seconds: holds younger than 10 ms are not
    // asked (semaphore.rs, ID_REUSE_FLOOR), so this one is made older.
    usleep(20_000);
    $id = $setOf("$name-$suffix-old")['id'] ?? -1;
    exec("ipcrm -s $id", $out, $status);
    file_put_contents('/proc/sys/kernel/sem_next_id', (string) $id);
    $victim->send('take');
    check("a third process takes another lock, in a set at the removed set's id",
        line_or_null($victim, 5.0) === 'true' && ($setOf("$name-$suffix-new")['id'] ?? null) === $id);
    $stale->send('go');
    $staleSaid = line_or_null($stale, 5.0);
    check('the stale holder reads its lock as lost, and its release() is false', $staleSaid === 'false false', (string) $staleSaid . $stale->stderr());
    check('an exclusive take of the other lock still fails', $tryFromAnotherProcess("$name-$suffix-new") === 'false');
    $victim->send('go');
    check('and its holder still holds it', line_or_null($victim, 5.0) === 'true');
    $stale->send('done');
    $stale->wait();
    $victim->wait();
}
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
ok another process holds a lock (shared)
ok a third process takes another lock, in a set at the removed set's id
ok the stale holder reads its lock as lost, and its release() is false
ok an exclusive take of the other lock still fails
ok and its holder still holds it
ok another process holds a lock (exclusive, then a failed pcntl_exec())
ok a third process takes another lock, in a set at the removed set's id
ok the stale holder reads its lock as lost, and its release() is false
ok an exclusive take of the other lock still fails
ok and its holder still holds it
ok another process holds a lock (exclusive, as nobody)
ok a third process takes another lock, in a set at the removed set's id
ok the stale holder reads its lock as lost, and its release() is false
ok an exclusive take of the other lock still fails
ok and its holder still holds it
