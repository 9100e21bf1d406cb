--TEST--
exakat_lock_list('mysql') reads a '#' suffix as a slot only as slots spell it: 'x#03', 'x#0', 'x#+1' and 'x#1024' are locks of their own ('x#1' reads as slot 1 of 'x': the server's names are one space)
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php
require __DIR__ . '/_common.inc';
if (test_mysql_dsn() === null) die('skip no test server: set EXAKAT_LOCK_TEST_MYSQL_DSN');
?>
--FILE--
<?php
use ExakatLock\Lock;

require __DIR__ . '/_common.inc';
$options = ['dsn' => test_mysql_dsn()];
$base = 'suffix-' . getmypid();

$held = [];
foreach (['#03', '#0', '#1024', '#+1', '#1'] as $suffix) {
    $held[$suffix] = new Lock($base . $suffix, Lock::MYSQL, $options);
    $held[$suffix]->acquire();
}
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
?>
--EXPECTF--
BASE slot 1
BASE#+1 slot 0
BASE#0 slot 0
BASE#03 slot 0
BASE#1024 slot 0
BASE-group slot %d
