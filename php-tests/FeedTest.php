<?php

namespace FluentWebhook\Tests;

use FluentWebhook\Feed;
use FluentWebhook\InvalidFeedException;

/** Feed settings as FluentCart's admin screen saves them: every key, value and error. */
final class FeedTest extends WebhookTestCase
{
    public function testDefaultsOfANewFeed(): void
    {
        $feed = new Feed(['name' => 'Slack', 'request_url' => 'https://hooks.example.com/x', 'event_trigger' => ['order_paid_done']]);
        $this->assertNull($feed->id());
        $this->assertSame('Slack', $feed->name());
        $this->assertSame('https://hooks.example.com/x', $feed->url());
        $this->assertSame('POST', $feed->method());
        $this->assertSame('JSON', $feed->format());
        $this->assertSame(['order_paid_done'], $feed->events());
        $this->assertTrue($feed->isEnabled());
        $this->assertSame([
            'name' => 'Slack',
            'request_url' => 'https://hooks.example.com/x',
            'request_method' => 'POST',
            'request_format' => 'JSON',
            'request_headers' => 'no_headers',
            'custom_header_values' => [],
            'request_body' => 'all_data',
            'selected_field_values' => [],
            'event_trigger' => ['order_paid_done'],
            'enabled' => true,
        ], $feed->toArray());
    }

    /** The array FluentCart saves for a feed the user filled in, blank rows and all. */
    public function testAFeedAsTheAdminScreenSavesIt(): void
    {
        $feed = new Feed([
            'name' => 'Sync Orders with Accounting',
            'request_url' => 'https://books.example.com/hooks/orders?src=shop',
            'request_method' => 'PUT',
            'request_format' => 'FORM',
            'request_headers' => 'custom_headers',
            'custom_header_values' => [
                ['header_name' => 'X-Api-Key', 'header_value' => 'k-123'],
                ['header_name' => '', 'header_value' => ''],
            ],
            'request_body' => 'selected_fields',
            'selected_field_values' => [
                ['field_name' => 'email', 'field_value' => '{{order.billing.email}}'],
                ['field_name' => '', 'field_value' => ''],
                ['field_name' => 'total', 'field_value' => '{{order.total_amount}}'],
            ],
            'event_trigger' => ['order_paid_done', 'order_fully_refunded'],
            'enabled' => 'yes',
            'conditionals' => ['status' => false],
        ], 42);
        $this->assertSame('42', $feed->id());
        $this->assertSame('PUT', $feed->method());
        $this->assertSame('FORM', $feed->format());
        $settings = $feed->toArray();
        $this->assertSame([['header_name' => 'X-Api-Key', 'header_value' => 'k-123']], $settings['custom_header_values']);
        $this->assertSame([
            ['field_name' => 'email', 'field_value' => '{{order.billing.email}}'],
            ['field_name' => 'total', 'field_value' => '{{order.total_amount}}'],
        ], $settings['selected_field_values']);
        $this->assertArrayNotHasKey('conditionals', $settings);
        $this->assertSame($settings, (new Feed($settings, '42'))->toArray(), 'toArray() round-trips');
    }

    public static function methods(): array
    {
        return [['GET'], ['POST'], ['PUT'], ['PATCH'], ['DELETE'], ['post'], ['Patch']];
    }

    /** @dataProvider methods */
    public function testEveryMethod(string $method): void
    {
        $this->assertSame(strtoupper($method), $this->feed(['request_method' => $method])->method());
    }

    public function testBothFormats(): void
    {
        $this->assertSame('JSON', $this->feed(['request_format' => 'JSON'])->format());
        $this->assertSame('FORM', $this->feed(['request_format' => 'FORM'])->format());
        $this->assertSame('FORM', $this->feed(['request_format' => 'form'])->format());
    }

    public static function enabledSpellings(): array
    {
        return [
            [true, true], [false, false], ['yes', true], ['no', false],
            [1, true], [0, false], ['1', true], ['0', false], [null, true],
        ];
    }

    /** @dataProvider enabledSpellings */
    public function testEnabledSpellings(mixed $value, bool $expected): void
    {
        $feed = $this->feed(['enabled' => $value]);
        $this->assertSame($expected, $feed->isEnabled());
        $this->assertSame($expected, $feed->matches('order_paid_done'));
    }

