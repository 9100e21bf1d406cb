<?php
// A mysql lock waiter for the fault tests: tries acquire(`wait`) again and
// again (a LockException is printed and retried after 0.2 s) until it holds
// the lock, then holds it until "quit" on stdin. One JSON line per event.

declare(strict_types=1);
require __DIR__ . '/lib.php';

use ExakatLock\Lock;

$c = worker_config();
$lock = new Lock($c['name'], 'mysql', ['dsn' => $c['dsn'], 'connect_timeout' => 2]);
say_event('waiting');
$deadline = hrtime(true) + (int) ($c['give_up'] * 1e9);
while (hrtime(true) < $deadline) {
    $t0 = hrtime(true);
    try {
        if ($lock->acquire((float) $c['wait'])) {
            say_event('acquired', ['waited' => (hrtime(true) - $t0) / 1e9]);
            fgets(STDIN);
            say_event('release', ['result' => $lock->release()]);
            exit(0);
        }
        if ($c['report_timeouts'] ?? false) {
            say_event('timeout', ['waited' => (hrtime(true) - $t0) / 1e9]);
        }
    } catch (Throwable $e) {
        say_event('error', ['message' => $e->getMessage(), 'waited' => (hrtime(true) - $t0) / 1e9]);
        usleep(200000);
    }
}
say_event('gave up');
