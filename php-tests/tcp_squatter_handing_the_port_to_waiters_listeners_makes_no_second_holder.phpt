--TEST--
tcp: another user holding the port and handing it to every waiter's hand-over listener never makes a second holder, and release() never blocks
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

// nobody takes the port (listening, as a holder does), accepts every waiter
// that queues on it, and passes the port's socket (SCM_RIGHTS) to the unix
// listener named after the waiter's address, as a holder of ours hands over
// (core/src/backend/wake.rs, waiter_listener_address).
$attacker = attacker($dir, '
    $tcp = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
    if (!socket_bind($tcp, "127.0.0.1", (int) $argv[1]) || !socket_listen($tcp, 128)) {
        echo "failed ", socket_strerror(socket_last_error()), "\n";
        exit(1);
    }
    // Sent as a stream: PHP 8.2 sends the wrong descriptor for a Socket object.
    $stream = socket_export_stream($tcp);
    echo "listening ", getmypid(), "\n";
    $waiters = [];
    for (;;) {
        // A waiter that gave up resets its connection, and accept() or
        // getpeername() can fail for it: the port is kept all the same.
        $waiter = @socket_accept($tcp);
        if ($waiter === false || !@socket_getpeername($waiter, $address, $port)) {
            continue;
        }
        $waiters[] = $waiter;
        $channel = socket_create(AF_UNIX, SOCK_STREAM, 0);
        if (@socket_connect($channel, "\0exakat_lock/tcp-waiter/$address:$port")) {
            $sent = @socket_sendmsg($channel, ["iov" => ["L"], "control" => [["level" => SOL_SOCKET, "type" => SCM_RIGHTS, "data" => [$stream]]]], 0);
            fwrite(STDERR, $sent === 1 ? "sent\n" : "refused\n");
            $waiters[] = $channel;
        }
    }', ['sockets'], [(string) $options['port']]);
$line = line_or_null($attacker, 5.0);
check('nobody listens on the port', str_starts_with((string) $line, 'listening '), (string) $line . $attacker->stderr());

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
$holders = array_filter($results, fn ($r) => !is_array($r) || $r['outcome'] !== 'false' || $r['held']);
check('no waiter holds the lock while nobody keeps the port', $holders === [], json_encode($results));
// "refused": the waiter had already closed the connection, unread.
$attempts = $attacker->stderr();
$reached = substr_count($attempts, "sent\n") + substr_count($attempts, "refused\n");
check('nobody did reach both waiters\' listeners', $reached >= 2, $attempts);

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
ok nobody listens on the port
ok each acquire(3) ends within its timeout
ok no waiter holds the lock while nobody keeps the port
ok nobody did reach both waiters' listeners
ok release() returns at once in every waiter
