<?php

namespace FluentWebhook\Tests;

use FluentWebhook\Feed;
use function FluentWebhook\dispatch;
use function FluentWebhook\generate_secret;
use function FluentWebhook\verify;

/** Standard Webhooks signatures: what we send, what verify() accepts, and secrets kept secret. */
final class SignatureTest extends WebhookTestCase
{
    private const VECTOR_SECRET = 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD';
    private const VECTOR_HEADERS = [
        'webhook-id' => 'msg_27UH4WbU6Z5A5EzD8u03UvzRbpk',
        'webhook-timestamp' => '1649367553',
        'webhook-signature' => 'v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=',
    ];
    private const VECTOR_BODY = '{"email":"test@example.com","username":"test_user"}';

    public function testTheStandardWebhooksTestVector(): void
    {
        [$headers, $body] = [self::VECTOR_HEADERS, self::VECTOR_BODY];
        $tolerance = time() - 1649367553 + 60;
        $this->assertTrue(verify(self::VECTOR_SECRET, $headers, $body, $tolerance));
        $this->assertFalse(verify(self::VECTOR_SECRET, $headers, $body), 'a 2022 timestamp is stale');
        $this->assertFalse(verify(self::VECTOR_SECRET, $headers, $body . ' ', $tolerance));
        $this->assertFalse(verify(self::VECTOR_SECRET, ['webhook-id' => 'x'], $body, $tolerance));
    }

    /**
     * verify()'s tolerance and flush()'s timeout take a numeric string (a WordPress option is
     * one) or a bool as PHP's own `int` and `float` parameters do, unless the calling file
     * declares strict_types=1: `verify(…, "300")` and `flush("5")` were TypeErrors. What PHP
     * refuses ("5 apples", "0x10", null) is still refused.
     */
    public function testNumericParametersTakeNumericStringsAsPhpsOwnDo(): void
    {
        [$headers, $body] = [self::VECTOR_HEADERS, self::VECTOR_BODY];
        $tolerance = time() - 1649367553 + 60;
        $this->assertTrue(verify(self::VECTOR_SECRET, $headers, $body, (string) $tolerance));
        $this->assertTrue(verify(self::VECTOR_SECRET, $headers, $body, " $tolerance "));
        $this->assertTrue(verify(self::VECTOR_SECRET, $headers, $body, (float) $tolerance));
        $this->assertFalse(verify(self::VECTOR_SECRET, $headers, $body, '300'), 'the string is the number, not ignored');
        $this->assertFalse(verify(self::VECTOR_SECRET, $headers, $body, true), 'true is 1 second');
        // What earlier tests of this process dispatched first: the half second is about the
        // argument, not about their deliveries (under valgrind they take longer).
        \FluentWebhook\flush(60);
        $this->assertTrue(\FluentWebhook\flush('0.5'));
        $this->assertTrue(\FluentWebhook\flush(false));
        foreach (['5 apples', '0x10', '', null, [], NAN] as $refused) {
            try {
                verify(self::VECTOR_SECRET, $headers, $body, $refused);
                $this->fail('verify() took ' . var_export($refused, true));
            } catch (\TypeError) {
            }
            if (!is_float($refused)) {
                try {
                    \FluentWebhook\flush($refused);
                    $this->fail('flush() took ' . var_export($refused, true));
                } catch (\TypeError) {
                }
            }
        }
        $strict = self::runPhp(<<<'PHP'
            <?php
            declare(strict_types=1);
            foreach ([fn () => FluentWebhook\flush('1'), fn () => FluentWebhook\verify('whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD', [], '', '300')] as $call) {
                try { $call(); echo "no error\n"; } catch (TypeError) { echo "TypeError\n"; }
            }
            var_dump(FluentWebhook\flush(1), FluentWebhook\verify('whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD', [], '', 300));
            PHP);
        $this->assertSame("TypeError\nTypeError\nbool(true)\nbool(false)\n", $strict['stdout'], $strict['stderr']);
    }

    /**
     * verify() runs before the sender is known, on whatever a request carries: each `v1,`
     * candidate of webhook-signature hashed the whole body again. An 8 KB header of
     * `v1,AA== ` (a thousand candidates) and a 1 MiB body took 0.6 s of CPU instead of
     * 0.6 ms; the ten thousand here took 5.8 s. The body is hashed once now, whatever the
     * count, and each candidate still compared in constant time.
     */
    public function testManySignaturesCostOneHashOfTheBody(): void
    {
        $secret = generate_secret();
        $body = str_repeat('x', 1 << 20);
        $headers = ['webhook-id' => 'msg_x', 'webhook-timestamp' => (string) time()];
        $headers['webhook-signature'] = trim(str_repeat('v1,AA== ', 10000));
        $started = microtime(true);
        $this->assertFalse(verify($secret, $headers, $body));
        $this->assertLessThan(2.0, microtime(true) - $started, 'ten thousand candidates against a 1 MiB body');
        $signed = $this->feed(['secret' => $secret])->render('order_paid_done', ['a' => 1]);
        $headers = $signed['headers'];
        $headers['webhook-signature'] = trim(str_repeat('v1,AA== ', 100)) . ' ' . $headers['webhook-signature'];
        $this->assertTrue(verify($secret, $headers, $signed['body']), 'the right one among many still passes');
    }

