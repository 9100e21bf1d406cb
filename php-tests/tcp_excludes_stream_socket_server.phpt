--TEST--
PHP's stream_socket_server() on the port, listening or bind-only as in the seed article, and the tcp backend exclude each other
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

$options = test_options('tcp');
$port = $options['port'];
$lock = new Lock(test_lock_name(__FILE__), Lock::TCP, $options);

// Another process that takes the port with PHP's stream_socket_server():
// "listen" as PHP does by default (SO_REUSEADDR, then listen), or "bind"
// only, the seed article's lock (STREAM_SERVER_BIND without LISTEN).
function php_server(int $port): Child
{
    return new Child('
        $server = null;
        while (($command = fgets(STDIN)) !== false) {
            $flags = ["listen" => STREAM_SERVER_BIND | STREAM_SERVER_LISTEN, "bind" => STREAM_SERVER_BIND][trim($command)] ?? null;
            if ($flags === null) {
                $server = null;
                echo "closed\n";
                continue;
            }
            $server = @stream_socket_server("tcp://127.0.0.1:' . $port . '", $errno, $error, $flags);
            echo $server ? "bound" : "refused: $error", "\n";
        }');
}

$php = php_server($port);
foreach (['listen' => 'stream_socket_server()', 'bind' => 'a bind-only stream_socket_server()'] as $mode => $what) {
    // The extension holds the port: PHP cannot bind it.
    check("acquire() takes the port ($mode)", $lock->acquire() === true);
    $php->send($mode);
    $answer = $php->line();
    check("$what in another process is refused while the extension holds the port", str_starts_with($answer, 'refused: ') && str_contains($answer, 'in use'), $answer);
    check("release() frees the port ($mode)", $lock->release() === true);

    // PHP holds the port: the extension cannot take it.
    $php->send($mode);
    check("$what takes the port once it is released", $php->line() === 'bound');
    check("acquire() fails while $what holds the port", $lock->acquire() === false && !$lock->isHeld());
    check("a bounded wait fails while $what holds the port", $lock->acquire(0.1) === false);
    if ($mode === 'listen') {
        check('holder() names the process of stream_socket_server()', ($lock->holder()['pid'] ?? null) === $php->pid(), var_export($lock->holder(), true));
    }
    $php->send('close');
    check("$what closed the port", $php->line() === 'closed');
    check("acquire() takes the port once $what closed it", $lock->acquire() === true && $lock->release());
}
check('the other process ends cleanly', $php->wait() === 0);

// Within one process too.
check('acquire() takes the port (same process)', $lock->acquire() === true);
check('stream_socket_server() in this process is refused', @stream_socket_server("tcp://127.0.0.1:$port") === false);
check('a bind-only stream_socket_server() in this process is refused', @stream_socket_server("tcp://127.0.0.1:$port", $errno, $error, STREAM_SERVER_BIND) === false);
$lock->release();
$server = stream_socket_server("tcp://127.0.0.1:$port");
check('acquire() fails while this process listens on the port', $server !== false && $lock->acquire() === false);
check('holder() names this process', ($lock->holder()['pid'] ?? null) === getmypid());
fclose($server);
check('acquire() takes it once the server is closed', $lock->acquire() === true && $lock->release());
?>
--EXPECT--
ok acquire() takes the port (listen)
ok stream_socket_server() in another process is refused while the extension holds the port
ok release() frees the port (listen)
ok stream_socket_server() takes the port once it is released
ok acquire() fails while stream_socket_server() holds the port
ok a bounded wait fails while stream_socket_server() holds the port
ok holder() names the process of stream_socket_server()
ok stream_socket_server() closed the port
ok acquire() takes the port once stream_socket_server() closed it
ok acquire() takes the port (bind)
ok a bind-only stream_socket_server() in another process is refused while the extension holds the port
ok release() frees the port (bind)
ok a bind-only stream_socket_server() takes the port once it is released
ok acquire() fails while a bind-only stream_socket_server() holds the port
ok a bounded wait fails while a bind-only stream_socket_server() holds the port
ok a bind-only stream_socket_server() closed the port
ok acquire() takes the port once a bind-only stream_socket_server() closed it
ok the other process ends cleanly
ok acquire() takes the port (same process)
ok stream_socket_server() in this process is refused
ok a bind-only stream_socket_server() in this process is refused
ok acquire() fails while this process listens on the port
ok holder() names this process
ok acquire() takes it once the server is closed