    public function testEveryFluentCartEventCanBeMatched(): void
    {
        $events = array_keys(\FluentWebhook\events());
        $this->assertContains('order_paid_done', $events);
        $this->assertCount(10, $events);
        $feed = $this->feed(['event_trigger' => $events]);
        foreach ($events as $event) {
            $this->assertTrue($feed->matches($event), $event);
            $this->assertTrue($feed->matches("fluent_cart/$event"), "fluent_cart/$event");
        }
        $this->assertFalse($this->feed()->matches('order_fully_refunded'));
    }

    /**
     * A `string` parameter takes an int, a float or true as PHP's own functions do outside
     * strict_types (RetryTest covers strict_types): they were TypeErrors. Null, false (an
     * empty name) and arrays are still refused.
     */
    public function testAnEventNameGivenAsANumberIsItsString(): void
    {
        $feed = $this->feed(['event_trigger' => ['123', '1.5', '1']]);
        $this->assertTrue($feed->matches(123));
        $this->assertTrue($feed->matches(1.5));
        $this->assertTrue($feed->matches(true));
        $this->assertSame('123', $feed->render(123, [])['headers']['X-Webhook-Event'] ?? null);
        $this->assertFalse($this->feed()->matches(7));
        foreach ([[null, \TypeError::class], [[], \TypeError::class], [false, \FluentWebhook\Exception::class]] as [$event, $class]) {
            try {
                $feed->matches($event);
                $this->fail('no exception for ' . var_export($event, true));
            } catch (\Throwable $e) {
                $this->assertInstanceOf($class, $e, var_export($event, true));
            }
        }
    }

    /**
     * A `string` parameter takes an object with __toString() as PHP's own functions do outside
     * strict_types (strlen($stringable) is its length): it was a TypeError. What __toString()
     * throws reaches the caller, as for strlen(); an enum or a plain object is still a
     * TypeError, and so is a Stringable in a strict_types file.
     */
    public function testAnEventNameGivenAsAStringableObjectIsItsString(): void
    {
        $stringable = new class () {
            public function __toString(): string
            {
                return 'order_' . 'paid_done';
            }
        };
        $feed = $this->feed();
        $this->assertTrue($feed->matches($stringable));
        $this->assertSame('order_paid_done', $feed->render($stringable, [])['headers']['X-Webhook-Event'] ?? null);
        $this->assertSame(0, \FluentWebhook\cancel($stringable));
        $throwing = new class () {
            public function __toString(): string
            {
                throw new \DomainException('no name yet');
            }
        };
        foreach ([[$throwing, \DomainException::class], [new \stdClass(), \TypeError::class], [FeedTestSuit::Hearts, \TypeError::class]] as [$event, $class]) {
            try {
                $feed->matches($event);
                $this->fail('no exception for ' . get_debug_type($event));
            } catch (\Throwable $e) {
                $this->assertInstanceOf($class, $e, get_debug_type($event));
            }
        }
        $strict = self::runPhp(<<<'PHP'
            <?php
            declare(strict_types=1);
            $stringable = new class () { public function __toString(): string { return 'feed-1'; } };
            foreach ([fn () => strlen($stringable), fn () => FluentWebhook\cancel($stringable)] as $call) {
                try { $call(); echo "no error\n"; } catch (TypeError) { echo "TypeError\n"; }
            }
            PHP);
        $this->assertSame("TypeError\nTypeError\n", $strict['stdout'], $strict['stderr']);
    }

    public function testIdsAreIntsOrStrings(): void
    {
        $this->assertSame('7', $this->feed([], 7)->id());
        $this->assertSame('feed-7', $this->feed([], 'feed-7')->id());
        $this->assertNull($this->feed([], null)->id());
    }

