<?php
/**
 * Plugin Name: fluent-webhook e2e store events
 * Description: Test site only (installed by e2e/run.sh): fires FluentCart's actions with a sample
 * order, as FluentCart's checkout does, on ?fluent_webhook_e2e_fire=EVENT,EVENT&token=TOKEN.
 */

defined('ABSPATH') || exit;

/**
 * A stand-in for FluentCart's Order model (a WPFluent/Eloquent model): attributes, relations
 * loaded on demand with loadMissing(), and toArray() with the loaded relations, so that the
 * plugin's shaping of models is what is tested.
 */
final class FluentWebhookE2eOrder
{
    private const RELATIONS = ['order_items', 'customer', 'billing_address', 'shipping_address'];
    private array $attributes;
    private array $related;
    private array $loaded = [];

    public function __construct(array $order)
    {
        $this->related = array_intersect_key($order, array_flip(self::RELATIONS));
        $this->attributes = array_diff_key($order, array_flip([...self::RELATIONS, 'billing', 'shipping']));
    }

    public function __get(string $name): mixed
    {
        return $this->attributes[$name] ?? $this->loaded[$name] ?? null;
    }

    public function __isset(string $name): bool
    {
        return isset($this->attributes[$name]) || isset($this->loaded[$name]);
    }

    public function loadMissing(string $relation): static
    {
        $this->loaded[$relation] ??= $this->related[$relation] ?? null;
        return $this;
    }

    public function order_items(): void {}
    public function customer(): void {}
    public function billing_address(): void {}
    public function shipping_address(): void {}

    public function toArray(): array
    {
        return $this->attributes + $this->loaded;
    }
}

// The test machine has no route to wordpress.org: no update checks (each would log a warning).
foreach (['_maybe_update_core', '_maybe_update_plugins', '_maybe_update_themes', 'wp_maybe_auto_update', 'wp_update_plugins', 'wp_update_themes'] as $check) {
    remove_action('admin_init', $check);
    remove_action('load-plugins.php', $check);
    remove_action('load-update-core.php', $check);
}
add_filter('pre_site_transient_update_core', '__return_null');

add_action('init', static function (): void {
    $token = $_GET['token'] ?? null;
    if (!defined('FLUENT_WEBHOOK_E2E_TOKEN') || !is_string($token) || !is_string($_GET['fluent_webhook_e2e_fire'] ?? null)
        || !hash_equals(FLUENT_WEBHOOK_E2E_TOKEN, $token)) {
        return;
    }
    $sample = json_decode(file_get_contents(FLUENT_WEBHOOK_E2E_FIXTURES . '/order_paid_done.json'), true);
    $before = function_exists('FluentWebhook\\stats') ? FluentWebhook\stats()['dispatched'] : 0;
    foreach (explode(',', (string) $_GET['fluent_webhook_e2e_fire']) as $event) {
        $order = new FluentWebhookE2eOrder($sample['order']);
        do_action('fluent_cart/' . sanitize_key($event), ['order' => $order, 'customer' => $sample['customer']]);
    }
    $after = function_exists('FluentWebhook\\stats') ? FluentWebhook\stats()['dispatched'] : 0;
    wp_send_json(['dispatched' => $after - $before, 'order_id' => $sample['order']['id']]);
});
