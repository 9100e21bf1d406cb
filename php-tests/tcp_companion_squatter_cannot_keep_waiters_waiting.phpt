--TEST--
tcp: another user squatting the companion socket waiters queue on (listening, never accepting) cannot keep a waiter waiting after the holder releases
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

// nobody takes the companion's abstract name (core/src/backend/tcp.rs:
// "exakat_lock/tcp/<address>") before anyone holds the port, and listens
// on it without ever accepting: waiters that queue there are never served.
$attacker = attacker($dir, '
    $companion = socket_create(AF_UNIX, SOCK_STREAM, 0);
    if (!socket_bind($companion, "\0" . $argv[1]) || !socket_listen($companion, 128)) {
        echo "failed ", socket_strerror(socket_last_error()), "\n";
        exit(1);
    }
    echo "listening\n";
    fgets(STDIN);', ['sockets'], ["exakat_lock/tcp/127.0.0.1:{$options['port']}"]);
$line = line_or_null($attacker, 5.0);
check('nobody listens on the companion name', $line === 'listening', (string) $line . $attacker->stderr());

// A root holder takes the port, and releases it 0.5 s after we start waiting.
$holder = Child::withLock($name, Lock::TCP, $options, '
    echo var_export($lock->acquire(2.0), true), "\n";
    fgets(STDIN);
    usleep(500000);
    $releasing = hrtime(true);
    $lock->release();
    echo hrtime(true), " $releasing\n";
    fgets(STDIN);');
check('a root process takes the port', line_or_null($holder, 5.0) === 'true');

$lock = new Lock($name, Lock::TCP, $options);
$holder->send('go');
$started = hrtime(true);
$taken = $lock->acquire(3.0);
$acquiredAt = hrtime(true);
[$releasedAt, $releasingAt] = array_map('intval', explode(' ', (string) line_or_null($holder, 1.0)) + [1 => 0]);
$latency = $releasedAt > 0 ? ($acquiredAt - $releasedAt) / 1e6 : null;
check('the waiter gets the lock, after the release began', $taken && $releasingAt > 0 && $acquiredAt >= $releasingAt,
    sprintf('acquire(3.0) gave %s after %.3f s', var_export($taken, true), ($acquiredAt - $started) / 1e9));
check('within 300 ms of the release', $taken && $latency !== null && $latency < 300, sprintf('%s ms', var_export($latency === null ? null : round($latency, 1), true)));
$lock->release();
$holder->send('done');
$holder->wait();
$attacker->send('done');
$attacker->wait();
?>
--EXPECT--
ok nobody listens on the companion name
ok a root process takes the port
ok the waiter gets the lock, after the release began
ok within 300 ms of the release
