<?php
// Slots and shared locks under load and kill -9. Per backend: a lock with
// N slots and 2N+2 processes (slots_worker.php) taking it over and over;
// on semaphore and flock also one lock taken shared or exclusive at random
// by 6 processes. Meanwhile the orchestrator kills a random worker (mostly
// a holder) with SIGKILL every 150-450 ms and starts a replacement. Every
// hold is logged (entry with slot and wait, exit); the checker counts the
// holders, by file order and by hrtime intervals (a sweep line; a killed
// holder's interval ends when the signal was sent): never more than N, never
// two on one slot, never an exclusive holder with anyone else. It must also
// see N holders at once (and readers together), or it proved nothing; it is
// shown able to fail first, on synthetic logs and on live locks that break
// the property on purpose. At the end, with every worker gone, N fresh
// objects get the N slots with acquire(0) (the killed holders' slots came
// back) and one more is refused.

declare(strict_types=1);
require __DIR__ . '/lib.php';

use ExakatLock\Lock;

/** Slots of the lock under test (quick and long mode alike: the issue's N = 3). */
const SLOTS = 3;
/** Waits are bounded, so a starved waiter is measured (a 'T' record) rather than hung. */
const WAIT_SECONDS = 10.0;
/** The backends that take a lock shared. */
const SHARED_BACKENDS = ['semaphore', 'flock'];

/**
 * Proves (or refutes) the slot and shared/exclusive properties on a parsed
 * slots log (see slot_record()).
 *
 * Two independent checks, like check_log():
 * - file order: O_APPEND serialises the records, and a holder writes its
 *   entry after it got the lock and its exit before it lets go, so the
 *   entries open in the file at any point are at most the holders at that
 *   moment: never more than $slots, never two with one slot, and (mixed)
 *   an exclusive entry only when nothing is open, a shared one only when no
 *   exclusive is;
 * - time: the same on the hrtime intervals [entry, exit], with a sweep line
 *   (an exit before an entry stamped the same nanosecond).
 *
 * $killed maps workers (their number in the run) killed with SIGKILL to
 * the hrtime the signal was sent:
 * a killed holder's interval has no exit; it ends at its death, which is
 * after the signal, so ending it at the signal is never a false alarm.
 * Measured too: the most holders at once (which must reach $slots, or the
 * run proved nothing), readers holding together, waits, timeouts.
 */
