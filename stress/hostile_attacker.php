<?php
// The other user of the hostile section: runs as nobody, with ext-sockets
// and FFI (not the extension), and attacks one lock until a line arrives on
// stdin; then prints one JSON line of what it did. Prints "ready PID" first.
//
// Modes (config 'mode'):
// - socket: listens on the lock's abstract address whenever it is free and
//   hands its own listener (SCM_RIGHTS) to every waiter that connects.
// - socket-forge: keeps abstract names with a forged /proc/net/unix line
//   (its own socket as the lock's listener) listed ahead of the real one.
// - tcp: binds the port whenever it can and hands it to the hand-over
//   listener of every waiter that queues on it; when root holds the port,
//   queues on it as a waiter of ours does, with the earliest ticket, and
//   squats the companion name every other time (listens, never accepts).
// - semaphore: creates the lock's set first (0666), resets it (SETVAL 0)
//   over and over, removes and re-creates it; against root's own set, tries
//   the same (which must fail).
// - flock-symlink: re-points its symlink <dir>/locks between two root
//   directories as fast as it can.
// - flock-file: owns the lock file in a sticky directory and replaces it by
//   rename over and over.

declare(strict_types=1);
require __DIR__ . '/lib.php';

$c = worker_config();
$counts = [];
$count = function (string $what, int $n = 1) use (&$counts): void {
    $counts[$what] = ($counts[$what] ?? 0) + $n;
};
stream_set_blocking(STDIN, false);
$stop = function (): bool {
    static $stopped = false;
    return $stopped = $stopped || fgets(STDIN) !== false || feof(STDIN);
};
echo 'ready ', getmypid(), "\n";

/** Sends $streams (SCM_RIGHTS) to every connection queued on $listener for $seconds. */
function hand_over(Socket $listener, array $streams, float $seconds, callable $count): void
{
    $end = hrtime(true) + (int) ($seconds * 1e9);
    $connections = [];
    while (($left = $end - hrtime(true)) > 0) {
        $read = [$listener];
        $none = null;
        if (@socket_select($read, $none, $none, 0, (int) min(100000, $left / 1000)) < 1) {
            continue;
        }
        $connection = @socket_accept($listener); // blocking listener: accept4 on the received copy blocks too
        if ($connection === false) {
            continue;
        }
        if (@socket_sendmsg($connection, ['iov' => ['L'], 'control' => [['level' => SOL_SOCKET, 'type' => SCM_RIGHTS, 'data' => $streams]]], 0)) {
            $count('listener handed over');
        }
        $connections[] = $connection;
    }
}

function unix_listener(string $address): ?array
{
    $socket = socket_create(AF_UNIX, SOCK_STREAM, 0);
    if (!@socket_bind($socket, "\0$address") || !@socket_listen($socket, 1024)) {
        socket_close($socket);
        return null;
    }
    return [$socket, socket_export_stream($socket)]; // PHP sends the right descriptor for a stream only
}

