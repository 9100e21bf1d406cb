<?php
// The extension under valgrind memcheck (USE_ZEND_ALLOC=0, the module kept
// mapped at exit so its frames are attributed to it; both for that process
// only, not for the PHP children a test starts): vg_exercise.php
// (every backend and API), a differential MySQL run that classifies the
// "possibly lost" blocks, and phpt files (a representative subset in quick
// mode, all of them in long mode), each FILE section run in a copy of
// php-tests/ with its INI and ENV sections. Child PHP processes a test
// starts are not under valgrind; forked children are, and are reported apart.

declare(strict_types=1);
require __DIR__ . '/lib.php';

const QUICK_PHPT = ['acquire_timeouts', 'backends_and_auto', 'class_is_final_and_neither_cloneable_nor_serializable',
    'construct_rejects_bad_backends_and_options', 'construct_rejects_bad_names', 'exceptions_hierarchy',
    'functions_keep_locks_for_the_process', 'ini_entries_validate_and_apply', 'pcntl_mysql', 'pcntl_semaphore',
    'phpinfo_shows_settings_without_passwords', 'strict_types_forbid_coercion', 'synchronized_releases_on_exit_and_fatal_error',
    'synchronized_returns_and_releases', 'var_dump_shows_name_backend_and_held'];

/** Errors from valgrind XML files: kind, bytes, whether the extension is on the stack, and a stack signature. */
function valgrind_errors(string $xml): array
{
    $errors = [];
    preg_match_all('~<error>(.*?)</error>~s', $xml, $matches);
    foreach ($matches[1] as $error) {
        preg_match('~<kind>([^<]+)</kind>~', $error, $kind);
        preg_match('~<leakedbytes>(\d+)</leakedbytes>~', $error, $bytes);
        $stack = preg_match('~<stack>(.*?)</stack>~s', $error, $s) ? $s[1] : '';
        preg_match_all('~<frame>(.*?)</frame>~s', $stack, $frames);
        $ips = [];
        $inExtension = false;
        foreach ($frames[1] as $frame) {
            $obj = preg_match('~<obj>([^<]+)</obj>~', $frame, $o) ? $o[1] : '';
            $ip = preg_match('~<ip>([^<]+)</ip>~', $frame, $i) ? $i[1] : '';
            if (str_ends_with($obj, '/exakat_lock.so')) {
                $inExtension = true;
            }
            if (!str_contains($obj, 'vgpreload')) {
                $ips[] = $ip;
            }
        }
        preg_match('~<what>([^<]+)</what>|<text>([^<]+)</text>~', $error, $what);
        $errors[] = ['kind' => $kind[1] ?? '?', 'bytes' => (int) ($bytes[1] ?? 0), 'in_extension' => $inExtension,
            // Where it happened: the allocation site and its callers for leaks, the faulting
            // instruction and two callers for errors (valgrind reports each distinct stack once).
            'signature' => implode(',', array_slice($ips, 0, str_starts_with($kind[1] ?? '', 'Leak') ? 6 : 3)),
            'what' => html_entity_decode($what[1] ?? $what[2] ?? '')];
    }
    return $errors;
}

