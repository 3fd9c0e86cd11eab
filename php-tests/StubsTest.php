<?php

namespace FluentWebhook\Tests;

require_once __DIR__ . '/support/signatures.php';

/**
 * stubs/fluent_webhook.stub.php states the same API as the loaded extension: every class,
 * method and function, every parameter's name, type, optionality and default, every return
 * type. Fails when either side changes alone.
 */
final class StubsTest extends WebhookTestCase
{
    /**
     * Types the extension can only declare as `mixed` (ext-php-rs has no union types) and the
     * stub states precisely. The extension enforces these at run time, with its own exceptions
     * rather than a TypeError (the stub's doc comments say which).
     */
    private const MIXED_IN_EXTENSION = [
        // Reflection prints the stub's int|string|null in its own order.
        'FluentWebhook\Feed::__construct($id)' => 'string|int|null',
        'FluentWebhook\redeliver($feed)' => 'FluentWebhook\Feed|array|null',
    ];

    public function testStubsMatchTheExtension(): void
    {
        $extension = new \ReflectionExtension('fluent_webhook');
        $actual = fluent_webhook_signatures(array_keys($extension->getClasses()), array_keys($extension->getFunctions()));

        $stub = dirname(__DIR__) . '/stubs/fluent_webhook.stub.php';
        $result = self::runPhpWithoutExtension([__DIR__ . '/support/signatures.php', $stub]);
        $stated = json_decode($result, true, 512, JSON_THROW_ON_ERROR);

        foreach (self::MIXED_IN_EXTENSION as $where => $type) {
            preg_match('/^(?:(.+)::)?([\w\\\\]+)\(\$(\w+)\)$/', $where, $m);
            if ($m[1] === '') {
                $params = &$actual['functions'][strtolower($m[2])]['params'];
            } else {
                $params = &$actual['classes'][$m[1]]['methods'][$m[2]]['params'];
            }
            $found = false;
            foreach ($params as $i => $param) {
                if ($param['name'] === $m[3]) {
                    $this->assertSame('mixed', $param['type'], "$where is no longer mixed: update MIXED_IN_EXTENSION");
                    $params[$i]['type'] = $type;
                    $found = true;
                }
            }
            unset($params);
            $this->assertTrue($found, "$where: no such parameter");
        }
        $this->assertNotEmpty($actual['functions']);
        $this->assertArrayHasKey('FluentWebhook\Feed', $actual['classes']);
        $this->assertSame($actual, $stated, 'stubs/fluent_webhook.stub.php and the extension disagree');
    }

    public function testPhpReListsTheApi(): void
    {
        $output = shell_exec(escapeshellarg(PHP_BINARY) . ' --re fluent_webhook');
        foreach (['FluentWebhook\dispatch', 'FluentWebhook\flush', 'FluentWebhook\stats', 'FluentWebhook\events',
                  'class FluentWebhook\Feed', 'FluentWebhook\InvalidFeedException', 'fluent_webhook.timeout',
                  'fluent_webhook.connect_timeout', 'fluent_webhook.shutdown_timeout'] as $needle) {
            $this->assertStringContainsString($needle, $output);
        }
    }

    public function testPhpinfoShowsVersionSettingsAndCounters(): void
    {
        \FluentWebhook\flush(1);
        ob_start();
        phpinfo(INFO_MODULES);
        $info = ob_get_clean();
        $section = substr($info, strpos($info, "\nfluent_webhook\n"));
        $this->assertStringContainsString('fluent_webhook support => enabled', $section);
        $this->assertStringContainsString('version => ' . phpversion('fluent_webhook'), $section);
        foreach (['runtime =>', 'dispatched =>', 'queued =>', 'in flight =>', 'delivered =>', 'failed =>',
                  'fluent_webhook.timeout => 15 => 15', 'fluent_webhook.connect_timeout => 5 => 5',
                  'fluent_webhook.shutdown_timeout => 5 => 5', 'fluent_webhook.max_concurrency => 32 => 32'] as $row) {
            $this->assertStringContainsString($row, $section);
        }
    }

    private static function runPhpWithoutExtension(array $args): string
    {
        $command = escapeshellarg(PHP_BINARY) . ' -n ' . implode(' ', array_map('escapeshellarg', $args)) . ' 2>&1';
        return (string) shell_exec($command);
    }
}
