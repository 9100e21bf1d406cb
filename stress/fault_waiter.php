<?php
// A mysql lock waiter for the fault tests: tries acquire(`wait`) again and
// again (a LockException is printed and retried after 0.2 s) until it holds
// the lock, then holds it until "quit" on stdin. One JSON line per event.

declare(strict_types=1);
require __DIR__ . '/lib.php';

use ExakatLock\Lock;

$c = worker_config();
$say = function (string $event, array $more = []): void {
    echo json_encode(['t' => hrtime(true) / 1e9, 'event' => $event] + $more), "\n";
};
$lock = new Lock($c['name'], 'mysql', ['dsn' => $c['dsn'], 'connect_timeout' => 2]);
$say('waiting');
$deadline = hrtime(true) + (int) ($c['give_up'] * 1e9);
while (hrtime(true) < $deadline) {
    $t0 = hrtime(true);
    try {
        if ($lock->acquire((float) $c['wait'])) {
            $say('acquired', ['waited' => (hrtime(true) - $t0) / 1e9]);
            fgets(STDIN);
            $say('release', ['result' => $lock->release()]);
            exit(0);
        }
        if ($c['report_timeouts'] ?? false) {
            $say('timeout', ['waited' => (hrtime(true) - $t0) / 1e9]);
        }
    } catch (Throwable $e) {
        $say('error', ['message' => $e->getMessage(), 'waited' => (hrtime(true) - $t0) / 1e9]);
        usleep(200000);
    }
}
$say('gave up');
