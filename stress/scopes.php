<?php
// Container scopes: which backends exclude across which namespace
// boundaries, measured. For each backend and boundary, a holder in the
// host's namespaces takes the lock and a prober in new namespaces
// (unshare) tries it; then the other way round. "excludes" means the lock
// held on one side could not be taken on the other, in both directions.
//
// The boundaries are what Docker gives a container: --ipc, --net (with its
// loopback up), --mount (with a private tmpfs on /tmp, a container's own
// /tmp; the run's directory under /var/tmp stays shared, like a volume),
// --pid (with its own /proc), --uts, and all of them at once.

declare(strict_types=1);
require __DIR__ . '/lib.php';

const BOUNDARIES = [
    'ipc' => '--ipc',
    'net' => '--net',
    'mount' => '--mount',
    'pid' => '--pid',
    'uts' => '--uts',
    'container' => 'all five',
];

/** $command run in new namespaces across $boundary; over the veth pair's namespace when $veth. */
function across(string $boundary, array $command, bool $veth): array
{
    $prepare = [];
    $flags = [];
    switch ($boundary) {
        case 'ipc':
            $flags = ['--ipc'];
            break;
        case 'net':
            $flags = $veth ? [] : ['--net'];
            $prepare[] = 'ip link set lo up';
            break;
        case 'mount':
            $flags = ['--mount'];
            $prepare[] = 'mount -t tmpfs tmpfs /tmp';
            break;
        case 'pid':
            $flags = ['--pid', '--fork', '--mount-proc'];
            break;
        case 'uts':
            $flags = ['--uts'];
            $prepare[] = 'hostname exakat-stress-container';
            break;
        case 'container':
            $flags = array_merge(['--ipc', '--mount', '--pid', '--fork', '--mount-proc', '--uts'], $veth ? [] : ['--net']);
            $prepare = ['ip link set lo up', 'mount -t tmpfs tmpfs /tmp', 'hostname exakat-stress-container'];
            break;
    }
    $script = implode(' && ', array_merge($prepare, ['exec "$@"']));
    $inner = array_merge($flags === [] ? [] : array_merge(['unshare'], $flags), ['sh', '-c', $script, 'sh'], $command);
    return $veth && in_array($boundary, ['net', 'container'], true)
        ? array_merge(['ip', 'netns', 'exec', env('STRESS_NETNS')], $inner) : $inner;
}

/** One direction: a holder on one side, a prober on the other. */
function one_way(array $config, bool $holderInside, string $boundary, bool $veth): array
{
    // From the staged copy: --mount hides a checkout under /tmp.
    $hold = php_script('hold.php', $config, stage());
    $probe = php_script('probe.php', $config, stage());
    $holder = new Proc($holderInside ? across($boundary, $hold, $veth) : $hold);
    $held = $holder->line(20.0);
    if ($held === null || !str_starts_with($held, 'held')) {
        $holder->finish(2.0);
        return ['result' => 'error', 'detail' => 'holder: ' . ($held ?? trim($holder->stderr()))];
    }
    [, $out, $err] = run($holderInside ? $probe : across($boundary, $probe, $veth), 30.0);
    $holder->send('done');
    $holder->finish(5.0);
    $p = json_decode(trim($out), true);
    if (!is_array($p)) {
        return ['result' => 'error', 'detail' => 'prober: ' . trim($out . ' ' . $err)];
    }
    if ($p['error'] !== null) {
        return ['result' => 'error', 'detail' => $p['error']];
    }
    return ['result' => $p['taken'] ? 'taken' : 'busy', 'holder_pid_seen' => $p['holder']['pid'] ?? null,
        'holder_host_seen' => $p['holder']['host'] ?? null];
}

