<?php
// Hostile neighbours (API.md, "Other users and hostile neighbours"): while
// a second user (nobody, hostile_attacker.php) attacks a lock of every local
// backend, root processes (hostile_worker.php) contend for it and log every
// hold to one file, and this process asks holder() over and over. Another
// user may deny a lock (hold it, or make it refused), but never: two holders
// at once (check_log() on the shared log), a call blocking past its
// timeout, or holder() naming a process that does not hold the lock.

declare(strict_types=1);
require __DIR__ . '/lib.php';

use ExakatLock\Lock;
use ExakatLock\LockException;

const NOBODY = 65534;
const WORKERS = 4;
/** acquire() timeout of the workers; a call longer than this + 1 s is a block past the timeout. */
const WORKER_TIMEOUT = 0.5;

function as_nobody(array $command): array
{
    return array_merge(['setpriv', '--reuid=' . NOBODY, '--regid=' . NOBODY, '--clear-groups', '--'], $command);
}

/** The attacker's command: PHP with ext-sockets and FFI from the staged copy (nobody cannot enter the checkout). */
function attacker_command(array $config): array
{
    $extensions = [];
    foreach (['sockets', 'ffi'] as $extension) {
        if (!extension_loaded($extension)) {
            $extensions = array_merge($extensions, ['-d', 'extension=' . PHP_EXTENSION_DIR . "/$extension.so"]);
        }
    }
    return as_nobody(array_merge(php_cmd(stage() . '/ext'), $extensions, ['-d', 'ffi.enable=1',
        stage() . '/hostile_attacker.php', base64_encode(json_encode($config, JSON_THROW_ON_ERROR))]));
}

/** Runs one attack against one lock while root workers contend for it; returns the table row. */
function hostile_run(Section $s, string $what, string $backend, string $name, array $options, array $attack, bool $attackerMayHold): array
{
    $log = work_dir('hostile-logs') . '/' . md5($what) . '.log';
    file_put_contents($log, '');
    $seconds = (float) pick(4, 60);

    $attacker = new Proc(attacker_command($attack));
    $ready = $attacker->line(20.0);
    if ($ready === null || !str_starts_with($ready, 'ready ')) {
        $s->check("$what: the attacker starts", false, ($ready ?? 'no line') . ' ' . trim($attacker->stderr()));
        return [$what, 'attacker did not start', '', '', '', '', '', ''];
    }
    $attackerPid = (int) substr($ready, 6);
    usleep(200000); // the attack is under way before anyone contends

    $config = ['name' => $name, 'backend' => $backend, 'options' => $options, 'log' => $log, 'seconds' => $seconds,
        'timeout' => WORKER_TIMEOUT, 'fresh_object' => $backend === 'flock'];
    $workers = [];
    for ($i = 0; $i < WORKERS; $i++) {
        $workers[] = new Proc(php_script('hostile_worker.php', $config));
    }
    foreach ($workers as $w) {
        $line = $w->line(20.0);
        $s->check("$what: worker {$w->pid} starts", $line === 'ready', ($line ?? 'no line') . ' ' . trim($w->stderr()));
    }
    foreach ($workers as $w) {
        $w->send('go');
    }
    $workerPids = array_map(fn (Proc $w) => $w->pid, $workers);

    // holder() over and over while they contend (for socket, each call is
    // also a connection queued on the holder's listener).
    $probe = new Lock($name, $backend, $options);
    $asked = 0;
    $misnamed = [];
    $probeErrors = 0;
    $end = hrtime(true) + (int) (($seconds + 0.5) * 1e9);
    while (hrtime(true) < $end) {
        try {
            $holder = $probe->holder();
            $asked++;
            $pid = $holder['pid'] ?? null;
            $truthful = $pid === null || in_array($pid, $workerPids, true) || ($attackerMayHold && $pid === $attackerPid);
            if (!$truthful && count($misnamed) < 5) {
                $misnamed[] = $pid === $attackerPid ? "the attacker ($pid)" : "pid $pid";
            }
        } catch (LockException $e) {
            $probeErrors++;
        }
        usleep(2000);
    }
    unset($probe);

    $reports = [];
    $hung = [];
    $killed = [];
    foreach ($workers as $w) {
        $line = $w->line(WORKER_TIMEOUT + 3.0);
        $report = $line === null ? null : json_decode($line, true);
        if ($report === null) {
            $killed[$w->pid] = hrtime(true);
            $hung[] = $w->pid;
            $w->kill(9);
        } else {
            $reports[] = $report;
        }
        $end = $w->finish(5.0);
        if ($report !== null && (($end['code'] ?? -1) !== 0 || trim($w->stderr()) !== '')) {
            $s->check("$what: worker {$w->pid} ends cleanly", false, json_encode($end) . ' ' . trim($w->stderr()));
        }
    }
    $attacker->send('stop');
    $attack = json_decode((string) $attacker->line(10.0), true);
    $attacker->finish(5.0);

    [$records, $trailing] = parse_log((string) file_get_contents($log));
    $check = check_log($records, $trailing, $killed);
    $sum = fn (string $key) => array_sum(array_column($reports, $key));
    $slow = array_merge(...array_map(fn ($r) => $r['slow_calls'], $reports ?: [['slow_calls' => []]]));
    $errors = array_merge(...array_map(fn ($r) => $r['errors'], $reports ?: [['errors' => []]]));
    $refusal = array_values(array_filter(array_column($reports, 'refusal_sample')))[0] ?? '';
    $counts = $attack['counts'] ?? [];

    $s->check("$what: the attack ran", $counts !== [], json_encode($attack) . ' ' . trim($attacker->stderr()));
    $s->check("$what: no two root processes held the lock at once", $check['violations'] === 0, implode('; ', $check['problems']));
    $s->check("$what: no worker hung", $hung === [], 'killed after waiting ' . (WORKER_TIMEOUT + 3.0) . ' s for its report: ' . implode(', ', $hung));
    $s->check("$what: no call blocked past its timeout", $slow === [], implode('; ', array_slice($slow, 0, 5)));
    $s->check("$what: no error other than a LockException", $errors === [], implode('; ', array_slice($errors, 0, 3)));
    $s->check("$what: holder() never named a process that does not hold the lock", $misnamed === [], implode(', ', $misnamed));
    foreach ($counts as $event => $n) {
        if (strtoupper($event) === $event) { // the attacker changed something of root's
            $s->check("$what: the attacker never managed: $event", false, "$n times");
        }
    }
    $s->figure(md5($what), ['target' => $what, 'workers' => $reports, 'hung' => $hung, 'check' => $check,
        'holder_calls' => $asked, 'holder_errors' => $probeErrors, 'misnamed' => $misnamed, 'attack' => $counts]);
    printf("   %s: %d holds, %d overlaps, %d timeouts, %d refusals\n", $what, $sum('acquired'), $check['violations'], $sum('timeouts'), $sum('refusals'));
    $attackText = implode(', ', array_map(fn ($k, $v) => "$k: $v", array_keys($counts), $counts));
    return [$what, $sum('acquired'), $check['violations'], $sum('timeouts'), $sum('refusals') . ($refusal === '' ? '' : " ($refusal)"),
        count($hung) + count($slow), "$asked asked, " . count($misnamed) . ' misnamed', $attackText];
}

