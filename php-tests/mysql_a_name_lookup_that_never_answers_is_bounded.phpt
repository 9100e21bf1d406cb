--TEST--
mysql: a DSN host whose name look-up never gets an answer fails after connect_timeout, not after the resolver's own minutes
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_hostile.inc';
// The resolver is the hostile neighbour here; its set-up needs root.
if (test_euid() !== 0) die('skip hostile-neighbour test: needs root to mount its own resolv.conf in a mount namespace');
if (private_mount_namespace() === null) die('skip hostile-neighbour test: no mount namespace of its own can be made here');
$silent = @stream_socket_server('udp://127.0.0.77:53', $errno, $errstr, STREAM_SERVER_BIND);
if ($silent === false) die("skip hostile-neighbour test: cannot listen on 127.0.0.77:53 (udp): $errstr");
?>
--FILE--
<?php
require __DIR__ . '/_hostile.inc';

// A name server that hears every query and never answers; only the
// processes started below, in a mount namespace of their own, are told to
// use it, with the resolver's patience set to 2 tries of 30 s.
$silent = stream_socket_server('udp://127.0.0.77:53', $errno, $errstr, STREAM_SERVER_BIND);
$dir = test_temp_dir(__FILE__);
file_put_contents("$dir/resolv.conf", "nameserver 127.0.0.77\noptions timeout:30 attempts:2\n");
$host = 'db.exakat-lock-test.invalid';

/** $command, run with $dir/resolv.conf mounted on /etc/resolv.conf. */
function with_silent_resolver(string $dir, array $command): array
{
    return array_merge(private_mount_namespace(), ['sh', '-c', 'mount --bind "$0" /etc/resolv.conf && exec "$@"',
        "$dir/resolv.conf"], $command);
}

// The set-up must hang a look-up, or the test below proves nothing.
$started = hrtime(true);
exec(implode(' ', array_map('escapeshellarg', with_silent_resolver($dir, ['timeout', '2', 'getent', 'hosts', $host]))),
    $out, $status);
check('getent hosts waits on that resolver (killed after 2 s)', $status === 124,
    "exit status $status after " . round((hrtime(true) - $started) / 1e9, 1) . ' s');

$code = '
    $lock = new ExakatLock\Lock("lookup", ExakatLock\Lock::MYSQL,
        ["dsn" => "mysql://user:pw@' . $host . ':3306/", "connect_timeout" => 0.5]);
    $started = hrtime(true);
    try {
        echo "acquire() returned ", var_export($lock->acquire(0), true), "\n";
    } catch (ExakatLock\LockException $e) {
        echo $e->getMessage(), "\n";
    }
    echo round((hrtime(true) - $started) / 1e9, 2), "\n";';
$child = Child::command(with_silent_resolver($dir, array_merge(test_php_command(), ['-r', $code])));
$message = line_or_null($child, 10.0);
$seconds = (float) line_or_null($child, 1.0);
check('acquire() throws a LockException saying the server did not answer in time',
    $message !== null && str_contains($message, 'the server did not answer in time'), (string) $message);
check('after connect_timeout (0.5 s), not the resolver\'s 60 s', $message !== null && $seconds < 3.0, "$seconds s");
unset($child); // ended, or killed if it still waits
fclose($silent);
test_remove_tree($dir);
?>
--EXPECT--
ok getent hosts waits on that resolver (killed after 2 s)
ok acquire() throws a LockException saying the server did not answer in time
ok after connect_timeout (0.5 s), not the resolver's 60 s
