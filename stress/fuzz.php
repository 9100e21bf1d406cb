<?php
// Hostile input: names, timeouts, options, backends and DSNs, targeted and
// random (fuzz_cases.php), run in batches by fuzz_worker.php in a sandbox.
// Every case must end in the documented exception (\ValueError,
// \TypeError, LockException) or a correct lock; never a crash (exit status,
// "panicked", segfault), a hang (each batch is bounded), an undocumented
// exception, a password in a message, or a file outside the lock directory.

declare(strict_types=1);
require __DIR__ . '/lib.php';

const BATCH = 250;

/** Lexically normalised absolute path. */
function normalise(string $path, string $cwd): string
{
    if ($path === '' || $path[0] !== '/') {
        $path = "$cwd/$path";
    }
    $parts = [];
    foreach (explode('/', $path) as $part) {
        if ($part === '' || $part === '.') {
            continue;
        }
        if ($part === '..') {
            array_pop($parts);
        } else {
            $parts[] = $part;
        }
    }
    return '/' . implode('/', $parts);
}

/**
 * Every path under $sandbox (recursively, without following links), plus
 * the entries of a few shared places whose names a case could have made
 * (other programs create files there too).
 */
function snapshot(string $sandbox, string $marker): array
{
    $all = [];
    $walk = function (string $dir) use (&$walk, &$all): void {
        foreach (@scandir($dir) ?: [] as $entry) {
            if ($entry === '.' || $entry === '..') {
                continue;
            }
            $path = "$dir/$entry";
            $all[$path] = true;
            if (is_dir($path) && !is_link($path)) {
                $walk($path);
            }
        }
    };
    $walk($sandbox);
    foreach (['/', '/tmp', '/var/tmp', '/work', env('STRESS_ROOT', dirname(__DIR__)), __DIR__, '/etc', '/root'] as $place) {
        foreach (@scandir($place) ?: [] as $entry) {
            if ($entry !== '.' && $entry !== '..' && preg_match("/exakat|pwned|$marker/i", $entry)) {
                $all[rtrim($place, '/') . "/$entry"] = true;
            }
        }
    }
    return $all;
}

/** [files outside the allowed places, the number of allowed ones, every new path]. */
function new_files(array $before, array $after, array $allowedDirs, array $allowedFiles): array
{
    $new = array_keys(array_diff_key($after, $before));
    $outside = [];
    $lockFiles = 0;
    foreach ($new as $path) {
        $isLockFile = isset($allowedDirs[dirname($path)]) && preg_match('/^exakat_lock\..+\.lock$/', basename($path));
        if ($isLockFile || isset($allowedFiles[$path])) {
            $lockFiles++;
        } else {
            $outside[] = $path;
        }
    }
    return [$outside, $lockFiles, $new];
}

