<?php
// The e2e site from the PHP CLI, which does not load the extension: a FluentCart event with a
// feed listening must be recorded as not sent (for the admin notice) and logged, not dropped.
// The browser test then sees the notice on the admin screens.

$_SERVER['WORDPRESS_CONFIG'] = getenv('WORDPRESS_CONFIG');
$_SERVER['HTTP_HOST'] = parse_url(getenv('WP_URL'), PHP_URL_HOST) . ':' . parse_url(getenv('WP_URL'), PHP_URL_PORT);
$_SERVER['REQUEST_URI'] = '/';
require '/usr/share/wordpress/wp-load.php';

function check(bool $ok, string $what): void
{
    if (!$ok) {
        fwrite(STDERR, "without the extension: $what\n");
        exit(1);
    }
    echo "ok: $what\n";
}

check(!FluentWebhookPlugin\Extension::loaded(), 'the CLI runs without the extension');
check(count(FluentWebhookPlugin\Extension::events()) === 10, 'the plugin still knows FluentCart\'s 10 events');
$store = new FluentWebhookPlugin\FeedStore();
$id = $store->insert(['name' => 'listening while the extension is missing', 'request_url' => getenv('RECEIVER_URL') . '/missing',
    'event_trigger' => ['order_paid_done'], 'enabled' => true]);
ini_set('error_log', '/dev/null');
do_action('fluent_cart/order_paid_done', ['order' => ['id' => 1]]);
do_action('fluent_cart/order_fully_refunded', ['order' => ['id' => 1]]);
$missed = FluentWebhookPlugin\Extension::missed();
check(($missed['count'] ?? 0) === 1, 'the event a feed listens to is counted as not sent, the other is not');
check(($missed['last']['event'] ?? '') === 'order_paid_done' && str_contains($missed['last']['reason'], 'not loaded'), 'with the event and the reason');
$store->delete($id);

wp_set_current_user(1);
ob_start();
(new FluentWebhookPlugin\Admin\Screens($store))->extensionNotice();
$notice = ob_get_clean();
check(str_contains($notice, 'extension is not loaded') && str_contains($notice, 'make install'), 'the admin notice says so, with the install command');
check(str_contains($notice, '1 store event(s) were not sent'), 'and counts the event that was not sent');
