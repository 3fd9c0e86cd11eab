<?php
// Part of `make bench`: COUNT deliveries of the order_paid_done sample to URL from this process,
// every dispatch() first and then flush(). Prints JSON: seconds, the dispatch loop's seconds,
// whether flush() finished, user+sys CPU seconds of the process (all its threads) and of its
// threads by part (the PHP thread, which runs dispatch(); the spool thread; the HTTP runtime),
// and stats(); `at_dispatch_end`: deliveries delivered and each part's CPU seconds when the
// dispatch loop ended, which splits the run into its two phases.
require __DIR__ . '/bench-lib.php';

[$_, $url, $count] = $argv;
[$data] = sample_event();
$feeds = [new FluentWebhook\Feed(['name' => 'throughput', 'request_url' => $url, 'event_trigger' => ['order_paid_done']], 'throughput')];
// user+sys CPU seconds of this process's live threads by part, from /proc (10 ms ticks).
$threads = function () {
    $parts = ['php' => 0.0, 'spool' => 0.0, 'http' => 0.0];
    foreach (glob('/proc/self/task/*/stat') as $file) {
        $stat = (string) @file_get_contents($file);
        $close = strrpos($stat, ')');
        if ($close === false) {
            continue;
        }
        $comm = substr($stat, strpos($stat, '(') + 1, $close - strpos($stat, '(') - 1);
        $fields = explode(' ', substr($stat, $close + 2));
        $part = basename(dirname($file)) === (string) getmypid() ? 'php' : ($comm === 'fluent-webhook-' ? 'spool' : 'http');
        $parts[$part] += ((int) $fields[11] + (int) $fields[12]) / 100;
    }
    return $parts;
};
// Start the machinery and the connection pool first, as a long-running process would have.
FluentWebhook\dispatch('order_paid_done', $data, $feeds);
FluentWebhook\flush(30);
$startCpu = cpu();
$startThreads = $threads();
$startDelivered = FluentWebhook\stats()['delivered'];
$threadsSinceStart = fn (array $end) => array_combine(array_keys($startThreads), array_map(fn ($e, $s) => $e - $s, $end, $startThreads));
$t = hrtime(true);
for ($i = 0; $i < (int) $count; $i++) {
    FluentWebhook\dispatch('order_paid_done', $data, $feeds);
}
$dispatched = (hrtime(true) - $t) / 1e9;
$atDispatchEnd = ['delivered' => FluentWebhook\stats()['delivered'], 'thread_cpu_seconds' => $threads()];
$flushed = FluentWebhook\flush(600);
echo json_encode(['seconds' => (hrtime(true) - $t) / 1e9, 'dispatch_seconds' => $dispatched, 'flushed' => $flushed,
    'cpu_seconds' => cpu() - $startCpu,
    'thread_cpu_seconds' => $threadsSinceStart($threads()),
    'at_dispatch_end' => ['delivered' => $atDispatchEnd['delivered'] - $startDelivered,
        'thread_cpu_seconds' => $threadsSinceStart($atDispatchEnd['thread_cpu_seconds'])],
    'stats' => FluentWebhook\stats()]);
