<?php

namespace FluentWebhook\Tests;

use function FluentWebhook\deliveries;
use function FluentWebhook\dispatch;
use function FluentWebhook\flush;
use function FluentWebhook\redeliver;

/**
 * The durable spool: the delivery log and resend, surviving kill -9 and process exit, sharing
 * between processes, the memory cap, and a spool that cannot be opened.
 */
final class SpoolTest extends WebhookTestCase
{
    private string $dir;

    protected function setUp(): void
    {
        parent::setUp();
        $this->dir = $this->tempDir('spool');
    }

    public function testTheLogAndItsFilters(): void
    {
        $feedA = 'a-' . $this->prefix;
        $before = microtime(true) - 1;
        $a = $this->feed(['event_trigger' => ['order_paid_done', 'order_fully_refunded']], $feedA);
        $b = $this->feed(['request_url' => $this->url('n', '/status/404')], 'b-' . $this->prefix);
        [$first] = dispatch('order_paid_done', ['n' => 1], [$a, $b]);
        [$second] = dispatch('order_fully_refunded', ['n' => 2], [$a]);
        $this->assertTrue(flush(10));

        $rows = deliveries(['feed' => $feedA]);
        $this->assertSame([$second, $first], array_column($rows, 'id'), 'newest first');
        $this->assertSame(['delivered', 'delivered'], array_column($rows, 'status'));
        $row = $rows[1];
        $this->assertSame($feedA, $row['feed_id']);
        $this->assertSame('Test feed', $row['feed_name']);
        $this->assertSame('order_paid_done', $row['event']);
        $this->assertSame('POST', $row['method']);
        $this->assertSame($this->url(), $row['url']);
        $this->assertCount(1, $row['attempts']);
        $this->assertSame(200, $row['attempts'][0]['status_code']);
        $this->assertNull($row['attempts'][0]['error']);
        $this->assertIsInt($row['attempts'][0]['duration_ms']);
        $this->assertEqualsWithDelta(microtime(true), $row['attempts'][0]['at'], 30);
        $this->assertSame('ok', $row['response_excerpt']);
        $this->assertGreaterThan($before, $row['created_at']);
        $this->assertNull($row['next_attempt_at']);

        $this->assertSame([$second], array_column(deliveries(['feed' => $feedA, 'event' => 'order_fully_refunded']), 'id'));
        $this->assertSame([$second], array_column(deliveries(['feed' => $feedA, 'limit' => 1]), 'id'));
        $failed = deliveries(['feed' => 'b-' . $this->prefix, 'status' => 'failed']);
        $this->assertCount(1, $failed);
        $this->assertSame('HTTP 404', $failed[0]['attempts'][0]['error']);
        $this->assertSame([], deliveries(['feed' => $feedA, 'status' => 'failed']));
        $this->assertSame([], deliveries(['feed' => $feedA, 'since' => time() + 3600]));
        $this->assertCount(2, deliveries(['feed' => $feedA, 'since' => $before]));
    }

    /**
     * The log reads no bodies. deliveries() read every row's body (each delivery keeps its
     * own copy) only to leave it out: a log of 3,000 deliveries of a 1 MB event was 3 GB read
     * and copied, past deliveries()' 10 s wait, and an allocation failure that aborted PHP
     * where memory was short. 200 such deliveries here: about 200 MB read before.
     */
    public function testTheLogReadsNoBodies(): void
    {
        $result = self::runPhp(<<<'PHP'
            <?php
            $feeds = array_map(fn ($i) => new FluentWebhook\Feed(['name' => "f$i", 'request_url' => 'http://127.0.0.1:9/f', 'event_trigger' => ['e']], "f$i"), range(1, 200));
            FluentWebhook\dispatch('e', ['x' => str_repeat('a', 1000000)], $feeds);
            FluentWebhook\flush(30) || throw new Exception('not flushed');
            preg_match('/VmHWM:\s+(\d+) kB/', file_get_contents('/proc/self/status'), $before);
            $rows = FluentWebhook\deliveries(['limit' => 10000]);
            preg_match('/VmHWM:\s+(\d+) kB/', file_get_contents('/proc/self/status'), $after);
            echo count($rows), ' ', intdiv($after[1] - $before[1], 1024), "\n";
            PHP, ['fluent_webhook.spool_path' => "$this->dir/spool.sqlite", 'fluent_webhook.shutdown_timeout' => '0'], 60.0);
        $this->assertSame(0, $result['exit'], $result['stdout'] . $result['stderr']);
        [$count, $grewMib] = explode(' ', trim($result['stdout']));
        $this->assertSame('200', $count);
        $this->assertLessThan(50, (int) $grewMib, 'peak resident memory grew by this many MiB reading the log');
    }

    /** A `since` in the far future lists nothing (it wrapped to a negative time: every row). */
    public function testSinceInTheFarFutureListsNothing(): void
    {
        dispatch('order_paid_done', ['n' => 1], [$this->feed([], 'far-' . $this->prefix)]);
        $this->assertTrue(flush(10));
        $this->assertCount(1, deliveries(['feed' => 'far-' . $this->prefix]));
        foreach ([time() + 3600, 9.3e15, 1e17, 1e300, PHP_INT_MAX] as $since) {
            $this->assertSame([], deliveries(['feed' => 'far-' . $this->prefix, 'since' => $since]), "since $since");
        }
    }

    /**
     * dispatch() takes an event with or without FluentCart's `fluent_cart/` prefix, and keeps
     * it as given; the `event` filter finds it by either name. It compared the name without
     * the prefix with the name as given: what was dispatched with the prefix was never listed.
     */
    public function testTheEventFilterFindsAnEventDispatchedWithItsPrefix(): void
    {
        $feed = $this->feed([], 'prefixed-' . $this->prefix);
        [$prefixed] = dispatch('fluent_cart/order_paid_done', ['n' => 1], [$feed]);
        [$bare] = dispatch('order_paid_done', ['n' => 2], [$feed]);
        $this->assertTrue(flush(10));
        foreach (['order_paid_done', 'fluent_cart/order_paid_done', ' order_paid_done '] as $event) {
            $rows = deliveries(['feed' => 'prefixed-' . $this->prefix, 'event' => $event]);
            $this->assertSame([$bare, $prefixed], array_column($rows, 'id'), "event filter '$event'");
        }
        $this->assertSame([], deliveries(['feed' => 'prefixed-' . $this->prefix, 'event' => 'order_fully_refunded']));
    }

