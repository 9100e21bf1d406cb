<?php
// A mysql lock holder for the fault tests. Takes the lock, prints one JSON
// line per event ({"t": hrtime seconds, "event": ...}), and then either checks
// isHeld() every `check_every` seconds or stays silent; on stdin, "check"
// asks isHeld() now, "release" releases, "quit" ends.

declare(strict_types=1);
require __DIR__ . '/lib.php';

use ExakatLock\Lock;

$c = worker_config();
/** What the object believes without asking the server (var_dump's "held"). */
$believes = fn (Lock $lock): bool => str_contains(print_r($lock, true), '[held] => 1');
$lock = new Lock($c['name'], 'mysql', ['dsn' => $c['dsn']]);
try {
    $took = $lock->acquire(10.0);
    say_event($took ? 'held' : 'not held', ['connection_id' => $took ? $lock->holder()['connection_id'] : null]);
} catch (Throwable $e) {
    say_event('error', ['message' => $e->getMessage()]);
    exit(1);
}
$check = function () use ($lock, $believes): void {
    $before = $believes($lock);
    $t0 = hrtime(true);
    try {
        $held = $lock->isHeld();
        say_event('isHeld', ['result' => $held, 'took' => (hrtime(true) - $t0) / 1e9, 'believed_before' => $before]);
    } catch (Throwable $e) {
        say_event('isHeld', ['result' => 'exception', 'message' => $e->getMessage(), 'took' => (hrtime(true) - $t0) / 1e9, 'believed_before' => $before]);
    }
};
$next = $c['check_every'] > 0 ? hrtime(true) + (int) ($c['check_every'] * 1e9) : PHP_INT_MAX;
while (true) {
    $wait = min(1.0, max(0.0, ($next - hrtime(true)) / 1e9));
    $read = [STDIN];
    $none = null;
    if (@stream_select($read, $none, $none, (int) $wait, (int) (($wait - (int) $wait) * 1e6)) > 0) {
        $line = fgets(STDIN);
        $command = $line === false ? 'quit' : trim($line);
        if ($command === 'check') {
            $check();
        } elseif ($command === 'believes') {
            say_event('believes', ['result' => $believes($lock)]);
        } elseif ($command === 'release') {
            try {
                say_event('release', ['result' => $lock->release()]);
            } catch (Throwable $e) {
                say_event('release', ['result' => 'exception', 'message' => $e->getMessage()]);
            }
        } elseif ($command === 'quit') {
            exit(0);
        }
    }
    if (hrtime(true) >= $next) {
        $check();
        $next = hrtime(true) + (int) ($c['check_every'] * 1e9);
    }
}
