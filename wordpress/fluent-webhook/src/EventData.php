<?php

namespace FluentWebhookPlugin;

/**
 * Shapes the argument of a FluentCart action the way FluentCart hands it to integrations: the
 * order with its items, customer and addresses loaded, the addresses also as order.billing and
 * order.shipping (what the smartcodes read), the subscription where there is one, and every
 * model turned into a plain array.
 */
final class EventData
{
    /** Relations of FluentCart's Order model that "All Data" carries. */
    private const ORDER_RELATIONS = ['order_items', 'customer', 'billing_address', 'shipping_address', 'subscriptions'];

    /** Deeper than any store data; stops a model graph that refers back to itself. */
    private const MAX_DEPTH = 32;

    /**
     * More values than any order holds (a thousand items of fifty fields are half of it; its
     * body would be over max_payload_bytes), and few enough that their copy stays within a
     * front end's memory_limit. Objects shared along many paths, or arrays holding PHP
     * references to themselves, are walked again on every path: without a bound, in time and
     * memory that double with each level.
     */
    private const MAX_VALUES = 100_000;

    /** @return array<array-key, mixed> */
    public static function shape(mixed $data): array
    {
        $data = is_array($data) ? $data : ['data' => $data];
        if (is_object($data['order'] ?? null)) {
            self::loadRelations($data['order'], self::ORDER_RELATIONS);
        }
        $valuesLeft = self::MAX_VALUES;
        $shaped = self::plain($data, 0, [], $valuesLeft);
        if (is_array($shaped['order'] ?? null)) {
            $order = &$shaped['order'];
            foreach (['billing' => 'billing_address', 'shipping' => 'shipping_address'] as $short => $relation) {
                if (!isset($order[$short]) && isset($order[$relation])) {
                    $order[$short] = $order[$relation];
                }
            }
            if (!isset($shaped['customer']) && isset($order['customer'])) {
                $shaped['customer'] = $order['customer'];
            }
            // A subscription order's paid event carries its subscription, as the subscription
            // events do.
            if (!isset($shaped['subscription']) && is_array($order['subscriptions'] ?? null) && $order['subscriptions']) {
                $shaped['subscription'] = reset($order['subscriptions']);
            }
        }
        return $shaped;
    }

    /** The order's id, for FluentCart's rule of one run per (feed, order) per request. */
    public static function orderId(mixed $data): ?string
    {
        $order = is_array($data) ? ($data['order'] ?? null) : null;
        $id = is_object($order) ? ($order->id ?? null) : (is_array($order) ? ($order['id'] ?? null) : null);
        return is_scalar($id) && $id !== '' ? (string) $id : null;
    }

    private static function loadRelations(object $model, array $relations): void
    {
        // FluentCart's models are WPFluent (Eloquent) models: loadMissing() reads each relation
        // once; a relation the model does not have is skipped.
        if (!method_exists($model, 'loadMissing')) {
            return;
        }
        foreach ($relations as $relation) {
            if (method_exists($model, $relation)) {
                try {
                    $model->loadMissing($relation);
                } catch (\Throwable $e) {
                    error_log("fluent-webhook: could not load the order's $relation: " . $e->getMessage());
                }
            }
        }
    }

    /**
     * @param array<int, true> $path the objects being shaped around $value (spl_object_id)
     * @throws \LengthException past MAX_VALUES values: the bridge records the event as missed
     */
    private static function plain(mixed $value, int $depth, array $path, int &$valuesLeft): mixed
    {
        if ($depth > self::MAX_DEPTH) {
            return null;
        }
        if (--$valuesLeft < 0) {
            throw new \LengthException('the event data holds more than ' . self::MAX_VALUES . ' values, or refers to the same values along that many paths');
        }
        if (is_object($value)) {
            // A reference back to an object being shaped (an item's order): its data is there
            // already. Followed, each back reference walked the graph again down to MAX_DEPTH.
            $id = spl_object_id($value);
            if (isset($path[$id])) {
                return null;
            }
            $path[$id] = true;
            // A date first: Carbon, which WPFluent's models hold their dates in, has a toArray()
            // of its parts too. Written as the models write theirs (the samples' created_at).
            $value = match (true) {
                $value instanceof \DateTimeInterface => $value->format('Y-m-d H:i:s'),
                method_exists($value, 'toArray') => $value->toArray(),
                $value instanceof \JsonSerializable => $value->jsonSerialize(),
                default => get_object_vars($value),
            };
        }
        if (is_array($value)) {
            foreach ($value as $key => $item) {
                $value[$key] = self::plain($item, $depth + 1, $path, $valuesLeft);
            }
        }
        return $value;
    }
}
