<?php

namespace FluentWebhook\Tests;

/**
 * The process around the extension: resource limits, signals, and what PHP code can do to
 * the PHP thread that our machinery must leave as it found it. Each case runs in a child
 * process, so that a crash, an abort or a hang fails that case alone.
 */
final class LifecycleTest extends WebhookTestCase
{
    /** @return array{exit: ?int, stdout: string, stderr: string, timed_out: bool, signal: ?int} */
    private function child(string $code, float $timeout = 30.0): array
    {
        $result = self::runPhp("<?php\n" . $code, ['fluent_webhook.shutdown_timeout' => '1', 'fluent_webhook.spool_path' => ''], $timeout);
        $this->assertFalse($result['timed_out'], 'hung: ' . $result['stdout'] . $result['stderr']);
        $this->assertNull($result['signal'], "killed by signal {$result['signal']}: " . $result['stderr']);
        return $result;
    }

    /**
     * An address space too small for the delivery runtime's thread (posix_setrlimit()): tokio
     * panicked, the panic reached PHP as "Error: Rust panic: OS can't spawn worker thread",
     * and the PHP thread kept every signal blocked, so that max_execution_time, SIGTERM and
     * pcntl handlers never fired again (a script could no longer be stopped).
     */
    public function testARuntimeThatCannotStartIsAnExceptionAndLeavesSignalsAlone(): void
    {
        $result = $this->child(<<<'PHP'
            function blocked() { foreach (file('/proc/self/status') as $l) { if (str_starts_with($l, 'SigBlk:')) { return trim(substr($l, 7)); } } }
            $feed = new FluentWebhook\Feed(['name' => 'h', 'request_url' => 'http://127.0.0.1:9/h', 'event_trigger' => ['e']]);
            $before = blocked();
            $size = 0;
            foreach (file('/proc/self/status') as $l) { if (str_starts_with($l, 'VmSize:')) { $size = (int) preg_replace('/\D/', '', $l) * 1024; } }
            posix_setrlimit(POSIX_RLIMIT_AS, $size + (1 << 20), $size + (1 << 20));
            foreach ([fn () => FluentWebhook\dispatch('e', ['a' => 1], [$feed]), fn () => FluentWebhook\flush(1), fn () => FluentWebhook\deliveries()] as $call) {
                try { $call(); echo "no exception\n"; } catch (Throwable $e) { echo get_class($e), ': ', $e->getMessage(), "\n"; }
            }
            echo blocked() === $before ? "signals as before\n" : "signals blocked: " . blocked() . "\n";
            set_time_limit(1);
            $started = microtime(true);
            while (microtime(true) - $started < 10) {}
            echo "max_execution_time never fired\n";
            PHP);
        $this->assertSame(3, substr_count($result['stdout'], 'FluentWebhook\Exception: could not start the delivery runtime: '), $result['stdout'] . $result['stderr']);
        $this->assertStringContainsString('signals as before', $result['stdout']);
        $this->assertStringContainsString('Maximum execution time of 1 second exceeded', $result['stdout'] . $result['stderr']);
        $this->assertStringNotContainsString('never fired', $result['stdout']);
        $this->assertStringNotContainsString('panic', $result['stdout'] . $result['stderr']);
    }
}