    public static function invalidSettings(): array
    {
        $headers = fn (array $rows) => ['request_headers' => 'custom_headers', 'custom_header_values' => $rows];
        $fields = fn (array $rows) => ['request_body' => 'selected_fields', 'selected_field_values' => $rows];
        return [
            'missing name' => [['name' => null], 'name'],
            'blank name' => [['name' => '   '], 'name'],
            'name not a string' => [['name' => ['x']], 'name'],
            'missing url' => [['request_url' => null], 'request_url'],
            'blank url' => [['request_url' => ''], 'request_url'],
            'relative url' => [['request_url' => '/wp-json/hook'], 'request_url'],
            'ftp url' => [['request_url' => 'ftp://example.com/x'], 'request_url'],
            'javascript url' => [['request_url' => 'javascript:alert(1)'], 'request_url'],
            'file url' => [['request_url' => 'file:///etc/passwd'], 'request_url'],
            'url with password' => [['request_url' => 'https://u:p@example.com/'], 'request_url'],
            'url without host' => [['request_url' => 'http://'], 'request_url'],
            'HEAD method' => [['request_method' => 'HEAD'], 'request_method'],
            'unknown format' => [['request_format' => 'XML'], 'request_format'],
            'unknown header mode' => [['request_headers' => 'yes_headers'], 'request_headers'],
            'unknown body mode' => [['request_body' => 'everything'], 'request_body'],
            'empty event list' => [['event_trigger' => []], 'event_trigger'],
            'missing event list' => [['event_trigger' => null], 'event_trigger'],
            'non-string event' => [['event_trigger' => [5]], 'event_trigger'],
            'enabled maybe' => [['enabled' => 'maybe'], 'enabled'],
            'header name with space' => [$headers([['header_name' => 'X Key', 'header_value' => 'v']]), 'custom_header_values'],
            'header name with colon' => [$headers([['header_name' => 'X-Key:', 'header_value' => 'v']]), 'custom_header_values'],
            'header value with CR LF' => [$headers([['header_name' => 'X-Key', 'header_value' => "v\r\nX-Evil: 1"]]), 'custom_header_values'],
            'header value with LF' => [$headers([['header_name' => 'X-Key', 'header_value' => "v\nw"]]), 'custom_header_values'],
            'header value with NUL' => [$headers([['header_name' => 'X-Key', 'header_value' => "v\0w"]]), 'custom_header_values'],
            'Host header' => [$headers([['header_name' => 'Host', 'header_value' => 'internal']]), 'custom_header_values'],
            'Content-Length header' => [$headers([['header_name' => 'Content-Length', 'header_value' => '1']]), 'custom_header_values'],
            'duplicate payload keys' => [$fields([['field_name' => 'id', 'field_value' => '1'], ['field_name' => 'id', 'field_value' => '2']]), 'selected_field_values'],
            'no selected fields' => [$fields([['field_name' => '', 'field_value' => '']]), 'selected_field_values'],
            'row not an array' => [$fields(['email']), 'selected_field_values'],
        ];
    }

    /** @dataProvider invalidSettings */
    public function testInvalidSettingsNameTheKeyAtFault(array $overrides, string $key): void
    {
        $settings = array_filter($this->settings($overrides) , fn ($v) => $v !== null);
        try {
            new Feed($settings);
            $this->fail("no exception for $key");
        } catch (InvalidFeedException $e) {
            $this->assertInstanceOf(\FluentWebhook\Exception::class, $e);
            $this->assertStringStartsWith("$key: ", $e->getMessage());
        }
    }

    /** new Feed([]) lacks its settings: it said "must be an array of settings, got array". */
    public function testEmptyOrListSettingsSayWhatIsMissing(): void
    {
        foreach ([[[], 'name: is required and must not be blank'], [['Slack'], 'settings: must be an array of settings by name']] as [$settings, $message]) {
            try {
                new Feed($settings);
                $this->fail('no exception for ' . json_encode($settings));
            } catch (InvalidFeedException $e) {
                $this->assertStringStartsWith($message, $e->getMessage());
            }
        }
    }

    public function testBlankRowsAreIgnoredAndUnusedListsAreNotChecked(): void
    {
        $feed = $this->feed([
            'request_headers' => 'no_headers',
            'custom_header_values' => [['header_name' => 'Bad Name', 'header_value' => "x\ny"]],
            'request_body' => 'all_data',
            'selected_field_values' => [['field_name' => '', 'field_value' => '{{x}}']],
        ]);
        $this->assertSame([], $feed->toArray()['custom_header_values']);
    }

