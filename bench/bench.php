<?php
// exakat_lock against what PHP users run today, on one machine, in one run.
// Driven by bench/run.sh, which builds everything and passes:
//   BENCH_PHP     JSON list: the PHP command line with every extension loaded
//   BENCH_ROUNDS  repetitions of every measurement (medians and min-max)
//   BENCH_SECONDS length of one contended run
//   BENCH_FLOOR   JSON from bench/floor.c
//   BENCH_SIZES   JSON: stripped .so sizes with and without the mysql backend
//   BENCH_LOAD_INSTRUCTIONS  JSON: pairs of callgrind totals of `php -n -r ''`, without and with it
//   BENCH_CYCLE_INSTRUCTIONS JSON: callgrind instructions per uncontended cycle, by mechanism
//   EXAKAT_LOCK_TEST_MYSQL_DSN  a MySQL/MariaDB server, or unset
//   BENCH_ONLY    "slots": run only bench/slots.php's scenarios and merge them
//                 into the existing bench/results/latest.json (for iterating)
// Writes bench/results/latest.{json,md} and bench/results/chart.svg.

declare(strict_types=1);

require __DIR__ . '/mechanisms.php';
require __DIR__ . '/slots.php';

const PROCESS_COUNTS = [2, 4, 8];

$dsn = getenv('EXAKAT_LOCK_TEST_MYSQL_DSN') ?: null;

if (($argv[1] ?? '') === 'worker') {
    worker($argv[2], $argv[3], (int) $argv[4], (float) $argv[5], $argv[6], $dsn);
    exit(0);
}
if (($argv[1] ?? '') === 'waiter') {
    waiter($argv[2], $argv[3], $dsn);
    exit(0);
}
if (($argv[1] ?? '') === 'slots-worker') {
    slots_worker($argv[2], $argv[3], (int) $argv[4], (float) $argv[5], $argv[6], $dsn);
    exit(0);
}
// For callgrind (bench/run.sh): the local mechanisms, then N cycles of one.
if (($argv[1] ?? '') === 'cycle-ids') {
    echo implode("\n", array_keys(array_filter(mechanisms(null), fn ($m) => $m[0] !== 'mysql'))), "\n";
    exit(0);
}
if (($argv[1] ?? '') === 'cycles') {
    [, , $open, $take, $give] = mechanisms(null)[$argv[2]];
    time_cycles($argv[2], $open("cycles-{$argv[2]}"), $take, $give, (int) $argv[3]);
    forget($argv[2], "cycles-{$argv[2]}");
    exit(0);
}
if (($argv[1] ?? '') === 'rw-worker') {
    rw_worker($argv[2], $argv[3], $argv[4], (int) $argv[5], (int) $argv[6], (float) $argv[7], $argv[8], $argv[9]);
    exit(0);
}

