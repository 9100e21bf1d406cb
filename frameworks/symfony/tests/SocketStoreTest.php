<?php

declare(strict_types=1);

namespace ExakatLock\Symfony\Tests;

use Symfony\Component\Lock\Key;

final class SocketStoreTest extends ExakatLockStoreTestCase
{
    protected static function backend(): string
    {
        return 'socket';
    }

    /** As symfony's Lock::acquireRead() on a store without shared locks: a write lock. */
    public function testReadLocksAreWriteLocksWithoutASharedMode(): void
    {
        $store = $this->getStore();
        [$first, $second] = [new Key(static::class . __FUNCTION__), new Key(static::class . __FUNCTION__)];
        $store->saveRead($first);
        $this->assertTrue($store->exists($first));
        try {
            $store->saveRead($second);
            $this->fail('a second reader got a lock that has no shared mode');
        } catch (\Symfony\Component\Lock\Exception\LockConflictedException) {
        }
        $store->delete($first);
        $lock = (new \Symfony\Component\Lock\LockFactory($store))->createLock(static::class . __FUNCTION__ . 'factory');
        $this->assertTrue($lock->acquireRead());
        $this->assertTrue($lock->isAcquired());
        $lock->release();
    }
}
