<?php
// Security, with a second, unprivileged user (nobody, through setpriv):
// lock file permissions, symlinks and directories another user controls,
// SysV set permissions, locks another user holds (reported, never stolen or
// deleted), and MySQL passwords (messages, var_dump, phpinfo, --ri,
// /proc/PID/cmdline, the server's process list, exception traces).

declare(strict_types=1);
require __DIR__ . '/lib.php';

use ExakatLock\Lock;
use ExakatLock\LockException;

const NOBODY = 65534;

function as_nobody(array $command): array
{
    return array_merge(['setpriv', '--reuid=' . NOBODY, '--regid=' . NOBODY, '--clear-groups', '--'], $command);
}

/** The message of the LockException acquire() throws, or what happened instead. */
function acquire_failure(Lock $lock): string
{
    try {
        return 'no exception: acquire() returned ' . var_export($lock->acquire(), true);
    } catch (LockException $e) {
        return 'LockException: ' . $e->getMessage();
    }
}

/** The second throwaway server of this run, which security may use as it likes. */
function server_dsn(): string
{
    return env('STRESS_MDB2_DSN');
}

/** A holder running as root (for a lock of another database user). */
function root_holds(array $config): array
{
    return nobody_holds($config, false);
}

/** A holder running as nobody; returns [Proc, pid] once it holds the lock. */
function nobody_holds(array $config, bool $nobody = true): array
{
    $command = php_script('hold.php', $config, stage()); // nobody may not enter the checkout
    $p = new Proc($nobody ? as_nobody($command) : $command);
    $line = $p->line(20.0);
    if ($line === null || !str_starts_with($line, 'held ')) {
        throw new RuntimeException('nobody could not take the lock: ' . ($line ?? '') . ' ' . $p->stderr());
    }
    return [$p, (int) substr($line, 5)];
}

function output_of(callable $f): string
{
    ob_start();
    try {
        $f();
    } finally {
        $out = ob_get_clean();
    }
    return (string) $out;
}