$php = json_decode(getenv('BENCH_PHP'), true, flags: JSON_THROW_ON_ERROR);
$rounds = (int) (getenv('BENCH_ROUNDS') ?: 5);
$seconds = (float) (getenv('BENCH_SECONDS') ?: 1.0);
$mechanisms = mechanisms($dsn);
$only = getenv('BENCH_ONLY') ?: null;
if ($only === 'slots') {
    // The other sections as the last full run measured them.
    $results = json_decode((string) file_get_contents(__DIR__ . '/results/latest.json'), true, flags: JSON_THROW_ON_ERROR);
} else {
    $results = [
        'machine' => machine(),
        'rounds' => $rounds,
        'floor_ns' => json_decode(getenv('BENCH_FLOOR') ?: 'null', true),
        'sizes' => json_decode(getenv('BENCH_SIZES') ?: 'null', true),
        'load_instructions' => json_decode(getenv('BENCH_LOAD_INSTRUCTIONS') ?: 'null', true),
        'cycle_instructions' => json_decode(getenv('BENCH_CYCLE_INSTRUCTIONS') ?: 'null', true),
        'mechanisms' => array_map(fn ($m) => ['group' => $m[0], 'label' => $m[1]], $mechanisms),
    ];

    // First, while this process is small: forking a large one costs more,
    // and varies more, than the loading measured.
    fwrite(STDERR, "PHP start-up with and without the extension...\n");
    $results['startup'] = startup($php, 600);
    fwrite(STDERR, "uncontended acquire + release...\n");
    $results['uncontended_us'] = uncontended($mechanisms, $rounds);
    fwrite(STDERR, "contended hand-offs...\n");
    $results['contended'] = contended($php, $mechanisms, $rounds, $seconds);
    fwrite(STDERR, "CPU of waiting processes...\n");
    $results['waiting_cpu'] = waiting_cpu($php, $mechanisms);
}
$results['slot_machine'] = machine() + ['rounds' => $rounds, 'seconds' => $seconds, 'separate_run' => $only === 'slots'];
$results['slot_versions'] = alternative_versions();
$results['slot_labels'] = array_map(fn ($m) => $m[0], slot_mechanisms($dsn));
$results['rw_labels'] = array_map(fn ($m) => $m[0], rw_mechanisms());
fwrite(STDERR, "slots: " . SLOT_PROCESSES . " processes, " . SLOT_COUNT . " slots...\n");
$results['slots'] = slots($php, $dsn, $rounds, $seconds);
fwrite(STDERR, "an exclusive waiter among shared holders...\n");
$results['shared_vs_exclusive'] = shared_vs_exclusive($php, $rounds, $seconds);

@mkdir(__DIR__ . '/results');
file_put_contents(__DIR__ . '/results/latest.json', json_encode($results, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES) . "\n");
file_put_contents(__DIR__ . '/results/latest.md', markdown($results));
file_put_contents(__DIR__ . '/results/chart.svg', chart($results));
echo markdown($results);
exec('rm -rf ' . escapeshellarg(lock_dir()));

/* ---------------------------------------------------------------- measures */

/** Microseconds per acquire + release, uncontended: median, min, max over rounds. */
function uncontended(array $mechanisms, int $rounds): array
{
    $states = [];
    $cycles = [];
    foreach ($mechanisms as $id => [, , $open, $take, $give]) {
        $states[$id] = $open("uncontended-$id");
        // Calibrate: enough cycles for about 100 ms.
        $n = 100;
        do {
            $n *= 4;
            $elapsed = time_cycles($id, $states[$id], $take, $give, $n);
        } while ($elapsed < 0.025 && $n < 4_000_000);
        $cycles[$id] = (int) max(200, $n * 0.1 / $elapsed);
    }
    $samples = [];
    for ($round = 0; $round < $rounds; $round++) {
        // Interleaved, so a noisy moment hits every mechanism a little, not one a lot.
        foreach ($mechanisms as $id => [, , , $take, $give]) {
            $samples[$id][] = time_cycles($id, $states[$id], $take, $give, $cycles[$id]) / $cycles[$id] * 1e6;
        }
    }
    foreach (array_keys($mechanisms) as $id) {
        forget($id, "uncontended-$id");
    }
    return array_map('summary', $samples);
}

function time_cycles(string $id, mixed $state, Closure $take, Closure $give, int $n): float
{
    $start = hrtime(true);
    for ($i = 0; $i < $n; $i++) {
        if (!$take($state, false)) {
            throw new RuntimeException("$id: an uncontended acquire failed");
        }
        $give($state);
    }
    return (hrtime(true) - $start) / 1e9;
}

/**
 * N processes in a loop of blocking acquire + release, no work outside the
 * lock: a fair lock changes hands at every release, an unfair one is taken
 * again by the process that just released it.
 */
function contended(array $php, array $mechanisms, int $rounds, float $seconds): array
{
    $ids = array_keys(array_filter($mechanisms, fn ($id) => !in_array($id, ['php-mkdir', 'php-socket-unix', 'php-socket-tcp', 'php-flock-open'], true), ARRAY_FILTER_USE_KEY));
    $out = [];
    foreach (PROCESS_COUNTS as $procs) {
        $samples = [];
        for ($round = 0; $round < $rounds; $round++) {
            foreach ($ids as $id) {
                $samples[$id][] = contended_run($php, $id, $procs, $seconds, $round);
            }
        }
        foreach ($samples as $id => $runs) {
            $out[$procs][$id] = [];
            foreach (array_keys($runs[0]) as $metric) {
                $out[$procs][$id][$metric] = summary(array_column($runs, $metric));
            }
        }
    }
    return $out;
}