section('fuzz', 'Hostile input', function (Section $s): void {
    $base = work_dir('fuzz');
    $sandbox = "$base/sandbox";
    $cwd = "$sandbox/cwd";
    $lockdir = "$sandbox/tmp";
    foreach ([$sandbox, $cwd, $lockdir, "$cwd/sub"] as $dir) {
        @mkdir($dir, 0700, true);
    }
    @mkdir("$cwd/world-writable");
    chmod("$cwd/world-writable", 0777);
    posix_mkfifo("$cwd/fifo", 0600);
    file_put_contents("$cwd/sub/target", "a file a symlink points to\n");
    @symlink("$cwd/sub/target", "$cwd/symlink");
    $given = "$base/given-paths.txt";
    file_put_contents($given, '');
    $seed = (int) env('STRESS_FUZZ_SEED', (string) (crc32(env('STRESS_RUN_ID')) % 100000));
    $env = ['seed' => $seed, 'port' => free_port(), 'key' => 0x5000 + $seed % 0x1000, 'dsn' => mysql_dsn(), 'lockdir' => $lockdir];
    require __DIR__ . '/fuzz_cases.php';
    $targeted = fuzz_targeted_count($env);
    $total = $targeted + pick(20000, 300000);
    $s->figure('seed', $seed);
    $before = snapshot($sandbox, "fz{$seed}x");
    $setsBefore = count(semaphore_sets());
    $targetBefore = md5_file("$cwd/sub/target");

    $procEnv = getenv();
    unset($procEnv['EXAKAT_LOCK_MYSQL_DSN']);
    $command = fn (array $config) => array_merge(php_cmd(), ['-d', "sys_temp_dir=$lockdir", __DIR__ . '/fuzz_worker.php',
        base64_encode(json_encode($config))]);
    $describe = function (int $i) use ($command, $env, $given, $cwd, $procEnv): string {
        $p = new Proc($command(['env' => $env, 'given' => $given, 'describe' => $i]), $cwd, $procEnv);
        $line = $p->line(30.0);
        $p->finish(5.0);
        return (string) $line;
    };
    $outcomes = [];
    $byKind = [];
    $bad = 0;
    $ran = 0;
    $crashes = 0;
    $hangs = 0;
    $stderrNotes = [];
    $next = 0;
    while ($next < $total) {
        $count = min(BATCH, $total - $next);
        $worker = new Proc($command(['env' => $env, 'given' => $given, 'start' => $next, 'count' => $count]), $cwd, $procEnv);
        $deadline = hrtime(true) + 120e9;
        $current = null;
        $done = false;
        while (($line = $worker->line(max(0.01, ($deadline - hrtime(true)) / 1e9))) !== null) {
            if ($line === 'done') {
                $done = true;
                break;
            }
            if (preg_match('/^B (\d+)$/', $line, $m)) {
                $current = (int) $m[1];
            } elseif (preg_match('/^E (\d+) (\S+) (ok|BAD (.*))$/', $line, $m)) {
                $ran++;
                $current = null;
                $outcomes[$m[2]] = ($outcomes[$m[2]] ?? 0) + 1;
                $kind = (int) $m[1] < $targeted ? 'targeted' : 'random';
                $byKind[$kind] = ($byKind[$kind] ?? 0) + 1;
                if ($m[3] !== 'ok') {
                    $bad++;
                    if ($bad <= 20) {
                        $s->check("fuzz case {$m[1]} ends in the documented outcome", false, $m[4] . ' — case: ' . $describe((int) $m[1]));
                    }
                }
            }
        }
        $end = $worker->finish(2.0);
        $stderr = trim($worker->stderr());
        if (preg_match('/panicked|Segmentation|core dumped|Fatal error|Rust panic|AddressSanitizer/i', $stderr)) {
            $s->check('no case prints a panic, segfault or fatal error', false, substr($stderr, 0, 500));
        } elseif ($stderr !== '' && count($stderrNotes) < 3) {
            $stderrNotes[] = substr($stderr, 0, 300);
        }
        if (!$done) {
            $at = $current ?? $next;
            if (isset($end['killed_after_timeout']) || $end['code'] === null && $end['signal'] === 9) {
                $hangs++;
                $s->check('no case hangs (each batch of ' . BATCH . ' cases is bounded to 120 s)', false, "case $at: " . $describe($at));
            } else {
                $crashes++;
                $s->check('no case crashes PHP', false, "case $at, exit " . json_encode($end) . ': ' . substr($stderr, 0, 300) . ' — case: ' . $describe($at));
            }
            $next = $at + 1;
        } else {
            $next += $count;
        }
    }
    $s->check('every case ran', $ran === $total, "$ran of $total");
    if ($bad > 20) {
        $s->check('fuzz cases end in the documented outcome', false, ($bad - 20) . ' more cases not shown');
    }
    foreach ($stderrNotes as $note) {
        $s->note("a worker wrote to stderr: $note");
    }

    // Files: only lock files in the lock directory, or where a case asked for them.
    $allowedDirs = [normalise($lockdir, $cwd) => true];
    $allowedFiles = [];
    foreach (file($given, FILE_IGNORE_NEW_LINES) ?: [] as $line) {
        [$key, $hex] = explode("\t", $line);
        $value = (string) hex2bin($hex);
        if ($value === '' || str_contains($value, "\0")) {
            continue;
        }
        if ($key === 'dir') {
            $allowedDirs[normalise($value, $cwd)] = true;
        } else {
            $allowedFiles[normalise($value, $cwd)] = true;
        }
    }
    // The checker can fail: a stray file next to a lock file is reported, the lock file is not.
    [$strayOutside] = new_files($before, $before + ["$cwd/stray" => true, "$lockdir/exakat_lock.x.lock" => true], $allowedDirs, $allowedFiles);
    $s->check('checker self-test: a stray file is reported, a lock file is not', $strayOutside === ["$cwd/stray"], json_encode($strayOutside));
    $after = snapshot($sandbox, "fz{$seed}x");
    [$outside, $lockFiles, $new] = new_files($before, $after, $allowedDirs, $allowedFiles);
    $s->check('no file appears outside the lock directory (or a path a case named)', $outside === [], implode(', ', array_slice($outside, 0, 10)));
    $pwned = glob('/tmp/exakat-fuzz-pwned-*') ?: [];
    $s->check('no shell metacharacter in a name was ever run', $pwned === [] && !file_exists("$cwd/exakat-fuzz-pwned"), implode(', ', $pwned));
    $s->check('the file a planted symlink points to is untouched', md5_file("$cwd/sub/target") === $targetBefore);
    $names = array_map('basename', array_filter($new, fn ($p) => dirname($p) === $lockdir));
    $s->check('lock file names in the lock directory never contain a separator or start with a dot',
        array_filter($names, fn ($n) => str_contains($n, '/') || $n[0] === '.') === []);
    $s->check('no SysV semaphore set is left behind', count(semaphore_sets()) <= $setsBefore, $setsBefore . ' → ' . count(semaphore_sets()));

    ksort($outcomes);
    $s->figure('cases', $ran);
    $s->figure('targeted', $byKind['targeted'] ?? 0);
    $s->figure('random', $byKind['random'] ?? 0);
    $s->figure('outcomes', $outcomes);
    $s->figure('undocumented_outcomes', $bad);
    $s->figure('crashes', $crashes);
    $s->figure('hangs', $hangs);
    $s->figure('files_created', ['lock files where allowed' => $lockFiles, 'elsewhere' => count($outside)]);
    $rows = [];
    foreach ($outcomes as $outcome => $n) {
        $rows[] = [$outcome, $n];
    }
    $s->table('Fuzz outcomes', ['outcome', 'cases'], $rows, sprintf(
        '%d cases (%d targeted with the exact outcome expected, %d random with any documented outcome accepted), seed %d; %d ended otherwise, %d crashes, %d hangs; %d lock files created, all in the lock directory or where a "dir"/"path" option pointed, %d elsewhere. "lock": acquired, then checked (isHeld(), holder() names this process, a second object is refused, release() true then false); "busy": refused because another program holds it (a port in use); "holder"/"returned": exakat_lock_holder() or a raw call returned.',
        $ran, $byKind['targeted'] ?? 0, $byKind['random'] ?? 0, $seed, $bad, $crashes, $hangs, $lockFiles, count($outside)));
    printf("   %d cases: %s\n", $ran, json_encode($outcomes));
});
