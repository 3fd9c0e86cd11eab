<?php
// Part of `make bench`: resident memory while COUNT deliveries are queued to an endpoint that
// is down. Prints JSON: payload MB queued, RSS growth and peak growth MB, the memory cap.
require __DIR__ . '/bench-lib.php';

[$_, $url, $count] = $argv;
[$data] = sample_event();
$feeds = [new FluentWebhook\Feed(['name' => 'down', 'request_url' => $url, 'event_trigger' => ['e']])];
$rss = function (string $field) {
    preg_match("/^$field:\\s+(\\d+)/m", file_get_contents('/proc/self/status'), $m);
    return (int) $m[1] / 1024;
};
FluentWebhook\dispatch('e', $data, $feeds);
FluentWebhook\flush(10);
$before = $rss('VmRSS');
$peakBefore = $rss('VmHWM');
for ($i = 0; $i < (int) $count; $i++) {
    FluentWebhook\dispatch('e', $data, $feeds);
}
$after = $rss('VmRSS');
FluentWebhook\flush(120);
echo json_encode([
    'payload_mb' => (int) $count * strlen(json_encode($data)) / 1048576,
    'rss_growth_mb' => max($after, $rss('VmRSS')) - $before,
    'peak_growth_mb' => $rss('VmHWM') - $peakBefore,
    'cap_mb' => 64,
]);
