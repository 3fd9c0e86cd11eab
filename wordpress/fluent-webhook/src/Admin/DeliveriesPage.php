<?php

namespace FluentWebhookPlugin\Admin;

use FluentWebhookPlugin\Extension;
use FluentWebhookPlugin\FeedStore;

/**
 * Deliveries: the extension's delivery log (status, attempts, the response) with Resend.
 */
final class DeliveriesPage
{
    private const STATUSES = ['pending', 'delivered', 'failed', 'gone'];
    private const LIMIT = 200;

    public function __construct(private readonly FeedStore $store)
    {
    }

    public function render(): void
    {
        Screens::requireCapability();
        $feedFilter = absint($_GET['feed'] ?? 0);
        $statusFilter = sanitize_key($_GET['status'] ?? '');
        $statusFilter = in_array($statusFilter, self::STATUSES, true) ? $statusFilter : '';
        $feeds = $this->store->all();
        $statuses = self::STATUSES;
        $events = Extension::events();
        $notice = $this->notice();
        $deliveries = [];
        $error = null;
        if (Extension::loaded()) {
            $filter = ['limit' => self::LIMIT];
            if ($feedFilter > 0) {
                $filter['feed'] = (string) $feedFilter;
            }
            if ($statusFilter !== '') {
                $filter['status'] = $statusFilter;
            }
            try {
                $deliveries = \FluentWebhook\deliveries($filter);
            } catch (\FluentWebhook\Exception $e) {
                $error = $e->getMessage();
            }
        }
        include __DIR__ . '/../../views/deliveries.php';
    }

    /** "HTTP 204 in 3 ms" or the error of an attempt, for a table cell or a notice. */
    public static function attemptSummary(?array $attempt): string
    {
        if ($attempt === null) {
            return __('not attempted yet', 'fluent-webhook');
        }
        $parts = [];
        if ($attempt['status_code'] !== null) {
            $parts[] = 'HTTP ' . $attempt['status_code'];
        }
        if ($attempt['error'] !== null) {
            $parts[] = $attempt['error'];
        }
        $parts[] = sprintf(__('in %d ms', 'fluent-webhook'), $attempt['duration_ms']);
        return implode(', ', $parts);
    }

    /** The fw_delivery query argument when it is a delivery id (msg_ and hex), else ''. */
    public static function deliveryIdFromQuery(): string
    {
        $id = is_string($_GET['fw_delivery'] ?? null) ? $_GET['fw_delivery'] : '';
        return preg_match('/^msg_[0-9a-f]{1,64}$/', $id) ? $id : '';
    }

    private function notice(): ?array
    {
        return match (sanitize_key($_GET['fw_notice'] ?? '')) {
            'resent' => ['success', sprintf(__('Sent again as a new delivery, %s.', 'fluent-webhook'), self::deliveryIdFromQuery())],
            'resend_failed' => ['error', __('The delivery could not be sent again; the reason is in the PHP error log.', 'fluent-webhook')],
            default => null,
        };
    }
}
