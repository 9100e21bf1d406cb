<?php
// MySQL faults on a real server (the run's second throwaway MariaDB):
//  1. the server restarts while a lock is held and others wait;
//  2. a holder is cut off the network (its network namespace's veth link
//     goes down) while hosts on the other side wait: what they see, what
//     the holder believes, and how isHeld() tells it the truth;
//  3. the same with a server that ends idle sessions (wait_timeout = 8 s):
//     exakat_lock's sessions set their own wait_timeout, so the silent
//     holder keeps its lock through the cut and after it.

declare(strict_types=1);
require __DIR__ . '/lib.php';

use ExakatLock\Lock;

function root_sql(string $sql): string
{
    [$code, $out, $err] = run(['mariadb', '--no-defaults', '--batch', '--skip-column-names',
        '--socket=' . env('STRESS_MDB2_DIR') . '/mysqld.sock', '-uroot', '-e', $sql]);
    if ($code !== 0) {
        throw new RuntimeException("root SQL failed: $sql: $err");
    }
    return trim($out);
}

function link_up(bool $up): void
{
    [$code, , $err] = run(['ip', 'link', 'set', env('STRESS_VETH_HOST'), $up ? 'up' : 'down']);
    if ($code !== 0) {
        throw new RuntimeException("ip link set: $err");
    }
}

function in_netns(array $command): array
{
    return array_merge(['ip', 'netns', 'exec', env('STRESS_NETNS')], $command);
}

/** Collects JSON events from labelled processes for $seconds, calling $tick about every 250 ms. */
final class Timeline
{
    public array $events = [];
    /** @var array<string, Proc> */
    public array $procs = [];
    public float $zero;

    public function __construct()
    {
        $this->zero = hrtime(true) / 1e9;
    }

    public function add(string $label, Proc $proc): void
    {
        $this->procs[$label] = $proc;
    }

    public function now(): float
    {
        return hrtime(true) / 1e9 - $this->zero;
    }

    public function mark(string $who, string $event, array $more = []): void
    {
        $this->events[] = ['t' => round($this->now(), 3), 'who' => $who, 'event' => $event] + $more;
    }

    public function collect(float $seconds, ?callable $tick = null, ?callable $until = null): void
    {
        $end = $this->now() + $seconds;
        $nextTick = 0.0;
        while ($this->now() < $end) {
            foreach ($this->procs as $label => $proc) {
                while (($line = $proc->line(0.005)) !== null) {
                    $e = json_decode($line, true);
                    if (is_array($e)) {
                        $e['t'] = round($e['t'] - $this->zero, 3);
                        $this->events[] = ['t' => $e['t'], 'who' => $label] + $e;
                    }
                }
            }
            if ($tick !== null && $this->now() >= $nextTick) {
                $tick($this);
                $nextTick = $this->now() + 0.25;
            }
            if ($until !== null && $until($this)) {
                return;
            }
            usleep(20000);
        }
    }

    /** The events of $who (and $event), in order. */
    public function of(string $who, ?string $event = null): array
    {
        return array_values(array_filter($this->events, fn ($e) => $e['who'] === $who && ($event === null || $e['event'] === $event)));
    }

    public function first(string $who, string $event, float $after = -INF): ?array
    {
        foreach ($this->of($who, $event) as $e) {
            if ($e['t'] >= $after) {
                return $e;
            }
        }
        return null;
    }

    public function finish(): void
    {
        foreach ($this->procs as $proc) {
            $proc->send('quit');
            $proc->closeStdin();
        }
        foreach ($this->procs as $proc) {
            $proc->finish(5.0);
        }
    }

    /** Table rows, times relative to $origin; a run of identical events of one process is one row ("×N until t"). */
    public function rows(float $origin): array
    {
        $rows = [];
        $last = [];
        usort($this->events, fn ($a, $b) => $a['t'] <=> $b['t']);
        foreach ($this->events as $e) {
            $detail = $e;
            unset($detail['t'], $detail['who'], $detail['event']);
            $same = $detail;
            unset($same['waited'], $same['took']);
            $key = $e['event'] . json_encode($same);
            if (isset($last[$e['who']]) && $last[$e['who']]['key'] === $key) {
                $at = $last[$e['who']]['row'];
                $last[$e['who']]['count']++;
                $rows[$at][2] = sprintf('%s (×%d, the last at %+.2f)', $e['event'], $last[$e['who']]['count'], $e['t'] - $origin);
                continue;
            }
            $rows[] = [sprintf('%+.2f', $e['t'] - $origin), $e['who'], $e['event'], $detail === [] ? '' : json_encode($detail, JSON_UNESCAPED_SLASHES)];
            $last[$e['who']] = ['key' => $key, 'row' => count($rows) - 1, 'count' => 1];
        }
        return $rows;
    }
}

