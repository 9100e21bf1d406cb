<?php
// Slots (at most N holders) and shared locks, against what PHP users run
// today for the same jobs. Loaded by bench/bench.php, which runs these two
// scenarios after its own and adds them to bench/results/latest.*:
//   A. "slots": SLOT_PROCESSES processes share SLOT_COUNT slots, each in a
//      loop of blocking acquire + hold SLOT_HOLD_US (a sleep) + release.
//   B. "shared_vs_exclusive": RW_READERS processes hold the lock shared,
//      RW_READER_HOLD_MS each, back to back and staggered so that the lock
//      is never free; one writer asks for it exclusively every
//      RW_WRITER_PERIOD_MS and holds it RW_WRITER_HOLD_MS. The writer's
//      waits are capped: readers stop RW_CAP_S after the end of the run at
//      the latest, and a wait that reached the cap is reported as starved.

declare(strict_types=1);

use ExakatLock\Lock;

const SLOT_COUNT = 4;
const SLOT_PROCESSES = 8;
const SLOT_HOLD_US = 100;
const SLOT_POLL_FIRST_US = 100;   // the polling alternative's first sleep, doubled up to
const SLOT_POLL_MAX_US = 5000;    // this between rounds of tries
const RW_READERS = 6;
const RW_READER_HOLD_MS = 2.0;
const RW_WRITER_PERIOD_MS = 50.0;
const RW_WRITER_HOLD_MS = 1.0;
const RW_CAP_S = 10.0;

/**
 * Scenario A's mechanisms: [label, open(name) => state, take(state) => ?int
 * slot (null: not known), give(state)]; take blocks until a slot is held.
 */
function slot_mechanisms(?string $dsn): array
{
    $m = [];
    foreach (['socket', 'tcp', 'semaphore', 'flock', 'mysql'] as $backend) {
        if ($backend === 'mysql' && $dsn === null) {
            continue;
        }
        $options = ['slots' => SLOT_COUNT] + match ($backend) {
            'flock' => ['dir' => lock_dir()],
            'mysql' => ['dsn' => $dsn],
            default => [],
        };
        $m["exakat-$backend"] = ["exakat_lock $backend, 'slots' => " . SLOT_COUNT, fn ($name) => new Lock($name, $backend, $options),
            function (Lock $l) { $l->acquire(-1.0); return $l->slot(); }, fn (Lock $l) => $l->release()];
    }
    if (function_exists('sem_get')) {
        // The counting semaphore SemaphoreStore wraps, with its count set to N.
        $m['php-sysvsem-n'] = ['PHP ext-sysvsem sem_get(key, max_acquire: ' . SLOT_COUNT . ')', fn ($name) => sem_get(sem_key($name), SLOT_COUNT),
            function ($sem) { sem_acquire($sem); return null; }, fn ($sem) => sem_release($sem)];
    }
    if (function_exists('sem_get') && is_file('/usr/share/php/Symfony/Component/Lock/autoload.php')) {
        require_once '/usr/share/php/Symfony/Component/Lock/autoload.php';
        // What users write without symfony/semaphore (which needs Redis): N
        // named locks tried in turn without blocking, a growing sleep between rounds.
        $m['symfony-semaphore-poll'] = ['symfony/lock SemaphoreStore over ' . SLOT_COUNT . ' names, polling',
            function ($name) {
                $factory = new Symfony\Component\Lock\LockFactory(new Symfony\Component\Lock\Store\SemaphoreStore());
                $locks = [];
                for ($i = 0; $i < SLOT_COUNT; $i++) {
                    $locks[] = $factory->createLock("$name-slot-$i", null, false);
                }
                return (object) ['locks' => $locks, 'held' => null];
            },
            function (object $s) {
                for ($sleep = SLOT_POLL_FIRST_US; ; $sleep = min($sleep * 2, SLOT_POLL_MAX_US)) {
                    foreach ($s->locks as $i => $lock) {
                        if ($lock->acquire(false)) {
                            return $s->held = $i;
                        }
                    }
                    usleep($sleep);
                }
            },
            function (object $s) { $s->locks[$s->held]->release(); $s->held = null; }];
    }
    return $m;
}

