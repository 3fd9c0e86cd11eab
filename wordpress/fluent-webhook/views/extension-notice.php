<?php
/**
 * @var array{count?: int, last?: array{event: string, feeds: int, reason: string, at: int}} $missed
 */

use FluentWebhookPlugin\Extension;

defined('ABSPATH') || exit;
?>
<div class="notice notice-error fluent-webhook-notice" id="fluent-webhook-extension-notice">
    <?php if (!Extension::loaded()) : ?>
        <p><strong><?php esc_html_e('FluentCart Webhooks: the fluent_webhook PHP extension is not loaded, so no webhook is sent.', 'fluent-webhook'); ?></strong></p>
        <p><?php esc_html_e('Install it from the fluent-webhook source as root, then restart PHP-FPM:', 'fluent-webhook'); ?>
            <code><?php echo esc_html(Extension::INSTALL_COMMAND); ?></code>
            <?php esc_html_e('(or add extension=fluent_webhook.so to php.ini).', 'fluent-webhook'); ?></p>
    <?php endif; ?>
    <?php if (!empty($missed['count'])) : ?>
        <p><?php
            printf(
                /* translators: 1: number of events, 2: event name, 3: date, 4: reason */
                esc_html__('%1$d store event(s) were not sent to their webhooks; the last: %2$s at %3$s (%4$s). See the PHP error log.', 'fluent-webhook'),
                (int) $missed['count'],
                esc_html($missed['last']['event'] ?? ''),
                esc_html(wp_date('Y-m-d H:i:s', (int) ($missed['last']['at'] ?? 0))),
                esc_html($missed['last']['reason'] ?? '')
            );
        ?></p>
        <form method="post" action="<?php echo esc_url(admin_url('admin-post.php')); ?>">
            <input type="hidden" name="action" value="<?php echo esc_attr(\FluentWebhookPlugin\Admin\Actions::DISMISS_MISSED); ?>">
            <?php wp_nonce_field(\FluentWebhookPlugin\Admin\Actions::DISMISS_MISSED); ?>
            <p><button type="submit" class="button"><?php esc_html_e('Dismiss', 'fluent-webhook'); ?></button></p>
        </form>
    <?php endif; ?>
</div>
