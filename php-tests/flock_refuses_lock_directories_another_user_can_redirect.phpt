--TEST--
flock: a lock directory reached through a path another user can change (a symlink or a directory in a parent that user owns) is refused, and a path option naming a device or FIFO is refused without opening it
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_hostile.inc';
if ($why = hostile_skip_reason()) die("skip hostile-neighbour test: $why");
exec('command -v mkfifo', $out, $status);
if ($status !== 0) die('skip hostile-neighbour test: mkfifo(1) is not installed');
?>
--FILE--
<?php
require __DIR__ . '/_hostile.inc';

use ExakatLock\Lock;

$base = shared_temp_dir(__FILE__);
$name = test_lock_name(__FILE__);

function run_as_nobody(string ...$command): int
{
    exec(implode(' ', array_map('escapeshellarg', as_nobody($command))) . ' 2>&1', $out, $status);
    return $status;
}

/** Another root process's acquire(0): "true", "false" or "LockException". */
function another_process_takes(string $name, array $options): string
{
    $other = Child::withLock($name, Lock::FLOCK, $options, '
        try {
            echo var_export($lock->acquire(), true), "\n";
        } catch (ExakatLock\LockException $e) {
            echo "LockException\n";
        }');
    $line = line_or_null($other, 5.0) ?? 'no answer';
    $other->wait();
    return $line;
}

// /tmp/.../X belongs to nobody (0755); A and B are root's own directories.
mkdir("$base/X", 0755);
chown("$base/X", NOBODY_UID);
mkdir("$base/A", 0755);
mkdir("$base/B", 0755);

// 1. X/locks is nobody's symlink to A, re-pointed to B between two acquisitions.
check('nobody links X/locks to A', run_as_nobody('ln', '-s', "$base/A", "$base/X/locks") === 0);
$options = ['dir' => "$base/X/locks"];
$first = new Lock($name, Lock::FLOCK, $options);
$outcome = acquire_outcome($first);
check('a lock directory reached through a symlink nobody owns is refused with a LockException', str_starts_with($outcome, 'LockException: '), $outcome);
check('nobody re-points X/locks to B', run_as_nobody('ln', '-sfn', "$base/B", "$base/X/locks") === 0);
$second = another_process_takes($name, $options);
check('after the re-pointing, another root process is refused too', $second === 'LockException',
    "first: $outcome; second process: $second; lock files: " . implode(' ', glob("$base/[AB]/*")));
$first->release();
unset($first);

// 2. X/real is root's directory, but nobody can move it away and put a symlink in its place.
mkdir("$base/X/real", 0755);
$options = ['dir' => "$base/X/real"];
$first = new Lock($name, Lock::FLOCK, $options);
$outcome = acquire_outcome($first);
check('a lock directory inside a directory nobody owns is refused with a LockException', str_starts_with($outcome, 'LockException: '), $outcome);
check('nobody moves X/real away and links B in its place',
    run_as_nobody('mv', "$base/X/real", "$base/X/moved") === 0 && run_as_nobody('ln', '-s', "$base/B", "$base/X/real") === 0);
$second = another_process_takes($name, $options);
check('after the swap, another root process is refused too', $second === 'LockException', "first: $outcome; second process: $second");
$first->release();
unset($first);

// 3. The path option naming a device.
$outcome = acquire_outcome(new Lock($name, Lock::FLOCK, ['path' => '/dev/null']));
check('a path naming a character device is refused with a LockException', str_starts_with($outcome, 'LockException: '), $outcome);

// 4. A FIFO at the path: opening it for reading would complete a writer's
//    open(), which shows whether the extension opened it before checking.
$private = test_temp_dir(__FILE__);
exec('mkfifo ' . escapeshellarg("$private/fifo"));
$writer = Child::command([PHP_BINARY, '-n', '-r', '$f = fopen($argv[1], "w"); echo "opened\n";', "$private/fifo"]);
for ($i = 0; $i < 200 && trim((string) @file_get_contents("/proc/{$writer->pid()}/wchan")) !== 'wait_for_partner'; $i++) {
    usleep(10000); // until the writer sleeps in open(), waiting for a reader
}
$outcome = acquire_outcome(new Lock($name, Lock::FLOCK, ['path' => "$private/fifo"]));
check('a FIFO at the path is refused with a LockException', str_starts_with($outcome, 'LockException: '), $outcome);
$opened = line_or_null($writer, 0.5);
check('without being opened (lstat before open)', $opened === null, 'a writer blocked in open() got through');
?>
--EXPECT--
ok nobody links X/locks to A
ok a lock directory reached through a symlink nobody owns is refused with a LockException
ok nobody re-points X/locks to B
ok after the re-pointing, another root process is refused too
ok a lock directory inside a directory nobody owns is refused with a LockException
ok nobody moves X/real away and links B in its place
ok after the swap, another root process is refused too
ok a path naming a character device is refused with a LockException
ok a FIFO at the path is refused with a LockException
ok without being opened (lstat before open)
