<?php
/**
 * Plugin Name:       FluentCart Webhooks (fluent-webhook)
 * Description:       Sends FluentCart's webhook feeds from the fluent_webhook PHP extension, in the background: the checkout never waits for the remote server.
 * Version:           0.1.0
 * Requires at least: 6.1
 * Requires PHP:      8.2
 * License:           GPL-2.0-or-later
 * Text Domain:       fluent-webhook
 */

defined('ABSPATH') || exit;

const FLUENT_WEBHOOK_PLUGIN_FILE = __FILE__;

spl_autoload_register(static function (string $class): void {
    $prefix = 'FluentWebhookPlugin\\';
    if (str_starts_with($class, $prefix)) {
        $file = __DIR__ . '/src/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
        if (is_file($file)) {
            require $file;
        }
    }
});

FluentWebhookPlugin\Plugin::boot(new FluentWebhookPlugin\FeedStore());
