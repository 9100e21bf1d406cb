<?php

declare(strict_types=1);

namespace ExakatLock\Symfony\Tests;

use Symfony\Component\Lock\Key;

final class FlockStoreTest extends ExakatLockStoreTestCase
{
    use SharedLockTests;

    protected static function backend(): string
    {
        return 'flock';
    }

    /** PersistingStoreInterface::putOffExpiration(): "@throws LockConflictedException". */
    public function testPutOffExpirationOfALostLockIsAConflict(): void
    {
        $dir = sys_get_temp_dir() . '/exakat-lock-symfony-' . getmypid();
        @mkdir($dir, 0700);
        $store = new \ExakatLock\Symfony\ExakatLockStore('flock', ['dir' => $dir]);
        $key = new Key(static::class . __FUNCTION__);
        $store->save($key);
        array_map('unlink', glob("$dir/*"));
        $this->expectException(\Symfony\Component\Lock\Exception\LockConflictedException::class);
        try {
            $store->putOffExpiration($key, 30);
        } finally {
            @rmdir($dir);
        }
    }
}
