--TEST--
flock lock names, whatever their bytes, map to files directly in the lock directory, the same file in every process
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

// The lock directory sits two levels down in a tree of our own, so that a
// name escaping it with ".." would land somewhere we look.
$base = test_temp_dir(__FILE__);
$dir = "$base/a/locks";
mkdir($dir, 0700, true);
$unique = '-' . getmypid();
$names = [
    '../../etc/passwd',
    '../../../../../../../../etc/passwd' . $unique,
    '../escaped' . $unique,
    '..',
    '.',
    '/',
    '/etc/passwd',
    'a/b',
    'a/../../b' . $unique,
    'trailing/',
    "\xff\xfe\x80binary\x01\x7f" . $unique,
    "line\nbreak\ttab\rreturn",
    '$(touch pwned); `touch pwned2` | rm -rf * && echo "x" > y; ~/*?[a]{b}' . $unique,
    "'single' \"double\" \\back\\slash",
    '-rf',
    '*',
    ' ',
    str_repeat('../', 85),
    str_repeat("\xe9", 255),
];

/** Every file and directory under $root, as paths relative to it. */
function tree(string $root, string $prefix = ''): array
{
    $found = [];
    foreach (scandir("$root/$prefix") as $entry) {
        if ($entry === '.' || $entry === '..') {
            continue;
        }
        $path = ltrim("$prefix/$entry", '/');
        $found[] = $path;
        if (is_dir("$root/$path") && !is_link("$root/$path")) {
            $found = array_merge($found, tree($root, $path));
        }
    }
    return $found;
}

$passwd = [filesize('/etc/passwd'), filemtime('/etc/passwd'), md5_file('/etc/passwd')];
$locks = [];
$files = [];
foreach ($names as $i => $name) {
    $before = tree($base);
    $lock = new Lock($name, Lock::FLOCK, ['dir' => $dir]);
    $taken = $lock->acquire();
    $new = array_values(array_diff(tree($base), $before));
    $file = $new[0] ?? '';
    $ok = $taken && count($new) === 1 && dirname($file) === 'a/locks' && filetype("$base/$file") === 'file';
    check("name #$i is locked in one new regular file directly in the lock directory", $ok, var_export([$name, $taken, $new], true));
    $holder = $lock->holder();
    check("name #$i: holder() names that file and this process", ($holder['path'] ?? null) === "$base/$file" && $holder['pid'] === getmypid(), var_export($holder, true));
    $locks[$i] = $lock;
    $files[$i] = $file;
}
check('distinct names got distinct files', count(array_unique($files)) === count($names));
check('nothing was created anywhere else in the tree', count(tree($base)) === 2 + count($names));
$outside = ["/etc/passwd$unique", "/escaped$unique", "/b$unique", dirname($base) . "/escaped$unique", dirname($base) . "/b$unique"];
check('nothing appeared where an escaping name would have led', array_filter($outside, 'file_exists') === []);
clearstatcache();
check('/etc/passwd is untouched', $passwd === [filesize('/etc/passwd'), filemtime('/etc/passwd'), md5_file('/etc/passwd')]);
check('no shell ran any part of a name', !file_exists('pwned') && !file_exists('pwned2') && !file_exists("$dir/pwned"));

// Deterministic: another process maps each name to the same file, so it
// cannot take any of them while we hold them, and names that file.
$child = new Child('
    $names = unserialize(base64_decode(' . var_export(base64_encode(serialize($names)), true) . '));
    foreach ($names as $i => $name) {
        $lock = new ExakatLock\Lock($name, "flock", ["dir" => ' . var_export($dir, true) . ']);
        echo $i, " ", $lock->acquire() ? "taken" : "busy", " ", $lock->holder()["path"] ?? "", "\n";
    }');
$answers = [];
foreach ($names as $i => $name) {
    $answers[] = $child->line();
}
$expected = array_map(fn ($i) => "$i busy $base/{$files[$i]}", array_keys($names));
check('another process maps every name to the same file, and cannot take it', $answers === $expected, var_export(array_diff($answers, $expected), true));
check('the other process ends cleanly', $child->wait() === 0);

// A second object in this process, for the same name, uses the same file too.
$before = tree($base);
$twin = new Lock($names[0], Lock::FLOCK, ['dir' => $dir]);
check('a second object for a name cannot take it, and creates no file', $twin->acquire() === false && tree($base) === $before);
$locks[0]->release();
check('and takes it once released', $twin->acquire() === true);
?>
--EXPECT--
ok name #0 is locked in one new regular file directly in the lock directory
ok name #0: holder() names that file and this process
ok name #1 is locked in one new regular file directly in the lock directory
ok name #1: holder() names that file and this process
ok name #2 is locked in one new regular file directly in the lock directory
ok name #2: holder() names that file and this process
ok name #3 is locked in one new regular file directly in the lock directory
ok name #3: holder() names that file and this process
ok name #4 is locked in one new regular file directly in the lock directory
ok name #4: holder() names that file and this process
ok name #5 is locked in one new regular file directly in the lock directory
ok name #5: holder() names that file and this process
ok name #6 is locked in one new regular file directly in the lock directory
ok name #6: holder() names that file and this process
ok name #7 is locked in one new regular file directly in the lock directory
ok name #7: holder() names that file and this process
ok name #8 is locked in one new regular file directly in the lock directory
ok name #8: holder() names that file and this process
ok name #9 is locked in one new regular file directly in the lock directory
ok name #9: holder() names that file and this process
ok name #10 is locked in one new regular file directly in the lock directory
ok name #10: holder() names that file and this process
ok name #11 is locked in one new regular file directly in the lock directory
ok name #11: holder() names that file and this process
ok name #12 is locked in one new regular file directly in the lock directory
ok name #12: holder() names that file and this process
ok name #13 is locked in one new regular file directly in the lock directory
ok name #13: holder() names that file and this process
ok name #14 is locked in one new regular file directly in the lock directory
ok name #14: holder() names that file and this process
ok name #15 is locked in one new regular file directly in the lock directory
ok name #15: holder() names that file and this process
ok name #16 is locked in one new regular file directly in the lock directory
ok name #16: holder() names that file and this process
ok name #17 is locked in one new regular file directly in the lock directory
ok name #17: holder() names that file and this process
ok name #18 is locked in one new regular file directly in the lock directory
ok name #18: holder() names that file and this process
ok distinct names got distinct files
ok nothing was created anywhere else in the tree
ok nothing appeared where an escaping name would have led
ok /etc/passwd is untouched
ok no shell ran any part of a name
ok another process maps every name to the same file, and cannot take it
ok the other process ends cleanly
ok a second object for a name cannot take it, and creates no file
ok and takes it once released
