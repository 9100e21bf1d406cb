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

    public function testSharedLocksAreRefusedNamingTheBackend(): void
    {
        $this->expectException(\Symfony\Component\Lock\Exception\LockStorageException::class);
        $this->expectExceptionMessage('the socket backend has no shared mode');
        $this->getStore()->saveRead(new Key(static::class . __FUNCTION__));
    }
}
