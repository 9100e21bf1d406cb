<?php
// The acquiring process of one inheritance-matrix cell: takes the lock,
// starts a child in the way the cell names, prints "spawned", and exits
// when told (or at once, in the cells where the parent exits first).

declare(strict_types=1);
require __DIR__ . '/lib.php';
require __DIR__ . '/matrix_child.php';

use ExakatLock\Lock;

$c = worker_config();
if ($c['backend'] === 'php-flock') {
    // The negative control: PHP's own fopen() + flock(), whose descriptor
    // (no O_CLOEXEC) every exec()ed child inherits.
    $keepFile = fopen($c['options']['path'], 'c');
    $ok = flock($keepFile, LOCK_EX | LOCK_NB);
    $lock = null;
} elseif ($c['via'] === 'exakat_lock') {
    $ok = exakat_lock($c['name'], 10.0, $c['backend'], $c['options']);
    $lock = null;
} else {
    $lock = new Lock($c['name'], $c['backend'], $c['options']);
    $ok = $lock->acquire(10.0);
}
if (!$ok) {
    echo "not acquired\n";
    exit(1);
}
echo 'held ', getmypid(), "\n";

$child = $c['child'];
$childConfig = fn (bool $parentAlive) => array_merge($child, ['parent_alive' => $parentAlive]);
$shell = fn (bool $parentAlive) => implode(' ', array_map('escapeshellarg', php_script('matrix_child.php', $childConfig($parentAlive))));
$background = fn () => $shell(true) . ' > /dev/null 2>&1 &';
$devnull = [0 => ['file', '/dev/null', 'r'], 1 => ['file', '/dev/null', 'w'], 2 => ['file', '/dev/null', 'w']];
$keep = null;

switch ($c['cell']) {
    case 'exec':
        exec($background());
        break;
    case 'system':
        system($background());
        break;
    case 'passthru':
        passthru($background());
        break;
    case 'shell_exec':
        shell_exec($background());
        break;
    case 'backticks':
        $command = $background();
        `$command`;
        break;
    case 'popen':
        pclose(popen($background(), 'r'));
        break;
    case 'proc_open':
        $keep = proc_open(php_script('matrix_child.php', $childConfig(true)), $devnull, $pipes);
        break;
    case 'proc_open_shell':
        $keep = proc_open($shell(true), $devnull, $pipes);
        break;
    case 'setsid':
        exec('setsid -f ' . $shell(true) . ' > /dev/null 2>&1');
        break;
    case 'pcntl_exec':
        echo "spawned\n";
        // The script ends here: the process becomes a new PHP program.
        $command = php_script('matrix_child.php', $childConfig(false));
        pcntl_exec(array_shift($command), $command);
        echo "pcntl_exec failed\n";
        exit(1);
    case 'pcntl_fork':
        // A first child that calls everything and exits at once: its
        // destructors run, and must not release the parent's lock...
        $pid = pcntl_fork();
        if ($pid === 0) {
            $ok = $lock === null ? true : (!$lock->isHeld() && !$lock->release());
            exit($ok && !exakat_unlock($c['name']) ? 0 : 3);
        }
        pcntl_waitpid($pid, $status);
        if (pcntl_wexitstatus($status) !== 0) {
            echo "a short-lived forked child could release or saw it held\n";
        }
        // ...then one that lives on after the parent.
        if (pcntl_fork() === 0) {
            child_checks($child, $lock, true);
            exit(0);
        }
        break;
    case 'pcntl_fork_parent_exits':
        $parent = getmypid();
        if (pcntl_fork() === 0) {
            // Wait for the parent to be gone, then try.
            for ($i = 0; $i < 1000 && process_alive($parent); $i++) {
                usleep(10000);
            }
            child_checks($child, $lock, false);
            exit(0);
        }
        echo "spawned\n";
        exit(0);
    case 'double_fork_setsid':
        if (pcntl_fork() === 0) {
            posix_setsid();
            if (pcntl_fork() === 0) {
                child_checks($child, $lock, true); // a daemon: new session, parent is init
                exit(0);
            }
            exit(0);
        }
        pcntl_wait($status); // the intermediate child
        break;
    default:
        echo "unknown cell {$c['cell']}\n";
        exit(2);
}
echo "spawned\n";
fgets(STDIN); // "exit"
exit(0);
