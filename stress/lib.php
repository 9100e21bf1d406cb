<?php
// Shared by the stress sections: settings from run.sh, child processes,
// the shared-log format and its checker, statistics, and result files.
//
// Every section script writes $STRESS_WORK/results/<section>.json through
// Section; report.php merges them into results/latest.{json,md}.

declare(strict_types=1);

use ExakatLock\Lock;

const BACKENDS = ['socket', 'tcp', 'semaphore', 'flock', 'mysql'];

// ---------------------------------------------------------------- settings

function env(string $key, ?string $default = null): string
{
    $value = getenv($key);
    if ($value === false || $value === '') {
        if ($default === null) {
            throw new RuntimeException("the environment variable $key is not set (run stress/run.sh)");
        }
        return $default;
    }
    return $value;
}

function long_mode(): bool
{
    return env('STRESS_MODE', 'quick') === 'long';
}

/** The quick-mode or the long-mode figure. */
function pick(mixed $quick, mixed $long): mixed
{
    return long_mode() ? $long : $quick;
}

/** The backends this run covers (STRESS_BACKENDS narrows them for development). */
function backends(): array
{
    $only = env('STRESS_BACKENDS', implode(',', BACKENDS));
    return array_values(array_intersect(BACKENDS, explode(',', $only)));
}

function work_dir(string $sub = ''): string
{
    $dir = env('STRESS_WORK') . ($sub === '' ? '' : "/$sub");
    if (!is_dir($dir)) {
        mkdir($dir, 0700, true);
    }
    return $dir;
}

/** A lock name unique to this run. */
function lock_name(string $what): string
{
    return 'stress-' . env('STRESS_RUN_ID') . '-' . $what;
}

/** PHP with the extension under test (and posix, for setsid/kill), nothing else. */
function php_cmd(?string $extDir = null): array
{
    $cmd = [PHP_BINARY, '-n', '-d', 'extension_dir=' . ($extDir ?? env('STRESS_EXT_DIR')), '-d', 'extension=exakat_lock'];
    $posix = PHP_EXTENSION_DIR . '/posix.so';
    if (is_file($posix)) {
        $cmd[] = '-d';
        $cmd[] = "extension=$posix";
    }
    return array_merge($cmd, ['-d', 'display_errors=stderr', '-d', 'log_errors=0', '-d', 'memory_limit=1G']);
}

/**
 * The command line running one of the stress scripts with a JSON config;
 * from a staged copy of the scripts (with the .so in its ext/) when $stage is given.
 */
function php_script(string $script, array $config = [], ?string $stage = null): array
{
    return array_merge(php_cmd($stage === null ? null : "$stage/ext"),
        [($stage ?? __DIR__) . "/$script", base64_encode(json_encode($config, JSON_THROW_ON_ERROR))]);
}

/**
 * The copy of the worker scripts (and of the .so, in its ext/) that run.sh
 * makes under the run's directory, for workers that cannot see the checkout.
 */
function stage(): string
{
    return env('STRESS_STAGE');
}

/** The config a worker was started with (see php_script()). */
function worker_config(): array
{
    global $argv;
    return json_decode(base64_decode($argv[1] ?? ''), true, 512, JSON_THROW_ON_ERROR);
}

/** One event of a fault-test worker, as a JSON line: {"t": hrtime seconds, "event": ..., ...more}. */
function say_event(string $event, array $more = []): void
{
    echo json_encode(['t' => hrtime(true) / 1e9, 'event' => $event] + $more), "\n";
}

function mysql_dsn(): string
{
    return env('STRESS_MYSQL_DSN');
}

/**
 * A TCP port that is free now and outside the kernel's ephemeral range
 * (ip_local_port_range): a port from that range can become any outgoing
 * connection's source port at any moment, and a tcp lock on it is then
 * rightly busy.
 */
function free_port(): int
{
    [$low, $high] = array_map('intval', preg_split('/\s+/', trim((string) @file_get_contents('/proc/sys/net/ipv4/ip_local_port_range'))) + [32768, 60999]);
    [$from, $to] = $high < 65000 ? [$high + 1, 65535] : [10000, $low - 1];
    for ($try = 0; $try < 1000; $try++) {
        $port = random_int($from, $to);
        $probe = @stream_socket_server("tcp://127.0.0.1:$port");
        if ($probe !== false) {
            fclose($probe);
            return $port;
        }
    }
    throw new RuntimeException("no free port in $from-$to");
}

