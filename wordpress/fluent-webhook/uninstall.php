<?php
// Deleting the plugin removes its feeds and notices; the extension's delivery log (its spool)
// is the extension's and stays. The feeds' deliveries waiting for a retry are canceled first,
// as when a feed is deleted: nothing is sent for feeds the owner removed with the plugin.
defined('WP_UNINSTALL_PLUGIN') || exit;

require_once __DIR__ . '/src/FeedStore.php';

FluentWebhookPlugin\FeedStore::cancelAllPending('the plugin was deleted');
delete_option('fluent_webhook_feeds');
delete_option('fluent_webhook_missed_events');
