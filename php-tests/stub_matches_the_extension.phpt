--TEST--
The stub users get (stubs/exakat_lock.stub.php) declares exactly what the loaded extension has, parameter attributes and class tags included
--EXTENSIONS--
exakat_lock
--FILE--
<?php
require __DIR__ . '/_common.inc';

/** Renders a function or method the way the stub writes it, from reflection only. */
function declaration(ReflectionFunctionAbstract $f): string
{
    $params = [];
    foreach ($f->getParameters() as $p) {
        $param = '';
        foreach ($p->getAttributes() as $attribute) {
            $param .= '#[\\' . $attribute->getName() . '] ';
        }
        $param .= $p->getType() . ' $' . $p->getName();
        if ($p->isOptional()) {
            $default = $p->getDefaultValueConstantName() !== null ? '\\' . $p->getDefaultValueConstantName() : var_export($p->getDefaultValue(), true);
            $param .= ' = ' . str_replace(["array (\n)", '0.0', 'NULL'], ['[]', '0.0', 'null'], $default);
        }
        $params[] = $param;
    }
    $prefix = $f instanceof ReflectionMethod
        ? ($f->isStatic() ? 'public static function ' : 'public function ')
        : 'function ';
    $return = $f->hasReturnType() ? ': ' . $f->getReturnType() : '';
    return $prefix . $f->getName() . '(' . implode(', ', $params) . ')' . $return . ' {}';
}

$extension = new ReflectionExtension('exakat_lock');
$actual = [];
foreach ($extension->getFunctions() as $function) {
    $actual[] = declaration($function);
}
foreach ($extension->getClasses() as $class) {
    $parent = $class->getParentClass();
    $actual[] = ($class->isFinal() ? 'final ' : '') . 'class ' . $class->getShortName()
        . ($parent ? ' extends ' . ($parent->getNamespaceName() === $class->getNamespaceName() ? $parent->getShortName() : '\\' . $parent->getName()) : '');
    foreach ($class->getReflectionConstants() as $constant) {
        $actual[] = 'public const ' . $constant->getName() . ' = ' . var_export($constant->getValue(), true) . ';';
    }
    foreach ($class->getMethods() as $method) {
        if ($method->getDeclaringClass()->getName() === $class->getName()) {
            $actual[] = declaration($method);
        }
    }
}
foreach ($extension->getINIEntries() as $ini => $value) {
    $actual[] = "@ini $ini " . json_encode($value);
}

$stub_file = __DIR__ . '/../stubs/exakat_lock.stub.php';
$stub = file_get_contents($stub_file);
preg_match_all('/^\s*((?:final |public |static )*(?:function|class|const) [^\n]*?(?: \{\}|;|(?=\s*$)))/m', $stub, $lines);
preg_match_all('/^ \* (@ini \S+ "[^"]*")/m', $stub, $inis);
$declared = array_map(fn ($l) => preg_replace('/\s*\{\}$/', ' {}', trim($l)), array_merge($lines[1], $inis[1]));
// Stub classes open a brace on the next line or end in {}; compare their headers alone.
$declared = array_map(fn ($l) => preg_replace('/^((?:final )?class .*?) \{\}$/', '$1', $l), $declared);

sort($actual);
sort($declared);
echo implode("\n", array_diff($actual, $declared)) ?: 'nothing undeclared', "\n";
echo implode("\n", array_diff($declared, $actual)) ?: 'nothing extra in the stub', "\n";
echo count($actual), " declarations\n";

// The same comparison of parameter attributes, but as PHP itself reads the
// stub: a mistyped or unqualified attribute in the stub (which a namespace
// would resolve to ExakatLock\SensitiveParameter) shows here. The stub and
// the extension declare the same names, so each is reflected in a child PHP
// of its own: the stub in one without the extension.
$names = [array_map(fn ($f) => $f->getName(), array_values($extension->getFunctions())), $extension->getClassNames()];
$lister = <<<'LISTER'
    [$functions, $classes] = json_decode($argv[1], true);
    if (isset($argv[2])) {
        require $argv[2];
    }
    $found = [];
    $record = function (ReflectionFunctionAbstract $f, string $prefix) use (&$found): void {
        foreach ($f->getParameters() as $p) {
            $found[$prefix . $f->getName() . '($' . $p->getName() . ')'] =
                implode(' ', array_map(fn ($a) => '#[\\' . $a->getName() . ']', $p->getAttributes()));
        }
    };
    foreach ($functions as $function) {
        $record(new ReflectionFunction($function), '');
    }
    foreach ($classes as $class) {
        foreach ((new ReflectionClass($class))->getMethods() as $method) {
            if ($method->getDeclaringClass()->getName() === $class) {
                $record($method, $class . '::');
            }
        }
    }
    echo json_encode($found);
    LISTER;
$reflect = function (array $command): array {
    $output = shell_exec(implode(' ', array_map('escapeshellarg', $command)));
    return json_decode((string) $output, true, 512, JSON_THROW_ON_ERROR);
};
$from_extension = $reflect(array_merge(test_php_command(), ['-r', $lister, '--', json_encode($names)]));
$from_stub = $reflect([PHP_BINARY, '-n', '-r', $lister, '--', json_encode($names), $stub_file]);
ksort($from_extension);
ksort($from_stub);
$marked = array_filter($from_extension);
echo $from_extension === $from_stub ? 'same parameter attributes' : 'attributes differ: ' . json_encode(array_diff_assoc($from_extension, $from_stub) + array_diff_assoc($from_stub, $from_extension)), "\n";
echo count($from_extension), ' parameters, ', count($marked), ' marked: ', implode(', ', array_keys($marked)), "\n";

// The class tags the stub carries are what the class does.
$lock = new ExakatLock\Lock(basename(__FILE__) . getmypid());
preg_match('~/\*\*((?:(?!\*/).)*)\*/\s*final class Lock~s', $stub, $doc);
try {
    $lock->undeclared = 1;
    $strict = false;
} catch (Error $e) {
    $strict = true;
}
try {
    serialize($lock);
    $serializable = true;
} catch (Exception $e) {
    $serializable = false;
}
echo '@strict-properties: ', var_export(str_contains($doc[1], '@strict-properties') === $strict, true), "\n";
echo '@not-serializable: ', var_export(str_contains($doc[1], '@not-serializable') === !$serializable, true), "\n";
preg_match_all('/^\s*\* (@[a-z-]+)/m', $stub, $tags);
echo 'tags: ', implode(' ', array_unique($tags[1])), "\n";
?>
--EXPECT--
nothing undeclared
nothing extra in the stub
33 declarations
same parameter attributes
20 parameters, 5 marked: ExakatLock\Lock::__construct($options), ExakatLock\Lock::synchronized($options), exakat_lock($options), exakat_lock_holder($options), exakat_lock_list($options)
@strict-properties: true
@not-serializable: true
tags: @ini @strict-properties @not-serializable
