--TEST--
Lock::synchronized() resolves its callback once, as call_user_func() does: one deprecation for 'self::m', __call() trampolines, private methods in scope
--EXTENSIONS--
exakat_lock
--SKIPIF--
<?php if (PHP_VERSION_ID < 80200) die('skip "self" in callables is deprecated from PHP 8.2');
--FILE--
<?php
use ExakatLock\Lock;
use ExakatLock\LockTimeoutException;

$name = basename(__FILE__) . getmypid();

$deprecations = [];
set_error_handler(function (int $level, string $message) use (&$deprecations) {
    $deprecations[] = $message;
    return true;
}, E_DEPRECATED);

class Job
{
    public static function step(): string { return 'step'; }
    private function secret(): string { return 'secret'; }
    public function __call(string $method, array $args): string { return "__call($method)"; }
    public static function __callStatic(string $method, array $args): string { return "__callStatic($method)"; }

    public function viaSelf(string $name): array
    {
        return [Lock::synchronized($name, 'self::step'), call_user_func('self::step')];
    }

    public function privateInScope(string $name): string
    {
        return Lock::synchronized($name, [$this, 'secret']);
    }
}

$job = new Job();
var_dump($job->viaSelf($name));
// One deprecation from each call: the check, not every later look.
var_dump(count($deprecations), count(array_unique($deprecations)));
var_dump($job->privateInScope($name));
// Out of scope, a private method is reached through __call(), as with
// call_user_func().
var_dump(call_user_func([$job, 'secret']), Lock::synchronized($name, [$job, 'secret']));
var_dump(Lock::synchronized($name, [$job, 'undeclared']), Lock::synchronized($name, 'Job::undeclaredStatic'));
var_dump(Lock::synchronized($name, Job::step(...)));
var_dump(Lock::synchronized($name, new class { public function __invoke(): string { return 'invoked'; } }));

// A trampoline resolved for a call that never comes (the lock is held
// elsewhere) is freed: a debug PHP reports a leak otherwise.
$holder = new Lock($name);
$holder->acquire();
try {
    Lock::synchronized($name, [$job, 'neverCalled'], 0.01);
} catch (LockTimeoutException $e) {
    echo "timed out\n";
}
$holder->release();
var_dump($deprecations === array_slice($deprecations, 0, 2));
?>
--EXPECT--
array(2) {
  [0]=>
  string(4) "step"
  [1]=>
  string(4) "step"
}
int(2)
int(1)
string(6) "secret"
string(14) "__call(secret)"
string(14) "__call(secret)"
string(18) "__call(undeclared)"
string(30) "__callStatic(undeclaredStatic)"
string(4) "step"
string(7) "invoked"
timed out
bool(true)
