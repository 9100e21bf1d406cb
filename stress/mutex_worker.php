<?php
// One of the processes of the mutual-exclusion test: takes the lock
// `iterations` times; while holding it, appends an entry record, does a
// read-modify-write of a shared counter file (a lost update shows an
// overlap too), sometimes sleeps, appends an exit record, releases.
//
// Backends: the extension's, plus two negative controls the checker must
// catch: "none" (no lock at all) and "seed-tcp" (the seed article's lock:
// stream_socket_server() with STREAM_SERVER_BIND only, which PHP opens with
// SO_REUSEADDR, so it excludes nobody).

declare(strict_types=1);
require __DIR__ . '/lib.php';

use ExakatLock\Lock;

$c = worker_config();
$pid = getmypid();
$log = fopen($c['log'], 'ab'); // O_APPEND: every record lands whole, in order
$counter = fopen($c['counter'], 'r+b');
stream_set_read_buffer($counter, 0);
stream_set_write_buffer($counter, 0);
mt_srand($pid);

$held = null;
switch ($c['backend']) {
    case 'none':
        $acquire = fn () => true;
        $release = fn () => true;
        break;
    case 'seed-tcp':
        $acquire = function () use ($c, &$held): bool {
            $deadline = hrtime(true) + (int) ($c['timeout'] * 1e9);
            do {
                $held = @stream_socket_server("tcp://127.0.0.1:{$c['options']['port']}", $errno, $error, STREAM_SERVER_BIND);
                if ($held) {
                    return true;
                }
                usleep(100);
            } while (hrtime(true) < $deadline);
            return false;
        };
        $release = function () use (&$held): bool {
            fclose($held);
            return true;
        };
        break;
    default:
        $lock = new Lock($c['name'], $c['backend'], $c['options']);
        $acquire = fn () => $lock->acquire((float) $c['timeout']);
        $release = fn () => $lock->release();
}

echo "ready\n";
fgets(STDIN); // the start barrier: every worker starts at once

$waits = [];
$stalls = [];
$errors = [];
$done = 0;
for ($i = 0; $i < $c['iterations']; $i++) {
    $t0 = hrtime(true);
    try {
        $ok = $acquire();
    } catch (Throwable $e) {
        $errors[] = get_class($e) . ': ' . $e->getMessage();
        break;
    }
    $t1 = hrtime(true);
    if ($t1 - $t0 > $c['stall_after'] * 1e9) {
        // Holds last at most 0.2 ms: a wait this long means the waiter
        // missed a release (a stall). Count it; wait again if it timed out.
        $stalls[] = round(($t1 - $t0) / 1e9, 3);
        if (count($stalls) > 20) {
            $errors[] = 'more than 20 stalls; giving up';
            break;
        }
    }
    if (!$ok) {
        $i--;
        continue;
    }
    fwrite($log, record('E', $pid, $i, $t1));
    fseek($counter, 0);
    $value = unpack('J', fread($counter, 8))[1];
    if (mt_rand(0, 3) === 0) {
        usleep(mt_rand(0, $c['hold_us']));
    }
    fseek($counter, 0);
    fwrite($counter, pack('J', $value + 1));
    fwrite($log, record('X', $pid, $i, hrtime(true)));
    if (!$release()) {
        $errors[] = "release() returned false at iteration $i";
        break;
    }
    $waits[] = $t1 - $t0;
    $done++;
}
echo json_encode(['pid' => $pid, 'done' => $done, 'errors' => $errors, 'stalls' => $stalls,
    'wait_p99_ms' => round((percentile($waits, 99) ?? 0) / 1e6, 3), 'wait_max_ms' => round(($waits ? max($waits) : 0) / 1e6, 3)]), "\n";
