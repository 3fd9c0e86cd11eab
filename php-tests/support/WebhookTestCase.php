<?php

namespace FluentWebhook\Tests;

use FluentWebhook\Feed;
use PHPUnit\Framework\TestCase;

/**
 * Shared receiver and helpers. Each test sends to its own path prefix, so what a test reads
 * from the receiver is only what it sent.
 */
abstract class WebhookTestCase extends TestCase
{
    protected static ?Receiver $receiver = null;
    protected string $prefix;

    public static function receiver(): Receiver
    {
        if (self::$receiver === null) {
            self::$receiver = new Receiver();
            register_shutdown_function(fn () => self::$receiver?->stop());
        }
        return self::$receiver;
    }

    protected function setUp(): void
    {
        $this->prefix = '/t/' . bin2hex(random_bytes(6)) . '/';
    }

    /** A URL on the receiver under this test's prefix. */
    protected function url(string $path = 'hook', string $under = ''): string
    {
        return self::receiver()->url($under . $this->prefix . ltrim($path, '/'));
    }

    /** Minimal valid settings, with overrides. */
    protected function settings(array $overrides = []): array
    {
        return $overrides + [
            'name' => 'Test feed',
            'request_url' => $this->url(),
            'event_trigger' => ['order_paid_done'],
        ];
    }

    protected function feed(array $overrides = [], int|string|null $id = null): Feed
    {
        return new Feed($this->settings($overrides), $id);
    }

    /** Sample event data shipped in fixtures/events. */
    protected static function fixture(string $event): array
    {
        return json_decode(file_get_contents(__DIR__ . "/../../fixtures/events/$event.json"), true, 512, JSON_THROW_ON_ERROR);
    }

    /** Requests this test's feeds sent, waiting (bounded) for $count of them. */
    protected function received(int $count, string $under = ''): array
    {
        $this->assertTrue(\FluentWebhook\flush(10.0), 'deliveries still pending after 10 s');
        $requests = self::receiver()->waitForRequests($under . $this->prefix, $count);
        $this->assertCount($count, $requests, 'requests received under ' . $this->prefix);
        return $requests;
    }

    /**
     * Runs a PHP script in a child process with the same extension and spool; bounded. Like
     * this process, it makes one attempt per delivery unless $ini sets a retry schedule.
     */
    protected static function runPhp(string $code, array $ini = [], float $timeout = 30.0): array
    {
        $ini += ['fluent_webhook.retry_schedule' => ''];
        $script = tempnam(sys_get_temp_dir(), 'fw-child-') . '.php';
        file_put_contents($script, $code);
        $command = [PHP_BINARY];
        foreach ($ini as $key => $value) {
            $command[] = '-d';
            $command[] = "$key=$value";
        }
        $command[] = $script;
        $started = microtime(true);
        $process = proc_open($command, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        stream_set_blocking($pipes[1], false);
        stream_set_blocking($pipes[2], false);
        $stdout = $stderr = '';
        $timedOut = false;
        while (true) {
            $stdout .= stream_get_contents($pipes[1]);
            $stderr .= stream_get_contents($pipes[2]);
            $status = proc_get_status($process);
            if (!$status['running']) {
                break;
            }
            if (microtime(true) - $started > $timeout) {
                proc_terminate($process, SIGKILL);
                $timedOut = true;
                break;
            }
            usleep(5000);
        }
        $stdout .= stream_get_contents($pipes[1]);
        $stderr .= stream_get_contents($pipes[2]);
        proc_close($process);
        unlink($script);
        return [
            'exit' => $timedOut ? null : $status['exitcode'],
            'stdout' => $stdout,
            'stderr' => $stderr,
            'seconds' => microtime(true) - $started,
            'timed_out' => $timedOut,
            'signal' => !$timedOut && $status['signaled'] ? $status['termsig'] : null,
        ];
    }
}