/** Runs PHP under valgrind; returns [exit code, stdout, main-process errors, forked-children errors, seconds]. */
function under_valgrind(string $dir, string $label, array $phpArgs, array $env = []): array
{
    $xmlDir = "$dir/xml-$label";
    @mkdir($xmlDir, 0700, true);
    // USE_ZEND_ALLOC=0 is for the process under valgrind only: PHP children a test starts
    // must keep PHP's allocator, without which memory_limit is not enforced.
    $prepend = "$dir/forget-valgrind-env.php";
    file_put_contents($prepend, "<?php putenv('USE_ZEND_ALLOC'); putenv('ZEND_DONT_UNLOAD_MODULES');\n");
    $command = array_merge(['valgrind', '--tool=memcheck', '--leak-check=full', '--show-leak-kinds=definite,indirect,possible',
        '--num-callers=40', '--xml=yes', "--xml-file=$xmlDir/%p.xml"], php_cmd(), ['-d', 'pcre.jit=0', '-d', "auto_prepend_file=$prepend"], $phpArgs);
    $started = hrtime(true);
    $p = new Proc($command, $dir, array_merge(getenv(), ['USE_ZEND_ALLOC' => '0', 'ZEND_DONT_UNLOAD_MODULES' => '1'], $env));
    $p->closeStdin();
    $out = '';
    while (($line = $p->line(pick(600.0, 1800.0))) !== null) {
        $out .= "$line\n";
    }
    $end = $p->finish(10.0);
    $main = [];
    $children = [];
    foreach (glob("$xmlDir/*.xml") ?: [] as $file) {
        $xml = (string) file_get_contents($file);
        $isMain = (int) basename($file, '.xml') === $p->pid;
        foreach (valgrind_errors($xml) as $e) {
            if ($isMain) {
                $main[] = $e;
            } else {
                $children[] = $e;
            }
        }
    }
    return [$end['code'] ?? -1, $out . $p->rest(), $main, $children, round((hrtime(true) - $started) / 1e9, 1)];
}

/** The sections of a phpt file. */
function phpt_sections(string $file): array
{
    $sections = [];
    $current = null;
    foreach (file($file) ?: [] as $line) {
        if (preg_match('/^--([A-Z_]+)--\s*$/', $line, $m)) {
            $current = $m[1];
            $sections[$current] = '';
        } elseif ($current !== null) {
            $sections[$current] .= $line;
        }
    }
    return $sections;
}

function expectf_regex(string $expect): string
{
    $regex = preg_quote(trim($expect), '/');
    $regex = strtr($regex, ['%e' => '\\/', '%s' => '[^\r\n]+', '%S' => '[^\r\n]*', '%a' => '.+', '%A' => '.*', '%w' => '\s*',
        '%i' => '[+-]?\d+', '%d' => '\d+', '%x' => '[0-9a-fA-F]+', '%f' => '[+-]?\.?\d+\.?\d*(?:[Ee][+-]?\d+)?', '%c' => '.',
        '%r' => '', '%0' => '\x00']);
    return "/^$regex$/s";
}

