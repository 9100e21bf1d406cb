--TEST--
exakat_lock_list('mysql') reads a '#' suffix as a slot only as slots spell it: 'x#03', 'x#0', 'x#+1' and 'x#1024' taken by hand in SQL are locks of their own ('x#1' reads as slot 1 of 'x': the server's names are one space); a Lock named with a '#' never shares a slot's or gate's server name
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
if (test_mysql_client_program() === null) die('skip no mysql command-line client');
?>
--FILE--
<?php
use ExakatLock\Lock;

require __DIR__ . '/_common.inc';
$options = ['dsn' => test_mysql_dsn()];
$base = 'suffix-' . getmypid();

// Names taken by hand, in SQL, on a session kept open.
$client = Child::command(test_mysql_client());
$takes = implode(', ', array_map(fn ($suffix) => "GET_LOCK('$base$suffix', 0)", ['#03', '#0', '#1024', '#+1', '#1']));
$client->send("SELECT $takes;");
echo $client->line(), "\n";
$group = new Lock($base . '-group', Lock::MYSQL, $options + ['slots' => 3]);
$group->acquire();

$mine = [];
foreach (exakat_lock_list(Lock::MYSQL, $options) as $listed) {
    if (str_starts_with((string) $listed['name'], $base)) {
        foreach ($listed['holders'] as $holder) {
            $mine[] = $listed['name'] . ' slot ' . $holder['slot'];
        }
    }
}
sort($mine);
echo implode("\n", str_replace($base, 'BASE', $mine)), "\n";

// A Lock named like a slot or a gate of another lock is a lock of its own:
// 'job#1' shared slot 1 of 'job' (a review's find).
$slots = new Lock("$base-job", Lock::MYSQL, $options + ['slots' => 2]);
var_dump($slots->acquire());
foreach (["$base-job#1", "$base-job#gate"] as $name) {
    $lookalike = new Lock($name, Lock::MYSQL, $options);
    var_dump($lookalike->acquire(), $lookalike->holder()['lock_name'] !== $name);
}
var_dump((new Lock("$base-job", Lock::MYSQL, $options + ['slots' => 2]))->acquire(1.0));
?>
--EXPECTF--
1	1	1	1	1
BASE slot 1
BASE#+1 slot 0
BASE#0 slot 0
BASE#03 slot 0
BASE#1024 slot 0
BASE-group slot %d
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
bool(true)
