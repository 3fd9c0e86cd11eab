<?php
// The benchmark behind `make bench` (scripts/bench.sh starts the servers): the extension side
// by side with what PHP sites use today, in one run, every loop bounded. Prints one table.
//   env: BENCH_NGINX (URL answering 204), BENCH_SLOW (URL answering after 500 ms),
//        BENCH_DOWN (URL nobody listens on), BENCH_SCALE (1 = full run, smaller = smoke)

require __DIR__ . '/bench-lib.php';
require '/usr/share/wordpress/wp-includes/class-requests.php';
Requests::register_autoloader();

$nginx = getenv('BENCH_NGINX');
$slow = getenv('BENCH_SLOW');
$down = getenv('BENCH_DOWN');
$scale = (float) (getenv('BENCH_SCALE') ?: 1);
[$data, $body] = sample_event();
$n = fn (int $full) => max(10, (int) ($full * $scale));

function feeds(string $url, int $count): array
{
    $feeds = [];
    for ($i = 0; $i < $count; $i++) {
        $feeds[] = new FluentWebhook\Feed(['name' => "bench $i", 'request_url' => $url, 'event_trigger' => ['order_paid_done'],
            'request_format' => $i % 2 ? 'FORM' : 'JSON'], "bench-$i");
    }
    return $feeds;
}

function requests_post(string $url, string $body, bool $blocking): void
{
    Requests::request($url, ['Content-Type' => 'application/json'], $body, Requests::POST, ['timeout' => 5, 'blocking' => $blocking]);
}

$rows = [];
$row = function (string $figure, string $ours, string $baseline, string $ratio, string $target) use (&$rows) {
    $rows[] = [$figure, $ours, $baseline, $ratio, $target];
};

// 1. Time in dispatch() per matched feed, against blocking Requests per feed.
FluentWebhook\dispatch('order_paid_done', $data, feeds($nginx, 1));
FluentWebhook\flush(30);
$requestsTimes = [];
for ($i = 0; $i < $n(300); $i++) {
    $t = hrtime(true);
    requests_post($nginx, $body, true);
    $requestsTimes[] = (hrtime(true) - $t) / 1e3;
}
$requestsMedian = percentile($requestsTimes, 0.5);
foreach ([1, 3, 10] as $count) {
    $feeds = feeds($nginx, $count);
    $times = [];
    for ($i = 0; $i < $n(2000); $i++) {
        $t = hrtime(true);
        FluentWebhook\dispatch('order_paid_done', $data, $feeds);
        $times[] = (hrtime(true) - $t) / 1e3 / $count;
        if ($i % 200 === 199) {
            FluentWebhook\flush(60);
        }
    }
    FluentWebhook\flush(60);
    $median = percentile($times, 0.5);
    $row("dispatch() per feed, $count feed(s): median / p99 µs", sprintf('%.1f / %.1f', $median, percentile($times, 0.99)),
        sprintf('Requests blocking %.0f / %.0f', $requestsMedian, percentile($requestsTimes, 0.99)),
        sprintf('%.0f× less', $requestsMedian / $median), '≤ 10 µs median; ≥ 25× less');
}

// 2. A PHP request that fires a webhook, with the endpoint answering in 0 ms and in 500 ms.
$feed = feeds($slow, 1);
$fast = feeds($nginx, 1);
$request = function (array $feeds) use ($data) {
    $t = hrtime(true);
    FluentWebhook\dispatch('order_paid_done', $data, $feeds);
    return (hrtime(true) - $t) / 1e3;
};
$fastTimes = $slowTimes = [];
for ($i = 0; $i < $n(200); $i++) {
    $fastTimes[] = $request($fast);
    $slowTimes[] = $request($feed);
}
// Our 500 ms deliveries first: Requests' calls would otherwise queue behind them at the server.
FluentWebhook\flush(60);
$blockingSlow = [];
for ($i = 0; $i < 5; $i++) {
    $t = hrtime(true);
    requests_post($slow, $body, true);
    $blockingSlow[] = (hrtime(true) - $t) / 1e3;
}
$nonBlocking = [];
for ($i = 0; $i < $n(100); $i++) {
    $t = hrtime(true);
    requests_post($slow, $body, false);
    $nonBlocking[] = (hrtime(true) - $t) / 1e3;
}
$row('request time, endpoint 0 ms vs 500 ms: median µs', sprintf('%.1f vs %.1f', percentile($fastTimes, 0.5), percentile($slowTimes, 0.5)),
    sprintf('Requests %.0f (blocking), %.0f (non-blocking)', percentile($blockingSlow, 0.5), percentile($nonBlocking, 0.5)),
    sprintf('%+.1f %%', (percentile($slowTimes, 0.5) / percentile($fastTimes, 0.5) - 1) * 100), '≤ 1 % above 0 ms');

