<?php

declare(strict_types=1);

namespace ExakatLock\Symfony\Tests;

use Symfony\Component\Lock\Key;

final class TcpStoreTest extends ExakatLockStoreTestCase
{
    protected static function backend(): string
    {
        return 'tcp';
    }
}