    /**
     * FluentCart ignores a row whose name is blank, whatever its value holds (a smartcode picked
     * from the dropdown before the key was typed, a header value left behind): the feed sends
     * its other rows. Refused, the whole feed sent nothing.
     */
    public function testRowsWithoutANameAreIgnoredWhateverTheirValue(): void
    {
        $feed = $this->feed([
            'request_headers' => 'custom_headers',
            'custom_header_values' => [['header_name' => 'X-Api-Key', 'header_value' => 'k1'], ['header_name' => ' ', 'header_value' => 'left behind'], ['header_name' => '', 'header_value' => ['left', 'behind']]],
            'request_body' => 'selected_fields',
            'selected_field_values' => [['field_name' => '', 'field_value' => '{{order.billing.email}}'], ['field_name' => 'id', 'field_value' => '{{order.id}}'], ['field_name' => null, 'field_value' => ['{{order.id}}']]],
        ]);
        \FluentWebhook\dispatch('order_paid_done', self::fixture('order_paid_done'), [$feed]);
        [$request] = $this->received(1);
        $this->assertSame('{"id":1042}', $request['body']);
        $this->assertSame('k1', $request['headers']['x-api-key']);
        $this->assertNotContains('left behind', $request['headers']);
    }

    /**
     * Keys the extension does not know are ignored whatever they hold: a site keeps its own
     * next to FluentCart's (a binary token, a float left NAN, an open handle). Walked with the
     * rest, any of them refused the whole feed, which then sent nothing.
     */
    public function testUnknownKeysAreIgnoredWhateverTheirValue(): void
    {
        $handle = fopen('php://memory', 'r');
        $extra = ['site_token' => random_bytes(8) . "\xff", 'ratio' => NAN, 'handle' => $handle, 7 => INF];
        $feed = $this->feed($extra);
        $this->assertSame('Test feed', $feed->name());
        $this->assertArrayNotHasKey('site_token', $feed->toArray());
        $ids = \FluentWebhook\dispatch('order_paid_done', ['n' => 1], [$this->settings($extra) + ['id' => 'unknown-keys']]);
        $this->assertCount(1, $ids);
        [$request] = $this->received(1);
        $this->assertSame('{"n":1}', $request['body']);
        fclose($handle);
    }

    public function testInvalidIds(): void
    {
        $this->expectException(InvalidFeedException::class);
        $this->expectExceptionMessage('id: must be an int, a string or null, got float');
        new Feed($this->settings(), 1.5);
    }

    public function testRenderDoesNoIO(): void
    {
        $request = $this->feed(['request_method' => 'GET'])->render('order_paid_done', ['a' => 'b c']);
        $this->assertSame('GET', $request['method']);
        $this->assertSame($this->url() . '?a=b+c', $request['url']);
        $this->assertSame('', $request['body']);
        $this->assertMatchesRegularExpression('/^msg_[0-9a-f]{32}$/', $request['headers']['webhook-id']);
        $this->assertEqualsWithDelta(time(), (int) $request['headers']['webhook-timestamp'], 5);
        $this->assertSame([], self::receiver()->requests($this->prefix));
    }

    /**
     * PHP writes a float with `precision` 14 through zend_dtoa, which keeps the zeros it wrote
     * when it rounds a tie down in a whole number of 15 digits: 100000000000005.0 is
     * 1.0000000000000E+14 in http_build_query() and (string), where the extension wrote the
     * shortest form, 1.0E+14. The others are the cases around it that PHP writes shortest.
     */
    public function testFloatsInFormBodiesQueriesAndTextAreWrittenAsPhpWritesThem(): void
    {
        $floats = [100000000000005.0, -630311760000005.0, 100000000000004.0, 430440867985804.0, 123456789012341.0,
            100000000000015.0, 100000000000095.0, 999999999999995.0, 100000000000050.0, 1e14, 99999999999999.0];
        $form = $this->feed(['request_format' => 'FORM']);
        $get = $this->feed(['request_method' => 'GET']);
        $text = $this->feed(['request_body' => 'selected_fields',
            'selected_field_values' => [['field_name' => 't', 'field_value' => 'x={{x}}']]]);
        foreach ($floats as $float) {
            $data = ['x' => $float];
            $shown = var_export($float, true);
            $this->assertSame(http_build_query($data, '', '&'), $form->render('order_paid_done', $data)['body'], $shown);
            $this->assertSame($this->url() . '?' . http_build_query($data, '', '&'), $get->render('order_paid_done', $data)['url'], $shown);
            $this->assertSame(json_encode(['t' => "x=$float"]), $text->render('order_paid_done', $data)['body'], $shown);
        }
    }

