<?php

declare(strict_types=1);

namespace ExakatLock\Symfony\Tests;

use ExakatLock\Symfony\ExakatLockStore;
use Symfony\Component\Lock\Exception\InvalidArgumentException;
use Symfony\Component\Lock\Exception\LockConflictedException;
use Symfony\Component\Lock\Key;
use Symfony\Component\Lock\LockFactory;
use Symfony\Component\Lock\PersistingStoreInterface;
use Symfony\Component\Lock\Test\AbstractStoreTestCase;

/**
 * symfony's contract for third-party stores (AbstractStoreTestCase), then
 * what symfony's own blocking and shared store tests check, then two
 * processes through LockFactory; once per backend (the subclasses below).
 */
abstract class ExakatLockStoreTestCase extends AbstractStoreTestCase
{
    abstract protected static function backend(): string;

    protected function getStore(): PersistingStoreInterface
    {
        return new ExakatLockStore(static::backend(), static::options());
    }

    protected static function options(): array
    {
        return [];
    }

    public function testBadOptionsAreRefusedWhenTheStoreIsMade(): void
    {
        $this->expectException(InvalidArgumentException::class);
        new ExakatLockStore(static::backend(), ['no-such-option' => 1]);
    }

    /** mysql without a DSN: the extension's LockException came through raw. */
    public function testAnUnusableBackendIsRefusedWhenTheStoreIsMade(): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage('dsn');
        new ExakatLockStore('mysql', []);
    }

    public function testSlotsAreRefused(): void
    {
        $this->expectException(InvalidArgumentException::class);
        new ExakatLockStore(static::backend(), static::options() + ['slots' => 2]);
    }

    /** A CombinedStore saves one Key in several stores: each keeps its own lock. */
    public function testTwoStoresKeepTheirOwnLocksInOneKey(): void
    {
        // The second in a directory of its own: never the first's resource.
        $dir = sys_get_temp_dir() . '/exakat-lock-symfony-two-' . getmypid();
        @mkdir($dir, 0700);
        [$one, $two] = [$this->getStore(), new ExakatLockStore('flock', ['dir' => $dir])];
        $key = new Key(static::class . __FUNCTION__);
        $one->save($key);
        $this->assertFalse($two->exists($key), 'the other store holds nothing yet');
        $two->save($key);
        $this->assertTrue($one->exists($key) && $two->exists($key));
        $two->delete($key);
        $this->assertTrue($one->exists($key), "deleting from one store leaves the other's lock");
        $one->delete($key);
        array_map('unlink', glob("$dir/*"));
        rmdir($dir);
    }

    public function testTheStoreShowsNoOptionsAndIsNotSerialized(): void
    {
        $store = new ExakatLockStore(static::backend(), static::options());
        $this->assertSame(['backend' => static::backend(), 'options' => array_keys(static::options())], $store->__debugInfo());
        $this->expectException(\BadMethodCallException::class);
        serialize($store);
    }

    public function testPutOffExpirationKeepsTheLock(): void
    {
        $store = $this->getStore();
        $key = new Key(static::class . __FUNCTION__);
        $store->save($key);
        $store->putOffExpiration($key, 0.1);
        usleep(150_000);
        $this->assertTrue($store->exists($key), 'exakat locks never expire');
        $store->delete($key);
        $this->assertFalse($store->exists($key));
    }

    /** BlockingStoreTestTrait: a waiter in another process gets the lock when it is deleted. */
    public function testBlockingLocks(): void
    {
        $store = $this->getStore();
        $key = new Key(static::class . __FUNCTION__);
        $store->save($key);
        $child = $this->child('$store->waitAndSave(new Symfony\Component\Lock\Key(' . var_export((string) $key, true) . ')); echo "saved\n";', $pipes);
        $read = [$pipes[1]];
        $none = [];
        $this->assertSame(0, stream_select($read, $none, $none, 0, 300_000), 'the other process waits while we hold it');
        $started = hrtime(true);
        $store->delete($key);
        $this->assertSame("saved\n", fgets($pipes[1]));
        $this->assertLessThan(1000, (hrtime(true) - $started) / 1e6, 'and gets it promptly once deleted');
        $this->assertSame(0, proc_close($child));
    }

    /** Two processes exclude each other through LockFactory, and a crash frees the lock. */
    public function testTwoProcessesThroughLockFactory(): void
    {
        $factory = new LockFactory($this->getStore());
        $resource = static::class . __FUNCTION__;
        $child = $this->child(
            '$lock = (new Symfony\Component\Lock\LockFactory($store))->createLock(' . var_export($resource, true) . ');'
            . 'echo $lock->acquire() ? "held\n" : "busy\n"; fgets(STDIN); exec("kill -9 " . getmypid());',
            $pipes
        );
        $this->assertSame("held\n", fgets($pipes[1]));
        $lock = $factory->createLock($resource);
        $this->assertFalse($lock->acquire(), 'the other process holds it');
        fwrite($pipes[0], "die\n");
        $this->assertTrue($lock->acquire(true), 'a holder killed with kill -9 frees it');
        $this->assertTrue($lock->isAcquired());
        $lock->release();
        proc_close($child);
    }

    /** Runs `$store = new ExakatLockStore(...)` then $code in another PHP with this extension. */
    protected function child(string $code, ?array &$pipes): mixed
    {
        $prelude = 'require ' . var_export(__DIR__ . '/autoload.php', true) . ';'
            . '$store = new ExakatLock\Symfony\ExakatLockStore(' . var_export(static::backend(), true) . ', '
            . var_export(static::options(), true) . ');';
        $php = [PHP_BINARY, '-n', '-d', 'extension=' . getenv('EXAKAT_LOCK_SO'), '-r', $prelude . $code];
        $process = proc_open($php, [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => STDERR], $pipes);
        $this->assertIsResource($process);
        return $process;
    }

}

