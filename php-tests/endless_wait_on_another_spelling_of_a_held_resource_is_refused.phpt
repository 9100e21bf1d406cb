--TEST--
An endless wait for a lock that another object of this process holds under another spelling of the same resource (dir "D/.", "D//", a relative dir; tcp 0.0.0.0, ::, ::ffff:127.0.0.1 against 127.0.0.1) throws at once; relative dir and path keep the meaning they had at construction
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_hostile.inc';

use ExakatLock\Lock;

$dir = test_temp_dir(__FILE__);
$name = test_lock_name(__FILE__);

// Every case has a directory or port of its own, so that all run at once.
$d = function (string $sub) use ($dir): string {
    mkdir("$dir/$sub/D", 0700, true);
    return "$dir/$sub/D";
};
$p = fn () => test_options('tcp')['port'];
// [backend, options of the holding object, options of the waiting one, working directory of the waiter]
$cases = [
    'flock: dir D held, dir D/. waited for' => [Lock::FLOCK, ['dir' => $d('1')], ['dir' => "$dir/1/D/."], null],
    'flock: dir D held, dir D// waited for' => [Lock::FLOCK, ['dir' => $d('2')], ['dir' => "$dir/2/D//"], null],
    'flock: dir D held, relative dir D waited for' => [Lock::FLOCK, ['dir' => $d('3')], ['dir' => 'D'], "$dir/3"],
    'flock: path D/x.lock held, path D/./x.lock waited for' => [Lock::FLOCK, ['path' => $d('4') . '/x.lock'], ['path' => "$dir/4/D/./x.lock"], null],
    'tcp: host 127.0.0.1 held, host 0.0.0.0 waited for' => [Lock::TCP, ['port' => $port = $p(), 'host' => '127.0.0.1'], ['port' => $port, 'host' => '0.0.0.0'], null],
    'tcp: host 0.0.0.0 held, host 127.0.0.1 waited for' => [Lock::TCP, ['port' => $port = $p(), 'host' => '0.0.0.0'], ['port' => $port, 'host' => '127.0.0.1'], null],
    'tcp: host 127.0.0.1 held, host :: waited for' => [Lock::TCP, ['port' => $port = $p(), 'host' => '127.0.0.1'], ['port' => $port, 'host' => '::'], null],
    'tcp: host 127.0.0.1 held, host ::ffff:127.0.0.1 waited for' => [Lock::TCP, ['port' => $port = $p(), 'host' => '127.0.0.1'], ['port' => $port, 'host' => '::ffff:127.0.0.1'], null],
    'tcp: host 127.0.0.1 held, host localhost waited for (same address)' => [Lock::TCP, ['port' => $port = $p(), 'host' => '127.0.0.1'], ['port' => $port, 'host' => 'localhost'], null],
];
if (trim((string) @file_get_contents('/proc/sys/net/ipv6/bindv6only')) === '1') {
    // IPv6 wildcard binds do not cover IPv4 here: :: is another resource.
    $cases['tcp: host 127.0.0.1 held, host :: waited for'][2]['host'] = '::ffff:127.0.0.1';
}
// One process per case; a wait still going after 2 s is a hang, and its
// process is killed.
$children = [];
foreach ($cases as $what => [$backend, $held, $waiting, $cwd]) {
    $children[$what] = new Child(sprintf('
        $a = new ExakatLock\Lock(%1$s, %2$s, %3$s);
        if (!$a->acquire()) { echo "the first object could not take it\n"; exit; }
        if (%5$s !== null) { chdir(%5$s); }
        try {
            $b = new ExakatLock\Lock(%1$s, %2$s, %4$s);
        } catch (ValueError $e) {
            exit("ValueError 0.000\n"); // a relative dir refused at construction
        }
        $started = hrtime(true);
        try {
            $outcome = var_export($b->acquire(-1), true);
        } catch (ExakatLock\LockException $e) {
            $outcome = "LockException";
        }
        printf("%%s %%.3f\n", $outcome, (hrtime(true) - $started) / 1e9);',
        var_export($name, true), var_export($backend, true), var_export($held, true), var_export($waiting, true), var_export($cwd, true)));
}
$deadline = hrtime(true) + 2e9;
foreach ($children as $what => $child) {
    $line = line_or_null($child, max(0.01, ($deadline - hrtime(true)) / 1e9)) ?? 'still waiting after 2 s';
    $refused = $cases[$what][3] === null ? 'LockException' : '(LockException|ValueError)';
    check("$what: acquire(-1) throws a LockException at once", preg_match("/^$refused 0\\.\\d+$/", $line) === 1, $line);
}
$children = []; // kills those still waiting

// A relative dir or path means what it meant when the Lock was constructed
// (made absolute then), or is refused at construction with a \ValueError;
// either passes. Locking whatever the working directory names at acquire()
// time does not.
foreach (['dir' => 'locks', 'path' => 'locks/app.lock'] as $key => $relative) {
    foreach (['one', 'two'] as $sub) {
        mkdir("$dir/$key-$sub/locks", 0700, true);
    }
    chdir("$dir/$key-one");
    try {
        $lock = new Lock($name, Lock::FLOCK, [$key => $relative]);
    } catch (ValueError $e) {
        check("a relative $key is made absolute at construction, or refused with a ValueError", true);
        continue;
    }
    chdir("$dir/$key-two");
    $taken = $lock->acquire();
    $inOne = glob("$dir/$key-one/locks/*");
    $inTwo = glob("$dir/$key-two/locks/*");
    $lockedInOne = false;
    if (count($inOne) === 1) {
        $probe = fopen($inOne[0], 'r');
        $lockedInOne = !flock($probe, LOCK_EX | LOCK_NB);
        fclose($probe);
    }
    check("a relative $key is made absolute at construction, or refused with a ValueError",
        $taken && $lockedInOne && $inTwo === [], 'locked under ' . json_encode(['constructed in' => $inOne, 'acquired in' => $inTwo]));
    $lock->release();
    unset($lock);
}
?>
--EXPECT--
ok flock: dir D held, dir D/. waited for: acquire(-1) throws a LockException at once
ok flock: dir D held, dir D// waited for: acquire(-1) throws a LockException at once
ok flock: dir D held, relative dir D waited for: acquire(-1) throws a LockException at once
ok flock: path D/x.lock held, path D/./x.lock waited for: acquire(-1) throws a LockException at once
ok tcp: host 127.0.0.1 held, host 0.0.0.0 waited for: acquire(-1) throws a LockException at once
ok tcp: host 0.0.0.0 held, host 127.0.0.1 waited for: acquire(-1) throws a LockException at once
ok tcp: host 127.0.0.1 held, host :: waited for: acquire(-1) throws a LockException at once
ok tcp: host 127.0.0.1 held, host ::ffff:127.0.0.1 waited for: acquire(-1) throws a LockException at once
ok tcp: host 127.0.0.1 held, host localhost waited for (same address): acquire(-1) throws a LockException at once
ok a relative dir is made absolute at construction, or refused with a ValueError
ok a relative path is made absolute at construction, or refused with a ValueError
