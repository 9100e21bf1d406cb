--TEST--
semaphore: a set that another user created first, or that others may write, is refused with a LockException naming its owner, so its owner can never make two holders
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_hostile.inc';
if ($why = hostile_skip_reason(['ffi'])) die("skip hostile-neighbour test: $why");
?>
--FILE--
<?php
require __DIR__ . '/_hostile.inc';

use ExakatLock\Lock;

$dir = shared_temp_dir(__FILE__);
$made = [];
register_shutdown_function(function () use (&$made) {
    foreach ($made as $id) {
        exec("ipcrm -s $id 2>/dev/null");
    }
});

// Drives SysV sets through libc (FFI): "create KEY MODE", "setval ID VALUE", "rmid ID".
$driver = '
    ' . SEM_FFI . '
    while (($line = trim((string) fgets(STDIN))) !== "") {
        [$command, $a, $b] = explode(" ", $line) + [null, null, null];
        echo match ($command) {
            "create" => $c->semget((int) $a, 1, IPC_CREAT | IPC_EXCL | octdec($b)),
            "setval" => $c->semctl((int) $a, 0, SETVAL, (int) $b),
            "rmid" => $c->semctl((int) $a, 0, IPC_RMID),
        }, "\n";
    }';
$nobody = attacker($dir, $driver, ['ffi']);
$root = attacker($dir, $driver, ['ffi'], [], false);

$cases = [
    'created first by nobody, mode 0666' => [$nobody, '666', true],
    'created first by nobody, mode 0600' => [$nobody, '600', true],
    'created by root with mode 0666 (writable by others)' => [$root, '666', false],
];
$i = 0;
foreach ($cases as $what => [$creator, $mode, $byNobody]) {
    $name = test_lock_name(__FILE__, '-' . ++$i);
    $key = semaphore_key_of($name);
    $creator->send("create $key $mode");
    $id = (int) line_or_null($creator, 5.0);
    check("the set $what exists", $id >= 0 && (semaphore_sets_by_key()[$key]['id'] ?? null) === $id, "semget gave $id");
    $made[] = $id;

    // The victim, a root process, takes the lock on that set.
    $victim = new Lock($name, Lock::SEMAPHORE);
    $outcome = acquire_outcome($victim);
    $owner = $byNobody ? (str_contains($outcome, (string) NOBODY_UID) || str_contains($outcome, 'nobody')) : true;
    check("a set $what is refused with a LockException", str_starts_with($outcome, 'LockException: '), $outcome);
    if ($byNobody) {
        check('which names the owner', $owner, $outcome);
    }

    // Its creator resets it, and another root process takes the lock.
    $creator->send("setval $id 0");
    line_or_null($creator, 5.0);
    $other = Child::withLock($name, Lock::SEMAPHORE, [], '
        try {
            echo var_export($lock->acquire(), true), "\n";
        } catch (ExakatLock\LockException $e) {
            echo "LockException\n";
        }');
    $second = line_or_null($other, 5.0);
    $other->wait();
    // The set is still the untrusted one: refused again, not taken.
    check('after its creator resets it, another root process is refused too', $second === 'LockException',
        "the victim: $outcome; another root process: $second");
    $victim->release();
    unset($victim);
}
$nobody->send('');
$root->send('');
?>
--EXPECT--
ok the set created first by nobody, mode 0666 exists
ok a set created first by nobody, mode 0666 is refused with a LockException
ok which names the owner
ok after its creator resets it, another root process is refused too
ok the set created first by nobody, mode 0600 exists
ok a set created first by nobody, mode 0600 is refused with a LockException
ok which names the owner
ok after its creator resets it, another root process is refused too
ok the set created by root with mode 0666 (writable by others) exists
ok a set created by root with mode 0666 (writable by others) is refused with a LockException
ok after its creator resets it, another root process is refused too
