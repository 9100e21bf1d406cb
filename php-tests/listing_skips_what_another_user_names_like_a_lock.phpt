--TEST--
Listing: an abstract socket or a lock file that another user names like ours, with a newline, a tab and a terminal escape in the name, is not listed by exakat_lock_list() or `exakat-lock list`; that user's well-named locks are
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_hostile.inc';
if ($why = hostile_skip_reason(['sockets'])) die("skip hostile-neighbour test: $why");
if (test_command_program() === null) die('skip the exakat-lock command is not built (scripts/lib.sh build_extension)');
?>
--FILE--
<?php
require __DIR__ . '/_hostile.inc';

$dir = shared_temp_dir(__FILE__);
$locks = "$dir/locks";
mkdir($locks);
chmod($locks, 01777);
$plain = 'phpt-nobodys-' . getmypid();
// What a text parser of `exakat-lock list` would read as a row of its own.
$forged = "evil\e[2J\nflock\tforged-" . getmypid();

// nobody listens on abstract sockets and flock()s files named as ours: one
// plain name, one with control characters (no name of ours makes that slug).
$attacker = attacker($dir, '
    [, $locks, $plain, $forged] = $argv;
    $kept = [];
    foreach ([$plain, $forged] as $name) {
        $socket = socket_create(AF_UNIX, SOCK_STREAM, 0);
        $bound = socket_bind($socket, "\0exakat_lock/$name") && socket_listen($socket, 1);
        $file = fopen("$locks/exakat_lock.$name.lock", "c");
        $kept[] = [$socket, $file];
        if (!$bound || !$file || !flock($file, LOCK_EX)) {
            echo "failed\n";
            exit;
        }
    }
    echo getmypid(), "\n";
    fgets(STDIN);', ['sockets'], [$locks, $plain, $forged]);
$attackerPid = (int) line_or_null($attacker, 5.0);
check('nobody holds two sockets and two files named like locks', $attackerPid > 0, $attacker->stderr());

/** Names of the listed locks that the attacker holds. */
function names_held_by(array $listed, int $pid): array
{
    $names = [];
    foreach ($listed as $lock) {
        if (in_array($pid, array_column($lock['holders'], 'pid'), true)) {
            $names[] = $lock['name'] ?? 'null: ' . $lock['resource'];
        }
    }
    return $names;
}

foreach (['socket' => [], 'flock' => ['dir' => $locks]] as $backend => $options) {
    $names = names_held_by(exakat_lock_list($backend, $options), $attackerPid);
    check("$backend: exakat_lock_list() shows nobody's plain lock and nothing else of theirs", $names === [$plain], json_encode($names));
    $lines = array_values(array_filter(explode("\n", command_list($backend, $options)), fn ($line) => str_contains($line, "pid=$attackerPid ")));
    check(
        "$backend: `exakat-lock list` prints one line for them, four fields, no control character",
        count($lines) === 1 && count(explode("\t", $lines[0])) === 4 && str_contains($lines[0], $plain)
            && preg_match('/[\x00-\x08\x0a-\x1f\x7f]/', $lines[0]) === 0 && !str_contains($lines[0], 'evil'),
        json_encode($lines)
    );
}
$attacker->send('done');
$attacker->wait();
?>
--EXPECT--
ok nobody holds two sockets and two files named like locks
ok socket: exakat_lock_list() shows nobody's plain lock and nothing else of theirs
ok socket: `exakat-lock list` prints one line for them, four fields, no control character
ok flock: exakat_lock_list() shows nobody's plain lock and nothing else of theirs
ok flock: `exakat-lock list` prints one line for them, four fields, no control character
