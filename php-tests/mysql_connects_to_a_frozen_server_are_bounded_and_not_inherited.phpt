--TEST--
mysql: connects to a server that never accepts give up after connect_timeout, at most 8 wait at once, and a forked child is not refused for its parent's
--EXTENSIONS--
exakat_lock
pcntl
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;
use ExakatLock\LockException;

// A frozen server: its socket listens, nobody accepts, the queue is full.
$dir = test_temp_dir(__FILE__);
$path = "$dir/mysqld.sock";
$server = stream_socket_server("unix://$path", $errno, $errstr, STREAM_SERVER_BIND | STREAM_SERVER_LISTEN,
    stream_context_create(['socket' => ['backlog' => 0]]));
$queued = [];
while (count($queued) < 100
    && ($client = @stream_socket_client("unix://$path", $errno, $errstr, 1.0, STREAM_CLIENT_CONNECT | STREAM_CLIENT_ASYNC_CONNECT)) !== false) {
    $queued[] = $client;
}
check('the queue of the socket is full', count($queued) > 0 && count($queued) < 100, count($queued) . ' connections queued');

/** The message of one acquire(0) with connect_timeout 0.1 s, and how long it took. */
function attempt(string $path): array
{
    $lock = new Lock('frozen', Lock::MYSQL, ['dsn' => "mysql://user:pw@localhost/?socket=$path", 'connect_timeout' => 0.1]);
    $started = hrtime(true);
    try {
        $outcome = 'returned ' . var_export($lock->acquire(0), true);
    } catch (LockException $e) {
        $outcome = $e->getMessage();
    }
    return [$outcome, (hrtime(true) - $started) / 1e9];
}

$outcomes = [];
for ($i = 0; $i < 8; $i++) {
    $outcomes[] = attempt($path);
}
check('each connect gives up after connect_timeout',
    count(array_filter($outcomes, fn ($o) => str_contains($o[0], 'the server did not answer in time') && $o[1] < 2.0)) === 8,
    json_encode($outcomes));
[$refused] = attempt($path);
check('with 8 of them still waiting in connect(2), the 9th is refused at once, saying why',
    str_contains($refused, '8 earlier connects to it, given up on, still wait for the server'), $refused);

// The child has none of those 8 threads: its connect is its own.
$pid = pcntl_fork();
if ($pid === 0) {
    [$child] = attempt($path);
    echo str_contains($child, 'the server did not answer in time') ? "ok" : "FAILED", " a forked child's connect is its own, and gives up after connect_timeout\n";
    if (!str_contains($child, 'did not answer in time')) {
        echo "  $child\n";
    }
    exit(0);
}
pcntl_waitpid($pid, $status);
[$again] = attempt($path);
check("in the parent, the 8 still wait", str_contains($again, '8 earlier connects'), $again);
fclose($server);
test_remove_tree($dir);
?>
--EXPECT--
ok the queue of the socket is full
ok each connect gives up after connect_timeout
ok with 8 of them still waiting in connect(2), the 9th is refused at once, saying why
ok a forked child's connect is its own, and gives up after connect_timeout
ok in the parent, the 8 still wait