switch ($c['mode']) {
    case 'socket':
        while (!$stop()) {
            // Squat the address when it is free, and hand our listener over.
            $squat = unix_listener($c['address']);
            if ($squat === null) {
                usleep(2000);
                continue;
            }
            $count('address squatted');
            hand_over($squat[0], [$squat[1]], 0.3, $count);
            fclose($squat[1]);
            usleep(100000);
        }
        break;

    case 'socket-forge':
        $address = $c['address'];
        $own = unix_listener("exakat_lock-attacker/" . getmypid());
        $inode = fstat($own[1])['ino'];
        $forged = [];
        $n = 0;
        $first = function () use ($address): ?int {
            foreach (file('/proc/net/unix', FILE_IGNORE_NEW_LINES) ?: [] as $line) {
                $f = preg_split('/ +/', trim($line));
                if (($f[7] ?? null) === "@$address" && ($f[5] ?? '') === '01') {
                    return (int) $f[6];
                }
            }
            return null;
        };
        while (!$stop()) {
            // Keep a forged listing of our socket ahead of the real listener.
            for ($try = 0; $try < 50 && $first() !== $inode; $try++) {
                if (count($forged) > 8) {
                    socket_close(array_shift($forged));
                }
                $socket = socket_create(AF_UNIX, SOCK_STREAM, 0);
                if (@socket_bind($socket, "\0x" . ++$n . "\n0: 00000002 00000000 00010000 0001 01 $inode @$address")) {
                    $forged[] = $socket;
                    $count('forged names bound');
                }
            }
            $count($first() === $inode ? 'forged line listed first' : 'real line listed first');
            usleep(5000);
        }
        break;

    case 'tcp':
        $port = $c['port'];
        $round = 0;
        while (!$stop()) {
            $tcp = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
            if (@socket_bind($tcp, '127.0.0.1', $port) && @socket_listen($tcp, 128)) {
                $count('port taken');
                $stream = socket_export_stream($tcp);
                socket_set_nonblock($tcp);
                $waiters = [];
                $end = hrtime(true) + 300_000_000;
                while (hrtime(true) < $end) {
                    $waiter = @socket_accept($tcp);
                    if ($waiter === false) {
                        usleep(1000);
                        continue;
                    }
                    $waiters[] = $waiter;
                    if (!@socket_getpeername($waiter, $address, $from)) {
                        continue;
                    }
                    $channel = socket_create(AF_UNIX, SOCK_STREAM, 0);
                    if (@socket_connect($channel, "\0exakat_lock/tcp-waiter/$address:$from")) {
                        $sent = @socket_sendmsg($channel, ['iov' => ['L'], 'control' => [['level' => SOL_SOCKET, 'type' => SCM_RIGHTS, 'data' => [$stream]]]], 0);
                        $count($sent ? 'port handed to a waiter\'s listener' : 'hand-over refused');
                        $waiters[] = $channel;
                    }
                }
                fclose($stream);
                unset($tcp, $waiters);
                usleep(100000);
                continue;
            }
            socket_close($tcp);
            // Root holds the port: squat the companion name (a holder that
            // waited listens there) half of the time, never accepting.
            $companion = ++$round % 2 ? unix_listener("exakat_lock/tcp/127.0.0.1:$port") : null;
            if ($companion !== null) {
                $count('companion squatted');
            }
            // And queue first in line, with a listener of our own where a
            // holder that trusted us would hand it over.
            $tcp = socket_create(AF_INET, SOCK_STREAM, SOL_TCP);
            socket_bind($tcp, '127.0.0.1', 0);
            socket_getsockname($tcp, $address, $from);
            $listener = unix_listener("exakat_lock/tcp-waiter/$address:$from");
            if ($listener !== null && @socket_connect($tcp, '127.0.0.1', $port)) {
                socket_write($tcp, pack('P', 0));
                $count('queued first on root\'s port');
                $read = [$listener[0]];
                $none = null;
                if (@socket_select($read, $none, $none, 0, 300000) === 1 && ($channel = @socket_accept($listener[0])) !== false) {
                    $read = [$channel];
                    @socket_select($read, $none, $none, 0, 100000);
                    $count(strlen((string) @socket_read($channel, 64)) > 0 ? 'HANDED ROOT\'S PORT' : 'root\'s holder looked and left');
                }
            }
            if ($listener !== null) {
                fclose($listener[1]);
            }
            if ($companion !== null) {
                fclose($companion[1]);
            }
            socket_close($tcp);
            usleep(2000);
        }
        break;

    case 'semaphore':
        $ffi = FFI::cdef('int semget(int key, int nsems, int semflg); int semctl(int semid, int semnum, int cmd, ...);', 'libc.so.6');
        [$IPC_CREAT, $IPC_EXCL, $IPC_RMID, $SETVAL] = [01000, 02000, 0, 16];
        while (!$stop()) {
            // Our own set, made first and writable by all.
            $id = $ffi->semget($c['key'], 1, $IPC_CREAT | $IPC_EXCL | 0666);
            if ($id >= 0) {
                $count('set created first (0666)');
                $end = hrtime(true) + 1e9;
                while (hrtime(true) < $end && !$stop()) {
                    if ($ffi->semctl($id, 0, $SETVAL, 0) === 0) {
                        $count('our set reset (SETVAL 0)');
                    }
                    usleep(1000);
                }
                $ffi->semctl($id, 0, $IPC_RMID);
                $count('our set removed');
                usleep(200000); // room for root to make its own set
                continue;
            }
            // A set exists that is not ours: try to reset and remove it.
            $id = $ffi->semget($c['key'], 1, 0);
            if ($id >= 0) {
                $count($ffi->semctl($id, 0, $SETVAL, 0) === 0 ? "ROOT'S SET RESET" : 'reset of root\'s set refused');
                $count($ffi->semctl($id, 0, $IPC_RMID) === 0 ? "ROOT'S SET REMOVED" : 'removal of root\'s set refused');
            } else {
                $count('no access to the set');
            }
            usleep(5000);
        }
        break;

    case 'flock-symlink':
        $link = $c['link'];
        $i = 0;
        while (!$stop()) {
            $temporary = "$link.tmp";
            @unlink($temporary);
            if (symlink($c['targets'][$i++ % 2], $temporary) && rename($temporary, $link)) {
                $count('symlink re-pointed');
            }
            usleep(500);
        }
        break;

    case 'flock-file':
        $path = $c['path'];
        $i = 0;
        while (!$stop()) {
            $temporary = "$path." . $i++ % 2;
            if (@file_put_contents($temporary, '') !== false && chmod($temporary, 0644) && @rename($temporary, $path)) {
                $count('lock file replaced by a rename');
            } else {
                $count('replacement refused');
            }
            usleep(2000);
        }
        @unlink($path);
        break;
}
echo json_encode(['pid' => getmypid(), 'counts' => $counts]), "\n";