function contended_run(array $php, string $id, int $procs, float $seconds, int $round): array
{
    $name = "contended-$id-$procs-$round-" . getmypid();
    $start = hrtime(true) + 400_000_000; // every worker starts at the same moment
    $files = [];
    $workers = [];
    for ($p = 0; $p < $procs; $p++) {
        $files[$p] = tempnam(sys_get_temp_dir(), 'exakat-bench');
        $workers[] = proc_open(array_merge($php, [__FILE__, 'worker', $id, $name, (string) $start, (string) $seconds, $files[$p]]), [], $pipes);
    }
    foreach ($workers as $worker) {
        if (proc_close($worker) !== 0) {
            throw new RuntimeException("$id: a worker failed");
        }
    }
    forget($id, $name);
    $acquired = $released = $who = $waits = [];
    $cpu = 0.0;
    foreach ($files as $p => $file) {
        $data = file_get_contents($file);
        unlink($file);
        $cpu += unpack('e', substr($data, 0, 8))[1];
        foreach (array_chunk(unpack('J*', substr($data, 8)), 3) as [$t0, $t1, $t2]) {
            $acquired[] = $t1;
            $released[] = $t2;
            $who[] = $p;
            $waits[] = $t1 - $t0;
        }
    }
    array_multisort($acquired, $released, $who);
    $handoffs = [];
    for ($i = 1, $n = count($acquired); $i < $n; $i++) {
        if ($who[$i] !== $who[$i - 1]) {
            // From the moment the releaser called release() to the return of the next holder's acquire().
            $handoffs[] = max(0, $acquired[$i] - $released[$i - 1]);
        }
    }
    sort($handoffs);
    sort($waits);
    return [
        'acquisitions_per_s' => count($acquired) / $seconds,
        'handoffs_per_s' => count($handoffs) / $seconds,
        'handoff_p50_us' => percentile($handoffs, 0.50) / 1e3,
        'handoff_p99_us' => percentile($handoffs, 0.99) / 1e3,
        'wait_p99_ms' => percentile($waits, 0.99) / 1e6,
        'wait_max_ms' => percentile($waits, 1.0) / 1e6,
        'cpu_per_s' => $cpu / $seconds,
    ];
}

function worker(string $id, string $name, int $start, float $seconds, string $file, ?string $dsn): void
{
    [, , $open, $take, $give] = mechanisms($dsn)[$id];
    $state = $open($name);
    $log = '';
    while (hrtime(true) < $start) {
        usleep(200);
    }
    $cpu0 = cpu_seconds();
    $end = $start + (int) ($seconds * 1e9);
    if (is_synchronized_only($id)) {
        // php-lock: stamp inside the critical section.
        while (($t0 = hrtime(true)) < $end) {
            $state->synchronized(function () use (&$t1, &$t2) { $t1 = hrtime(true); $t2 = hrtime(true); });
            $log .= pack('JJJ', $t0, $t1, $t2);
        }
    } else {
        while (($t0 = hrtime(true)) < $end) {
            $take($state, true);
            $t1 = hrtime(true);
            $t2 = hrtime(true);
            $give($state);
            $log .= pack('JJJ', $t0, $t1, $t2);
        }
    }
    file_put_contents($file, pack('e', cpu_seconds() - $cpu0) . $log);
}