    public function testSignedRequestsVerifyAtTheReceiver(): void
    {
        $secret = generate_secret();
        $this->assertMatchesRegularExpression('#^whsec_[A-Za-z0-9+/]{43}=$#', $secret);
        $this->assertNotSame($secret, generate_secret());
        $feed = $this->feed(['secret' => $secret, 'request_format' => 'FORM']);
        $this->assertTrue($feed->isSigned());
        $this->assertFalse($this->feed()->isSigned());
        [$id] = dispatch('order_paid_done', ['order' => ['id' => 7, 'note' => 'Zoë & co']], [$feed]);
        [$request] = $this->received(1);
        $this->assertSame($id, $request['headers']['webhook-id']);
        $this->assertMatchesRegularExpression('#^v1,[A-Za-z0-9+/]{43}=$#', $request['headers']['webhook-signature']);
        $this->assertTrue(verify($secret, $request['headers'], $request['body']));
        $this->assertTrue(verify($secret, array_change_key_case($request['headers'], CASE_UPPER), $request['body']));
        $this->assertFalse(verify($secret, $request['headers'], $request['body'] . 'x'), 'tampered body');
        $this->assertFalse(verify(generate_secret(), $request['headers'], $request['body']), 'other secret');
        $this->assertArrayNotHasKey('webhook-signature', $this->feed()->render('order_paid_done', [])['headers']);
    }

    /**
     * The spec signs "{id}.{timestamp}.{body}" and warns that the id must not hold a "." to
     * prevent certain attacks: verify() took any id, so a signed request whose body holds
     * ".<a fresh timestamp>." (a customer's order note, sent as written in a form body) gave
     * anyone who saw it a second request that verified: the id up to there, that timestamp,
     * and the rest of the body, under a webhook-id the receiver had never seen.
     */
    public function testAnIdWithAFullStopDoesNotVerify(): void
    {
        $secret = generate_secret();
        $fresh = (string) time();
        $feed = $this->feed(['secret' => $secret, 'request_format' => 'FORM']);
        dispatch('order_paid_done', ['order' => ['note' => "x.$fresh.", 'id' => 7, 'status' => 'paid']], [$feed]);
        [$request] = $this->received(1);
        $this->assertTrue(verify($secret, $request['headers'], $request['body']));
        $signed = "{$request['headers']['webhook-id']}.{$request['headers']['webhook-timestamp']}.{$request['body']}";
        $at = strpos($signed, "x.$fresh.");
        [$id, $body] = [substr($signed, 0, $at + 1), substr($signed, $at + strlen("x.$fresh."))];
        $this->assertSame('&order%5Bid%5D=7&order%5Bstatus%5D=paid', $body, 'a body the shop never sent');
        $forged = ['webhook-id' => $id, 'webhook-timestamp' => $fresh, 'webhook-signature' => $request['headers']['webhook-signature']];
        $key = base64_decode(substr($secret, 6));
        $this->assertSame(
            $request['headers']['webhook-signature'],
            'v1,' . base64_encode(hash_hmac('sha256', "$id.$fresh.$body", $key, true)),
            'the same signed content, as hash_hmac() sees it'
        );
        $this->assertFalse(verify($secret, $forged, $body), 'an id with a full stop');
    }

    /**
     * A GET carries its payload in the URL, and the signature covers the id, the timestamp and
     * the body, which a GET has not: a "signed" GET verified whatever its query said, so a
     * receiver trusted data nobody had signed. A secret is refused on a GET feed.
     */
    public function testAGetFeedCannotBeSigned(): void
    {
        $secret = generate_secret();
        try {
            $this->feed(['secret' => $secret, 'request_method' => 'get']);
            $this->fail('a GET feed took a secret');
        } catch (\FluentWebhook\InvalidFeedException $e) {
            $this->assertStringStartsWith('secret: ', $e->getMessage());
            $this->assertStringContainsString('GET', $e->getMessage());
            $this->assertStringNotContainsString(substr($secret, 6), $e->getMessage());
        }
        $this->assertFalse($this->feed(['secret' => '', 'request_method' => 'GET'])->isSigned(), 'no secret, no refusal');
    }

    public function testRenderSignsToo(): void
    {
        $secret = generate_secret();
        $request = $this->feed(['secret' => $secret])->render('order_paid_done', ['a' => 1]);
        $this->assertTrue(verify($secret, $request['headers'], $request['body']));
    }

