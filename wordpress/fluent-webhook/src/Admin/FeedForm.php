<?php

namespace FluentWebhookPlugin\Admin;

/**
 * The Add/Edit form's fields ↔ FluentCart's settings array, and the extension's validation
 * error ↔ the field it is shown next to.
 */
final class FeedForm
{
    /** A new feed: FluentCart's defaults, with one empty row in each repeatable list. */
    public const DEFAULTS = [
        'name' => '',
        'request_url' => '',
        'request_method' => 'POST',
        'request_format' => 'JSON',
        'request_headers' => 'no_headers',
        'custom_header_values' => [['header_name' => '', 'header_value' => '']],
        'request_body' => 'all_data',
        'selected_field_values' => [['field_name' => '', 'field_value' => '']],
        'event_trigger' => [],
        'enabled' => true,
    ];

    public const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];

    /** The smartcodes FluentCart's admin screen offers for a selected field's value. */
    public static function smartcodes(): array
    {
        $address = ['first_name', 'last_name', 'full_name', 'email', 'country', 'city', 'state', 'postcode', 'address_1', 'address_2'];
        $groups = [];
        foreach (['billing' => __('Billing', 'fluent-webhook'), 'shipping' => __('Shipping', 'fluent-webhook')] as $type => $label) {
            foreach ($address as $field) {
                $groups[$label]["{{order.$type.$field}}"] = "$label " . str_replace('_', ' ', $field);
            }
        }
        $groups[__('Order', 'fluent-webhook')] = [
            '{{order.id}}' => __('Order ID', 'fluent-webhook'),
            '{{order.uuid}}' => __('Order number (UUID)', 'fluent-webhook'),
            '{{order.created_at}}' => __('Order date', 'fluent-webhook'),
            '{{order.total_amount}}' => __('Order total', 'fluent-webhook'),
            '{{order.status}}' => __('Order status', 'fluent-webhook'),
        ];
        return $groups;
    }

    /**
     * The settings array from the submitted form (already unslashed). Anything that is not the
     * expected shape becomes empty, and the extension's validation then names the field.
     */
    public static function settingsFromPost(array $post, array $knownEvents): array
    {
        $feed = is_array($post['feed'] ?? null) ? $post['feed'] : [];
        $events = array_filter((array) ($feed['event_trigger'] ?? []), static fn ($event) => is_string($event) && in_array($event, $knownEvents, true));
        return [
            'name' => trim(self::text($feed['name'] ?? '')),
            'request_url' => trim(self::text($feed['request_url'] ?? '')),
            'request_method' => self::text($feed['request_method'] ?? ''),
            'request_format' => self::text($feed['request_format'] ?? ''),
            'request_headers' => self::text($feed['request_headers'] ?? ''),
            'custom_header_values' => self::rows($feed['custom_header_values'] ?? [], 'header_name', 'header_value'),
            'request_body' => self::text($feed['request_body'] ?? ''),
            'selected_field_values' => self::rows($feed['selected_field_values'] ?? [], 'field_name', 'field_value'),
            'event_trigger' => array_values($events),
            'enabled' => ($feed['enabled'] ?? '') === '1',
        ];
    }

    /**
     * The form field an InvalidFeedException is about: its message starts with the settings
     * key at fault ("request_url: must be ...").
     *
     * @return array{0: string, 1: string} field, message without the key
     */
    public static function fieldError(string $message): array
    {
        $key = strstr($message, ':', true);
        $field = match ($key) {
            'custom_header_values', 'request_headers' => 'request_headers',
            'selected_field_values', 'request_body' => 'request_body',
            'name', 'request_url', 'request_method', 'request_format', 'event_trigger', 'enabled', 'secret' => $key,
            default => 'form',
        };
        $text = $field === 'form' ? $message : ltrim(substr($message, strlen($key) + 1));
        return [$field, $text];
    }

    /**
     * Header values often are API keys: the form never shows a stored one. A row whose value
     * is left blank keeps the value stored under the same header name (the n-th row of a name
     * given twice, the n-th value; past those, the last, which is the one sent).
     */
    public static function keepStoredHeaderValues(array $settings, ?array $stored): array
    {
        $storedValues = self::headerValues($stored);
        $seen = [];
        foreach ($settings['custom_header_values'] as $i => $row) {
            $name = strtolower($row['header_name']);
            $nth = $seen[$name] = isset($seen[$name]) ? $seen[$name] + 1 : 0;
            if ($name !== '' && $row['header_value'] === '' && isset($storedValues[$name])) {
                $settings['custom_header_values'][$i]['header_value'] = $storedValues[$name][$nth] ?? end($storedValues[$name]);
            }
        }
        return $settings;
    }

    /**
     * The rows for the form: stored values blanked and marked as kept. Every value stored
     * under the name, not only the one sent: a name given twice stores both.
     */
    public static function headerRowsForForm(array $rows, ?array $stored): array
    {
        $storedValues = self::headerValues($stored);
        foreach ($rows as $i => $row) {
            $name = strtolower((string) ($row['header_name'] ?? ''));
            $rows[$i]['kept'] = isset($storedValues[$name]) && in_array($row['header_value'] ?? '', ['', ...$storedValues[$name]], true);
            if ($rows[$i]['kept']) {
                $rows[$i]['header_value'] = '';
            }
        }
        return $rows ?: [['header_name' => '', 'header_value' => '', 'kept' => false]];
    }

    /** @return array<string, non-empty-list<string>> lower-case header name => its stored values, in order */
    private static function headerValues(?array $stored): array
    {
        $values = [];
        foreach ((array) ($stored['custom_header_values'] ?? []) as $row) {
            if (is_array($row) && is_string($row['header_name'] ?? null) && is_string($row['header_value'] ?? null) && $row['header_value'] !== '') {
                $values[strtolower($row['header_name'])][] = $row['header_value'];
            }
        }
        return $values;
    }

    private static function text(mixed $value): string
    {
        return is_string($value) ? $value : '';
    }

    /** @return list<array<string, string>> */
    private static function rows(mixed $rows, string $name, string $value): array
    {
        $result = [];
        foreach (is_array($rows) ? $rows : [] as $row) {
            $row = is_array($row) ? $row : [];
            $result[] = [$name => trim(self::text($row[$name] ?? '')), $value => self::text($row[$value] ?? '')];
        }
        return $result ?: [[$name => '', $value => '']];
    }
}
