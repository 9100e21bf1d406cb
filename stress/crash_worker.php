<?php
// One process of the crash-recovery test: takes the lock again and again,
// holds it a random while (logging entry and exit like mutex_worker.php),
// until the stop file appears. The orchestrator kills such workers with
// SIGKILL at random moments: holding, waiting, or in between.

declare(strict_types=1);
require __DIR__ . '/lib.php';

use ExakatLock\Lock;

$c = worker_config();
$pid = getmypid();
$log = fopen($c['log'], 'ab');
mt_srand($pid);
$lock = new Lock($c['name'], $c['backend'], $c['options']);
echo "ready\n";

$stalls = [];
$errors = [];
for ($i = 0; !file_exists($c['stop']); $i++) {
    $t0 = hrtime(true);
    try {
        $ok = $lock->acquire((float) $c['timeout']);
    } catch (Throwable $e) {
        $errors[] = get_class($e) . ': ' . $e->getMessage();
        break;
    }
    $t1 = hrtime(true);
    if ($t1 - $t0 > $c['stall_after'] * 1e9) {
        $stalls[] = round(($t1 - $t0) / 1e9, 3);
    }
    if (!$ok) {
        continue;
    }
    fwrite($log, record('E', $pid, $i, $t1));
    usleep(mt_rand(0, $c['hold_us']));
    fwrite($log, record('X', $pid, $i, hrtime(true)));
    $lock->release();
    usleep(mt_rand(0, 500));
}
echo json_encode(['pid' => $pid, 'errors' => $errors, 'stalls' => $stalls]), "\n";
