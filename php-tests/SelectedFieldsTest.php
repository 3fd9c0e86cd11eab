<?php

namespace FluentWebhook\Tests;

use function FluentWebhook\dispatch;

/**
 * "Selected Fields": payload key → smartcode template, rendered against the sample events
 * and sent through a real receiver in both formats.
 */
final class SelectedFieldsTest extends WebhookTestCase
{
    private function fields(array $map): array
    {
        $rows = [];
        foreach ($map as $key => $template) {
            $rows[] = ['field_name' => $key, 'field_value' => $template];
        }
        $rows[] = ['field_name' => '', 'field_value' => ''];
        return ['request_body' => 'selected_fields', 'selected_field_values' => $rows];
    }

    private function sendJson(array $map, string $event = 'order_paid_done'): array
    {
        dispatch($event, self::fixture($event), [$this->feed($this->fields($map) + ['event_trigger' => [$event]])]);
        [$request] = $this->received(1);
        return json_decode($request['body'], true, 512, JSON_THROW_ON_ERROR);
    }

    public function testTheAdminScreensSmartcodes(): void
    {
        $payload = $this->sendJson([
            'email' => '{{order.billing.email}}',
            'first_name' => '{{order.billing.first_name}}',
            'full_name' => '{{order.billing.full_name}}',
            'country' => '{{order.billing.country}}',
            'city' => '{{order.shipping.city}}',
            'postcode' => '{{order.shipping.postcode}}',
            'address_1' => '{{order.shipping.address_1}}',
            'address_2' => '{{order.billing.address_2}}',
            'order_id' => '{{order.id}}',
            'order_number' => '{{order.uuid}}',
            'created' => '{{order.created_at}}',
            'total' => '{{order.total_amount}}',
            'status' => '{{order.status}}',
        ]);
        $this->assertSame([
            'email' => 'zoe@example.com',
            'first_name' => 'Zoë',
            'full_name' => 'Zoë Åberg-Nakamura',
            'country' => 'SE',
            'city' => 'Göteborg',
            'postcode' => '411 38',
            'address_1' => 'Hamngatan 3 & 5',
            'address_2' => '',
            'order_id' => 1042,
            'order_number' => '9f1c2b7e4d5a6b8c9d0e1f2a3b4c5d6e',
            'created' => '2026-11-27 14:03:21',
            'total' => 104.15,
            'status' => 'processing',
        ], $payload);
    }

    public function testTypesMoneyDefaultsAndText(): void
    {
        $payload = $this->sendJson([
            'items' => '{{order.order_items}}',
            'first_title' => '{{order.order_items.1.title}}',
            'shipping' => '{{order.shipping_total}}',
            'tax' => '{{order.tax_total}}',
            'formatted' => '{{order.total_amount_formatted}}',
            'rate' => '{{order.rate}}',
            'summary' => 'Order #{{order.id}} paid {{order.total_amount}} {{order.currency}}',
            'hashes' => '##order.id##',
            'note_default' => '{{order.completed_at|not completed}}',
            'coupon_default' => '{{order.manual_discount_total|none}}',
            'missing_default' => '{{order.missing_key|n/a}}',
            'unresolved' => 'Hello {{order.nope}} and {{nothing.here}}',
            'broken' => '{{order.id',
            'plain' => 'just text',
            'empty' => '',
        ]);
        $this->assertSame('Brewing Guide (PDF)', $payload['first_title']);
        $this->assertSame(self::fixture('order_paid_done')['order']['order_items'], $payload['items']);
        $this->assertSame(49, $payload['shipping']);
        $this->assertSame(9.25, $payload['tax']);
        $this->assertSame('kr104.15', $payload['formatted']);
        $this->assertSame(1, $payload['rate'], 'a float 1.0 is written 1, as json_encode does');
        $this->assertSame('Order #1042 paid 104.15 SEK', $payload['summary']);
        $this->assertSame(1042, $payload['hashes']);
        $this->assertSame('not completed', $payload['note_default']);
        $this->assertSame('none', $payload['coupon_default']);
        $this->assertSame('n/a', $payload['missing_default']);
        $this->assertSame('Hello {{order.nope}} and {{nothing.here}}', $payload['unresolved']);
        $this->assertSame('{{order.id', $payload['broken']);
        $this->assertSame('just text', $payload['plain']);
        $this->assertSame('', $payload['empty']);
    }

    public function testTransformers(): void
    {
        $payload = $this->sendJson([
            'upper' => '{{order.status||strtoupper}}',
            'lower' => '{{order.payment_method_title||strtolower}}',
            'ucfirst' => '{{order.payment_method||ucfirst}}',
            'ucwords' => '{{order.note||ucwords}}',
            'title' => '{{order.fulfillment_type||title_case}}',
            'headline' => '{{order.payment_status||headline}}',
            'trim' => '{{order.billing.name||trim}}',
            'concat_first' => '{{order.invoice_no||concat_first|#}}',
            'concat_last' => '{{order.currency||concat_last|!}}',
            'concat_empty' => '{{order.completed_at||concat_first|at }}',
            'show_if' => '{{order.total_paid||show_if|paid}}',
            'show_if_empty' => '{{order.total_refund||show_if|refunded}}',
            'default_then_upper' => '{{order.completed_at||strtoupper|pending}}',
            'number_as_text' => '{{order.id||trim}}',
        ]);
        $this->assertSame([
            'upper' => 'PROCESSING',
            'lower' => 'card',
            'ucfirst' => 'Stripe',
            'ucwords' => "Leave At The Door; Ring Twice.\nThanks!",
            'title' => 'Mixed',
            'headline' => 'Paid',
            'trim' => 'Zoë Åberg-Nakamura',
            'concat_first' => '#INV-1042',
            'concat_last' => 'SEK!',
            'concat_empty' => '',
            'show_if' => 'paid',
            'show_if_empty' => '',
            'default_then_upper' => 'PENDING',
            'number_as_text' => '1042',
        ], $payload);
    }

