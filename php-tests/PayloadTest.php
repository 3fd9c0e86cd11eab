<?php

namespace FluentWebhook\Tests;

use FluentWebhook\PayloadException;
use function FluentWebhook\dispatch;

/**
 * Event data that JSON cannot carry ends in a PayloadException that says where; data that it
 * can carry is converted as json_encode() sees it. Nothing is sent for data that fails.
 */
final class PayloadTest extends WebhookTestCase
{
    /** @param array|\Closure $data the data, or a function that makes it afresh for each call */
    private function assertPayloadError(array|\Closure $data, string $message): void
    {
        foreach (['render', 'dispatch'] as $how) {
            $payload = $data instanceof \Closure ? $data() : $data;
            try {
                $how === 'render'
                    ? $this->feed()->render('order_paid_done', $payload)
                    : dispatch('order_paid_done', $payload, [$this->feed()]);
                $this->fail("no exception from $how");
            } catch (PayloadException $e) {
                $this->assertInstanceOf(\FluentWebhook\Exception::class, $e);
                $this->assertStringContainsString($message, $e->getMessage(), $how);
            }
        }
        \FluentWebhook\flush(5);
        $this->assertSame([], self::receiver()->requests($this->prefix));
    }

    public function testAnArrayThatContainsItself(): void
    {
        $data = ['a' => 1];
        $data['self'] = &$data;
        $this->assertPayloadError($data, '$data[self]: the array contains itself (a reference cycle)');
    }

    public function testAnObjectThatContainsItself(): void
    {
        $order = new \stdClass();
        $order->customer = new \stdClass();
        $order->customer->order = $order;
        $this->assertPayloadError(['order' => $order], '$data[order][customer][order]: the object contains itself');
    }

    public function testTheSameObjectTwiceIsNotACycle(): void
    {
        $address = ['city' => 'Göteborg'];
        $shared = (object) $address;
        $data = ['billing' => $shared, 'shipping' => $shared];
        $this->assertSame(json_encode($data), $this->feed()->render('e', $data)['body']);
    }

    public function testDepthLimitIs512LikeJsonEncode(): void
    {
        $ok = [];
        for ($i = 0; $i < 511; $i++) {
            $ok = [$ok];
        }
        $this->assertNotFalse(json_encode($ok));
        $this->assertSame(json_encode($ok), $this->feed()->render('e', $ok)['body']);
        $tooDeep = [$ok];
        $this->assertFalse(json_encode($tooDeep));
        $this->assertPayloadError($tooDeep, 'nesting is deeper than 512 levels');
        $veryDeep = [];
        for ($i = 0; $i < 10000; $i++) {
            $veryDeep = ['n' => $veryDeep];
        }
        $this->assertPayloadError($veryDeep, 'nesting is deeper than 512 levels');
    }

    public function testNanAndInf(): void
    {
        $this->assertPayloadError(['order' => ['total' => NAN]], '$data[order][total]: NAN cannot be encoded as JSON');
        $this->assertPayloadError(['x' => -INF], '$data[x]: -INF cannot be encoded as JSON');
    }

    public function testInvalidUtf8InValuesAndKeys(): void
    {
        $this->assertPayloadError(['name' => "Zo\xeb"], '$data[name]: malformed UTF-8');
        $this->assertPayloadError(["k\xff" => 1], 'malformed UTF-8');
    }

    public function testResourcesAndUnitEnums(): void
    {
        $this->assertPayloadError(['file' => STDERR], '$data[file]: a resource cannot be encoded as JSON');
        $this->assertPayloadError(['status' => UnitStatus::Paid], 'enum FluentWebhook\Tests\UnitStatus has no backing value');
    }

    public function testBackedEnumsClosuresAndVisibility(): void
    {
        $data = [
            'status' => BackedStatus::Paid,
            'callback' => fn () => 1,
            'model' => new class {
                public $id = 7;
                protected $hidden = 'h';
                private $secret = 's';
                public ?string $unset;
            },
        ];
        $this->assertSame('{"status":"paid","callback":{},"model":{"id":7}}', $this->feed()->render('e', $data)['body']);
        $this->assertSame(json_encode($data), $this->feed()->render('e', $data)['body']);
    }