/**
 * Scenario B's mechanisms: [label, open(name) => state, shared(state),
 * exclusive(state), give(state)], every acquire blocking.
 */
function rw_mechanisms(): array
{
    $m = [];
    foreach (['semaphore', 'flock'] as $backend) {
        $options = $backend === 'flock' ? ['dir' => lock_dir()] : [];
        $m["exakat-$backend"] = ["exakat_lock $backend, acquireShared() / acquire()", fn ($name) => new Lock($name, $backend, $options),
            fn (Lock $l) => $l->acquireShared(-1.0), fn (Lock $l) => $l->acquire(-1.0), fn (Lock $l) => $l->release()];
    }
    $m['php-flock-rw'] = ['PHP flock(LOCK_SH) / flock(LOCK_EX), file kept open', fn ($name) => fopen(lock_dir() . "/php-$name.lock", 'c'),
        fn ($fp) => flock($fp, LOCK_SH), fn ($fp) => flock($fp, LOCK_EX), fn ($fp) => flock($fp, LOCK_UN)];
    if (is_file('/usr/share/php/Symfony/Component/Lock/autoload.php')) {
        require_once '/usr/share/php/Symfony/Component/Lock/autoload.php';
        $m['symfony-flock-rw'] = ['symfony/lock FlockStore acquireRead() / acquire()',
            fn ($name) => (new Symfony\Component\Lock\LockFactory(new Symfony\Component\Lock\Store\FlockStore(lock_dir())))->createLock($name, null, false),
            fn ($lock) => $lock->acquireRead(true), fn ($lock) => $lock->acquire(true), fn ($lock) => $lock->release()];
    }
    return $m;
}

/** The versions of what the alternatives are made of. */
function alternative_versions(): array
{
    $deb = fn (string $package) => trim((string) shell_exec('dpkg-query -W -f=\'${Version}\' ' . escapeshellarg($package) . ' 2>/dev/null')) ?: null;
    return [
        'symfony/lock' => $deb('php-symfony-lock'),
        'ext-sysvsem' => function_exists('sem_get') ? PHP_VERSION : null,
        'php' => PHP_VERSION,
    ];
}

/* ---------------------------------------------------------- A: slots */

function slots(array $php, ?string $dsn, int $rounds, float $seconds): array
{
    $samples = [];
    $ids = array_keys(slot_mechanisms($dsn));
    for ($round = 0; $round < $rounds; $round++) {
        // Interleaved, as the contended runs are.
        foreach ($ids as $id) {
            fwrite(STDERR, "  slots: $id, round " . ($round + 1) . "\n");
            $samples[$id][] = slots_run($php, $id, $round, $seconds);
        }
    }
    return summaries($samples);
}

/** Per mechanism, every metric's median, min and max over rounds; failures listed as they came. */
function summaries(array $samples): array
{
    $out = [];
    foreach ($samples as $id => $runs) {
        foreach (array_keys($runs[0]) as $metric) {
            $out[$id][$metric] = $metric === 'errors' ? array_merge(...array_column($runs, 'errors')) : summary(array_column($runs, $metric));
        }
    }
    return $out;
}

