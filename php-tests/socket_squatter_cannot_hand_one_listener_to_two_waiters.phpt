--TEST--
socket: another user listening on the lock's address and handing its listener to every waiter never makes two holders, and release() never blocks
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_hostile.inc';
if ($why = hostile_skip_reason(['sockets'])) die("skip hostile-neighbour test: $why");
?>
--FILE--
<?php
require __DIR__ . '/_hostile.inc';

use ExakatLock\Lock;

$name = 'phpt-sq-' . substr(md5(__FILE__), 0, 6) . '-' . getmypid();
$dir = shared_temp_dir(__FILE__);

// nobody binds and listens on the lock's abstract address first, and sends
// every connecting waiter its own listening socket (SCM_RIGHTS), as the
// holder of a socket lock hands the lock over.
$attacker = attacker($dir, '
    $listener = socket_create(AF_UNIX, SOCK_STREAM, 0);
    if (!socket_bind($listener, "\0" . $argv[1]) || !socket_listen($listener, 128)) {
        echo "failed ", socket_strerror(socket_last_error()), "\n";
        exit(1);
    }
    $stream = socket_export_stream($listener); // sent as a stream: PHP 8.2 sends the wrong descriptor for a Socket object
    echo "listening ", getmypid(), "\n";
    $connections = [];
    while (($connection = socket_accept($listener)) !== false) {
        socket_sendmsg($connection, ["iov" => ["L"], "control" => [["level" => SOL_SOCKET, "type" => SCM_RIGHTS, "data" => [$stream]]]], 0);
        $connections[] = $connection;
    }', ['sockets'], [socket_address($name)]);
$line = line_or_null($attacker, 5.0);
check("nobody listens on the lock's address", str_starts_with((string) $line, 'listening '), (string) $line . $attacker->stderr());

// Two root processes wait for the lock, each at most 3 s, then release it.
$code = '
    $started = hrtime(true);
    try {
        $outcome = var_export($lock->acquire(3.0), true);
    } catch (ExakatLock\LockException $e) {
        $outcome = "LockException: " . $e->getMessage();
    }
    echo json_encode(["outcome" => $outcome, "seconds" => (hrtime(true) - $started) / 1e9, "held" => $lock->isHeld()]), "\n";
    fgets(STDIN);
    $started = hrtime(true);
    $released = $lock->release();
    echo json_encode(["released" => $released, "seconds" => (hrtime(true) - $started) / 1e9]), "\n";';
$waiters = [Child::withLock($name, Lock::SOCKET, [], $code), Child::withLock($name, Lock::SOCKET, [], $code)];
$results = [];
foreach ($waiters as $waiter) {
    $results[] = json_decode((string) line_or_null($waiter, 8.0), true);
}
$ended = array_filter($results, fn ($r) => is_array($r) && $r['seconds'] < 3.5);
check('each acquire(3) ends within its timeout', count($ended) === 2, json_encode($results));
// nobody holds the address all along: a waiter that took its listener
// would be a second holder, however many took it.
$refused = array_filter($results, fn ($r) => is_array($r) && $r['outcome'] === 'false' && $r['held'] === false);
check('no waiter holds the lock while nobody holds its address', count($refused) === 2, json_encode($results));

$releases = [];
foreach ($waiters as $waiter) {
    $waiter->send('release');
}
$deadline = hrtime(true) + 2e9; // both had 2 s, together
foreach ($waiters as $waiter) {
    $releases[] = line_or_null($waiter, max(0.01, ($deadline - hrtime(true)) / 1e9));
}
check('release() returns at once in every waiter', !in_array(null, $releases, true), json_encode($releases));
?>
--EXPECT--
ok nobody listens on the lock's address
ok each acquire(3) ends within its timeout
ok no waiter holds the lock while nobody holds its address
ok release() returns at once in every waiter
