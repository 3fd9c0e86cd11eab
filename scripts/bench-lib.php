<?php
// What scripts/bench.php (`make bench`) and scripts/bench-floors.php (`make bench-floors`)
// both measure: CPU time, nginx's share, curl_multi, wrk, our throughput run and the bounds
// in examples/. Every loop is bounded.

/// A figure a run could not measure. The table is printed without it, and the run ends with
/// status 1 (bench_status), so that `make bench-smoke` in `make test` fails.
function figure_missing(string $why): void
{
    fwrite(STDERR, "bench: $why\n");
    $GLOBALS['bench_figures_missing'] = true;
}

/// The exit status of a run: 1 when a figure was missing.
function bench_status(): int
{
    return empty($GLOBALS['bench_figures_missing']) ? 0 : 1;
}

function percentile(array $values, float $p): float
{
    if ($values === []) {
        return NAN;
    }
    sort($values);
    return $values[min(count($values) - 1, (int) floor($p * (count($values) - 1)))];
}

/// user+sys CPU seconds of this process, all its threads.
function cpu(): float
{
    $u = getrusage();
    return $u['ru_utime.tv_sec'] + $u['ru_utime.tv_usec'] / 1e6 + $u['ru_stime.tv_sec'] + $u['ru_stime.tv_usec'] / 1e6;
}

/// CPU seconds (user+sys) of nginx, master and workers, from /proc; 0 when unknown.
function nginx_cpu(): float
{
    $pidFile = getenv('BENCH_NGINX_PID');
    $master = $pidFile && is_file($pidFile) ? (int) file_get_contents($pidFile) : 0;
    if ($master <= 0) {
        return 0.0;
    }
    $pids = array_merge([$master], array_map('intval', preg_split('/\s+/', trim((string) @file_get_contents("/proc/$master/task/$master/children")), -1, PREG_SPLIT_NO_EMPTY)));
    $ticks = 0;
    foreach ($pids as $pid) {
        $stat = (string) @file_get_contents("/proc/$pid/stat");
        $fields = explode(' ', substr($stat, strrpos($stat, ')') + 2));
        $ticks += (int) ($fields[11] ?? 0) + (int) ($fields[12] ?? 0);
    }
    return $ticks / 100;
}

/// The sample event every figure sends: [its data, its JSON].
function sample_event(): array
{
    $data = json_decode(file_get_contents(__DIR__ . '/../fixtures/events/order_paid_done.json'), true);
    return [$data, json_encode($data)];
}

/// $total deliveries from a fresh process (scripts/bench-throughput.php), every dispatch()
/// then flush(), with its spool at $spool ('' for one in memory). Adds nginx's CPU seconds.
function throughput_run(string $nginx, int $total, string $spool): array
{
    $before = nginx_cpu();
    $out = shell_exec(sprintf('%s -d fluent_webhook.retry_schedule= -d fluent_webhook.spool_path=%s %s %s %d 2>&1',
        escapeshellarg(PHP_BINARY), escapeshellarg($spool), escapeshellarg(__DIR__ . '/bench-throughput.php'),
        escapeshellarg($nginx), $total));
    $run = json_decode((string) $out, true) ?? ['seconds' => NAN, 'dispatch_seconds' => NAN, 'flushed' => false, 'cpu_seconds' => NAN,
        'stats' => ['delivered' => 0, 'failed' => 0, 'spool' => trim((string) $out)]];
    $run['nginx_cpu_seconds'] = nginx_cpu() - $before;
    if (!$run['flushed']) {
        figure_missing("the throughput run of $total deliveries did not finish: " . json_encode($run['stats']));
    }
    return $run;
}

