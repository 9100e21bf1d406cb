<?php

declare(strict_types=1);

namespace ExakatLock\Symfony;

use ExakatLock\Lock;
use ExakatLock\LockException;
use Symfony\Component\Lock\BlockingSharedLockStoreInterface;
use Symfony\Component\Lock\BlockingStoreInterface;
use Symfony\Component\Lock\Exception\InvalidArgumentException;
use Symfony\Component\Lock\Exception\LockConflictedException;
use Symfony\Component\Lock\Exception\LockReleasingException;
use Symfony\Component\Lock\Exception\LockStorageException;
use Symfony\Component\Lock\Key;

/**
 * A symfony/lock store over the exakat_lock extension: persisting, blocking,
 * and shared where the backend has a shared mode (semaphore, flock); on the
 * others a read lock is a write lock, as symfony's Lock::acquireRead() makes
 * it on a store without shared locks.
 *
 *     $factory = new LockFactory(new ExakatLockStore());              // the best local backend
 *     $factory = new LockFactory(new ExakatLockStore('flock', ['dir' => '/var/lock/app']));
 *
 * A key's lock is an ExakatLock\Lock object kept in the key's state, so it
 * is released by delete(), when the key is destroyed, and when the process
 * ends in any way; forked children and exec()ed programs never hold it.
 * Locks never expire: putOffExpiration() has nothing to do, as with
 * FlockStore and SemaphoreStore, but says so when the lock was lost. Keys
 * are unserializable, as theirs.
 */
final class ExakatLockStore implements BlockingStoreInterface, BlockingSharedLockStoreInterface
{
    /** Stores made in this process, to name each one's state in a Key. */
    private static int $made = 0;

    /** Where a Key keeps this store's lock: a CombinedStore puts one Key in several stores. */
    private readonly string $state;

    /** Whether the resolved backend has a shared mode. */
    private readonly bool $shares;

    /**
     * @param string $backend an ExakatLock\Lock backend ('auto': the best local one)
     * @param array  $options the backend's options, as for ExakatLock\Lock
     */
    public function __construct(
        private readonly string $backend = Lock::AUTO,
        #[\SensitiveParameter] private readonly array $options = [],
    ) {
        if (\array_key_exists('slots', $options)) {
            throw new InvalidArgumentException('The "slots" option cannot be used here: a symfony/lock Key has one owner.');
        }
        // Validates the backend and its options now, not at the first lock.
        try {
            $resolved = (new Lock('exakat-lock-symfony-store', $backend, $options))->backend();
        } catch (\ValueError|\TypeError|LockException $e) {
            // A LockException here is the configuration's too (mysql without a DSN).
            throw new InvalidArgumentException($e->getMessage(), 0, $e);
        }
        $this->shares = \in_array($resolved, [Lock::SEMAPHORE, Lock::FLOCK], true);
        $this->state = self::class . '#' . ++self::$made;
    }

    /** Holds process-bound locks, and its options may carry a DSN's password. */
    public function __serialize(): array
    {
        throw new \BadMethodCallException('Cannot serialize ' . self::class);
    }

    /** What var_dump() and print_r() show: never the options, which may carry a password. */
    public function __debugInfo(): array
    {
        return ['backend' => $this->backend, 'options' => array_keys($this->options)];
    }

    public function save(Key $key): void
    {
        $this->lock($key, false, false);
    }

    public function saveRead(Key $key): void
    {
        $this->lock($key, true, false);
    }

    public function waitAndSave(Key $key): void
    {
        $this->lock($key, false, true);
    }

    public function waitAndSaveRead(Key $key): void
    {
        $this->lock($key, true, true);
    }

    public function putOffExpiration(Key $key, float $ttl): void
    {
        // Nothing expires: the lock is held until released or the process
        // ends. One that was lost (a forked child's copy, a lock file
        // removed, a mysql session gone) is told, as the interface says.
        if (!$this->exists($key)) {
            throw new LockConflictedException();
        }
    }

    public function delete(Key $key): void
    {
        if (!$key->hasState($this->state)) {
            return;
        }
        $state = $key->getState($this->state);
        $key->removeState($this->state);
        try {
            $state[0]->release();
        } catch (LockException $e) {
            // Still held (a semaphore set this process may no longer change):
            // the key keeps it, and symfony's own exception says so.
            $key->setState($this->state, $state);
            throw new LockReleasingException($e->getMessage(), 0, $e);
        }
    }

    public function exists(Key $key): bool
    {
        if (!$key->hasState($this->state)) {
            return false;
        }
        [$lock] = $key->getState($this->state);
        try {
            return $lock->isHeld();
        } catch (LockException $e) {
            throw new LockStorageException($e->getMessage(), 0, $e);
        }
    }

    private function lock(Key $key, bool $read, bool $blocking): void
    {
        $read = $read && $this->shares;
        $lock = null;
        if ($key->hasState($this->state)) {
            [$lock, $heldRead] = $key->getState($this->state);
            if ($heldRead === $read && $lock->isHeld()) {
                return;
            }
            // Promotion or demotion: as flock(2) converts a lock, the old
            // one is let go first, and the key holds nothing if the new
            // one cannot be had.
            $key->removeState($this->state);
            $lock->release();
        }
        try {
            $lock ??= new Lock(self::lockName($key), $this->backend, $this->options);
            $timeout = $blocking ? Lock::WAIT_FOREVER : 0.0;
            $taken = $read ? $lock->acquireShared($timeout) : $lock->acquire($timeout);
        } catch (LockException $e) {
            // An endless wait another object of this process blocks is a conflict too.
            if ($blocking && str_contains($e->getMessage(), 'would never end')) {
                throw new LockConflictedException($e->getMessage(), 0, $e);
            }
            throw new LockStorageException($e->getMessage(), 0, $e);
        }
        if (!$taken) {
            throw new LockConflictedException();
        }
        $key->setState($this->state, [$lock, $read]);
        $key->markUnserializable();
    }

    /**
     * The resource itself as the lock's name, so that PHP code and the
     * exakat-lock command share it; a name the extension refuses (empty,
     * over 255 bytes, with a NUL byte) becomes a hash of itself.
     */
    private static function lockName(Key $key): string
    {
        $resource = (string) $key;
        if ($resource !== '' && \strlen($resource) <= 255 && !str_contains($resource, "\0")) {
            return $resource;
        }
        return 'symfony-' . hash('sha256', $resource);
    }
}
