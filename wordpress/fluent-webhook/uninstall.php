<?php
// Deleting the plugin removes its feeds and notices; the extension's delivery log (its spool)
// is the extension's and stays. The feeds' deliveries waiting for a retry are canceled first,
// as when a feed is deleted: nothing is sent for feeds the owner removed with the plugin.
defined('WP_UNINSTALL_PLUGIN') || exit;

require_once __DIR__ . '/src/FeedStore.php';

$fluentWebhookUninstall = static function (): void {
    FluentWebhookPlugin\FeedStore::cancelAllPending('the plugin was deleted');
    delete_option('fluent_webhook_feeds');
    delete_option('fluent_webhook_missed_events');
};
if (is_multisite()) {
    // WordPress runs this file once, on the main site, and each site of a network keeps feeds
    // of its own (with its own ids in the log): every site's go.
    foreach (get_sites(['fields' => 'ids', 'number' => 0]) as $fluentWebhookSite) {
        switch_to_blog((int) $fluentWebhookSite);
        $fluentWebhookUninstall();
        restore_current_blog();
    }
} else {
    $fluentWebhookUninstall();
}