section('scopes', 'Container scopes (namespaces)', function (Section $s): void {
    $variants = [];
    foreach (backends() as $backend) {
        if ($backend === 'flock') {
            $variants['flock, shared directory'] = ['flock', fn () => ['dir' => work_dir('locks')], false];
            $variants['flock, default directory (/tmp)'] = ['flock', fn () => [], false];
        } elseif ($backend === 'mysql') {
            $variants['mysql, server at 127.0.0.1'] = ['mysql', fn () => ['dsn' => mysql_dsn(), 'connect_timeout' => 2], false];
            if (getenv('STRESS_NETNS')) {
                $variants['mysql, server over a veth pair'] = ['mysql', fn () => ['dsn' => env('STRESS_MDB2_VETH_DSN'), 'connect_timeout' => 2], true];
            } else {
                $s->check('the network namespace with a veth pair to the second server is set up', false, 'STRESS_NETNS is not set');
            }
        } else {
            $variants[$backend] = [$backend, fn () => backend_options($backend), false];
        }
    }
    $rows = [];
    $expect = [ // what API.md's backend table promises: who is excluded
        'socket' => ['net' => false, 'container' => false],
        'tcp' => ['net' => false, 'container' => false],
        'semaphore' => ['ipc' => false, 'container' => false],
        'flock, shared directory' => [],
        'flock, default directory (/tmp)' => ['mount' => false, 'container' => false],
        'mysql, server over a veth pair' => [],
    ];
    foreach ($variants as $label => [$backend, $options, $veth]) {
        $row = [$label];
        foreach (BOUNDARIES as $boundary => $flag) {
            $config = ['name' => lock_name("scope-$boundary-" . md5($label)), 'backend' => $backend, 'options' => $options(),
                'timeout' => 0.0];
            $out = one_way($config, false, $boundary, $veth);
            $in = one_way($config, true, $boundary, $veth);
            $results = [$out['result'], $in['result']];
            if ($results === ['busy', 'busy']) {
                $cell = 'yes';
                $excludes = true;
            } elseif ($results === ['taken', 'taken']) {
                $cell = 'no';
                $excludes = false;
            } elseif (in_array('error', $results, true)) {
                $detail = $out['result'] === 'error' ? $out['detail'] : $in['detail'];
                $cell = 'unreachable';
                if (str_contains($detail, 'onnection refused') || str_contains($detail, 'Network is unreachable')) {
                    $cell .= ' (connection refused)';
                }
                $excludes = null;
                $s->note("$label across $boundary: " . $detail);
            } else {
                $cell = "one way only (host→ns {$out['result']}, ns→host {$in['result']})";
                $excludes = null;
            }
            if ($excludes !== null && $out['holder_pid_seen'] === null && $results[0] === 'busy') {
                $cell .= ', holder pid hidden';
            }
            $s->figure("$label/$boundary", ['host_holds_ns_probes' => $out, 'ns_holds_host_probes' => $in]);
            if (array_key_exists($label, $expect)) {
                $promised = $expect[$label][$boundary] ?? true;
                $s->check("$label across $boundary: " . ($promised ? 'excludes' : 'does not exclude') . ' as API.md says',
                    $excludes === $promised, $cell);
            } elseif ($label === 'mysql, server at 127.0.0.1') {
                $reachable = !in_array($boundary, ['net', 'container'], true);
                $s->check("$label across $boundary: " . ($reachable ? 'excludes' : 'the server is unreachable'),
                    $reachable ? $excludes === true : $excludes === null, $cell);
            }
            $row[] = $cell;
        }
        $rows[] = $row;
    }
    $header = ['backend'];
    foreach (BOUNDARIES as $boundary => $flag) {
        $header[] = $boundary === 'container' ? 'all (container)' : "unshare $flag";
    }
    $s->table('Does a lock held on one side exclude the other side? (measured both ways)', $header, $rows,
        '"yes": held on the host it could not be taken in the new namespaces, and the other way round. --net brings the new loopback up; --mount mounts a private tmpfs on /tmp (the run\'s shared directory is under /var/tmp, like a volume); --pid comes with --fork --mount-proc; "all" is --ipc --net --mount --pid --uts together. "mysql, server over a veth pair": a second throwaway MariaDB listening on 127.0.0.1 and on the host end of a veth pair; the --net and "all" probes run in a network namespace (ip netns) holding the other end, and both sides use the veth address. "holder pid hidden": holder() seen from the other side could not tell the pid.');
});
