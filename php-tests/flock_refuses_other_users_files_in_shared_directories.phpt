--TEST--
flock: in a shared (sticky) directory, a lock file another user owns is refused: its owner could delete it and break the lock
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
if (getmyuid() !== 0) die('skip needs root, to create a file as another user');
if (trim((string) shell_exec('command -v setpriv')) === '') die('skip needs setpriv (util-linux)');
?>
--FILE--
<?php
require __DIR__ . '/_common.inc';

$dir = sys_get_temp_dir() . '/phpt-shared-' . getmypid();
mkdir($dir);
chmod($dir, 01777);
$name = test_lock_name(__FILE__);
$file = "$dir/exakat_lock.$name.lock";
try {
    // User "nobody" plants the lock file first.
    exec('setpriv --reuid=65534 --regid=65534 --clear-groups sh -c ' . escapeshellarg("umask 0; : > $file"), $out, $status);
    clearstatcache();
    echo 'planted by uid ', fileowner($file), "\n";
    $lock = new ExakatLock\Lock($name, 'flock', ['dir' => $dir]);
    try {
        $lock->acquire();
        echo "taken: a second process could lock a new file after nobody deletes this one\n";
    } catch (ExakatLock\LockException $e) {
        echo str_contains($e->getMessage(), 'belongs to uid 65534, who can delete it') ? "refused, naming the owner\n" : $e->getMessage() . "\n";
    }
    // Our own file in the same directory is fine, and so is root's.
    unlink($file);
    var_dump($lock->acquire(), fileowner($file), $lock->release());
} finally {
    array_map('unlink', glob("$dir/*"));
    rmdir($dir);
}
?>
--EXPECT--
planted by uid 65534
refused, naming the owner
bool(true)
int(0)
bool(true)
