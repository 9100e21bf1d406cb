<?php
// The hostile-input cases: targeted ones (one bad value at a time, with the
// exception the contract promises for it) and random ones (everything mixed,
// any documented outcome accepted). Case N is the same in every process for
// one seed, so a crashing case can be run again alone and described.

declare(strict_types=1);

final class Odd implements Stringable
{
    public function __toString(): string
    {
        return 'stringable-name';
    }
}

/** Values that are never valid where a string, float or array is expected. */
function fuzz_junk(): array
{
    return [null, [], [1, 2], ['a' => ['b' => []]], new stdClass(), fn () => 1, STDIN, PHP_INT_MAX, -1, 0.5, NAN, INF, true, false, ''];
}

function fuzz_random_bytes(int $min, int $max, bool $nul = true): string
{
    $length = mt_rand($min, $max);
    $bytes = $length === 0 ? "" : random_bytes($length);
    return $nul ? $bytes : str_replace("\0", 'z', $bytes);
}

/** Lock names: [value, expected] (expected: 'lock', a class name, or null for "any documented outcome"). */
function fuzz_names(string $unique): array
{
    return [
        ['', ValueError::class], ["\0", ValueError::class], ["a\0b", ValueError::class], ["$unique\0", ValueError::class],
        [str_repeat('x', 10240), ValueError::class], [str_repeat('n', 256), ValueError::class],
        [substr($unique . str_repeat('n', 255), 0, 255), 'lock'],
        ["$unique\xff\xfe\xfd", 'lock'], ["\xc3\x28$unique", 'lock'], ["$unique/../../etc/passwd", 'lock'], ["../../$unique", 'lock'],
        ["/$unique", 'lock'], ["/etc/passwd$unique", 'lock'], [".$unique", 'lock'], ["..$unique", 'lock'],
        ["$unique\$(touch /tmp/exakat-fuzz-pwned-$unique)", 'lock'], ["$unique`touch exakat-fuzz-pwned`", 'lock'],
        ["$unique; rm -rf /nonexistent-$unique", 'lock'], ["$unique | cat", 'lock'], ["$unique & echo", 'lock'],
        ["$unique\n", 'lock'], ["$unique\r\n", 'lock'], ["\t$unique", 'lock'], [" $unique ", 'lock'], ["$unique 😀", 'lock'],
        [substr($unique, 0, 20) . str_repeat('é', 44), 'lock'], [substr($unique, 0, 20) . str_repeat('é', 45), 'lock'],
        [$unique . str_repeat('a', 64 - strlen($unique)), 'lock'], [$unique . str_repeat('a', 65 - strlen($unique)), 'lock'],
        [$unique . str_repeat('b', 192 - strlen($unique)), 'lock'], ["$unique'); DO SLEEP(5); -- ", 'lock'],
        ["$unique\\", 'lock'], ["$unique%s%n%x", 'lock'], ["CON$unique", 'lock'], ["$unique*?[a]{b}~", 'lock'],
        ["-$unique", 'lock'], ["--$unique", 'lock'],
        [null, TypeError::class], [[], TypeError::class], [new stdClass(), TypeError::class], [STDIN, TypeError::class],
        [fn () => 1, TypeError::class],
    ];
}

