--TEST--
mysql: a server whose answer makes the client library panic gives a LockException that says so, and nothing on stderr
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
ob_start();
phpinfo(INFO_MODULES);
if (!str_contains(ob_get_clean(), 'MySQL backend => compiled in')) die('skip the mysql backend is not compiled in');
?>
--FILE--
<?php
require __DIR__ . '/_common.inc';

// A server that greets with caching_sha2_password, then answers the
// client's log-in with a one-byte packet: the client library (mysql 28)
// indexes past its end and panics, on the thread that connects.
$server = new Child('
    function packet(int $sequence, string $payload): string {
        return substr(pack("V", strlen($payload)), 0, 3) . chr($sequence) . $payload;
    }
    $capabilities = 0x01 | 0x08 | 0x200 | 0x2000 | 0x8000 | 0x80000 | 0x200000;
    $greeting = "\x0a8.0.30\x00" . pack("V", 7) . "abcdefgh\x00" . substr(pack("V", $capabilities), 0, 2)
        . "\x21" . pack("v", 2) . substr(pack("V", $capabilities), 2) . chr(21) . str_repeat("\x00", 10)
        . "ijklmnopqrst\x00caching_sha2_password\x00";
    $listener = stream_socket_server("tcp://127.0.0.1:0");
    echo parse_url("tcp://" . stream_socket_get_name($listener, false), PHP_URL_PORT), "\n";
    while ($client = stream_socket_accept($listener, 30)) {
        fwrite($client, packet(0, $greeting));
        fread($client, 4096);
        fwrite($client, packet(2, "\x01"));
        usleep(200000);
        fclose($client);
    }');
$port = (int) $server->line();

$client = new Child(sprintf('
    $lock = new ExakatLock\Lock("panics", ExakatLock\Lock::MYSQL,
        ["dsn" => "mysql://user:secret@127.0.0.1:%d/?ssl-mode=DISABLED", "connect_timeout" => 5]);
    try {
        var_dump($lock->acquire(0));
    } catch (ExakatLock\LockException $e) {
        echo get_class($e), ": ", $e->getMessage(), "\n";
    }
    echo "still running\n";', $port));
echo $client->line(), "\n", $client->line(), "\n";
echo "exit code: ", $client->wait(), "\n";
echo "stderr: ", var_export($client->stderr(), true), "\n";
?>
--EXPECTF--
ExakatLock\LockException: Lock "panics" (mysql backend): cannot connect to mysql://user:****@127.0.0.1:%d?ssl-mode=DISABLED: the connection failed: the connect ended without an answer: the client library panicked (index out of bounds: %s)
still running
exit code: 0
stderr: ''