function waiter(string $name, string $dsn, float $wait, float $giveUp): Proc
{
    return new Proc(php_script('fault_waiter.php', ['name' => $name, 'dsn' => $dsn, 'wait' => $wait, 'give_up' => $giveUp]));
}

function holder(string $name, string $dsn, float $checkEvery, bool $netns): Proc
{
    $command = php_script('fault_holder.php', ['name' => $name, 'dsn' => $dsn, 'check_every' => $checkEvery]);
    return new Proc($netns ? in_netns($command) : $command);
}

function restart_scenario(Section $s): void
{
    $dsn = env('STRESS_MDB2_DSN');
    $name = lock_name('restart');
    $t = new Timeline();
    $t->add('holder', holder($name, $dsn, 0, false));
    $t->collect(10.0, null, fn ($t) => $t->of('holder') !== []);
    $held = $t->first('holder', 'held');
    if (!$s->check('restart: the holder takes the lock', $held !== null, json_encode($t->of('holder')))) {
        $t->finish();
        return;
    }
    $t->add('waiter 1', waiter($name, $dsn, 30.0, 60.0));
    $t->add('waiter 2', waiter($name, $dsn, 30.0, 60.0));
    $t->collect(1.0);
    $stop = $t->now();
    $t->mark('server', 'restart begins');
    [$code, , $err] = run([__DIR__ . '/mariadb2.sh', 'restart', env('STRESS_MDB2_DIR'), env('STRESS_MDB2_BIND')], 120.0);
    $up = $t->now();
    $t->mark('server', 'ready again', ['exit' => $code]);
    $s->check('restart: the server restarted', $code === 0, $err);
    $acquired = fn (Timeline $t) => $t->first('waiter 1', 'acquired') ?? $t->first('waiter 2', 'acquired');
    $t->collect(15.0, null, fn ($t) => $acquired($t) !== null);
    $t->collect(1.0);
    $t->procs['holder']->send('believes');
    $t->procs['holder']->send('check');
    $t->procs['holder']->send('release');
    $t->collect(3.0, null, fn ($t) => $t->first('holder', 'release') !== null);
    $winner = $acquired($t);
    $both = count($t->of('waiter 1', 'acquired')) + count($t->of('waiter 2', 'acquired'));
    $firstError = min($t->first('waiter 1', 'error', $stop)['t'] ?? INF, $t->first('waiter 2', 'error', $stop)['t'] ?? INF);
    $believed = $t->first('holder', 'believes');
    $check = $t->first('holder', 'isHeld');
    $release = $t->first('holder', 'release');
    $s->check('restart: no waiter took the lock before the restart', $winner === null || $winner['t'] > $stop);
    $s->check('restart: the waiters\' GET_LOCK waits fail (LockException) instead of hanging', $firstError < $up + 1, sprintf('first error %.2f s after the restart began', $firstError - $stop));
    $s->check('restart: one waiter takes the lock once the server is back', $winner !== null && $winner['t'] - $up < 5.0,
        $winner === null ? 'none did' : sprintf('%.2f s after the server was ready', $winner['t'] - $up));
    $s->check('restart: only one', $both === 1, "$both acquisitions");
    $s->check('restart: the old holder learns it lost the lock: isHeld() is false', ($check['result'] ?? null) === false, json_encode($check));
    $s->check('restart: and release() is false', ($release['result'] ?? null) === false, json_encode($release));
    $s->figure('restart', ['server_down_to_up_s' => round($up - $stop, 2), 'first_waiter_error_after_s' => round($firstError - $stop, 3),
        'new_holder_after_ready_s' => $winner === null ? null : round($winner['t'] - $up, 3),
        'old_holder_believed_until_checked' => $believed['result'] ?? null]);
    $s->table('Server restart while a lock is held and two hosts wait (seconds from the restart)', ['t (s)', 'who', 'event', 'detail'],
        $t->rows($stop),
        'The holder stays silent until asked. Waiters call acquire(30) in a loop and retry 0.2 s after a LockException.');
    $t->finish();
}

