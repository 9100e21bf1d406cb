--TEST--
tcp: another user queued first on the port (the earliest ticket, a hand-over listener of its own) is handed nothing; the lock goes to the root waiter at once
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

$holder = Child::withLock($name, Lock::TCP, $options, '
    echo var_export($lock->acquire(2.0), true), "\n";
    fgets(STDIN);
    $started = hrtime(true);
    $lock->release();
    echo (hrtime(true) - $started) / 1e9, "\n";
    fgets(STDIN);');
check('a root process takes the port', line_or_null($holder, 5.0) === 'true');

// nobody queues on the port as a waiter of ours does (core/src/backend/tcp.rs,
// queue): binds its source port, listens on the unix name made of it, connects,
// and sends the earliest ticket there can be. Then it reports what reaches
// that listener: a connection that sends anything would be a hand-over.
$attacker = attacker($dir, '
    $tcp = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
    socket_bind($tcp, "127.0.0.1", 0);
    socket_getsockname($tcp, $address, $port);
    $listener = socket_create(AF_UNIX, SOCK_STREAM, 0);
    if (!socket_bind($listener, "\0exakat_lock/tcp-waiter/$address:$port") || !socket_listen($listener, 16)
        || !socket_connect($tcp, "127.0.0.1", (int) $argv[1])) {
        echo "failed ", socket_strerror(socket_last_error()), "\n";
        exit(1);
    }
    socket_write($tcp, pack("P", 0));
    echo "queued\n";
    $read = [$listener];
    $none = null;
    if (socket_select($read, $none, $none, 5) !== 1) {
        echo "nobody came\n";
        exit;
    }
    $channel = socket_accept($listener);
    $read = [$channel];
    socket_select($read, $none, $none, 2);
    echo "received ", strlen((string) @socket_read($channel, 1024)), " bytes\n";', ['sockets'], [(string) $options['port']]);
$line = line_or_null($attacker, 5.0);
check('nobody queues first', $line === 'queued', (string) $line . $attacker->stderr());

$waiter = Child::withLock($name, Lock::TCP, $options, '
    echo var_export($lock->acquire(5.0), true), "\n";
    fgets(STDIN);');
usleep(300000); // the root waiter queues behind nobody
$asked = hrtime(true);
$holder->send('release');
$released = line_or_null($holder, 2.0);
check('release() returns at once', $released !== null && (float) $released < 0.5, var_export($released, true));
$taken = line_or_null($waiter, 3.0);
$latency = (hrtime(true) - $asked) / 1e9;
check('the root waiter gets the lock', $taken === 'true', var_export($taken, true));
check('within 300 ms of the release', $taken === 'true' && $latency < 0.3, sprintf('%.3f s', $latency));
$got = line_or_null($attacker, 8.0);
check('nobody is handed nothing', $got === 'received 0 bytes' || $got === 'nobody came', var_export($got, true));
$waiter->send('done');
$waiter->wait();
$holder->send('done');
$holder->wait();
$attacker->wait();
?>
--EXPECT--
ok a root process takes the port
ok nobody queues first
ok release() returns at once
ok the root waiter gets the lock
ok within 300 ms of the release
ok nobody is handed nothing