    public function testJsonSerializableMayReturnAnythingOrThrow(): void
    {
        $self = new class implements \JsonSerializable {
            public $visible = 1;
            public function jsonSerialize(): mixed
            {
                return $this;
            }
        };
        $scalar = new class implements \JsonSerializable {
            public function jsonSerialize(): mixed
            {
                return 'scalar';
            }
        };
        $data = ['self' => $self, 'scalar' => $scalar];
        $this->assertSame(json_encode($data), $this->feed()->render('e', $data)['body']);

        $throws = new class implements \JsonSerializable {
            public function jsonSerialize(): mixed
            {
                throw new \DomainException('model not loaded');
            }
        };
        try {
            dispatch('order_paid_done', ['x' => $throws], [$this->feed()]);
            $this->fail('no exception');
        } catch (\DomainException $e) {
            $this->assertSame('model not loaded', $e->getMessage(), "the caller's own exception propagates");
        }
    }

    /**
     * jsonSerialize() is PHP code run in the middle of a conversion: it must not be able to
     * free or change what is being read (these read freed memory before the fix).
     */
    public function testJsonSerializeCannotPullDataFromUnderTheConversion(): void
    {
        $GLOBALS['fw_inner'] = ['a', new FreesItsContainer(), 'c', 'd', 'e'];
        $data = ['x' => &$GLOBALS['fw_inner']];
        $expected = '{"x":["a","evil","c","d","e"]}';
        $this->assertSame($expected, $this->feed()->render('e', $data)['body']);

        $GLOBALS['fw_inner'] = [new ReturnsThisAfterLeaving()];
        $data = ['x' => &$GLOBALS['fw_inner']];
        $this->assertSame('{"x":[{"p":"pp"}]}', $this->feed()->render('e', $data)['body']);
    }

    /**
     * An ArrayObject's JSON view is its live storage, which offsetUnset()/offsetSet() change
     * in place: a nested jsonSerialize() that deletes the entry it is under frees the key the
     * error names (read freed memory, named the path after whatever reused it, before the fix),
     * and one that grows the storage moves its slots.
     */
    public function testJsonSerializeCannotChangeAnArrayObjectUnderTheConversion(): void
    {
        $digit = random_int(1, 9);
        $fresh = function (bool $throw) use ($digit): array {
            // A new key string each time, which only the ArrayObject holds.
            $GLOBALS['fw_ao'] = new \ArrayObject([str_repeat('k', 20) . $digit => new UnsetsItsKey($throw)]);
            return ['ao' => $GLOBALS['fw_ao']];
        };
        $path = '$data[ao][' . str_repeat('k', 20) . "$digit]";
        $this->assertPayloadError(fn () => $fresh(false), "$path: NAN cannot be encoded as JSON");
        $this->assertCount(0, $GLOBALS['fw_ao']);
        try {
            $this->feed()->render('e', $fresh(true));
            $this->fail('no exception');
        } catch (\DomainException $e) {
            $this->assertSame('unset', $e->getMessage());
        }

        // Walked as it was when the walk reached it.
        $GLOBALS['fw_ao'] = new \ArrayObject(['a' => new GrowsItsArrayObject(), 'b' => str_repeat('b', 30) . random_int(1, 9), 'c' => [1, 2]]);
        $body = $this->feed()->render('e', ['ao' => $GLOBALS['fw_ao']])['body'];
        $this->assertMatchesRegularExpression('/^\{"ao":\{"a":1,"b":"b{30}[1-9]","c":\[1,2\]\}\}$/', $body);
        $this->assertCount(1002, $GLOBALS['fw_ao']);

        // ArrayObject::__serialize() hands out that storage as an ordinary array, which
        // offsetSet() then grows in place although it is shared: walked as it goes.
        $GLOBALS['fw_ao'] = new \ArrayObject(['a' => new GrowsItsArrayObject(), 'b' => 'x']);
        $body = $this->feed()->render('e', ['s' => new HandsOutStorage($GLOBALS['fw_ao'])])['body'];
        $this->assertStringStartsWith('{"s":{"a":1,"n0":"' . str_repeat('v', 30) . '0",', $body);
        $this->assertCount(1001, json_decode($body, true)['s']);
    }