// 3. Deliveries per second from one process: dispatch many, then flush. In a fresh process
// (scripts/bench-throughput.php) with a spool file, then again with the spool in memory:
// the second shows what the rest of the engine can do without the disk.
$total = $n(100000);
// Its own spool file: this process's spool thread would otherwise claim and send part of it.
$ours = throughput_run($nginx, $total, dirname(ini_get('fluent_webhook.spool_path')) . '/throughput.sqlite');
$oursRate = $total / $ours['seconds'];
$oursCpu = $ours['cpu_seconds'] / $total * 1e6;
$stats = $ours['stats'];
$memorySpool = throughput_run($nginx, $total, '');

// The best pure PHP can do, its one body encoded once, then encoded for each request.
['rate' => $curlRate, 'cpu' => $curlCpu, 'nginx' => $curlNginx] = curl_multi_run($nginx, $data, $total, false);
['rate' => $curlEachRate, 'cpu' => $curlEachCpu] = curl_multi_run($nginx, $data, $total, true);

['rate' => $wrkRate, 'nginx' => $wrkNginx] = wrk_run($nginx, max(2, (int) (10 * $scale)));

$row("deliveries/s, $total dispatched then flush()", sprintf('%.0f (dispatch loop %.1f s, flushed: %s)', $oursRate, $ours['dispatch_seconds'], $ours['flushed'] ? 'yes' : 'NO'),
    sprintf('curl_multi ×32 %.0f; wrk -c32 %.0f', $curlRate, $wrkRate),
    sprintf('%.2f× curl_multi; %.0f %% of wrk', $oursRate / $curlRate, $oursRate / max(1, $wrkRate) * 100), '≥ 1.2× curl_multi; ≥ 85 % of wrk');
// The two phases: while dispatch() is called, the spool thread writes every new delivery
// and the sender gets what CPU is left; after it, the sender has the machine.
$inLoop = $ours['at_dispatch_end']['delivered'] ?? NAN;
$row('  delivered/s in the dispatch loop; after it', sprintf('%.0f; %.0f', $inLoop / $ours['dispatch_seconds'],
    ($total - $inLoop) / ($ours['seconds'] - $ours['dispatch_seconds'])), '', '', '');
$threads = $ours['thread_cpu_seconds'] ?? ['php' => NAN, 'spool' => NAN, 'http' => NAN];
$perDelivery = fn (float $seconds) => $seconds / $total * 1e6;
$row('CPU µs per delivery (user+sys of this process)', sprintf('%.0f (PHP %.0f, spool %.0f, HTTP %.0f)', $oursCpu,
    $perDelivery($threads['php']), $perDelivery($threads['spool']), $perDelivery($threads['http'])), sprintf('curl_multi %.0f', $curlCpu),
    sprintf('%.2f×', $oursCpu / $curlCpu), 'lower than curl_multi');
$row('  the same, curl_multi encoding each body (as dispatch() does): /s; CPU µs', '',
    sprintf('%.0f; %.0f', $curlEachRate, $curlEachCpu), sprintf('%.2f× its /s; %.2f× its CPU', $oursRate / $curlEachRate, $oursCpu / $curlEachCpu), '');
// Bounds: the same run with the spool in memory, and each part of a delivery's work on its
// own (examples/, built by `make bench`).
$row('  bound: same, spool in memory: deliveries/s; CPU µs', sprintf('%.0f; %.0f', $total / $memorySpool['seconds'], $memorySpool['cpu_seconds'] / $total * 1e6),
    '', sprintf('%.2f× curl_multi', $total / $memorySpool['seconds'] / $curlRate), '');
