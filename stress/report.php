<?php
// Merges the sections' result files into stress/results/latest.{json,md}
// (and <mode>.{json,md}), prints the summary, and exits 1 when any property
// was violated.

declare(strict_types=1);
require __DIR__ . '/lib.php';

$order = ['mutex', 'crash', 'slots', 'matrix', 'scopes', 'leaks', 'fuzz', 'security', 'hostile', 'mysql_faults', 'valgrind'];
$sections = [];
foreach ($order as $name) {
    $file = work_dir('results') . "/$name.json";
    if (is_file($file)) {
        $sections[] = json_decode((string) file_get_contents($file), true);
    }
}

$mode = env('STRESS_MODE', 'quick');
$mariadb = trim((string) shell_exec('mariadbd --version 2>/dev/null'));
$report = [
    'mode' => $mode,
    'finished' => date('c'),
    'seconds' => (int) ($argv[1] ?? 0),
    'machine' => ['kernel' => php_uname('r'), 'cpus' => (int) trim((string) shell_exec('nproc')), 'php' => PHP_VERSION,
        'mariadb' => preg_replace('/^.*Ver\s+/', '', $mariadb), 'extension' => phpversion('exakat_lock'),
        'extension_sha256' => substr((string) hash_file('sha256', env('STRESS_EXT_DIR') . '/exakat_lock.so'), 0, 16),
        'commit' => trim((string) shell_exec('git -C ' . escapeshellarg(dirname(__DIR__)) . ' rev-parse --short HEAD 2>/dev/null'))],
    'summary' => ['checks' => 0, 'violations' => 0, 'known_bugs' => 0],
    'sections' => $sections,
];
$shaNow = substr((string) hash_file('sha256', env('STRESS_EXT_DIR') . '/exakat_lock.so'), 0, 16);
if (env('STRESS_EXT_SHA_START', $shaNow) !== $shaNow) {
    $sections[] = ['section' => 'build', 'title' => 'The build under test', 'mode' => $mode, 'figures' => [], 'tables' => [],
        'violations' => ['build/exakat_lock.so changed during the run (sha256 ' . env('STRESS_EXT_SHA_START') . "… at the start, {$shaNow}… at the end): its figures mix two builds"],
        'known_bugs' => [], 'notes' => [], 'checks' => 1, 'seconds' => 0];
    $report['sections'] = $sections;
}
$knownIds = [];
foreach ($sections as $s) {
    $report['summary']['checks'] += $s['checks'];
    $report['summary']['violations'] += count($s['violations']);
    foreach ($s['known_bugs'] as $bug) {
        $knownIds[$bug['id']] = true;
    }
}
$report['summary']['known_bugs'] = count($knownIds);

$cell = fn ($v) => str_replace(['|', "\n"], ['\\|', ' '], is_bool($v) ? ($v ? 'yes' : 'no') : (string) ($v ?? '–'));
$md = "# exakat_lock stress results ($mode mode)\n\n";
$md .= sprintf("%s, Linux %s, %d CPUs, PHP %s, %s, exakat_lock %s (build/exakat_lock.so sha256 %s…, commit %s); the run took %d s.\n\n",
    $report['finished'], $report['machine']['kernel'], $report['machine']['cpus'], $report['machine']['php'], $report['machine']['mariadb'],
    $report['machine']['extension'] ?: '?', $report['machine']['extension_sha256'], $report['machine']['commit'] ?: '?', $report['seconds']);
$md .= sprintf("**%d checks, %d violations, %d known product bugs reproduced.** Produced by `stress/run.sh%s`.\n\n",
    $report['summary']['checks'], $report['summary']['violations'], $report['summary']['known_bugs'], $mode === 'long' ? ' --long' : '');
$md .= "| section | checks | violations | known-bug checks | seconds |\n|---|---|---|---|---|\n";
foreach ($sections as $s) {
    $md .= "| {$cell($s['title'])} | {$s['checks']} | " . count($s['violations']) . ' | ' . count($s['known_bugs']) . " | {$s['seconds']} |\n";
}
$known = [];
foreach ($sections as $s) {
    foreach ($s['known_bugs'] as $bug) {
        $known[$bug['id']][] = $bug['property'] . ($bug['detail'] === '' ? '' : " ({$bug['detail']})");
    }
}
if ($known !== []) {
    $md .= "\n## Known product bugs reproduced\n\n";
    foreach ($known as $id => $what) {
        $md .= "- **$id**: " . implode('; ', array_unique($what)) . "\n";
    }
}
foreach ($sections as $s) {
    $md .= "\n## {$s['title']}\n";
    foreach ($s['tables'] as $t) {
        $md .= "\n### {$t['title']}\n\n";
        $md .= '| ' . implode(' | ', array_map($cell, $t['header'])) . " |\n";
        $md .= '|' . str_repeat('---|', count($t['header'])) . "\n";
        foreach ($t['rows'] as $row) {
            $md .= '| ' . implode(' | ', array_map($cell, $row)) . " |\n";
        }
        if ($t['caption'] !== '') {
            $md .= "\n{$t['caption']}\n";
        }
    }
    if ($s['notes'] !== []) {
        $md .= "\nNotes:\n\n";
        foreach ($s['notes'] as $note) {
            $md .= '- ' . str_replace("\n", ' ', $note) . "\n";
        }
    }
    if ($s['violations'] !== []) {
        $md .= "\n**Violations:**\n\n";
        foreach ($s['violations'] as $v) {
            $md .= '- ' . str_replace("\n", ' ', $v) . "\n";
        }
    }
}

$dir = __DIR__ . '/results';
if (!is_dir($dir)) {
    mkdir($dir, 0755, true);
}
$json = json_encode($report, JSON_PRETTY_PRINT | JSON_INVALID_UTF8_SUBSTITUTE | JSON_PRESERVE_ZERO_FRACTION | JSON_UNESCAPED_SLASHES);
// A run of some sections only (--only) must not replace the figures of a full run.
foreach (env('STRESS_ONLY', '') === '' ? ['latest', $mode] : ['partial'] as $base) {
    file_put_contents("$dir/$base.json", $json . "\n");
    file_put_contents("$dir/$base.md", $md);
}

echo "\n== Summary ($mode mode, {$report['seconds']} s)\n";
foreach ($sections as $s) {
    printf("   %-14s %4d checks  %3d violations  %2d known-bug checks  %6.1f s\n", $s['section'], $s['checks'],
        count($s['violations']), count($s['known_bugs']), $s['seconds']);
    foreach ($s['violations'] as $v) {
        echo "      VIOLATION: $v\n";
    }
}
foreach ($known as $id => $what) {
    echo "   known product bug reproduced: $id\n";
}
printf("   %d checks, %d violations, %d known bugs; results in %s/%s.{json,md}\n", $report['summary']['checks'],
    $report['summary']['violations'], $report['summary']['known_bugs'], $dir, env('STRESS_ONLY', '') === '' ? 'latest' : 'partial');
exit($report['summary']['violations'] === 0 && count($sections) > 0 ? 0 : 1);