/** CPU milliseconds a waiting process uses per second of waiting. */
function waiting_cpu(array $php, array $mechanisms): array
{
    $out = [];
    foreach ($mechanisms as $id => [, , $open, $take, $give]) {
        if (in_array($id, ['php-mkdir', 'php-socket-unix', 'php-socket-tcp', 'php-flock-open'], true)) {
            continue;
        }
        $name = "waiting-$id-" . getmypid();
        $holder = $open($name);
        if (is_synchronized_only($id)) {
            // Hold it from a child process instead: synchronized() cannot stay held across calls here.
            $child = proc_open(array_merge($php, ['-r', 'require "' . __DIR__ . '/mechanisms.php"; $m = mechanisms(getenv("EXAKAT_LOCK_TEST_MYSQL_DSN") ?: null)["' . $id . '"]; $s = $m[2]("' . $name . '"); $s->synchronized(function () { echo "held\n"; fgets(STDIN); });']), [0 => ['pipe', 'r'], 1 => ['pipe', 'w']], $pipes);
            fgets($pipes[1]);
        } else {
            $take($holder, true);
        }
        $waiter = proc_open(array_merge($php, [__FILE__, 'waiter', $id, $name]), [1 => ['pipe', 'w']], $waiterPipes);
        $hold = 1.0;
        usleep((int) ($hold * 1e6));
        if (isset($child)) {
            fwrite($pipes[0], "go\n");
            proc_close($child);
            unset($child);
        } else {
            $give($holder);
        }
        $line = trim((string) fgets($waiterPipes[1]));
        proc_close($waiter);
        forget($id, $name);
        [$cpu, $waited] = array_map('floatval', explode(' ', $line) + [1 => 1.0]);
        $out[$id] = ['cpu_ms_per_s' => $cpu * 1e3 / max($waited, 1e-3), 'waited_s' => $waited];
    }
    return $out;
}

function waiter(string $id, string $name, ?string $dsn): void
{
    [, , $open, $take, $give] = mechanisms($dsn)[$id];
    $state = $open($name);
    $cpu0 = cpu_seconds();
    $t0 = hrtime(true);
    if (is_synchronized_only($id)) {
        $state->synchronized(fn () => true);
    } else {
        $take($state, true);
        $give($state);
    }
    printf("%.6f %.6f\n", cpu_seconds() - $cpu0, (hrtime(true) - $t0) / 1e9);
}

/** CPU time of `php -n -r ''` with and without the extension, per start. */
/**
 * What loading the extension adds to `php -n -r ''`: wall time of
 * alternating runs without and with it, as the median of the paired
 * differences (one pair runs under nearly the same machine load), with
 * the quartiles of those differences; enough pairs to resolve 0.1 ms.
 */
function startup(array $php, int $pairs): array
{
    $bare = [$php[0], '-n', '-r', ''];
    $dir = preg_filter('/^extension_dir=/', '', $php); // the copy run.sh loads
    $with = [$php[0], '-n', '-d', 'extension=' . realpath(($dir ? reset($dir) : __DIR__ . '/../build') . '/exakat_lock.so'), '-r', ''];
    $samples = ['without' => [], 'with' => []];
    $added = [];
    for ($i = 0; $i < $pairs; $i++) {
        foreach (['without' => $bare, 'with' => $with] as $kind => $command) {
            $started = hrtime(true);
            proc_close(proc_open($command, [], $pipes));
            $samples[$kind][] = (hrtime(true) - $started) / 1e6;
        }
        $added[] = end($samples['with']) - end($samples['without']);
    }
    $out = array_map('summary', $samples);
    sort($added);
    $out['added_ms'] = ['median' => percentile($added, 0.5), 'min' => percentile($added, 0.25), 'max' => percentile($added, 0.75)];
    $out['pairs'] = $pairs;
    return $out;
}

/* ----------------------------------------------------------------- helpers */

function summary(array $values): array
{
    sort($values);
    return ['median' => percentile($values, 0.5), 'min' => $values[0], 'max' => end($values)];
}

function percentile(array $sorted, float $q): float
{
    return $sorted === [] ? NAN : (float) $sorted[(int) floor((count($sorted) - 1) * $q)];
}

function cpu_seconds(): float
{
    $r = getrusage();
    return $r['ru_utime.tv_sec'] + $r['ru_utime.tv_usec'] / 1e6 + $r['ru_stime.tv_sec'] + $r['ru_stime.tv_usec'] / 1e6;
}

function children_cpu(): float
{
    $r = getrusage(1);
    return $r['ru_utime.tv_sec'] + $r['ru_utime.tv_usec'] / 1e6 + $r['ru_stime.tv_sec'] + $r['ru_stime.tv_usec'] / 1e6;
}

