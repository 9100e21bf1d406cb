<?php

declare(strict_types=1);

namespace ExakatLock\Laravel;

use ExakatLock\Lock;
use Illuminate\Cache\ArrayStore;
use Illuminate\Contracts\Cache\LockProvider;
use Illuminate\Contracts\Cache\Store;

/**
 * A Laravel cache store whose locks are exakat_lock locks: `Cache::lock()`,
 * `->block()`, the scheduler's `withoutOverlapping()`. Everything that is
 * not a lock (get, put...) goes to another store, an ArrayStore unless one
 * is given.
 *
 * Where Laravel's lock semantics meet the promise of a lock that never
 * outlives its process (docs/DESIGN.md, "Framework stores"):
 * - a lock is held by this process until it is released or the process
 *   ends, however it ends; `$seconds` (a TTL) is not an expiry, as for
 *   Laravel's file and array locks of 0 seconds: nothing can take a lock
 *   from under a process that is still running;
 * - the owner token works inside the process that holds the lock
 *   (`restoreLock($name, $owner)->release()`); another process cannot
 *   release it: the lock is its holder's, and goes when the holder goes. A
 *   lock that must pass from one process to another needs a store whose
 *   locks outlive processes: ShouldBeUnique jobs (taken by the dispatcher,
 *   released by a worker) are refused with a LogicException, and the
 *   scheduler's withoutOverlapping() holds only for events that run in the
 *   foreground of `schedule:run` (runInBackground() returns at once, and
 *   the lock with it);
 * - in a long-lived worker (queue:work, Octane), a lock taken with `get()`
 *   and never released stays until the worker ends: use `get($callback)`
 *   or `block($seconds, $callback)`, which release in `finally`;
 * - `block()` waits in the kernel and wakes the moment the lock is free,
 *   instead of polling every 250 ms; a negative wait is one try, as in
 *   Laravel's own locks.
 */
final class ExakatLockStore implements Store, LockProvider
{
    /** @var array<string, array{Lock, string}> locks this process holds: name => [lock, owner] */
    private array $held = [];

    /**
     * @param string $backend an ExakatLock\Lock backend ('auto': the best local one)
     * @param array  $options the backend's options, as for ExakatLock\Lock
     */
    public function __construct(
        private readonly Store $cache = new ArrayStore(),
        private readonly string $backend = Lock::AUTO,
        #[\SensitiveParameter] private readonly array $options = [],
    ) {
        new Lock('exakat-lock-laravel-store', $backend, $options);
    }

    /** Holds process-bound locks, and its options may carry a DSN's password. */
    public function __serialize(): array
    {
        throw new \BadMethodCallException('Cannot serialize ' . self::class);
    }

    /** What var_dump() and print_r() show: never the options, which may carry a password. */
    public function __debugInfo(): array
    {
        return ['backend' => $this->backend, 'options' => array_keys($this->options), 'held' => array_keys($this->held)];
    }

    public function lock($name, $seconds = 0, $owner = null)
    {
        $name = (string) $name;
        // Illuminate\Bus\UniqueLock's names: taken when the job is
        // dispatched, released by the worker that ran it, in another
        // process; here the lock would end with the dispatching request,
        // and the job would silently stop being unique.
        if (str_starts_with($name, 'laravel_unique_job:')) {
            throw new \LogicException(
                "ShouldBeUnique jobs need a lock that outlives the dispatching process, and exakat_lock locks end with theirs: "
                . "give the job a uniqueVia() store such as redis or database ($name)"
            );
        }
        return new ExakatLockLock($this, $name, $seconds, $owner);
    }

    public function restoreLock($name, $owner)
    {
        return $this->lock($name, 0, $owner);
    }

    /** @internal ExakatLockLock: takes $name for $owner, waiting up to $seconds. */
    public function take(string $name, string $owner, float $seconds): bool
    {
        // A second owner in this process waits like another process would
        // (the extension's objects of one process exclude each other).
        $lock = new Lock(self::lockName($name), $this->backend, $this->options);
        if (!$lock->acquire($seconds)) {
            return false;
        }
        $this->held[$name] = [$lock, $owner];
        return true;
    }

    /** @internal ExakatLockLock: releases $name if this process holds it for $owner (any owner when null). */
    public function give(string $name, ?string $owner): bool
    {
        if (!isset($this->held[$name]) || ($owner !== null && $this->held[$name][1] !== $owner)) {
            return false;
        }
        [$lock] = $this->held[$name];
        unset($this->held[$name]);
        return $lock->release();
    }

    /** @internal ExakatLockLock: whether an owner other than $owner holds $name through this store. */
    public function heldByAnotherOwner(string $name, string $owner): bool
    {
        return isset($this->held[$name]) && $this->held[$name][1] !== $owner && $this->held[$name][0]->isHeld();
    }

    /**
     * @internal ExakatLockLock: the owner of $name: ours; false for another
     * process, which no owner token equals; null when free.
     */
    public function ownerOf(string $name): string|false|null
    {
        if (isset($this->held[$name]) && $this->held[$name][0]->isHeld()) {
            return $this->held[$name][1];
        }
        return (new Lock(self::lockName($name), $this->backend, $this->options))->holder() === null ? null : false;
    }

    /** Laravel's names, when the extension can take them as they are (1-255 bytes, no NUL). */
    private static function lockName(string $name): string
    {
        return $name !== '' && \strlen($name) <= 255 && !str_contains($name, "\0") ? $name : 'laravel-' . hash('sha256', $name);
    }

    public function get($key)
    {
        return $this->cache->get($key);
    }

    public function many(array $keys)
    {
        return $this->cache->many($keys);
    }

    public function put($key, $value, $seconds)
    {
        return $this->cache->put($key, $value, $seconds);
    }

    public function putMany(array $values, $seconds)
    {
        return $this->cache->putMany($values, $seconds);
    }

    public function increment($key, $value = 1)
    {
        return $this->cache->increment($key, $value);
    }

    public function decrement($key, $value = 1)
    {
        return $this->cache->decrement($key, $value);
    }

    public function forever($key, $value)
    {
        return $this->cache->forever($key, $value);
    }

    public function touch($key, $seconds)
    {
        return $this->cache->touch($key, $seconds);
    }

    public function forget($key)
    {
        return $this->cache->forget($key);
    }

    public function flush()
    {
        return $this->cache->flush();
    }

    public function getPrefix()
    {
        return $this->cache->getPrefix();
    }
}
