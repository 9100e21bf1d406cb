--TEST--
With 3 slots on the semaphore backend, three processes hold the name at once, a fourth waits and is woken when any slot frees, and kill -9 of a holder frees exactly its slot
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_slots.inc';
slots_contract('semaphore', __FILE__);
?>
--EXPECT--
ok three processes hold a slot each
ok a fourth holder is refused
ok and waits in vain while all are held
ok holder() names one holder
ok holders() lists the three, each with its slot
ok the waiter takes the freed slot, within 200 ms
ok kill -9 of a holder frees a slot at once
ok and exactly one
ok release() gives the slot back
ok a stopped waiter keeps no single try from free slots
ok and takes a slot once it runs again
ok all three slots are free at the end