    /**
     * A log larger than PHP's memory_limit leaves is refused with an exception that says so,
     * before any of it is built. deliveries() built its arrays until PHP's allocator gave up:
     * a fatal error from inside the extension (exit 255, or 137 "Hard memory limit"), which
     * also leaked the extension's own copy of the rows, for good in a php-fpm worker. The
     * WordPress plugin reads 10,000 rows for its Deliveries screen.
     */
    public function testALogLargerThanMemoryLimitLeavesIsAnExceptionNotAFatalError(): void
    {
        $result = self::runPhp(<<<'PHP'
            <?php
            $feeds = array_map(fn ($i) => new FluentWebhook\Feed(['name' => "f$i", 'request_url' => 'http://127.0.0.1:9/refused', 'event_trigger' => ['e']], "f$i"), range(1, 100));
            for ($i = 0; $i < 100; $i++) {
                FluentWebhook\dispatch('e', ['n' => $i], $feeds);
            }
            FluentWebhook\flush(60) || throw new Exception('not flushed');
            try {
                echo count(FluentWebhook\deliveries(['limit' => 10000])), " rows\n";
            } catch (FluentWebhook\Exception $e) {
                echo $e->getMessage(), "\n";
            }
            echo count(FluentWebhook\deliveries(['limit' => 1000])), " rows\n";
            PHP, ['memory_limit' => '16M', 'fluent_webhook.spool_path' => "$this->dir/spool.sqlite", 'error_log' => '/dev/null'], 60.0);
        $this->assertSame(0, $result['exit'], $result['stdout'] . $result['stderr']);
        $this->assertMatchesRegularExpression(
            '/^deliveries\(\): these 10000 rows would take about \d+ MiB of PHP memory, more than memory_limit leaves \(\d+ MiB\); ask for fewer with \'limit\'\n1000 rows$/',
            trim($result['stdout'])
        );
    }

    /**
     * The same for rows whose URLs grow as they are shown: each credential-like parameter's
     * value becomes "[redacted]", and parameters are separated by ';' as well as '&'. Only '&'
     * and '?' were counted, so a URL of 12,000 ";key=" (60 KB, 180 KB shown) passed the check
     * at a third of its size, and 100 rows ended in PHP's fatal "Allowed memory size
     * exhausted" instead of the exception.
     */
    public function testRowsWhoseUrlsGrowWhenRedactedAreCountedAsShown(): void
    {
        $result = self::runPhp(<<<'PHP'
            <?php
            $url = 'http://127.0.0.1:9/refused?' . str_repeat(';key=', 12000);
            $feed = new FluentWebhook\Feed(['name' => 'keys', 'request_url' => $url, 'event_trigger' => ['e']], 'keys');
            for ($i = 0; $i < 100; $i++) {
                FluentWebhook\dispatch('e', ['n' => $i], [$feed]);
            }
            FluentWebhook\flush(60) || throw new Exception('not flushed');
            gc_collect_cycles();
            ini_set('memory_limit', (string) (memory_get_usage(true) + (12 << 20)));
            try {
                echo count(FluentWebhook\deliveries(['limit' => 100])), " rows\n";
            } catch (FluentWebhook\Exception $e) {
                echo $e->getMessage(), "\n";
            }
            $rows = FluentWebhook\deliveries(['limit' => 10]);
            echo count($rows), " rows of ", strlen($rows[0]['url']), " bytes\n";
            PHP, ['fluent_webhook.spool_path' => "$this->dir/spool.sqlite", 'error_log' => '/dev/null'], 60.0);
        $this->assertSame(0, $result['exit'], substr($result['stdout'] . $result['stderr'], 0, 2000));
        $this->assertMatchesRegularExpression(
            '/^deliveries\(\): these 100 rows would take about \d+ MiB of PHP memory, more than memory_limit leaves \(\d+ MiB\); ask for fewer with \'limit\'\n10 rows of 180027 bytes$/',
            trim($result['stdout'])
        );
    }

    public function testBadFiltersAreRefused(): void
    {
        foreach ([['colour' => 'red'], ['status' => 'lost'], ['limit' => 0], ['limit' => 'ten'], ['since' => 'yesterday'], ['feed' => []]] as $filter) {
            try {
                deliveries($filter);
                $this->fail('no exception for ' . json_encode($filter));
            } catch (\FluentWebhook\Exception $e) {
                $this->assertStringStartsWith('deliveries(): ', $e->getMessage());
            }
        }
    }

    public function testCredentialsNeverAppearInTheLog(): void
    {
        $feed = $this->feed([
            'request_url' => $this->url('hook?token=tok-SECRET-1&page=2&%61pi_key=SECRET-4#access_token=SECRET-5'),
            'request_headers' => 'custom_headers',
            'custom_header_values' => [
                ['header_name' => 'Authorization', 'header_value' => 'Bearer SECRET-2'],
                ['header_name' => 'X-Api-Key', 'header_value' => 'SECRET-3'],
            ],
        ], 'cred-' . $this->prefix);
        dispatch('order_paid_done', ['n' => 1], [$feed]);
        $this->assertTrue(flush(10));
        [$request] = self::receiver()->waitForRequests($this->prefix, 1);
        $this->assertSame('Bearer SECRET-2', $request['headers']['authorization'], 'the receiver gets them');
        $log = print_r(deliveries(['feed' => 'cred-' . $this->prefix]), true) . print_r(\FluentWebhook\stats(), true);
        $this->assertStringNotContainsString('SECRET', $log);
        $this->assertStringContainsString('token=[redacted]&page=2&%61pi_key=[redacted]#access_token=[redacted]', $log);
    }