/** symfony's SharedLockStoreTestTrait, for the backends that have a shared mode. */
trait SharedLockTests
{
    public function testSharedLockReadFirst(): void
    {
        $store = $this->getStore();
        $resource = static::class . __FUNCTION__;
        [$key1, $key2, $key3] = [new Key($resource), new Key($resource), new Key($resource)];
        $store->saveRead($key1);
        $store->saveRead($key2);
        $this->assertTrue($store->exists($key1) && $store->exists($key2), 'readers share');
        try {
            $store->save($key3);
            $this->fail('a writer is refused while readers hold it');
        } catch (LockConflictedException) {
        }
        $store->delete($key1);
        $store->delete($key2);
        $store->save($key3);
        $this->assertTrue($store->exists($key3));
        $store->delete($key3);
    }

    public function testSharedLockWriteFirst(): void
    {
        $store = $this->getStore();
        $resource = static::class . __FUNCTION__;
        [$key1, $key2] = [new Key($resource), new Key($resource)];
        $store->save($key1);
        try {
            $store->saveRead($key2);
            $this->fail('a reader is refused while a writer holds it');
        } catch (LockConflictedException) {
        }
        $store->delete($key1);
        $store->saveRead($key2);
        $this->assertTrue($store->exists($key2));
        $store->delete($key2);
    }

    public function testSharedLockPromote(): void
    {
        $store = $this->getStore();
        $resource = static::class . __FUNCTION__;
        [$key1, $key2] = [new Key($resource), new Key($resource)];
        $store->saveRead($key1);
        $store->saveRead($key2);
        try {
            $store->save($key1);
            $this->fail('a reader cannot become the writer while another reads');
        } catch (LockConflictedException) {
        }
        $store->delete($key2);
        $store->save($key1);
        $this->assertTrue($store->exists($key1), 'and can once alone');
        $store->delete($key1);
    }

    public function testSharedLockPromoteAllowed(): void
    {
        $store = $this->getStore();
        $key = new Key(static::class . __FUNCTION__);
        $store->saveRead($key);
        $store->save($key);
        $this->assertTrue($store->exists($key));
        $other = new Key(static::class . __FUNCTION__);
        $this->expectException(LockConflictedException::class);
        try {
            $store->saveRead($other);
        } finally {
            $store->delete($key);
        }
    }

    public function testSharedLockDemote(): void
    {
        $store = $this->getStore();
        $resource = static::class . __FUNCTION__;
        [$key1, $key2] = [new Key($resource), new Key($resource)];
        $store->save($key1);
        $store->saveRead($key1);
        $store->saveRead($key2);
        $this->assertTrue($store->exists($key1) && $store->exists($key2), 'a demoted writer reads with others');
        $store->delete($key1);
        $store->delete($key2);
    }

    public function testBlockingReadersWaitForTheWriter(): void
    {
        $store = $this->getStore();
        $key = new Key(static::class . __FUNCTION__);
        $store->save($key);
        $child = $this->child('$store->waitAndSaveRead(new Symfony\Component\Lock\Key(' . var_export((string) $key, true) . ')); echo "read\n";', $pipes);
        $read = [$pipes[1]];
        $none = [];
        $this->assertSame(0, stream_select($read, $none, $none, 0, 300_000), 'the reader waits for the writer');
        $store->delete($key);
        $this->assertSame("read\n", fgets($pipes[1]));
        $this->assertSame(0, proc_close($child));
    }
}

