<?php
// Used by docker/check.sh to show which backends exclude across containers.
//
//   php cross-container.php hold DIR
//       takes one lock of each backend (flock's files in DIR, a volume the
//       containers share), writes DIR/ready, keeps the locks until DIR/stop
//       appears, then releases them.
//   php cross-container.php probe DIR BACKEND=free|taken ...
//       tries each lock once and exits 1 if any is not as expected.

declare(strict_types=1);

use ExakatLock\Lock;

const NAME = 'exakat_lock-cross-container';
const BACKENDS = ['flock', 'socket', 'semaphore', 'tcp'];

function lock_for(string $backend, string $dir): Lock
{
    return new Lock(NAME, $backend, $backend === 'flock' ? ['dir' => $dir] : []);
}

[, $mode, $dir] = $argv + [null, '', ''];
if ($dir === '' || !is_dir($dir)) {
    fwrite(STDERR, "usage: php cross-container.php hold|probe DIR [BACKEND=free|taken ...]\n");
    exit(2);
}

if ($mode === 'hold') {
    $locks = [];
    foreach (BACKENDS as $backend) {
        $lock = lock_for($backend, $dir);
        if (!$lock->acquire()) {
            fwrite(STDERR, "hold: the $backend lock is already taken\n");
            exit(1);
        }
        $locks[] = $lock;
    }
    file_put_contents("$dir/ready", gethostname() . "\n");
    echo 'holding ', implode(', ', BACKENDS), ' in container ', gethostname(), "\n";
    // A bounded wait: a check that dies half-way must not leave this behind.
    $deadline = microtime(true) + 120;
    while (!file_exists("$dir/stop")) {
        if (microtime(true) > $deadline) {
            fwrite(STDERR, "hold: never told to stop\n");
            exit(1);
        }
        usleep(20000);
    }
    foreach ($locks as $lock) {
        if (!$lock->release()) {
            fwrite(STDERR, "hold: the {$lock->backend()} lock was lost while held\n");
            exit(1);
        }
    }
    echo "released\n";
    exit(0);
}

if ($mode === 'probe') {
    $status = 0;
    foreach (array_slice($argv, 3) as $expectation) {
        [$backend, $expected] = explode('=', $expectation, 2) + [1 => ''];
        $lock = lock_for($backend, $dir);
        $got = $lock->acquire() ? 'free' : 'taken';
        $seen = $got === 'taken' ? ', holder() ' . json_encode($lock->holder()) : '';
        echo str_pad($backend, 10), "$got (expected $expected)$seen\n";
        if ($got !== $expected) {
            $status = 1;
        }
        $lock->release();
    }
    exit($status);
}

fwrite(STDERR, "unknown mode '$mode'\n");
exit(2);
