<?php
// Measures the window in which a crash (kill -9, power loss aside) can lose a delivery that
// dispatch() already accepted: from dispatch() returning until the spool thread has committed
// it to SQLite (stats()['spooled'] counts commits). Run with `make crash-window`.

$spool = ini_get('fluent_webhook.spool_path');
$feed = new FluentWebhook\Feed(['name' => 'window', 'request_url' => 'http://127.0.0.1:9/never', 'event_trigger' => ['e']]);
$data = json_decode(file_get_contents(__DIR__ . '/../fixtures/events/order_paid_done.json'), true);

function spooled(): int
{
    return FluentWebhook\stats()['spooled'];
}

function percentile(array $values, float $p): float
{
    sort($values);
    return $values[min(count($values) - 1, (int) floor($p * count($values)))];
}

function measure(int $count, int $burst, array $data, FluentWebhook\Feed $feed): array
{
    $windows = [];
    for ($i = 0; $i < $count; $i += $burst) {
        $before = spooled();
        for ($j = 0; $j < $burst; $j++) {
            FluentWebhook\dispatch('e', $data, [$feed]);
        }
        $returned = hrtime(true);
        $deadline = $returned + 5e9;
        while (spooled() < $before + $burst && hrtime(true) < $deadline) {
            // Busy-wait: sleeping would measure the sleep.
        }
        $windows[] = (hrtime(true) - $returned) / 1e3;
        usleep(2000);
    }
    return $windows;
}

FluentWebhook\dispatch('e', $data, [$feed]); // start the machinery
usleep(200000);
printf("spool: %s (order_paid_done sample, %d bytes of JSON)\n\n", $spool, strlen(json_encode($data)));
printf("%-34s %10s %10s %10s\n", 'from dispatch() return to commit', 'p50 µs', 'p99 µs', 'max µs');
foreach ([[300, 1, 'one delivery at a time'], [3000, 100, 'bursts of 100 deliveries'], [20000, 2000, 'bursts of 2,000 deliveries']] as [$count, $burst, $label]) {
    $w = measure($count, $burst, $data, $feed);
    printf("%-34s %10.0f %10.0f %10.0f\n", $label, percentile($w, 0.5), percentile($w, 0.99), max($w));
}