section('valgrind', 'Valgrind memcheck', function (Section $s): void {
    $dir = work_dir('valgrind');
    $locks = work_dir('valgrind-locks');
    $dsn = mysql_dsn();
    [$code] = run(['valgrind', '--version']);
    if (!$s->check('valgrind is installed', $code === 0)) {
        return;
    }

    // 1. Classification runs: MySQL with few and with many operations. What
    // they report at the same stack in the same amount, whatever the number
    // of operations, is held for the process's lifetime, not leaked per use.
    // Each connect runs on a thread of its own, and regex's pool keeps one
    // cache per stack of threads (8 stacks), so the set fills over the first
    // connections: with 3 it was still filling (4,440 bytes), with 12, 20,
    // 60 and 200 it is the same (13,224 bytes).
    $mysqlScript = '$n = (int) $argv[1]; for ($i = 0; $i < $n; $i++) { $l = new ExakatLock\Lock("vg-m-$i", "mysql", ["dsn" => $argv[2]]);'
        . ' $l->acquire(); $l->isHeld(); $l->holder(); $l->release(); } echo "done\n";';
    $few = under_valgrind($dir, 'mysql-few', ['-r', $mysqlScript, '12', $dsn]);
    $many = under_valgrind($dir, 'mysql-many', ['-r', $mysqlScript, '60', $dsn]);
    $possibly = fn (array $errors) => array_sum(array_map(fn ($e) => $e['kind'] === 'Leak_PossiblyLost' ? $e['bytes'] : 0, $errors));
    // Which blocks valgrind calls "possibly lost" varies a little between runs: both runs teach.
    $lifetime = [];
    foreach (array_merge($few[2], $many[2]) as $e) {
        if ($e['kind'] === 'Leak_PossiblyLost' || !str_starts_with($e['kind'], 'Leak')) {
            $lifetime[$e['kind'] . '|' . $e['signature']] = $e;
        }
    }
    $constant = $possibly($few[2]) === $possibly($many[2]) && count($few[2]) === count($many[2]);
    $s->check('MySQL: what valgrind reports does not grow from 12 to 60 connections (process-lifetime state, not a leak per use)', $constant,
        sprintf('possibly lost %d → %d bytes, %d → %d reports', $possibly($few[2]), $possibly($many[2]), count($few[2]), count($many[2])));
    $classes = [];
    foreach (array_filter($few[2], fn ($e) => isset($lifetime[$e['kind'] . '|' . $e['signature']])) as $e) {
        $class = $e['kind'] === 'Leak_PossiblyLost'
            ? 'possibly lost, process lifetime: the mysql_common regex caches (regex_automata lazy DFA), one per stack of connect threads'
            : "{$e['kind']} once per process on the first MySQL connection, in the optimised release build only (not with the unoptimised debug build): unconfirmed";
        $classes[$class][] = $e;
    }
    $rows = [];
    foreach ($classes as $class => $list) {
        $rows[] = [$class, count($list), array_sum(array_column($list, 'bytes'))];
    }
    $s->table('Classified valgrind reports (a MySQL run with 12 connections)', ['class', 'reports', 'bytes'], $rows,
        sprintf('With 12 connections: %d reports, %d bytes possibly lost; with 60: %d reports, %d bytes. The extension is stripped, so the regex cache was named with the unoptimised debug build (target/debug), where the same 116+116+416+816-byte blocks are allocated by regex_automata::hybrid::dfa::Lazy::add_state.',
            count($few[2]), $possibly($few[2]), count($many[2]), $possibly($many[2])));

    $runs = [];
    $judge = function (string $label, array $run, ?string $expected = null) use ($s, $lifetime, &$runs): void {
        [$code, $out, $main, $children, $seconds] = $run;
        $bad = [];
        $classified = 0;
        $outside = 0;
        foreach ($main as $e) {
            if (isset($lifetime[$e['kind'] . '|' . $e['signature']])) {
                $classified++;
            } elseif (!$e['in_extension'] && str_starts_with($e['kind'], 'Leak')) {
                $outside++;
                $bad[] = "{$e['kind']} outside the extension: {$e['what']}";
            } else {
                $bad[] = "{$e['kind']}" . ($e['in_extension'] ? ' in the extension' : '') . ": {$e['what']}";
            }
        }
        $childErrors = array_filter($children, fn ($e) => !str_starts_with($e['kind'], 'Leak'));
        $childLeaks = array_sum(array_map(fn ($e) => in_array($e['kind'], ['Leak_DefinitelyLost', 'Leak_IndirectlyLost'], true) ? $e['bytes'] : 0, $children));
        $s->check("$label: no memory error and no unclassified leak under valgrind", $bad === [], implode('; ', array_slice($bad, 0, 5)));
        $s->check("$label: forked children show no memory error", $childErrors === [], implode('; ', array_map(fn ($e) => "{$e['kind']}: {$e['what']}", array_slice($childErrors, 0, 3))));
        $matches = $expected === null ? null : (bool) preg_match($expected, trim(str_replace("\r\n", "\n", $out)));
        $runs[] = [$label, $seconds, count($main) - $classified, $classified, count($childErrors),
            $childLeaks, $matches === null ? '–' : ($matches ? 'yes' : 'no')];
    };
    $judge('vg_exercise.php (every backend and API)', under_valgrind($dir, 'exercise',
        [__DIR__ . '/vg_exercise.php', (string) pick(1, 3), implode(',', backends()), $dsn, $locks]), '/^exercised \d+ backend rounds$/');

    // 2. The phpt files.
    $copy = "$dir/php-tests";
    @mkdir($copy, 0700, true);
    foreach (array_filter(glob(env('STRESS_ROOT') . '/php-tests/*') ?: [], 'is_file') as $file) {
        copy($file, "$copy/" . basename($file));
    }
    $all = array_map(fn ($f) => basename($f, '.phpt'), glob("$copy/*.phpt") ?: []);
    $chosen = long_mode() ? $all : array_values(array_intersect(QUICK_PHPT, $all));
    // The phpt files get the run's own server, which the ones that stop or restart a server may do so with.
    $env = ['EXAKAT_LOCK_TEST_MYSQL_DSN' => env('STRESS_MDB2_DSN', $dsn), 'EXAKAT_LOCK_TEST_MARIADB_DIR' => env('STRESS_MDB2_DIR', '')];
    $skipped = [];
    foreach ($chosen as $test) {
        $sections = phpt_sections("$copy/$test.phpt");
        $testEnv = $env;
        foreach (explode("\n", trim($sections['ENV'] ?? '')) as $line) {
            if (str_contains($line, '=')) {
                [$k, $v] = explode('=', $line, 2);
                $testEnv[trim($k)] = $v;
            }
        }
        if (isset($sections['SKIPIF'])) {
            file_put_contents("$copy/$test.skip.php", $sections['SKIPIF']);
            [, $skip] = run(array_merge(php_cmd(), ["$copy/$test.skip.php"]), 60.0, null, array_merge(getenv(), $testEnv), $copy);
            if (str_starts_with(strtolower(trim($skip)), 'skip')) {
                $skipped[] = "$test (" . trim($skip) . ')';
                continue;
            }
        }
        $args = [];
        foreach (explode("\n", trim($sections['INI'] ?? '')) as $line) {
            if (str_contains($line, '=')) {
                $args[] = '-d';
                $args[] = trim($line);
            }
        }
        file_put_contents("$copy/$test.php", $sections['FILE'] ?? '');
        $expected = isset($sections['EXPECT']) ? '/^' . preg_quote(trim($sections['EXPECT']), '/') . '$/s'
            : (isset($sections['EXPECTF']) ? expectf_regex($sections['EXPECTF']) : null);
        $judge("phpt $test", under_valgrind($dir, "phpt-$test", array_merge($args, ["$copy/$test.php"]), $testEnv), $expected);
        if (isset($sections['CLEAN'])) {
            file_put_contents("$copy/$test.clean.php", $sections['CLEAN']);
            run(array_merge(php_cmd(), ["$copy/$test.clean.php"]), 60.0, null, array_merge(getenv(), $testEnv), $copy);
        }
    }
    foreach ($skipped as $skip) {
        $s->note("skipped: $skip");
    }
    $s->figure('phpt_files', ['run' => count($chosen) - count($skipped), 'of' => count($all), 'skipped' => $skipped]);
    $s->table(sprintf('Valgrind memcheck runs (%d of %d phpt files%s)', count($chosen) - count($skipped), count($all),
        long_mode() ? '' : ', a representative subset; --long runs all'), ['run', 'seconds', 'unclassified reports',
        'classified reports', 'forked children: memory errors', 'forked children: bytes definitely/indirectly lost (by design)',
        'output as expected'], $runs,
        'USE_ZEND_ALLOC=0 ZEND_DONT_UNLOAD_MODULES=1 valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible, PHP with -d pcre.jit=0 (PCRE\'s JIT code reads past its buffers on purpose and drowns memcheck). "Unclassified" counts every memory error and every leak report that is not in the classified table above; it must be 0. Forked children (pcntl_fork() in the test itself) exit without freeing what they inherited: ForkSafe leaks the parent\'s connections and files in a child on purpose (closing them would end the parent\'s MySQL session). "Output as expected" compares with the phpt EXPECT section; timing checks may fail under valgrind\'s slowdown, which is not a memory error.');
});