/** Options that keep a backend's lock inside this run's sandbox. */
function backend_options(string $backend, ?string $dsn = null): array
{
    return match ($backend) {
        'tcp' => ['port' => free_port()],
        'flock' => ['dir' => work_dir('locks')],
        'mysql' => ['dsn' => $dsn ?? mysql_dsn()],
        default => [],
    };
}

// ---------------------------------------------------------------- processes

/** A child process driven through pipes; stderr is collected as it comes. */
final class Proc
{
    /** @var resource */
    private $process;
    /** @var resource[] */
    private array $pipes = [];
    private ?array $end = null;
    private string $err = '';
    private string $outBuffer = '';
    public readonly int $pid;
    public readonly int $startedNs;

    public function __construct(public readonly array $command, ?string $cwd = null, ?array $env = null)
    {
        $this->startedNs = hrtime(true);
        $process = proc_open($command, [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $this->pipes, $cwd, $env);
        if (!is_resource($process)) {
            throw new RuntimeException('cannot start ' . implode(' ', $command));
        }
        $this->process = $process;
        stream_set_blocking($this->pipes[1], false);
        stream_set_blocking($this->pipes[2], false);
        $this->pid = proc_get_status($process)['pid'];
    }

    private function drain(): void
    {
        if (is_resource($this->pipes[2] ?? null)) {
            $chunk = stream_get_contents($this->pipes[2]);
            if ($chunk !== false) {
                $this->err .= $chunk;
            }
        }
    }

    /** The next line of stdout, or null when none came within $timeout seconds or the process ended. */
    public function line(float $timeout = 20.0): ?string
    {
        $deadline = hrtime(true) + (int) ($timeout * 1e9);
        while (true) {
            $at = strpos($this->outBuffer, "\n");
            if ($at !== false) {
                $line = substr($this->outBuffer, 0, $at);
                $this->outBuffer = substr($this->outBuffer, $at + 1);
                return $line;
            }
            $left = $deadline - hrtime(true);
            if ($left <= 0 || !is_resource($this->pipes[1])) {
                return null;
            }
            $read = [$this->pipes[1], $this->pipes[2]];
            $none = null;
            $ready = @stream_select($read, $none, $none, intdiv($left, 1_000_000_000), intdiv($left % 1_000_000_000, 1000));
            if ($ready === false) {
                continue; // a signal
            }
            $this->drain();
            $chunk = stream_get_contents($this->pipes[1]);
            if ($chunk === false || ($chunk === '' && feof($this->pipes[1]))) {
                if ($this->outBuffer !== '') {
                    $line = $this->outBuffer;
                    $this->outBuffer = '';
                    return $line;
                }
                return null;
            }
            $this->outBuffer .= $chunk;
        }
    }

    public function send(string $line): void
    {
        if (is_resource($this->pipes[0] ?? null)) {
            @fwrite($this->pipes[0], $line . "\n");
            @fflush($this->pipes[0]);
        }
    }

    public function closeStdin(): void
    {
        if (is_resource($this->pipes[0] ?? null)) {
            fclose($this->pipes[0]);
        }
    }

    public function running(): bool
    {
        return $this->status() === null;
    }

    /** null while running, else ['code' => int|null, 'signal' => int|null]. */
    private function status(): ?array
    {
        if ($this->end === null) {
            $status = proc_get_status($this->process);
            if (!$status['running']) {
                $this->end = ['code' => $status['signaled'] ? null : $status['exitcode'],
                    'signal' => $status['signaled'] ? $status['termsig'] : null, 'ns' => hrtime(true)];
            }
        }
        return $this->end;
    }

    public function kill(int $signal = 9): void
    {
        if ($this->running()) {
            proc_terminate($this->process, $signal);
        }
    }

    /** Waits up to $timeout seconds; the end status, or null if still running. */
    public function wait(float $timeout = 30.0): ?array
    {
        $deadline = hrtime(true) + (int) ($timeout * 1e9);
        while ($this->status() === null) {
            if (hrtime(true) > $deadline) {
                return null;
            }
            $this->drain();
            if (is_resource($this->pipes[1])) {
                $chunk = stream_get_contents($this->pipes[1]);
                if ($chunk) {
                    $this->outBuffer .= $chunk;
                }
            }
            usleep(1000);
        }
        return $this->end;
    }

    /** Kills the process if it is still running after $timeout seconds; the end status. */
    public function finish(float $timeout = 10.0): array
    {
        $end = $this->wait($timeout);
        if ($end === null) {
            $this->kill(9);
            $end = $this->wait(10.0) ?? ['code' => null, 'signal' => 9, 'ns' => hrtime(true)];
            $end['killed_after_timeout'] = true;
        }
        return $end;
    }

    /** Everything the process printed on stdout that was not read as lines yet. */
    public function rest(): string
    {
        if (is_resource($this->pipes[1])) {
            stream_set_blocking($this->pipes[1], false);
            $this->outBuffer .= (string) stream_get_contents($this->pipes[1]);
        }
        $rest = $this->outBuffer;
        $this->outBuffer = '';
        return $rest;
    }

    public function stderr(): string
    {
        $this->drain();
        return $this->err;
    }

    public function __destruct()
    {
        if ($this->end === null) {
            proc_terminate($this->process, 9);
            $this->wait(10.0);
        }
        foreach ($this->pipes as $pipe) {
            if (is_resource($pipe)) {
                fclose($pipe);
            }
        }
        proc_close($this->process);
    }
}

/** Runs a command to its end (bounded), returning [exit code, stdout, stderr]. */
function run(array $command, float $timeout = 60.0, ?string $stdin = null, ?array $env = null, ?string $cwd = null): array
{
    $proc = new Proc($command, $cwd, $env);
    if ($stdin !== null) {
        $proc->send(rtrim($stdin, "\n"));
    }
    $proc->closeStdin();
    $out = '';
    $deadline = hrtime(true) + (int) ($timeout * 1e9);
    while (($line = $proc->line(max(0.01, ($deadline - hrtime(true)) / 1e9))) !== null) {
        $out .= $line . "\n";
    }
    $end = $proc->finish(max(0.1, ($deadline - hrtime(true)) / 1e9));
    $out .= $proc->rest();
    return [$end['code'] ?? -1, $out, $proc->stderr()];
}

/** Whether a process exists and is not a zombie. */
function process_alive(int $pid): bool
{
    $stat = @file_get_contents("/proc/$pid/stat");
    if ($stat === false) {
        return false;
    }
    $state = substr($stat, strrpos($stat, ')') + 2, 1);
    return $state !== 'Z' && $state !== 'X';
}

/** What the descriptors of a process point to (readlink of /proc/PID/fd/*). */
function process_fds(int $pid): array
{
    $fds = [];
    foreach (@scandir("/proc/$pid/fd") ?: [] as $fd) {
        if ($fd !== '.' && $fd !== '..') {
            $target = @readlink("/proc/$pid/fd/$fd");
            if ($target !== false) {
                $fds[(int) $fd] = $target;
            }
        }
    }
    return $fds;
}

function rss_kb(int $pid = 0): int
{
    $status = (string) @file_get_contents('/proc/' . ($pid ?: 'self') . '/status');
    return preg_match('/^VmRSS:\s+(\d+)/m', $status, $m) ? (int) $m[1] : -1;
}

function fd_count(): int
{
    return count(scandir('/proc/self/fd')) - 2;
}

/** SysV semaphore sets visible here: key => ['id', 'perms', 'uid']. */
function semaphore_sets(): array
{
    $sets = [];
    foreach (array_slice(file('/proc/sysvipc/sem', FILE_IGNORE_NEW_LINES) ?: [], 1) as $line) {
        $f = preg_split('/\s+/', trim($line));
        $sets[(int) $f[0]] = ['id' => (int) $f[1], 'perms' => octdec($f[2]), 'uid' => (int) $f[4]];
    }
    return $sets;
}

/** FNV-1a 64 of $bytes as [high 32 bits, low 32 bits] (PHP ints would overflow to float). */
function fnv1a64(string $bytes): array
{
    [$hi, $lo] = [0xcbf29ce4, 0x84222325];
    for ($i = 0, $n = strlen($bytes); $i < $n; $i++) {
        $lo ^= ord($bytes[$i]);
        // (hi:lo) * 0x100000001b3 mod 2^64 = (hi:lo) * 0x1b3 + (lo << 40)
        $loProduct = $lo * 0x1b3;
        $hiProduct = $hi * 0x1b3 + ($loProduct >> 32) + (($lo << 8) & 0xffffffff);
        [$hi, $lo] = [$hiProduct & 0xffffffff, $loProduct & 0xffffffff];
    }
    return [$hi, $lo];
}

/** The SysV key the semaphore backend derives from a name (see core/src/backend/semaphore.rs). */
function semaphore_key(string $name): int
{
    [$hi, $lo] = fnv1a64($name);
    $key = $hi ^ $lo;
    $key = $key >= 0x80000000 ? $key - 0x100000000 : $key;
    return ($key === 0 || $key === -1) ? 1 : $key;
}

// ---------------------------------------------------------------- the shared log

/**
 * One record of the shared log: 20 bytes, appended with O_APPEND by the
 * holder itself, 'E' just after acquire() returned and 'X' just before
 * release(): type, pad, pid, sequence number, hrtime (CLOCK_MONOTONIC, ns).
 */
const RECORD_SIZE = 20;

function record(string $type, int $pid, int $seq, int $ns): string
{
    return pack('a1x3VVJ', $type, $pid, $seq, $ns);
}

/** @return array{0: list<array{type: string, pid: int, seq: int, t: int}>, 1: int} records and trailing bytes */
function parse_log(string $bytes): array
{
    $records = [];
    $n = intdiv(strlen($bytes), RECORD_SIZE);
    for ($i = 0; $i < $n; $i++) {
        $r = unpack('a1type/x3/Vpid/Vseq/Jt', $bytes, $i * RECORD_SIZE);
        $records[] = $r;
    }
    return [$records, strlen($bytes) % RECORD_SIZE];
}

/**
 * Proves (or refutes) that no two holders overlapped.
 *
 * Two independent checks:
 * - file order: O_APPEND serialises the records, so a correct run reads
 *   E(p) X(p) E(q) X(q)...; an E while another holder is inside is a violation;
 * - time: the hrtime intervals [E, X] sorted by start never overlap.
 *
 * $killed maps pids killed with SIGKILL to the hrtime the signal was sent:
 * a killed holder's interval has no X; it ends at its death, which is after
 * the signal, so a next E stamped before the signal is a violation.
 */
function check_log(array $records, int $trailing = 0, array $killed = []): array
{
    $result = ['records' => count($records), 'entries' => 0, 'order_violations' => 0, 'time_overlaps' => 0,
        'malformed' => $trailing === 0 ? 0 : 1, 'problems' => []];
    $problem = function (string $what) use (&$result): void {
        if (count($result['problems']) < 10) {
            $result['problems'][] = $what;
        }
    };
    if ($trailing !== 0) {
        $problem("$trailing trailing bytes: a torn record");
    }
    $open = []; // pid => E record
    $intervals = [];
    foreach ($records as $i => $r) {
        if ($r['type'] === 'E') {
            $result['entries']++;
            if (isset($open[$r['pid']])) {
                $result['malformed']++;
                $problem("record $i: pid {$r['pid']} entered twice");
            }
            foreach ($open as $pid => $e) {
                if (isset($killed[$pid]) && $killed[$pid] <= $r['t']) {
                    // The holder was killed before this entry: it died holding.
                    $intervals[] = [$e['t'], $killed[$pid], $pid, true];
                    unset($open[$pid]);
                } else {
                    $result['order_violations']++;
                    $why = isset($killed[$pid]) ? 'before that holder was even killed' : 'while it was inside';
                    $problem(sprintf('record %d: pid %d entered %s (pid %d, seq %d)', $i, $r['pid'], $why, $pid, $e['seq']));
                }
            }
            $open[$r['pid']] = $r;
        } elseif ($r['type'] === 'X') {
            $e = $open[$r['pid']] ?? null;
            if ($e === null || $e['seq'] !== $r['seq']) {
                $result['malformed']++;
                $problem("record $i: pid {$r['pid']} exited without entering");
                continue;
            }
            unset($open[$r['pid']]);
            if ($r['t'] < $e['t']) {
                $result['malformed']++;
                $problem("record $i: exit stamped before entry");
            }
            $intervals[] = [$e['t'], $r['t'], $r['pid'], false];
        } else {
            $result['malformed']++;
            $problem("record $i: unknown type");
        }
    }
    foreach ($open as $pid => $e) {
        if (isset($killed[$pid])) {
            $intervals[] = [$e['t'], $killed[$pid], $pid, true];
        } else {
            $result['malformed']++;
            $problem("pid $pid never exited (seq {$e['seq']})");
        }
    }
    usort($intervals, fn ($a, $b) => $a[0] <=> $b[0]);
    $maxEnd = PHP_INT_MIN;
    $maxPid = 0;
    foreach ($intervals as [$start, $end, $pid]) {
        if ($start < $maxEnd) {
            $result['time_overlaps']++;
            $problem(sprintf('pid %d entered %.1f µs before pid %d left', $pid, ($maxEnd - $start) / 1e3, $maxPid));
        }
        if ($end > $maxEnd) {
            [$maxEnd, $maxPid] = [$end, $pid];
        }
    }
    $result['violations'] = $result['order_violations'] + $result['time_overlaps'];
    return $result;
}

// ---------------------------------------------------------------- the slots log

/**
 * One record of the slots section's log (slots_worker.php): 28 bytes,
 * appended with O_APPEND by the holder itself: 'E' (exclusive) or 'S'
 * (shared) just after the acquisition returned, 'X' just before release(),
 * 'T' when an acquisition timed out, 'F' when it failed with the open bug
 * KB6 (KB6_MESSAGE; see FOUND-BUGS.md). Fields: type, mode ('E' or 'S',
 * but for an exit), slot (0xffff: none), the worker's number in its run
 * (not its pid: pids are reused within a long run), sequence number, hrtime
 * (CLOCK_MONOTONIC, ns), and but for an exit the time it waited (ns).
 */
const SLOT_RECORD_SIZE = 28;

/** KB6: a semaphore lock with slots refuses a waiter whose single pass over the slots lost a race. */
const KB6_MESSAGE = "the set's free count says a slot is free, and none is";

function slot_record(string $type, string $mode, ?int $slot, int $worker, int $seq, int $ns, int $waitNs): string
{
    return pack('a1a1vVVJJ', $type, $mode, $slot ?? 0xffff, $worker, $seq, $ns, $waitNs);
}

/** @return array{0: list<array{type: string, mode: string, slot: ?int, worker: int, seq: int, t: int, wait: int}>, 1: int} records and trailing bytes */
function parse_slot_log(string $bytes): array
{
    $records = [];
    $n = intdiv(strlen($bytes), SLOT_RECORD_SIZE);
    for ($i = 0; $i < $n; $i++) {
        $r = unpack('a1type/Z1mode/vslot/Vworker/Vseq/Jt/Jwait', $bytes, $i * SLOT_RECORD_SIZE);
        $r['slot'] = $r['slot'] === 0xffff ? null : $r['slot'];
        $records[] = $r;
    }
    return [$records, strlen($bytes) % SLOT_RECORD_SIZE];
}

// ---------------------------------------------------------------- statistics

function percentile(array $values, float $p): ?float
{
    if ($values === []) {
        return null;
    }
    sort($values);
    $rank = (int) ceil($p / 100 * count($values)) - 1;
    return (float) $values[max(0, min(count($values) - 1, $rank))];
}

function summary_ms(array $valuesNs): array
{
    $ms = array_map(fn ($v) => $v / 1e6, $valuesNs);
    return ['count' => count($ms), 'median_ms' => round4(percentile($ms, 50)), 'p99_ms' => round4(percentile($ms, 99)),
        'max_ms' => round4($ms === [] ? null : max($ms))];
}

function round4(?float $v): ?float
{
    return $v === null ? null : round($v, 3);
}

// ---------------------------------------------------------------- results

/** The result file of one section: figures, tables, violations and known product bugs. */
final class Section
{
    private array $data;
    private int $started;

