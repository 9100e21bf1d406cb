--TEST--
The exakat-lock command and PHP's exakat_lock() exclude each other on the semaphore backend; -n, -E, -w and COMMAND's status; exakat_lock_list() shows either holder
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_command_program() === null) die('skip the exakat-lock command is not built (scripts/lib.sh build_extension)');
?>
--FILE--
<?php
require __DIR__ . '/_command.inc';
command_interop('semaphore', __FILE__);
?>
--EXPECT--
ok PHP takes it with exakat_lock()
ok exakat-lock -n fails with 1 while PHP holds it
ok exakat-lock -n -E 75 fails with 75
ok exakat-lock -w 0.2 waits its time, then fails
ok exakat_unlock() frees it
ok exakat-lock runs COMMAND and returns its status
ok exakat-lock holds it while COMMAND runs
ok exakat_lock() fails while the command holds it
ok exakat_lock_holder() names the command
ok exakat_lock_list() shows the lock with the command as its holder
ok the command ends with COMMAND
ok PHP takes it once the command is gone
ok exakat_lock_list() shows PHP holding it
ok PHP takes a second lock, named with a newline, an escape and a tab
ok `exakat-lock list` shows each of PHP's two locks on one line of four fields, control characters escaped
ok `exakat-lock list --json` gives the name as it is where the backend keeps it (mysql), else null
