<?php
// A root contender of the hostile section: for `seconds`, takes the lock
// with acquire(timeout) and, while holding it, appends an entry and an exit
// record to the shared log (see lib.php), then releases. Another user is
// attacking the lock meanwhile: refusals (LockException) and timeouts are
// counted, not errors; what must never happen is two holders at once (the
// log shows it) or a call that blocks past its timeout (timed here, and a
// worker that never reports is a hang).

declare(strict_types=1);
require __DIR__ . '/lib.php';

use ExakatLock\Lock;
use ExakatLock\LockException;

$c = worker_config();
$pid = getmypid();
$log = fopen($c['log'], 'ab');
$lock = new Lock($c['name'], $c['backend'], $c['options']);
echo "ready\n";
fgets(STDIN);

$report = ['pid' => $pid, 'acquired' => 0, 'timeouts' => 0, 'refusals' => 0, 'refusal_sample' => null,
    'slow_calls' => [], 'errors' => [], 'lost_before_release' => 0];
$slow = function (string $call, float $seconds, float $allowed) use (&$report): void {
    if ($seconds > $allowed && count($report['slow_calls']) < 10) {
        $report['slow_calls'][] = sprintf('%s took %.3f s', $call, $seconds);
    }
};
$end = hrtime(true) + (int) ($c['seconds'] * 1e9);
$seq = 0;
while (hrtime(true) < $end) {
    if ($c['fresh_object'] ?? false) {
        // As a script run from cron would: a new object, so the lock's path is resolved again.
        $lock = new Lock($c['name'], $c['backend'], $c['options']);
    }
    $t0 = hrtime(true);
    try {
        $taken = $lock->acquire((float) $c['timeout']);
    } catch (LockException $e) {
        $report['refusals']++;
        $report['refusal_sample'] ??= substr($e->getMessage(), 0, 200);
        $slow('a refused acquire()', (hrtime(true) - $t0) / 1e9, 1.0);
        usleep(20000);
        continue;
    } catch (Throwable $e) {
        $report['errors'][] = get_class($e) . ': ' . $e->getMessage();
        break;
    }
    $t1 = hrtime(true);
    $slow("acquire({$c['timeout']})", ($t1 - $t0) / 1e9, $c['timeout'] + 1.0);
    if (!$taken) {
        $report['timeouts']++;
        continue;
    }
    fwrite($log, record('E', $pid, $seq, $t1));
    if (mt_rand(0, 3) === 0) {
        usleep(mt_rand(0, 300));
    }
    $stillHeld = $lock->isHeld();
    fwrite($log, record('X', $pid, $seq, hrtime(true)));
    $seq++;
    $report['acquired']++;
    if (!$stillHeld) {
        $report['lost_before_release']++;
    }
    $t2 = hrtime(true);
    try {
        $lock->release();
    } catch (Throwable $e) {
        $report['errors'][] = get_class($e) . ': ' . $e->getMessage();
        break;
    }
    $slow('release()', (hrtime(true) - $t2) / 1e9, 1.0);
}
echo json_encode($report, JSON_INVALID_UTF8_SUBSTITUTE), "\n";