/** Samples what the other side sees: holder() of each lock, sockets on both ends. */
function sampler(array $names, array &$samples, string $hostIp, string $nsIp): callable
{
    $probes = [];
    foreach ($names as $label => $name) {
        $probes[$label] = new Lock($name, 'mysql', ['dsn' => env('STRESS_MDB2_DSN')]);
    }
    $last = 0.0;
    return function (Timeline $t) use ($probes, &$samples, &$last, $hostIp, $nsIp): void {
        if ($t->now() - $last < 1.0) {
            return;
        }
        $last = $t->now();
        $sample = ['t' => $t->now()];
        foreach ($probes as $label => $probe) {
            $h = $probe->holder();
            $sample[$label] = $h === null ? null : $h['connection_id'] . '@' . $h['host'];
        }
        [, $client] = run(in_netns(['ss', '-tnoH', 'dst', $hostIp]), 5.0);
        [, $server] = run(['ss', '-tnoH', 'dst', $nsIp], 5.0);
        $sample['client_sockets'] = trim($client);
        $sample['server_sockets'] = trim($server);
        $samples[] = $sample;
    };
}

function partition_scenario(Section $s): void
{
    $hostIp = env('STRESS_VETH_HOST_IP');
    $nsIp = env('STRESS_VETH_NS_IP');
    $veth = env('STRESS_MDB2_VETH_DSN');
    $local = env('STRESS_MDB2_DSN');
    $cut = pick(35.0, 90.0);
    $after = pick(10.0, 30.0);
    $names = ['checking' => lock_name('part-checking'), 'silent' => lock_name('part-silent')];
    $s->figure('server_wait_timeout', root_sql('SELECT @@global.wait_timeout'));
    $t = new Timeline();
    $t->add('holder (checks every 1 s)', holder($names['checking'], $veth, 1.0, true));
    $t->add('holder (silent)', holder($names['silent'], $veth, 0, true));
    $t->collect(15.0, null, fn ($t) => $t->first('holder (checks every 1 s)', 'held') && $t->first('holder (silent)', 'held'));
    $ids = ['checking' => $t->first('holder (checks every 1 s)', 'held')['connection_id'] ?? null,
        'silent' => $t->first('holder (silent)', 'held')['connection_id'] ?? null];
    if (!$s->check('partition: both holders in the network namespace take their locks', !in_array(null, $ids, true), json_encode($t->events))) {
        $t->finish();
        return;
    }
    $t->add('other host (waits for the checking holder\'s lock)', waiter($names['checking'], $local, 0.5, $cut + $after + 30));
    $t->add('other host (waits for the silent holder\'s lock)', waiter($names['silent'], $local, 0.5, $cut + $after + 30));
    $samples = [];
    $tick = sampler($names, $samples, $hostIp, $nsIp);
    $t->collect(2.0, $tick);
    [, $serverSocket] = run(['ss', '-tnoH', 'dst', $nsIp]);
    $s->figure('server_side_socket_before_the_cut', trim($serverSocket));
    $down = $t->now();
    link_up(false);
    $t->mark('network', 'link down');
    $t->collect($cut, $tick);
    link_up(true);
    $t->mark('network', 'link up');
    $t->collect($after, $tick);
    $t->procs['holder (silent)']->send('believes');
    $t->procs['holder (silent)']->send('check');
    $t->collect(8.0, $tick, fn ($t) => $t->first('holder (silent)', 'isHeld') !== null);
    // What is still held on the server now is held by a session nobody can reach: KILL frees it.
    $freed = [];
    foreach (['checking', 'silent'] as $which) {
        $waiterLabel = $which === 'checking' ? 'other host (waits for the checking holder\'s lock)' : 'other host (waits for the silent holder\'s lock)';
        if ($t->first($waiterLabel, 'acquired') === null) {
            $killedAt = $t->now();
            $t->mark('server', "KILL {$ids[$which]} (the $which holder's session)");
            root_sql("KILL CONNECTION {$ids[$which]}");
            $t->collect(5.0, null, fn ($t) => $t->first($waiterLabel, 'acquired') !== null);
            $got = $t->first($waiterLabel, 'acquired');
            $freed[$which] = $got === null ? null : round($got['t'] - $killedAt, 3);
            $s->check("partition: KILL of the $which holder's session frees its lock at once", $got !== null && $got['t'] - $killedAt < 2.0,
                json_encode($got));
        }
    }
    $t->finish();

    $checking = 'holder (checks every 1 s)';
    $firstFalse = null;
    foreach ($t->of($checking, 'isHeld') as $e) {
        if ($e['t'] > $down && $e['result'] !== true) {
            $firstFalse = $e;
            break;
        }
    }
    $lastTrue = null;
    foreach ($t->of($checking, 'isHeld') as $e) {
        if ($e['result'] === true) {
            $lastTrue = $e;
        }
    }
    $gotChecking = $t->first('other host (waits for the checking holder\'s lock)', 'acquired');
    $gotSilent = $t->first('other host (waits for the silent holder\'s lock)', 'acquired');
    $silentCheck = $t->first('holder (silent)', 'isHeld');
    $silentBelief = $t->first('holder (silent)', 'believes');
    $s->check('partition: the checking holder\'s isHeld() turns false within connect_timeout (5 s) + its 1 s period + 2 s',
        $firstFalse !== null && $firstFalse['t'] - $down <= 8.0, json_encode($firstFalse));
    $s->check('partition: no other host takes a lock while its holder last confirmed it with isHeld() (no two confirmed holders)',
        $gotChecking === null || $lastTrue === null || $gotChecking['t'] > $lastTrue['t']);
    $s->check('partition: the silent holder\'s isHeld() is false once it asks, after the partition', ($silentCheck['result'] ?? null) === false, json_encode($silentCheck));
    $clientGone = null;
    $serverGone = null;
    foreach ($samples as $sample) {
        if ($sample['t'] > $down && $clientGone === null && !str_contains($sample['client_sockets'], 'ESTAB')) {
            $clientGone = $sample['t'] - $down;
        }
        if ($sample['t'] > $down && $serverGone === null && $sample['server_sockets'] === '') {
            $serverGone = $sample['t'] - $down;
        }
    }
    // The last sample in which the server still listed the partitioned holder's own session as the holder.
    $heldOnServer = fn (string $which) => array_reduce($samples, fn ($carry, $x) => $x['t'] > $down
        && str_starts_with((string) $x[$which], $ids[$which] . '@') ? round($x['t'] - $down, 2) : $carry, null);
    $s->figure('partition', [
        'cut_s' => $cut, 'observed_after_reconnect_s' => $after,
        'checking_holder_first_false_after_s' => $firstFalse === null ? null : round($firstFalse['t'] - $down, 2),
        'checking_holder_isheld_call_took_s' => $firstFalse['took'] ?? null,
        'checking_lock_taken_by_other_host_after_s' => $gotChecking === null ? null : round($gotChecking['t'] - $down, 2),
        'silent_lock_taken_by_other_host_after_s' => $gotSilent === null ? null : round($gotSilent['t'] - $down, 2),
        'server_still_listed_checking_lock_until_s' => $heldOnServer('checking'),
        'server_still_listed_silent_lock_until_s' => $heldOnServer('silent'),
        'client_side_connections_gone_after_s' => $clientGone,
        'server_side_connections_gone_after_s' => $serverGone,
        'silent_holder_believed_after_reconnect' => $silentBelief['result'] ?? null,
        'silent_holder_isheld_after_reconnect' => $silentCheck['result'] ?? null,
        'kill_freed_after_s' => $freed,
    ]);
    $serverKeepalive = preg_match('/timer:\(keepalive,([^,]+),/', trim($serverSocket), $m) ? $m[1] : 'none';
    $s->note(sprintf('partition: the holder that checks isHeld() every second learned it had lost the lock %s s after the cut (that isHeld() call blocked %.1f s: the read timeout, connect_timeout = 5 s by default); from then on isHeld() answers false at once.',
        $firstFalse === null ? '?' : round($firstFalse['t'] - $down, 1), $firstFalse['took'] ?? 0));
    $s->note(sprintf('partition: the silent holder\'s connection was ended by its own TCP keepalive (15 s idle + 3 × 5 s probes) %s s after the cut, but any reset it sent was lost with the link; after the link came back it still believed it held the lock (var_dump() "held" %s) until isHeld() said %s.',
        $clientGone === null ? '(not within the cut)' : 'about ' . round($clientGone) . '', var_export($silentBelief['result'] ?? null, true), var_export($silentCheck['result'] ?? null, true)));
    $s->note(sprintf('partition: the server kept both sessions, and both locks, for the whole %d s cut (its socket\'s keepalive timer read %s before the cut: the system default of 2 h; wait_timeout %s s). The checking holder\'s lock was taken by the other host %s s after the link came back (the closed session\'s FIN got through on retransmission); the silent holder\'s lock was still held %d s after the link came back, until KILL freed it (%s s).',
        $cut, $serverKeepalive, root_sql('SELECT @@global.wait_timeout'), $gotChecking === null ? 'never' : round($gotChecking['t'] - $down - $cut, 1),
        (int) $after, json_encode($freed)));
    $rows = $t->rows($down);
    foreach ($samples as $i => $sample) {
        if ($i % pick(5, 10) === 0 || $i === count($samples) - 1) {
            $rows[] = [sprintf('%+.2f', $sample['t'] - $down), 'server, seen from the other host', 'holder()',
                json_encode(['checking lock' => $sample['checking'], 'silent lock' => $sample['silent'],
                    'client sockets (netns)' => preg_replace('/\s+/', ' ', $sample['client_sockets']),
                    'server sockets (host)' => preg_replace('/\s+/', ' ', $sample['server_sockets'])], JSON_UNESCAPED_SLASHES)];
        }
    }
    usort($rows, fn ($a, $b) => (float) $a[0] <=> (float) $b[0]);
    $s->table(sprintf('A holder cut off the network for %d s (seconds from the cut; server wait_timeout %s s)', $cut, root_sql('SELECT @@global.wait_timeout')),
        ['t (s)', 'who', 'event', 'detail'], $rows,
        'Two holders run in a network namespace and reach the server over a veth pair; the link is taken down on the host side. "other host" processes run in the host namespace and try acquire(0.5) in a loop. The checking holder calls isHeld() every second; the silent one calls nothing until asked after the link is back. One sample in ' . pick(5, 10) . ' of holder() and of the TCP sockets (ss -tno) on both ends is shown.');
}

