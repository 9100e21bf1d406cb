<?php

declare(strict_types=1);

namespace ExakatLock\Symfony\Tests;

use Symfony\Component\Lock\Key;

final class SemaphoreStoreTest extends ExakatLockStoreTestCase
{
    use SharedLockTests;

    protected static function backend(): string
    {
        return 'semaphore';
    }
}
