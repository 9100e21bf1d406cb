<?php
// The inheritance matrix: for every backend and every way a PHP script
// starts another program or process, the acquiring process takes the lock
// and starts a child (matrix_holder.php); the child (matrix_child.php) tries
// to release or take the lock; then the acquiring process ends while the
// child lives on. In every cell: the child cannot release the lock, shares
// no lock descriptor with the parent, and the lock is free once the
// acquiring process has ended, although the child still runs.

declare(strict_types=1);
require __DIR__ . '/lib.php';

const CELLS = [
    'exec' => "exec('… &')",
    'system' => "system('… &')",
    'passthru' => "passthru('… &')",
    'shell_exec' => "shell_exec('… &')",
    'backticks' => 'backticks `… &`',
    'popen' => "popen('… &')",
    'proc_open' => 'proc_open([…]) (no shell)',
    'proc_open_shell' => "proc_open('…') (via sh)",
    'setsid' => "exec('setsid -f …') (daemon)",
    'pcntl_exec' => 'pcntl_exec() (script replaced)',
    'pcntl_fork' => 'pcntl_fork(), parent ends later',
    'pcntl_fork_parent_exits' => 'pcntl_fork(), parent exits first',
    'double_fork_setsid' => 'double fork + posix_setsid() (daemon)',
];

/**
 * The socket inodes and lock file a process has open: what a child must not
 * share. The child lists its descriptors before it opens any lock of its own,
 * so a lock file among them can only be inherited.
 */
function lock_handles(int $pid, string $backend, array $options): array
{
    return array_values(array_filter(process_fds($pid), fn ($target) => str_starts_with($target, 'socket:')
        || ($backend === 'flock' && str_starts_with($target, $options['dir'] . '/exakat_lock.'))
        || ($backend === 'php-flock' && $target === $options['path'])));
}

/** Whether the lock is free; for the negative control, with PHP's own flock(). */
function matrix_probe(string $name, string $backend, array $options, float $timeout): bool
{
    if ($backend !== 'php-flock') {
        return probe_free($name, $backend, $options, $timeout);
    }
    $deadline = hrtime(true) + (int) ($timeout * 1e9);
    $file = fopen($options['path'], 'c');
    do {
        if (flock($file, LOCK_EX | LOCK_NB)) {
            fclose($file);
            return true;
        }
        usleep(1000);
    } while (hrtime(true) < $deadline);
    return false;
}

