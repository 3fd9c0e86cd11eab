<?php

namespace FluentWebhook\Tests;

/**
 * No way in: by default no webhook reaches loopback, private, link-local or other special
 * addresses, by IP literal or by a name that resolves to one; fluent_webhook.allowed_networks
 * opens ranges (the rest of the suite opens 127.0.0.0/8 and ::1 for its receivers). Only
 * loopback, a link-local and a documentation literal appear here: refused requests never
 * leave the machine.
 */
final class NetworkTest extends WebhookTestCase
{
    private function sendWithoutAllowedNetworks(string $url): array
    {
        $result = self::runPhp(<<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'ssrf', 'request_url' => '$url', 'event_trigger' => ['e']]);
            FluentWebhook\dispatch('e', ['n' => 1], [\$feed]);
            var_dump(FluentWebhook\\flush(10));
            echo json_encode(['stats' => FluentWebhook\stats(), 'log' => FluentWebhook\deliveries()]);
            PHP, ['fluent_webhook.allowed_networks' => '', 'fluent_webhook.retry_schedule' => '0.1,0.1',
                 'fluent_webhook.spool_path' => '']);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        [$flushed, $out] = explode("\n", $result['stdout'], 2);
        $this->assertSame('bool(true)', $flushed);
        return json_decode($out, true);
    }

    public static function forbiddenUrls(): array
    {
        return [
            'IPv4 loopback' => ['127.0.0.1', 'a loopback address'],
            'another loopback address' => ['127.1.2.3', 'a loopback address'],
            'IPv6 loopback' => ['[::1]', 'the loopback address (::1)'],
            'IPv4-mapped IPv6' => ['[::ffff:127.0.0.1]', 'IPv4-mapped'],
            'a name for loopback' => ['localhost', 'localhost resolves to'],
            'cloud metadata' => ['169.254.169.254', 'link-local'],
            'unspecified' => ['0.0.0.0', 'unspecified'],
            // RFC 9637's second IPv6 documentation prefix, beside 2001:db8::/32.
            'IPv6 documentation (3fff::/20)' => ['[3fff:fff::1]', 'a documentation address (3fff::/20)'],
            'SRv6 segment identifier (5f00::/16)' => ['[5f00::1]', 'an SRv6 segment identifier (5f00::/16)'],
        ];
    }

    /** @dataProvider forbiddenUrls */
    public function testForbiddenAddressesAreRefusedAndNotRetried(string $host, string $why): void
    {
        $port = self::receiver()->port;
        $out = $this->sendWithoutAllowedNetworks("http://$host:$port" . $this->prefix . 'hook');
        $this->assertSame(1, $out['stats']['failed']);
        $this->assertSame(0, $out['stats']['retries_scheduled'], 'a refusal is final');
        [$failure] = $out['stats']['recent_failures'];
        $this->assertStringContainsString('refused to connect', $failure['reason']);
        $this->assertStringContainsString($why, $failure['reason']);
        $this->assertStringContainsString('allowed_networks', $failure['reason']);
        [$row] = $out['log'];
        $this->assertSame('failed', $row['status']);
        $this->assertCount(1, $row['attempts']);
        $this->assertSame([], self::receiver()->requests($this->prefix), 'nothing reached the receiver');
    }

    public function testAllowedNetworksOpenRanges(): void
    {
        $this->assertSame('127.0.0.0/8,::1', ini_get('fluent_webhook.allowed_networks'));
        // The receiver listens on 127.0.0.1 only; [::1] is checked as refused above.
        foreach (['127.0.0.1', 'localhost', '127.0.0.1'] as $i => $host) {
            $url = 'http://' . $host . ':' . self::receiver()->port . $this->prefix . "open$i";
            \FluentWebhook\dispatch('order_paid_done', [], [$this->feed(['request_url' => $url])]);
        }
        $this->assertCount(3, $this->received(3));
    }

    public function testABadAllowedNetworksSettingIsReportedAndOpensNothing(): void
    {
        $url = $this->url('bad-setting');
        $result = self::runPhp(<<<PHP
            <?php
            FluentWebhook\dispatch('e', [], [new FluentWebhook\Feed(['name' => 'x', 'request_url' => '$url', 'event_trigger' => ['e']])]);
            FluentWebhook\\flush(10);
            echo FluentWebhook\\stats()['failed'];
            PHP, ['fluent_webhook.allowed_networks' => 'intranet', 'log_errors' => '1', 'error_log' => '']);
        $this->assertSame('1', $result['stdout'], $result['stderr']);
        $this->assertStringContainsString('fluent_webhook.allowed_networks: "intranet" is not an IP address or CIDR range', $result['stderr']);
    }
}