section('hostile', 'Hostile neighbours: another user attacks every local backend', function (Section $s): void {
    // A directory nobody can reach (0711 parents) but not list, with a
    // directory nobody owns and two of root's own.
    $base = env('STRESS_WORK') . '/hostile';
    mkdir($base, 0o711);
    chmod($base, 0o711);
    foreach (['A' => 0, 'B' => 0, 'X' => NOBODY] as $dir => $owner) {
        mkdir("$base/$dir", 0o755);
        chown("$base/$dir", $owner);
    }
    mkdir("$base/sticky", 0o1777);
    chmod("$base/sticky", 0o1777);
    run(as_nobody(['ln', '-s', "$base/A", "$base/X/locks"]));

    $rows = [];
    $targets = [];
    if (in_array('socket', backends(), true)) {
        $name = lock_name('hostile-socket');
        $targets['socket: nobody squats the address and hands its listener to every waiter'] =
            ['socket', $name, [], ['mode' => 'socket', 'address' => "exakat_lock/$name"], true];
        $name = lock_name('hostile-forge');
        $targets['socket: nobody lists forged /proc/net/unix lines; holder() asked over and over'] =
            ['socket', $name, [], ['mode' => 'socket-forge', 'address' => "exakat_lock/$name"], false];
    }
    if (in_array('tcp', backends(), true)) {
        $port = free_port();
        $targets['tcp: nobody takes the port and hands it to waiters\' listeners, or queues first on root\'s port and squats the companion'] =
            ['tcp', lock_name('hostile-tcp'), ['port' => $port], ['mode' => 'tcp', 'port' => $port], true];
    }
    if (in_array('semaphore', backends(), true)) {
        $name = lock_name('hostile-sem');
        // holder()'s pid is advisory here (GETPID: the last process that operated, the attacker's SETVAL included).
        $targets['semaphore: nobody makes the set first (0666), resets and re-creates it'] =
            ['semaphore', $name, [], ['mode' => 'semaphore', 'key' => semaphore_key($name)], true];
    }
    if (in_array('flock', backends(), true)) {
        $targets['flock: the lock directory is a symlink nobody re-points between two of root\'s directories'] =
            ['flock', lock_name('hostile-link'), ['dir' => "$base/X/locks"],
                ['mode' => 'flock-symlink', 'link' => "$base/X/locks", 'targets' => ["$base/A", "$base/B"]], false];
        $name = lock_name('hostile-file');
        $targets['flock: nobody owns the lock file in a sticky directory and replaces it by renames'] =
            ['flock', $name, ['dir' => "$base/sticky"], ['mode' => 'flock-file', 'path' => "$base/sticky/exakat_lock.$name.lock"], false];
    }
    foreach ($targets as $what => [$backend, $name, $options, $attack, $attackerMayHold]) {
        $rows[] = hostile_run($s, $what, $backend, $name, $options, $attack, $attackerMayHold);
    }
    $s->table('Another user attacks while root processes contend', ['attack', 'root holds', 'overlaps', 'timeouts',
        'refusals (LockException)', 'hung or blocked calls', 'holder()', 'what the attacker did'], $rows,
        'Each line: ' . WORKERS . ' root processes take the lock with acquire(' . WORKER_TIMEOUT . ') for ' . pick(4, 60)
        . ' s (flock: a new Lock object for each hold), logging every hold (check_log()), while nobody (setpriv) attacks it and this process calls holder() every 2 ms. '
        . 'Timeouts and refusals are the denial another user may cause; overlaps, hangs, calls blocked past their timeout and '
        . 'holder() naming a process that does not hold the lock are violations. Upper-case attacker events are changes to root\'s own resources.');
});
