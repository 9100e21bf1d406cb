--TEST--
tcp: another user holding the port and the companion name and handing both to every waiter never makes two holders, and release() never blocks
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

$name = test_lock_name(__FILE__);
$options = test_options('tcp');
$dir = shared_temp_dir(__FILE__);

// nobody takes the port (listening, as a holder does) and the companion
// name waiters queue on (core/src/backend/tcp.rs), and sends every
// connecting waiter both sockets (SCM_RIGHTS), as a tcp holder hands over.
$attacker = attacker($dir, '
    [, $port, $companion] = $argv;
    $tcp = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
    $listener = socket_create(AF_UNIX, SOCK_STREAM, 0);
    if (!socket_bind($tcp, "127.0.0.1", (int) $port) || !socket_listen($tcp, 128)
        || !socket_bind($listener, "\0" . $companion) || !socket_listen($listener, 128)) {
        echo "failed ", socket_strerror(socket_last_error()), "\n";
        exit(1);
    }
    // Sent as streams: PHP 8.2 sends the wrong descriptor for a Socket object.
    $streams = [socket_export_stream($tcp), socket_export_stream($listener)];
    echo "listening ", getmypid(), "\n";
    $connections = [];
    while (($connection = socket_accept($listener)) !== false) {
        socket_sendmsg($connection, ["iov" => ["L"], "control" => [["level" => SOL_SOCKET, "type" => SCM_RIGHTS, "data" => $streams]]], 0);
        $connections[] = $connection;
    }', ['sockets'], [(string) $options['port'], "exakat_lock/tcp/127.0.0.1:{$options['port']}"]);
$line = line_or_null($attacker, 5.0);
check('nobody listens on the port and on the companion name', str_starts_with((string) $line, 'listening '), (string) $line . $attacker->stderr());

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
$waiters = [Child::withLock($name, Lock::TCP, $options, $code), Child::withLock($name, Lock::TCP, $options, $code)];
$results = [];
foreach ($waiters as $waiter) {
    $results[] = json_decode((string) line_or_null($waiter, 8.0), true);
}
$ended = array_filter($results, fn ($r) => is_array($r) && $r['seconds'] < 3.5);
check('each acquire(3) ends within its timeout', count($ended) === 2, json_encode($results));
$holders = array_filter($results, fn ($r) => is_array($r) && $r['outcome'] === 'true');
check('at most one waiter holds the lock', count($holders) <= 1, json_encode($results));

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
ok nobody listens on the port and on the companion name
ok each acquire(3) ends within its timeout
ok at most one waiter holds the lock
ok release() returns at once in every waiter
