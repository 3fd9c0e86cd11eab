<?php

namespace FluentWebhookPlugin\Admin;

use FluentWebhookPlugin\Extension;
use FluentWebhookPlugin\FeedStore;

/**
 * Add/Edit Webhook. A submitted form is validated by the extension's Feed: valid settings are
 * stored and the browser goes back to the list; invalid ones come back with the error next to
 * the field at fault and every value as typed.
 */
final class FeedFormPage
{
    public const SAVE = 'fluent_webhook_save_feed';

    /** @var array<string, string> field => error */
    private array $errors = [];
    private ?array $submitted = null;

    public function __construct(private readonly FeedStore $store)
    {
    }

    public function handle(): void
    {
        if (($_SERVER['REQUEST_METHOD'] ?? 'GET') !== 'POST') {
            return;
        }
        Screens::requireCapability();
        $id = absint($_GET['id'] ?? 0);
        check_admin_referer(self::SAVE . '_' . $id);
        $post = wp_unslash($_POST);
        $stored = $id > 0 ? $this->store->get($id) : null;
        $settings = FeedForm::settingsFromPost($post, array_keys(Extension::events()));
        $this->submitted = $settings;
        $settings = FeedForm::keepStoredHeaderValues($settings, $stored);
        if ($id > 0 && $stored === null) {
            $this->errors['form'] = __('This webhook feed no longer exists.', 'fluent-webhook');
            return;
        }
        if (!Extension::loaded()) {
            $this->errors['form'] = __('The fluent_webhook extension is not loaded: the feed cannot be checked or sent.', 'fluent-webhook');
            return;
        }
        [$secret, $newSecret] = $this->secret($id, is_string($post['signing'] ?? null) ? $post['signing'] : 'keep');
        if ($secret !== null) {
            $settings['secret'] = $secret;
        }
        try {
            new \FluentWebhook\Feed($settings);
        } catch (\FluentWebhook\Exception $e) {
            [$field, $message] = FeedForm::fieldError($e->getMessage());
            $this->errors[$field] = $message;
            return;
        }
        $notice = $this->isNew() ? 'created' : 'saved';
        if ($id > 0) {
            $before = $this->store->get($id);
            $this->store->update($id, $settings);
            $reason = $before === null ? null : FeedStore::cancelReasonForEdit($before, $settings);
            if ($reason !== null && FeedStore::cancelPending($id, $reason) === null) {
                $notice = 'saved_not_canceled';
            }
        } else {
            $id = $this->store->insert($settings);
        }
        if ($newSecret) {
            // Shown once, on the next page this user sees, then forgotten by the page.
            set_transient($this->secretTransient(), ['feed' => $id, 'secret' => $secret], 10 * MINUTE_IN_SECONDS);
        }
        wp_safe_redirect(Screens::url(Screens::LIST_PAGE, ['fw_notice' => $notice, 'fw_feed' => $id]));
        exit;
    }

    public function render(): void
    {
        Screens::requireCapability();
        $id = absint($_GET['id'] ?? 0);
        $stored = $id > 0 ? $this->store->get($id) : null;
        if ($id > 0 && $stored === null) {
            wp_die(esc_html__('This webhook feed no longer exists.', 'fluent-webhook'), 404);
        }
        $settings = array_merge(FeedForm::DEFAULTS, $this->submitted ?? $stored ?? []);
        $settings['custom_header_values'] = FeedForm::headerRowsForForm(array_values((array) $settings['custom_header_values']), $stored);
        if (!$settings['selected_field_values']) {
            $settings['selected_field_values'] = FeedForm::DEFAULTS['selected_field_values'];
        }
        $hasSecret = !empty($stored['secret']);
        unset($settings['secret']);
        $errors = $this->errors;
        $events = Extension::events();
        $smartcodes = FeedForm::smartcodes();
        $isNew = $id === 0;
        $action = Screens::url(Screens::FORM_PAGE, $isNew ? [] : ['id' => $id]);
        $nonceAction = self::SAVE . '_' . $id;
        include __DIR__ . '/../../views/feed-form.php';
    }

    /**
     * The secret to store, and whether it is new (to be shown once). The form never carries a
     * stored secret: it only says keep, generate, or stop signing.
     *
     * @return array{0: ?string, 1: bool}
     */
    private function secret(int $id, string $signing): array
    {
        $current = $id > 0 ? ($this->store->get($id)['secret'] ?? null) : null;
        return match ($signing) {
            'generate' => [\FluentWebhook\generate_secret(), true],
            'none' => [null, false],
            default => [is_string($current) && $current !== '' ? $current : null, false],
        };
    }

    private function isNew(): bool
    {
        return absint($_GET['id'] ?? 0) === 0;
    }

    public static function secretTransientFor(int $userId): string
    {
        return 'fluent_webhook_new_secret_' . $userId;
    }

    private function secretTransient(): string
    {
        return self::secretTransientFor(get_current_user_id());
    }
}