/// The best pure PHP can do: $total POSTs over 32 curl handles reused for keep-alive.
/// $encodeEach: the body json_encode()d per request, as a site sending each event's own data
/// must (and as dispatch() does), rather than once for the whole run.
/// Returns deliveries per second, CPU µs per delivery of this process and of nginx.
function curl_multi_run(string $nginx, array $data, int $total, bool $encodeEach): array
{
    $body = json_encode($data);
    $nginxBefore = nginx_cpu();
    $multi = curl_multi_init();
    curl_multi_setopt($multi, CURLMOPT_MAX_HOST_CONNECTIONS, 32);
    $cpu = cpu();
    $t = hrtime(true);
    $sent = $done = 0;
    $payload = fn () => $encodeEach ? json_encode($data) : $body;
    $make = function () use ($nginx, $payload) {
        $h = curl_init($nginx);
        curl_setopt_array($h, [CURLOPT_POST => true, CURLOPT_POSTFIELDS => $payload(),
            CURLOPT_RETURNTRANSFER => true, CURLOPT_HTTPHEADER => ['Content-Type: application/json'], CURLOPT_TIMEOUT => 15]);
        return $h;
    };
    for (; $sent < min(32, $total); $sent++) {
        curl_multi_add_handle($multi, $make());
    }
    $deadline = microtime(true) + 600;
    do {
        curl_multi_exec($multi, $running);
        curl_multi_select($multi, 0.05);
        while ($info = curl_multi_info_read($multi)) {
            $h = $info['handle'];
            $done++;
            curl_multi_remove_handle($multi, $h);
            if ($sent < $total) {
                curl_setopt($h, CURLOPT_POSTFIELDS, $payload());
                curl_multi_add_handle($multi, $h);
                $sent++;
            } else {
                curl_close($h);
            }
        }
    } while ($done < $total && microtime(true) < $deadline);
    $seconds = (hrtime(true) - $t) / 1e9;
    curl_multi_close($multi);
    return ['rate' => $done / $seconds, 'cpu' => (cpu() - $cpu) / $total * 1e6, 'nginx' => (nginx_cpu() - $nginxBefore) / $total * 1e6];
}

/// wrk posting the sample with 32 connections for $seconds: requests per second, and nginx's
/// CPU µs per request.
function wrk_run(string $nginx, int $seconds): array
{
    $placeholder = tempnam(sys_get_temp_dir(), 'wrk');
    $script = "$placeholder.lua";
    file_put_contents($script, "wrk.method = 'POST'\nwrk.headers['Content-Type'] = 'application/json'\nwrk.body = io.open('" . addslashes(__DIR__ . '/../fixtures/events/order_paid_done.json') . "'):read('*a')\n");
    $nginxBefore = nginx_cpu();
    $out = shell_exec(sprintf('wrk -t2 -c32 -d%ds -s %s %s 2>&1', $seconds, escapeshellarg($script), escapeshellarg($nginx)));
    preg_match('/Requests\/sec:\s+([\d.]+)/', (string) $out, $m);
    $rate = (float) ($m[1] ?? 0);
    if ($rate <= 0) {
        figure_missing("wrk gave no rate: $out");
    }
    preg_match('/(\d+) requests in/', (string) $out, $m);
    $nginxCpu = (nginx_cpu() - $nginxBefore) / max(1, (int) ($m[1] ?? 0)) * 1e6;
    unlink($script);
    unlink($placeholder);
    return ['rate' => $rate, 'nginx' => $nginxCpu];
}

/// Runs a bound of examples/ (built by `make bench`: cargo build --release
/// --no-default-features --examples --target-dir target/bound) and returns the figures it
/// prints, or null when it is not built or printed none.
function example_run(string $name, string ...$args): ?array
{
    $binary = __DIR__ . "/../target/bound/release/examples/$name";
    if (!is_executable($binary)) {
        figure_missing("examples/$name is not built (its row is left out)");
        return null;
    }
    // The files of earlier runs written back first, not during this one (it moved sqlite_floor
    // from 6 to 18 µs).
    shell_exec('sync');
    $output = (string) shell_exec(sprintf('cd %s && %s %s', escapeshellarg(dirname(__DIR__)), escapeshellarg($binary),
        implode(' ', array_map('escapeshellarg', $args))));
    $figures = json_decode($output, true);
    if (!is_array($figures)) {
        figure_missing("examples/$name gave no figures (its row is left out): $output");
    }
    return is_array($figures) ? $figures : null;
}