    /**
     * json_encode() writes the fewest digits that read back as the float and, of two such
     * equally near it, the one that ends in an even digit: 724980121350372.25 is
     * 724980121350372.2, where the extension wrote ….3 (the walk, which render() and dispatch()
     * of data with an object use, and selected fields).
     */
    public function testFloatsInJsonBodiesAreWrittenAsJsonEncodeWritesThem(): void
    {
        $floats = [724980121350372.25, -2682628330161.15625, 9007199254740993.0, 724980121350372.375, 0.1,
            1 / 3, 5e-324, 1.7976931348623157e308, 104.15];
        $whole = $this->feed();
        $field = $this->feed(['request_body' => 'selected_fields',
            'selected_field_values' => [['field_name' => 'x', 'field_value' => '{{x}}']]]);
        foreach ($floats as $float) {
            $data = ['x' => $float, 'o' => new \stdClass()];
            $shown = var_export($float, true);
            $this->assertSame(json_encode($data), $whole->render('order_paid_done', $data)['body'], $shown);
            $this->assertSame(json_encode(['x' => $float]), $field->render('order_paid_done', $data)['body'], $shown);
        }
    }

    /**
     * Long lists are read in linear time. Each row was checked against every row kept before
     * it (duplicate event names, payload keys, header names): 100,000 rows took 8 to 21 s,
     * a million event names (80 MB, within PHP's default memory_limit) about 13 minutes of a
     * Rust loop that max_execution_time cannot stop in the CLI.
     */
    public function testLongListsAreReadInLinearTime(): void
    {
        $result = self::runPhp(<<<'PHP'
            <?php
            $n = 200000;
            $base = ['name' => 'Long', 'request_url' => 'http://127.0.0.1:9/l', 'event_trigger' => ['e']];
            $rows = fn (string $k, string $v, callable $name) => array_map(fn ($i) => [$k => $name($i), $v => 'x'], range(1, $n));
            $lists = [
                'events' => ['event_trigger' => array_map(fn ($i) => "e$i", range(1, $n))] + $base,
                'fields' => $base + ['request_body' => 'selected_fields', 'selected_field_values' => $rows('field_name', 'field_value', fn ($i) => "k$i")],
                // Every name twice, in other cases: the later row wins, in the later place.
                'headers' => $base + ['request_headers' => 'custom_headers', 'custom_header_values' =>
                    array_merge($rows('header_name', 'header_value', fn ($i) => "X-H$i"), $rows('header_name', 'header_value', fn ($i) => "x-h$i"))],
            ];
            foreach ($lists as $name => $settings) {
                $started = microtime(true);
                $feed = new FluentWebhook\Feed($settings);
                $count = match ($name) {
                    'events' => count($feed->events()),
                    'fields' => count($feed->toArray()['selected_field_values']),
                    'headers' => count($feed->toArray()['custom_header_values']),
                };
                printf("%s %d %s\n", $name, $count, microtime(true) - $started < 5 ? 'fast' : 'slow');
            }
            echo json_encode(array_slice((new FluentWebhook\Feed($lists['headers']))->toArray()['custom_header_values'], 0, 1)), "\n";
            PHP, ['memory_limit' => '-1'], 30.0);
        $this->assertFalse($result['timed_out'], 'hung: ' . $result['stdout']);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $this->assertSame(['events 200000 fast', 'fields 200000 fast', 'headers 200000 fast',
            '[{"header_name":"x-h1","header_value":"x"}]'], explode("\n", trim($result['stdout'])));
    }

    public function testFeedsCannotBeClonedOrSerialized(): void
    {
        $feed = $this->feed();
        try {
            clone $feed;
            $this->fail('clone succeeded');
        } catch (\Error $e) {
            $this->assertStringContainsString('uncloneable', $e->getMessage());
        }
        $this->expectExceptionMessage("Serialization of 'FluentWebhook\\Feed' is not allowed");
        serialize($feed);
    }
}

enum FeedTestSuit: string
{
    case Hearts = 'order_paid_done';
}
