<?php

declare(strict_types=1);

namespace ExakatLock\Laravel;

use Illuminate\Support\Facades\Cache;
use Illuminate\Support\ServiceProvider;

/**
 * Registers the `exakat-lock` cache driver:
 *
 *     // config/cache.php, 'stores'
 *     'locks' => ['driver' => 'exakat-lock', 'backend' => 'auto', 'options' => [], 'cache' => 'file'],
 *
 * then `Cache::store('locks')->lock('import')->block(30)`, or
 * `$schedule->useCache('locks')` for withoutOverlapping() of events that run
 * in the foreground (not runInBackground(): schedule:run returns at once,
 * and its locks with it). 'cache' names the store that keeps everything
 * that is not a lock (default: array, one per process); `cache:clear` of
 * this store flushes that one.
 */
final class ExakatLockServiceProvider extends ServiceProvider
{
    public function boot(): void
    {
        Cache::extend('exakat-lock', function ($app, array $config) {
            $cache = isset($config['cache']) ? Cache::store($config['cache'])->getStore() : new \Illuminate\Cache\ArrayStore();
            return Cache::repository(new ExakatLockStore($cache, $config['backend'] ?? 'auto', $config['options'] ?? []));
        });
    }
}