section('security', 'Security', function (Section $s): void {
    $rows = [];
    $tmp = sys_get_temp_dir();
    $work = work_dir('security');

    // 1. Lock file permissions under several umasks.
    foreach ([0o022, 0o002, 0o000, 0o077] as $mask) {
        $old = umask($mask);
        $name = lock_name('perm-' . decoct($mask));
        $lock = new Lock($name, 'flock', ['dir' => work_dir('locks')]);
        $lock->acquire();
        clearstatcache();
        $mode = fileperms(work_dir('locks') . "/exakat_lock.$name.lock") & 0o777;
        $lock->release();
        umask($old);
        $s->check(sprintf('a lock file created under umask %03o is not writable by group or others', $mask), ($mode & 0o022) === 0, sprintf('%04o', $mode));
        $rows[] = [sprintf('lock file mode under umask %03o', $mask), sprintf('%04o', $mode),
            ($mode & 0o004) ? 'readable by others (so another user can open and flock it)' : ''];
    }

    // 2. Symlinks planted by another user in the default directory (sticky /tmp).
    $name = lock_name('symlink');
    $path = "$tmp/exakat_lock.$name.lock";
    $target = "$work/precious";
    file_put_contents($target, "root's file\n");
    chmod($target, 0o600);
    $before = md5_file($target) . fileperms($target) . filemtime($target);
    run(as_nobody(['ln', '-s', $target, $path]));
    $message = acquire_failure(new Lock($name, 'flock'));
    clearstatcache();
    $s->check("a symlink another user planted at the lock file's path is refused", str_contains($message, 'symbolic link'), $message);
    $s->check('and the file it points to is untouched', md5_file($target) . fileperms($target) . filemtime($target) === $before);
    @unlink($path);
    $rows[] = ["symlink planted by nobody at the lock path in $tmp", str_contains($message, 'symbolic link') ? 'refused' : 'FOLLOWED', $message];
    $dangling = "$work/created-through-a-link";
    run(as_nobody(['ln', '-s', $dangling, $path]));
    $message = acquire_failure(new Lock($name, 'flock'));
    $s->check('a dangling symlink is refused and its target is not created', !file_exists($dangling) && str_contains($message, 'symbolic link'), $message);
    @unlink($path);

    // 3. Directories another user controls.
    $dirs = [
        'owned by nobody, 0755' => [NOBODY, 0o755, false],
        'owned by nobody, 1777 (sticky)' => [NOBODY, 0o1777, false],
        'owned by root, 0777 (not sticky)' => [0, 0o777, false],
        'owned by root, 0775 (group-writable)' => [0, 0o775, false],
        'owned by root, 1777 (sticky, like /tmp)' => [0, 0o1777, true],
        'owned by root, 0755' => [0, 0o755, true],
    ];
    foreach ($dirs as $what => [$owner, $mode, $accepted]) {
        $dir = "$work/dir-" . md5($what);
        mkdir($dir);
        chown($dir, $owner);
        chmod($dir, $mode);
        $lock = new Lock(lock_name('dir-' . md5($what)), 'flock', ['dir' => $dir]);
        $message = acquire_failure($lock);
        $lock->release();
        $ok = $accepted ? str_starts_with($message, 'no exception: acquire() returned true') : str_starts_with($message, 'LockException');
        $s->check("a lock directory $what is " . ($accepted ? 'accepted' : 'refused'), $ok, $message);
        $rows[] = ["lock directory $what", $accepted ? 'accepted' : 'refused', $ok ? $message : "UNEXPECTED: $message"];
    }

    // 4. A lock file another user created in the sticky default directory:
    //    that user may delete it while we hold it, and a second holder would
    //    then lock a new file. Either such a file is refused, or two holders
    //    never result.
    $name = lock_name('unlink');
    $path = "$tmp/exakat_lock.$name.lock";
    run(as_nobody(['sh', '-c', 'umask 0; : > "$1"', 'sh', $path]));
    $first = new Lock($name, 'flock');
    $refused = acquire_failure($first);
    $firstTook = str_starts_with($refused, 'no exception: acquire() returned true');
    [$code] = run(as_nobody(['rm', '-f', $path]));
    $second = new Lock($name, 'flock');
    $secondTook = $second->acquire();
    $firstStill = $firstTook && $first->isHeld();
    $s->check('flock in a sticky directory: a lock file another user created and then deletes never gives two holders',
        !($firstStill && $secondTook), sprintf('first: %s; nobody deleted the file (exit %d); second took it: %s; first->isHeld(): %s',
            $refused, $code, var_export($secondTook, true), var_export($firstStill, true)));
    $rows[] = ["lock file pre-created by nobody in $tmp, deleted by nobody once root tried to take it",
        $firstStill && $secondTook ? 'TWO HOLDERS' : ($firstTook ? 'excluded (isHeld() false after the deletion)' : 'refused'), $refused];
    $first->release();
    $second->release();
    @unlink($path);

    // 5. Locks another user holds: reported, never stolen or deleted.
    foreach (backends() as $backend) {
        $name = lock_name("foreign-$backend");
        $options = match ($backend) {
            'flock' => [], // the default directory: sticky /tmp, where both users may create
            'mysql' => ['dsn' => mysql_dsn()],
            default => backend_options($backend),
        };
        if ($backend === 'mysql') {
            // Another database user ('killer', over the server's socket) holds it; 'exakat' (the DSN's user) tries.
            $options = ['dsn' => 'mysql://killer:killer-secret@localhost/?socket=' . env('STRESS_MDB2_DIR') . '/mysqld.sock'];
        }
        $config = ['name' => $name, 'backend' => $backend, 'options' => $options];
        [$holder, $pid] = $backend === 'mysql' ? root_holds($config) : nobody_holds($config);
        $mine = new Lock($name, $backend, $backend === 'mysql' ? ['dsn' => server_dsn()] : $options);
        $took = null;
        $message = '';
        try {
            $took = $mine->acquire(0.2);
        } catch (LockException $e) {
            // Refusing another user's lock file outright (flock in /tmp) is also "not stolen".
            $message = $e->getMessage();
        }
        try {
            $seen = $mine->holder();
        } catch (LockException $e) {
            // A semaphore set another user made is refused for asking too, naming its owner.
            $seen = ['refused' => $e->getMessage()];
        }
        $released = $mine->release();
        unset($mine);
        $fileStays = $backend !== 'flock' || is_file("$tmp/exakat_lock.$name.lock");
        $holder->send('done');
        $after = json_decode((string) $holder->line(10.0), true);
        $holder->finish(5.0);
        $reported = match (true) {
            $backend === 'mysql' => isset($seen['connection_id']),
            isset($seen['refused']) => str_contains($seen['refused'], 'uid ' . NOBODY),
            default => ($seen['pid'] ?? null) === $pid,
        };
        $s->check("$backend: root cannot take a lock nobody holds (busy, or a LockException naming the other user)",
            $took === false || ($took === null && str_contains($message, (string) NOBODY)), var_export($took, true) . " $message");
        $s->check("$backend: holder() reports nobody's process (or, for a set nobody made, refuses it naming nobody)", $reported, json_encode($seen));
        $s->check("$backend: release() by root is false and nobody still holds it afterwards", $released === false && ($after['still_held'] ?? false) === true && ($after['released'] ?? false) === true,
            json_encode($after));
        $s->check("$backend: the lock file nobody created is not deleted", $fileStays);
        $rows[] = ["$backend lock held by " . ($backend === 'mysql' ? 'another database user' : 'nobody') . ', root tries',
            $took === false ? 'busy, not stolen' : ($took === null ? 'refused, not stolen' : 'TAKEN'),
            ($message === '' ? '' : "$message; ") . 'holder(): ' . json_encode($seen)];
        @unlink("$tmp/exakat_lock.$name.lock");
    }

    // The other way round for the semaphore: nobody cannot even open root's set.
    if (in_array('semaphore', backends(), true)) {
        $name = lock_name('sem-perms');
        $lock = new Lock($name, 'semaphore');
        $lock->acquire();
        $set = semaphore_sets()[semaphore_key($name)] ?? null;
        $perms = $set === null ? null : $set['perms'] & 0o777;
        $s->check('SysV sets are created 0600 (never world-writable)', $perms === 0o600, $perms === null ? 'no set' : sprintf('%04o', $perms));
        [, $out] = run(as_nobody(php_script('probe.php', ['name' => $name, 'backend' => 'semaphore', 'options' => []], stage())));
        $probe = json_decode(trim($out), true);
        $s->check("nobody trying root's semaphore lock gets a LockException saying why", str_contains((string) ($probe['error'] ?? ''), 'another user'), trim($out));
        [$code, , $err] = run(as_nobody(['ipcrm', '-s', (string) $set['id']]));
        $s->check("nobody cannot remove root's set (ipcrm)", $code !== 0 && isset(semaphore_sets()[semaphore_key($name)]), trim($err));
        $s->check('root still holds it', $lock->isHeld() && !probe_free($name, 'semaphore', []));
        $lock->release();
        $rows[] = ['SysV set of a semaphore lock (ipcs perms)', $perms === null ? '?' : sprintf('%04o', $perms), 'nobody: ' . ($probe['error'] ?? trim($out))];
        $rows[] = ["nobody runs ipcrm on root's set", $code !== 0 ? 'refused' : 'REMOVED', trim($err)];
    }

    // 6. MySQL passwords.
    if (in_array('mysql', backends(), true)) {
        $dsn = server_dsn();
        $u = parse_url($dsn);
        $pass = urldecode($u['pass']);
        $hp = "{$u['host']}:{$u['port']}";
        $leaks = [];
        $look = function (string $where, string $text) use (&$leaks, $pass, $s): void {
            $leak = str_contains($text, $pass);
            $s->check("the password does not appear in $where", !$leak, $leak ? substr($text, 0, 300) : '');
            $leaks[] = [$where, $leak ? 'LEAKS' : 'no password'];
        };
        foreach (['a refused connection' => "mysql://{$u['user']}:$pass@127.0.0.1:1/",
            'a wrong password' => "mysql://{$u['user']}:{$pass}x@$hp/",
            'an unknown database' => "mysql://{$u['user']}:$pass@$hp/no_such_db",
            'a bad port' => "mysql://{$u['user']}:$pass@{$u['host']}:99999/",
            'an unknown parameter' => "mysql://{$u['user']}:$pass@$hp/?sslmode=1"] as $what => $bad) {
            try {
                $l = new Lock('pw', 'mysql', ['dsn' => $bad, 'connect_timeout' => 2]);
                $l->acquire();
                $text = 'no exception';
            } catch (Throwable $e) {
                $text = get_class($e) . ': ' . $e->getMessage() . "\n" . $e->getTraceAsString();
            }
            $look("the exception for $what (message and getTraceAsString())", $text);
        }
        $lock = new Lock(lock_name('pw'), 'mysql', ['dsn' => $dsn]);
        $s->check('the password checks run against a lock really held', $lock->acquire());
        $look('var_dump() of a Lock', output_of(fn () => var_dump($lock)));
        $look('print_r() of a Lock', print_r($lock, true));
        $look('var_export() of a Lock', output_of(fn () => @var_export($lock)));
        $look('debug_zval_dump() of a Lock', output_of(fn () => debug_zval_dump($lock)));
        $look('json_encode() and (array) of a Lock', json_encode($lock) . print_r((array) $lock, true) . print_r(get_object_vars($lock), true));
        $look('holder() and exakat_lock_holder()', json_encode($lock->holder()) . json_encode(exakat_lock_holder(lock_name('pw'), 'mysql', ['dsn' => $dsn])));
        try {
            serialize($lock);
            $look('serialize() of a Lock', 'serialize() succeeded');
        } catch (Throwable $e) {
            $look('serialize() of a Lock (refused)', $e->getMessage());
        }
        $look("the server's process list", implode("\n", array_map('implode', server_processlist())));

        // INI, phpinfo(), --ri, /proc/PID/cmdline and environ of a holder whose DSN came from ini_set().
        $code = 'ini_set("exakat_lock.mysql_dsn", $argv[1]); $l = new ExakatLock\Lock($argv[2], "mysql"); $l->acquire();'
            . ' ob_start(); phpinfo(INFO_MODULES); $i = ob_get_clean(); echo base64_encode($i), "\n"; fgets(STDIN);';
        // Its environment is this run's without any DSN: only what the extension adds could show.
        $clean = array_filter(getenv(), fn ($v) => !str_contains($v, $pass));
        $p = new Proc(array_merge(php_cmd(), ['-r', $code, $dsn, lock_name('pw-ini')]), null, $clean);
        $phpinfo = (string) base64_decode((string) $p->line(20.0));
        $look('phpinfo() with exakat_lock.mysql_dsn set', $phpinfo);
        $look('/proc/PID/cmdline of a holder whose DSN came from ini_set() (the DSN passed in argv by this test, masked here)',
            str_replace($dsn, '[argv]', str_replace("\0", ' ', (string) file_get_contents("/proc/{$p->pid}/cmdline"))));
        $look('/proc/PID/environ of that holder', str_replace("\0", ' ', (string) file_get_contents("/proc/{$p->pid}/environ")));
        $p->send('done');
        $p->finish(5.0);
        [, $ri] = run(array_merge(php_cmd(), ['-d', "exakat_lock.mysql_dsn=$dsn", '--ri', 'exakat_lock']));
        $look('php --ri exakat_lock with the DSN in -d', $ri);
        [, $uncaught, $uncaughtErr] = run(array_merge(php_cmd(), ['-r', 'exakat_lock("x", 0.0, "mysql", ["dsn" => $argv[1]]);',
            "mysql://{$u['user']}:$pass@127.0.0.1:1/"]));
        $look('the uncaught exception PHP prints', $uncaught . $uncaughtErr);

        // Exception traces keep the arguments of the calls they went through, $options included.
        $traceLeaks = [];
        try {
            exakat_lock('x', 0.0, 'mysql', ['dsn' => "mysql://{$u['user']}:$pass@127.0.0.1:1/"]);
        } catch (LockException $e) {
            $traceLeaks['var_dump($e)'] = str_contains(output_of(fn () => var_dump($e)), $pass);
            $traceLeaks['print_r($e)'] = str_contains(print_r($e, true), $pass);
            $traceLeaks['$e->getTrace()'] = str_contains(var_export($e->getTrace(), true), $pass);
        }
        $inside = '';
        Lock::synchronized(lock_name('pw-sync'), function () use (&$inside) {
            $inside = print_r(debug_backtrace(), true);
        }, 0.0, 'mysql', ['dsn' => $dsn]);
        $traceLeaks['debug_backtrace() in a synchronized() callback'] = str_contains($inside, $pass);
        foreach ($traceLeaks as $what => $leak) {
            $s->check("the password does not appear in $what (exception traces keep call arguments)", !$leak);
            $leaks[] = [$what, $leak ? 'LEAKS' : 'no password'];
        }
        $lock->release();
        $s->table('MySQL password exposure', ['where', 'result'], $leaks,
            'The password of the DSN under test was searched for, verbatim, in each output. "/proc/PID/cmdline": a PHP process that set exakat_lock.mysql_dsn with ini_set() from a value this test passed in argv (so argv itself is masked); the extension adds nothing there. ini_get("exakat_lock.mysql_dsn") returns the value as set, like any INI entry.');
    }
    $s->table('Permissions and other users', ['case', 'result', 'detail'], $rows,
        'The other user is nobody (setpriv --reuid=65534). The default lock directory is sys_get_temp_dir() = ' . $tmp . ' (sticky, world-writable).');
});

/** The server's process list, through the mariadb client as 'killer' (who sees every session). */
function server_processlist(): array
{
    [, $out] = run(['mariadb', '--no-defaults', '--batch', '--skip-column-names', '--socket=' . env('STRESS_MDB2_DIR') . '/mysqld.sock',
        '--user=killer', '--password=killer-secret', '-e', 'SELECT USER, HOST, COALESCE(INFO, "") FROM information_schema.PROCESSLIST']);
    return array_map(fn ($l) => [$l], explode("\n", trim($out)));
}