    public function testRedeliverSendsAStoredDeliveryAgainUnderANewId(): void
    {
        [$id] = dispatch('order_paid_done', ['n' => 'again'], [$this->feed([], 'redo-' . $this->prefix)]);
        $this->assertTrue(flush(10));
        $newId = redeliver($id);
        $this->assertNotSame($id, $newId);
        $this->assertMatchesRegularExpression('/^msg_[0-9a-f]{32}$/', $newId);
        $requests = $this->received(2);
        $this->assertSame([$id, $newId], array_map(fn ($r) => $r['headers']['webhook-id'], $requests));
        $this->assertSame($requests[0]['body'], $requests[1]['body']);
        $this->assertSame([$newId, $id], array_column(deliveries(['feed' => 'redo-' . $this->prefix]), 'id'));
        try {
            redeliver('msg_00000000000000000000000000000000');
            $this->fail('no exception');
        } catch (\FluentWebhook\Exception $e) {
            $this->assertStringContainsString('no delivery', $e->getMessage());
        }
        $this->expectException(\FluentWebhook\Exception::class);
        redeliver("msg_x'; DROP TABLE deliveries; --");
    }

    /**
     * Resend after the feed was edited (a wrong URL fixed): with the feed as it is now, the body
     * as it was sent goes to the feed's current address, method, headers and secret, under the
     * feed's new name; without it, the stored request goes out as it was.
     */
    public function testRedeliverWithTheFeedAsItIsNowGoesWhereTheFeedSendsNow(): void
    {
        $feedId = 'move-' . $this->prefix;
        [$sent] = dispatch('order_paid_done', ['n' => 'moved'], [$this->feed(['request_url' => $this->url('old', '/status/404')], $feedId)]);
        $this->assertTrue(flush(10));
        $secret = \FluentWebhook\generate_secret();
        $now = $this->feed(['name' => 'Moved feed', 'request_url' => $this->url('new'), 'request_method' => 'PUT',
            'request_headers' => 'custom_headers', 'custom_header_values' => [['header_name' => 'X-Key', 'header_value' => 'k2']],
            'secret' => $secret], $feedId);

        $again = redeliver($sent, $now);
        [$request] = $this->received(1);
        [$old] = self::receiver()->waitForRequests('/status/404' . $this->prefix, 1);
        $this->assertSame([$again, 'PUT', 'k2'], [$request['headers']['webhook-id'], $request['method'], $request['headers']['x-key']]);
        $this->assertSame($old['body'], $request['body'], 'the body as it was sent');
        $this->assertTrue(\FluentWebhook\verify($secret, $request['headers'], $request['body']), 'signed with the current secret');
        $row = deliveries(['feed' => $feedId, 'limit' => 1])[0];
        $this->assertSame([$again, 'Moved feed', $this->url('new'), 'delivered'], [$row['id'], $row['feed_name'], $row['url'], $row['status']]);

        redeliver($sent);
        $this->assertCount(2, self::receiver()->waitForRequests('/status/404' . $this->prefix, 2), 'as stored: the old address');
    }

    /** A feed that is not the delivery's, or would send its payload another way, is refused. */
    public function testRedeliverRefusesAFeedThatWouldNotSendThatBody(): void
    {
        $feedId = 'shape-' . $this->prefix;
        [$sent] = dispatch('order_paid_done', ['n' => 1], [$this->feed([], $feedId)]);
        $this->assertTrue(flush(10));
        $refusals = [
            'another feed' => [$this->feed([], 'other-' . $this->prefix), "belongs to feed \"$feedId\", not to feed \"other-$this->prefix\""],
            'form data now' => [$this->feed(['request_format' => 'FORM'], $feedId), 'its body is application/json, and the feed now sends application/x-www-form-urlencoded'],
            'GET now' => [$this->feed(['request_method' => 'GET'], $feedId), 'the feed now sends GET'],
            'a feed without an id' => [$this->feed(), "needs the feed's id"],
            'not a feed' => ['https://example.test/', '$feed must be a FluentWebhook\\Feed or a settings array, got string'],
        ];
        foreach ($refusals as $case => [$feed, $message]) {
            try {
                redeliver($sent, $feed);
                $this->fail("no exception: $case");
            } catch (\FluentWebhook\Exception $e) {
                $this->assertStringContainsString($message, $e->getMessage(), $case);
            }
        }
        $this->assertCount(1, $this->received(1), 'nothing was sent again');
        $again = redeliver($sent, ['id' => $feedId] + $this->settings(['request_url' => $this->url('array')]));
        $this->assertSame($again, $this->received(2)[1]['headers']['webhook-id'], 'a settings array with the id');
    }

