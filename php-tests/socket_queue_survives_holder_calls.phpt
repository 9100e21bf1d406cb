--TEST--
socket: more holder() calls than somaxconn leave the holder's queue usable: waiters still queue, get the lock in FIFO order and within 50 ms of each release
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_socket_queue.inc';
socket_queue_test(__FILE__, 'holder');
?>
--EXPECTF--
ok a process holds the lock
ok after %d holder() calls, every waiter gets the lock
ok in the order they started waiting, after the first hand-over
ok each within 50 ms of the release before it (the first: plus 10 µs per connection left by a waiter that gave up)
