<?php
// Part of `make bench`: COUNT deliveries of the order_paid_done sample to URL from this process,
// every dispatch() first and then flush(). Prints JSON: seconds, the dispatch loop's seconds,
// whether flush() finished, user+sys CPU seconds of the process (all its threads), and stats().
[$_, $url, $count] = $argv;
$data = json_decode(file_get_contents(__DIR__ . '/../fixtures/events/order_paid_done.json'), true);
$feeds = [new FluentWebhook\Feed(['name' => 'throughput', 'request_url' => $url, 'event_trigger' => ['order_paid_done']], 'throughput')];
$cpu = function () {
    $u = getrusage();
    return $u['ru_utime.tv_sec'] + $u['ru_utime.tv_usec'] / 1e6 + $u['ru_stime.tv_sec'] + $u['ru_stime.tv_usec'] / 1e6;
};
// Start the machinery and the connection pool first, as a long-running process would have.
FluentWebhook\dispatch('order_paid_done', $data, $feeds);
FluentWebhook\flush(30);
$startCpu = $cpu();
$t = hrtime(true);
for ($i = 0; $i < (int) $count; $i++) {
    FluentWebhook\dispatch('order_paid_done', $data, $feeds);
}
$dispatched = (hrtime(true) - $t) / 1e9;
$flushed = FluentWebhook\flush(600);
echo json_encode(['seconds' => (hrtime(true) - $t) / 1e9, 'dispatch_seconds' => $dispatched, 'flushed' => $flushed,
    'cpu_seconds' => $cpu() - $startCpu, 'stats' => FluentWebhook\stats()]);