function check_slots_log(array $records, int $trailing, array $killed, int $slots, bool $mixed): array
{
    $result = ['records' => count($records), 'entries' => 0, 'shared_entries' => 0, 'exclusive_entries' => 0,
        'order_violations' => 0, 'time_violations' => 0, 'slot_violations' => 0, 'malformed' => $trailing === 0 ? 0 : 1,
        'max_concurrent' => 0, 'max_concurrent_in_file' => 0, 'max_shared_together' => 0, 'shared_overlaps' => 0,
        'killed_holders' => 0, 'kb6_failures' => 0, 'timeouts_exclusive' => 0, 'timeouts_shared' => 0, 'slot_use' => [],
        'exclusive_waits_ns' => [], 'shared_waits_ns' => [], 'problems' => []];
    $problem = function (string $what) use (&$result): void {
        if (count($result['problems']) < 10) {
            $result['problems'][] = $what;
        }
    };
    if ($trailing !== 0) {
        $problem("$trailing trailing bytes: a torn record");
    }
    // A holder that conflicts with $entry, among the open entries, or null.
    $conflict = function (array $entry, array $open) use ($slots, $mixed): ?string {
        if ($mixed) {
            foreach ($open as $worker => $o) {
                if ($entry['type'] === 'E' || $o['type'] === 'E') {
                    return sprintf('%s holder worker %d entered while worker %d held it %s', $entry['type'] === 'E' ? 'an exclusive' : 'a shared',
                        $entry['worker'], $worker, $o['type'] === 'E' ? 'exclusive' : 'shared');
                }
            }
            return null;
        }
        if (count($open) >= $slots) {
            return sprintf('worker %d entered as holder number %d of %d slots', $entry['worker'], count($open) + 1, $slots);
        }
        return null;
    };
    $slotConflict = function (array $entry, array $open) use ($slots, $mixed): ?string {
        if ($mixed) {
            return null; // one slot, readers share it
        }
        if ($entry['slot'] === null || $entry['slot'] < 0 || $entry['slot'] >= $slots) {
            return sprintf('worker %d holds slot %s of %d', $entry['worker'], var_export($entry['slot'], true), $slots);
        }
        foreach ($open as $worker => $o) {
            if ($o['slot'] === $entry['slot']) {
                return sprintf('worker %d got slot %d, which worker %d held', $entry['worker'], $entry['slot'], $worker);
            }
        }
        return null;
    };

    // 1. File order.
    $open = []; // worker => entry record
    $closedAtKill = []; // worker => [index in $intervals, entry seq]: closed at its kill time
    $intervals = []; // [start, end, type, slot, worker]
    foreach ($records as $i => $r) {
        switch ($r['type']) {
            case 'T':
                $result[$r['mode'] === 'E' ? 'timeouts_exclusive' : 'timeouts_shared']++;
                break;
            case 'F':
                $result['kb6_failures']++;
                break;
            case 'E':
            case 'S':
                $result['entries']++;
                $result[$r['type'] === 'E' ? 'exclusive_entries' : 'shared_entries']++;
                $result[$r['type'] === 'E' ? 'exclusive_waits_ns' : 'shared_waits_ns'][] = $r['wait'];
                $result['slot_use'][$r['slot'] ?? 'none'] = ($result['slot_use'][$r['slot'] ?? 'none'] ?? 0) + 1;
                if (isset($open[$r['worker']])) {
                    $result['malformed']++;
                    $problem("record $i: worker {$r['worker']} entered twice");
                }
                foreach ($open as $worker => $e) {
                    if (isset($killed[$worker]) && $killed[$worker] <= $r['t']) {
                        // Killed before this entry: it died holding, unless
                        // its exit record, stamped between the kill time and
                        // the signal's arrival, comes later (see 'X').
                        $closedAtKill[$worker] = [\count($intervals), $e['seq']];
                        $intervals[] = [$e['t'], $killed[$worker], $e['type'], $e['slot'], $worker];
                        unset($open[$worker]);
                    }
                }
                if (($why = $conflict($r, $open)) !== null) {
                    $result['order_violations']++;
                    $problem("record $i (file order): $why");
                }
                if (($why = $slotConflict($r, $open)) !== null) {
                    $result['slot_violations']++;
                    $problem("record $i (file order): $why");
                }
                $open[$r['worker']] = $r;
                $result['max_concurrent_in_file'] = max($result['max_concurrent_in_file'], count($open));
                break;
            case 'X':
                $e = $open[$r['worker']] ?? null;
                [$closed, $closedSeq] = $closedAtKill[$r['worker']] ?? [null, null];
                if ($e === null && $closed !== null && $closedSeq === $r['seq']) {
                    // The victim released after the kill time, before the
                    // signal landed: its interval lasted until this exit.
                    $intervals[$closed][1] = max($intervals[$closed][1], $r['t']);
                    unset($closedAtKill[$r['worker']]);
                    break;
                }
                if ($e === null || $e['seq'] !== $r['seq']) {
                    $result['malformed']++;
                    $problem("record $i: worker {$r['worker']} exited without entering");
                    break;
                }
                unset($open[$r['worker']]);
                if ($r['t'] < $e['t']) {
                    $result['malformed']++;
                    $problem("record $i: exit stamped before entry");
                }
                $intervals[] = [$e['t'], $r['t'], $e['type'], $e['slot'], $r['worker']];
                break;
            default:
                $result['malformed']++;
                $problem("record $i: unknown type");
        }
    }
    foreach ($open as $worker => $e) {
        if (isset($killed[$worker])) {
            $intervals[] = [$e['t'], $killed[$worker], $e['type'], $e['slot'], $worker];
        } else {
            $result['malformed']++;
            $problem("worker $worker never exited (seq {$e['seq']})");
        }
    }
    foreach ($intervals as $k => [$start, $end, , , $worker]) {
        if (isset($killed[$worker]) && $end === $killed[$worker]) {
            $result['killed_holders']++;
            // The signal time is taken just before kill(2): the victim may still have
            // stamped an entry after it. Its interval is then empty: it cannot be
            // shown to have lasted (it still must not enter beside a conflicting holder).
            $intervals[$k][1] = max($start, $end);
        }
    }

    // 2. Time: a sweep line over the intervals, exits before entries at equal times.
    $events = [];
    foreach ($intervals as $k => [$start, $end]) {
        $events[] = [$start, 1, $k];
        if ($end > $start) {
            $events[] = [$end, 0, $k];
        }
    }
    usort($events, fn ($a, $b) => [$a[0], $a[1]] <=> [$b[0], $b[1]]);
    $inside = []; // interval index => entry-like array
    foreach ($events as [$t, $isStart, $k]) {
        [$start, $end, $type, $slot, $worker] = $intervals[$k];
        if (!$isStart) {
            unset($inside[$k]);
            continue;
        }
        $entry = ['type' => $type, 'slot' => $slot, 'worker' => $worker];
        $open = [];
        foreach ($inside as $o) {
            $open[$o['worker']] = $o;
        }
        if ($type === 'S') {
            $readers = count(array_filter($open, fn ($o) => $o['type'] === 'S'));
            if ($readers > 0) {
                $result['shared_overlaps']++;
            }
            $result['max_shared_together'] = max($result['max_shared_together'], $readers + 1);
        }
        if (($why = $conflict($entry, $open)) !== null) {
            $result['time_violations']++;
            $problem(sprintf('at %.6f s (time): %s', $t / 1e9, $why));
        }
        if (($why = $slotConflict($entry, $open)) !== null) {
            $result['slot_violations']++;
            $problem(sprintf('at %.6f s (time): %s', $t / 1e9, $why));
        }
        $result['max_concurrent'] = max($result['max_concurrent'], count($inside) + 1);
        if ($end > $start) {
            $inside[$k] = $entry; // an empty interval conflicts at its start only
        }
    }
    ksort($result['slot_use']);
    $result['violations'] = $result['order_violations'] + $result['time_violations'] + $result['slot_violations'];
    return $result;
}

