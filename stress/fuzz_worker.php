<?php
// Runs fuzz cases [start, start + count) and prints, per case, "B i" before
// and "E i outcome ok|BAD reason" after, so that a crash or a hang points at
// its case. Runs inside the fuzz sandbox (cwd), with sys_temp_dir set to the
// sandbox's lock directory. Paths given in "dir" and "path" options are
// appended to given-paths.txt, so the checker knows where files may appear.

// No strict_types here: the calls below are made in PHP's default (weak)
// mode, where "1.5" is a valid float argument; strict_types_forbid_coercion.phpt
// covers strict mode.
require __DIR__ . '/lib.php';
require __DIR__ . '/fuzz_cases.php';

use ExakatLock\Lock;
use ExakatLock\LockException;

$c = worker_config();
$env = $c['env'];
if (isset($c['describe'])) {
    $case = fuzz_case($c['describe'], $env);
    echo implode(', ', array_map(fn ($k) => "$k: " . fuzz_describe($case[$k] ?? null),
        ['kind', 'what', 'backend', 'name', 'options', 'timeout', 'expected', 'function', 'args'])), "\n";
    exit(0);
}
$given = fopen($c['given'], 'ab');
$me = getmypid();

/** Checks what a successful call left: the lock must really be held by us, and exclude. */
function lock_is_correct(Lock $lock, callable $twin): ?string
{
    if (!$lock->isHeld()) {
        return 'isHeld() is false right after acquire() returned true';
    }
    $holder = $lock->holder();
    if (!is_array($holder) || !array_key_exists('pid', $holder) || !array_key_exists('host', $holder) || !array_key_exists('since', $holder)) {
        return 'holder() lacks pid/host/since: ' . json_encode($holder);
    }
    if ($holder['pid'] !== getmypid()) {
        return 'holder() does not name this process: ' . json_encode($holder);
    }
    $other = $twin();
    if ($other->acquire(0.0)) {
        return 'a second object took the lock while the first held it';
    }
    if ($lock->release() !== true || $lock->release() !== false) {
        return 'release() did not return true then false';
    }
    if (!$other->acquire(0.0) || !$other->release()) {
        return 'the second object could not take the lock once it was released';
    }
    return null;
}

function run_case(array $case, array $env, $given): array
{
    $name = $case['name'];
    $backend = $case['backend'];
    $options = $case['options'];
    $timeout = $case['timeout'];
    if (is_array($options)) {
        foreach (['dir', 'path'] as $key) {
            if (isset($options[$key]) && is_string($options[$key])) {
                fwrite($given, "$key\t" . bin2hex($options[$key]) . "\n");
            }
        }
    }
    $outcome = 'lock';
    $problem = null;
    $message = '';
    try {
        switch ($case['kind']) {
            case 'object':
                $lock = new Lock($name, $backend, $options);
                if (!$lock->acquire($timeout)) {
                    // Only a lock someone else holds may be refused (e.g. a port another program uses).
                    $outcome = 'busy';
                    $problem = $lock->holder() === null ? 'acquire() returned false on a free lock' : null;
                    break;
                }
                $problem = lock_is_correct($lock, fn () => new Lock($name, $backend, $options));
                break;
            case 'functions':
                if (!exakat_lock($name, $timeout, $backend, $options)) {
                    $outcome = 'busy';
                    $problem = exakat_lock_holder($name, $backend, $options) === null ? 'exakat_lock() returned false on a free lock' : null;
                    break;
                }
                try {
                    $holder = exakat_lock_holder($name, $backend, $options);
                    if (($holder['pid'] ?? null) !== getmypid()) {
                        $problem = 'exakat_lock_holder() does not name this process: ' . json_encode($holder);
                    } elseif ((new Lock($name, $backend, $options))->acquire(0.0)) {
                        $problem = 'a Lock object took a lock held with exakat_lock()';
                    }
                } finally {
                    if (exakat_unlock((string) $name) !== true) {
                        $problem ??= 'exakat_unlock() did not return true';
                    }
                }
                if (exakat_unlock((string) $name) !== false) {
                    $problem ??= 'a second exakat_unlock() did not return false';
                }
                break;
            case 'synchronized':
                $result = Lock::synchronized($name, function () use ($name, $backend, $options) {
                    return (new Lock($name, $backend, $options))->acquire(0.0) ? 'not excluded' : 42;
                }, $timeout, $backend, $options);
                $problem = $result === 42 ? null : 'synchronized() returned ' . var_export($result, true);
                break;
            case 'holder':
                $holder = exakat_lock_holder($name, $backend, $options);
                $outcome = 'holder';
                if ($holder !== null && !array_key_exists('pid', $holder)) {
                    $problem = 'holder array without pid';
                }
                break;
            case 'args':
                $args = $case['args'];
                $result = match ($case['function']) {
                    'exakat_lock' => exakat_lock(...$args),
                    'exakat_unlock' => exakat_unlock(...$args),
                    'exakat_lock_holder' => exakat_lock_holder(...$args),
                    'exakat_lock_backends' => exakat_lock_backends(...$args),
                    'construct' => new Lock(...$args),
                    'synchronized' => Lock::synchronized(...$args),
                };
                if ($case['function'] === 'exakat_lock' && $result === true) {
                    exakat_unlock((string) $args[0]);
                }
                $outcome = 'returned';
                break;
        }
    } catch (ValueError $e) {
        $outcome = 'ValueError';
        $message = $e->getMessage();
    } catch (TypeError $e) {
        $outcome = 'TypeError';
        $message = $e->getMessage();
    } catch (LockException $e) {
        $outcome = LockException::class;
        $message = $e->getMessage();
    } catch (Throwable $e) {
        $outcome = get_class($e);
        $message = $e->getMessage();
        $problem = 'an undocumented exception: ' . get_class($e) . ': ' . $e->getMessage();
    }
    $expected = $case['expected'];
    if ($problem === null && $expected !== null) {
        $matches = $expected === 'lock' ? in_array($outcome, ['lock', 'holder', 'busy'], true)
            : ($outcome === 'lock' || $outcome === 'busy' || $outcome === 'holder' ? false : is_a($outcome, $expected, true));
        if (!$matches) {
            $problem = "expected $expected, got $outcome" . ($message === '' ? '' : ": $message");
        }
    }
    // No message may carry a password of the DSN it was given.
    if (is_array($options) && is_string($options['dsn'] ?? null) && $message !== '') {
        $pass = parse_url($options['dsn'], PHP_URL_PASS);
        if (is_string($pass) && strlen($pass) >= 4 && (str_contains($message, $pass) || str_contains($message, urldecode($pass)))) {
            $problem = 'the exception message shows the DSN password: ' . $message;
        }
    }
    return [$outcome, $problem];
}

for ($i = $c['start']; $i < $c['start'] + $c['count']; $i++) {
    echo "B $i\n";
    $case = fuzz_case($i, $env);
    [$outcome, $problem] = run_case($case, $env, $given);
    echo "E $i $outcome ", $problem === null ? 'ok' : 'BAD ' . str_replace("\n", ' ', $problem), "\n";
}
echo "done\n";