function matrix_cell(string $backend, string $via, string $cell): array
{
    $name = lock_name("matrix-$backend-$via-$cell");
    $options = $backend === 'php-flock' ? ['dir' => work_dir('locks'), 'path' => work_dir('locks') . "/php-flock-$cell.lock"]
        : backend_options($backend);
    $status = work_dir('matrix') . "/$backend-$via-$cell.status";
    $stop = work_dir('matrix') . "/$backend-$via-$cell.stop";
    @unlink($status);
    @unlink($stop);
    $child = ['name' => $name, 'backend' => $backend, 'options' => $options, 'status' => $status, 'stop' => $stop];
    $holder = new Proc(php_script('matrix_holder.php', ['cell' => $cell, 'via' => $via, 'name' => $name,
        'backend' => $backend, 'options' => $options, 'child' => $child]));
    $problems = [];
    $result = ['problems' => &$problems, 'released_ms' => null, 'child_pid' => null];
    $fail = function (string $what) use (&$problems): void {
        $problems[] = $what;
    };
    try {
        $held = $holder->line(15.0);
        if ($held === null || !str_starts_with($held, 'held ')) {
            $fail('the parent did not take the lock: ' . var_export($held, true) . ' ' . trim($holder->stderr()));
            return $result;
        }
        $spawned = $holder->line(15.0);
        if ($spawned !== 'spawned') {
            $fail('the parent did not start its child: ' . var_export($spawned, true) . ' ' . trim($holder->stderr()));
        }
        for ($i = 0; $i < 1500 && !file_exists($status); $i++) {
            usleep(10000);
        }
        $report = json_decode((string) @file_get_contents($status), true);
        if (!is_array($report)) {
            $fail('the child reported nothing; parent stderr: ' . trim($holder->stderr()));
            return $result;
        }
        $result['child_pid'] = $childPid = $report['pid'];
        foreach (['is_held' => 'isHeld()', 'release' => 'release()', 'exakat_unlock' => 'exakat_unlock()',
            'fresh_release' => 'release() on a new object', 'acquire' => 'acquire(0) while the parent holds it'] as $key => $what) {
            if (($report[$key] ?? false) !== false) {
                $fail("in the child, $what returned true");
            }
        }
        $parentAlive = !in_array($cell, ['pcntl_exec', 'pcntl_fork_parent_exits'], true);
        if ($parentAlive) {
            $shared = array_intersect(lock_handles($holder->pid, $backend, $options), $report['fds_at_start']);
            if ($shared !== []) {
                $fail('the child shares lock descriptors with the parent: ' . implode(', ', $shared));
            }
            if (matrix_probe($name, $backend, $options, 0.0)) {
                $fail("the lock was free while the parent held it, after the child's attempts");
            }
            $holder->send('exit');
            $end = $holder->finish(10.0);
            if (($end['code'] ?? -1) !== 0) {
                $fail('the parent ended badly: ' . json_encode($end) . ' ' . trim($holder->stderr()));
            }
        } elseif ($cell === 'pcntl_fork_parent_exits') {
            $holder->finish(10.0);
        } else {
            // pcntl_exec: the same process now runs the child program.
            if ($holder->pid !== $childPid) {
                $fail("pcntl_exec: the child runs as pid $childPid, not as the parent's pid {$holder->pid}");
            }
        }
        $ended = hrtime(true);
        if (!process_alive($childPid)) {
            $fail('the child died before the parent ended: the cell proves nothing');
        }
        $free = matrix_probe($name, $backend, $options, 5.0);
        $result['released_ms'] = round((hrtime(true) - $ended) / 1e6, 3);
        if (!$free) {
            $fail('the lock is still held after the acquiring process ended (the child keeps it)');
        }
        if (!process_alive($childPid)) {
            $fail('the child was not alive any more when the lock was found free');
        }
    } finally {
        touch($stop);
        $childPid = $result['child_pid'];
        for ($i = 0; $childPid !== null && $i < 500 && process_alive($childPid); $i++) {
            usleep(10000);
        }
        if ($childPid !== null && process_alive($childPid)) {
            posix_kill($childPid, 9);
            $fail('the child did not stop when asked');
        }
        $holder->finish(5.0);
    }
    return $result;
}

section('matrix', 'Inheritance matrix', function (Section $s): void {
    $vias = pick(['object'], ['object', 'exakat_lock']);
    $rows = [];
    $cells = 0;
    foreach ($vias as $via) {
        $table = [];
        foreach (CELLS as $cell => $what) {
            $row = [$what];
            foreach (backends() as $backend) {
                $r = matrix_cell($backend, $via, $cell);
                $cells++;
                $ok = $s->check("$backend, $what, lock taken with " . ($via === 'object' ? 'Lock::acquire()' : 'exakat_lock()')
                    . ': the child cannot release it and does not keep it', $r['problems'] === [], implode('; ', $r['problems']));
                $row[] = $ok ? sprintf('yes (%s ms)', $r['released_ms']) : 'NO: ' . implode('; ', $r['problems']);
                $s->figure("$via/$cell/$backend", $r);
            }
            $table[] = $row;
        }
        $s->table('Inheritance matrix, lock taken with ' . ($via === 'object' ? 'Lock::acquire()' : 'exakat_lock()'),
            array_merge(['child started with'], backends()), $table,
            'A cell reads "yes (t ms)" when the child could neither release the lock (release(), a new object\'s release(), exakat_unlock()) nor take it while the parent held it, shared no lock descriptor with the parent, and the lock was free t ms after the acquiring process ended (or, for pcntl_exec(), after the script was replaced) while the child still ran.');
    }
    $s->figure('cells', $cells);

    // The checks can fail: a lock taken with PHP's own flock() is inherited by exec()ed children.
    $r = matrix_cell('php-flock', 'object', 'exec');
    $s->check("negative control: the matrix reports a child that keeps PHP's own flock() lock", count($r['problems']) >= 2,
        implode('; ', $r['problems']));
    $s->figure('control_php_flock_exec', $r);
    $s->note("negative control, PHP's own fopen()+flock() and exec('… &'): " . implode('; ', $r['problems']));
});