/** Options for a lock with $slots slots; tcp needs $slots consecutive free ports (slot k binds port + k). */
function slot_options(string $backend, int $slots): array
{
    $options = backend_options($backend);
    if ($backend === 'tcp') {
        for ($try = 0; ; $try++) {
            $port = free_port();
            $free = $port + $slots - 1 <= 65535;
            for ($k = 1; $free && $k < $slots; $k++) {
                $probe = @stream_socket_server('tcp://127.0.0.1:' . ($port + $k));
                $free = $probe !== false;
                if ($probe !== false) {
                    fclose($probe);
                }
            }
            if ($free) {
                $options['port'] = $port;
                break;
            }
            if ($try > 200) {
                throw new RuntimeException("no $slots consecutive free ports");
            }
        }
    }
    return $options + ['slots' => $slots];
}

/** The workers whose entry among the last records of the log has no exit yet: holders now (or killed ones). */
function open_entries(string $log): array
{
    clearstatcache(true, $log);
    $size = (int) filesize($log);
    $size -= $size % SLOT_RECORD_SIZE;
    $from = max(0, $size - 64 * SLOT_RECORD_SIZE);
    $open = [];
    foreach (parse_slot_log((string) file_get_contents($log, false, null, $from, $size - $from))[0] as $r) {
        if ($r['type'] === 'E' || $r['type'] === 'S') {
            $open[$r['worker']] = true;
        } elseif ($r['type'] === 'X') {
            unset($open[$r['worker']]);
        }
    }
    return array_keys($open);
}

/** Starts worker number $worker of a run (the log names workers by number: pids are reused). */
function start_slot_worker(array $config, int $worker): Proc
{
    $w = new Proc(php_script('slots_worker.php', $config + ['worker' => $worker]));
    if ($w->line(30.0) !== 'ready') {
        throw new RuntimeException("worker {$w->pid} did not start: " . trim($w->stderr()));
    }
    return $w;
}

/**
 * One run: `procs` workers on one lock until the log holds `target`
 * acquisitions (and, with kills, at least `min_kills` kills were made).
 *
 * $run: procs, slots (the lock's), checked_slots (what the checker is told),
 * mixed, shared_percent, new_object_percent, lie, target, kills, min_kills, hold_us, gap_us.
 */