    public function testSecretsAreCheckedAndNeverShown(): void
    {
        $secret = generate_secret();
        $feed = $this->feed(['secret' => $secret], 'signed-' . $this->prefix);
        dispatch('order_paid_done', ['x' => 1], [$feed]);
        $this->assertTrue(\FluentWebhook\flush(10));
        ob_start();
        var_dump($feed);
        print_r($feed);
        var_export($feed->toArray());
        phpinfo();
        $shown = ob_get_clean() . json_encode(\FluentWebhook\stats()) . json_encode(\FluentWebhook\deliveries(['feed' => 'signed-' . $this->prefix]));
        $key = substr($secret, 6);
        $this->assertStringNotContainsString($key, $shown);
        $this->assertArrayNotHasKey('secret', $feed->toArray());

        foreach (['plain-text-secret', 'whsec_' . base64_encode('too short'), 'whsec_***not-base64***'] as $bad) {
            try {
                $this->feed(['secret' => $bad]);
                $this->fail("accepted $bad");
            } catch (\FluentWebhook\InvalidFeedException $e) {
                $this->assertStringStartsWith('secret: ', $e->getMessage());
                $this->assertStringNotContainsString(substr($bad, 6), $e->getMessage());
            }
        }
        try {
            verify('whsec_' . base64_encode('also too short'), [], '');
            $this->fail('no exception');
        } catch (\FluentWebhook\Exception $e) {
            $this->assertStringNotContainsString(base64_encode('also too short'), $e->getMessage());
        }
    }

    /**
     * $secret is #[\SensitiveParameter], as hash_hmac()'s $key is: with
     * zend.exception_ignore_args off (PHP's own default, and php.ini-development's), the trace
     * of an exception verify() threw showed the first 15 bytes of the secret, in an uncaught
     * exception's output and in the error log: `verify('whsec_pTqcJHsTO...', Array, '', -1)`.
     */
    public function testASecretIsNotInTheTraceOfAnExceptionFromVerify(): void
    {
        $secret = generate_secret();
        $ignoreArgs = ini_set('zend.exception_ignore_args', '0');
        $maxLength = ini_set('zend.exception_string_param_max_len', '15');
        try {
            verify($secret, [], '', -1);
            $this->fail('no exception');
        } catch (\FluentWebhook\Exception $e) {
            $this->assertStringContainsString('FluentWebhook\verify(Object(SensitiveParameterValue), Array', $e->getTraceAsString());
            $this->assertStringNotContainsString(substr($secret, 6, 9), (string) $e);
        } finally {
            ini_set('zend.exception_ignore_args', $ignoreArgs);
            ini_set('zend.exception_string_param_max_len', $maxLength);
        }
    }

    /**
     * Feed's constructor takes the settings, secret included: with zend.exception_ignore_args
     * off, the trace of a refused feed held the whole settings array, for whatever collects
     * trace arguments (getTrace(), an error tracker). Its $settings is #[\SensitiveParameter]
     * too, given once every module has started (ext-php-rs registers the class after ours).
     */
    public function testASecretIsNotInTheTraceOfARefusedFeed(): void
    {
        $secret = generate_secret();
        $ignoreArgs = ini_set('zend.exception_ignore_args', '0');
        try {
            new Feed(['name' => 'x', 'request_url' => 'not a url', 'event_trigger' => ['e'], 'secret' => $secret]);
            $this->fail('no exception');
        } catch (\FluentWebhook\InvalidFeedException $e) {
            $this->assertInstanceOf(\SensitiveParameterValue::class, $e->getTrace()[0]['args'][0] ?? null, print_r($e->getTrace()[0], true));
            $this->assertStringNotContainsString(substr($secret, 6, 12), print_r($e->getTrace(), true));
        } finally {
            ini_set('zend.exception_ignore_args', $ignoreArgs);
        }
    }

    public function testRetriesAreSignedAnew(): void
    {
        $secret = generate_secret();
        $dir = $this->tempDir('sign');
        $port = Receiver::freePort();
        $log = "$dir/fault.jsonl";
        $this->faultServer($port, $log, '500,200');
        $result = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 's', 'request_url' => 'http://127.0.0.1:$port/h', 'event_trigger' => ['e'], 'secret' => '$secret']);
            FluentWebhook\dispatch('e', ['n' => 1], [\$feed]);
            var_dump(FluentWebhook\\flush(20));
            PHP, ['fluent_webhook.retry_schedule' => '2', 'fluent_webhook.spool_path' => "$dir/spool.sqlite"]);
        $this->assertSame("bool(true)\n", $result['stdout'], $result['stderr']);
        $requests = array_map(fn ($l) => json_decode($l, true), file($log, FILE_IGNORE_NEW_LINES));
        $this->assertCount(2, $requests);
        [$first, $second] = $requests;
        $this->assertSame($first['headers']['webhook-id'], $second['headers']['webhook-id']);
        $this->assertNotSame($first['headers']['webhook-timestamp'], $second['headers']['webhook-timestamp']);
        foreach ($requests as $request) {
            $this->assertTrue(verify($secret, $request['headers'], $request['body']));
        }
    }
}
