<?php
// Acquire/release cycles in one process, sampling its RSS, Zend memory,
// open descriptors, the SysV semaphore sets and the lock files as it goes.
// Variants: one object reused, a new object every cycle, the
// exakat_lock()/exakat_unlock() functions, and isHeld() on a held lock.

declare(strict_types=1);
require __DIR__ . '/lib.php';

use ExakatLock\Lock;

$c = worker_config();
$cycles = $c['cycles'];
$warmup = max(1, intdiv($cycles, 100));
// Samples go into a string of fixed size, so that keeping them allocates nothing.
$samples = str_repeat("\0", 16 * 48);
$taken = 0;
$lockFiles = fn () => isset($c['options']['dir']) ? count(glob($c['options']['dir'] . '/exakat_lock.*') ?: []) : -1;
$sample = function (int $done) use (&$samples, &$taken, $lockFiles): void {
    gc_collect_cycles();
    $zend = memory_get_usage();
    $samples = substr_replace($samples, pack('J6', $done, rss_kb(), $zend, fd_count(), count(semaphore_sets()), $lockFiles()), $taken++ * 48, 48);
};

$reused = in_array($c['variant'], ['reuse', 'isheld'], true) ? new Lock($c['name'], $c['backend'], $c['options']) : null;
if ($c['variant'] === 'isheld') {
    $reused->acquire();
}
$cycle = match ($c['variant']) {
    'reuse' => function () use ($reused): bool {
        return $reused->acquire() && $reused->release();
    },
    'isheld' => function () use ($reused): bool {
        return $reused->isHeld();
    },
    'new' => function () use ($c): bool {
        $lock = new Lock($c['name'], $c['backend'], $c['options']);
        return $lock->acquire() && $lock->release();
    },
    'functions' => function () use ($c): bool {
        return exakat_lock($c['name'], 0.0, $c['backend'], $c['options']) && exakat_unlock($c['name']);
    },
};

$failures = 0;
$checkpoints = 10;
$started = hrtime(true);
for ($i = 1; $i <= $cycles; $i++) {
    if (!$cycle()) {
        $failures++;
    }
    if ($i === $warmup) {
        $sample($i); // primes the sampling itself (file(), glob(), stat caches)...
        $sample($i); // ...so that this second sample is the baseline
    } elseif ($i % intdiv($cycles, $checkpoints) === 0) {
        $sample($i);
    }
}
$seconds = (hrtime(true) - $started) / 1e9;
unset($cycle, $reused);
$sample($cycles); // after the reused object is gone
$list = [];
for ($k = 0; $k < $taken; $k++) {
    $list[] = array_combine(['cycles', 'rss_kb', 'zend_bytes', 'fds', 'sem_sets', 'lock_files'], array_values(unpack('J6', $samples, $k * 48)));
}
echo json_encode(['samples' => $list, 'failures' => $failures, 'seconds' => round($seconds, 2),
    'us_per_cycle' => round($seconds / $cycles * 1e6, 2)]), "\n";
