<?php

declare(strict_types=1);

namespace ExakatLock\Laravel\Tests;

use ExakatLock\Laravel\ExakatLockStore;
use Illuminate\Cache\Repository;
use Illuminate\Console\Scheduling\CacheEventMutex;
use Illuminate\Console\Scheduling\Event;
use Illuminate\Contracts\Cache\Factory;
use Illuminate\Contracts\Cache\LockTimeoutException;
use PHPUnit\Framework\TestCase;

/** Laravel's own lock API (Repository::lock(), Lock, CacheEventMutex) over the store. */
final class ExakatLockStoreTest extends TestCase
{
    private Repository $cache;

    protected function setUp(): void
    {
        $this->cache = new Repository(new ExakatLockStore());
    }

    private function lockName(string $test): string
    {
        return 'laravel-' . $test . '-' . getmypid();
    }

    public function testGetIsExclusiveAndReleaseFreesIt(): void
    {
        $name = $this->lockName(__FUNCTION__);
        $first = $this->cache->lock($name, 10);
        $this->assertTrue($first->get());
        $this->assertTrue($first->isOwnedByCurrentProcess());
        $this->assertFalse($this->cache->lock($name, 10)->get(), 'one holder');
        $this->assertTrue($first->release());
        $this->assertFalse($first->release(), 'released once');
        $this->assertTrue($this->cache->lock($name)->get(fn () => true));
        $this->assertSame('done', $this->cache->lock($name)->get(fn () => 'done'), 'get() with a callback releases after it');
    }

    public function testADiscardedLockObjectKeepsTheLockUntilReleasedByOwner(): void
    {
        $name = $this->lockName(__FUNCTION__);
        $owner = 'owner-1';
        $this->assertTrue($this->cache->lock($name, 10, $owner)->acquire(), 'the scheduler discards the object');
        $this->assertFalse($this->cache->lock($name)->get(), 'and the lock stays');
        $this->assertFalse($this->cache->restoreLock($name, 'someone-else')->release(), 'another owner cannot release it');
        $restored = $this->cache->restoreLock($name, $owner);
        $this->assertTrue($restored->isOwnedByCurrentProcess());
        $this->assertTrue($restored->release(), 'its owner can, through restoreLock()');
        $this->assertTrue($this->cache->lock($name)->get(fn () => true));
        $this->cache->lock($name)->acquire();
        $this->cache->lock($name)->forceRelease();
        $this->assertTrue($this->cache->lock($name)->get(fn () => true), 'forceRelease() releases it in this process');
    }

    public function testBlockWaitsForAnotherProcessAndWakesAtOnce(): void
    {
        $name = $this->lockName(__FUNCTION__);
        $child = $this->child($name, 'echo $store->lock($name, 10)->get() ? "held\n" : "busy\n"; fgets(STDIN); echo "releasing\n";', $pipes);
        $this->assertSame("held\n", fgets($pipes[1]));
        $lock = $this->cache->lock($name, 10);
        $this->assertFalse($lock->get(), 'the other process holds it');
        $this->assertFalse($this->cache->restoreLock($name, 'any')->isOwnedByCurrentProcess());
        $this->assertFalse($this->cache->restoreLock($name, '')->isOwnedByCurrentProcess(), 'no token is the other process\'s');
        $this->assertTrue($lock->isLocked());
        fwrite($pipes[0], "go\n");
        $this->assertSame("releasing\n", fgets($pipes[1]));
        $started = hrtime(true);
        $this->assertTrue($lock->block(5));
        $this->assertLessThan(200, (hrtime(true) - $started) / 1e6, 'woken when the holder ends, not after a 250 ms poll');
        $lock->release();
        proc_close($child);
    }

    public function testBlockTimesOutWithLaravelsException(): void
    {
        $name = $this->lockName(__FUNCTION__);
        $this->assertTrue($this->cache->lock($name)->acquire());
        $started = hrtime(true);
        try {
            $this->cache->lock($name)->block(0.3);
            $this->fail('block() must time out');
        } catch (LockTimeoutException) {
            $waited = (hrtime(true) - $started) / 1e6;
            $this->assertGreaterThanOrEqual(300, $waited);
            $this->assertLessThan(2000, $waited);
        }
        $this->cache->lock($name)->forceRelease();
    }

    public function testANegativeBlockIsOneTry(): void
    {
        $name = $this->lockName(__FUNCTION__);
        $this->assertTrue($this->cache->lock($name)->acquire());
        $started = hrtime(true);
        try {
            $this->cache->lock($name)->block(-1);
            $this->fail('block(-1) must give up after one try');
        } catch (LockTimeoutException) {
            $this->assertLessThan(100, (hrtime(true) - $started) / 1e6);
        }
        $this->cache->lock($name)->forceRelease();
    }