$boundFiles = dirname(ini_get('fluent_webhook.spool_path'));
$httpBound = example_run('http_bound', $nginx, (string) $total, '32');
$httpFloor = example_run('http_floor', $nginx, (string) $total, '32');
$spoolBound = example_run('spool_bound', "$boundFiles/spool-bound.sqlite", (string) $total);
foreach (['HTTP side alone (http_bound)' => $httpBound,
          'HTTP floor (http_floor)' => $httpFloor] as $what => $bound) {
    if ($bound) {
        $row("  bound: $what: /s; CPU µs", sprintf('%.0f; %.1f', $bound['deliveries_per_second'], $bound['cpu_us_per_delivery']),
            '', sprintf('%.2f× curl_multi; %.0f %% of wrk', $bound['deliveries_per_second'] / $curlRate, $bound['deliveries_per_second'] / max(1, $wrkRate) * 100), '');
    }
}
$sqliteFloor = example_run('sqlite_floor', "$boundFiles/sqlite-floor.sqlite", (string) $total);
if ($spoolBound) {
    $row('  bound: spool alone (spool_bound): CPU µs', sprintf('%.1f', $spoolBound['cpu_us_per_delivery']), '', '', '');
}
if ($sqliteFloor) {
    $row('  bound: SQLite\'s least per delivery (sqlite_floor): CPU µs', sprintf('%.1f', $sqliteFloor['cpu_us_per_delivery']), '', '', '');
}
// PHP's own json_encode of the sample: the least any dispatch() can spend turning the event's
// arrays into a body (ours also matches feeds and builds the request around it).
$encodes = $n(20000);
$cpu = cpu();
for ($i = 0; $i < $encodes; $i++) {
    json_encode($data);
}
$jsonEncode = (cpu() - $cpu) / $encodes * 1e6;
$row('  bound: json_encode of the sample in PHP: CPU µs', sprintf('%.1f', $jsonEncode), '', '', '');
$oursNginx = $ours['nginx_cpu_seconds'] / $total * 1e6;
$cores = (int) shell_exec('nproc');
$row('  bound: nginx CPU µs per request', sprintf('%.1f (our run)', $oursNginx),
    sprintf('curl_multi %.1f; wrk %.1f', $curlNginx, $wrkNginx), '', '');
// The least CPU a delivery can cost here, whatever the engine around them: this run's
// dispatch() (the PHP thread), the spool alone and the HTTP floor, plus nginx's share. On
// nproc cores nothing can deliver faster than nproc CPU-seconds per second over that sum.
if ($spoolBound && $httpFloor) {
    $floor = $perDelivery($threads['php']) + $spoolBound['cpu_us_per_delivery'] + $httpFloor['cpu_us_per_delivery'];
    $ceiling = $cores * 1e6 / ($floor + $oursNginx);
    $row('  floor: PHP + spool + HTTP floor: µs; most /s', sprintf('%.1f; %.0f', $floor, $ceiling),
        sprintf('curl_multi %.0f µs', $curlCpu), sprintf('%.2f× curl_multi; %.0f %% of wrk', $ceiling / $curlRate, $ceiling / max(1, $wrkRate) * 100), '');
}
// The same with the cheapest piece of each kind measured here: json_encode for dispatch(),
// SQLite alone for the spool, hyper alone for the request, and nginx's smallest share of the
// three senders. Not a proof about every engine (each piece is only the cheapest measured),
// but what an engine that kept each delivery in SQLite (issue 3) and cost nothing else could do.
if ($sqliteFloor && $httpFloor) {
    $least = $jsonEncode + $sqliteFloor['cpu_us_per_delivery'] + $httpFloor['cpu_us_per_delivery'];
    $ceiling = $cores * 1e6 / ($least + min($oursNginx, $curlNginx, $wrkNginx));
    $row('  floor, cheapest pieces: json_encode + SQLite + HTTP floor: µs; most /s', sprintf('%.1f; %.0f', $least, $ceiling),
        sprintf('curl_multi %.0f µs (%.0f encoding each)', $curlCpu, $curlEachCpu),
        sprintf('%.2f× curl_multi; %.0f %% of wrk', $ceiling / $curlRate, $ceiling / max(1, $wrkRate) * 100), '');
}
// What no sender that writes each delivery to SQLite before its attempt (issue 3) can pass
// here, whatever it spends turning events into bodies: SQLite's least and the HTTP floor
// alone, with nginx's smallest share, on nproc cores; and the CPU they leave under
// curl_multi's, which encodes its one body once, for encoding each event's body.
if ($sqliteFloor && $httpFloor) {
    $unencoded = $sqliteFloor['cpu_us_per_delivery'] + $httpFloor['cpu_us_per_delivery'];
    $ceiling = $cores * 1e6 / ($unencoded + min($oursNginx, $curlNginx, $wrkNginx));
    $row('  floor, no body encoded at all: SQLite + HTTP floor: µs; most /s', sprintf('%.1f; %.0f', $unencoded, $ceiling),
        sprintf('curl_multi %.1f µs; json_encode %.1f µs', $curlCpu, $jsonEncode),
        sprintf('%.0f %% of wrk; %.1f µs left to encode a body', $ceiling / max(1, $wrkRate) * 100, $curlCpu - $unencoded), '');
}
// The cheapest pieces run at once rather than added up, with their hand-overs, next to nginx
// on the same cores: each body encoded (serde_json, for PHP's json_encode), SQLite's least
// committed before the request, the status written after the answer. pipeline_floor sends
// with hyper on 2 tokio workers (the stack under reqwest) and writes to SQLite on a thread of
// its own, also with the body encoded once as the curl_multi baseline does, and with reqwest
// itself; tokio_floor with hyper on one thread that writes to SQLite too,
// the bodies encoded on a thread of their own as PHP's would; epoll_floor with a plain epoll
// loop on one thread.
$togetherRows = [
    'pipeline_floor, tokio + hyper, each body encoded' => ['pipeline_floor', ['2', 'each']],
    'pipeline_floor, tokio + hyper, body encoded once' => ['pipeline_floor', ['2', 'once']],
    'pipeline_floor, reqwest (the design card\'s client), current-thread runtime, each body encoded' => ['pipeline_floor', ['current', 'each', 'reqwest']],
    'tokio_floor, tokio + hyper and SQLite on one thread' => ['tokio_floor', ['hyper', 'apart']],
    'epoll_floor, no tokio or hyper, each body encoded' => ['epoll_floor', ['1']],
];
foreach ($togetherRows as $what => [$name, $args]) {
    $together = example_run($name, $nginx, "$boundFiles/$name.sqlite", (string) $total, '32', ...$args);
    if ($together) {
        $row("  floor, the cheapest pieces together ($what): /s; CPU µs",
            sprintf('%.0f; %.1f', $together['deliveries_per_second'], $together['cpu_us_per_delivery']),
            sprintf('curl_multi %.0f µs (%.0f encoding each)', $curlCpu, $curlEachCpu),
            sprintf('%.2f× curl_multi; %.0f %% of wrk', $together['deliveries_per_second'] / $curlRate, $together['deliveries_per_second'] / max(1, $wrkRate) * 100), '');
    }
}

