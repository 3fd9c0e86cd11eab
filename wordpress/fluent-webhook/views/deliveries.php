<?php
/**
 * The delivery log.
 *
 * @var array<int, array<string, mixed>> $feeds
 * @var list<array<string, mixed>> $deliveries entries of FluentWebhook\deliveries()
 * @var list<string> $statuses
 * @var int    $feedFilter
 * @var string $statusFilter
 * @var array{0: string, 1: string}|null $notice
 * @var string|null $error
 * @var array<string, string> $events name => label
 */

use FluentWebhookPlugin\Admin\Actions;
use FluentWebhookPlugin\Admin\DeliveriesPage;
use FluentWebhookPlugin\Admin\Screens;

defined('ABSPATH') || exit;

$time = static fn (?float $at): string => $at === null ? '—' : wp_date('Y-m-d H:i:s', (int) $at);
?>
<div class="wrap fluent-webhook">
    <h1 class="wp-heading-inline"><?php esc_html_e('Webhook Deliveries', 'fluent-webhook'); ?></h1>
    <hr class="wp-header-end">
    <?php if ($notice !== null) : ?>
        <div class="notice notice-<?php echo esc_attr($notice[0]); ?> is-dismissible fw-notice"><p><?php echo esc_html($notice[1]); ?></p></div>
    <?php endif; ?>
    <?php if ($error !== null) : ?>
        <div class="notice notice-error"><p><?php echo esc_html($error); ?></p></div>
    <?php endif; ?>

    <form method="get" class="fw-filters">
        <input type="hidden" name="page" value="<?php echo esc_attr(Screens::DELIVERIES_PAGE); ?>">
        <label for="fw-filter-feed" class="screen-reader-text"><?php esc_html_e('Webhook', 'fluent-webhook'); ?></label>
        <select name="feed" id="fw-filter-feed">
            <option value="0"><?php esc_html_e('All webhooks', 'fluent-webhook'); ?></option>
            <?php foreach ($feeds as $id => $feed) : ?>
                <option value="<?php echo (int) $id; ?>"<?php selected($feedFilter, $id); ?>><?php echo esc_html($feed['name'] ?? ''); ?></option>
            <?php endforeach; ?>
        </select>
        <label for="fw-filter-status" class="screen-reader-text"><?php esc_html_e('Status', 'fluent-webhook'); ?></label>
        <select name="status" id="fw-filter-status">
            <option value=""><?php esc_html_e('Any status', 'fluent-webhook'); ?></option>
            <?php foreach ($statuses as $status) : ?>
                <option value="<?php echo esc_attr($status); ?>"<?php selected($statusFilter, $status); ?>><?php echo esc_html(ucfirst($status)); ?></option>
            <?php endforeach; ?>
        </select>
        <button type="submit" class="button"><?php esc_html_e('Filter', 'fluent-webhook'); ?></button>
    </form>

    <table class="wp-list-table widefat fixed striped fw-deliveries">
        <thead>
        <tr>
            <th scope="col"><?php esc_html_e('Created', 'fluent-webhook'); ?></th>
            <th scope="col"><?php esc_html_e('Webhook', 'fluent-webhook'); ?></th>
            <th scope="col"><?php esc_html_e('Event', 'fluent-webhook'); ?></th>
            <th scope="col"><?php esc_html_e('Request', 'fluent-webhook'); ?></th>
            <th scope="col"><?php esc_html_e('Status', 'fluent-webhook'); ?></th>
            <th scope="col"><?php esc_html_e('Attempts', 'fluent-webhook'); ?></th>
            <th scope="col"><?php esc_html_e('Response', 'fluent-webhook'); ?></th>
            <th scope="col"></th>
        </tr>
        </thead>
        <tbody>
        <?php if (!$deliveries) : ?>
            <tr class="no-items"><td colspan="8"><?php esc_html_e('No deliveries match.', 'fluent-webhook'); ?></td></tr>
        <?php endif; ?>
        <?php foreach ($deliveries as $delivery) :
            $attempts = $delivery['attempts'];
            $last = $attempts ? $attempts[count($attempts) - 1] : null;
            ?>
            <tr data-delivery-id="<?php echo esc_attr($delivery['id']); ?>" class="fw-delivery fw-status-<?php echo esc_attr($delivery['status']); ?>">
                <td><?php echo esc_html($time($delivery['created_at'])); ?><br><code class="fw-delivery-id"><?php echo esc_html($delivery['id']); ?></code></td>
                <td><?php echo esc_html($delivery['feed_name']); ?></td>
                <td><?php echo esc_html($events[$delivery['event']] ?? $delivery['event']); ?></td>
                <td><code><?php echo esc_html($delivery['method']); ?></code> <span class="fw-url"><?php echo esc_html($delivery['url']); ?></span></td>
                <td><span class="fw-badge fw-badge-<?php echo esc_attr($delivery['status']); ?>"><?php echo esc_html($delivery['status']); ?></span>
                    <?php if ($delivery['next_attempt_at'] !== null && $delivery['status'] === 'pending') : ?>
                        <br><small><?php printf(esc_html__('next attempt %s', 'fluent-webhook'), esc_html($time($delivery['next_attempt_at']))); ?></small>
                    <?php endif; ?>
                </td>
                <td><span class="fw-attempt-count"><?php echo (int) count(array_filter($attempts, [DeliveriesPage::class, 'isAttempt'])); ?></span> · <?php echo esc_html(DeliveriesPage::attemptSummary($last)); ?></td>
                <td><code class="fw-response"><?php echo esc_html(wp_html_excerpt((string) $delivery['response_excerpt'], 200, '…')); ?></code></td>
                <td>
                    <?php if ($delivery['status'] !== 'pending') : // a pending delivery is still being sent ?>
                    <form method="post" action="<?php echo esc_url(admin_url('admin-post.php')); ?>" class="fw-inline-form fw-resend">
                        <input type="hidden" name="action" value="<?php echo esc_attr(Actions::RESEND); ?>">
                        <input type="hidden" name="delivery" value="<?php echo esc_attr($delivery['id']); ?>">
                        <input type="hidden" name="feed_id" value="<?php echo esc_attr((string) $delivery['feed_id']); ?>">
                        <?php wp_nonce_field(Actions::RESEND . '_' . $delivery['id']); ?>
                        <button type="submit" class="button button-small" title="<?php esc_attr_e('Sends this payload again, as a new delivery, to the webhook as it is set now', 'fluent-webhook'); ?>"><?php esc_html_e('Resend', 'fluent-webhook'); ?></button>
                    </form>
                    <?php endif; ?>
                </td>
            </tr>
        <?php endforeach; ?>
        </tbody>
    </table>
</div>