    /**
     * A code that cannot be resolved is left as written, with a transformer too (a typo in the
     * path shows in the receiver's data instead of an empty value); a transformer's arg that
     * stands for an empty value still takes its place, as a default does.
     */
    public function testAnUnresolvedCodeWithATransformerIsLeftAsWritten(): void
    {
        $payload = $this->sendJson([
            'upper' => '{{order.stauts||strtoupper}}',
            'show_if' => 'Paid: {{nothing.here||show_if|yes}}',
            'concat' => '{{order.invoce_no||concat_first|#}}',
            'arg_as_default' => '{{order.stauts||strtoupper|unknown}}',
        ]);
        $this->assertSame([
            'upper' => '{{order.stauts||strtoupper}}',
            'show_if' => 'Paid: {{nothing.here||show_if|yes}}',
            'concat' => '{{order.invoce_no||concat_first|#}}',
            'arg_as_default' => 'UNKNOWN',
        ], $payload);
    }

    public function testSubscriptionEvents(): void
    {
        $payload = $this->sendJson([
            'plan' => '{{subscription.item_name}}',
            'recurring' => '{{subscription.recurring_total}}',
            'next' => '{{subscription.next_billing_date}}',
            'count' => '{{subscription.bill_count}}',
        ], 'subscription_renewed');
        $this->assertSame(['plan' => 'Coffee Club — Monthly', 'recurring' => 18.75, 'next' => '2026-12-27 00:00:00', 'count' => 7], $payload);
    }

    /**
     * A payload key the owner configured reaches the receiver in every format, as FluentCart's
     * smartcodes render an empty value (an address without a second line, an order not yet
     * completed) as empty text: http_build_query leaves a null out, so a null value lost its
     * key from form bodies and GET queries.
     */
    public function testAFieldWithAnEmptyValueIsSentInEveryFormat(): void
    {
        $fields = $this->fields(['email' => '{{order.billing.email}}', 'address_2' => '{{order.billing.address_2}}',
            'completed' => '{{order.completed_at}}']);
        $feeds = [];
        foreach (['json' => ['JSON', 'POST'], 'form' => ['FORM', 'POST'], 'get' => ['FORM', 'GET']] as $path => [$format, $method]) {
            $feeds[] = $this->feed($fields + ['request_url' => $this->url($path), 'request_format' => $format, 'request_method' => $method], $path);
        }
        dispatch('order_paid_done', self::fixture('order_paid_done'), $feeds);
        $expected = ['email' => 'zoe@example.com', 'address_2' => '', 'completed' => ''];
        foreach ($this->received(3) as $request) {
            match (basename($request['path'])) {
                'json' => $this->assertSame($expected, json_decode($request['body'], true, 512, JSON_THROW_ON_ERROR)),
                'form' => $this->assertSame(http_build_query($expected, '', '&'), $request['body']),
                'get' => $this->assertSame(http_build_query($expected, '', '&'), $request['query']),
            };
        }
    }

    /**
     * An order of digital goods has no shipping address: FluentCart renders the admin screen's
     * {{order.shipping.X}} codes empty for it. The receiver got the code itself as the city.
     */
    public function testTheAddressCodesOfAnOrderWithoutThatAddressAreEmpty(): void
    {
        $data = self::fixture('order_paid_done');
        unset($data['order']['shipping'], $data['order']['billing']['company_name'], $data['order']['billing_address']['company_name']);
        $data['order']['shipping_address'] = null;
        $map = [
            'city' => '{{order.shipping.city}}',
            'line' => 'Ship to {{order.shipping.full_name}} in {{order.shipping.city|nowhere}}',
            'company' => '{{order.billing.company_name}}',
            'email' => '{{order.billing.email}}',
        ];
        dispatch('order_paid_done', $data, [$this->feed($this->fields($map))]);
        [$request] = $this->received(1);
        $this->assertSame(['city' => '', 'line' => 'Ship to  in nowhere', 'company' => '', 'email' => 'zoe@example.com'],
            json_decode($request['body'], true, 512, JSON_THROW_ON_ERROR));
    }

    public function testFormEncodingOfSelectedFields(): void
    {
        $feed = $this->feed($this->fields([
            'email' => '{{order.billing.email}}',
            'total' => '{{order.total_amount}}',
            'items' => '{{order.order_items}}',
            'paid' => '{{order.payment_status||ucfirst}}',
            'none' => '{{order.completed_at}}',
        ]) + ['request_format' => 'FORM']);
        $data = self::fixture('order_paid_done');
        dispatch('order_paid_done', $data, [$feed]);
        [$request] = $this->received(1);
        $expected = [
            'email' => 'zoe@example.com',
            'total' => 104.15,
            'items' => $data['order']['order_items'],
            'paid' => 'Paid',
            'none' => '',
        ];
        $this->assertSame(http_build_query($expected, '', '&'), $request['body']);
        parse_str($request['body'], $parsed);
        $this->assertSame('Ceramic Mug — Blue', $parsed['items'][0]['title']);
    }
}
