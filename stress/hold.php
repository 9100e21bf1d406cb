<?php
// Takes a lock and holds it until a line arrives on stdin. Prints "held PID",
// "busy", or "error CLASS: MESSAGE". Used wherever a holder must live in
// another namespace, as another user, or on another host.

declare(strict_types=1);
require __DIR__ . '/lib.php';

use ExakatLock\Lock;

$c = worker_config();
try {
    $lock = new Lock($c['name'], $c['backend'], $c['options']);
    echo $lock->acquire((float) ($c['timeout'] ?? 5.0)) ? 'held ' . getmypid() : 'busy', "\n";
} catch (Throwable $e) {
    echo 'error ', get_class($e), ': ', str_replace("\n", ' ', $e->getMessage()), "\n";
    exit(0);
}
fgets(STDIN);
echo json_encode(['still_held' => $lock->isHeld(), 'released' => $lock->release()]), "\n";
