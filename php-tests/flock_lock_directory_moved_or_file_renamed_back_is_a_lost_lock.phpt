--TEST--
flock: a held lock's directory moved (renamed and made anew, or a link on its path re-pointed), or its file renamed away and back, is a lost lock; an idle object's next acquire follows the path to its new directory
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_hostile.inc';

use ExakatLock\Lock;

$dir = test_temp_dir(__FILE__);
$name = test_lock_name(__FILE__);

/** What another process's acquire(0) says, with the lock taken through $options, keeping it until told. */
function another_process(string $name, array $options): Child
{
    $other = Child::withLock($name, Lock::FLOCK, $options, 'echo var_export($lock->acquire(), true), "\n"; fgets(STDIN);');
    return $other;
}

// mv locks locks.old; mkdir locks, under a holder.
mkdir("$dir/moved/locks", 0700, true);
$options = ['dir' => "$dir/moved/locks"];
$lock = new Lock($name, Lock::FLOCK, $options);
check('the lock is held', $lock->acquire());
rename("$dir/moved/locks", "$dir/moved/locks.old");
mkdir("$dir/moved/locks", 0700);
$other = another_process($name, $options);
check('another process locks the new directory\'s file', line_or_null($other, 5.0) === 'true');
check('the first holder reads its lock lost: isHeld() is false', $lock->isHeld() === false);
check('release() is false', $lock->release() === false);
check('its next acquire walks the path again and meets the other holder', $lock->acquire() === false);
$other->wait();
unset($lock);

// A deploy re-points current -> rel1 to rel2 while an object that used it is idle.
foreach (['rel1', 'rel2'] as $release) {
    mkdir("$dir/deploy/$release/locks", 0700, true);
}
symlink("$dir/deploy/rel1", "$dir/deploy/current");
$options = ['dir' => "$dir/deploy/current/locks"];
$idle = new Lock($name, Lock::FLOCK, $options);
check('an object locks through current -> rel1 and lets go', $idle->acquire() && $idle->release());
symlink("$dir/deploy/rel2", "$dir/deploy/current.next");
rename("$dir/deploy/current.next", "$dir/deploy/current");
$other = another_process($name, $options);
check('another process locks through current -> rel2', line_or_null($other, 5.0) === 'true');
check('the idle object\'s acquire meets it, not rel1\'s free file', $idle->acquire() === false);
$other->wait();
check('and takes rel2\'s lock once it is free', $idle->acquire() && count(glob("$dir/deploy/rel2/locks/*.lock")) === 1);
unset($idle);

// mv x.lock x.aside; (another process locks a new x.lock and lets go); mv x.aside x.lock
mkdir("$dir/back", 0700);
$options = ['dir' => "$dir/back"];
$lock = new Lock($name, Lock::FLOCK, $options);
check('the lock is held', $lock->acquire());
[$file] = glob("$dir/back/exakat_lock.*.lock");
rename($file, "$file.aside");
$other = another_process($name, $options);
check('another process locks a new file at the path', line_or_null($other, 5.0) === 'true');
$other->wait();
rename("$file.aside", $file);
check('the file is back, but the first holder reads its lock lost', $lock->isHeld() === false);
check('release() is false', $lock->release() === false);
?>
--EXPECT--
ok the lock is held
ok another process locks the new directory's file
ok the first holder reads its lock lost: isHeld() is false
ok release() is false
ok its next acquire walks the path again and meets the other holder
ok an object locks through current -> rel1 and lets go
ok another process locks through current -> rel2
ok the idle object's acquire meets it, not rel1's free file
ok and takes rel2's lock once it is free
ok the lock is held
ok another process locks a new file at the path
ok the file is back, but the first holder reads its lock lost
ok release() is false