/** Options per backend: [options, expected]. */
function fuzz_options(string $backend, array $env): array
{
    $unknown = [[['prot' => 1], ValueError::class], [['' => 1], ValueError::class], [["\0" => 1], ValueError::class],
        [['PORT' => 1], ValueError::class], [[0 => 1], ValueError::class], [[-1 => 'x'], ValueError::class],
        [["\xff" => 1], ValueError::class], [["port\xc3\x28" => 1], ValueError::class],
        [['dsn' => 'x', 'port' => 1, 'key' => 1, 'dir' => 'x'], ValueError::class]];
    $port = $env['port'];
    $cases = match ($backend) {
        'socket', 'auto' => [[[], 'lock'], [['port' => 1], ValueError::class]],
        'tcp' => [
            [['port' => $port], 'lock'], [['port' => null], 'lock'], [[], 'lock'],
            [['port' => 0], ValueError::class], [['port' => -1], ValueError::class], [['port' => 65536], ValueError::class],
            [['port' => PHP_INT_MAX], ValueError::class], [['port' => PHP_INT_MIN], ValueError::class],
            [['port' => (string) $port], TypeError::class], [['port' => (float) $port], TypeError::class],
            [['port' => true], TypeError::class], [['port' => []], TypeError::class], [['port' => new stdClass()], TypeError::class],
            [['port' => $port, 'host' => '127.0.0.1'], 'lock'], [['port' => $port, 'host' => 'localhost'], 'lock'],
            [['port' => $port, 'host' => '0.0.0.0'], 'lock'], [['port' => $port, 'host' => '::1'], null],
            [['port' => $port, 'host' => '10.255.255.1'], ExakatLock\LockException::class],
            [['port' => $port, 'host' => 'example.com'], ValueError::class], [['port' => $port, 'host' => ''], ValueError::class],
            [['port' => $port, 'host' => "127.0.0.1\0"], ValueError::class], [['port' => $port, 'host' => '256.1.1.1'], ValueError::class],
            [['port' => $port, 'host' => 5], TypeError::class], [['host' => '127.0.0.1; rm -rf /'], ValueError::class],
        ],
        'semaphore' => [
            [['key' => $env['key']], 'lock'], [['key' => -$env['key']], 'lock'], [['key' => 0x7fffffff - $env['key']], 'lock'],
            [['key' => -0x80000000 + $env['key']], 'lock'], [['key' => null], 'lock'],
            [['key' => 0], ValueError::class], [['key' => -1], ValueError::class], [['key' => 1 << 40], ValueError::class],
            [['key' => PHP_INT_MIN], ValueError::class], [['key' => (string) $env['key']], TypeError::class],
            [['key' => 5.0], TypeError::class], [['key' => [5]], TypeError::class],
        ],
        'flock' => [
            [[], 'lock'], [['dir' => 'sub'], 'lock'], [['dir' => '..'], 'lock'], [['dir' => $env['lockdir']], 'lock'],
            [['dir' => ''], ValueError::class], [['dir' => "sub\0"], ValueError::class],
            [['dir' => 'nonexistent'], ExakatLock\LockException::class], [['dir' => '/dev/null'], ExakatLock\LockException::class],
            [['dir' => '/proc/self'], ExakatLock\LockException::class], [['dir' => 'world-writable'], ExakatLock\LockException::class],
            [['path' => 'file.lock'], 'lock'], [['path' => 'sub/../sub/other.lock'], 'lock'],
            [['path' => ''], ValueError::class], [['path' => "a\0b"], ValueError::class],
            [['path' => 'sub/'], ValueError::class], [['path' => '/dev/null'], ExakatLock\LockException::class],
            [['path' => 'fifo'], ExakatLock\LockException::class], [['path' => 'symlink'], ExakatLock\LockException::class],
            [['path' => 'nonexistent/x.lock'], ExakatLock\LockException::class],
            [['path' => 'file.lock', 'dir' => 'sub'], ValueError::class], [['dir' => 5], TypeError::class],
            [['path' => []], TypeError::class], [['path' => true], TypeError::class],
        ],
        'mysql' => fuzz_dsns($env),
        default => [],
    };
    return array_merge($cases, $unknown);
}

/** DSNs for the mysql backend. */
function fuzz_dsns(array $env): array
{
    $u = parse_url($env['dsn']);
    $hp = "{$u['host']}:{$u['port']}";
    $pass = urldecode($u['pass']);
    $user = urldecode($u['user']);
    $d = fn (string $dsn, ?string $expected, array $more = []) => [['dsn' => $dsn] + $more, $expected];
    return [
        $d($env['dsn'], 'lock'), $d("mariadb://$user:$pass@$hp/", 'lock'), $d("mysql://$user:$pass@$hp", 'lock'),
        $d($env['dsn'], 'lock', ['connect_timeout' => 0.5]), $d($env['dsn'], 'lock', ['connect_timeout' => 3]),
        $d($env['dsn'], ValueError::class, ['connect_timeout' => 0]), $d($env['dsn'], ValueError::class, ['connect_timeout' => -1]),
        $d($env['dsn'], ValueError::class, ['connect_timeout' => NAN]), $d($env['dsn'], ValueError::class, ['connect_timeout' => INF]),
        $d($env['dsn'], ValueError::class, ['connect_timeout' => 1e308]), $d($env['dsn'], TypeError::class, ['connect_timeout' => '5']),
        $d("mysql://$user:WrongPass-{$env['unique']}@$hp/", ExakatLock\LockException::class),
        $d("mysql://$user@$hp/", ExakatLock\LockException::class),
        $d("mysql://$user:$pass@$hp/no_such_database_{$env['unique']}", ExakatLock\LockException::class),
        $d("mysql://$user:$pass@127.0.0.1:1/", ExakatLock\LockException::class),
        $d("mysql://$user:$pass@localhost/?socket=/nonexistent/{$env['unique']}.sock", ExakatLock\LockException::class),
        $d("mysql://$user:$pass@localhost/?socket=/dev/null", ExakatLock\LockException::class),
        $d("mysql://$user:$pass@db.invalid/", ExakatLock\LockException::class),
        $d('mysql://', ValueError::class), $d('mysql://@', ValueError::class), $d('mysql:///db', ValueError::class),
        $d("mysql://$user:$pass@{$u['host']}:0/", ValueError::class), $d("mysql://$user:$pass@{$u['host']}:65536/", ValueError::class),
        $d("mysql://$user:$pass@{$u['host']}:-1/", ValueError::class), $d("mysql://$user:$pass@{$u['host']}:abc/", ValueError::class),
        $d("mysql://$user:$pass@[::1/", ValueError::class), $d("postgres://$user:$pass@$hp/", ValueError::class),
        $d("mysql://$user:%zz@$hp/", ValueError::class), $d("mysql://$user:%ff@$hp/", ValueError::class),
        $d("mysql://$user:$pass@$hp/?socket=", ValueError::class), $d("mysql://$user:$pass@$hp/?foo=bar", ValueError::class),
        $d("mysql://$user:$pass@$hp/\xff", ValueError::class), $d('mysql://u:p@' . str_repeat('h', 10240) . '/', null),
        $d("mysql://$user:$pass@$hp/" . str_repeat('d', 10240), null),
        $d("mysql://$user:$pass@$hp/db'; DROP TABLE x; --", null), $d(' ' . $env['dsn'], ValueError::class),
        $d("mysql://$user:$pass@localhost/?socket=/tmp/a%00b", ValueError::class), $d("mysql://$user%00x:$pass@$hp/", ValueError::class),
        $d("mysql://$user:$pass@$hp/db%00x", ValueError::class), $d("mysql://$user:$pass@h\0st/", ValueError::class),
        [['dsn' => 5], TypeError::class], [['dsn' => []], TypeError::class], [['dsn' => null], ExakatLock\LockException::class],
    ];
}

