<?php

namespace FluentWebhookPlugin\Admin;

use FluentWebhookPlugin\Extension;
use FluentWebhookPlugin\FeedStore;

/**
 * The admin menu (Webhooks, Add Webhook, Deliveries), its assets, and the notice shown on every
 * admin screen when the extension is missing.
 */
final class Screens
{
    public const CAPABILITY = 'manage_options';
    public const LIST_PAGE = 'fluent-webhook';
    public const FORM_PAGE = 'fluent-webhook-feed';
    public const DELIVERIES_PAGE = 'fluent-webhook-deliveries';

    public function __construct(private readonly FeedStore $store)
    {
    }

    public function register(): void
    {
        add_action('admin_menu', [$this, 'menu']);
        add_action('admin_notices', [$this, 'extensionNotice']);
        (new Actions($this->store))->register();
    }

    public function menu(): void
    {
        $list = new FeedListPage($this->store);
        $form = new FeedFormPage($this->store);
        $deliveries = new DeliveriesPage($this->store);
        $hooks = [];
        $hooks[] = add_menu_page(__('Webhooks', 'fluent-webhook'), __('Webhooks', 'fluent-webhook'), self::CAPABILITY,
            self::LIST_PAGE, [$list, 'render'], 'dashicons-rest-api', 58);
        $hooks[] = add_submenu_page(self::LIST_PAGE, __('Webhooks', 'fluent-webhook'), __('All Webhooks', 'fluent-webhook'),
            self::CAPABILITY, self::LIST_PAGE, [$list, 'render']);
        $hooks[] = $formHook = add_submenu_page(self::LIST_PAGE, __('Add Webhook', 'fluent-webhook'), __('Add Webhook', 'fluent-webhook'),
            self::CAPABILITY, self::FORM_PAGE, [$form, 'render']);
        $hooks[] = add_submenu_page(self::LIST_PAGE, __('Webhook Deliveries', 'fluent-webhook'), __('Deliveries', 'fluent-webhook'),
            self::CAPABILITY, self::DELIVERIES_PAGE, [$deliveries, 'render']);
        // The form is saved before any output, so that a valid feed can redirect to the list.
        add_action("load-$formHook", [$form, 'handle']);
        foreach (array_filter($hooks) as $hook) {
            add_action("load-$hook", [$this, 'enqueueAssets']);
        }
    }

    public function enqueueAssets(): void
    {
        $base = plugin_dir_url(FLUENT_WEBHOOK_PLUGIN_FILE) . 'assets/';
        wp_enqueue_style('fluent-webhook-admin', $base . 'admin.css', [], '0.1.0');
        wp_enqueue_script('fluent-webhook-admin', $base . 'admin.js', [], '0.1.0', true);
        wp_localize_script('fluent-webhook-admin', 'fluentWebhookAdmin', [
            'ajaxUrl' => admin_url('admin-ajax.php'),
            'toggleNonce' => wp_create_nonce(Actions::TOGGLE),
            'confirmDelete' => __('Delete this webhook feed permanently? Its deliveries waiting for a retry are canceled; its delivery log stays.', 'fluent-webhook'),
            'toggleFailed' => __('The feed could not be switched: %s', 'fluent-webhook'),
            'cancelFailed' => __('The feed is switched off, but its deliveries waiting for a retry could not be canceled: they may still be sent. The reason is in the PHP error log; switch it on and off again to retry.', 'fluent-webhook'),
            'on' => __('On', 'fluent-webhook'),
            'off' => __('Off', 'fluent-webhook'),
        ]);
    }

    public function extensionNotice(): void
    {
        if (!current_user_can(self::CAPABILITY)) {
            return;
        }
        $missed = Extension::missed();
        if (Extension::loaded() && empty($missed['count'])) {
            return;
        }
        include __DIR__ . '/../../views/extension-notice.php';
    }

    public static function url(string $page, array $args = []): string
    {
        return add_query_arg(array_merge(['page' => $page], $args), admin_url('admin.php'));
    }

    /** Stops a request from a user who may not manage webhooks. */
    public static function requireCapability(): void
    {
        if (!current_user_can(self::CAPABILITY)) {
            wp_die(esc_html__('You are not allowed to manage webhooks.', 'fluent-webhook'), 403);
        }
    }
}
