<?php
// Mutual exclusion under load: 8 processes take the lock thousands of times
// each and log every entry and exit; check_log() proves no two ever
// overlapped, and a shared counter proves no update was lost. The checker is
// shown able to fail first: on synthetic logs, and live on two locks that do
// not exclude (no lock at all, and the seed article's tcp lock).

declare(strict_types=1);
require __DIR__ . '/lib.php';

/** Holds last at most 200 µs: a wait longer than STALL_SECONDS is a waiter that missed a release. */
const STALL_SECONDS = 2.0;
/** Waits are bounded, so a stalled waiter is measured rather than hung. */
const WAIT_SECONDS = 5.0;

/** Runs `procs` workers on one lock and checks the merged log. */
function mutex_run(string $backend, int $procs, int $iterations): array
{
    $name = lock_name("mutex-$backend");
    $options = $backend === 'seed-tcp' ? ['port' => free_port()] : (in_array($backend, BACKENDS, true) ? backend_options($backend) : []);
    $log = work_dir('mutex') . "/$backend.log";
    $counter = work_dir('mutex') . "/$backend.counter";
    file_put_contents($log, '');
    file_put_contents($counter, pack('J', 0));
    $config = ['backend' => $backend, 'name' => $name, 'options' => $options, 'iterations' => $iterations,
        'log' => $log, 'counter' => $counter, 'hold_us' => 200, 'timeout' => WAIT_SECONDS, 'stall_after' => STALL_SECONDS];
    $workers = [];
    for ($i = 0; $i < $procs; $i++) {
        $workers[] = new Proc(php_script('mutex_worker.php', $config));
    }
    $problems = [];
    foreach ($workers as $w) {
        if ($w->line(30.0) !== 'ready') {
            $problems[] = "worker {$w->pid} did not start: " . trim($w->stderr());
        }
    }
    $started = hrtime(true);
    foreach ($workers as $w) {
        $w->send('go');
    }
    $done = 0;
    $waitP99 = [];
    $waitMax = 0.0;
    $stalls = [];
    $budget = pick(240.0, 1200.0);
    foreach ($workers as $w) {
        $line = $w->line(max(1.0, $budget - (hrtime(true) - $started) / 1e9));
        $end = $w->finish(10.0);
        $report = $line === null ? null : json_decode($line, true);
        if ($report === null) {
            $problems[] = "worker {$w->pid} hung or died (exit " . json_encode($end) . '): ' . trim($w->stderr());
            continue;
        }
        $done += $report['done'];
        $waitP99[] = $report['wait_p99_ms'];
        $waitMax = max($waitMax, $report['wait_max_ms']);
        $stalls = array_merge($stalls, $report['stalls']);
        foreach ($report['errors'] as $error) {
            $problems[] = "worker {$w->pid}: $error";
        }
        if (($end['code'] ?? -1) !== 0 || trim($w->stderr()) !== '') {
            $problems[] = "worker {$w->pid} exit " . json_encode($end) . ' stderr: ' . trim($w->stderr());
        }
    }
    $seconds = (hrtime(true) - $started) / 1e9;
    [$records, $trailing] = parse_log((string) file_get_contents($log));
    $check = check_log($records, $trailing);
    $final = unpack('J', (string) file_get_contents($counter))[1];
    return ['backend' => $backend, 'procs' => $procs, 'iterations' => $iterations, 'acquisitions' => $done,
        'expected' => $procs * $iterations, 'seconds' => round($seconds, 2),
        'per_second' => (int) round($done / max($seconds, 1e-9)), 'check' => $check, 'counter' => $final,
        'lost_updates' => $done - $final, 'wait_p99_ms_worst_worker' => $waitP99 ? max($waitP99) : null,
        'wait_max_ms' => $waitMax, 'stalls' => count($stalls), 'stalled_seconds' => array_sum($stalls), 'problems' => $problems];
}

