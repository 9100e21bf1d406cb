--TEST--
exakat_lock_list() with no file descriptor left throws a LockException on every local backend, never an empty list that reads as "nothing held"
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_common.inc';

$dir = test_temp_dir(__FILE__);
// Uses up its descriptors (a limit of 64), then lists each backend.
$code = sprintf('
    $hoard = [];
    while (($file = @fopen("/dev/null", "r")) !== false) {
        $hoard[] = $file;
    }
    foreach (["socket", "tcp", "semaphore", "flock"] as $backend) {
        foreach ([[], ["dir" => %s]] as $options) {
            if ($options !== [] && $backend !== "flock") {
                continue;
            }
            try {
                $listed = exakat_lock_list($backend, $options);
                echo $backend, ": ", count($listed), " listed\n";
            } catch (ExakatLock\LockException $e) {
                echo $backend, ": ", str_contains($e->getMessage(), "Too many open files") ? "LockException, no descriptor left" : $e->getMessage(), "\n";
            }
        }
    }', var_export($dir, true));
$child = Child::command(array_merge(['sh', '-c', 'ulimit -n 64 && exec "$@"', 'sh'], test_php_command(), ['-r', $code]));
for ($i = 0; $i < 5; $i++) {
    echo $child->line(), "\n";
}
echo "exit code: ", $child->wait(), "\n";
test_remove_tree($dir);
?>
--EXPECT--
socket: LockException, no descriptor left
tcp: LockException, no descriptor left
semaphore: LockException, no descriptor left
flock: LockException, no descriptor left
flock: LockException, no descriptor left
exit code: 0
