<?php

namespace FluentWebhook\Tests;

/**
 * Retries against an endpoint that fails on purpose (support/fault-server.php), each case in
 * a child process with a short retry schedule and a spool of its own.
 */
final class RetryTest extends WebhookTestCase
{
    private string $dir;

    protected function setUp(): void
    {
        parent::setUp();
        $this->dir = $this->tempDir('retry');
    }

    /** Starts the fault server on $port with a script of answers; returns its log file. */
    private function faultServerLog(int $port, string $script): string
    {
        $log = "$this->dir/fault-$port.jsonl";
        $this->faultServer($port, $log, $script);
        return $log;
    }

    private static function requests(string $log): array
    {
        return array_map(fn ($l) => json_decode($l, true), file($log, FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES));
    }

    /** Dispatches one delivery to $url in a child and returns its deliveries() row and stats. */
    private function sendFromChild(string $url, array $ini = [], string $before = ''): array
    {
        $result = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'retry', 'request_url' => '$url', 'event_trigger' => ['order_paid_done']], 'r1');
            \$ids = FluentWebhook\dispatch('order_paid_done', ['order' => ['id' => 1]], [\$feed]);
            $before
            \$flushed = FluentWebhook\\flush(20);
            echo json_encode(['id' => \$ids[0], 'flushed' => \$flushed, 'log' => FluentWebhook\deliveries(), 'stats' => FluentWebhook\stats()]);
            PHP, $ini + [
            'fluent_webhook.retry_schedule' => '0.3,0.3,0.3',
            'fluent_webhook.spool_path' => "$this->dir/spool.sqlite",
        ], 40.0);
        $this->assertFalse($result['timed_out'], 'child hung');
        $this->assertSame(0, $result['exit'], $result['stderr'] . $result['stdout']);
        return json_decode($result['stdout'], true, 512, JSON_THROW_ON_ERROR);
    }

    public function testServerErrorsAreRetriedWithTheSameId(): void
    {
        $port = Receiver::freePort();
        $log = $this->faultServerLog($port, '500,503,200');
        $out = $this->sendFromChild("http://127.0.0.1:$port/hook");
        $this->assertTrue($out['flushed']);
        $requests = self::requests($log);
        $this->assertSame(['500', '503', '200'], array_column($requests, 'answer'));
        $this->assertSame([$out['id'], $out['id'], $out['id']], array_map(fn ($r) => $r['headers']['webhook-id'], $requests));
        $this->assertSame(array_fill(0, 3, '{"order":{"id":1}}'), array_column($requests, 'body'));
        [$row] = $out['log'];
        $this->assertSame('delivered', $row['status']);
        $this->assertSame([500, 503, 200], array_column($row['attempts'], 'status_code'));
        $this->assertSame(['HTTP 500', 'HTTP 503', null], array_column($row['attempts'], 'error'));
        $this->assertSame('answer 3: 200', $row['response_excerpt']);
        $this->assertNull($row['next_attempt_at']);
        $this->assertSame(1, $out['stats']['delivered']);
        $this->assertSame(2, $out['stats']['retries_scheduled']);
    }

    public function testTooManyRequestsHonoursRetryAfter(): void
    {
        $port = Receiver::freePort();
        $log = $this->faultServerLog($port, '429:1,200');
        $out = $this->sendFromChild("http://127.0.0.1:$port/hook", ['fluent_webhook.retry_schedule' => '0.1']);
        $this->assertTrue($out['flushed']);
        [$first, $second] = self::requests($log);
        $this->assertGreaterThanOrEqual(0.9, $second['at'] - $first['at'], 'waited for Retry-After: 1, not the 0.1 s schedule');
        $this->assertSame('delivered', $out['log'][0]['status']);
    }

    public function testGoneStopsAtOnce(): void
    {
        $port = Receiver::freePort();
        $log = $this->faultServerLog($port, '410,200');
        $out = $this->sendFromChild("http://127.0.0.1:$port/hook");
        $this->assertCount(1, self::requests($log));
        $this->assertSame('gone', $out['log'][0]['status']);
        $this->assertSame(1, $out['stats']['gone']);
        $this->assertTrue($out['stats']['recent_failures'][0]['gone']);
        $this->assertStringContainsString('410 Gone', $out['stats']['recent_failures'][0]['reason']);
    }

    public function testOtherClientErrorsAreNotRetried(): void
    {
        $port = Receiver::freePort();
        $log = $this->faultServerLog($port, '404,200');
        $out = $this->sendFromChild("http://127.0.0.1:$port/hook");
        $this->assertCount(1, self::requests($log));
        $this->assertSame('failed', $out['log'][0]['status']);
        $this->assertSame(1, $out['stats']['failed']);
    }

    /**
     * The endpoint writes a redirect's Location, up to hyper's limit on an answer's head: the
     * reason shows its start. A 300 KB Location was a 300 KB error in the delivery's log, in
     * stats() and in the error log's line.
     */
    public function testARedirectsReasonShowsTheStartOfALongLocation(): void
    {
        $port = Receiver::freePort();
        $this->faultServerLog($port, 'redirect:300000');
        $out = $this->sendFromChild("http://127.0.0.1:$port/hook");
        [$row] = $out['log'];
        $this->assertSame('failed', $row['status']);
        $this->assertSame(301, $row['attempts'][0]['status_code']);
        $error = $row['attempts'][0]['error'];
        $this->assertStringStartsWith('HTTP 301 redirect to http://elsewhere.test/aaa', $error);
        $this->assertStringContainsString('(300000 bytes); redirects are not followed', $error);
        $this->assertLessThan(1024, strlen($error));
        $this->assertSame($error, $out['stats']['recent_failures'][0]['reason']);
    }

    public function testTheScheduleRunsOut(): void
    {
        $port = Receiver::freePort();
        $log = $this->faultServerLog($port, '500');
        $out = $this->sendFromChild("http://127.0.0.1:$port/hook", ['fluent_webhook.retry_schedule' => '0.1,0.1']);
        $this->assertCount(3, self::requests($log));
        $this->assertSame('failed', $out['log'][0]['status']);
        $this->assertCount(3, $out['log'][0]['attempts']);
    }

    public static function resets(): array
    {
        return ['before the answer' => ['reset'], 'in the middle of the status line' => ['partial']];
    }

    /** @dataProvider resets */
    public function testResetConnectionsAreRetried(string $fault): void
    {
        $port = Receiver::freePort();
        $log = $this->faultServerLog($port, "$fault,200");
        $out = $this->sendFromChild("http://127.0.0.1:$port/hook");
        $this->assertCount(2, self::requests($log));
        [$row] = $out['log'];
        $this->assertSame('delivered', $row['status']);
        $this->assertNull($row['attempts'][0]['status_code']);
        $this->assertNotEmpty($row['attempts'][0]['error']);
    }

    /**
     * A server closes a kept-alive connection as the next request goes out on it (its idle
     * timeout, keepalive_requests): that request never reached it, and is sent at once on a
     * new connection rather than recorded as a failed attempt and retried after the schedule's
     * wait. Measured before this was so: spaced as the server's idle timeout (1 s, 60
     * deliveries), 2 spurious failures; 2 s, 20 deliveries, 4.
     */
    public function testAConnectionTheServerClosedIsNotAFailedAttempt(): void
    {
        $port = Receiver::freePort();
        $log = "$this->dir/keepalive-$port.jsonl";
        $this->keepAliveServer($port, $log, 1);
        $result = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'ka', 'request_url' => 'http://127.0.0.1:$port/hook', 'event_trigger' => ['e']], 'ka');
            \$ids = [];
            for (\$i = 0; \$i < 3; \$i++) {
                \$ids[] = FluentWebhook\dispatch('e', ['n' => \$i], [\$feed])[0];
                FluentWebhook\\flush(10);
            }
            echo json_encode(['ids' => \$ids, 'log' => FluentWebhook\deliveries(), 'stats' => FluentWebhook\stats()]);
            PHP, ['fluent_webhook.retry_schedule' => '30', 'fluent_webhook.spool_path' => "$this->dir/spool.sqlite"]);
        $this->assertSame(0, $result['exit'], $result['stderr'] . $result['stdout']);
        $out = json_decode($result['stdout'], true, 512, JSON_THROW_ON_ERROR);
        foreach ($out['log'] as $row) {
            $this->assertSame('delivered', $row['status'], json_encode($row['attempts']));
            $this->assertCount(1, $row['attempts'], json_encode($row['attempts']));
        }
        $this->assertSame(3, $out['stats']['delivered']);
        $this->assertSame(0, $out['stats']['retries_scheduled']);
        $requests = self::requests($log);
        $this->assertSame($out['ids'], array_column($requests, 'id'), 'each sent once, in order');
        $this->assertCount(3, array_unique(array_column($requests, 'connection')), 'each on a connection of its own');
    }

    /**
     * A resend cannot tell a request the server never read from one it read and failed to
     * answer (here: read, then reset on a kept-alive connection): it only brings forward a retry
     * the schedule has left. With one attempt (`""`), the endpoint got the request twice: once
     * on the reused connection, again on a new one.
     */
    public function testAResendAddsNoSendToTheLastAttempt(): void
    {
        $port = Receiver::freePort();
        $log = "$this->dir/keepalive-$port.jsonl";
        $this->keepAliveServer($port, $log, '1:read');
        $result = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'ka', 'request_url' => 'http://127.0.0.1:$port/hook', 'event_trigger' => ['e']], 'ka');
            \$ids = [];
            for (\$i = 0; \$i < 2; \$i++) {
                \$ids[] = FluentWebhook\dispatch('e', ['n' => \$i], [\$feed])[0];
                FluentWebhook\\flush(10);
            }
            echo json_encode(['ids' => \$ids, 'log' => FluentWebhook\deliveries()]);
            PHP, ['fluent_webhook.retry_schedule' => '', 'fluent_webhook.spool_path' => "$this->dir/spool.sqlite"]);
        $this->assertSame(0, $result['exit'], $result['stderr'] . $result['stdout']);
        $out = json_decode($result['stdout'], true, 512, JSON_THROW_ON_ERROR);
        $requests = self::requests($log);
        $this->assertSame($out['ids'], array_column($requests, 'id'), 'each sent once');
        $rows = array_column($out['log'], null, 'id');
        $this->assertSame('failed', $rows[$out['ids'][1]]['status'], json_encode($rows[$out['ids'][1]]['attempts']));
        $this->assertCount(1, $rows[$out['ids'][1]]['attempts']);
    }

    /**
     * The endpoint answered 200 and sends its body slowly; the process exits while the body
     * still comes. The answer stands: the delivery is delivered, not an attempt cut off
     * without an answer and sent again by the next process.
     */
    public function testAnAnswerWhoseBodyIsCutOffAtExitStands(): void
    {
        [$row, $requests] = $this->answerCutOffAtExit('trickle:20');
        $this->assertSame('delivered', $row['status'], json_encode($row['attempts']));
        $this->assertSame([200], array_column($row['attempts'], 'status_code'));
        $this->assertSame([null], array_column($row['attempts'], 'error'));
        $this->assertStringStartsWith('t', $row['response_excerpt'], 'what came of the body');
        $this->assertCount(1, $requests, 'sent once');
    }

    /**
     * The same with a 503 whose body is cut off at exit: the answer stands as a failed attempt
     * with its status, retried as the schedule says, and the exit does not call it unsent.
     */
    public function testAServerErrorWhoseBodyIsCutOffAtExitIsRetried(): void
    {
        [$row, $requests] = $this->answerCutOffAtExit('trickle:20:503,200');
        $this->assertSame('delivered', $row['status'], json_encode($row['attempts']));
        $this->assertSame([503, 200], array_column($row['attempts'], 'status_code'));
        $this->assertCount(2, $requests);
    }

    /**
     * One delivery to a fault server answering `$answers`, from a process that exits 0.5 s
     * into an answer whose body trickles: asserts the exit neither hung nor called the
     * delivery cut off or unsent, and returns its log row once a next process flushed, with
     * the requests the server read.
     */
    private function answerCutOffAtExit(string $answers): array
    {
        $port = Receiver::freePort();
        $log = $this->faultServerLog($port, $answers);
        $ini = ['fluent_webhook.spool_path' => "$this->dir/spool.sqlite", 'fluent_webhook.retry_schedule' => '0.1'];
        $result = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'slow body', 'request_url' => 'http://127.0.0.1:$port/hook', 'event_trigger' => ['e']], 'sb');
            FluentWebhook\dispatch('e', ['n' => 1], [\$feed]);
            usleep(500000);
            PHP, $ini + ['fluent_webhook.shutdown_timeout' => '0.5', 'log_errors' => '1', 'error_log' => ''], 20.0);
        $this->assertFalse($result['timed_out'], 'the process hung at exit');
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $this->assertStringNotContainsString('cut off', $result['stderr']);
        $this->assertStringNotContainsString('not sent', $result['stderr'], 'it was sent, and answered');
        $later = self::runPhp('<?php FluentWebhook\\flush(5); echo json_encode(FluentWebhook\\deliveries());', $ini);
        [$row] = json_decode($later['stdout'], true, 512, JSON_THROW_ON_ERROR);
        return [$row, self::requests($log)];
    }

    public function testAnEndpointSlowerThanTheTimeoutIsRetried(): void
    {
        $port = Receiver::freePort();
        $log = $this->faultServerLog($port, 'slow:3,200');
        $out = $this->sendFromChild("http://127.0.0.1:$port/hook", ['fluent_webhook.timeout' => '1']);
        // The server answers one connection at a time, so a retry made while it still sleeps
        // can time out too; what matters is that timeouts are retried until delivered.
        $requests = self::requests($log);
        $this->assertGreaterThanOrEqual(2, count($requests));
        $this->assertCount(1, array_unique(array_map(fn ($r) => $r['headers']['webhook-id'], $requests)));
        [$row] = $out['log'];
        $this->assertSame('delivered', $row['status']);
        $this->assertSame('timed out after 1 s', $row['attempts'][0]['error']);
    }

    public function testAnEndpointThatIsDownThenUp(): void
    {
        $port = Receiver::freePort();
        $log = "$this->dir/fault-$port.jsonl";
        // The endpoint comes up only after the first attempt failed.
        $startServer = "while ((FluentWebhook\\deliveries()[0]['attempts'] ?? []) === []) { usleep(20000); }\n"
            . "proc_open([PHP_BINARY, " . var_export(__DIR__ . '/support/fault-server.php', true) . ", '$port', '$log', '200'], [], \$pipes);";
        touch($log);
        $out = $this->sendFromChild("http://127.0.0.1:$port/hook", ['fluent_webhook.retry_schedule' => '0.5,0.5,0.5,0.5'], $startServer);
        exec("pkill -f " . escapeshellarg("fault-server.php $port"));
        $this->assertTrue($out['flushed']);
        [$row] = $out['log'];
        $this->assertSame('delivered', $row['status']);
        $this->assertStringContainsString('could not connect', $row['attempts'][0]['error']);
        $this->assertSame(200, end($row['attempts'])['status_code']);
        $this->assertCount(1, self::requests($log), 'one request reached the endpoint once it was up');
    }

    /**
     * A feed switched off or deleted: cancel() ends its deliveries waiting for a retry, with the
     * reason in the log, and leaves other feeds' alone.
     */
    public function testCancelEndsAFeedsWaitingRetries(): void
    {
        $port = Receiver::freePort();
        $log = $this->faultServerLog($port, '500,500,500,500');
        $result = self::runPhp(<<<PHP
            <?php
            \$feed = fn (string \$id) => new FluentWebhook\Feed(['name' => \$id, 'request_url' => 'http://127.0.0.1:$port/hook', 'event_trigger' => ['order_paid_done']], \$id);
            FluentWebhook\dispatch('order_paid_done', ['order' => ['id' => 1]], [\$feed('off'), \$feed('kept')]);
            FluentWebhook\\flush(10);
            \$canceled = FluentWebhook\cancel('off', 'the feed was switched off');
            echo json_encode([
                'canceled' => \$canceled,
                'again' => FluentWebhook\cancel('off'),
                'off' => FluentWebhook\deliveries(['feed' => 'off'])[0],
                'kept' => FluentWebhook\deliveries(['feed' => 'kept'])[0],
            ]);
            PHP, ['fluent_webhook.retry_schedule' => '3600', 'fluent_webhook.spool_path' => "$this->dir/spool.sqlite"], 40.0);
        $this->assertSame(0, $result['exit'], $result['stderr'] . $result['stdout']);
        $out = json_decode($result['stdout'], true, 512, JSON_THROW_ON_ERROR);
        $this->assertSame(1, $out['canceled']);
        $this->assertSame(0, $out['again'], 'nothing left to cancel');
        $this->assertSame('failed', $out['off']['status']);
        $this->assertSame(500, $out['off']['attempts'][0]['status_code']);
        $this->assertSame('canceled: the feed was switched off', end($out['off']['attempts'])['error']);
        $this->assertNull($out['off']['next_attempt_at']);
        $this->assertSame('pending', $out['kept']['status'], 'the other feed still waits for its retry');
        $this->assertCount(2, self::requests($log), 'one attempt each');
    }

    /**
     * A feed's id is taken as `new Feed()` takes it, blanks around it trimmed: cancel() and the
     * log's `feed` filter, given the same id, reach that feed's deliveries. They compared the id
     * untrimmed: cancel(' off ') canceled none of the retries of new Feed(…, ' off '), which
     * went on to the feed's address after it was switched off.
     */
    public function testCancelAndTheLogTakeAFeedIdAsFeedDoes(): void
    {
        $port = Receiver::freePort();
        $this->faultServerLog($port, '500,500');
        $result = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'off', 'request_url' => 'http://127.0.0.1:$port/hook', 'event_trigger' => ['order_paid_done']], ' off ');
            FluentWebhook\dispatch('order_paid_done', ['order' => ['id' => 1]], [\$feed]);
            FluentWebhook\\flush(10);
            echo json_encode([
                'listed' => count(FluentWebhook\deliveries(['feed' => ' off '])),
                'canceled' => FluentWebhook\cancel(' off ', 'the feed was switched off'),
                'status' => FluentWebhook\deliveries(['feed' => 'off'])[0]['status'],
            ]);
            PHP, ['fluent_webhook.retry_schedule' => '3600', 'fluent_webhook.spool_path' => "$this->dir/spool.sqlite"], 40.0);
        $this->assertSame(0, $result['exit'], $result['stderr'] . $result['stdout']);
        $out = json_decode($result['stdout'], true, 512, JSON_THROW_ON_ERROR);
        $this->assertSame(['listed' => 1, 'canceled' => 1, 'status' => 'failed'], $out);
    }

    /**
     * cancel() takes a feed id given as an int (a WordPress post id) as PHP's own functions
     * take an int for a `string` parameter, unless the calling file declares strict_types=1.
     * It was a TypeError that named no type, and the feed's retries went on.
     */
    public function testCancelTakesAnIntFeedIdAsPhpTakesItForAStringParameter(): void
    {
        $port = Receiver::freePort();
        $this->faultServerLog($port, '500,500');
        $ini = ['fluent_webhook.retry_schedule' => '3600', 'fluent_webhook.spool_path' => "$this->dir/spool.sqlite"];
        $result = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'off', 'request_url' => 'http://127.0.0.1:$port/hook', 'event_trigger' => ['order_paid_done']], 42);
            FluentWebhook\dispatch('order_paid_done', ['order' => ['id' => 1]], [\$feed]);
            FluentWebhook\\flush(10);
            echo json_encode(['canceled' => FluentWebhook\cancel(42, 'the feed was switched off'), 'status' => FluentWebhook\deliveries(['feed' => 42])[0]['status']]);
            PHP, $ini, 40.0);
        $this->assertSame(0, $result['exit'], $result['stderr'] . $result['stdout']);
        $this->assertSame(['canceled' => 1, 'status' => 'failed'], json_decode($result['stdout'], true, 512, JSON_THROW_ON_ERROR));
        $strict = self::runPhp(<<<'PHP'
            <?php
            declare(strict_types=1);
            try { FluentWebhook\cancel(42); echo "no error\n"; } catch (TypeError $e) { echo "TypeError\n"; }
            echo FluentWebhook\cancel('42'), "\n";
            PHP, $ini);
        $this->assertSame("TypeError\n0\n", $strict['stdout'], $strict['stderr']);
    }

    /**
     * flush() returns true only when no retry of this process's deliveries falls due before
     * its timeout. It asked the spool for the next due time while a retry this process had
     * just claimed was in flight (the spool leaves a process's own claims out), and when that
     * attempt ended before it looked at its counters again, it saw nothing in flight and
     * nothing due, and returned true with the delivery's next retry due at once: about one
     * flush in twenty here, with a schedule of waits of 0 s.
     */
    public function testFlushWaitsForARetryOfADeliveryClaimedWhileItAsked(): void
    {
        $result = self::runPhp(<<<'PHP'
            <?php
            $feed = new FluentWebhook\Feed(['name' => 'f', 'request_url' => 'http://127.0.0.1:9/refused', 'event_trigger' => ['e']], 'f');
            $early = [];
            for ($round = 0; $round < 60; $round++) {
                FluentWebhook\dispatch('e', ['round' => $round], [$feed]);
                $flushed = FluentWebhook\flush(30);
                $row = FluentWebhook\deliveries(['limit' => 1])[0];
                if ($flushed && $row['status'] === 'pending') {
                    $early[] = count($row['attempts']);
                }
            }
            echo json_encode($early);
            PHP, [
            'fluent_webhook.retry_schedule' => implode(',', array_fill(0, 100, '0')),
            'fluent_webhook.spool_path' => "$this->dir/spool.sqlite",
            'fluent_webhook.shutdown_timeout' => '0',
            'error_log' => '/dev/null',
        ], 60.0);
        $this->assertFalse($result['timed_out'], 'child hung');
        $this->assertSame(0, $result['exit'], $result['stderr'] . $result['stdout']);
        $this->assertSame('[]', $result['stdout'], 'attempts made when flush() returned true with a retry due at once');
    }

    /**
     * A retry schedule of more than 100 waits is refused when it is set. It was taken whole:
     * every attempt's outcome carried the time of every retry the schedule allows (for a row
     * whose count of attempts another process raised), so 256 deliveries failing at once with
     * 100,000 waits held about 450 MB that no memory cap counted; and each attempt rewrote the
     * delivery's growing log, 38 s of the spool thread for one delivery of 8,000 waits of 0 s.
     */
    public function testARetryScheduleOfMoreThanAHundredWaitsIsRefused(): void
    {
        $result = self::runPhp(<<<'PHP'
            <?php
            $set = ini_set('fluent_webhook.retry_schedule', implode(',', array_fill(0, 100000, '3600')));
            echo json_encode([$set, ini_get('fluent_webhook.retry_schedule')]);
            PHP, ['fluent_webhook.retry_schedule' => '60', 'display_errors' => 'stderr', 'log_errors' => '0']);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $this->assertSame('[false,"60"]', $result['stdout']);
        $this->assertStringContainsString('fluent_webhook.retry_schedule: 100000 waits, more than 100; it keeps "60"', $result['stderr']);
    }

    public function testCancelRefusesABlankFeedIdOrAMultiLineReason(): void
    {
        foreach (["FluentWebhook\\cancel(' ');", "FluentWebhook\\cancel('7', \"a\\nb\");"] as $call) {
            $result = self::runPhp("<?php try { $call } catch (FluentWebhook\\Exception \$e) { echo get_class(\$e), ': ', \$e->getMessage(); }", [
                'fluent_webhook.spool_path' => "$this->dir/spool.sqlite",
            ]);
            $this->assertMatchesRegularExpression('/^FluentWebhook\\\\Exception: (feed id|reason) must/', $result['stdout'], $call);
        }
    }
}
