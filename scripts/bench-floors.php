<?php
// `make bench-floors`: the throughput and CPU targets of `make bench` (≥ 1.2× curl_multi and
// ≥ 85 % of wrk; less CPU per delivery than curl_multi), asked of the extension and of the
// cheapest senders that do what issue 3 requires of it, and nothing more: each body encoded
// anew (every event is its own data), written to SQLite and committed before its request,
// its status written after the answer (examples/*_floor.rs: no TLS, timeouts, retries,
// leases, log or network guard). Two send with reqwest, as the engine must (the design
// card), one through hyper-util's pool (which reqwest sends through), the others with
// hyper's connection API or by hand. ROUNDS rounds, alternated, `sync` before each sender, each
// against the curl_multi and wrk of its own round. scripts/bench.sh starts nginx.
//   env: BENCH_NGINX (URL answering 204), BENCH_ROUNDS (default 5), BENCH_SCALE (1 = 100,000
//        deliveries per sender, smaller = smoke)

require __DIR__ . '/bench-lib.php';

$nginx = getenv('BENCH_NGINX');
$rounds = max(1, (int) (getenv('BENCH_ROUNDS') ?: 5));
$scale = (float) (getenv('BENCH_SCALE') ?: 1);
$total = max(1000, (int) (100000 * $scale));
[$data] = sample_event();
$files = dirname(ini_get('fluent_webhook.spool_path'));

// name => how to run it: [deliveries/s, CPU µs per delivery], or null when it gave none.
$fromExample = fn (string $name, string ...$args) => function () use ($name, $args, $nginx, $files, $total) {
    $figures = example_run($name, $nginx, "$files/$name.sqlite", (string) $total, '32', ...$args);
    array_map('unlink', glob("$files/$name.sqlite*"));
    return $figures ? [$figures['deliveries_per_second'], $figures['cpu_us_per_delivery']] : null;
};
$senders = [
    'fluent_webhook (dispatch() then flush())' => function () use ($nginx, $total, $files) {
        shell_exec('sync');
        $run = throughput_run($nginx, $total, "$files/throughput.sqlite");
        @unlink("$files/throughput.sqlite");
        return $run['flushed'] ? [$total / $run['seconds'], $run['cpu_seconds'] / $total * 1e6] : null;
    },
    'floor: tokio + hyper on 3 threads (pipeline_floor 2 each)' => $fromExample('pipeline_floor', '2', 'each'),
    'floor: the same, current-thread runtime (pipeline_floor current each)' => $fromExample('pipeline_floor', 'current', 'each'),
    'floor: hyper-util\'s pool, current-thread (pipeline_floor current each pool)' => $fromExample('pipeline_floor', 'current', 'each', 'pool'),
    'floor: reqwest, 2 workers (pipeline_floor 2 each reqwest)' => $fromExample('pipeline_floor', '2', 'each', 'reqwest'),
    'floor: reqwest, current-thread (pipeline_floor current each reqwest)' => $fromExample('pipeline_floor', 'current', 'each', 'reqwest'),
    'floor: tokio + hyper, encoding apart (tokio_floor hyper apart)' => $fromExample('tokio_floor', 'hyper', 'apart'),
    'floor: tokio, raw HTTP, encoding apart (tokio_floor raw apart)' => $fromExample('tokio_floor', 'raw', 'apart'),
    'floor: epoll loop, one thread (epoll_floor 1)' => $fromExample('epoll_floor', '1'),
    'floor: epoll loop, two threads (epoll_floor 2)' => $fromExample('epoll_floor', '2'),
];
// Not held to the targets: it sends one body over and over, as the curl_multi baseline does;
// dispatch() is given each event's data and must encode it.
$reference = 'reference: pipeline_floor, body encoded once';
$senders[$reference] = $fromExample('pipeline_floor', '2', 'once');
$senders['reference: reqwest, current-thread, body encoded once'] = $fromExample('pipeline_floor', 'current', 'once', 'reqwest');

$results = [];
for ($round = 1; $round <= $rounds; $round++) {
    shell_exec('sync');
    $curl = curl_multi_run($nginx, $data, $total, false);
    shell_exec('sync');
    $curlEach = curl_multi_run($nginx, $data, $total, true);
    $wrk = wrk_run($nginx, 10);
    $results[$round] = ['curl' => $curl, 'curl_each' => $curlEach, 'wrk' => $wrk, 'senders' => []];
    foreach ($senders as $name => $run) {
        $results[$round]['senders'][$name] = $run();
    }
    fprintf(STDERR, "bench-floors: round %d of %d done\n", $round, $rounds);
}

$widths = [72, 10, 7, 7, 9, 6];
$line = fn (array $cells) => implode(' | ', array_map(fn ($c, $w) => str_pad((string) $c, $w), $cells, $widths));
$met = [];
foreach ($results as $round => $r) {
    printf("\nround %d: curl_multi %.0f/s, %.1f µs (encoding each body: %.0f/s, %.1f µs); wrk -c32 %.0f/s; nginx %.1f µs per request\n",
        $round, $r['curl']['rate'], $r['curl']['cpu'], $r['curl_each']['rate'], $r['curl_each']['cpu'], $r['wrk']['rate'], $r['wrk']['nginx']);
    echo $line(['sender', '/s', '× curl', '% wrk', 'CPU µs', 'met']), "\n";
    foreach ($r['senders'] as $name => $figures) {
        if ($figures === null) {
            echo $line([$name, 'no figures', '', '', '', '']), "\n";
            continue;
        }
        [$rate, $cpu] = $figures;
        $targets = ['1.2× curl_multi' => $rate >= 1.2 * $r['curl']['rate'], '85 % of wrk' => $rate >= 0.85 * $r['wrk']['rate'],
            'CPU under curl_multi' => $cpu < $r['curl']['cpu']];
        foreach ($targets as $target => $yes) {
            $met[$name][$target] = ($met[$name][$target] ?? 0) + ($yes ? 1 : 0);
        }
        echo $line([$name, sprintf('%.0f', $rate), sprintf('%.2f', $rate / $r['curl']['rate']), sprintf('%.0f', $rate / $r['wrk']['rate'] * 100),
            sprintf('%.1f', $cpu), implode(', ', array_keys(array_filter($targets))) ?: '-']), "\n";
    }
}

printf("\nrounds in which each target was met, of %d:\n", $rounds);
echo $line(['sender', '1.2× curl', '85 % wrk', 'CPU', '', '']), "\n";
foreach ($met as $name => $counts) {
    echo $line([$name, $counts['1.2× curl_multi'], $counts['85 % of wrk'], $counts['CPU under curl_multi'], '', '']), "\n";
}
printf("\nmachine: %s, %d cores; PHP %s; %d deliveries per sender and round\n", php_uname('m'), (int) shell_exec('nproc'), PHP_VERSION, $total);
exit(bench_status());