function slots_run(array $php, string $id, int $round, float $seconds): array
{
    $name = "slots-$id-$round-" . getmypid();
    $start = hrtime(true) + 400_000_000;
    $files = [];
    $workers = [];
    for ($p = 0; $p < SLOT_PROCESSES; $p++) {
        $files[$p] = tempnam(sys_get_temp_dir(), 'exakat-bench');
        $workers[] = proc_open(array_merge($php, [__DIR__ . '/bench.php', 'slots-worker', $id, $name, (string) $start, (string) $seconds, $files[$p]]), [], $pipes);
    }
    $exits = array_map('proc_close', $workers);
    if ($id === 'php-sysvsem-n') {
        sem_remove(sem_get(sem_key($name), SLOT_COUNT));
    }
    $cpu = 0.0;
    $waits = $events = $bySlot = $perProcess = [];
    $errors = [];
    foreach ($files as $p => $file) {
        $data = (string) file_get_contents($file);
        unlink($file);
        if (is_file("$file.error")) {
            $errors[] = file_get_contents("$file.error");
            unlink("$file.error");
        } elseif ($exits[$p] !== 0) {
            $errors[] = "the worker process exited with status {$exits[$p]}";
        }
        $cpu += strlen($data) >= 8 ? unpack('e', substr($data, 0, 8))[1] : 0.0;
        $perProcess[$p] = 0;
        foreach (array_chunk(unpack('J*', substr($data, 8)), 4) as [$t0, $t1, $t2, $slot]) {
            $waits[] = $t1 - $t0;
            // Holding from the return of acquire to the call of release: inside the real holding time.
            $events[] = [$t1, 1];
            $events[] = [$t2, -1];
            if ($slot > 0) {
                $bySlot[$slot - 1][] = [$t1, $t2];
            }
            $perProcess[$p]++;
        }
    }
    usort($events, fn ($a, $b) => $a[0] <=> $b[0] ?: $a[1] <=> $b[1]);
    $holders = $maxHolders = 0;
    foreach ($events as [, $delta]) {
        $holders += $delta;
        $maxHolders = max($maxHolders, $holders);
    }
    // Two holders of one slot at once would be a broken slot.
    $slotOverlaps = 0;
    foreach ($bySlot as $intervals) {
        sort($intervals);
        for ($i = 1, $n = count($intervals); $i < $n; $i++) {
            $slotOverlaps += $intervals[$i][0] < $intervals[$i - 1][1] ? 1 : 0;
        }
    }
    if ($maxHolders > SLOT_COUNT || $slotOverlaps > 0) {
        fwrite(STDERR, "  $id: $maxHolders holders at once, $slotOverlaps overlaps on one slot: the limit was broken\n");
    }
    sort($waits);
    return [
        'acquisitions_per_s' => count($waits) / $seconds,
        'wait_p50_ms' => or_zero($waits, 0.50) / 1e6,
        'wait_p99_ms' => or_zero($waits, 0.99) / 1e6,
        'wait_max_ms' => or_zero($waits, 1.0) / 1e6,
        // The least served process's share of a fair share (1: fair).
        'fewest_share' => min($perProcess) * SLOT_PROCESSES / max(1, array_sum($perProcess)),
        'max_holders' => $maxHolders,
        'slot_overlaps' => $slotOverlaps,
        'cpu_per_s' => $cpu / $seconds,
        'failed_workers' => count($errors),
        'errors' => $errors,
    ];
}

function slots_worker(string $id, string $name, int $start, float $seconds, string $file, ?string $dsn): void
{
    [, $open, $take, $give] = slot_mechanisms($dsn)[$id];
    $state = $open($name);
    $log = '';
    while (hrtime(true) < $start) {
        usleep(200);
    }
    $cpu0 = cpu_seconds();
    $end = $start + (int) ($seconds * 1e9);
    try {
        while (($t0 = hrtime(true)) < $end) {
            $slot = $take($state);
            $t1 = hrtime(true);
            usleep(SLOT_HOLD_US);
            $t2 = hrtime(true);
            $give($state);
            $log .= pack('JJJJ', $t0, $t1, $t2, $slot === null ? 0 : $slot + 1);
        }
    } catch (Throwable $e) {
        // Reported with the results, not hidden: the run goes on without this worker.
        file_put_contents("$file.error", get_class($e) . ': ' . $e->getMessage());
    }
    file_put_contents($file, pack('e', cpu_seconds() - $cpu0) . $log);
}

/* ----------------------------------- B: an exclusive waiter among readers */

function shared_vs_exclusive(array $php, int $rounds, float $seconds): array
{
    $samples = [];
    $ids = array_keys(rw_mechanisms());
    for ($round = 0; $round < $rounds; $round++) {
        foreach ($ids as $id) {
            fwrite(STDERR, "  shared vs exclusive: $id, round " . ($round + 1) . "\n");
            $samples[$id][] = rw_run($php, $id, $round, $seconds);
        }
    }
    $out = summaries($samples);
    foreach ($samples as $id => $runs) {
        $out[$id]['starved_rounds'] = count(array_filter(array_column($runs, 'writer_wait_max_ms'), fn ($ms) => $ms >= RW_CAP_S * 1e3));
    }
    return $out;
}

