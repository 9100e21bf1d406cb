--TEST--
The flock backend refuses symlinks and FIFOs planted at the lock file, and lock directories others could write to
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
exec('command -v mkfifo', $out, $status);
if ($status !== 0) die('skip mkfifo(1) is not installed');
?>
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;
use ExakatLock\LockException;

umask(022);
$base = test_temp_dir(__FILE__);
$name = test_lock_name(__FILE__);

/** The message of the LockException that acquire() throws, or what happened instead. */
function acquire_failure(Lock $lock): string
{
    try {
        return 'no exception, acquire() returned ' . var_export($lock->acquire(), true);
    } catch (LockException $e) {
        return $e->getMessage();
    }
}

/** What we know of a file without following it if it is a link. */
function fingerprint(string $path): array
{
    clearstatcache();
    $stat = lstat($path);
    return [filetype($path), $stat['mode'], $stat['mtime'], $stat['ino'], is_link($path) ? readlink($path) : md5_file($path)];
}

// A symlink planted where the `path` option points, to a file that must stay untouched.
$target = "$base/precious.txt";
file_put_contents($target, "do not touch\n");
chmod($target, 0600);
$before = fingerprint($target);
symlink($target, "$base/link.lock");
$message = acquire_failure(new Lock($name, Lock::FLOCK, ['path' => "$base/link.lock"]));
check('a symlink at the path is refused with a LockException that says so', str_contains($message, 'symbolic link') && str_contains($message, "$base/link.lock"), $message);
check('its target is untouched', fingerprint($target) === $before);

// A dangling symlink: the file it points to must not be created.
symlink("$base/created-through-a-link", "$base/dangling.lock");
$message = acquire_failure(new Lock($name, Lock::FLOCK, ['path' => "$base/dangling.lock"]));
check('a dangling symlink is refused', str_contains($message, 'symbolic link'), $message);
check('and nothing was created where it points', !file_exists("$base/created-through-a-link"));

// A symlink planted under the file name the `dir` option derives for the name.
mkdir("$base/dir", 0700);
$lock = new Lock($name, Lock::FLOCK, ['dir' => "$base/dir"]);
check('acquire() in a private directory works', $lock->acquire() === true && $lock->release());
$files = glob("$base/dir/*");
check('it created one lock file', count($files) === 1, var_export($files, true));
$file = $files[0];
check('the lock file is a regular file', filetype($file) === 'file');
check('the lock file has mode 0644 under umask 022', (fileperms($file) & 07777) === 0644, sprintf('%o', fileperms($file) & 07777));
unset($lock);
unlink($file);
symlink($target, $file);
$message = acquire_failure(new Lock($name, Lock::FLOCK, ['dir' => "$base/dir"]));
check('a symlink planted at the derived lock file is refused', str_contains($message, 'symbolic link') && str_contains($message, $file), $message);
check('its target is untouched', fingerprint($target) === $before);

// The lock file replaced by a symlink while a lock object keeps it open.
unlink($file);
$lock = new Lock($name, Lock::FLOCK, ['dir' => "$base/dir"]);
check('acquire() recreates the lock file', $lock->acquire() === true && $lock->release() && filetype($file) === 'file');
unlink($file);
symlink($target, $file);
$message = acquire_failure($lock);
check('a symlink swapped in after the file was opened is refused too', str_contains($message, 'symbolic link'), $message);
check('its target is untouched', fingerprint($target) === $before);
unset($lock);

// A FIFO at the path: refused at once, never blocking in open(). Tried in
// another process, so that a hang fails this test instead of stalling it.
exec('mkfifo ' . escapeshellarg("$base/fifo.lock"), $out, $status);
$child = Child::withLock($name, Lock::FLOCK, ['path' => "$base/fifo.lock"], '
    $started = hrtime(true);
    try {
        $result = "no exception, acquire() returned " . var_export($lock->acquire(), true);
    } catch (ExakatLock\LockException $e) {
        $result = $e->getMessage();
    }
    printf("%.3f %s\n", (hrtime(true) - $started) / 1e9, $result);');
[$seconds, $message] = explode(' ', $child->line(5.0), 2);
check('a FIFO at the path is refused with a LockException', $status === 0 && str_contains($message, 'not a regular file'), $message);
check('at once, without hanging', (float) $seconds < 1.0, "$seconds s");
check('the FIFO is still a FIFO', filetype("$base/fifo.lock") === 'fifo');
$child->wait();

// A lock directory anyone may write to, without the sticky bit.
mkdir("$base/open", 0777);
chmod("$base/open", 0777);
$message = acquire_failure(new Lock($name, Lock::FLOCK, ['dir' => "$base/open"]));
check('a world-writable directory without the sticky bit is refused', str_contains($message, 'writable by other users') && str_contains($message, "$base/open"), $message);
$message = acquire_failure(new Lock($name, Lock::FLOCK, ['path' => "$base/open/app.lock"]));
check('also for an explicit path in it', str_contains($message, 'writable by other users'), $message);
check('and no file was created there', scandir("$base/open") === ['.', '..']);

// The same directory with the sticky bit, as /tmp has it, is accepted.
chmod("$base/open", 01777);
$lock = new Lock($name, Lock::FLOCK, ['dir' => "$base/open"]);
check('a world-writable directory with the sticky bit is accepted', $lock->acquire() === true);
$files = glob("$base/open/*");
check('the lock file there is a regular file with mode 0644', count($files) === 1 && filetype($files[0]) === 'file' && (fileperms($files[0]) & 07777) === 0644);
$lock->release();
?>
--EXPECT--
ok a symlink at the path is refused with a LockException that says so
ok its target is untouched
ok a dangling symlink is refused
ok and nothing was created where it points
ok acquire() in a private directory works
ok it created one lock file
ok the lock file is a regular file
ok the lock file has mode 0644 under umask 022
ok a symlink planted at the derived lock file is refused
ok its target is untouched
ok acquire() recreates the lock file
ok a symlink swapped in after the file was opened is refused too
ok its target is untouched
ok a FIFO at the path is refused with a LockException
ok at once, without hanging
ok the FIFO is still a FIFO
ok a world-writable directory without the sticky bit is refused
ok also for an explicit path in it
ok and no file was created there
ok a world-writable directory with the sticky bit is accepted
ok the lock file there is a regular file with mode 0644
