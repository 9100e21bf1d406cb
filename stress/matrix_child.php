<?php
// The child of one inheritance-matrix cell, started by matrix_holder.php in
// one of the ways a PHP script starts programs. It tries every way to release
// or take the parent's lock, writes what happened to its status file, then
// lives on (so the test can see whether the lock outlives the parent) until
// the stop file appears.
//
// Run as a program: php matrix_child.php CONFIG. matrix_holder.php also
// includes it and calls child_checks() in forked children, passing the Lock
// object the child inherited.

declare(strict_types=1);
require_once __DIR__ . '/lib.php';

use ExakatLock\Lock;

/**
 * $inherited: the parent's Lock object (forked children), or null (a new
 * program, which can only make its own). $parentAlive: whether the parent is
 * known to hold the lock now, so that a successful acquire() is a violation
 * rather than a legitimate new acquisition.
 */
function child_checks(array $c, ?Lock $inherited, bool $parentAlive): void
{
    // What the child has open before it touches any lock: anything the
    // parent's lock lives on would be inherited.
    $fdsAtStart = array_values(process_fds(getmypid()));
    if ($c['backend'] === 'php-flock') {
        // The negative control: PHP's own flock(), which the child cannot call release on.
        $result = ['pid' => getmypid(), 'fds_at_start' => $fdsAtStart];
        file_put_contents($c['status'] . '.tmp', json_encode($result));
        rename($c['status'] . '.tmp', $c['status']);
        for ($i = 0; $i < 600 && !file_exists($c['stop']); $i++) {
            usleep(100000);
        }
        return;
    }
    $lock = $inherited ?? new Lock($c['name'], $c['backend'], $c['options']);
    $result = ['pid' => getmypid(), 'fds_at_start' => $fdsAtStart, 'inherited_object' => $inherited !== null, 'parent_alive' => $parentAlive,
        'is_held' => $lock->isHeld(), 'release' => $lock->release(), 'exakat_unlock' => exakat_unlock($c['name'])];
    if ($inherited !== null) {
        // A second, fresh object too: it must not be able to release it either.
        $fresh = new Lock($c['name'], $c['backend'], $c['options']);
        $result['fresh_release'] = $fresh->release();
    }
    if ($parentAlive) {
        $result['acquire'] = $lock->acquire(0.0);
        if ($result['acquire']) {
            $lock->release();
        }
    }
    file_put_contents($c['status'] . '.tmp', json_encode($result));
    rename($c['status'] . '.tmp', $c['status']);
    for ($i = 0; $i < 600 && !file_exists($c['stop']); $i++) {
        usleep(100000);
    }
}

if (realpath($_SERVER['SCRIPT_FILENAME'] ?? '') === __FILE__) {
    $c = worker_config();
    child_checks($c, null, $c['parent_alive']);
}
