--TEST--
No child keeps a lock after the script that took it has ended: system(), passthru(), popen(), proc_open() through a shell, setsid -f, and a double-forked grandchild, for every backend
--EXTENSIONS--
exakat_lock
pcntl
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

// Each start prints the pid of a program that outlives the script (the
// contract suite covers exec(), shell_exec(), backticks and proc_open([...])).
$starts = [
    "system('… &')" => 'system("sleep 60 > /dev/null 2>&1 & echo \$!");',
    "passthru('… &')" => 'passthru("sleep 60 > /dev/null 2>&1 & echo \$!");',
    "popen('… &')" => '$p = popen("sleep 60 > /dev/null 2>&1 & echo \$!", "r"); echo fgets($p); pclose($p);',
    "proc_open('… &') through sh" => '$p = proc_open("sleep 60 > /dev/null 2>&1 & echo \$!", [1 => ["pipe", "w"]], $pipes); echo fgets($pipes[1]); proc_close($p);',
    "setsid -f (a daemon in its own session)" => '$f = tempnam(sys_get_temp_dir(), "pid"); exec("setsid -f sh -c \'echo \$\$ > $f; exec sleep 60\' < /dev/null > /dev/null 2>&1");'
        . ' for ($i = 0; $i < 500 && trim((string) file_get_contents($f)) === ""; $i++) usleep(10000); echo trim(file_get_contents($f)), "\n"; unlink($f);',
    'a double-forked grandchild (pcntl_fork twice)' => '$pipe = stream_socket_pair(STREAM_PF_UNIX, STREAM_SOCK_STREAM, 0);'
        . ' if (pcntl_fork() === 0) { if (pcntl_fork() === 0) { fwrite($pipe[1], getmypid() . "\n"); sleep(60); exit(0); } exit(0); }'
        . ' pcntl_wait($status); echo fgets($pipe[0]);',
];
$backends = [Lock::SOCKET, Lock::TCP, Lock::SEMAPHORE, Lock::FLOCK];
if (test_mysql_dsn() !== null) {
    $backends[] = Lock::MYSQL;
}
$failures = 0;
$cells = 0;
foreach ($backends as $backend) {
    $name = test_lock_name(__FILE__, "-$backend");
    $options = test_options($backend);
    $lock = new Lock($name, $backend, $options);
    foreach ($starts as $how => $code) {
        $child = Child::withLock($name, $backend, $options, '$lock->acquire(5.0) or exit(1); ' . $code);
        $daemon = (int) $child->line();
        $child->wait();
        // The script has ended; its child lives on. A server may need a moment to see the connection close.
        $free = $lock->acquire($backend === Lock::MYSQL ? 5.0 : 1.0) && $lock->release();
        $alive = $daemon > 0 && process_alive($daemon);
        if (!$free || !$alive) {
            $failures++;
            check("$backend, $how: the lock is free while the child still runs", false, "free: " . var_export($free, true) . ", child $daemon alive: " . var_export($alive, true));
        }
        $cells++;
        if ($daemon > 0) {
            exec("kill -9 $daemon 2>/dev/null");
        }
    }
}
check("in every cell the lock was free once the script ended, with its child still running ($cells cells)", $failures === 0);
?>
--EXPECTF--
ok in every cell the lock was free once the script ended, with its child still running (%d cells)
