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
    /** @var list<string> removed after each test */
    private array $tempDirs = [];
    /** @var list<resource> ended after each test */
    private array $servers = [];

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

    protected function tearDown(): void
    {
        foreach ($this->servers as $server) {
            proc_terminate($server);
            proc_close($server);
        }
        foreach ($this->tempDirs as $dir) {
            exec('rm -rf ' . escapeshellarg($dir));
        }
    }

    /** A fresh directory, removed when the test ends. */
    protected function tempDir(string $label): string
    {
        $dir = sys_get_temp_dir() . "/fw-$label-" . bin2hex(random_bytes(6));
        mkdir($dir, 0755, true);
        $this->tempDirs[] = $dir;
        return $dir;
    }

    /**
     * Starts support/fault-server.php on $port with a script of answers, logging requests to
     * $log, and waits until it accepts connections; it is stopped when the test ends.
     */
    protected function faultServer(int $port, string $log, string $script): void
    {
        $this->startServer('fault-server.php', $port, $log, $script);
    }

    /**
     * Starts support/keepalive-server.php on $port, answering $answered requests per
     * connection and resetting it when the next arrives, logging requests to $log.
     */
    protected function keepAliveServer(int $port, string $log, int|string $answered): void
    {
        $this->startServer('keepalive-server.php', $port, $log, (string) $answered);
    }

    private function startServer(string $server, int $port, string $log, string $argument): void
    {
        touch($log);
        $serverLog = dirname($log) . '/fault-server.log';
        $this->servers[] = proc_open([PHP_BINARY, __DIR__ . "/$server", (string) $port, $log, $argument],
            [1 => ['file', $serverLog, 'a'], 2 => ['file', $serverLog, 'a']], $pipes);
        $deadline = microtime(true) + 5;
        while (!($probe = @fsockopen('127.0.0.1', $port, $errno, $error, 0.1)) && microtime(true) < $deadline) {
            usleep(20000);
        }
        if ($probe) {
            fclose($probe);
        }
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
        $placeholder = tempnam(sys_get_temp_dir(), 'fw-child-');
        $script = "$placeholder.php";
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
        unlink($placeholder);
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