function slots_run(Section $s, string $label, string $backend, array $run): array
{
    $name = lock_name("slots-$label-$backend");
    $options = $run['mixed'] ? backend_options($backend) : slot_options($backend, $run['slots']);
    $dir = work_dir('slots');
    $log = "$dir/$label-$backend.log";
    $stop = "$dir/$label-$backend.stop";
    file_put_contents($log, '');
    @unlink($stop);
    $config = ['backend' => $backend, 'name' => $name, 'options' => $options, 'log' => $log, 'stop' => $stop,
        'shared_percent' => $run['mixed'] ? $run['shared_percent'] : 0, 'lie' => $run['lie'] ?? false,
        'new_object_percent' => $run['new_object_percent'] ?? 0,
        'hold_us' => $run['hold_us'], 'gap_us' => $run['gap_us'], 'timeout' => WAIT_SECONDS];
    $workers = []; // worker number => Proc
    for ($i = 0; $i < $run['procs']; $i++) {
        $workers[$i] = start_slot_worker($config, $i);
    }
    $nextWorker = $run['procs'];
    $probe = new Lock($name, $backend, $options);
    $problems = [];
    $killed = [];
    $holdersSeen = [];
    $holdersMax = 0;
    $holdersSamples = 0;
    $started = hrtime(true);
    foreach ($workers as $w) {
        $w->send('go');
    }
    mt_srand(crc32($label . $backend . env('STRESS_RUN_ID')));
    $budget = pick(60.0, 600.0);
    $nextKill = hrtime(true) + mt_rand(150, 450) * 1_000_000;
    while (true) {
        clearstatcache(true, $log);
        $entries = intdiv((int) filesize($log), SLOT_RECORD_SIZE) / 2; // about: entry and exit per acquisition
        if ($entries >= $run['target'] && count($killed) >= ($run['kills'] ? $run['min_kills'] : 0)) {
            break;
        }
        if ((hrtime(true) - $started) / 1e9 > $budget) {
            $problems[] = sprintf('the run did not reach %d acquisitions within %.0f s (about %d)', $run['target'], $budget, $entries);
            break;
        }
        foreach ($workers as $n => $w) {
            if (!$w->running()) {
                $problems[] = "worker $n (pid {$w->pid}) ended on its own: " . trim($w->stderr()) . ' ' . trim($w->rest());
                unset($workers[$n]);
                $workers[$nextWorker] = start_slot_worker($config, $nextWorker);
                $workers[$nextWorker++]->send('go');
            }
        }
        if (!$run['kills'] || hrtime(true) < $nextKill) {
            usleep(10000);
            continue;
        }
        // holders(): never more than the slots, never two on one slot.
        $holders = $probe->holders();
        $holdersSamples++;
        $holdersMax = max($holdersMax, count($holders));
        foreach ($holders as $h) {
            $holdersSeen[$h['mode']] = ($holdersSeen[$h['mode']] ?? 0) + 1;
        }
        if (!$run['mixed']) {
            $slotsNamed = array_column($holders, 'slot');
            $s->check("$backend ($label): holders() lists at most " . $run['slots'] . ' holders, each on its own slot',
                count($holders) <= $run['slots'] && count(array_unique($slotsNamed)) === count($slotsNamed), json_encode($holders));
        }
        // The victim: 3 times in 4 a current holder, one whose entry in the log
        // has no exit yet (holds are short: look again for up to 50 ms), else anyone.
        $pids = array_keys($workers); // worker numbers
        $victim = null;
        $wantHolder = mt_rand(1, 100) <= 75;
        for ($look = 0; $wantHolder && $victim === null && $look < 50; $look++) {
            $holding = array_values(array_intersect($pids, open_entries($log)));
            if ($holding !== []) {
                $victim = $holding[mt_rand(0, count($holding) - 1)];
            } else {
                usleep(1000);
            }
        }
        $victim ??= $pids[mt_rand(0, count($pids) - 1)];
        $killed[$victim] = hrtime(true);
        $workers[$victim]->kill(9);
        if ($workers[$victim]->wait(5.0) === null) {
            $problems[] = "killed worker $victim (pid {$workers[$victim]->pid}) did not die";
        }
        unset($workers[$victim]);
        $workers[$nextWorker] = start_slot_worker($config, $nextWorker);
        $workers[$nextWorker++]->send('go');
        $nextKill = hrtime(true) + mt_rand(150, 450) * 1_000_000;
    }
    $seconds = (hrtime(true) - $started) / 1e9;
    touch($stop);
    foreach ($workers as $n => $w) {
        $pid = "$n (pid {$w->pid})";
        $line = $w->line(WAIT_SECONDS + 10.0);
        $end = $w->finish(5.0);
        $report = $line === null ? null : json_decode($line, true);
        if ($report === null) {
            $problems[] = "worker $pid did not stop when asked (hung or died): " . json_encode($end) . ' ' . trim($w->stderr());
            continue;
        }
        foreach ($report['errors'] as $error) {
            $problems[] = "worker $pid: $error";
        }
        if (($end['code'] ?? -1) !== 0 || trim($w->stderr()) !== '') {
            $problems[] = "worker $pid exit " . json_encode($end) . ' stderr: ' . trim($w->stderr());
        }
    }
    unset($workers, $w);

    [$records, $trailing] = parse_slot_log((string) file_get_contents($log));
    $check = check_slots_log($records, $trailing, $killed, $run['checked_slots'] ?? $run['slots'], $run['mixed']);

    // Every worker has ended: the lock must be entirely free again. The mysql server
    // notices a dead client's connection a moment later: wait for holders() to be empty.
    $t = hrtime(true);
    while (($left = $probe->holders()) !== [] && hrtime(true) - $t < 5e9) {
        usleep(2000);
    }
    $emptyAfterMs = round((hrtime(true) - $t) / 1e6, 1);
    $fresh = [];
    $freshSlots = [];
    $freshOk = 0;
    $wanted = $run['mixed'] ? 1 : $run['slots'];
    for ($k = 0; $k < $wanted; $k++) {
        $l = new Lock($name, $backend, $options);
        if ($l->acquire(0.0)) {
            $freshOk++;
            $freshSlots[] = $l->slot();
        }
        $fresh[] = $l;
    }
    $extra = new Lock($name, $backend, $options);
    $extraRefused = !$extra->acquire(0.0);
    if (!$extraRefused) {
        $extra->release();
    }
    foreach ($fresh as $l) {
        if ($l->slot() !== null) {
            $l->release();
        }
    }
    $sharedAgain = null;
    if ($run['mixed']) {
        // And readers still share it.
        [$a, $b] = [new Lock($name, $backend, $options), new Lock($name, $backend, $options)];
        $sharedAgain = $a->acquireShared(0.0) && $b->acquireShared(0.0);
        $a->release();
        $b->release();
    }
    $exclusiveWaits = $check['exclusive_waits_ns'];
    $allWaits = array_merge($exclusiveWaits, $check['shared_waits_ns']);
    unset($check['exclusive_waits_ns'], $check['shared_waits_ns']);
    return ['label' => $label, 'backend' => $backend, 'procs' => $run['procs'], 'slots' => $run['slots'], 'mixed' => $run['mixed'],
        'target' => $run['target'], 'acquisitions' => $check['entries'], 'seconds' => round($seconds, 2),
        'per_second' => (int) round($check['entries'] / max($seconds, 1e-9)), 'kills' => count($killed), 'check' => $check,
        'wait_exclusive' => summary_ms($exclusiveWaits), 'wait_all' => summary_ms($allWaits),
        'holders_samples' => $holdersSamples, 'holders_max' => $holdersMax, 'holders_modes' => $holdersSeen,
        'free_after_ms' => $emptyAfterMs, 'left_holders' => $left, 'fresh_wanted' => $wanted, 'fresh_ok' => $freshOk,
        'fresh_slots' => $freshSlots, 'extra_refused' => $extraRefused, 'shared_again' => $sharedAgain,
        'problems' => $problems];
}

