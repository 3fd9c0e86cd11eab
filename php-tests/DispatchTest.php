<?php

namespace FluentWebhook\Tests;

use FluentWebhook\Feed;
use function FluentWebhook\dispatch;

/**
 * dispatch() through a real receiver: every method and format, every event, headers, which
 * feeds fire, and bodies byte for byte equal to what PHP's own encoders give.
 */
final class DispatchTest extends WebhookTestCase
{
    public static function formatsAndMethods(): array
    {
        $cases = [];
        foreach (['JSON', 'FORM'] as $format) {
            foreach (['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as $method) {
                $cases["$format $method"] = [$format, $method];
            }
        }
        return $cases;
    }

    /** @dataProvider formatsAndMethods */
    public function testEachFormatAndMethodSendsWhatWordPressWould(string $format, string $method): void
    {
        $data = self::fixture('order_paid_done');
        $feed = $this->feed(['request_method' => $method, 'request_format' => $format], 11);
        $ids = dispatch('order_paid_done', $data, [$feed]);
        $this->assertCount(1, $ids);

        [$request] = $this->received(1);
        $this->assertSame($method, $request['method']);
        $this->assertSame($this->prefix . 'hook', $request['path']);
        $this->assertSame($ids[0], $request['headers']['webhook-id']);
        $this->assertMatchesRegularExpression('/^\d{10}$/', $request['headers']['webhook-timestamp']);
        $this->assertEqualsWithDelta(time(), (int) $request['headers']['webhook-timestamp'], 10);
        $this->assertStringStartsWith('fluent-webhook/', $request['headers']['user-agent']);
        $this->assertSame('order_paid_done', $request['headers']['x-webhook-event']);
        if ($method === 'GET') {
            $this->assertSame(http_build_query($data, '', '&'), $request['query']);
            $this->assertSame('', $request['body']);
            $this->assertArrayNotHasKey('content-type', $request['headers']);
        } elseif ($format === 'JSON') {
            $this->assertSame('application/json', $request['headers']['content-type']);
            $this->assertSame(json_encode($data), $request['body']);
            // json_encode writes 1.0 as 1, so compare loosely after decoding.
            $this->assertEquals($data, json_decode($request['body'], true));
        } else {
            $this->assertSame('application/x-www-form-urlencoded', $request['headers']['content-type']);
            $this->assertSame(http_build_query($data, '', '&'), $request['body']);
        }
    }

    public function testGetAppendsThePayloadToTheUrlsQuery(): void
    {
        $feed = $this->feed(['request_method' => 'GET', 'request_url' => $this->url('hook?token=abc&x=1')]);
        dispatch('order_paid_done', ['order' => ['id' => 5, 'note' => 'a&b c']], [$feed]);
        [$request] = $this->received(1);
        $this->assertSame('token=abc&x=1&order%5Bid%5D=5&order%5Bnote%5D=a%26b+c', $request['query']);
    }

    public function testEveryFluentCartEventFiresItsFeed(): void
    {
        $events = array_keys(\FluentWebhook\events());
        $feed = $this->feed(['event_trigger' => $events]);
        foreach ($events as $event) {
            $this->assertCount(1, dispatch($event, ['order' => ['id' => 1]], [$feed]), $event);
        }
        $requests = $this->received(count($events));
        $this->assertEqualsCanonicalizing($events, array_map(fn ($r) => $r['headers']['x-webhook-event'], $requests));
    }

    public function testTheActionPrefixIsAccepted(): void
    {
        $this->assertCount(1, dispatch('fluent_cart/order_paid_done', [], [$this->feed()]));
        [$request] = $this->received(1);
        $this->assertSame('order_paid_done', $request['headers']['x-webhook-event']);
        $this->assertSame('[]', $request['body']);
    }

    public function testCustomHeadersAreSentAndMayReplaceDefaults(): void
    {
        $feed = $this->feed([
            'request_headers' => 'custom_headers',
            'custom_header_values' => [
                ['header_name' => 'X-Api-Key', 'header_value' => 'k-123'],
                ['header_name' => 'Authorization', 'header_value' => 'Bearer abc.def'],
                ['header_name' => 'Content-Type', 'header_value' => 'application/vnd.shop+json'],
                ['header_name' => 'User-Agent', 'header_value' => 'MyShop/2.0'],
                ['header_name' => '', 'header_value' => ''],
            ],
        ]);
        dispatch('order_paid_done', ['a' => 1], [$feed]);
        [$request] = $this->received(1);
        $this->assertSame('k-123', $request['headers']['x-api-key']);
        $this->assertSame('Bearer abc.def', $request['headers']['authorization']);
        $this->assertSame('application/vnd.shop+json', $request['headers']['content-type']);
        $this->assertSame('MyShop/2.0', $request['headers']['user-agent']);
        $this->assertSame('{"a":1}', $request['body']);
    }

    public function testCustomHeadersAreNotSentWithNoHeaders(): void
    {
        $feed = $this->feed([
            'request_headers' => 'no_headers',
            'custom_header_values' => [['header_name' => 'X-Api-Key', 'header_value' => 'k']],
        ]);
        dispatch('order_paid_done', [], [$feed]);
        [$request] = $this->received(1);
        $this->assertArrayNotHasKey('x-api-key', $request['headers']);
    }

    public function testOnlyEnabledMatchingFeedsFire(): void
    {
        $sentinel = $this->feed(['request_url' => $this->url('sentinel')]);
        $disabled = $this->feed(['request_url' => $this->url('disabled'), 'enabled' => false]);
        $disabledNo = $this->feed(['request_url' => $this->url('disabled-no'), 'enabled' => 'no']);
        $otherEvent = $this->feed(['request_url' => $this->url('other'), 'event_trigger' => ['order_fully_refunded']]);
        $ids = dispatch('order_paid_done', ['x' => 1], [$disabled, $disabledNo, $otherEvent, $sentinel]);
        $this->assertCount(1, $ids);
        [$request] = $this->received(1);
        $this->assertSame($this->prefix . 'sentinel', $request['path']);
        $this->assertSame([], dispatch('order_paid_done', ['x' => 1], [$disabled, $otherEvent]));
        $this->assertSame([], dispatch('order_paid_done', ['x' => 1], []));
    }

    public function testAFeedGivenTwiceIsSentOnce(): void
    {
        $byId = [$this->feed([], 7), $this->feed([], 7), $this->feed([], '7')];
        $sameObject = $this->feed(['request_url' => $this->url('same-object')]);
        $ids = dispatch('order_paid_done', [], [...$byId, $sameObject, $sameObject]);
        $this->assertCount(2, $ids);
        $requests = $this->received(2);
        $this->assertEqualsCanonicalizing([$this->prefix . 'hook', $this->prefix . 'same-object'], array_column($requests, 'path'));
        $this->assertCount(2, array_unique(array_map(fn ($r) => $r['headers']['webhook-id'], $requests)));
    }

    public function testSettingsArraysMayStandForFeeds(): void
    {
        $settings = $this->settings(['id' => 3, 'request_format' => 'FORM']);
        $ids = dispatch('order_paid_done', ['a' => 'b'], [$settings, $settings, $this->settings(['event_trigger' => ['x']])]);
        $this->assertCount(1, $ids);
        [$request] = $this->received(1);
        $this->assertSame('a=b', $request['body']);
    }

    public function testAnInvalidSettingsArrayInFeedsThrowsAndSendsNothing(): void
    {
        try {
            dispatch('order_paid_done', [], [$this->feed(), $this->settings(['request_method' => 'TRACE'])]);
            $this->fail('no exception');
        } catch (\FluentWebhook\InvalidFeedException $e) {
            $this->assertStringStartsWith('request_method: ', $e->getMessage());
        }
        \FluentWebhook\flush(5);
        $this->assertSame([], self::receiver()->requests($this->prefix));
    }

    public function testObjectsAreSentAsJsonEncodeSeesThem(): void
    {
        $money = new class implements \JsonSerializable {
            public function jsonSerialize(): mixed
            {
                return ['amount' => 1999, 'currency' => 'EUR'];
            }
        };
        $customer = new \stdClass();
        $customer->email = 'zoe@example.com';
        $customer->tags = [];
        $item = new class {
            public string $title = 'Mug';
            protected int $cost = 3;
            private string $secret = 'x';
        };
        $data = [
            'total' => $money,
            'customer' => $customer,
            'items' => [$item],
            'when' => new \DateTimeImmutable('2026-11-27 14:03:21', new \DateTimeZone('Europe/Stockholm')),
            'map' => [3 => 'a', 5 => 'b'],
            'list' => ['a', 'b'],
        ];
        foreach (['JSON', 'FORM'] as $format) {
            dispatch('order_paid_done', $data, [$this->feed(['request_format' => $format, 'request_url' => $this->url($format)])]);
        }
        [$json, $form] = $this->received(2);
        if (str_ends_with($json['path'], 'FORM')) {
            [$json, $form] = [$form, $json];
        }
        $this->assertSame(json_encode($data), $json['body']);
        $this->assertSame(http_build_query(json_decode(json_encode($data), true), '', '&'), $form['body']);
    }

    public function testUnicodeEmptyArraysAndScalarsMatchPhpEncoders(): void
    {
        $data = [
            'name' => 'Zoë Åberg-Nakamura 😀 / 東京',
            'note' => "line1\nline2\t\"quoted\" \\ <b>&amp;</b>",
            'empty_list' => [],
            'empty_map' => new \stdClass(),
            'nested' => ['deep' => ['deeper' => []]],
            'null' => null,
            'true' => true,
            'false' => false,
            'int' => PHP_INT_MAX,
            'negative' => -42,
            'floats' => [0.1, 1.0, -0.0, 1e25, 1e-7, 104.15, 1 / 3, 123456789012345678.0, 2.5e-5],
            'numeric string keys' => ['10' => 'x', '-3' => 'y', '007' => 'z'],
            'ünï' => 'keys too',
        ];
        foreach (['JSON', 'FORM'] as $format) {
            dispatch('order_paid_done', $data, [$this->feed(['request_format' => $format, 'request_url' => $this->url($format)])]);
        }
        $byPath = array_column($this->received(2), 'body', 'path');
        $this->assertSame(json_encode($data), $byPath[$this->prefix . 'JSON']);
        $this->assertSame(http_build_query($data, '', '&'), $byPath[$this->prefix . 'FORM']);
    }

    public function testIdsAreUniqueAndMatchTheHeader(): void
    {
        $feeds = [];
        for ($i = 0; $i < 20; $i++) {
            $feeds[] = $this->feed(['request_url' => $this->url("f$i")], $i);
        }
        $ids = dispatch('order_paid_done', ['n' => 1], $feeds);
        $this->assertCount(20, array_unique($ids));
        $requests = $this->received(20);
        $this->assertEqualsCanonicalizing($ids, array_map(fn ($r) => $r['headers']['webhook-id'], $requests));
    }

    public function testEventNamesAreChecked(): void
    {
        foreach (["", "  ", "order\xff", "order\npaid", str_repeat('e', 300)] as $event) {
            try {
                dispatch($event, [], [$this->feed()]);
                $this->fail('no exception for ' . json_encode($event, JSON_INVALID_UTF8_SUBSTITUTE));
            } catch (\FluentWebhook\Exception $e) {
                $this->assertStringContainsString('event name', $e->getMessage());
            }
        }
    }

    public function testFeedsMustBeFeedsOrArrays(): void
    {
        foreach ([5, 'feed', new \stdClass(), null] as $item) {
            try {
                dispatch('order_paid_done', [], [$item]);
                $this->fail('no exception for ' . get_debug_type($item));
            } catch (\FluentWebhook\Exception $e) {
                $this->assertStringContainsString('$feeds[0] must be a FluentWebhook\\Feed or a settings array', $e->getMessage());
            }
        }
    }

    public function testWrongArgumentTypesAreTypeErrors(): void
    {
        foreach ([fn () => dispatch([], [], []), fn () => dispatch('e', 'data', []), fn () => dispatch('e', [], 'feeds')] as $call) {
            try {
                $call();
                $this->fail('no TypeError');
            } catch (\TypeError $e) {
                $this->assertStringContainsString('argument', $e->getMessage());
            }
        }
    }

    /**
     * Data of arrays and scalars only, to feeds that all send it as JSON, is encoded by PHP's
     * own encoder (src/php/json.rs); anything else by the extension's walk. Both must give
     * json_encode()'s bytes, with references followed and every kind of scalar.
     */
    public function testPlainDataAndDataWithObjectsGiveJsonEncodesBytes(): void
    {
        $shared = 'shared/ref';
        $plain = [
            'ints' => [0, -1, PHP_INT_MAX, PHP_INT_MIN], 'floats' => [0.1, -0.0, 1e100, 1.0, 2.5e-7],
            'text' => "Zoë \"quoted\" a/b <tag> \u{1F600}\n\t\x01", 'empty' => [], 'null' => null,
            'bools' => [true, false], 'map' => [3 => 'three', 'x' => ['y' => ['z' => 1]]],
            'holes' => [0 => 'a', 2 => 'c'], 'ref' => &$shared, '' => 'empty key',
        ];
        $withObject = $plain + ['model' => (object) ['id' => 7]];
        $feed = $this->feed();
        dispatch('order_paid_done', $plain, [$feed]);
        dispatch('order_paid_done', $withObject, [$feed]);
        $bodies = array_column($this->received(2), 'body');
        $this->assertEqualsCanonicalizing([json_encode($plain), json_encode($withObject)], $bodies);
    }

    public function testDispatchLeavesJsonLastErrorAsItWas(): void
    {
        json_encode(['x' => NAN]);
        $this->assertSame(JSON_ERROR_INF_OR_NAN, json_last_error());
        dispatch('order_paid_done', ['order' => ['id' => 1]], [$this->feed()]);
        $this->assertSame(JSON_ERROR_INF_OR_NAN, json_last_error(), 'after a dispatch that encoded');

        json_encode(['x' => 1]);
        try {
            dispatch('order_paid_done', ['order' => ['total' => NAN]], [$this->feed()]);
            $this->fail('NAN was sent');
        } catch (\FluentWebhook\PayloadException $e) {
            $this->assertStringContainsString('$data[order][total]: NAN cannot be encoded as JSON', $e->getMessage());
        }
        $this->assertSame(JSON_ERROR_NONE, json_last_error(), 'after a dispatch that failed');
        $this->received(1);
    }

    /**
     * A body too large for the payload limit is an exception, not PHP's fatal "Allowed memory
     * size exhausted", even with little memory left: PHP's encoder, which writes in PHP's
     * memory, is only used for data whose JSON cannot pass 64 KB.
     */
    public function testHugeDataUnderATightMemoryLimitIsAnExceptionNotAFatalError(): void
    {
        $url = $this->url();
        $result = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'big', 'request_url' => '$url', 'event_trigger' => ['e']]);
            // 6 MB of 2-byte characters: 36 MB of JSON escapes, more than the memory left.
            \$data = ['note' => str_repeat("\u{0436}", 3000000)];
            try {
                FluentWebhook\dispatch('e', \$data, [\$feed]);
                echo "sent\n";
            } catch (FluentWebhook\PayloadException \$e) {
                echo "refused: ", \$e->getMessage(), "\n";
            }
            PHP, ['memory_limit' => '24M', 'fluent_webhook.max_payload_bytes' => '1M']);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $this->assertStringStartsWith('refused: ', $result['stdout'], $result['stderr']);
        $this->assertStringContainsString('over', $result['stdout']);
    }

    /**
     * The walk writes floats as json_encode() does with PHP's default serialize_precision (-1);
     * with another setting, plain data must not get other digits than data with an object.
     */
    public static function serializePrecisions(): array
    {
        // '-0x1' is 0 to PHP (base 10), not -1: a reading in any base took it for the default.
        return ['17' => ['17'], '-0x1' => ['-0x1']];
    }

    /** @dataProvider serializePrecisions */
    public function testFloatDigitsDoNotDependOnTheShapeOfTheData(string $precision): void
    {
        $previous = ini_set('serialize_precision', $precision);
        try {
            $feed = $this->feed();
            dispatch('order_paid_done', ['f' => 104.15], [$feed]);
            dispatch('order_paid_done', ['f' => 104.15, 'o' => (object) []], [$feed]);
        } finally {
            ini_set('serialize_precision', $previous);
        }
        $bodies = array_column($this->received(2), 'body');
        $this->assertEqualsCanonicalizing(['{"f":104.15}', '{"f":104.15,"o":{}}'], $bodies);
    }

    /**
     * Reading a settings array in $feeds runs PHP code (jsonSerialize()), which may free the
     * array through the reference $feeds holds, or grow $feeds in place (ArrayObject's
     * storage): the feed is still read whole, and only the items $feeds had (valgrind: no
     * invalid read, `make valgrind`).
     */
    public function testFeedsThatPhpCodeFreesOrMovesWhileTheyAreReadStillFire(): void
    {
        $settings = fn (object $name) => ['name' => $name, 'request_url' => $this->url(), 'event_trigger' => ['order_paid_done']];
        $GLOBALS['fw_settings'] = $settings(new class () implements \JsonSerializable {
            public function jsonSerialize(): mixed
            {
                $GLOBALS['fw_settings'] = null;
                return 'freed';
            }
        });
        $feeds = [&$GLOBALS['fw_settings']];
        $this->assertCount(1, dispatch('order_paid_done', ['n' => 1], $feeds));

        $GLOBALS['fw_ao'] = new \ArrayObject([]);
        $GLOBALS['fw_ao'][] = $settings(new class () implements \JsonSerializable {
            public function jsonSerialize(): mixed
            {
                for ($i = 0; $i < 64; $i++) {
                    $GLOBALS['fw_ao'][] = 'filler';
                }
                return 'moved';
            }
        });
        // Shares the ArrayObject's storage, which it writes in place (PHP 8.2).
        $feeds = $GLOBALS['fw_ao']->__serialize()[1];
        $this->assertCount(1, dispatch('order_paid_done', ['n' => 2], $feeds));
        unset($GLOBALS['fw_settings'], $GLOBALS['fw_ao']);

        $requests = $this->received(2);
        $this->assertEqualsCanonicalizing(['{"n":1}', '{"n":2}'], array_column($requests, 'body'));
    }
}