function rw_run(array $php, string $id, int $round, float $seconds): array
{
    $name = "rw-$id-$round-" . getmypid();
    $start = hrtime(true) + 400_000_000;
    $stop = lock_dir() . "/$name.stop";
    $files = [];
    $workers = [];
    for ($p = 0; $p <= RW_READERS; $p++) {
        $role = $p < RW_READERS ? 'reader' : 'writer';
        $files[$p] = tempnam(sys_get_temp_dir(), 'exakat-bench');
        $workers[] = proc_open(array_merge($php, [__DIR__ . '/bench.php', 'rw-worker', $id, $name, $role, (string) $p,
            (string) $start, (string) $seconds, $stop, $files[$p]]), [], $pipes);
    }
    $exits = array_map('proc_close', $workers);
    @unlink($stop);
    $end = $start + (int) ($seconds * 1e9);
    $readerAcquisitions = 0;
    $writerWaits = [];
    $events = $errors = [];
    foreach ($files as $p => $file) {
        $data = (string) file_get_contents($file);
        unlink($file);
        if (is_file("$file.error")) {
            $errors[] = file_get_contents("$file.error");
            unlink("$file.error");
        } elseif ($exits[$p] !== 0) {
            $errors[] = "the worker process exited with status {$exits[$p]}";
        }
        foreach (array_chunk(unpack('J*', $data), 3) as [$t0, $t1, $t2]) {
            if ($p < RW_READERS) {
                $readerAcquisitions += $t1 < $end ? 1 : 0;
            } else {
                $writerWaits[] = $t1 - $t0;
            }
            $events[] = [$t1, 1];
            $events[] = [$t2, -1];
        }
    }
    // The share of the run during which nobody held the lock (from the
    // return of acquire to the call of release): the premise is about 0.
    usort($events, fn ($a, $b) => $a[0] <=> $b[0] ?: $a[1] <=> $b[1]);
    $from = $start + 10_000_000; // once every reader has started
    $holders = 0;
    $free = 0;
    $last = $from;
    foreach ($events as [$t, $delta]) {
        $t = min(max($t, $from), $end);
        if ($holders === 0) {
            $free += $t - $last;
        }
        $last = $t;
        $holders += $delta;
    }
    $free += $holders === 0 ? $end - $last : 0;
    sort($writerWaits);
    $expected = (int) floor($seconds * 1e3 / RW_WRITER_PERIOD_MS - 1e-9);
    return [
        'writer_acquisitions' => count($writerWaits),
        'writer_attempts_planned' => $expected,
        'writer_wait_p50_ms' => or_zero($writerWaits, 0.50) / 1e6,
        'writer_wait_max_ms' => or_zero($writerWaits, 1.0) / 1e6,
        'reader_acquisitions_per_s' => $readerAcquisitions / $seconds,
        'free_percent' => 100 * $free / max(1, $end - $from),
        'failed_workers' => count($errors),
        'errors' => $errors,
    ];
}

function rw_worker(string $id, string $name, string $role, int $index, int $start, float $seconds, string $stop, string $file): void
{
    [, $open, $shared, $exclusive, $give] = rw_mechanisms()[$id];
    $state = $open($name);
    $log = '';
    $end = $start + (int) ($seconds * 1e9);
    $cap = $end + (int) (RW_CAP_S * 1e9);
    try {
        rw_loop($role, $index, $start, $end, $cap, $stop, $state, $shared, $exclusive, $give, $log);
    } catch (Throwable $e) {
        file_put_contents("$file.error", get_class($e) . ': ' . $e->getMessage());
        touch($stop);
    }
    file_put_contents($file, $log);
}

