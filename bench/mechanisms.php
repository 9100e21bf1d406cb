<?php
// Every lock the benchmark compares, written the way its users write it.
// A mechanism is [group, label, open(name) => state, take(state, block) => bool,
// give(state)]; `block` asks for a blocking acquire (contended runs), false
// for one try (uncontended runs). A mechanism missing something it needs
// (an extension, a package, a server) is left out and reported as such.

declare(strict_types=1);

use ExakatLock\Lock;

/** One directory for every process of a run (the parent names it in the environment). */
function lock_dir(): string
{
    static $dir = null;
    if ($dir === null) {
        $dir = getenv('BENCH_LOCK_DIR') ?: sys_get_temp_dir() . '/exakat_lock-bench-' . getmypid();
        @mkdir($dir, 0700);
        putenv("BENCH_LOCK_DIR=$dir");
    }
    return $dir;
}

function sem_key(string $name): int
{
    return crc32("bench:$name") & 0x7fffffff ?: 1;
}

/**
 * Removes what a mechanism leaves behind once no process uses the name any
 * more: an ext-sysvsem set outlives every process that used it.
 */
function forget(string $id, string $name): void
{
    $key = match ($id) {
        'php-sysvsem' => sem_key($name),
        'phplock-semaphore' => sem_key("phplock-$name"),
        default => null,
    };
    if ($key !== null) {
        sem_remove(sem_get($key));
    }
}

/** @return array<string, array{0: string, 1: string, 2: Closure, 3: Closure, 4: Closure}> */
function mechanisms(?string $dsn): array
{
    $m = [];
    foreach (['socket', 'tcp', 'semaphore', 'flock', 'mysql'] as $backend) {
        if ($backend === 'mysql' && $dsn === null) {
            continue;
        }
        $options = match ($backend) {
            'flock' => ['dir' => lock_dir()],
            'mysql' => ['dsn' => $dsn],
            default => [],
        };
        $m["exakat-$backend"] = [$backend, "exakat_lock $backend", fn ($name) => new Lock($name, $backend, $options),
            fn (Lock $l, bool $block) => $l->acquire($block ? -1.0 : 0.0), fn (Lock $l) => $l->release()];
    }

    $m['php-flock'] = ['flock', 'PHP flock(), file kept open', fn ($name) => fopen(lock_dir() . "/php-$name.lock", 'c'),
        fn ($fp, bool $block) => flock($fp, $block ? LOCK_EX : LOCK_EX | LOCK_NB), fn ($fp) => flock($fp, LOCK_UN)];
    $m['php-flock-open'] = ['flock', 'PHP fopen() + flock() + fclose() per call', fn ($name) => lock_dir() . "/php-$name.lock",
        function (string $path, bool $block) {
            $GLOBALS['bench_fp'] = fopen($path, 'c');
            return flock($GLOBALS['bench_fp'], $block ? LOCK_EX : LOCK_EX | LOCK_NB);
        },
        function () { flock($GLOBALS['bench_fp'], LOCK_UN); fclose($GLOBALS['bench_fp']); }];
    $m['php-mkdir'] = ['flock', 'PHP mkdir() + rmdir()', fn ($name) => lock_dir() . "/php-$name.d",
        fn (string $dir, bool $block) => @mkdir($dir), fn (string $dir) => rmdir($dir)];
    if (function_exists('sem_get')) {
        $m['php-sysvsem'] = ['semaphore', 'PHP ext-sysvsem', fn ($name) => sem_get(sem_key($name)),
            fn ($sem, bool $block) => sem_acquire($sem, !$block), fn ($sem) => sem_release($sem)];
    }
    $m['php-socket-unix'] = ['socket', 'PHP stream_socket_server() abstract unix + fclose()', fn ($name) => "unix://\0php-bench-$name",
        function (string $address, bool $block) { return (bool) ($GLOBALS['bench_server'] = @stream_socket_server($address)); },
        function () { fclose($GLOBALS['bench_server']); }];
    $m['php-socket-tcp'] = ['tcp', 'PHP stream_socket_server() tcp + fclose()', fn ($name) => 'tcp://127.0.0.1:' . (47000 + crc32($name) % 1000),
        function (string $address, bool $block) { return (bool) ($GLOBALS['bench_server'] = @stream_socket_server($address)); },
        function () { fclose($GLOBALS['bench_server']); }];
    if ($dsn !== null && extension_loaded('pdo_mysql')) {
        $m['php-pdo-get-lock'] = ['mysql', 'PDO GET_LOCK() + RELEASE_LOCK()', fn ($name) => [pdo($dsn), $name],
            fn (array $s, bool $block) => (bool) $s[0]->query('SELECT GET_LOCK(' . $s[0]->quote($s[1]) . ', ' . ($block ? 86400 : 0) . ')')->fetchColumn(),
            fn (array $s) => $s[0]->query('SELECT RELEASE_LOCK(' . $s[0]->quote($s[1]) . ')')->fetchColumn()];
    }

    if (is_file('/usr/share/php/Symfony/Component/Lock/autoload.php')) {
        require_once '/usr/share/php/Symfony/Component/Lock/autoload.php';
        $m['symfony-flock'] = ['flock', 'symfony/lock FlockStore', fn ($name) => (new Symfony\Component\Lock\LockFactory(new Symfony\Component\Lock\Store\FlockStore(lock_dir())))->createLock($name, null, false),
            fn ($lock, bool $block) => $lock->acquire($block), fn ($lock) => $lock->release()];
        if (function_exists('sem_get')) {
            $m['symfony-semaphore'] = ['semaphore', 'symfony/lock SemaphoreStore', fn ($name) => (new Symfony\Component\Lock\LockFactory(new Symfony\Component\Lock\Store\SemaphoreStore()))->createLock($name, null, false),
                fn ($lock, bool $block) => $lock->acquire($block), fn ($lock) => $lock->release()];
        }
    }
    if (is_file('/usr/share/php/Malkusch/Lock/autoload.php')) {
        require_once '/usr/share/php/Malkusch/Lock/autoload.php';
        // php-lock only offers synchronized(): the cycle is one call with an empty body.
        $sync = fn ($mutex, bool $block) => $mutex->synchronized(fn () => true);
        $m['phplock-flock'] = ['flock', 'php-lock FlockMutex', fn ($name) => new malkusch\lock\mutex\FlockMutex(fopen(lock_dir() . "/phplock-$name.lock", 'c')), $sync, fn () => true];
        if (function_exists('sem_get')) {
            $m['phplock-semaphore'] = ['semaphore', 'php-lock SemaphoreMutex', fn ($name) => new malkusch\lock\mutex\SemaphoreMutex(sem_get(sem_key("phplock-$name"))), $sync, fn () => true];
        }
        if ($dsn !== null && extension_loaded('pdo_mysql')) {
            $m['phplock-mysql'] = ['mysql', 'php-lock MySQLMutex', fn ($name) => new malkusch\lock\mutex\MySQLMutex(pdo($dsn), $name, 86400), $sync, fn () => true];
        }
    }
    return $m;
}

/** Whether a mechanism's cycle is acquire + release in one call (php-lock). */
function is_synchronized_only(string $id): bool
{
    return str_starts_with($id, 'phplock-');
}

function pdo(string $dsn): PDO
{
    $url = parse_url($dsn);
    return new PDO(
        sprintf('mysql:host=%s;port=%d', $url['host'], $url['port'] ?? 3306),
        urldecode($url['user'] ?? ''),
        urldecode($url['pass'] ?? ''),
        [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]
    );
}
