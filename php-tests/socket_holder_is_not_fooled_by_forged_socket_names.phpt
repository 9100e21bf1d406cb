--TEST--
socket: holder() names the real holder (or null when free), whatever another user puts in abstract socket names (a newline and a forged /proc/net/unix line)
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

$name = 'phpt-hf-' . substr(md5(__FILE__), 0, 4) . '-' . getmypid(); // short: the forged line must fit in 107 bytes
$address = socket_address($name);
$dir = shared_temp_dir(__FILE__);

// nobody listens on a socket of its own, then binds sockets whose abstract
// names hold a newline and a line in /proc/net/unix's format that says its
// own socket is the lock's listener. On "ahead" it binds such names until
// one is listed before the real listener (the kernel lists by hash bucket).
$attacker = attacker($dir, '
    [, $address] = $argv;
    $own = socket_create(AF_UNIX, SOCK_STREAM, 0);
    socket_bind($own, "\0exakat_lock-attacker/" . getmypid());
    socket_listen($own, 16);
    $inode = fstat(socket_export_stream($own))["ino"];
    $forged = [];
    $count = 0;
    $forge = function () use (&$forged, &$count, $inode, $address) {
        $socket = socket_create(AF_UNIX, SOCK_STREAM, 0);
        $ok = socket_bind($socket, "\0x" . ++$count . "\n0: 00000002 00000000 00010000 0001 01 $inode @$address");
        $forged[] = $socket;
        return $ok;
    };
    // The inode of the first unconnected socket listed under the address, as a text parser finds it.
    $first = function () use ($address) {
        foreach (file("/proc/net/unix", FILE_IGNORE_NEW_LINES) as $line) {
            $f = preg_split("/ +/", trim($line));
            if (($f[7] ?? null) === "@$address" && $f[5] === "01") {
                return (int) $f[6];
            }
        }
        return null;
    };
    while (($command = trim((string) fgets(STDIN))) !== "") {
        if ($command === "forge") {
            echo $forge() && $first() === $inode ? "forged " . getmypid() : "failed", "\n";
        } elseif ($command === "ahead") {
            for ($try = 0; $try < 5000 && $first() !== $inode; $try++) {
                socket_close(array_pop($forged));
                $forge();
            }
            echo $first() === $inode ? "ahead" : "behind", "\n";
        }
    }', ['sockets'], [$address]);

$attacker->send('forge');
$line = (string) line_or_null($attacker, 5.0);
check('nobody forged a /proc/net/unix line naming its own socket as the listener', str_starts_with($line, 'forged '), $line . $attacker->stderr());
$attackerPid = (int) substr($line, 7);

$lock = new Lock($name, Lock::SOCKET);
$seen = $lock->holder();
check('holder() of the free lock is null', $seen === null, json_encode($seen) . " (the attacker is pid $attackerPid)");
$seen = exakat_lock_holder($name, Lock::SOCKET);
check('exakat_lock_holder() of the free lock is null', $seen === null, json_encode($seen));
check('and the lock can be taken', $lock->acquire() && $lock->release());

$holder = Child::withLock($name, Lock::SOCKET, [], '$lock->acquire(2.0); echo getmypid(), "\n"; fgets(STDIN);');
$holderPid = (int) line_or_null($holder, 5.0);
// Best effort: where the kernel's hash order lets the attacker list its
// line first, a text parser would name the attacker here too; where it does
// not (it varies with the machine), the free-lock case above already showed
// the forgery working against a text parser.
$attacker->send('ahead');
line_or_null($attacker, 8.0);
$seen = $lock->holder();
check('holder() of the held lock names the holder', ($seen['pid'] ?? null) === $holderPid, json_encode($seen) . " (holder $holderPid, attacker $attackerPid)");
$seen = exakat_lock_holder($name, Lock::SOCKET);
check('so does exakat_lock_holder()', ($seen['pid'] ?? null) === $holderPid, json_encode($seen));
$holder->send('done');
$holder->wait();
$attacker->send('');
?>
--EXPECT--
ok nobody forged a /proc/net/unix line naming its own socket as the listener
ok holder() of the free lock is null
ok exakat_lock_holder() of the free lock is null
ok and the lock can be taken
ok holder() of the held lock names the holder
ok so does exakat_lock_holder()
