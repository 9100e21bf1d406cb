<?php
// Everything the extension does, in one process, for valgrind: every
// backend, every method and function, waits that end by wake-up and by
// timeout, errors of every kind, a forked child, synchronized() with a
// throwing callback. Usage: php vg_exercise.php ROUNDS BACKENDS DSN DIR

declare(strict_types=1);

use ExakatLock\Lock;
use ExakatLock\LockException;

[, $rounds, $backends, $dsn, $dir] = $argv + [null, '2', 'socket,tcp,semaphore,flock,mysql', '', sys_get_temp_dir()];
$rounds = (int) $rounds;

function options_for(string $backend, string $dsn, string $dir): array
{
    return match ($backend) {
        'tcp' => ['port' => 45000 + getmypid() % 10000],
        'flock' => ['dir' => $dir],
        'mysql' => ['dsn' => $dsn],
        default => [],
    };
}

function expect_throw(string $class, callable $f): void
{
    try {
        $f();
    } catch (Throwable $e) {
        if ($e instanceof $class) {
            return;
        }
        throw $e;
    }
    throw new RuntimeException("expected $class");
}

$count = 0;
for ($round = 0; $round < $rounds; $round++) {
    foreach (explode(',', $backends) as $backend) {
        $name = "vg-$backend-" . getmypid() . "-$round";
        $options = options_for($backend, $dsn, $dir);
        $lock = new Lock($name, $backend, $options);
        $twin = new Lock($name, $backend, $options);
        assert($lock->acquire(0.0) && $lock->isHeld() && $lock->acquire());
        $holder = $lock->holder();
        ob_start();
        var_dump($lock);
        print_r($lock);
        ob_end_clean();
        if ($twin->acquire(0.0) || $twin->acquire(0.05)) {
            throw new RuntimeException("$backend: the twin took it");
        }
        expect_throw(LockException::class, fn () => $twin->acquire(-1));
        $lock->release();
        $lock->release();
        // A wait that ends with a wake-up: a forked child holds for 100 ms.
        $child = pcntl_fork();
        if ($child === 0) {
            $mine = new Lock($name, $backend, $options);
            $mine->acquire(5.0);
            usleep(100000);
            exit(0); // releases by exit
        }
        usleep(30000);
        $twin->acquire(5.0);
        pcntl_waitpid($child, $status);
        // A forked child cannot release what the parent holds.
        $child = pcntl_fork();
        if ($child === 0) {
            exit($twin->isHeld() || $twin->release() ? 1 : 0);
        }
        pcntl_waitpid($child, $status);
        if (!$twin->isHeld()) {
            throw new RuntimeException("$backend: a child released it");
        }
        unset($twin); // released by destruction
        // The functions.
        assert(exakat_lock($name, 1.0, $backend, $options));
        assert(exakat_lock($name, 0.0, $backend, $options));
        exakat_lock_holder($name, $backend, $options);
        assert(exakat_unlock($name) && !exakat_unlock($name));
        exakat_lock_backends();
        // synchronized(): a value, then an exception.
        assert(Lock::synchronized($name, fn () => 42, 1.0, $backend, $options) === 42);
        expect_throw(DomainException::class, fn () => Lock::synchronized($name, function () {
            throw new DomainException('from the callback');
        }, 1.0, $backend, $options));
        // Bad arguments of every kind.
        expect_throw(ValueError::class, fn () => new Lock('', $backend, $options));
        expect_throw(ValueError::class, fn () => new Lock("a\0b", $backend, $options));
        expect_throw(ValueError::class, fn () => new Lock($name, $backend, ['nope' => 1]));
        $typed = ['tcp' => 'port', 'semaphore' => 'key', 'flock' => 'dir', 'mysql' => 'dsn'][$backend] ?? null;
        if ($typed !== null) {
            expect_throw(TypeError::class, fn () => new Lock($name, $backend, [$typed => new stdClass()]));
        }
        expect_throw(ValueError::class, fn () => $lock->acquire(NAN));
        expect_throw(TypeError::class, fn () => $lock->acquire('soon'));
        expect_throw(ValueError::class, fn () => new Lock($name, 'nope'));
        $count++;
    }
    // Failures that are not contention.
    expect_throw(LockException::class, fn () => (new Lock('vg-x', 'flock', ['dir' => '/nonexistent']))->acquire());
    if (str_contains($backends, 'mysql')) {
        expect_throw(LockException::class, fn () => (new Lock('vg-x', 'mysql', ['dsn' => 'mysql://u:p@127.0.0.1:1/']))->acquire());
        expect_throw(ValueError::class, fn () => new Lock('vg-x', 'mysql', ['dsn' => 'mysql://u:p@h:0/']));
    }
}
echo "exercised $count backend rounds\n";
