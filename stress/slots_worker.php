<?php
// One process of the slots test: takes the lock again and again (with
// acquire(), or, in a mixed run, acquireShared() at random) until the stop
// file appears; every hold is logged to one O_APPEND file as an entry record
// just after the acquisition returned (with the slot it got and how long it
// waited) and an exit record just before release(); an acquisition that
// timed out is logged too. The orchestrator kills such workers with SIGKILL
// at random moments, so everything it needs is in the log, not in the
// worker's own report.
//
// With `new_object_percent`, that share of acquisitions is made on a new
// `Lock` object, the last one being destroyed: an object that held a
// semaphore lock removes the set when it goes, and must never do so under
// another holder (KB7 in FOUND-BUGS.md).
//
// Negative controls: with `lie`, a hold logged as exclusive is taken shared;
// with `checked_slots` (in the orchestrator), the lock has more slots than
// the checker is told.

declare(strict_types=1);
require __DIR__ . '/lib.php';

use ExakatLock\Lock;

$c = worker_config();
$pid = getmypid();
$id = (int) $c['worker']; // what the log calls this worker (pids are reused within a long run)
$log = fopen($c['log'], 'ab'); // O_APPEND: every record lands whole, in order
mt_srand($pid ^ (int) (hrtime(true) % 1_000_000));
$lock = new Lock($c['name'], $c['backend'], $c['options']);
echo "ready\n";
fgets(STDIN); // the start barrier (a replacement is told to go at once)

$errors = [];
$done = 0;
for ($i = 0; !file_exists($c['stop']); $i++) {
    if (mt_rand(1, 100) <= $c['new_object_percent']) {
        $lock = new Lock($c['name'], $c['backend'], $c['options']);
    }
    $shared = mt_rand(1, 100) <= $c['shared_percent'];
    $t0 = hrtime(true);
    try {
        $ok = ($shared || $c['lie']) ? $lock->acquireShared((float) $c['timeout']) : $lock->acquire((float) $c['timeout']);
    } catch (Throwable $e) {
        if (str_contains($e->getMessage(), KB6_MESSAGE)) {
            // KB6 (stress/FOUND-BUGS.md): counted by the orchestrator from the log.
            fwrite($log, slot_record('F', $shared ? 'S' : 'E', null, $id, $i, hrtime(true), hrtime(true) - $t0));
            continue;
        }
        $errors[] = get_class($e) . ': ' . $e->getMessage();
        break;
    }
    $t1 = hrtime(true);
    if (!$ok) {
        fwrite($log, slot_record('T', $shared ? 'S' : 'E', null, $id, $i, $t1, $t1 - $t0));
        continue;
    }
    $slot = $lock->slot();
    $mode = $shared ? 'S' : 'E';
    fwrite($log, slot_record($mode, $mode, $slot, $id, $i, $t1, $t1 - $t0));
    if (!$c['lie'] && $lock->isShared() !== $shared) {
        $errors[] = "isShared() is " . var_export($lock->isShared(), true) . ' after ' . ($shared ? 'acquireShared()' : 'acquire()');
    }
    usleep(mt_rand(0, $c['hold_us']));
    fwrite($log, slot_record('X', '', $slot, $id, $i, hrtime(true), 0));
    if (!$lock->release()) {
        $errors[] = "release() returned false at iteration $i";
        break;
    }
    $done++;
    if ($lock->slot() !== null) {
        $errors[] = 'slot() is not null after release()';
    }
    usleep(mt_rand(0, $c['gap_us']));
}
echo json_encode(['pid' => $pid, 'worker' => $id, 'done' => $done, 'errors' => $errors]), "\n";