function fuzz_timeouts(): array
{
    return [
        [0, 'lock'], [0.0, 'lock'], [-0.0, 'lock'], [1, 'lock'], [1.5, 'lock'], [-1, 'lock'], [-1e-9, 'lock'], [1e-9, 'lock'],
        [NAN, ValueError::class], [-NAN, ValueError::class], [INF, 'lock'], [-INF, 'lock'], [PHP_FLOAT_MAX, 'lock'],
        [-PHP_FLOAT_MAX, 'lock'], [PHP_INT_MAX, 'lock'], [PHP_INT_MIN, 'lock'], [1e300, 'lock'], [PHP_FLOAT_MIN, 'lock'],
        [PHP_FLOAT_EPSILON, 'lock'], ['1.5', 'lock'], [' 1', 'lock'], ['1 ', 'lock'], ['1e3', 'lock'], ['-1', 'lock'],
        ['abc', TypeError::class], ['', TypeError::class], ['NAN', TypeError::class], ['INF', TypeError::class],
        ['0x10', TypeError::class], [null, TypeError::class], [[], TypeError::class], [new stdClass(), TypeError::class],
        [true, 'lock'], [false, 'lock'], [STDIN, TypeError::class],
    ];
}

/**
 * Case $i: ['kind', 'backend', 'name', 'options', 'timeout', 'expected', 'what'] where the values may be of any type.
 * Kinds: object (new Lock + acquire + the lock's own checks), functions (exakat_lock/holder/unlock),
 * synchronized, holder (exakat_lock_holder only), args (a raw call with a random argument list).
 */
