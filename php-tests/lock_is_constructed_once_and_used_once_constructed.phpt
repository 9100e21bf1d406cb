--TEST--
A Lock is constructed once (calling __construct() again is an \Error, and a held lock stays held), and an object whose constructor failed, reached from a __toString() of its argument, throws an \Error from every method and dumps empty
--EXTENSIONS--
exakat_lock
--FILE--
<?php
use ExakatLock\Lock;

$name = 'constructed-' . getmypid();
$lock = new Lock($name, Lock::FLOCK);
var_dump($lock->acquire());
try {
    $lock->__construct("$name-other", Lock::FLOCK);
} catch (Error $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
// Before: the second call released the lock, and the object named another.
var_dump($lock->isHeld(), $lock->name() === $name, (new Lock($name, Lock::FLOCK))->acquire());

class TakesThis
{
    public static ?Lock $lock = null;

    public function __toString(): string
    {
        foreach (debug_backtrace(DEBUG_BACKTRACE_PROVIDE_OBJECT) as $frame) {
            if (($frame['object'] ?? null) instanceof Lock) {
                self::$lock = $frame['object'];
            }
        }
        return 'taken';
    }
}
try {
    new Lock(new TakesThis(), 'no-such-backend');
} catch (ValueError $e) {
    echo "the constructor failed\n";
}
$unmade = TakesThis::$lock;
foreach (['acquire', 'acquireShared', 'release', 'isHeld', 'isShared', 'slot', 'holder', 'holders', 'name', 'backend'] as $method) {
    try {
        var_dump($unmade->$method());
    } catch (Error $e) {
        echo get_class($e), ': ', $e->getMessage(), "\n";
    }
}
var_dump($unmade);

// Nor from within its own constructor (before it has set anything): the
// inner call's lock was replaced by the outer one's, unsaid.
class ConstructsThis
{
    public function __toString(): string
    {
        foreach (debug_backtrace(DEBUG_BACKTRACE_PROVIDE_OBJECT) as $frame) {
            if (($frame['object'] ?? null) instanceof Lock) {
                $frame['object']->__construct('constructed-inner-' . getmypid(), Lock::FLOCK);
            }
        }
        return 'constructed-outer-' . getmypid();
    }
}
try {
    new Lock(new ConstructsThis(), Lock::FLOCK);
} catch (Error $e) {
    echo get_class($e), ': ', $e->getMessage(), "\n";
}
var_dump((new Lock('constructed-after-' . getmypid(), Lock::FLOCK))->acquire());
?>
--EXPECTF--
bool(true)
Error: ExakatLock\Lock::__construct(): the object is constructed already: a Lock names one lock for its life; make a new Lock
bool(true)
bool(true)
bool(false)
the constructor failed
Error: ExakatLock\Lock::acquire(): the object has not been correctly initialized by its constructor
Error: ExakatLock\Lock::acquireShared(): the object has not been correctly initialized by its constructor
Error: ExakatLock\Lock::release(): the object has not been correctly initialized by its constructor
Error: ExakatLock\Lock::isHeld(): the object has not been correctly initialized by its constructor
Error: ExakatLock\Lock::isShared(): the object has not been correctly initialized by its constructor
Error: ExakatLock\Lock::slot(): the object has not been correctly initialized by its constructor
Error: ExakatLock\Lock::holder(): the object has not been correctly initialized by its constructor
Error: ExakatLock\Lock::holders(): the object has not been correctly initialized by its constructor
Error: ExakatLock\Lock::name(): the object has not been correctly initialized by its constructor
Error: ExakatLock\Lock::backend(): the object has not been correctly initialized by its constructor
object(ExakatLock\Lock)#%d (0) {
}
Error: ExakatLock\Lock::__construct(): the object is being constructed: a Lock names one lock for its life; make a new Lock
bool(true)