function machine(): array
{
    preg_match('/model name\s*:\s*(.*)/', (string) file_get_contents('/proc/cpuinfo'), $cpu);
    return [
        'date' => gmdate('Y-m-d H:i') . ' UTC',
        'cpu' => $cpu[1] ?? 'unknown',
        'cores' => (int) shell_exec('nproc'),
        'kernel' => php_uname('r'),
        'php' => PHP_VERSION,
    ];
}

/* ----------------------------------------------------------------- reports */

function markdown(array $r): string
{
    $label = fn (string $id) => $r['mechanisms'][$id]['label'];
    $fmt = fn (array $s, int $d = 2) => sprintf("%.{$d}f (%.{$d}f–%.{$d}f)", $s['median'], $s['min'], $s['max']);
    $m = $r['machine'];
    $out = "Measured {$m['date']} on {$m['cpu']}, {$m['cores']} cores, Linux {$m['kernel']}, PHP {$m['php']}; "
        . "medians of {$r['rounds']} rounds (min–max).\n\n";

    $out .= "### Uncontended acquire + release (µs per cycle)\n\n";
    $out .= "| mechanism | µs | vs PHP primitive | vs its C floor | instructions per cycle |\n|---|---|---|---|---|\n";
    $primitive = ['flock' => 'php-flock', 'semaphore' => 'php-sysvsem', 'socket' => 'php-socket-unix', 'tcp' => 'php-socket-tcp', 'mysql' => 'php-pdo-get-lock'];
    $groups = [];
    foreach ($r['uncontended_us'] as $id => $s) {
        $groups[$r['mechanisms'][$id]['group']][] = $id;
    }
    foreach ($groups as $group => $ids) {
        $base = $r['uncontended_us'][$primitive[$group]]['median'] ?? null;
        $floors = $r['floor_ns'][$group] ?? null;
        foreach ($ids as $id) {
            $v = $r['uncontended_us'][$id]['median'];
            // exakat_lock's own system calls for its row, the primitive's for the others.
            $floor = $floors[str_starts_with($id, 'exakat-') ? 'ours' : 'primitive'] ?? null;
            $instructions = $r['cycle_instructions'][$id] ?? null;
            $out .= sprintf("| %s | %s | %s | %s | %s |\n", $label($id), $fmt($r['uncontended_us'][$id]),
                $base ? sprintf('%.2f×', $v / $base) : '', $floor ? sprintf('%.2f×', $v * 1e3 / $floor) : '',
                $instructions === null ? '' : number_format($instructions));
        }
        if ($floors) {
            $out .= sprintf("| *C floor: exakat_lock's system calls without PHP* | %.2f | | | |\n", $floors['ours'] / 1e3);
            $out .= sprintf("| *C floor: the PHP primitive's system calls without PHP* | %.2f | | | |\n", $floors['primitive'] / 1e3);
        }
    }

    if ($r['cycle_instructions'] ?? null) {
        $out .= "\nInstructions per cycle: callgrind's count of user-space instructions (PHP, the extension, libc; "
            . "not the kernel's work) for 3,000 cycles less 1,000, over 2,000, through the same closures as the timings.\n";
    }

    foreach ($r['contended'] as $procs => $rows) {
        $out .= "\n### $procs processes contending (blocking acquire + release in a loop)\n\n";
        $out .= "| mechanism | hand-offs/s | hand-off p50 µs | hand-off p99 µs | longest wait ms | acquisitions/s |\n|---|---|---|---|---|---|\n";
        foreach ($rows as $id => $s) {
            $out .= sprintf("| %s | %s | %s | %s | %s | %s |\n", $label($id), $fmt($s['handoffs_per_s'], 0),
                $fmt($s['handoff_p50_us'], 1), $fmt($s['handoff_p99_us'], 1), $fmt($s['wait_max_ms'], 1), $fmt($s['acquisitions_per_s'], 0));
        }
    }

    $out .= "\n### CPU used by a process waiting 1 s for a held lock\n\n| mechanism | CPU ms per s of waiting |\n|---|---|\n";
    foreach ($r['waiting_cpu'] as $id => $s) {
        $out .= sprintf("| %s | %.2f |\n", $label($id), $s['cpu_ms_per_s']);
    }

    $s = $r['startup'];
    $out .= sprintf("\n### Start-up and size\n\n`php -n -r ''` wall time: %s ms without the extension, %s ms with it; "
        . "loading it adds **%+.3f ms** (median of %d paired differences; quartiles %+.3f to %+.3f ms).\n",
        $fmt($s['without']), $fmt($s['with']), $s['added_ms']['median'], $s['pairs'], $s['added_ms']['min'], $s['added_ms']['max']);
    if ($r['load_instructions']) {
        $pairs = $r['load_instructions'];
        $added = array_map(fn ($pair) => $pair[1] - $pair[0], $pairs);
        $spread = summary($added);
        $out .= sprintf("Callgrind, the same commands under %d environment sizes (glibc's malloc consolidates, ~600k instructions, "
            . "in some heap layouts and not others): **%s instructions** added (median; %s to %s).\n",
            count($pairs), number_format($spread['median']), number_format($spread['min']), number_format($spread['max']));
    }
    if ($r['sizes']) {
        $out .= sprintf("Stripped `exakat_lock.so`: %.2f MiB with the mysql backend, %.2f MiB without.\n",
            $r['sizes']['with_mysql'] / 1048576, $r['sizes']['without_mysql'] / 1048576);
    }
    if ($r['slot_machine']['separate_run'] ?? false) {
        $sm = $r['slot_machine'];
        $out .= "\nThe two sections below were measured {$sm['date']}, medians of {$sm['rounds']} rounds of {$sm['seconds']} s (min–max).\n";
    }
    return $out . slots_markdown($r);
}