function rw_loop(string $role, int $index, int $start, int $end, int $cap, string $stop, mixed $state, Closure $shared, Closure $exclusive, Closure $give, string &$log): void
{
    if ($role === 'reader') {
        // Staggered so that some reader always holds the lock.
        $first = $start + (int) ($index * RW_READER_HOLD_MS * 1e6 / RW_READERS);
        while (hrtime(true) < $first) {
            usleep(100);
        }
        while (true) {
            $t0 = hrtime(true);
            if ($t0 >= $end && ($t0 >= $cap || file_exists($stop))) {
                break;
            }
            $shared($state);
            $t1 = hrtime(true);
            usleep((int) (RW_READER_HOLD_MS * 1e3));
            $t2 = hrtime(true);
            $give($state);
            $log .= pack('JJJ', $t0, $t1, $t2);
        }
    } else {
        $period = (int) (RW_WRITER_PERIOD_MS * 1e6);
        for ($k = 1; ($next = $start + $k * $period) < $end; $k++) {
            while (($now = hrtime(true)) < $next) {
                usleep((int) max(50, ($next - $now) / 1e3));
            }
            $t0 = hrtime(true);
            $exclusive($state);
            $t1 = hrtime(true);
            usleep((int) (RW_WRITER_HOLD_MS * 1e3));
            $t2 = hrtime(true);
            $give($state);
            $log .= pack('JJJ', $t0, $t1, $t2);
            // After a long wait, the next attempt is the next tick to come, not a burst of missed ones.
            $k = max($k, intdiv($t2 - $start, $period));
        }
        touch($stop);
    }
}

/* ----------------------------------------------------------- reports */