    public function __construct(public readonly string $name, string $title)
    {
        $this->started = hrtime(true);
        $this->data = ['section' => $name, 'title' => $title, 'mode' => env('STRESS_MODE', 'quick'),
            'figures' => [], 'tables' => [], 'violations' => [], 'known_bugs' => [], 'notes' => [], 'checks' => 0];
        echo "== $title\n";
    }

    public function figure(string $key, mixed $value): void
    {
        $this->data['figures'][$key] = $value;
    }

    public function note(string $text): void
    {
        $this->data['notes'][] = $text;
        echo "   note: $text\n";
    }

    /** A property check: counted, printed, and a violation when it fails. */
    public function check(string $what, bool $ok, string $detail = ''): bool
    {
        $this->data['checks']++;
        if (!$ok) {
            $this->data['violations'][] = $what . ($detail === '' ? '' : " ($detail)");
            echo "   FAILED $what" . ($detail === '' ? '' : ": $detail") . "\n";
        } elseif (getenv('STRESS_VERBOSE')) {
            echo "   ok $what" . ($detail === '' ? '' : " ($detail)") . "\n";
        }
        return $ok;
    }

    /**
     * A property a known product bug breaks (an expected failure). Reproducing
     * it is recorded, not a failure of the run; no longer reproducing it is a
     * failure, so that the list of known bugs stays true, except for an
     * intermittent ($flaky) bug, which a run may simply not meet.
     */
    public function knownBug(string $id, string $what, bool $holds, string $detail = '', bool $flaky = false): void
    {
        $this->data['checks']++;
        if ($holds && $flaky) {
            $this->note("known bug $id (intermittent) did not show in this run: $what held" . ($detail === '' ? '' : " ($detail)"));
        } elseif ($holds) {
            $this->data['violations'][] = "known bug $id no longer reproduces: $what holds now; update stress/ (remove the known-bug mark)";
            echo "   FIXED? $id: $what holds now\n";
        } else {
            $this->data['known_bugs'][] = ['id' => $id, 'property' => $what, 'detail' => $detail];
            echo "   KNOWN BUG $id: $what does not hold" . ($detail === '' ? '' : " ($detail)") . "\n";
        }
    }