/** The checks every run of a working lock must pass. */
function check_slots_run(Section $s, array $r): void
{
    $what = "{$r['backend']} ({$r['label']})";
    $c = $r['check'];
    foreach ($r['problems'] as $p) {
        $s->check("$what: every worker ran to its end without error", false, $p);
    }
    $s->check("$what: the log is complete", $c['malformed'] === 0, implode('; ', $c['problems']));
    $s->check("$what: the run reached its acquisitions", $r['acquisitions'] >= $r['target'], "{$r['acquisitions']} of {$r['target']}");
    if ($r['mixed']) {
        $s->check("$what: no exclusive holder ever held it with anyone else, killed holders included",
            $c['order_violations'] + $c['time_violations'] === 0, implode('; ', $c['problems']));
        $s->check("$what: readers held it together (else the run proved nothing)", $c['shared_overlaps'] > 0,
            "{$c['shared_overlaps']} shared entries while another reader held it");
        $s->check("$what: both modes were taken", $c['exclusive_entries'] > 0 && $c['shared_entries'] > 0,
            "{$c['exclusive_entries']} exclusive, {$c['shared_entries']} shared");
        $s->check("$what: readers share it again at the end", $r['shared_again'] === true);
    } else {
        $s->check("$what: never more than {$r['slots']} holders at once, killed holders included",
            $c['order_violations'] + $c['time_violations'] === 0, implode('; ', $c['problems']));
        $s->check("$what: no two holders at once on one slot, every slot in 0..{$r['slots']}-1", $c['slot_violations'] === 0,
            implode('; ', $c['problems']));
        $s->check("$what: {$r['slots']} holders were seen at once (else the run proved nothing)",
            $c['max_concurrent'] === $r['slots'], "at most {$c['max_concurrent']}");
        $s->check("$what: every slot was used", count(array_diff_key($c['slot_use'], ['none' => 1])) === $r['slots'],
            json_encode($c['slot_use']));
    }
    $kb6 = "{$c['kb6_failures']} acquisitions failed with \"" . KB6_MESSAGE . '" although nobody touched the set';
    // KB6 (FOUND-BUGS.md), fixed: now an ordinary property.
    $s->check("$what: acquire() never fails while slots keep being freed", $c['kb6_failures'] === 0, $kb6);
    if ($r['kills'] > 0) {
        $s->check("$what: some kills hit a holder", $c['killed_holders'] > 0, "{$c['killed_holders']} of {$r['kills']}");
    }
    $s->check("$what: with every worker gone, holders() is empty", $r['left_holders'] === [], json_encode($r['left_holders']));
    $s->check("$what: with every worker gone, $r[fresh_wanted] new acquire(0) succeed (the killed holders' slots came back)",
        $r['fresh_ok'] === $r['fresh_wanted'], "{$r['fresh_ok']} of {$r['fresh_wanted']}, slots " . json_encode($r['fresh_slots']));
    $s->check("$what: … and one more is refused", $r['extra_refused']);
}

