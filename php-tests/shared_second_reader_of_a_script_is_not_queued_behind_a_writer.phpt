--TEST--
Shared locks: a script that reads with one object while a writer waits gets a second shared hold at once (nested code), instead of queueing behind the writer, which waits for the first: acquireShared(-1) would never return
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php if (!function_exists('hrtime')) die('skip hrtime'); ?>
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

foreach ([Lock::SEMAPHORE, Lock::FLOCK] as $backend) {
    $name = test_lock_name(__FILE__, "-$backend");
    $options = test_options($backend);
    $outer = new Lock($name, $backend, $options);
    check("$backend: the script reads", $outer->acquireShared());
    $writer = Child::withLock($name, $backend, $options, 'echo "waiting\n"; echo var_export($lock->acquire(10.0), true), "\n";');
    check("$backend: a writer waits", $writer->line() === 'waiting');
    usleep(200000); // queued
    $inner = new Lock($name, $backend, $options);
    $started = hrtime(true);
    $taken = $inner->acquireShared(-1);
    $seconds = (hrtime(true) - $started) / 1e9;
    check("$backend: the nested reader gets in at once", $taken && $seconds < 0.5, sprintf('%.3f s', $seconds));
    check("$backend: both release", $inner->release() && $outer->release());
    check("$backend: then the writer takes it", $writer->line() === 'true');
    $writer->wait();
}
?>
--EXPECT--
ok semaphore: the script reads
ok semaphore: a writer waits
ok semaphore: the nested reader gets in at once
ok semaphore: both release
ok semaphore: then the writer takes it
ok flock: the script reads
ok flock: a writer waits
ok flock: the nested reader gets in at once
ok flock: both release
ok flock: then the writer takes it
