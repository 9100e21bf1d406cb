--TEST--
Lock files are never writable by group or others, whatever the umask, and SysV semaphore sets are created 0600
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

$dir = test_temp_dir(__FILE__);
$name = test_lock_name(__FILE__);

foreach ([0000, 0002, 0022, 0077] as $mask) {
    $sub = "$dir/" . decoct($mask); // one lock file per directory: its name depends on the lock name's length
    mkdir($sub, 0700);
    $old = umask($mask);
    $lock = new Lock($name, Lock::FLOCK, ['dir' => $sub]);
    $lock->acquire();
    umask($old);
    clearstatcache();
    $files = glob("$sub/exakat_lock.*.lock");
    $mode = count($files) === 1 ? fileperms($files[0]) & 0777 : -1;
    check(sprintf('a lock file made under umask %03o is not writable by group or others', $mask), ($mode & 0022) === 0, sprintf('%04o', $mode));
    check(sprintf('and keeps no more than the umask allows (umask %03o)', $mask), ($mode & $mask) === 0, sprintf('%04o', $mode));
    $lock->release();
}

/** The permissions of the SysV set with this key, from /proc/sysvipc/sem (octal), or null. */
function set_perms(int $key): ?int
{
    foreach (array_slice(file('/proc/sysvipc/sem', FILE_IGNORE_NEW_LINES), 1) as $line) {
        $fields = preg_split('/\s+/', trim($line));
        if ((int) $fields[0] === $key) {
            return octdec($fields[2]) & 0777;
        }
    }
    return null;
}

foreach ([0000, 0022] as $mask) {
    $old = umask($mask);
    $lock = new Lock("$name-sem-$mask", Lock::SEMAPHORE);
    $lock->acquire();
    umask($old);
    $perms = set_perms($lock->holder()['key']);
    check(sprintf('the semaphore set made under umask %03o is 0600', $mask), $perms === 0600, var_export($perms === null ? null : sprintf('%04o', $perms), true));
    $lock->release();
    unset($lock); // the last user removes the set
}
?>
--EXPECT--
ok a lock file made under umask 000 is not writable by group or others
ok and keeps no more than the umask allows (umask 000)
ok a lock file made under umask 002 is not writable by group or others
ok and keeps no more than the umask allows (umask 002)
ok a lock file made under umask 022 is not writable by group or others
ok and keeps no more than the umask allows (umask 022)
ok a lock file made under umask 077 is not writable by group or others
ok and keeps no more than the umask allows (umask 077)
ok the semaphore set made under umask 000 is 0600
ok the semaphore set made under umask 022 is 0600