    public function table(string $title, array $header, array $rows, string $caption = ''): void
    {
        $this->data['tables'][] = ['title' => $title, 'header' => $header, 'rows' => $rows, 'caption' => $caption];
        echo "   -- $title\n";
        $width = fn (string $text): int => (int) preg_match_all('/./us', $text);
        $widths = array_map($width, $header);
        foreach ($rows as $row) {
            foreach (array_values($row) as $i => $cell) {
                $widths[$i] = max($widths[$i] ?? 0, $width((string) $cell));
            }
        }
        foreach (array_merge([$header], $rows) as $row) {
            $cells = [];
            foreach (array_values($row) as $i => $cell) {
                $cells[] = str_pad((string) $cell, $widths[$i] + strlen((string) $cell) - $width((string) $cell));
            }
            echo '   ', implode(' | ', $cells), "\n";
        }
    }

    public function violations(): int
    {
        return count($this->data['violations']);
    }

    public function save(): void
    {
        $this->data['seconds'] = round((hrtime(true) - $this->started) / 1e9, 1);
        file_put_contents(work_dir('results') . "/{$this->name}.json",
            json_encode($this->data, JSON_PRETTY_PRINT | JSON_INVALID_UTF8_SUBSTITUTE | JSON_PRESERVE_ZERO_FRACTION));
        printf("   %s: %d checks, %d violations, %d known bugs, %.1f s\n", $this->name, $this->data['checks'],
            count($this->data['violations']), count($this->data['known_bugs']), $this->data['seconds']);
    }
}

/** Runs $body with a Section, saving it whatever happens (an uncaught error is a violation). */
function section(string $name, string $title, callable $body): never
{
    $section = new Section($name, $title);
    try {
        $body($section);
    } catch (Throwable $e) {
        $section->check('the section ran to its end', false, get_class($e) . ': ' . $e->getMessage() . ' at '
            . basename($e->getFile()) . ':' . $e->getLine());
    }
    $section->save();
    exit($section->violations() === 0 ? 0 : 1);
}

/** A lock of this run, in the orchestrator: for probing whether a lock is free. */
function probe_free(string $name, string $backend, array $options, float $timeout = 0.0): bool
{
    $lock = new Lock($name, $backend, $options);
    if ($lock->acquire($timeout)) {
        $lock->release();
        return true;
    }
    return false;
}
