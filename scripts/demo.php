<?php
// The demo behind `make demo`: a local receiver on 127.0.0.1, three feeds like the ones the
// FluentCart guide describes, and three sample store events sent through the extension.

require __DIR__ . '/../php-tests/support/Receiver.php';

use FluentWebhook\Feed;
use FluentWebhook\Tests\Receiver;

if (!extension_loaded('fluent_webhook')) {
    fwrite(STDERR, "fluent_webhook is not loaded; run `make demo`\n");
    exit(1);
}

$receiver = new Receiver();
echo "Receiver listening on http://127.0.0.1:{$receiver->port}/\n\n";

$feeds = [
    new Feed([
        'name' => 'Send New Sales to Slack',
        'request_url' => $receiver->url('slack/services/T000/B000'),
        'request_method' => 'POST',
        'request_format' => 'JSON',
        'request_headers' => 'no_headers',
        'custom_header_values' => [['header_name' => '', 'header_value' => '']],
        'request_body' => 'all_data',
        'selected_field_values' => [['field_name' => '', 'field_value' => '']],
        'event_trigger' => ['order_paid_done', 'subscription_renewed'],
        'enabled' => true,
    ], 1),
    new Feed([
        'name' => 'Sync Orders with Accounting',
        'request_url' => $receiver->url('accounting/api/orders?source=shop'),
        'request_method' => 'POST',
        'request_format' => 'FORM',
        'request_headers' => 'custom_headers',
        'custom_header_values' => [
            ['header_name' => 'X-Api-Key', 'header_value' => 'demo-key-123'],
            ['header_name' => '', 'header_value' => ''],
        ],
        'request_body' => 'selected_fields',
        'selected_field_values' => [
            ['field_name' => 'order_number', 'field_value' => '{{order.uuid}}'],
            ['field_name' => 'email', 'field_value' => '{{order.billing.email}}'],
            ['field_name' => 'customer', 'field_value' => '{{order.billing.full_name}}'],
            ['field_name' => 'total', 'field_value' => '{{order.total_amount}}'],
            ['field_name' => 'summary', 'field_value' => 'Order #{{order.id}} is {{order.status||ucfirst}}'],
        ],
        'event_trigger' => ['order_paid_done', 'shipping_status_changed_to_delivered'],
        'enabled' => 'yes',
    ], 2),
    new Feed([
        'name' => 'Notify Warehouse (switched off)',
        'request_url' => $receiver->url('warehouse/hook'),
        'request_method' => 'PUT',
        'event_trigger' => ['order_paid_done', 'shipping_status_changed_to_delivered'],
        'enabled' => false,
    ], 3),
];

foreach ($feeds as $feed) {
    printf("Feed #%s %-34s %-6s %-4s %s  events: %s\n", $feed->id(), '"' . $feed->name() . '"', $feed->method(),
        $feed->format(), $feed->isEnabled() ? 'on ' : 'off', implode(', ', $feed->events()));
}
echo "\n";

foreach (['order_paid_done', 'subscription_renewed', 'shipping_status_changed_to_delivered'] as $event) {
    $data = json_decode(file_get_contents(__DIR__ . "/../fixtures/events/$event.json"), true);
    $started = hrtime(true);
    $ids = FluentWebhook\dispatch($event, $data, $feeds);
    $micros = (hrtime(true) - $started) / 1000;
    printf("dispatch('%s') queued %d deliveries and returned in %.0f µs\n", $event, count($ids), $micros);
}

$flushed = FluentWebhook\flush(10.0);
$stats = FluentWebhook\stats();
echo "\nflush(): " . ($flushed ? 'every delivery has an outcome' : 'time ran out') . "\n";

$requests = $receiver->waitForRequests('/', 4, 5.0);
echo "\nThe receiver got " . count($requests) . " requests:\n";
foreach ($requests as $request) {
    $headers = $request['headers'];
    echo "\n{$request['method']} {$request['path']}" . ($request['query'] !== '' ? "?{$request['query']}" : '') . "\n";
    foreach (['content-type', 'user-agent', 'x-webhook-event', 'webhook-id', 'webhook-timestamp', 'x-api-key'] as $name) {
        if (isset($headers[$name])) {
            echo "  $name: {$headers[$name]}\n";
        }
    }
    $body = $request['body'];
    echo '  body (' . strlen($body) . ' bytes): ' . (strlen($body) > 160 ? substr($body, 0, 160) . '…' : $body) . "\n";
}

echo "\nThe delivery log in the spool ({$stats['spool']}), FluentWebhook\\deliveries():\n";
foreach (FluentWebhook\deliveries() as $row) {
    $attempt = end($row['attempts']);
    printf("  %s  %-28s %-37s %-9s HTTP %s in %d ms\n", $row['id'], $row['feed_name'], $row['event'], $row['status'],
        $attempt['status_code'] ?? '-', $attempt['duration_ms'] ?? 0);
}

echo "\nFluentWebhook\\stats():\n";
foreach (['dispatched', 'queued', 'in_flight', 'delivered', 'failed', 'runtime'] as $key) {
    echo "  $key: {$stats[$key]}\n";
}
$receiver->stop();
exit($flushed && $stats['delivered'] === 4 && $stats['failed'] === 0 ? 0 : 1);
