--TEST--
The committed stub (ext/exakat_lock.stub.php) declares exactly what the loaded extension has
--EXTENSIONS--
exakat_lock
--FILE--
<?php
/** Renders a function or method the way the stub writes it, from reflection only. */
function declaration(ReflectionFunctionAbstract $f): string
{
    $params = [];
    foreach ($f->getParameters() as $p) {
        $param = $p->getType() . ' $' . $p->getName();
        if ($p->isOptional()) {
            $default = $p->getDefaultValueConstantName() !== null ? '\\' . $p->getDefaultValueConstantName() : var_export($p->getDefaultValue(), true);
            $param .= ' = ' . str_replace(["array (\n)", '0.0'], ['[]', '0.0'], $default);
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

$stub = file_get_contents(__DIR__ . '/../ext/exakat_lock.stub.php');
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
?>
--EXPECT--
nothing undeclared
nothing extra in the stub
28 declarations