function fuzz_case(int $i, array $env): array
{
    static $targeted = null;
    $unique = "fz{$env['seed']}x$i";
    $env['unique'] = $unique;
    if ($targeted === null) {
        $targeted = fuzz_targeted_count($env);
    }
    mt_srand($env['seed'] * 1000003 + $i);
    $backends = ['socket', 'tcp', 'semaphore', 'flock', 'mysql'];
    $kinds = ['object', 'functions', 'synchronized', 'holder'];
    if ($i < $targeted) {
        // Targeted: one dimension varies, the others are valid.
        $k = $i;
        $kind = $kinds[$k % 4];
        $valid = fn (string $b) => fuzz_options($b, $env)[0][0];
        $names = fuzz_names($unique);
        if ($k < count($names) * 2) {
            [$name, $expected] = $names[intdiv($k, 2)];
            $backend = $k % 2 === 0 ? 'flock' : $backends[intdiv($k, 2) % 5];
            return ['kind' => $kind, 'backend' => $backend, 'name' => $name, 'options' => $valid($backend), 'timeout' => 0.0,
                'expected' => $expected, 'what' => 'name'];
        }
        $k -= count($names) * 2;
        $timeouts = fuzz_timeouts();
        if ($k < count($timeouts) * 5) {
            [$timeout, $expected] = $timeouts[intdiv($k, 5)];
            $backend = $backends[$k % 5];
            return ['kind' => $kinds[intdiv($k, 5) % 3], 'backend' => $backend, 'name' => $unique, 'options' => $valid($backend),
                'timeout' => $timeout, 'expected' => $expected, 'what' => 'timeout'];
        }
        $k -= count($timeouts) * 5;
        foreach (array_merge($backends, ['auto']) as $backend) {
            $list = fuzz_options($backend, $env);
            if ($k < count($list) * 2) {
                [$options, $expected] = $list[intdiv($k, 2)];
                return ['kind' => $k % 2 === 0 ? 'object' : 'functions', 'backend' => $backend, 'name' => $unique,
                    'options' => $options, 'timeout' => 0.0, 'expected' => $expected, 'what' => "options ($backend)"];
            }
            $k -= count($list) * 2;
        }
        $badBackends = [['AUTO', ValueError::class], ['', ValueError::class], ['Flock', ValueError::class],
            ["flock\0", ValueError::class], ['none', ValueError::class], [123, ValueError::class], [null, TypeError::class],
            [[], TypeError::class], [new stdClass(), TypeError::class], ['auto', 'lock'], ['semaphore ', ValueError::class]];
        [$backend, $expected] = $badBackends[$k % count($badBackends)];
        return ['kind' => $kinds[$k % 4], 'backend' => $backend, 'name' => $unique, 'options' => [], 'timeout' => 0.0,
            'expected' => $expected, 'what' => 'backend'];
    }
    // Random: everything mixed.
    $pick = fn (array $list) => $list[mt_rand(0, count($list) - 1)];
    $backend = mt_rand(1, 10) === 1 ? $pick([...fuzz_junk(), 'auto', 'AUTO', fuzz_random_bytes(0, 8)]) : $pick($backends);
    $names = fuzz_names($unique);
    $name = match (mt_rand(1, 6)) {
        1 => $pick($names)[0],
        2 => $pick(fuzz_junk()),
        3 => $unique . fuzz_random_bytes(0, 64),
        4 => fuzz_random_bytes(1, 300, mt_rand(0, 1) === 1),
        5 => fuzz_random_bytes(1, 255, false),
        default => $unique,
    };
    $optionBackend = is_string($backend) && in_array($backend, $backends, true) && mt_rand(1, 4) > 1 ? $backend : $pick($backends);
    $options = match (mt_rand(1, 5)) {
        1 => [],
        2 => $pick(fuzz_junk()),
        3 => [fuzz_random_bytes(0, 8) => $pick(fuzz_junk())],
        default => $pick(fuzz_options($optionBackend, $env))[0],
    };
    if (is_array($options) && mt_rand(1, 6) === 1) {
        $options[$pick(['port', 'host', 'key', 'dir', 'path', 'dsn', 'connect_timeout', 'x'])] = $pick(fuzz_junk());
    }
    $timeout = mt_rand(1, 3) === 1 ? $pick(fuzz_junk()) : $pick(fuzz_timeouts())[0];
    $kind = $pick([...$kinds, 'args']);
    return ['kind' => $kind, 'backend' => $backend, 'name' => $name, 'options' => $options, 'timeout' => $timeout,
        'expected' => null, 'what' => 'random', 'args' => $kind === 'args' ? array_slice([$name, $backend, $options, $timeout, $pick(fuzz_junk())], 0, mt_rand(0, 5)) : null,
        'function' => $pick(['exakat_lock', 'exakat_unlock', 'exakat_lock_holder', 'exakat_lock_backends', 'construct', 'synchronized'])];
}

function fuzz_targeted_count(array $env): int
{
    $n = count(fuzz_names('x')) * 2 + count(fuzz_timeouts()) * 5;
    foreach (['socket', 'tcp', 'semaphore', 'flock', 'mysql', 'auto'] as $backend) {
        $n += count(fuzz_options($backend, $env + ['unique' => 'x'])) * 2;
    }
    return $n + 11 * 4;
}

/** A printable description of any value. */
function fuzz_describe(mixed $v): string
{
    return match (true) {
        is_string($v) => strlen($v) > 60 ? 'string(' . strlen($v) . ') ' . json_encode(substr($v, 0, 40), JSON_INVALID_UTF8_SUBSTITUTE) . '…'
            : json_encode($v, JSON_INVALID_UTF8_SUBSTITUTE),
        is_float($v) => var_export($v, true),
        is_array($v) => '[' . implode(', ', array_map(fn ($k, $x) => fuzz_describe($k) . ' => ' . fuzz_describe($x), array_keys($v), $v)) . ']',
        is_object($v) => get_class($v),
        is_resource($v) => 'resource',
        default => var_export($v, true),
    };
}
