--TEST--
flock: a held lock file renamed away, or replaced by a rename, is a lost lock (isHeld() and release() false), as DESIGN.md says of "deleted or replaced"
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_hostile.inc';

use ExakatLock\Lock;

$dir = test_temp_dir(__FILE__);
$name = test_lock_name(__FILE__);

/** Whether another process takes the lock with acquire(0). */
function another_process_takes(string $name, string $dir): string
{
    $other = Child::withLock($name, Lock::FLOCK, ['dir' => $dir], 'echo var_export($lock->acquire(), true), "\n";');
    $line = line_or_null($other, 5.0) ?? 'no answer';
    $other->wait();
    return $line;
}

$cases = [
    // mv x.lock x.old: the held inode lives on under another name.
    'renamed away' => function (string $file) {
        rename($file, "$file.old");
    },
    // Another file renamed over the path while the held file keeps a second link.
    'replaced by a rename while it keeps another link' => function (string $file) {
        link($file, "$file.kept");
        file_put_contents("$file.new", '');
        rename("$file.new", $file);
    },
    // The same without the second link (the held inode is unlinked).
    'replaced by a rename' => function (string $file) {
        file_put_contents("$file.new", '');
        rename("$file.new", $file);
    },
];
foreach ($cases as $what => $change) {
    $sub = "$dir/" . md5($what);
    mkdir($sub, 0700);
    $lock = new Lock($name, Lock::FLOCK, ['dir' => $sub]);
    $taken = $lock->acquire();
    $files = glob("$sub/exakat_lock.*.lock");
    check("the lock is held on its file ($what)", $taken && count($files) === 1);
    $change($files[0]);
    $other = another_process_takes($name, $sub);
    check("after the file was $what, another process takes the lock at the path", $other === 'true', $other);
    check('and the first object reports its lock lost: isHeld() is false', $lock->isHeld() === false);
    check('release() is false', $lock->release() === false);
    unset($lock);
}
?>
--EXPECT--
ok the lock is held on its file (renamed away)
ok after the file was renamed away, another process takes the lock at the path
ok and the first object reports its lock lost: isHeld() is false
ok release() is false
ok the lock is held on its file (replaced by a rename while it keeps another link)
ok after the file was replaced by a rename while it keeps another link, another process takes the lock at the path
ok and the first object reports its lock lost: isHeld() is false
ok release() is false
ok the lock is held on its file (replaced by a rename)
ok after the file was replaced by a rename, another process takes the lock at the path
ok and the first object reports its lock lost: isHeld() is false
ok release() is false
