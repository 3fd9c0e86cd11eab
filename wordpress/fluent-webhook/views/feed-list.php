<?php
/**
 * The Webhooks list.
 *
 * @var array<int, array<string, mixed>> $feeds
 * @var array<string, string> $events name => label
 * @var array{0: string, 1: string}|null $notice
 * @var array{feed: int, secret: string}|null $secret
 */

use FluentWebhookPlugin\Admin\Actions;
use FluentWebhookPlugin\Admin\Screens;

defined('ABSPATH') || exit;

$postButton = static function (string $action, int $id, string $label, string $class, string $icon): void {
    ?>
    <form method="post" action="<?php echo esc_url(admin_url('admin-post.php')); ?>" class="fw-inline-form <?php echo esc_attr($class); ?>">
        <input type="hidden" name="action" value="<?php echo esc_attr($action); ?>">
        <input type="hidden" name="feed" value="<?php echo (int) $id; ?>">
        <?php wp_nonce_field($action . '_' . $id); ?>
        <button type="submit" class="button-link"><span class="dashicons dashicons-<?php echo esc_attr($icon); ?>" aria-hidden="true"></span><?php echo esc_html($label); ?></button>
    </form>
    <?php
};
?>
<div class="wrap fluent-webhook">
    <h1 class="wp-heading-inline"><?php esc_html_e('Webhooks', 'fluent-webhook'); ?></h1>
    <details class="fw-add-integration">
        <summary class="page-title-action"><?php esc_html_e('Add Integration', 'fluent-webhook'); ?></summary>
        <ul>
            <li><a href="<?php echo esc_url(Screens::url(Screens::FORM_PAGE)); ?>" id="fw-add-webhook"><?php esc_html_e('Webhook', 'fluent-webhook'); ?></a></li>
        </ul>
    </details>
    <hr class="wp-header-end">

    <?php if ($notice !== null) : ?>
        <div class="notice notice-<?php echo esc_attr($notice[0]); ?> is-dismissible fw-notice"><p><?php echo esc_html($notice[1]); ?></p></div>
    <?php endif; ?>
    <?php if ($secret !== null) : ?>
        <div class="notice notice-warning fw-secret-once">
            <p><strong><?php esc_html_e('Signing secret of this feed. Copy it now into the receiving application: it is not shown again.', 'fluent-webhook'); ?></strong></p>
            <p><input type="text" readonly class="large-text code" id="fw-new-secret" value="<?php echo esc_attr($secret['secret']); ?>" onfocus="this.select()"></p>
        </div>
    <?php endif; ?>

    <table class="wp-list-table widefat fixed striped fw-feeds">
        <thead>
        <tr>
            <th scope="col" class="column-primary"><?php esc_html_e('Name', 'fluent-webhook'); ?></th>
            <th scope="col"><?php esc_html_e('Request URL', 'fluent-webhook'); ?></th>
            <th scope="col"><?php esc_html_e('Triggers', 'fluent-webhook'); ?></th>
            <th scope="col" class="fw-col-enabled"><?php esc_html_e('Enabled', 'fluent-webhook'); ?></th>
            <th scope="col" class="fw-col-actions"><?php esc_html_e('Actions', 'fluent-webhook'); ?></th>
        </tr>
        </thead>
        <tbody>
        <?php if (!$feeds) : ?>
            <tr class="no-items"><td colspan="5"><?php esc_html_e('No webhooks yet. Click Add Integration, then Webhook.', 'fluent-webhook'); ?></td></tr>
        <?php endif; ?>
        <?php foreach ($feeds as $id => $feed) :
            $enabled = \FluentWebhookPlugin\FeedStore::isEnabled($feed);
            $editUrl = Screens::url(Screens::FORM_PAGE, ['id' => $id]);
            $triggers = array_map(static fn ($event) => $events[$event] ?? $event, (array) ($feed['event_trigger'] ?? []));
            ?>
            <tr data-feed-id="<?php echo (int) $id; ?>">
                <td class="column-primary" data-colname="<?php esc_attr_e('Name', 'fluent-webhook'); ?>">
                    <strong><a class="row-title" href="<?php echo esc_url($editUrl); ?>"><?php echo esc_html($feed['name'] ?? ''); ?></a></strong>
                    <?php echo $feed['request_method'] ?? '' ? '<span class="fw-method">' . esc_html($feed['request_method']) . ' · ' . esc_html($feed['request_format'] ?? 'JSON') . '</span>' : ''; ?>
                </td>
                <td data-colname="<?php esc_attr_e('Request URL', 'fluent-webhook'); ?>"><code class="fw-url"><?php echo esc_html($feed['request_url'] ?? ''); ?></code></td>
                <td data-colname="<?php esc_attr_e('Triggers', 'fluent-webhook'); ?>"><?php echo esc_html(implode(', ', $triggers)); ?></td>
                <td data-colname="<?php esc_attr_e('Enabled', 'fluent-webhook'); ?>">
                    <label class="fw-toggle" title="<?php esc_attr_e('Takes effect at once; switching off also cancels the deliveries waiting for a retry.', 'fluent-webhook'); ?>">
                        <input type="checkbox" class="fw-enabled-toggle" data-feed-id="<?php echo (int) $id; ?>"<?php checked($enabled); ?>
                            aria-label="<?php echo esc_attr(sprintf(__('Enable %s', 'fluent-webhook'), $feed['name'] ?? '')); ?>">
                        <span class="fw-toggle-track" aria-hidden="true"></span>
                        <span class="fw-toggle-state"><?php echo $enabled ? esc_html__('On', 'fluent-webhook') : esc_html__('Off', 'fluent-webhook'); ?></span>
                    </label>
                </td>
                <td class="fw-actions" data-colname="<?php esc_attr_e('Actions', 'fluent-webhook'); ?>">
                    <a href="<?php echo esc_url($editUrl); ?>" class="fw-edit"><span class="dashicons dashicons-edit" aria-hidden="true"></span><?php esc_html_e('Edit', 'fluent-webhook'); ?></a>
                    <?php $postButton(Actions::SEND_TEST, (int) $id, __('Send test', 'fluent-webhook'), 'fw-send-test', 'controls-play'); ?>
                    <a href="<?php echo esc_url(Screens::url(Screens::DELIVERIES_PAGE, ['feed' => $id])); ?>" class="fw-deliveries"><span class="dashicons dashicons-list-view" aria-hidden="true"></span><?php esc_html_e('Deliveries', 'fluent-webhook'); ?></a>
                    <?php $postButton(Actions::DELETE, (int) $id, __('Delete', 'fluent-webhook'), 'fw-delete', 'trash'); ?>
                </td>
            </tr>
        <?php endforeach; ?>
        </tbody>
    </table>
</div>
