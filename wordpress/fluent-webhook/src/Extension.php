<?php

namespace FluentWebhookPlugin;

/**
 * Whether the fluent_webhook extension is loaded, FluentCart's events (from the extension when
 * it is there), and the record of events that fired while it was missing.
 */
final class Extension
{
    public const INSTALL_COMMAND = 'make install';

    /** FluentCart's events and the admin labels; the extension's events() has the same list. */
    private const EVENTS = [
        'order_paid_done' => 'Order Paid (Payment / Subscription)',
        'order_status_changed_to_canceled' => 'Order Canceled',
        'order_fully_refunded' => 'Order Refunded (Full)',
        'subscription_activated' => 'Subscription Activated',
        'subscription_renewed' => 'Subscription Renewed',
        'subscription_canceled' => 'Subscription Canceled',
        'subscription_eot' => 'Subscription End of Term',
        'subscription_expired_validity' => 'Subscription Expired',
        'shipping_status_changed_to_shipped' => 'Order Shipped',
        'shipping_status_changed_to_delivered' => 'Order Delivered',
    ];

    private const MISSED_OPTION = 'fluent_webhook_missed_events';

    public static function loaded(): bool
    {
        return function_exists('FluentWebhook\\dispatch') && class_exists('FluentWebhook\\Feed', false);
    }

    /** @return array<string, string> event name => label */
    public static function events(): array
    {
        return self::loaded() ? \FluentWebhook\events() : self::EVENTS;
    }

    /**
     * An event that should have sent webhooks but could not: counted and logged, so the admin
     * notice can say what was not sent.
     */
    public static function recordMissed(string $event, int $feeds, string $reason): void
    {
        $missed = get_option(self::MISSED_OPTION, []);
        $missed = is_array($missed) ? $missed : [];
        $missed['count'] = (int) ($missed['count'] ?? 0) + 1;
        $missed['last'] = ['event' => $event, 'feeds' => $feeds, 'reason' => $reason, 'at' => time()];
        update_option(self::MISSED_OPTION, $missed, false);
        error_log("fluent-webhook: event $event for $feeds feed(s) was not sent: $reason");
    }

    /** @return array{count?: int, last?: array{event: string, feeds: int, reason: string, at: int}} */
    public static function missed(): array
    {
        $missed = get_option(self::MISSED_OPTION, []);
        return is_array($missed) ? $missed : [];
    }

    public static function clearMissed(): void
    {
        delete_option(self::MISSED_OPTION);
    }
}
