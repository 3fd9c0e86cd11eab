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
    /** How far back the log is read for this site's entries, Resend and Send test. */
    private const SCAN_LIMIT = 10000;

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
            $filter = $feedFilter > 0 ? ['feed' => FeedStore::extensionId($feedFilter)] : [];
            if ($statusFilter !== '') {
                $filter['status'] = $statusFilter;
            }
            try {
                $deliveries = array_slice(self::thisSite($filter), 0, self::LIMIT);
            } catch (\FluentWebhook\Exception $e) {
                $error = $e->getMessage();
            }
        }
        include __DIR__ . '/../../views/deliveries.php';
    }

    /**
     * This site's entries of the delivery log (shared by every site the PHP pool serves), newest
     * first. Without a feed in $filter, the newest SCAN_LIMIT entries of all sites are read.
     *
     * @return list<array<string, mixed>>
     */
    public static function thisSite(array $filter): array
    {
        $entries = \FluentWebhook\deliveries($filter + ['limit' => self::SCAN_LIMIT]);
        return array_values(array_filter($entries, static fn (array $entry) => FeedStore::isThisSite($entry['feed_id'])));
    }

    /** A delivery of this site's log by its id (looked for under $feedId when given), or null. */
    public static function find(string $id, ?string $feedId = null): ?array
    {
        if ($id === '' || !Extension::loaded()) {
            return null;
        }
        try {
            foreach (self::thisSite(FeedStore::isThisSite($feedId) ? ['feed' => $feedId] : []) as $entry) {
                if ($entry['id'] === $id) {
                    return $entry;
                }
            }
        } catch (\FluentWebhook\Exception $e) {
            error_log('fluent-webhook: the delivery log cannot be read: ' . $e->getMessage());
        }
        return null;
    }

    /** "HTTP 204 in 3 ms" or the error of an attempt, for a table cell or a notice. */
    public static function attemptSummary(?array $attempt): string
    {
        if ($attempt === null) {
            return __('not attempted yet', 'fluent-webhook');
        }
        if (!self::isAttempt($attempt)) {
            return (string) $attempt['error'];
        }
        $parts = [];
        if ($attempt['status_code'] !== null) {
            $parts[] = 'HTTP ' . $attempt['status_code'];
        }
        if ($attempt['error'] !== null && $attempt['error'] !== end($parts)) {
            $parts[] = $attempt['error'];
        }
        $parts[] = sprintf(__('in %d ms', 'fluent-webhook'), $attempt['duration_ms']);
        return implode(', ', $parts);
    }

    /**
     * Whether a log entry is a request that was made: the extension also ends a delivery with
     * an entry of its own ("canceled: …" when its feed was switched off, "not sent: …").
     */
    public static function isAttempt(array $entry): bool
    {
        return $entry['status_code'] !== null || !preg_match('/^(canceled|not sent): /', (string) $entry['error']);
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
            'resend_failed' => ['error', __('The delivery could not be sent again; the reason is in the PHP error log. For example, a webhook changed between GET and a body, or between JSON and form data, cannot resend a payload it sent before.', 'fluent-webhook')],
            default => null,
        };
    }
}