    /**
     * kill -9 after the deliveries reached the spool (stats()['spooled']), with the endpoint
     * down; then the endpoint comes up and a new process sends every one, each id once.
     */
    public function testDeliveriesSurviveKillDashNine(): void
    {
        $port = Receiver::freePort();
        $spool = "$this->dir/spool.sqlite";
        $idsFile = "$this->dir/ids.txt";
        $ini = [
            'fluent_webhook.spool_path' => $spool,
            'fluent_webhook.retry_schedule' => '1,1,1,1,1,1,1,1,1,1',
            'fluent_webhook.timeout' => '1',
        ];
        $crashed = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'crash', 'request_url' => 'http://127.0.0.1:$port/crash', 'event_trigger' => ['e']]);
            \$ids = [];
            for (\$i = 0; \$i < 1000; \$i++) {
                \$ids[] = FluentWebhook\dispatch('e', ['n' => \$i], [\$feed])[0];
            }
            file_put_contents('$idsFile', implode("\\n", \$ids));
            for (\$i = 0; \$i < 1000 && FluentWebhook\stats()['spooled'] < 1000; \$i++) {
                usleep(10000);
            }
            posix_kill(getmypid(), SIGKILL);
            PHP, $ini);
        $this->assertSame(SIGKILL, $crashed['signal'], $crashed['stderr']);
        $ids = file($idsFile, FILE_IGNORE_NEW_LINES);
        $this->assertCount(1000, $ids);

        $receiver = new Receiver($port);
        try {
            $resumed = self::runPhp("<?php FluentWebhook\\resume(); var_dump(FluentWebhook\\flush(60)); echo json_encode(FluentWebhook\\stats());", $ini, 90.0);
            $this->assertSame(0, $resumed['exit'], $resumed['stderr']);
            $this->assertStringStartsWith('bool(true)', $resumed['stdout']);
            $requests = $receiver->waitForRequests('/crash', 1000);
            $received = array_map(fn ($r) => $r['headers']['webhook-id'], $requests);
            $this->assertCount(1000, $received);
            $this->assertCount(1000, array_unique($received), 'each webhook-id exactly once');
            $this->assertEqualsCanonicalizing($ids, $received);
        } finally {
            $receiver->stop();
        }
    }

    public function testWhatIsLeftAtExitStaysInTheSpoolForTheNextProcess(): void
    {
        [$first, $hold, $ini] = $this->leaveOneDeliveryAtExit('exit');
        $this->assertStringContainsString('they stay in the spool', $first['stderr']);

        $second = self::runPhp('<?php var_dump(FluentWebhook\\flush(20)); echo json_encode(FluentWebhook\\deliveries());', $ini);
        $this->assertSame(0, $second['exit'], $second['stderr']);
        [$flushed, $log] = explode("\n", $second['stdout'], 2);
        $this->assertSame('bool(true)', $flushed);
        [$row] = json_decode($log, true);
        $this->assertSame($first['stdout'], $row['id']);
        $this->assertSame('delivered', $row['status']);
        $ids = array_map(fn ($r) => $r['headers']['webhook-id'], self::receiver()->requests("/hold/$hold"));
        $this->assertContains($first['stdout'], $ids);
        $this->assertCount(1, array_unique($ids));
    }

    /**
     * A spool file deleted while a process runs (an operator, a cleanup of its directory) is
     * still the file SQLite writes to, and no other process opens it again. Deliveries waiting
     * there for a retry ended with the process: no row anywhere, nothing in stats() or the
     * error log. Now the process finds the file gone, makes the spool anew at its path and
     * moves its rows there, where the next process finds them pending.
     *
     * Deleted just before the process exits, the spool thread's stop finds it gone and moves
     * the rows, but what it said then never reached the error log (nor, in other stops, that
     * outcomes could not be recorded or deliveries were lost): the warnings were collected
     * before the machinery stopped.
     *
     * @dataProvider whenTheSpoolFileIsDeleted
     */
    public function testDeliveriesPendingInASpoolFileDeletedWhileTheProcessRunsAreNotLost(int $thenWaitMicroseconds): void
    {
        $spool = "$this->dir/spool.sqlite";
        $ini = ['fluent_webhook.spool_path' => $spool];
        [$first, $ids] = $this->threeRetriesThen(<<<PHP
            foreach (['', '-wal', '-shm'] as \$suffix) {
                @unlink('$spool' . \$suffix);
            }
            usleep($thenWaitMicroseconds);
            PHP, $ini);
        $this->assertStringContainsString('was deleted or replaced while this process ran: 3 deliveries (3 pending) were moved', $first['stderr']);
        $this->assertPendingInTheSpool($ids, $ini);
    }

    public static function whenTheSpoolFileIsDeleted(): array
    {
        return ['while the process runs' => [2500000], 'just before the process exits' => [0]];
    }

    /**
     * Two processes have the spool file open when it is deleted. The first to look (A) moves
     * every row into a new file, B's delivery in flight among them, claimed by B; B records its
     * 200 in the file it still has open, before its own look half a second later. The new file
     * kept it pending and claimed by B, whose exit let it go: the next process sent it again.
     * The looks come once a second from each spool thread's start, so B starts half a second
     * before A, and the file is deleted a quarter of a second before A's look.
     */
    public function testAnswersRecordedInADeletedFileAfterAnotherProcessMovedItAreNotSentAgain(): void
    {
        $spool = "$this->dir/spool.sqlite";
        $hold = 'moved-' . bin2hex(random_bytes(4));
        $url = $this->url('moved', "/hold/$hold");
        $ini = ['fluent_webhook.spool_path' => $spool, 'fluent_webhook.retry_schedule' => ''];
        $started = fn (string $name) => "FluentWebhook\\resume(); file_put_contents('$this->dir/$name.started', microtime(true));";
        $b = $this->background(<<<PHP
            <?php
            {$started('b')}
            \$feed = new FluentWebhook\\Feed(['name' => 'moved', 'request_url' => '$url', 'event_trigger' => ['e']], 'moved');
            FluentWebhook\\dispatch('e', ['n' => 1], [\$feed]);
            for (\$i = 0; \$i < 3000 && !file_exists('$this->dir/go'); \$i++) {
                usleep(10000);
            }
            var_dump(FluentWebhook\\flush(10));
            echo FluentWebhook\\stats()['delivered'];
            PHP, $ini);
        $startedAt = function (string $name): float {
            $file = "$this->dir/$name.started";
            for ($i = 0; $i < 500 && !file_exists($file); $i++) {
                usleep(10000);
            }
            return (float) file_get_contents($file);
        };
        usleep((int) max(0, ($startedAt('b') + 0.5 - microtime(true)) * 1e6));
        $a = $this->background(<<<PHP
            <?php
            {$started('a')}
            for (\$i = 0; \$i < 3000 && !file_exists('$this->dir/go'); \$i++) {
                usleep(10000);
            }
            PHP, $ini);
        try {
            $aStarted = $startedAt('a');
            $this->assertCount(1, self::receiver()->waitForRequests("/hold/$hold", 1), 'B has it in flight');
            $deleteAt = $aStarted + ceil(microtime(true) - $aStarted + 0.1) + 0.75;
            usleep((int) (($deleteAt - microtime(true)) * 1e6));
            foreach (['', '-wal', '-shm'] as $suffix) {
                @unlink($spool . $suffix);
            }
            usleep(500000);
            self::receiver()->release($hold);
            usleep(1500000);
        } finally {
            touch("$this->dir/go");
            [$bOut, $bErr] = $this->finish($b);
            $this->finish($a);
        }
        $this->assertSame("bool(true)\n1", $bOut, $bErr);

        $next = self::runPhp('<?php FluentWebhook\\resume(); var_dump(FluentWebhook\\flush(10)); echo json_encode(FluentWebhook\\deliveries(["feed" => "moved"]));', $ini);
        $this->assertSame(0, $next['exit'], $next['stderr']);
        [$flushed, $log] = explode("\n", $next['stdout'], 2);
        $this->assertSame('bool(true)', $flushed);
        [$row] = json_decode($log, true);
        $this->assertSame('delivered', $row['status']);
        $this->assertCount(1, $row['attempts']);
        $this->assertCount(1, self::receiver()->requests("/hold/$hold"), 'sent once');
    }

    /** A child php with the extension, running until finish(); stdout and stderr in files. */
    private function background(string $code, array $ini): array
    {
        $script = "$this->dir/" . bin2hex(random_bytes(4));
        file_put_contents("$script.php", $code);
        $command = [PHP_BINARY];
        foreach ($ini as $key => $value) {
            array_push($command, '-d', "$key=$value");
        }
        $command[] = "$script.php";
        $process = proc_open($command, [1 => ['file', "$script.out", 'w'], 2 => ['file', "$script.err", 'w']], $pipes);
        return [$process, $script];
    }

    /** Waits (30 s at most) for a background() child to exit; its stdout and stderr. */
    private function finish(array $child): array
    {
        [$process, $script] = $child;
        for ($i = 0; $i < 3000 && proc_get_status($process)['running']; $i++) {
            usleep(10000);
        }
        if (proc_get_status($process)['running']) {
            proc_terminate($process, SIGKILL);
        }
        proc_close($process);
        return [file_get_contents("$script.out"), file_get_contents("$script.err")];
    }

    /**
     * A spool file that could not be opened as the process started (here its directory could
     * not be made; in production, another process's write lock held past the busy wait, a full
     * disk) left the process on a spool in memory for its whole life: deliveries waiting for a
     * retry were lost at its exit, though the file could be opened by then. The file is tried
     * again every minute and at exit, and what the spool in memory has is moved there.
     */
    public function testDeliveriesInMemoryMoveToTheSpoolFileOnceItCanBeOpened(): void
    {
        $blocker = "$this->dir/not-yet";
        file_put_contents($blocker, 'a file where the spool\'s directory should be');
        $ini = ['fluent_webhook.spool_path' => "$blocker/spool.sqlite"];
        [$first, $ids] = $this->threeRetriesThen(<<<PHP
            echo FluentWebhook\stats()['spool'], "\\n";
            unlink('$blocker');
            mkdir('$blocker');
            PHP, $ini);
        $this->assertStringStartsWith(":memory:\n", $first['stdout']);
        $this->assertStringContainsString("the spool $blocker/spool.sqlite could be opened after all: 3 deliveries (3 pending) were moved into it from memory", $first['stderr']);
        $this->assertStringNotContainsString('lost', $first['stderr']);
        $this->assertPendingInTheSpool($ids, $ini);
    }

    /**
     * Runs a process that dispatches three deliveries of a feed whose endpoint answers 503,
     * waits for their first attempts (the next is a minute away), runs `$then` and exits at
     * once; returns the process and the deliveries' ids.
     *
     * @return array{0: array, 1: list<string>}
     */
    private function threeRetriesThen(string $then, array $ini): array
    {
        $url = $this->url('hook', '/status/503');
        $result = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'retried', 'request_url' => '$url', 'event_trigger' => ['e']], 'retried');
            \$ids = [];
            for (\$i = 0; \$i < 3; \$i++) {
                \$ids[] = FluentWebhook\dispatch('e', ['n' => \$i], [\$feed])[0];
            }
            FluentWebhook\\flush(5);
            $then
            echo implode(',', \$ids);
            PHP, $ini + ['fluent_webhook.retry_schedule' => '60', 'fluent_webhook.shutdown_timeout' => '0']);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $lines = explode("\n", $result['stdout']);
        $ids = explode(',', end($lines));
        $this->assertCount(3, $ids);
        return [$result, $ids];
    }

    /** Another process finds the deliveries in the spool file, pending after their 503. */
    private function assertPendingInTheSpool(array $ids, array $ini): void
    {
        $result = self::runPhp('<?php echo json_encode(FluentWebhook\deliveries(["feed" => "retried"]));', $ini);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $rows = json_decode($result['stdout'], true);
        $this->assertEqualsCanonicalizing($ids, array_column($rows, 'id'), 'every delivery is in the spool file');
        foreach ($rows as $row) {
            $this->assertSame('pending', $row['status']);
            $this->assertSame(503, $row['attempts'][0]['status_code']);
            $this->assertNotNull($row['next_attempt_at']);
        }
    }

    /**
     * A cron job's resume() reports the deliveries it took up, in a process whose machinery
     * it starts too (whose spool thread claims what is due as it starts, before the call's
     * own claim).
     */
    public function testResumeInANewProcessCountsWhatItTookUp(): void
    {
        [$first, $hold, $ini] = $this->leaveOneDeliveryAtExit('resume');

        $cron = self::runPhp('<?php echo FluentWebhook\\resume(), "\\n"; var_dump(FluentWebhook\\flush(20));', $ini);
        $this->assertSame(0, $cron['exit'], $cron['stderr']);
        $this->assertSame("1\nbool(true)\n", $cron['stdout'], 'resume() took up the one delivery left');
        $ids = array_map(fn ($r) => $r['headers']['webhook-id'], self::receiver()->requests("/hold/$hold"));
        $this->assertContains($first['stdout'], $ids);
    }

    /**
     * A child process that exits while its one delivery is held by the receiver, which then
     * answers: the delivery stays in the spool for the next process. Returns the child's
     * result (its stdout is the delivery's id), the hold's name, and the ini to share.
     */
    private function leaveOneDeliveryAtExit(string $label): array
    {
        $hold = "$label-" . bin2hex(random_bytes(4));
        $url = $this->url('hook', "/hold/$hold");
        $ini = ['fluent_webhook.spool_path' => "$this->dir/spool.sqlite", 'fluent_webhook.shutdown_timeout' => '0.5'];
        $first = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'left', 'request_url' => '$url', 'event_trigger' => ['e']]);
            echo FluentWebhook\dispatch('e', ['n' => 1], [\$feed])[0];
            PHP, $ini);
        $this->assertSame(0, $first['exit']);
        $this->assertStringContainsString('1 attempts under way were cut off', $first['stderr']);
        self::receiver()->release($hold);
        return [$first, $hold, $ini];
    }

    /**
     * A process with the default fluent_webhook.allowed_networks leaves deliveries to loopback
     * in the shared spool; one that opens loopback takes them up and must not send them.
     */
    public function testAProcessSendsNothingWhereTheProcessThatQueuedItMayNot(): void
    {
        $url = $this->url('strict');
        $spool = ['fluent_webhook.spool_path' => "$this->dir/spool.sqlite"];
        $first = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'strict', 'request_url' => '$url', 'event_trigger' => ['e']]);
            for (\$i = 0; \$i < 200; \$i++) {
                FluentWebhook\dispatch('e', ['i' => \$i, 'pad' => str_repeat('x', 2000)], [\$feed]);
            }
            echo ini_get('fluent_webhook.allowed_networks') === '' ? 'strict' : 'open';
            PHP, $spool + ['fluent_webhook.allowed_networks' => '', 'fluent_webhook.shutdown_timeout' => '0', 'fluent_webhook.max_concurrency' => '1']);
        $this->assertSame(0, $first['exit'], $first['stderr']);
        $this->assertSame('strict', $first['stdout']);
        $this->assertStringContainsString('stay in the spool', $first['stderr'], 'some were left for the next process');

        $second = self::runPhp(<<<'PHP'
            <?php
            $flushed = FluentWebhook\flush(30);
            $log = FluentWebhook\deliveries(['limit' => 1000]);
            echo json_encode(['flushed' => $flushed, 'open' => ini_get('fluent_webhook.allowed_networks'),
                'statuses' => array_count_values(array_column($log, 'status')),
                'errors' => array_values(array_unique(array_map(fn ($r) => end($r['attempts'])['error'], $log)))]);
            PHP, $spool);
        $this->assertSame(0, $second['exit'], $second['stderr']);
        $result = json_decode($second['stdout'], true);
        $this->assertTrue($result['flushed']);
        $this->assertNotSame('', $result['open'], 'the second process opens loopback');
        $this->assertSame(['failed' => 200], $result['statuses']);
        $this->assertCount(0, self::receiver()->requests($this->prefix . 'strict'));
        $this->assertContains('refused to connect to 127.0.0.1: it is a loopback address, and the fluent_webhook.allowed_networks of the process that queued this delivery does not open it', $result['errors']);
    }

    /** A script's start: 40 deliveries of about 4 KB to `$path`, ten times an 8 KB memory cap. */
    private function fortyDeliveriesPastAnEightKCap(string $path): string
    {
        $url = $this->url($path);
        return <<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'cap', 'request_url' => '$url', 'event_trigger' => ['e']]);
            \$big = str_repeat('x', 4000);
            for (\$i = 0; \$i < 40; \$i++) {
                FluentWebhook\dispatch('e', ['n' => \$i, 'pad' => \$big], [\$feed]);
            }

            PHP;
    }

    public function testTheMemoryCapParksDeliveriesOnDisk(): void
    {
        $result = self::runPhp($this->fortyDeliveriesPastAnEightKCap('capped') . <<<'PHP'
            var_dump(FluentWebhook\flush(30));
            echo json_encode(FluentWebhook\stats());
            PHP, ['fluent_webhook.spool_path' => "$this->dir/spool.sqlite", 'fluent_webhook.memory_limit' => '8K']);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        [$flushed, $stats] = explode("\n", $result['stdout'], 2);
        $this->assertSame('bool(true)', $flushed);
        $stats = json_decode($stats, true);
        $this->assertGreaterThan(0, $stats['parked'], 'deliveries past the cap waited on disk');
        $this->assertSame(40, $stats['delivered']);
        $this->assertCount(40, self::receiver()->waitForRequests($this->prefix, 40));
    }

    /**
     * A script that exits without flush() while the memory cap keeps most of its deliveries
     * on disk. The process waited at exit only while the tally counted deliveries in memory:
     * once the first ones were answered it counted none, for the moment before the spool
     * thread took up the next, and the process stopped, 0.2 s into a 20 s shutdown_timeout,
     * having sent 3 of 40. The other 37 stayed pending, and the error log said nothing.
     */
    public function testAtExitDeliveriesTheMemoryCapParkedAreSentWithinTheShutdownTimeout(): void
    {
        $result = self::runPhp($this->fortyDeliveriesPastAnEightKCap('parked-at-exit'), [
            'fluent_webhook.spool_path' => "$this->dir/spool.sqlite", 'fluent_webhook.memory_limit' => '8K',
            'fluent_webhook.shutdown_timeout' => '20',
        ]);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $this->assertLessThan(15, $result['seconds']);
        $this->assertCount(40, self::receiver()->requests($this->prefix), 'all sent before the process exited');
        $this->assertSame('', $result['stderr']);
    }

    /**
     * An attempt under way when a process exits is cut off after the wait at exit, though the
     * endpoint has the request. It went back to the spool due at once with no trace of it, so
     * each process that came next (a recycled php-fpm worker, a cron run, every one of them
     * taking up what is due) sent it again and was cut off in turn: an endpoint that answers
     * 200 in 2 s got the same webhook-id from each of four processes that waited 0.5 s, and
     * deliveries() showed no attempt. The cut attempt is recorded, without an answer, and
     * its retry waits as the schedule says.
     */
    public function testAnAttemptCutOffAtExitIsRecordedAndNotSentAgainByEachNextProcess(): void
    {
        $url = $this->url('cut', '/sleep/2');
        $ini = ['fluent_webhook.spool_path' => "$this->dir/spool.sqlite", 'fluent_webhook.shutdown_timeout' => '0.5',
            'fluent_webhook.retry_schedule' => '60', 'log_errors' => '1', 'error_log' => ''];
        $first = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\\Feed(['name' => 'cut', 'request_url' => '$url', 'event_trigger' => ['e']], 'cut');
            echo FluentWebhook\\dispatch('e', ['n' => 1], [\$feed])[0];
            PHP, $ini);
        $this->assertSame(0, $first['exit'], $first['stderr']);
        $this->assertStringContainsString('1 attempts under way were cut off', $first['stderr']);
        for ($i = 0; $i < 3; $i++) {
            $next = self::runPhp('<?php FluentWebhook\\deliveries(["limit" => 1]);', $ini);
            $this->assertSame(0, $next['exit'], $next['stderr']);
        }
        $log = self::runPhp('<?php echo json_encode(FluentWebhook\\deliveries(["feed" => "cut"]));', $ini + ['fluent_webhook.shutdown_timeout' => '0']);
        [$row] = json_decode($log['stdout'], true);
        usleep(2500000);
        $ids = array_map(fn ($r) => $r['headers']['webhook-id'], self::receiver()->requests('/sleep/2' . $this->prefix));
        $this->assertSame([$first['stdout']], $ids, 'sent once, by the process that was cut off');
        $this->assertSame('pending', $row['status']);
        $this->assertCount(1, $row['attempts']);
        $this->assertNull($row['attempts'][0]['status_code']);
        $this->assertStringContainsString('the process exited', $row['attempts'][0]['error']);
        $this->assertGreaterThan(time() + 30, $row['next_attempt_at'], 'its retry waits as the schedule says');
    }

    /**
     * A script that exits, its endpoint not answering, while the memory cap keeps most of its
     * deliveries on disk. The exit line counted only what was in memory (one cut off, or
     * "3 ... were not sent" before that line was told apart): the 37 or so it had
     * parked, as much its own and just as unsent, went unmentioned. The log now says how
     * many wait in the spool in all.
     */
    public function testAtExitTheErrorLogCountsTheDeliveriesParkedOnDisk(): void
    {
        $hold = 'parked-' . bin2hex(random_bytes(4));
        $script = str_replace($this->url('parked'), $this->url('parked', "/hold/$hold"), $this->fortyDeliveriesPastAnEightKCap('parked'))
            . "usleep(300000);\n";
        $result = self::runPhp($script, [
            'fluent_webhook.spool_path' => "$this->dir/spool.sqlite", 'fluent_webhook.memory_limit' => '8K',
            'fluent_webhook.shutdown_timeout' => '0', 'log_errors' => '1', 'error_log' => '',
        ]);
        self::receiver()->release($hold);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $this->assertStringContainsString('in all, 40 deliveries due now wait in the spool', $result['stderr']);
    }

    /**
     * At exit a process lets go of what it took up from the spool and has not started, and
     * takes up nothing more: it waits for its own deliveries and the attempts under way. It
     * sent a backlog other processes left for as long as its shutdown_timeout allowed: a
     * process that dispatched one delivery, or only read the log, took 9 s to exit behind 18
     * deliveries to an endpoint answering in 1 s, two at a time. What it let go stays pending
     * for the next process; a cron job's resume() sends it.
     */
    public function testAtExitAProcessWaitsForItsOwnDeliveriesNotForABacklogOthersLeft(): void
    {
        $slow = $this->url('backlog', '/sleep/1');
        $own = $this->url('own');
        $ini = ['fluent_webhook.spool_path' => "$this->dir/spool.sqlite", 'fluent_webhook.max_concurrency' => '2',
            'fluent_webhook.retry_schedule' => '60', 'fluent_webhook.shutdown_timeout' => '0'];
        $left = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\\Feed(['name' => 'slow', 'request_url' => '$slow', 'event_trigger' => ['e']], 'slow');
            for (\$i = 0; \$i < 20; \$i++) {
                FluentWebhook\\dispatch('e', ['n' => \$i], [\$feed]);
            }
            PHP, $ini);
        $this->assertSame(0, $left['exit'], $left['stderr']);
        $patient = ['fluent_webhook.shutdown_timeout' => '30'] + $ini;
        $dispatcher = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\\Feed(['name' => 'own', 'request_url' => '$own', 'event_trigger' => ['e']], 'own');
            FluentWebhook\\dispatch('e', ['n' => 'own'], [\$feed]);
            PHP, $patient);
        $reader = self::runPhp('<?php FluentWebhook\deliveries(["limit" => 1]);', $patient);
        foreach (['a process that dispatched' => $dispatcher, 'a process that read the log' => $reader] as $what => $result) {
            $this->assertSame(0, $result['exit'], $result['stderr']);
            $this->assertLessThan(5, $result['seconds'], "$what waited for the backlog");
        }
        $this->assertCount(1, self::receiver()->requests($this->prefix . 'own'), 'its own delivery was sent');
        $log = self::runPhp('<?php echo json_encode(array_column(FluentWebhook\deliveries(["feed" => "slow"]), "status"));', $ini);
        $statuses = json_decode($log['stdout'], true);
        $this->assertCount(20, $statuses, $log['stderr']);
        $this->assertSame([], array_diff($statuses, ['pending', 'delivered']), 'none lost or failed');
        $this->assertContains('pending', $statuses, 'what was let go waits for the next process');
        // A cron job's resume() without flush() still sends what it took up, within the wait:
        // all but those the first exit cut off, which wait for their retry.
        $cron = self::runPhp('<?php FluentWebhook\resume();', ['fluent_webhook.max_concurrency' => '8'] + $patient);
        $this->assertSame(0, $cron['exit'], $cron['stderr']);
        $log = self::runPhp('<?php echo json_encode(FluentWebhook\deliveries(["feed" => "slow"]));', $ini);
        $rows = json_decode($log['stdout'], true);
        $cutOff = fn (array $row) => $row['attempts'] !== [] && str_contains((string) end($row['attempts'])['error'], 'exited while the attempt was under way');
        $waiting = array_filter($rows, fn ($row) => $row['status'] !== 'delivered');
        $this->assertCount(20, $rows, $log['stderr']);
        $this->assertSame(count($waiting), count(array_filter($waiting, $cutOff)), json_encode($waiting));
        $ids = array_map(fn ($r) => $r['headers']['webhook-id'], self::receiver()->requests('/sleep/1' . $this->prefix));
        $this->assertSame(array_unique($ids), $ids, 'none sent twice');
    }

    /**
     * More deliveries than the request slots hold (2 slots, 128 held): the rest are written
     * claimed and read back by id as slots free. Each is sent once; a feed canceled while its
     * deliveries wait ends them without an attempt.
     */
    public function testABacklogPastTheSlotsIsSentOnceEachAndACancelEndsItsPart(): void
    {
        $slow = $this->url('backlog', '/sleep/0.01');
        $off = $this->url('off');
        $result = self::runPhp(<<<PHP
            <?php
            \$slow = new FluentWebhook\\Feed(['name' => 'slow', 'request_url' => '$slow', 'event_trigger' => ['e']], 'slow');
            \$off = new FluentWebhook\\Feed(['name' => 'off', 'request_url' => '$off', 'event_trigger' => ['e']], 'off');
            for (\$i = 0; \$i < 200; \$i++) {
                FluentWebhook\\dispatch('e', ['n' => \$i], [\$slow]);
            }
            for (\$i = 0; \$i < 10; \$i++) {
                FluentWebhook\\dispatch('e', ['n' => \$i], [\$off]);
            }
            \$canceled = FluentWebhook\\cancel('off', 'the feed was switched off');
            \$flushed = FluentWebhook\\flush(60);
            echo json_encode(['canceled' => \$canceled, 'flushed' => \$flushed, 'stats' => FluentWebhook\\stats(),
                'off' => FluentWebhook\\deliveries(['feed' => 'off', 'limit' => 100])]);
            PHP, ['fluent_webhook.spool_path' => "$this->dir/spool.sqlite", 'fluent_webhook.max_concurrency' => '2'], 90.0);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $out = json_decode($result['stdout'], true);
        $this->assertTrue($out['flushed']);
        $this->assertSame(10, $out['canceled'], 'the off feed\'s ten, all waiting for a slot');
        $this->assertGreaterThanOrEqual(72, $out['stats']['parked'], 'past the 128 held, they waited on disk');
        $this->assertSame(200, $out['stats']['delivered']);
        $requests = self::receiver()->waitForRequests('/sleep/0.01' . $this->prefix, 200);
        $ids = array_map(fn ($r) => $r['headers']['webhook-id'], $requests);
        $this->assertCount(200, $ids);
        $this->assertCount(200, array_unique($ids), 'each webhook-id once');
        $this->assertSame([], self::receiver()->requests($this->prefix . 'off'), 'nothing sent for the canceled feed');
        $this->assertCount(10, $out['off']);
        foreach ($out['off'] as $row) {
            $this->assertSame('failed', $row['status']);
            $this->assertCount(1, $row['attempts'], 'no attempt: the cancellation alone');
            $this->assertSame('canceled: the feed was switched off', $row['attempts'][0]['error']);
        }
    }

    /**
     * A feed switched off by another process (the admin's request) while this one holds its
     * deliveries in memory: one in flight, three waiting for the only request slot. The three
     * are withdrawn, never sent, and end failed with the cancellation and no attempt; the one
     * in flight ends with its attempt.
     */
    public function testDeliveriesHeldInMemoryAreNotSentAfterAnotherProcessCancelsTheirFeed(): void
    {
        $slow = $this->url('held', '/sleep/2');
        $result = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\\Feed(['name' => 'held', 'request_url' => '$slow', 'event_trigger' => ['e']], 'held');
            for (\$i = 0; \$i < 4; \$i++) {
                FluentWebhook\\dispatch('e', ['n' => \$i], [\$feed]);
            }
            usleep(200000);
            \$admin = sprintf('%s -d fluent_webhook.spool_path=%s -r %s', escapeshellarg(PHP_BINARY),
                escapeshellarg(ini_get('fluent_webhook.spool_path')),
                escapeshellarg('echo FluentWebhook\\cancel("held", "the feed was switched off");'));
            \$canceled = shell_exec(\$admin);
            \$flushed = FluentWebhook\\flush(30);
            echo json_encode(['canceled' => \$canceled, 'flushed' => \$flushed, 'stats' => FluentWebhook\\stats(),
                'log' => FluentWebhook\\deliveries(['feed' => 'held', 'limit' => 10])]);
            PHP, ['fluent_webhook.spool_path' => "$this->dir/spool.sqlite", 'fluent_webhook.max_concurrency' => '1']);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $out = json_decode($result['stdout'], true);
        $this->assertSame('4', $out['canceled'], 'the four held: marked by the other process');
        $this->assertTrue($out['flushed']);
        $this->assertCount(1, self::receiver()->requests('/sleep/2' . $this->prefix), 'only the one in flight was sent');
        $this->assertSame([1, 3], [$out['stats']['delivered'], $out['stats']['failed']]);
        $withdrawn = array_values(array_filter($out['log'], fn ($row) => $row['status'] === 'failed'));
        $this->assertCount(3, $withdrawn);
        foreach ($withdrawn as $row) {
            $this->assertCount(1, $row['attempts'], 'no attempt: the cancellation alone');
            $this->assertSame('canceled: the feed was switched off', $row['attempts'][0]['error']);
        }
    }

    public function testASpoolThatCannotBeOpenedFallsBackToMemory(): void
    {
        $url = $this->url('fallback');
        $result = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'mem', 'request_url' => '$url', 'event_trigger' => ['e']]);
            FluentWebhook\dispatch('e', ['n' => 1], [\$feed]);
            var_dump(FluentWebhook\\flush(10));
            echo FluentWebhook\\stats()['spool'];
            PHP, ['fluent_webhook.spool_path' => '/proc/fluent-webhook/spool.sqlite', 'log_errors' => '1', 'error_log' => '']);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $this->assertSame("bool(true)\n:memory:", $result['stdout']);
        $this->assertStringContainsString('fluent_webhook: cannot create the directory of /proc/fluent-webhook/spool.sqlite', $result['stderr']);
        $this->assertStringContainsString('kept in memory only', $result['stderr']);
        $this->assertCount(1, self::receiver()->waitForRequests($this->prefix, 1));
    }

    public function testOldFinishedDeliveriesArePruned(): void
    {
        $ini = ['fluent_webhook.spool_path' => "$this->dir/spool.sqlite"];
        $url = $this->url();
        $first = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'old', 'request_url' => '$url', 'event_trigger' => ['e']]);
            FluentWebhook\dispatch('e', [], [\$feed]);
            FluentWebhook\dispatch('e', [], [new FluentWebhook\Feed(['name' => 'down', 'request_url' => 'http://127.0.0.1:9/x', 'event_trigger' => ['e']])]);
            FluentWebhook\\flush(10);
            echo count(FluentWebhook\deliveries());
            PHP, $ini + ['fluent_webhook.retry_schedule' => '3600']);
        $this->assertSame('2', $first['stdout'], $first['stderr']);
        $kept = self::runPhp('<?php echo count(FluentWebhook\\deliveries());', $ini);
        $this->assertSame('2', $kept['stdout'], 'within the 30 days');
        usleep(5000);
        // Pruning runs a second after a process's spool thread starts.
        $pruned = self::runPhp('<?php FluentWebhook\\resume(); usleep(1500000); echo json_encode(array_column(FluentWebhook\\deliveries(), "status"));', $ini + ['fluent_webhook.log_retention_days' => '0']);
        $this->assertSame('["pending"]', $pruned['stdout'], 'finished rows are pruned, the pending retry is kept');
    }
}