section('slots', 'Slots and shared locks under load and kill -9', function (Section $s): void {
    // 1. The checker can fail: synthetic logs.
    $e = fn (string $type, int $slot, int $pid, int $t) => slot_record($type, $type, $slot, $pid, 0, $t, 0);
    $x = fn (int $slot, int $pid, int $t) => slot_record('X', '', $slot, $pid, 0, $t, 0);
    $three = $e('E', 0, 1, 10) . $e('E', 1, 2, 20) . $e('E', 2, 3, 30) . $x(0, 1, 40) . $x(1, 2, 50) . $x(2, 3, 60);
    $cases = [
        // what, log, killed, slots, mixed, expected (0 clean, 1 violation, -1 malformed), expected max concurrency
        ['3 holders on 3 slots', $three, [], 3, false, 0, 3],
        ['3 holders on 2 slots', $three, [], 2, false, 1, 3],
        ['a fourth holder in file order only', $e('E', 0, 1, 10) . $e('E', 1, 2, 20) . $e('E', 2, 3, 30) . $e('E', 0, 4, 70)
            . $x(0, 1, 40) . $x(1, 2, 50) . $x(2, 3, 60) . $x(0, 4, 80), [], 3, false, 1, 3],
        ['a fourth holder in time only', $e('E', 0, 1, 10) . $e('E', 1, 2, 20) . $x(0, 1, 50) . $e('E', 2, 3, 30) . $e('E', 0, 4, 40)
            . $x(1, 2, 60) . $x(2, 3, 60) . $x(0, 4, 60), [], 3, false, 1, 4],
        ['two holders on one slot', $e('E', 1, 1, 10) . $e('E', 1, 2, 20) . $x(1, 1, 30) . $x(1, 2, 40), [], 3, false, 1, 2],
        ['a slot out of range', $e('E', 3, 1, 10) . $x(3, 1, 20), [], 3, false, 1, 1],
        ['a holder killed before the next entry', $e('E', 0, 1, 10) . $e('E', 0, 2, 30) . $x(0, 2, 40), [1 => 20], 1, false, 0, 1],
        ['a holder killed after the next entry', $e('E', 0, 1, 10) . $e('E', 0, 2, 30) . $x(0, 2, 40), [1 => 35], 1, false, 1, 2],
        ['a holder stamping its entry just after the kill signal\'s time', $e('E', 0, 1, 20) . $e('E', 0, 2, 30) . $x(0, 2, 40),
            [1 => 15], 1, false, 0, 1],
        ['a holder entering beside one whose entry was stamped after the kill signal\'s time', $e('E', 0, 2, 10)
            . $e('E', 0, 1, 20) . $x(0, 2, 40), [1 => 15], 1, false, 1, 2],
        ['a victim releasing after the kill time, before the next entry', $e('E', 0, 1, 10) . $e('E', 0, 2, 30)
            . $x(0, 1, 25) . $x(0, 2, 40), [1 => 20], 1, false, 0, 1],
        ['a victim releasing after the kill time and after the next entry', $e('E', 0, 1, 10) . $e('E', 0, 2, 30)
            . $x(0, 1, 35) . $x(0, 2, 40), [1 => 20], 1, false, 1, 2],
        ['readers together, then a writer', $e('S', 0, 1, 10) . $e('S', 0, 2, 20) . $x(0, 1, 30) . $x(0, 2, 40)
            . $e('E', 0, 3, 50) . $x(0, 3, 60), [], 1, true, 0, 2],
        ['a writer among readers', $e('S', 0, 1, 10) . $e('E', 0, 2, 20) . $x(0, 1, 30) . $x(0, 2, 40), [], 1, true, 1, 2],
        ['a reader during a writer', $e('E', 0, 1, 10) . $e('S', 0, 2, 20) . $x(0, 1, 30) . $x(0, 2, 40), [], 1, true, 1, 2],
        ['a torn record', $three . 'xyz', [], 3, false, -1, 3],
        ['an exit without an entry', $x(0, 1, 10), [], 3, false, -1, 0],
    ];
    $rows = [];
    foreach ($cases as [$what, $bytes, $killed, $slots, $mixed, $expected, $max]) {
        [$records, $trailing] = parse_slot_log($bytes);
        $r = check_slots_log($records, $trailing, $killed, $slots, $mixed);
        $ok = ($expected === -1 ? $r['malformed'] > 0 : ($expected === 0 ? $r['violations'] === 0 && $r['malformed'] === 0 : $r['violations'] > 0))
            && $r['max_concurrent'] === $max;
        unset($r['exclusive_waits_ns'], $r['shared_waits_ns']);
        $s->check("checker self-test: $what", $ok, json_encode($r));
        $rows[] = [$what, $expected === -1 ? 'malformed' : ($expected ? 'violation' : 'clean'), $max,
            "{$r['violations']} violations, {$r['malformed']} malformed, at most {$r['max_concurrent']} at once", $ok ? 'yes' : 'NO'];
    }
    $s->table('Checker self-test (synthetic logs)', ['log', 'expected', 'most at once', 'checker said', 'right'], $rows);

    $backends = backends();
    if (in_array('mysql', $backends, true) && env('STRESS_MYSQL_DSN', '') === '') {
        $s->note('no MySQL DSN (EXAKAT_LOCK_TEST_MYSQL_DSN or the run\'s own MariaDB): mysql is left out');
        $backends = array_values(array_diff($backends, ['mysql']));
    }

    // 2. The checker catches real violations: a lock with one slot more than the
    //    checker is told, and writers that take the lock shared.
    $local = array_values(array_intersect(['flock', 'semaphore', 'socket'], $backends))[0] ?? null;
    $localShared = array_values(array_intersect(SHARED_BACKENDS, $backends))[0] ?? null;
    $rows = [];
    $controls = [];
    if ($local !== null) {
        $controls[] = ['more-slots', "$local lock with " . (SLOTS + 1) . ' slots, checked for ' . SLOTS, $local,
            ['procs' => 2 * SLOTS + 2, 'slots' => SLOTS + 1, 'checked_slots' => SLOTS, 'mixed' => false]];
    }
    if ($localShared !== null) {
        $controls[] = ['writers-shared', "$localShared lock, writers calling acquireShared()", $localShared,
            ['procs' => 6, 'slots' => 1, 'mixed' => true, 'shared_percent' => 50, 'lie' => true]];
    }
    foreach ($controls as [$label, $what, $backend, $run]) {
        $r = slots_run($s, "control-$label", $backend, $run + ['target' => 1000, 'kills' => false, 'min_kills' => 0,
            'hold_us' => 1500, 'gap_us' => 300]);
        $c = $r['check'];
        $s->check("negative control ($what): the checker reports violations", $c['violations'] > 0,
            "{$c['violations']} violations, at most {$c['max_concurrent']} at once");
        $rows[] = [$what, $r['procs'], $r['acquisitions'], $c['order_violations'], $c['time_violations'], $c['max_concurrent']];
        unset($r['check']['problems']);
        $s->figure("control_$label", $r);
    }
    $s->table('Negative controls (must show violations)', ['lock', 'processes', 'acquisitions', 'violations (file order)',
        'violations (time)', 'most holders at once'], $rows);

    // 3. Every backend: N slots, 2N+2 processes, kills.
    $perWorker = pick(500, 5000);
    $procs = 2 * SLOTS + 2;
    $rows = [];
    foreach ($backends as $backend) {
        $r = slots_run($s, 'slots', $backend, ['procs' => $procs, 'slots' => SLOTS, 'mixed' => false,
            'target' => $procs * $perWorker, 'kills' => true, 'min_kills' => pick(20, 100), 'hold_us' => 1500, 'gap_us' => 300]);
        $s->figure("slots_$backend", $r);
        check_slots_run($s, $r);
        $c = $r['check'];
        $rows[] = [$backend, "$procs × $perWorker", $r['acquisitions'], $c['max_concurrent'] . ' of ' . SLOTS,
            $c['violations'], "{$r['kills']} ({$c['killed_holders']} holding)", $r['seconds'], $r['per_second'],
            $r['wait_all']['p99_ms'], $r['wait_all']['max_ms'], $c['timeouts_exclusive'], $c['kb6_failures'], $r['holders_max'],
            "{$r['fresh_ok']} of {$r['fresh_wanted']}"];
        printf("   %s: %d acquisitions in %.2f s (%d/s), at most %d of %d at once, %d violations, %d kills (%d holding)\n",
            $backend, $r['acquisitions'], $r['seconds'], $r['per_second'], $c['max_concurrent'], SLOTS, $c['violations'],
            $r['kills'], $c['killed_holders']);
    }
    $s->table('At most N holders: ' . SLOTS . " slots, $procs processes, kill -9", ['backend', 'processes × acquisitions (at least)',
        'acquisitions', 'most holders at once', 'violations', 'kills (of holders)', 'seconds', 'acquisitions/s',
        'wait p99 (ms)', 'longest wait (ms)', 'timed out (' . WAIT_SECONDS . ' s)', 'failed (KB6)', 'most holders() listed',
        'acquire(0) at the end'], $rows,
        'Every holder appends an entry record (slot, wait) after acquire() returned and an exit record before release() to one O_APPEND log; holds last 0–1.5 ms, pauses 0–0.3 ms. Every 150–450 ms a worker is killed with SIGKILL (3 times in 4 a current holder: an entry without exit at the end of the log) and replaced; a killed holder\'s interval ends when the signal was sent. The checker counts open entries in file order and overlapping intervals in time. The run ends at the acquisitions given (and at least ' . pick(20, 100) . ' kills); acquisitions/s includes the kills and the replacements\' start-up. "acquire(0) at the end": with every worker gone, new objects each take a slot at once (and one more is refused).');

    // 4. Shared and exclusive on semaphore and flock, with kills.
    $rows = [];
    foreach (array_values(array_intersect(SHARED_BACKENDS, $backends)) as $backend) {
        $r = slots_run($s, 'shared', $backend, ['procs' => 6, 'slots' => 1, 'mixed' => true, 'shared_percent' => 50,
            'new_object_percent' => 25, 'target' => 6 * $perWorker, 'kills' => true, 'min_kills' => pick(20, 100), 'hold_us' => 50, 'gap_us' => 50]);
        $s->figure("shared_$backend", $r);
        check_slots_run($s, $r);
        $c = $r['check'];
        $w = $r['wait_exclusive'];
        $rows[] = [$backend, "6 × $perWorker", $r['acquisitions'], "{$c['exclusive_entries']} / {$c['shared_entries']}",
            $c['violations'], $c['shared_overlaps'], $c['max_shared_together'], "{$r['kills']} ({$c['killed_holders']} holding)",
            $r['seconds'], $r['per_second'], $w['median_ms'], $w['p99_ms'], $w['max_ms'],
            "{$c['timeouts_exclusive']} / {$c['timeouts_shared']}"];
        printf("   %s shared: %d acquisitions, %d violations, %d shared overlaps, longest exclusive wait %.3f ms, %d kills\n",
            $backend, $r['acquisitions'], $c['violations'], $c['shared_overlaps'], $w['max_ms'] ?? -1, $r['kills']);
        if ($c['timeouts_exclusive'] > 0) {
            $s->note("$backend: {$c['timeouts_exclusive']} exclusive acquisitions waited " . WAIT_SECONDS . ' s in vain among readers (writer starvation?)');
        }
    }
    if ($rows !== []) {
        $s->table('Shared and exclusive, kill -9', ['backend', 'processes × acquisitions (at least)', 'acquisitions',
            'exclusive / shared', 'violations', 'shared overlaps', 'most readers at once', 'kills (of holders)', 'seconds',
            'acquisitions/s', 'exclusive wait median (ms)', 'p99 (ms)', 'longest (ms)', 'timed out exclusive / shared'], $rows,
            '6 workers; each acquisition is acquireShared() or acquire() at random (1 in 2), one in 4 on a new Lock object (the last one destroyed: on semaphore it removes the set when it can take it and nobody waits, KB7). A violation is an exclusive hold overlapping any other hold (file order or time); "shared overlaps" counts shared entries while another reader held the lock. Holds last 0–50 µs and pauses 0–50 µs, so the lock is often free for a moment; waits are bounded at ' . WAIT_SECONDS . ' s, and a wait that long among such holds would be a starved writer. Kills as above.');
    }
});