function wait_timeout_scenario(Section $s): void
{
    $veth = env('STRESS_MDB2_VETH_DSN');
    $local = env('STRESS_MDB2_DSN');
    $idle = 8;
    $name = lock_name('part-wait-timeout');
    root_sql("SET GLOBAL wait_timeout = $idle");
    try {
        $t = new Timeline();
        $t->add('holder (silent)', holder($name, $veth, 0, true));
        $t->collect(15.0, null, fn ($t) => $t->first('holder (silent)', 'held') !== null);
        $held = $t->first('holder (silent)', 'held');
        if (!$s->check('wait_timeout: the holder takes the lock', $held !== null)) {
            $t->finish();
            return;
        }
        $t->add('other host', waiter($name, $local, 0.5, 60.0));
        $t->collect(1.0);
        $down = $t->now();
        link_up(false);
        $t->mark('network', 'link down');
        $t->collect($idle + 4.0, null, fn ($t) => $t->first('other host', 'acquired') !== null);
        $t->collect(2.0);
        $t->procs['holder (silent)']->send('believes');
        $t->collect(1.0, null, fn ($t) => $t->first('holder (silent)', 'believes') !== null);
        link_up(true);
        $t->mark('network', 'link up');
        $t->collect(1.0);
        $t->procs['holder (silent)']->send('check');
        $t->collect(8.0, null, fn ($t) => $t->first('holder (silent)', 'isHeld') !== null);
        $t->finish();
    } finally {
        root_sql('SET GLOBAL wait_timeout = DEFAULT');
        link_up(true);
    }
    $got = $t->first('other host', 'acquired');
    $belief = $t->first('holder (silent)', 'believes');
    $check = $t->first('holder (silent)', 'isHeld');
    $s->check("wait_timeout: a silent holder's lock outlives the server's wait_timeout ($idle s): the other host never takes it",
        $got === null, json_encode($got));
    $s->check('wait_timeout: the silent holder, once it asks, still holds it (isHeld() true)', ($check['result'] ?? null) === true, json_encode($check));
    $s->figure('wait_timeout', ['wait_timeout_s' => $idle, 'other_host_took_it_after_cut_s' => $got === null ? null : round($got['t'] - $down, 2),
        'holder_believed_it_still_held' => $belief['result'] ?? null, 'holder_still_held_after_cut' => $check['result'] ?? null]);
    $s->table("A silent holder cut off the network, server wait_timeout = $idle s (seconds from the cut)", ['t (s)', 'who', 'event', 'detail'],
        $t->rows($down), sprintf('The holder took the lock at %+.2f s and stayed silent for longer than the server\'s wait_timeout, cut off for part of it. Its session had set its own wait_timeout (365 days), so the server kept the session and the lock: the other host never got it, and the holder, asked after the link came back, still held it.',
            $held['t'] - $down));
}

section('mysql_faults', 'MySQL faults on a real server', function (Section $s): void {
    if (!$s->check('the second MariaDB and the network namespace are set up',
        getenv('STRESS_MDB2_DIR') && getenv('STRESS_NETNS') && getenv('STRESS_MDB2_VETH_DSN') && getenv('STRESS_MDB2_DSN'))) {
        return;
    }
    $s->figure('mariadb', root_sql('SELECT VERSION()'));
    restart_scenario($s);
    partition_scenario($s);
    wait_timeout_scenario($s);
});