    /** Every driver Laravel ships answers refresh(); the base class throws. */
    public function testRefreshTellsWhetherTheOwnerStillHoldsIt(): void
    {
        $name = $this->lockName(__FUNCTION__);
        $lock = $this->cache->lock($name, 10);
        $this->assertFalse($lock->refresh(), 'not held yet');
        $this->assertTrue($lock->get());
        $this->assertTrue($lock->refresh(5));
        $this->assertFalse($this->cache->restoreLock($name, 'someone-else')->refresh());
        $lock->release();
        $this->assertFalse($lock->refresh(), 'released');
    }

    /** The extension refuses the endless wait: Laravel's exception, not the extension's. */
    public function testAnEndlessBlockOnAnotherOwnersLockInThisProcessTimesOut(): void
    {
        $name = $this->lockName(__FUNCTION__);
        $this->assertTrue($this->cache->lock($name, 10, 'first')->get());
        try {
            $this->cache->lock($name, 10, 'second')->block(INF);
            $this->fail('block(INF) must not wait for ever on a lock this process holds');
        } catch (LockTimeoutException $e) {
            $this->assertStringContainsString('would never end', $e->getMessage());
        }
        $this->cache->lock($name)->forceRelease();
    }

    /** Illuminate\Bus\UniqueLock: taken by the dispatcher, released by a worker. */
    public function testUniqueJobLocksAreRefusedLoudly(): void
    {
        $this->expectException(\LogicException::class);
        $this->expectExceptionMessage('ShouldBeUnique jobs need a lock that outlives the dispatching process');
        $this->cache->lock('laravel_unique_job:App\\Jobs\\Import:42', 3600)->get();
    }

    public function testTheStoreShowsNoOptionsAndIsNotSerialized(): void
    {
        $store = new ExakatLockStore(backend: 'flock', options: ['dir' => sys_get_temp_dir()]);
        $this->assertSame(['backend' => 'flock', 'options' => ['dir'], 'held' => []], $store->__debugInfo());
        $this->expectException(\BadMethodCallException::class);
        serialize($store);
    }

    public function testAHolderKilledWithKill9FreesTheLock(): void
    {
        $name = $this->lockName(__FUNCTION__);
        $child = $this->child($name, 'echo $store->lock($name, 3600)->acquire() ? "held\n" : "busy\n"; fgets(STDIN); exec("kill -9 " . getmypid());', $pipes);
        $this->assertSame("held\n", fgets($pipes[1]));
        $this->assertFalse($this->cache->lock($name)->get());
        fwrite($pipes[0], "die\n");
        $this->assertTrue($this->cache->lock($name)->block(5), 'an hour-long TTL does not outlive its process');
        $this->cache->lock($name)->forceRelease();
        proc_close($child);
    }

    /** The scheduler's withoutOverlapping(): CacheEventMutex over the store. */
    public function testWithoutOverlappingThroughTheSchedulersMutex(): void
    {
        $cache = $this->cache;
        $factory = new class ($cache) implements Factory {
            public function __construct(private Repository $cache)
            {
            }

            public function store($name = null)
            {
                return $this->cache;
            }
        };
        $mutex = new CacheEventMutex($factory);
        $event = (new Event($mutex, 'php artisan exakat:test-' . getmypid()))->withoutOverlapping();
        $this->assertFalse($mutex->exists($event));
        $this->assertTrue($mutex->create($event), 'the first run takes the mutex');
        $this->assertTrue($mutex->exists($event));
        $this->assertFalse($mutex->create($event), 'an overlapping run is refused');
        $mutex->forget($event);
        $this->assertFalse($mutex->exists($event), 'forget() frees it');
    }

    /** Runs `$store = new ExakatLockStore(); $name = ...;` then $code in another PHP with this extension. */
    private function child(string $name, string $code, ?array &$pipes): mixed
    {
        $prelude = 'require ' . var_export(__DIR__ . '/bootstrap.php', true) . ';'
            . '$store = new Illuminate\Cache\Repository(new ExakatLock\Laravel\ExakatLockStore()); $name = ' . var_export($name, true) . ';';
        $php = [PHP_BINARY, '-d', 'extension=' . getenv('EXAKAT_LOCK_SO'), '-r', $prelude . $code];
        $process = proc_open($php, [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => STDERR], $pipes);
        $this->assertIsResource($process);
        return $process;
    }
}
