<?php

namespace FluentWebhook\Tests;

/**
 * The fluent_webhook.* settings refuse a value they cannot take, with a warning that names it,
 * as PHP's own do: ini_set() returns false and the setting keeps its value; from php.ini or -d,
 * its default. Read later instead, such a value fell back to the default without a word.
 */
final class SettingsTest extends WebhookTestCase
{
    private const REFUSED = [
        ['fluent_webhook.timeout', '0', '"0" is not a number of seconds from 0.001 to 86400'],
        ['fluent_webhook.connect_timeout', '-1', '"-1" is not a number of seconds from 0.1 to 86400'],
        ['fluent_webhook.shutdown_timeout', 'INF', '"INF" is not a number of seconds from 0 to 86400'],
        ['fluent_webhook.max_concurrency', '0', '"0" is not a whole number from 1 to 10000'],
        ['fluent_webhook.max_concurrency', '2.5', '"2.5" is not a whole number from 1 to 10000'],
        ['fluent_webhook.memory_limit', '1', '"1" is not a size of at least 1K'],
        ['fluent_webhook.max_payload_bytes', '64Q', '"64Q" is not a size of at least 1K'],
        ['fluent_webhook.log_retention_days', 'NaN', '"NaN" is not a number of days from 0 to 3650'],
        ['fluent_webhook.retry_schedule', '5,soon', '"soon" is not a number of seconds between 0 and 30 days'],
    ];

    public function testIniSetRefusesAValueTheSettingCannotTake(): void
    {
        $cases = var_export(self::REFUSED, true);
        $result = self::runPhp(<<<PHP
            <?php
            foreach ($cases as [\$name, \$value]) {
                \$before = ini_get(\$name);
                echo json_encode([ini_set(\$name, \$value), ini_get(\$name) === \$before]), "\\n";
            }
            echo json_encode([ini_set('fluent_webhook.max_concurrency', '8'), ini_get('fluent_webhook.max_concurrency')]), "\\n";
            echo json_encode([ini_set('fluent_webhook.memory_limit', '16M'), ini_get('fluent_webhook.memory_limit')]), "\\n";
            PHP, ['display_errors' => 'stderr', 'log_errors' => '0']);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $lines = explode("\n", trim($result['stdout']));
        $this->assertSame(array_fill(0, count(self::REFUSED), '[false,true]'), array_slice($lines, 0, count(self::REFUSED)));
        $this->assertSame(['["32","8"]', '["64M","16M"]'], array_slice($lines, count(self::REFUSED)));
        foreach (self::REFUSED as [$name, , $reason]) {
            $this->assertStringContainsString("ini_set(): $name: $reason", $result['stderr']);
        }
        $this->assertStringContainsString('fluent_webhook.max_concurrency: "0" is not a whole number from 1 to 10000; it keeps "32"', $result['stderr']);
    }

    public function testAValueFromTheCommandLineTheSettingCannotTakeLeavesTheDefault(): void
    {
        $result = self::runPhp(<<<'PHP'
            <?php
            echo json_encode([ini_get('fluent_webhook.timeout'), ini_get('fluent_webhook.memory_limit')]);
            PHP, ['fluent_webhook.timeout' => '-5', 'fluent_webhook.memory_limit' => '12X', 'display_startup_errors' => '1',
                'display_errors' => 'stderr', 'log_errors' => '0']);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $this->assertSame('["15","64M"]', $result['stdout']);
        $this->assertStringContainsString('fluent_webhook.timeout: "-5" is not a number of seconds from 0.001 to 86400; it keeps its default', $result['stderr']);
        $this->assertStringContainsString('fluent_webhook.memory_limit: "12X" is not a size of at least 1K', $result['stderr']);
    }

    /** A warning's handler may throw, as frameworks' do: ini_set() then throws, and PHP goes on. */
    public function testAWarningHandlerThatThrowsSeesTheRefusal(): void
    {
        $result = self::runPhp(<<<'PHP'
            <?php
            set_error_handler(fn ($level, $message) => throw new ErrorException($message, 0, $level));
            try {
                ini_set('fluent_webhook.max_concurrency', 'many');
            } catch (ErrorException $e) {
                echo $e->getMessage(), "\n";
            }
            echo ini_get('fluent_webhook.max_concurrency');
            PHP);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $this->assertSame("ini_set(): fluent_webhook.max_concurrency: \"many\" is not a whole number from 1 to 10000; it keeps \"32\"\n32", $result['stdout']);
    }

    /**
     * A long value is shown cut short, and the warning stays UTF-8 and says what the setting
     * keeps. It was cut at 511 bytes wherever that fell: inside a character (a handler's
     * json_encode() of the message then failed) and before "it keeps".
     */
    public function testTheWarningOfALongValueIsUtf8AndSaysWhatTheSettingKeeps(): void
    {
        $result = self::runPhp(<<<'PHP'
            <?php
            set_error_handler(function ($level, $message) {
                echo json_encode([json_encode($message) !== false, str_ends_with($message, 'it keeps "60"'), strlen($message) < 300]), "\n";
                return true;
            });
            ini_set('fluent_webhook.retry_schedule', '5,' . str_repeat('é', 400));
            ini_set('fluent_webhook.retry_schedule', str_repeat('é', 401));
            PHP, ['fluent_webhook.retry_schedule' => '60']);
        $this->assertSame(0, $result['exit'], $result['stderr']);
        $this->assertSame("[true,true,true]\n[true,true,true]\n", $result['stdout']);
    }
}
