--TEST--
The lock contract holds for the semaphore backend
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_contract.inc';
contract('semaphore', __FILE__);
?>
--EXPECT--
ok backend() names the backend
ok name() gives the name back
ok free at first
ok release() without holding is false
ok acquire() takes it
ok acquire() again is true and not counted twice
ok holder() has pid, host and since first
ok holder() names this process
ok a second object of this process cannot take it
ok a bounded wait ends close to its timeout
ok an endless wait for a lock this process holds is refused
ok another process cannot take it and sees our pid
ok release() frees it
ok release() again is false
ok the second object takes it now
ok destroying the holder releases it
ok holder() names the other process
ok a waiter wakes within 100 ms of the release
ok and had really waited: it took the lock after the release began
ok a holder ending with exit() frees it
ok a holder ending with an uncaught exception frees it
ok a holder ending with a fatal error frees it
ok a holder ending with running out of memory frees it
ok a holder ending with exakat_lock() then exit() frees it
ok a holder killed with kill -9 frees it at once
ok a child started with exec('... &') and left running does not keep it
ok a child started with shell_exec() and left running does not keep it
ok a child started with backticks and left running does not keep it
ok a child started with proc_open() and left running does not keep it
ok exakat_lock_holder() agrees that it is free at the end
