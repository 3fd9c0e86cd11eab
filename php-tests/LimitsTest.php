<?php

namespace FluentWebhook\Tests;

use FluentWebhook\PayloadException;
use function FluentWebhook\dispatch;

/** Limits: payload size, response size, and TLS certificates checked against the system's roots. */
final class LimitsTest extends WebhookTestCase
{
    public function testPayloadsOverTheLimitAreRefusedAtDispatch(): void
    {
        $url = $this->url('too-big');
        $result = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'Big', 'request_url' => '$url', 'event_trigger' => ['e']]);
            \$get = new FluentWebhook\Feed(['name' => 'Big GET', 'request_url' => '$url', 'request_method' => 'GET', 'event_trigger' => ['e']]);
            // Strings alone over the limit; strings under it whose escaped JSON is over it.
            \$long = ['x' => str_repeat('a', 2000)];
            \$escaped = ['x' => str_repeat("\\x01", 600)];
            foreach ([[\$feed, 'dispatch', \$long], [\$get, 'dispatch', \$long], [\$feed, 'render', \$long], [\$feed, 'dispatch', \$escaped], [\$feed, 'render', \$escaped]] as [\$f, \$how, \$data]) {
                try {
                    \$how === 'render' ? \$f->render('e', \$data) : FluentWebhook\dispatch('e', \$data, [\$f]);
                    echo "sent\\n";
                } catch (FluentWebhook\PayloadException \$e) {
                    echo \$e->getMessage(), "\\n";
                }
            }
            echo count(FluentWebhook\dispatch('e', ['x' => str_repeat('a', 500)], [\$feed])), "\\n";
            FluentWebhook\\flush(10);
            PHP, ['fluent_webhook.max_payload_bytes' => '1K']);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $early = '$data[x]: over fluent_webhook.max_payload_bytes (1024 bytes) once encoded: the data\'s strings pass it here';
        $this->assertSame([$early, $early, $early,
            'the body for feed "Big" is 3608 bytes, over fluent_webhook.max_payload_bytes (1024 bytes)',
            'the body for feed "Big" is 3608 bytes, over fluent_webhook.max_payload_bytes (1024 bytes)',
            '1'], explode("\n", trim($result['stdout'])));
        $this->assertCount(1, self::receiver()->waitForRequests($this->prefix, 1));
    }

    /**
     * No HTTP request goes to a URL longer than 65,534 bytes (the `http` crate's limit on a
     * URI, under reqwest). A feed's request_url or a GET's URL with its query past it was
     * accepted within max_payload_bytes (1 MiB): every attempt then failed with "builder
     * error: Parsed Url is not a valid Uri", and was retried for the whole schedule.
     */
    public function testUrlsLongerThanAnHttpRequestCanCarryAreRefused(): void
    {
        $base = 'http://127.0.0.1:9/h';
        $settings = fn (string $url, string $method = 'POST') => ['name' => 'Long', 'request_url' => $url,
            'request_method' => $method, 'event_trigger' => ['order_paid_done']];
        $fits = $base . '?' . str_repeat('a', 65534 - strlen($base) - 1);
        $this->assertSame(65534, strlen((new \FluentWebhook\Feed($settings($fits)))->url()));
        try {
            new \FluentWebhook\Feed($settings($fits . 'a'));
            $this->fail('a 65,535-byte request_url was accepted');
        } catch (\FluentWebhook\InvalidFeedException $e) {
            $this->assertSame('request_url: is 65535 bytes, longer than the 65534 an HTTP request can be sent to', $e->getMessage());
        }

        $get = new \FluentWebhook\Feed($settings($base, 'GET'));
        $data = fn (int $urlBytes) => ['x' => str_repeat('a', $urlBytes - strlen("$base?x="))];
        $this->assertSame(65534, strlen($get->render('order_paid_done', $data(65534))['url']));
        $refused = 'the URL for feed "Long" is 65535 bytes, longer than the 65534 an HTTP request can be sent to';
        foreach (['render', 'dispatch'] as $how) {
            try {
                $how === 'render' ? $get->render('order_paid_done', $data(65535)) : dispatch('order_paid_done', $data(65535), [$get]);
                $this->fail("$how accepted a 65,535-byte GET URL");
            } catch (PayloadException $e) {
                $this->assertSame($refused, $e->getMessage(), $how);
            }
        }
    }

    /**
     * A huge string is refused before it is escaped: its JSON (6 times its size here) would
     * be memory PHP's memory_limit does not see, and an allocation the system may refuse.
     */
    public function testAHugeStringIsRefusedBeforeItIsEncoded(): void
    {
        $result = self::runPhp(<<<'PHP'
            <?php
            $feed = new FluentWebhook\Feed(['name' => 'Huge', 'request_url' => 'http://127.0.0.1:9/h', 'event_trigger' => ['e']]);
            // An object: the walk, not PHP's encoder.
            $data = ['blob' => str_repeat("\x01", 100 << 20), 'o' => new stdClass];
            try {
                FluentWebhook\dispatch('e', $data, [$feed]);
                echo "sent\n";
            } catch (FluentWebhook\PayloadException $e) {
                echo $e->getMessage(), "\n";
            }
            preg_match('/VmHWM:\s+(\d+) kB/', file_get_contents('/proc/self/status'), $peak);
            echo intdiv((int) $peak[1], 1024), "\n";
            PHP, ['memory_limit' => '-1']);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        [$message, $peakMib] = explode("\n", trim($result['stdout']));
        $this->assertStringStartsWith('$data[blob]: over fluent_webhook.max_payload_bytes (1048576 bytes)', $message);
        // The 100 MiB string itself, PHP and the extension: not its 600 MiB of JSON.
        $this->assertLessThan(300, (int) $peakMib, 'peak resident memory, MiB');
    }

    /**
     * Selected fields copy the values their codes name: thousands of codes of one 1 MiB
     * string, in one template or in as many fields, made a body of gigabytes before its size
     * was checked (an allocation failure that aborted PHP). They stop rendering at the limit.
     * The child's address space is capped, so that a regression aborts it, not the machine.
     */
    public function testSelectedFieldsStopRenderingAtTheLimit(): void
    {
        [$lines, $peakMib] = $this->runCapped(<<<'PHP'
            $feed = fn (array $rows, string $method = 'POST') => new FluentWebhook\Feed(['name' => 'Copies', 'request_url' => 'http://127.0.0.1:9/c',
                'event_trigger' => ['e'], 'request_method' => $method, 'request_body' => 'selected_fields', 'selected_field_values' => $rows]);
            $fields = fn (int $n, string $template) => array_map(fn ($i) => ['field_name' => "k$i", 'field_value' => $template], range(1, $n));
            $data = ['order' => ['note' => str_repeat('n', 1 << 20), 'items' => array_fill(0, 1000, str_repeat('i', 1000))]];
            $cases = [
                'one template' => $feed($fields(1, str_repeat('{{order.note}}', 100000))),
                'many fields' => $feed($fields(5000, '{{order.items}}')),
                'transformers' => $feed($fields(1, str_repeat('{{order.note||trim}}', 100000))),
                'as a GET query' => $feed($fields(5000, '{{order}}'), 'GET'),
            ];
            foreach ($cases as $name => $f) {
                foreach (['render', 'dispatch'] as $how) {
                    try {
                        $how === 'render' ? $f->render('e', $data) : FluentWebhook\dispatch('e', $data, [$f]);
                        echo "$name, $how: sent\n";
                    } catch (FluentWebhook\PayloadException $e) {
                        echo "$name, $how: ", $e->getMessage(), "\n";
                    }
                }
            }
            PHP, ['memory_limit' => '-1', 'fluent_webhook.spool_path' => ''], 120.0);
        $refused = 'the selected fields of feed "Copies" render past fluent_webhook.max_payload_bytes (1048576 bytes)';
        $expected = [];
        foreach (['one template', 'many fields', 'transformers', 'as a GET query'] as $name) {
            $expected[] = "$name, render: $refused";
            $expected[] = "$name, dispatch: $refused";
        }
        $this->assertSame($expected, $lines);
        $this->assertLessThan(300, $peakMib, 'peak resident memory, MiB');
    }

    /**
     * A form body (or GET query) writes every key above a value again for that value: a
     * 500 KB key over 10,000 numbers, 540 KB of data, is a 5 GB body. It was built whole
     * before its size was checked, an allocation failure that aborted PHP; it stops at the
     * limit now. The child's address space is capped, as above.
     */
    public function testFormBodiesStopAtTheLimit(): void
    {
        [$lines, $peakMib] = $this->runCapped(<<<'PHP'
            $base = ['name' => 'Keys', 'request_url' => 'http://127.0.0.1:9/k', 'event_trigger' => ['e']];
            $key = str_repeat('k', 500000);
            $cases = [
                'form' => [$base + ['request_format' => 'FORM'], [$key => range(1, 10000)]],
                'get' => [$base + ['request_method' => 'GET'], ['a' => [$key => range(1, 10000)]]],
                'selected' => [$base + ['request_format' => 'FORM', 'request_body' => 'selected_fields',
                    'selected_field_values' => [['field_name' => $key, 'field_value' => '{{items}}']]], ['items' => range(1, 10000)]],
            ];
            foreach ($cases as $name => [$settings, $data]) {
                $feed = new FluentWebhook\Feed($settings);
                foreach (['render', 'dispatch'] as $how) {
                    try {
                        $how === 'render' ? $feed->render('e', $data) : FluentWebhook\dispatch('e', $data, [$feed, ['id' => 'json'] + $base]);
                        echo "$name, $how: sent\n";
                    } catch (FluentWebhook\PayloadException $e) {
                        echo "$name, $how: ", $e->getMessage(), "\n";
                    }
                }
            }
            PHP, ['memory_limit' => '-1', 'fluent_webhook.spool_path' => ''], 60.0);
        $over = fn (string $what) => "the $what for feed \"Keys\" passes fluent_webhook.max_payload_bytes (1048576 bytes) once encoded";
        $this->assertSame([
            'form, render: ' . $over('form body'), 'form, dispatch: ' . $over('form body'),
            'get, render: ' . $over('URL'), 'get, dispatch: ' . $over('URL'),
            'selected, render: ' . $over('form body'), 'selected, dispatch: ' . $over('form body'),
        ], $lines);
        $this->assertLessThan(300, $peakMib, 'peak resident memory, MiB');
    }

    /**
     * Each GET URL, and each feed's selected fields, is a copy of its own: a 1 MB event to
     * 1,000 GET feeds built 2 GB of deliveries in one dispatch(), past fluent_webhook.memory_limit
     * and unseen by PHP's, before the engine could park any on disk. Such a dispatch() is now
     * refused as a whole; a body that feeds share counts once, and one delivery always goes.
     */
    public function testOneDispatchHoldsNoMoreThanTheMemoryLimit(): void
    {
        [$lines, $peakMib] = $this->runCapped(<<<'PHP'
            $feeds = fn (int $n, array $extra) => array_map(fn ($i) => new FluentWebhook\Feed($extra + ['name' => "f$i",
                'request_url' => "http://127.0.0.1:9/f$i", 'event_trigger' => ['e']], "f$i"), range(1, $n));
            $selected = ['request_body' => 'selected_fields', 'selected_field_values' => [['field_name' => 'n', 'field_value' => '{{note}}']]];
            $data = ['note' => str_repeat('a', 1000000)];
            // A GET's URL is at most 65,534 bytes: more feeds of a smaller event.
            $small = ['note' => str_repeat('a', 64000)];
            foreach ([
                '1,100 GET' => [$feeds(1100, ['request_method' => 'GET']), $small],
                '1,000 selected' => [$feeds(1000, $selected), $data],
                '50 GET' => [$feeds(50, ['request_method' => 'GET']), $small],
                // The in-memory spool keeps a copy of each body: few enough to stay small here.
                '100 JSON' => [$feeds(100, []), $data],
                '100 FORM' => [$feeds(100, ['request_format' => 'FORM']), $data],
            ] as $name => [$list, $data]) {
                try {
                    $outcome = count(FluentWebhook\dispatch('e', $data, $list));
                } catch (FluentWebhook\Exception $e) {
                    $outcome = $e->getMessage();
                }
                echo "$name: $outcome\n";
            }
            // One delivery always goes, even past a small cap.
            echo count(FluentWebhook\dispatch('e', ['note' => str_repeat('a', 1000000)], $feeds(1, $selected))), "\n";
            PHP, ['memory_limit' => '-1', 'fluent_webhook.spool_path' => '', 'fluent_webhook.shutdown_timeout' => '0'], 60.0);
        $refused = fn (int $feeds) => "dispatch(): the deliveries to these $feeds feeds would hold more than fluent_webhook.memory_limit (67108864 bytes) "
            . 'in memory (each GET URL and each feed\'s selected fields is a copy of its own; a body sent whole is shared): none was queued';
        $this->assertSame(['1,100 GET: ' . $refused(1100), '1,000 selected: ' . $refused(1000), '50 GET: 50', '100 JSON: 100', '100 FORM: 100', '1'], $lines);
        $this->assertLessThan(600, $peakMib, 'peak resident memory, MiB');
    }

    public function testTheDefaultLimitIsOneMebibyte(): void
    {
        $this->assertSame('1M', ini_get('fluent_webhook.max_payload_bytes'));
        $this->expectException(PayloadException::class);
        $this->expectExceptionMessage('over fluent_webhook.max_payload_bytes (1048576 bytes)');
        dispatch('order_paid_done', ['x' => str_repeat('a', 10 << 20)], [$this->feed()]);
    }

    public function testResponsesAreReadOnlyUpToACap(): void
    {
        dispatch('order_paid_done', [], [$this->feed(['request_url' => $this->url('hook', '/big/20000000')], 'big-' . $this->prefix)]);
        $this->assertTrue(\FluentWebhook\flush(20));
        [$row] = \FluentWebhook\deliveries(['feed' => 'big-' . $this->prefix]);
        $this->assertSame('delivered', $row['status']);
        $this->assertSame(str_repeat('b', 4096), $row['response_excerpt'], 'the log keeps the first 4 KB');
    }

    public function testTlsCertificatesAreVerified(): void
    {
        $dir = $this->tempDir('tls');
        exec(sprintf('openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -addext basicConstraints=CA:FALSE -keyout %s -out %s 2>&1',
            escapeshellarg("$dir/key.pem"), escapeshellarg("$dir/cert.pem")), $output, $status);
        $this->assertSame(0, $status, implode("\n", $output));
        $port = Receiver::freePort();
        $server = proc_open(['openssl', 's_server', '-quiet', '-accept', "127.0.0.1:$port", '-cert', "$dir/cert.pem", '-key', "$dir/key.pem", '-www'],
            [0 => ['pipe', 'r'], 1 => ['file', "$dir/server.log", 'a'], 2 => ['file', "$dir/server.log", 'a']], $pipes);
        try {
            $deadline = microtime(true) + 5;
            while (!($probe = @fsockopen('127.0.0.1', $port)) && microtime(true) < $deadline) {
                usleep(20000);
            }
            if ($probe) {
                fclose($probe);
            }
            [$id] = dispatch('order_paid_done', [], [$this->feed(['request_url' => "https://127.0.0.1:$port/hook"])]);
            $this->assertTrue(\FluentWebhook\flush(10));
            $failure = array_values(array_filter(\FluentWebhook\stats()['recent_failures'], fn ($f) => $f['id'] === $id));
            $this->assertCount(1, $failure, 'a self-signed certificate is not trusted');
            $this->assertStringContainsString('certificate', $failure[0]['reason']);
        } finally {
            proc_terminate($server);
            proc_close($server);
        }
    }

    /**
     * Runs PHP $code in a child whose address space is capped at 3 GiB, so that a regression
     * aborts the child, not the machine, and asserts that it ended normally. Returns the
     * lines it printed and its peak resident memory in MiB.
     *
     * @param array<string, string> $ini
     * @return array{0: list<string>, 1: int}
     */
    private function runCapped(string $code, array $ini, float $timeout): array
    {
        $result = self::runPhp(
            "<?php\nposix_setrlimit(POSIX_RLIMIT_AS, 3 << 30, 3 << 30) || throw new Exception('setrlimit');\n"
            . $code
            . "\npreg_match('/VmHWM:\\s+(\\d+) kB/', file_get_contents('/proc/self/status'), \$peak);\n"
            . "echo intdiv((int) \$peak[1], 1024), \"\\n\";\n",
            $ini,
            $timeout,
        );
        $this->assertNull($result['signal'], "killed by signal {$result['signal']}: " . substr($result['stderr'], 0, 500));
        $this->assertSame(0, $result['exit'], substr($result['stderr'], 0, 500));
        $lines = explode("\n", trim($result['stdout']));
        $peakMib = (int) array_pop($lines);
        return [$lines, $peakMib];
    }
}
