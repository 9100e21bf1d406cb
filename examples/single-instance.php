<?php
// Stop a second copy of a script from running, and say who holds the lock.
// Run it twice at once:  php single-instance.php 10 & php single-instance.php
$seconds = (int) ($argv[1] ?? 10);

if (!exakat_lock('nightly-import')) {
    $holder = exakat_lock_holder('nightly-import');
    fwrite(STDERR, "Another process is running (pid {$holder['pid']}), exiting.\n");
    exit(1);
}

echo "pid ", getmypid(), ": importing for {$seconds} s, with the '",
    exakat_lock_backends()[0], "' backend\n";
sleep($seconds);
echo "pid ", getmypid(), ": done\n";
// No unlock needed: the lock ends with the process, however it ends.
