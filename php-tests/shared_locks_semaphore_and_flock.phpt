--TEST--
acquireShared(): shared holders in several processes coexist, exclude acquire() both ways, switching modes needs a release, and a writer waiting among overlapping readers gets the lock
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

foreach (['semaphore', 'flock'] as $backend) {
    echo "-- $backend\n";
    $name = test_lock_name(__FILE__, "-$backend");
    $reader = Child::withLock($name, $backend, [], '
        $lock->acquireShared(10) or exit(1);
        echo "shared ", var_export($lock->isShared(), true), "\n";
        fgets(STDIN);');
    check('another process holds it shared', $reader->line() === 'shared true');
    $mine = new Lock($name, $backend);
    $writer = new Lock($name, $backend);
    check('acquireShared() shares with it', $mine->acquireShared() === true && $mine->isShared() && $mine->isHeld());
    check('slot() of a one-slot lock is 0', $mine->slot() === 0);
    check('acquire() is refused while readers hold it', $writer->acquire() === false && $writer->acquire(0.05) === false);
    $holders = $writer->holders();
    check('holders() lists both readers as shared', count($holders) === 2 && array_unique(array_column($holders, 'mode')) === ['shared']);
    check('holder() reports a shared holder', ($writer->holder()['mode'] ?? 'shared') === 'shared' && $writer->holder() !== null);
    try {
        $mine->acquire();
        check('acquire() on a shared holder throws', false);
    } catch (ExakatLock\LockException $e) {
        check('acquire() on a shared holder throws', str_contains($e->getMessage(), 'this object holds it shared; release it first'));
    }
    check('acquireShared() again is true, not counted twice', $mine->acquireShared() === true);
    check('release() ends a shared hold', $mine->release() === true && !$mine->isShared() && $mine->slot() === null);
    $reader->endInput();
    $reader->wait();
    check('acquire() takes it once the readers are gone', $writer->acquire() === true && !$writer->isShared());
    $probe = Child::withLock($name, $backend, [], 'echo var_export($lock->acquireShared(), true), "\n";');
    check('a writer excludes readers of other processes', $probe->line() === 'false');
    $probe->wait();
    try {
        $writer->acquireShared();
        check('acquireShared() on an exclusive holder throws', false);
    } catch (ExakatLock\LockException $e) {
        check('acquireShared() on an exclusive holder throws', str_contains($e->getMessage(), 'this object holds it exclusive; release it first'));
    }
    check('holders() lists the writer', array_column($writer->holders(), 'mode') === ['exclusive']);
    $writer->release();

    // Four readers that keep overlapping never leave the lock free; a
    // writer still gets it: new readers queue behind it.
    $readers = [];
    for ($i = 0; $i < 4; $i++) {
        $readers[] = Child::withLock($name, $backend, [], '
            echo "go\n";
            $end = microtime(true) + 3;
            $spans = [];
            while (microtime(true) < $end) {
                if ($lock->acquireShared(5)) { $from = hrtime(true); usleep(10000); $spans[] = [$from, hrtime(true)]; $lock->release(); }
            }
            echo json_encode($spans), "\n";');
    }
    foreach ($readers as $r) {
        $r->line();
    }
    usleep(200_000);
    $t = hrtime(true);
    $got = $writer->acquire(2.5);
    $waited = (hrtime(true) - $t) / 1e6;
    $writer->release();
    // The most readers inside at once, from each one's held spans.
    $events = [];
    foreach ($readers as $r) {
        foreach (json_decode($r->line(), true) ?? [] as [$from, $to]) {
            $events[] = [$from, 1];
            $events[] = [$to, -1];
        }
    }
    sort($events);
    $inside = $most = 0;
    foreach ($events as [, $step]) {
        $most = max($most, $inside += $step);
    }
    check('a writer among overlapping readers gets the lock within 1 s', $got && $waited < 1000, sprintf('%s after %.0f ms', var_export($got, true), $waited));
    check('while the readers really overlapped', $most >= 2, sprintf('at most %d at once, in %d rounds', $most, count($events) / 2));
}

foreach (['socket', 'tcp'] as $backend) {
    try {
        (new Lock(test_lock_name(__FILE__), $backend, test_options($backend)))->acquireShared();
    } catch (ExakatLock\LockException $e) {
        echo $e->getMessage(), "\n";
    }
}
try {
    (new Lock(test_lock_name(__FILE__), 'flock', ['slots' => 2]))->acquireShared();
} catch (ValueError $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
?>
--EXPECTF--
-- semaphore
ok another process holds it shared
ok acquireShared() shares with it
ok slot() of a one-slot lock is 0
ok acquire() is refused while readers hold it
ok holders() lists both readers as shared
ok holder() reports a shared holder
ok acquire() on a shared holder throws
ok acquireShared() again is true, not counted twice
ok release() ends a shared hold
ok acquire() takes it once the readers are gone
ok a writer excludes readers of other processes
ok acquireShared() on an exclusive holder throws
ok holders() lists the writer
ok a writer among overlapping readers gets the lock within 1 s
ok while the readers really overlapped
-- flock
ok another process holds it shared
ok acquireShared() shares with it
ok slot() of a one-slot lock is 0
ok acquire() is refused while readers hold it
ok holders() lists both readers as shared
ok holder() reports a shared holder
ok acquire() on a shared holder throws
ok acquireShared() again is true, not counted twice
ok release() ends a shared hold
ok acquire() takes it once the readers are gone
ok a writer excludes readers of other processes
ok acquireShared() on an exclusive holder throws
ok holders() lists the writer
ok a writer among overlapping readers gets the lock within 1 s
ok while the readers really overlapped
Lock "phpt-shared_locks_semaphore_and_flock-%d" (socket backend): cannot take it shared: the socket backend has no shared mode (semaphore and flock have one)
Lock "phpt-shared_locks_semaphore_and_flock-%d" (tcp backend): cannot take it shared: the tcp backend has no shared mode (semaphore and flock have one)
ValueError: ExakatLock\Lock::acquireShared(): lock "phpt-shared_locks_semaphore_and_flock-%d" has 2 slots, and a lock with slots cannot be held shared
