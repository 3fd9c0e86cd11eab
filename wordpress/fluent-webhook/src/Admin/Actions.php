<?php

namespace FluentWebhookPlugin\Admin;

use FluentWebhookPlugin\Extension;
use FluentWebhookPlugin\FeedStore;

/**
 * The buttons of the admin screens: Enabled toggle (AJAX), Delete, Send test, Resend and the
 * dismissal of the missed-events notice. Each checks the capability and its own nonce, then
 * redirects back with a notice code (never with text taken from the request).
 */
final class Actions
{
    public const TOGGLE = 'fluent_webhook_toggle';
    public const DELETE = 'fluent_webhook_delete';
    public const SEND_TEST = 'fluent_webhook_send_test';
    public const RESEND = 'fluent_webhook_resend';
    public const DISMISS_MISSED = 'fluent_webhook_dismiss_missed';

    /** How long "Send test" waits for the answer before it reports the delivery as pending. */
    private const TEST_WAIT_SECONDS = 10.0;

    public function __construct(private readonly FeedStore $store)
    {
    }

    public function register(): void
    {
        add_action('wp_ajax_' . self::TOGGLE, [$this, 'toggle']);
        add_action('admin_post_' . self::DELETE, [$this, 'delete']);
        add_action('admin_post_' . self::SEND_TEST, [$this, 'sendTest']);
        add_action('admin_post_' . self::RESEND, [$this, 'resend']);
        add_action('admin_post_' . self::DISMISS_MISSED, [$this, 'dismissMissed']);
    }

    public function toggle(): void
    {
        if (!check_ajax_referer(self::TOGGLE, 'nonce', false) || !current_user_can(Screens::CAPABILITY)) {
            wp_send_json_error(['message' => __('Your session expired or you may not manage webhooks; reload the page.', 'fluent-webhook')], 403);
        }
        $id = absint($_POST['id'] ?? 0);
        $enabled = ($_POST['enabled'] ?? '') === '1';
        if (!$this->store->setEnabled($id, $enabled)) {
            wp_send_json_error(['message' => __('This webhook feed no longer exists.', 'fluent-webhook')], 404);
        }
        $canceled = $enabled ? 0 : FeedStore::cancelPending($id, 'the feed was switched off');
        // Switched off even so; the page tells the owner that its retries may still go out.
        wp_send_json_success(['id' => $id, 'enabled' => $enabled, 'canceled' => $canceled ?? 0, 'cancel_failed' => $canceled === null]);
    }

    public function delete(): void
    {
        $id = $this->checkedFeedId(self::DELETE);
        $this->store->delete($id);
        $canceled = FeedStore::cancelPending($id, 'the feed was deleted');
        $this->redirect(Screens::url(Screens::LIST_PAGE, ['fw_notice' => $canceled === null ? 'deleted_not_canceled' : 'deleted']));
    }

    /**
     * Sends the feed's request with the sample order, as its first event, even when the feed
     * is switched off, and waits a few seconds for the answer to show it.
     */
    public function sendTest(): void
    {
        $id = $this->checkedFeedId(self::SEND_TEST);
        $settings = $this->store->get($id);
        if ($settings === null || !Extension::loaded()) {
            $this->redirect(Screens::url(Screens::LIST_PAGE, ['fw_notice' => 'test_impossible']));
        }
        $settings['enabled'] = true;
        $event = (string) (((array) ($settings['event_trigger'] ?? []))[0] ?? 'order_paid_done');
        try {
            $feed = new \FluentWebhook\Feed($settings, FeedStore::extensionId($id));
            $ids = \FluentWebhook\dispatch($event, self::sampleData(), [$feed]);
            \FluentWebhook\flush(self::TEST_WAIT_SECONDS);
        } catch (\FluentWebhook\Exception $e) {
            error_log('fluent-webhook: send test failed: ' . $e->getMessage());
            $this->redirect(Screens::url(Screens::LIST_PAGE, ['fw_notice' => 'test_failed']));
        }
        $this->redirect(Screens::url(Screens::LIST_PAGE, ['fw_notice' => 'test', 'fw_feed' => $id, 'fw_delivery' => $ids[0] ?? '']));
    }

    /** Sends a delivery of this site's log again, as a new delivery. */
    public function resend(): void
    {
        Screens::requireCapability();
        $id = is_string($_POST['delivery'] ?? null) ? $_POST['delivery'] : '';
        check_admin_referer(self::RESEND . '_' . $id);
        $feedId = is_string($_POST['feed_id'] ?? null) ? wp_unslash($_POST['feed_id']) : null;
        $entry = Extension::loaded() ? DeliveriesPage::find($id, $feedId) : null;
        if ($entry === null) {
            $this->redirect(Screens::url(Screens::DELIVERIES_PAGE, ['fw_notice' => 'resend_failed']));
        }
        try {
            // To the feed as it is now (a fixed URL, new credentials); a deleted feed's as sent.
            $feed = $this->currentFeed($entry['feed_id']);
            $newId = $feed === null ? \FluentWebhook\redeliver($id) : \FluentWebhook\redeliver($id, $feed);
        } catch (\FluentWebhook\Exception | \UnexpectedValueException $e) {
            error_log('fluent-webhook: resend failed: ' . $e->getMessage());
            $this->redirect(Screens::url(Screens::DELIVERIES_PAGE, ['fw_notice' => 'resend_failed']));
        }
        $this->redirect(Screens::url(Screens::DELIVERIES_PAGE, ['fw_notice' => 'resent', 'fw_delivery' => $newId]));
    }

    /**
     * The stored feed the extension files deliveries under $extensionId; null when it was
     * deleted. A stored feed the extension refuses is not resent as it was (to its old
     * address): UnexpectedValueException.
     */
    private function currentFeed(?string $extensionId): ?\FluentWebhook\Feed
    {
        $feeds = $this->store->feeds();
        foreach (array_keys($this->store->all()) as $id) {
            if ($extensionId !== null && FeedStore::extensionId((int) $id) === $extensionId) {
                return $feeds[$id] ?? throw new \UnexpectedValueException("feed $id is stored with settings the extension refuses");
            }
        }
        return null;
    }

    public function dismissMissed(): void
    {
        Screens::requireCapability();
        check_admin_referer(self::DISMISS_MISSED);
        Extension::clearMissed();
        $this->redirect(wp_get_referer() ?: Screens::url(Screens::LIST_PAGE));
    }

    /** The sample order that "Send test" sends, shaped as FluentCart's order_paid_done data. */
    public static function sampleData(): array
    {
        $json = file_get_contents(dirname(FLUENT_WEBHOOK_PLUGIN_FILE) . '/data/sample-order_paid_done.json');
        return json_decode((string) $json, true) ?: [];
    }

    private function checkedFeedId(string $action): int
    {
        Screens::requireCapability();
        $id = absint($_POST['feed'] ?? 0);
        check_admin_referer($action . '_' . $id);
        return $id;
    }

    private function redirect(string $url): never
    {
        wp_safe_redirect($url);
        exit;
    }
}
