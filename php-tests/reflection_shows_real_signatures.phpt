--TEST--
Reflection shows real parameter names, types and defaults (what php --re exakat_lock prints)
--EXTENSIONS--
exakat_lock
--FILE--
<?php
echo new ReflectionMethod('ExakatLock\Lock', '__construct');
echo new ReflectionMethod('ExakatLock\Lock', 'acquire');
echo new ReflectionFunction('exakat_lock');
?>
--EXPECT--
Method [ <internal:exakat_lock, ctor> public method __construct ] {

  - Parameters [3] {
    Parameter #0 [ <required> string $name ]
    Parameter #1 [ <optional> string $backend = ExakatLock\Lock::AUTO ]
    Parameter #2 [ <optional> array $options = [] ]
  }
}
Method [ <internal:exakat_lock> public method acquire ] {

  - Parameters [1] {
    Parameter #0 [ <optional> float $timeout = 0.0 ]
  }
  - Return [ bool ]
}
Function [ <internal:exakat_lock> function exakat_lock ] {

  - Parameters [4] {
    Parameter #0 [ <required> string $name ]
    Parameter #1 [ <optional> float $timeout = 0.0 ]
    Parameter #2 [ <optional> string $backend = 'auto' ]
    Parameter #3 [ <optional> array $options = [] ]
  }
  - Return [ bool ]
}
