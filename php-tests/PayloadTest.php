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
    private function assertPayloadError(array $data, string $message): void
    {
        foreach (['render', 'dispatch'] as $how) {
            try {
                $how === 'render'
                    ? $this->feed()->render('order_paid_done', $data)
                    : dispatch('order_paid_done', $data, [$this->feed()]);
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
        $this->assertSame(json_encode($data), $this->feed()->render('e', $data)['body']);
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