// 4. dispatch → answered latency at light load, from the delivery log.
$light = feeds($nginx, 1);
$ids = [];
for ($i = 0; $i < $n(500); $i++) {
    $ids[FluentWebhook\dispatch('order_paid_done', $data, $light)[0]] = true;
    usleep(2000);
}
FluentWebhook\flush(60);
$latencies = [];
foreach (FluentWebhook\deliveries(['feed' => 'bench-0', 'limit' => 10000]) as $entry) {
    if (isset($ids[$entry['id']]) && $entry['attempts']) {
        $attempt = $entry['attempts'][0];
        $latencies[] = ($attempt['at'] - $entry['created_at']) * 1000 + $attempt['duration_ms'];
    }
}
if ($latencies === []) {
    figure_missing('the delivery log has none of the light load\'s deliveries');
}
$row(sprintf('dispatch → answered latency, light load (%d): p50 / p99 ms', count($latencies)),
    sprintf('%.0f / %.0f (the log has 1 ms resolution)', percentile($latencies, 0.5), percentile($latencies, 0.99)), '', '', 'p50 ≤ 1 ms');

// 5. Memory with many deliveries queued to an endpoint that is down (a fresh process).
// Its own spool: what it leaves behind must not be sent by this process.
$memory = shell_exec(sprintf('%s -d fluent_webhook.retry_schedule=3600 -d fluent_webhook.shutdown_timeout=0 -d fluent_webhook.spool_path=%s %s %s %d 2>/dev/null',
    escapeshellarg(PHP_BINARY), escapeshellarg(dirname(ini_get('fluent_webhook.spool_path')) . '/memory.sqlite'),
    escapeshellarg(__DIR__ . '/bench-memory.php'), escapeshellarg($down), $n(100000)));
$memory = json_decode((string) $memory, true) ?? ['payload_mb' => 0, 'rss_growth_mb' => 0, 'peak_growth_mb' => 0, 'cap_mb' => 0];
if ($memory['payload_mb'] <= 0) {
    figure_missing('the memory run gave no figures');
}
$row(sprintf('RSS growth with %d queued to a down endpoint, MB', $n(100000)),
    sprintf('%.0f (peak %.0f)', $memory['rss_growth_mb'], $memory['peak_growth_mb']), sprintf('payload %.0f MB; cap %.0f MB', $memory['payload_mb'], $memory['cap_mb']),
    sprintf('%.2f× payload', $memory['peak_growth_mb'] / max(1, $memory['payload_mb'])), '≤ 2× payload, bounded by the cap');

$widths = [52, 40, 44, 26, 32];
$line = fn (array $cells) => implode(' | ', array_map(fn ($c, $w) => str_pad($c, $w), $cells, $widths));
echo $line(['figure', 'fluent_webhook', 'baseline (same run)', 'ratio', 'target']), "\n";
echo str_repeat('-', array_sum($widths) + 12), "\n";
foreach ($rows as $r) {
    echo $line($r), "\n";
}
printf("\nmachine: %s, %d cores; PHP %s; spool %s; deliveries delivered %d, failed %d\n",
    php_uname('m'), (int) shell_exec('nproc'), PHP_VERSION, $stats['spool'], $stats['delivered'], $stats['failed']);
exit(bench_status());