section('mutex', 'Mutual exclusion under load', function (Section $s): void {
    // 1. The checker can fail: synthetic logs.
    $clean = '';
    $t = 1000;
    for ($i = 0; $i < 100; $i++) {
        $clean .= record('E', 100 + $i % 3, $i, $t += 10) . record('X', 100 + $i % 3, $i, $t += 10);
    }
    $interleaved = record('E', 1, 0, 10) . record('E', 2, 0, 20) . record('X', 1, 0, 30) . record('X', 2, 0, 40);
    $timeOnly = record('E', 1, 0, 10) . record('X', 1, 0, 50) . record('E', 2, 0, 40) . record('X', 2, 0, 60);
    $killedEarly = record('E', 1, 0, 10) . record('E', 2, 0, 20) . record('X', 2, 0, 30);
    $killedLate = $killedEarly;
    $cases = [
        ['a clean log', $clean, [], 0],
        ['two holders interleaved in the file', $interleaved, [], 1],
        ['intervals overlapping in time only', $timeOnly, [], 1],
        ['a holder entering before the previous holder was killed', $killedEarly, [1 => 25], 1],
        ['a holder entering after the previous holder was killed', $killedLate, [1 => 15], 0],
        ['a torn record', $clean . 'xyz', [], -1],
        ['an exit without an entry', record('X', 1, 0, 10), [], -1],
    ];
    $rows = [];
    foreach ($cases as [$what, $bytes, $killed, $expected]) {
        [$records, $trailing] = parse_log($bytes);
        $r = check_log($records, $trailing, $killed);
        $ok = $expected === -1 ? $r['malformed'] > 0 : ($expected === 0 ? $r['violations'] === 0 && $r['malformed'] === 0 : $r['violations'] >= $expected);
        $s->check("checker self-test: $what", $ok, json_encode($r));
        $rows[] = [$what, $expected === -1 ? 'malformed' : ($expected ? 'violation' : 'clean'), "{$r['violations']} violations, {$r['malformed']} malformed", $ok ? 'yes' : 'NO'];
    }
    $s->table('Checker self-test (synthetic logs)', ['log', 'expected', 'checker said', 'right'], $rows);

    // 2. The checker catches real overlaps: locks that do not exclude.
    $procs = 8;
    $rows = [];
    foreach (['none' => 'no lock at all', 'seed-tcp' => "the seed article's tcp lock (bind without listen)"] as $control => $what) {
        $r = mutex_run($control, $procs, 200);
        $caught = $r['check']['violations'] + $r['lost_updates'];
        $s->check("negative control ($what): the checker reports overlaps", $caught > 0,
            "{$r['check']['violations']} overlaps, {$r['lost_updates']} lost updates");
        $rows[] = [$what, "$procs × 200", $r['acquisitions'], $r['check']['order_violations'], $r['check']['time_overlaps'], $r['lost_updates']];
        $s->figure("control_$control", $r);
    }
    $s->table('Negative controls (must show violations)', ['lock', 'processes × acquisitions', 'acquisitions', 'overlaps (file order)', 'overlaps (time)', 'lost updates'], $rows);

    // 3. Every backend.
    $iterations = pick(1000, 5000);
    $rows = [];
    foreach (backends() as $backend) {
        $r = mutex_run($backend, $procs, $iterations);
        $s->figure($backend, $r);
        foreach ($r['problems'] as $p) {
            $s->check("$backend: every worker ran to its end without error", false, $p);
        }
        $s->check("$backend: all acquisitions happened", $r['acquisitions'] === $r['expected'], "{$r['acquisitions']} of {$r['expected']}");
        $s->check("$backend: the log is complete", $r['check']['entries'] === $r['acquisitions'] && $r['check']['malformed'] === 0,
            json_encode($r['check']['problems']));
        $s->check("$backend: no two holders overlapped", $r['check']['violations'] === 0, implode('; ', $r['check']['problems']));
        $s->check("$backend: no update of the shared counter was lost", $r['lost_updates'] === 0, "counter {$r['counter']}");
        $stalled = "{$r['stalls']} waits longer than " . STALL_SECONDS . ' s although holds last at most 0.2 ms';
        $s->check("$backend: no waiter sleeps through a release", $r['stalls'] === 0, $stalled);
        $rows[] = [$backend, "$procs × $iterations", $r['acquisitions'], $r['check']['records'], $r['check']['violations'],
            $r['lost_updates'], $r['stalls'], $r['seconds'], $r['per_second'], $r['wait_max_ms']];
        printf("   %s: %d acquisitions in %.2f s, %d violations\n", $backend, $r['acquisitions'], $r['seconds'], $r['check']['violations']);
    }
    $s->table('Mutual exclusion under load', ['backend', 'processes × acquisitions', 'acquisitions', 'log records',
        'overlaps', 'lost updates', 'stalled waits', 'seconds', 'acquisitions/s', 'longest wait (ms)'], $rows,
        'Every holder appends an entry record after acquire() and an exit record before release() to one O_APPEND log, and increments a shared counter (read-modify-write) in between; 1 in 4 holds also sleeps up to 200 µs. A stalled wait is one longer than ' . STALL_SECONDS . ' s although no hold lasts more than 0.2 ms: the waiter slept through a release (acquire() waits at most ' . WAIT_SECONDS . ' s, then the worker tries again).');
});
