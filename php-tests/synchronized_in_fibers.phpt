--TEST--
Lock::synchronized() inside Fibers: it works there, and a fatal error outside a suspended Fiber neither frees that Fiber's lock nor crashes PHP when the Fiber resumes
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_common.inc';

use ExakatLock\Lock;

$name = test_lock_name(__FILE__);

// A Fiber runs on a stack of its own: the stack-size check of PHP 8.1 and
// 8.2 builds must not take it for the end of the thread's stack.
$fiber = new Fiber(fn () => Lock::synchronized("$name-plain", fn () => 'inside a Fiber', 0, 'socket'));
$fiber->start();
var_dump($fiber->getReturn());

// Two Fibers interleave their critical sections.
$log = [];
$fibers = [];
foreach (['a', 'b'] as $who) {
    $fibers[$who] = new Fiber(function () use ($who, $name, &$log) {
        return Lock::synchronized("$name-$who", function () use ($who, &$log) {
            $log[] = "$who in";
            Fiber::suspend();
            $log[] = "$who out";
            return $who;
        }, 0, 'socket');
    });
    $fibers[$who]->start();
}
$fibers['a']->resume();
$fibers['b']->resume();
echo implode(', ', $log), "; returned ", $fibers['a']->getReturn(), $fibers['b']->getReturn(), "\n";

// Calls that end early (the time ran out) leave nothing behind: a server
// of Fibers lives for one request, and gathered a lock and its descriptors
// per call.
$holder = Child::withLock("$name-busy", 'flock', [], 'var_dump($lock->acquire(0)); fgets(STDIN);');
echo $holder->line(), "\n";
$descriptors = fn () => count(scandir('/proc/self/fd'));
$fiber = new Fiber(function () use ($name, $descriptors) {
    // The first flock lock of a process opens its watcher (three
    // descriptors, kept until the process ends).
    try {
        Lock::synchronized("$name-busy", fn () => null, 0, 'flock');
    } catch (ExakatLock\LockTimeoutException $e) {
    }
    $before = $descriptors();
    for ($i = 0; $i < 50; $i++) {
        try {
            Lock::synchronized("$name-busy", fn () => null, 0, 'flock');
        } catch (ExakatLock\LockTimeoutException $e) {
        }
    }
    return $descriptors() - $before;
});
$fiber->start();
echo 'descriptors gathered by 50 timed-out calls in a Fiber: ', $fiber->getReturn(), "\n";
$holder->endInput();
$holder->wait();

// A fatal error in the main code while a Fiber is suspended inside its
// synchronized() callback. The main code's own lock goes with the error;
// the Fiber's stays held until the Fiber, resumed by a shutdown function,
// leaves its callback. An outside process checks at each step.
foreach (['flock', 'semaphore', 'socket', 'tcp'] as $backend) {
    // Two locks: for tcp, two ports.
    [$fiberOptions, $mainOptions] = [var_export(test_options($backend), true), var_export(test_options($backend), true)];
    $child = new Child(sprintf('
        use ExakatLock\Lock;
        function held(string $name, string $backend, array $options): string {
            $probe = new Lock($name, $backend, $options);
            if (!$probe->acquire(0)) {
                return "held";
            }
            $probe->release();
            return "free";
        }
        $fiber = new Fiber(function () {
            Lock::synchronized(%1$s, function () {
                Fiber::suspend();
                echo "the Fiber goes on\n";
            }, 0, %3$s, %4$s);
            echo "the Fiber left synchronized()\n";
        });
        register_shutdown_function(function () use ($fiber) {
            echo "at shutdown the Fiber\'s lock is ", held(%1$s, %3$s, %4$s), ", the main lock ", held(%2$s, %3$s, %5$s), "\n";
            $fiber->resume();
            echo "after the Fiber the Fiber\'s lock is ", held(%1$s, %3$s, %4$s), "\n";
        });
        Lock::synchronized(%2$s, function () use ($fiber) {
            $fiber->start();
            trigger_error("a fatal error", E_USER_ERROR);
        }, 0, %3$s, %5$s);',
        var_export("$name-fiber-$backend", true), var_export("$name-main-$backend", true),
        var_export($backend, true), $fiberOptions, $mainOptions));
    echo "$backend:\n";
    for ($i = 0; $i < 4; $i++) {
        echo '  ', $child->line(), "\n";
    }
    echo '  exit code ', $child->wait(), "\n";
}
?>
--EXPECT--
string(14) "inside a Fiber"
a in, b in, a out, b out; returned ab
bool(true)
descriptors gathered by 50 timed-out calls in a Fiber: 0
flock:
  at shutdown the Fiber's lock is held, the main lock free
  the Fiber goes on
  the Fiber left synchronized()
  after the Fiber the Fiber's lock is free
  exit code 255
semaphore:
  at shutdown the Fiber's lock is held, the main lock free
  the Fiber goes on
  the Fiber left synchronized()
  after the Fiber the Fiber's lock is free
  exit code 255
socket:
  at shutdown the Fiber's lock is held, the main lock free
  the Fiber goes on
  the Fiber left synchronized()
  after the Fiber the Fiber's lock is free
  exit code 255
tcp:
  at shutdown the Fiber's lock is held, the main lock free
  the Fiber goes on
  the Fiber left synchronized()
  after the Fiber the Fiber's lock is free
  exit code 255
