<?php
// Tries a lock once (or for `timeout` seconds) and prints one JSON line:
// {"taken": bool, "holder": ?array, "error": ?string, "pid": int}.

declare(strict_types=1);
require __DIR__ . '/lib.php';

use ExakatLock\Lock;

$c = worker_config();
$out = ['taken' => false, 'holder' => null, 'error' => null, 'pid' => getmypid()];
try {
    $lock = new Lock($c['name'], $c['backend'], $c['options']);
    $out['taken'] = $lock->acquire((float) ($c['timeout'] ?? 0.0));
    $out['holder'] = $lock->holder();
    if ($out['taken']) {
        $lock->release();
    }
} catch (Throwable $e) {
    $out['error'] = get_class($e) . ': ' . $e->getMessage();
}
echo json_encode($out, JSON_INVALID_UTF8_SUBSTITUTE), "\n";
