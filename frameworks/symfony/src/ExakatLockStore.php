<?php

declare(strict_types=1);

namespace ExakatLock\Symfony;

use ExakatLock\Lock;
use ExakatLock\LockException;
use Symfony\Component\Lock\BlockingSharedLockStoreInterface;
use Symfony\Component\Lock\BlockingStoreInterface;
use Symfony\Component\Lock\Exception\InvalidArgumentException;
use Symfony\Component\Lock\Exception\LockConflictedException;
use Symfony\Component\Lock\Exception\LockStorageException;
use Symfony\Component\Lock\Key;

/**
 * A symfony/lock store over the exakat_lock extension: persisting, blocking,
 * and shared where the backend has a shared mode (semaphore, flock).
 *
 *     $factory = new LockFactory(new ExakatLockStore());              // the best local backend
 *     $factory = new LockFactory(new ExakatLockStore('flock', ['dir' => '/var/lock/app']));
 *
 * A key's lock is an ExakatLock\Lock object kept in the key's state, so it
 * is released by delete(), when the key is destroyed, and when the process
 * ends in any way; forked children and exec()ed programs never hold it.
 * Locks never expire: putOffExpiration() has nothing to do, as with
 * FlockStore and SemaphoreStore. Keys are unserializable, as theirs.
 */
final class ExakatLockStore implements BlockingStoreInterface, BlockingSharedLockStoreInterface
{
    /**
     * @param string $backend an ExakatLock\Lock backend ('auto': the best local one)
     * @param array  $options the backend's options, as for ExakatLock\Lock
     */
    public function __construct(
        private readonly string $backend = Lock::AUTO,
        #[\SensitiveParameter] private readonly array $options = [],
    ) {
        // Validates the backend and its options now, not at the first lock.
        try {
            new Lock('exakat-lock-symfony-store', $backend, $options);
        } catch (\ValueError|\TypeError $e) {
            throw new InvalidArgumentException($e->getMessage(), 0, $e);
        }
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
        // Nothing expires: the lock is held until released or the process ends.
    }

    public function delete(Key $key): void
    {
        if (!$key->hasState(self::class)) {
            return;
        }
        [$lock] = $key->getState(self::class);
        $key->removeState(self::class);
        $lock->release();
    }

    public function exists(Key $key): bool
    {
        if (!$key->hasState(self::class)) {
            return false;
        }
        [$lock] = $key->getState(self::class);
        return $lock->isHeld();
    }

    private function lock(Key $key, bool $read, bool $blocking): void
    {
        $lock = null;
        if ($key->hasState(self::class)) {
            [$lock, $heldRead] = $key->getState(self::class);
            if ($heldRead === $read && $lock->isHeld()) {
                return;
            }
            // Promotion or demotion: as flock(2) converts a lock, the old
            // one is let go first, and the key holds nothing if the new
            // one cannot be had.
            $key->removeState(self::class);
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
        $key->setState(self::class, [$lock, $read]);
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