/** Two bar charts as one SVG: uncontended cost, and 4-process hand-offs. */
function chart(array $r): string
{
    $rows = [];
    foreach ($r['uncontended_us'] as $id => $s) {
        $rows[] = [$r['mechanisms'][$id]['label'], $s['median'], str_starts_with($id, 'exakat-')];
    }
    $handoffs = [];
    foreach ($r['contended'][4] ?? [] as $id => $s) {
        $handoffs[] = [$r['mechanisms'][$id]['label'], $s['handoffs_per_s']['median'], str_starts_with($id, 'exakat-')];
    }
    $bar = 16;
    $height = 60 + (count($rows) + count($handoffs)) * ($bar + 4) + 60;
    $svg = "<svg xmlns='http://www.w3.org/2000/svg' width='900' height='$height' font-family='sans-serif' font-size='12'>\n"
        . "<rect width='100%' height='100%' fill='white'/>\n";
    $y = 20;
    foreach ([['Uncontended acquire + release, µs (log scale, lower is better)', $rows, true],
                 ['Hand-offs per second, 4 processes (log scale, higher is better)', $handoffs, true]] as [$title, $data, $log]) {
        $svg .= "<text x='10' y='$y' font-weight='bold'>" . htmlspecialchars($title) . "</text>\n";
        $y += 10;
        $max = max(array_column($data, 1) ?: [1]);
        $min = min(array_filter(array_column($data, 1)) ?: [1]);
        $scale = fn (float $v) => $log ? 380 * (log10(max($v, $min / 2)) - log10($min / 2)) / max(log10($max) - log10($min / 2), 1e-9) : 380 * $v / $max;
        foreach ($data as [$label, $value, $ours]) {
            $w = max(1, $scale($value));
            $color = $ours ? '#1f77b4' : '#bbbbbb';
            $svg .= sprintf("<text x='360' y='%d' text-anchor='end'>%s</text><rect x='370' y='%d' width='%.1f' height='%d' fill='%s'/><text x='%.1f' y='%d'>%s</text>\n",
                $y + 12, htmlspecialchars($label), $y, $w, $bar, $color, 375 + $w, $y + 12, $value >= 100 ? number_format($value) : sprintf('%.2f', $value));
            $y += $bar + 4;
        }
        $y += 30;
    }
    return $svg . "</svg>\n";
}
