<?php

namespace FluentWebhookPlugin;

/**
 * Wires the plugin into WordPress: the bridge on FluentCart's actions for every request, the
 * admin screens only in wp-admin.
 */
final class Plugin
{
    public static function boot(FeedStore $store): void
    {
        (new EventBridge($store))->register();
        if (is_admin()) {
            (new Admin\Screens($store))->register();
        }
    }
}