function slots_markdown(array $r): string
{
    $fmt = fn (array $s, int $d = 2) => sprintf("%.{$d}f (%.{$d}f–%.{$d}f)", $s['median'], $s['min'], $s['max']);
    $versions = $r['slot_versions'] ?? [];
    $out = '';
    if (isset($r['slots'])) {
        $rows = $r['slots'];
        $alternatives = array_filter($rows, fn ($id) => !str_starts_with($id, 'exakat-'), ARRAY_FILTER_USE_KEY);
        $bestRate = max(array_map(fn ($s) => $s['acquisitions_per_s']['median'], $alternatives) ?: [NAN]);
        $bestWait = min(array_map(fn ($s) => $s['wait_max_ms']['median'], $alternatives) ?: [NAN]);
        $out .= sprintf("\n### Slots: %d processes sharing %d slots (blocking acquire, hold %d µs, release, in a loop)\n\n",
            SLOT_PROCESSES, SLOT_COUNT, SLOT_HOLD_US);
        $out .= "| mechanism | acquisitions/s | vs best alternative | wait p50 ms | wait p99 ms | longest wait ms | longest wait vs best alternative | least served process, share of fair | most holders seen at once | CPU s/s |\n|---|---|---|---|---|---|---|---|---|---|\n";
        foreach ($rows as $id => $s) {
            $out .= sprintf("| %s | %s | %.2f× | %s | %s | %s | %.2f× | %s | %d | %s |\n", ($r['slot_labels'][$id] ?? $id) . failed_mark($s),
                $fmt($s['acquisitions_per_s'], 0), $s['acquisitions_per_s']['median'] / $bestRate,
                $fmt($s['wait_p50_ms'], 3), $fmt($s['wait_p99_ms'], 2), $fmt($s['wait_max_ms'], 1),
                $s['wait_max_ms']['median'] / $bestWait, $fmt($s['fewest_share'], 2), $s['max_holders']['max'], $fmt($s['cpu_per_s'], 2));
        }
        $out .= failures($rows, $r['slot_labels'] ?? [], SLOT_PROCESSES);
        $out .= sprintf("\nRatios: exakat_lock's median against the best alternative's median (acquisitions: above 1 is more; longest wait: below 1 is shorter). "
            . "The hold is a %d µs usleep(); waits run from the call of acquire to its return. \"Most holders seen at once\" counts, over every round, "
            . "the overlap of the intervals from acquire's return to release's call (a lower bound of the real overlap: above %d would be a broken limit); "
            . "%s. The polling alternative sleeps %d µs after a round of %d failed tries, doubling up to %d µs (symfony's own blocking acquire() on a non-blocking store sleeps 100 ms). "
            . "symfony/semaphore, symfony's N-holder lock, needs Redis and is not measured. symfony/lock %s, PHP %s.\n",
            SLOT_HOLD_US, SLOT_COUNT,
            array_sum(array_map(fn ($s) => $s['slot_overlaps']['max'], $rows)) === 0 ? 'no slot number was held by two processes at once in any round' : 'SOME SLOT NUMBER WAS HELD BY TWO PROCESSES AT ONCE',
            SLOT_POLL_FIRST_US, SLOT_COUNT, SLOT_POLL_MAX_US, $versions['symfony/lock'] ?? '?', $versions['php'] ?? PHP_VERSION);
    }
    if (isset($r['shared_vs_exclusive'])) {
        $rows = $r['shared_vs_exclusive'];
        $alternatives = array_filter($rows, fn ($id) => !str_starts_with($id, 'exakat-'), ARRAY_FILTER_USE_KEY);
        $bestReaders = max(array_map(fn ($s) => $s['reader_acquisitions_per_s']['median'], $alternatives) ?: [NAN]);
        $wait = fn (array $s) => $s['max'] >= RW_CAP_S * 1e3 && $s['median'] >= RW_CAP_S * 1e3
            ? sprintf('>%d s (starved)', RW_CAP_S) : sprintf('%.1f (%.1f–%s)', $s['median'], $s['min'], $s['max'] >= RW_CAP_S * 1e3 ? sprintf('>%d s, starved', RW_CAP_S) : sprintf('%.1f', $s['max']));
        $out .= sprintf("\n### An exclusive waiter among continuous shared holders (%d readers holding %.0f ms back to back, 1 writer every %.0f ms holding %.0f ms)\n\n",
            RW_READERS, RW_READER_HOLD_MS, RW_WRITER_PERIOD_MS, RW_WRITER_HOLD_MS);
        $out .= "| mechanism | writer acquisitions (of planned) | writer wait p50 ms | writer longest wait ms | rounds starved | reader acquisitions/s | vs best alternative | lock free % |\n|---|---|---|---|---|---|---|---|\n";
        foreach ($rows as $id => $s) {
            $out .= sprintf("| %s | %s of %d | %s | %s | %d of %d | %s | %.2f× | %s |\n", ($r['rw_labels'][$id] ?? $id) . failed_mark($s),
                $fmt($s['writer_acquisitions'], 0), $s['writer_attempts_planned']['median'], $wait($s['writer_wait_p50_ms']), $wait($s['writer_wait_max_ms']),
                $s['starved_rounds'], $r['slot_machine']['rounds'] ?? $r['rounds'], $fmt($s['reader_acquisitions_per_s'], 0), $s['reader_acquisitions_per_s']['median'] / $bestReaders, $fmt($s['free_percent'], 2));
        }
        $out .= failures($rows, $r['rw_labels'] ?? [], RW_READERS + 1);
        $out .= sprintf("\nA writer wait is capped at %d s: the readers stop %d s after the end of the run at the latest, and a wait that lasted that long is reported as starved "
            . "(its acquisition then counts, though only the readers' stopping allowed it). Writer attempts are planned every %.0f ms of the run; after a long wait the next attempt is the next tick to come. "
            . "Reader acquisitions/s count the acquisitions within the run. \"Lock free %%\" is the share of the run during which no process held the lock. "
            . "PHP's flock() and symfony's FlockStore (flock() too) have no writer preference. ext-sysvsem has no shared mode (neither does symfony's SemaphoreStore: acquireRead() falls back to an exclusive lock), so it has no row.\n",
            RW_CAP_S, RW_CAP_S, RW_WRITER_PERIOD_MS);
    }
    return $out;
}

/** The workers that threw, per mechanism, with their distinct messages. */
function failures(array $rows, array $labels, int $workersPerRound): string
{
    $out = '';
    foreach ($rows as $id => $s) {
        $errors = $s['errors'] ?? [];
        if ($errors === []) {
            continue;
        }
        $out .= sprintf("\n**%s: %d worker(s) threw** (of %d per round; %d (%d–%d) per round), and its row counts only what they did before: %s\n",
            $labels[$id] ?? $id, count($errors), $workersPerRound, $s['failed_workers']['median'], $s['failed_workers']['min'], $s['failed_workers']['max'],
            implode('; ', array_map(fn ($e) => '`' . str_replace('`', "'", $e) . '`', array_unique($errors))));
    }
    return $out;
}

/** A percentile, 0 when every worker failed (the failure is reported beside it). */
function or_zero(array $sorted, float $q): float
{
    return $sorted === [] ? 0.0 : percentile($sorted, $q);
}

function failed_mark(array $s): string
{
    return ($s['errors'] ?? []) === [] ? '' : sprintf(' **(%d workers threw: see below)**', count($s['errors']));
}