    public function testJsonSerializeCannotFreeAFeedDuringDispatch(): void
    {
        $GLOBALS['fw_feed'] = $this->feed(['request_url' => $this->url('kept')]);
        $feeds = [&$GLOBALS['fw_feed']];
        $ids = dispatch('order_paid_done', ['x' => new DropsTheFeed()], $feeds);
        $this->assertNull($GLOBALS['fw_feed']);
        [$request] = $this->received(1);
        $this->assertSame($ids[0], $request['headers']['webhook-id']);
        $this->assertSame($this->prefix . 'kept', $request['path']);
        $this->assertSame('{"x":1}', $request['body']);
    }

    public function testLongJsonSerializeChainsEndInAnException(): void
    {
        $this->assertPayloadError(['x' => new Chain(100000)], 'jsonSerialize() calls nest deeper than 512 levels');
        $this->assertSame('{"x":"end"}', $this->feed()->render('e', ['x' => new Chain(100)])['body']);
    }

    public function testReferencesAreFollowed(): void
    {
        $value = 'v';
        $data = ['ref' => &$value, 'list' => [1, 2]];
        $list = &$data['list'];
        $list[] = 3;
        $this->assertSame('{"ref":"v","list":[1,2,3]}', $this->feed()->render('e', $data)['body']);
    }

    public function testNothingIsConvertedWhenNoFeedMatches(): void
    {
        // Data that cannot be encoded is not even looked at when no feed fires.
        $this->assertSame([], dispatch('order_paid_done', ['bad' => NAN], [$this->feed(['enabled' => false])]));
    }

    public function testLargeArrays(): void
    {
        $data = ['items' => range(1, 100000), 'text' => str_repeat('é', 100000)];
        $previous = ini_set('fluent_webhook.max_payload_bytes', '8M');
        try {
            $this->assertSame(json_encode($data), $this->feed()->render('e', $data)['body']);
        } finally {
            ini_set('fluent_webhook.max_payload_bytes', $previous);
        }
    }
}

final class FreesItsContainer implements \JsonSerializable
{
    public function jsonSerialize(): mixed
    {
        $GLOBALS['fw_inner'] = null;
        $GLOBALS['fw_junk'] = array_map(fn ($i) => [str_repeat('q', 64)], range(1, 1000));
        return 'evil';
    }
}

final class ReturnsThisAfterLeaving implements \JsonSerializable
{
    public $p = 'pp';

    public function jsonSerialize(): mixed
    {
        $GLOBALS['fw_inner'] = null;
        $GLOBALS['fw_junk'] = array_map(fn ($i) => new \stdClass(), range(1, 1000));
        return $this;
    }
}

final class UnsetsItsKey implements \JsonSerializable
{
    public function __construct(private bool $throw)
    {
    }

    public function jsonSerialize(): mixed
    {
        $ao = $GLOBALS['fw_ao'];
        $key = array_key_first((array) $ao);
        unset($ao[$key], $key);
        // Strings the size of the freed key: the allocator hands its memory straight back.
        $GLOBALS['fw_junk'] = array_map(fn ($i) => str_repeat('Z', 20) . ($i % 10), range(1, 64));
        return $this->throw ? throw new \DomainException('unset') : NAN;
    }
}

final class GrowsItsArrayObject implements \JsonSerializable
{
    public function jsonSerialize(): mixed
    {
        unset($GLOBALS['fw_ao']['b']);
        for ($i = 0; $i < 1000; $i++) {
            $GLOBALS['fw_ao']["n$i"] = str_repeat('v', 30) . $i;
        }
        return 1;
    }
}

final class HandsOutStorage implements \JsonSerializable
{
    public function __construct(private \ArrayObject $ao)
    {
    }

    public function jsonSerialize(): mixed
    {
        return $this->ao->__serialize()[1];
    }
}

final class DropsTheFeed implements \JsonSerializable
{
    public function jsonSerialize(): mixed
    {
        $GLOBALS['fw_feed'] = null;
        $GLOBALS['fw_junk'] = array_map(fn ($i) => str_repeat(chr(65 + $i % 26), 100), range(1, 2000));
        return 1;
    }
}

final class Chain implements \JsonSerializable
{
    public function __construct(private int $n)
    {
    }

    public function jsonSerialize(): mixed
    {
        return $this->n > 0 ? new Chain($this->n - 1) : 'end';
    }
}

enum UnitStatus
{
    case Paid;
}

enum BackedStatus: string
{
    case Paid = 'paid';
}
