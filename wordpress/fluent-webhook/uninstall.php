<?php
// Deleting the plugin removes its feeds and notices; the extension's delivery log (its spool)
// is the extension's and stays.
defined('WP_UNINSTALL_PLUGIN') || exit;

delete_option('fluent_webhook_feeds');
delete_option('fluent_webhook_missed_events');
