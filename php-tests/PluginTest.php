<?php

namespace FluentWebhook\Tests;

use FluentWebhook\Feed;
use FluentWebhook\InvalidFeedException;
use FluentWebhookPlugin\Admin\DeliveriesPage;
use FluentWebhookPlugin\Admin\FeedForm;
use FluentWebhookPlugin\EventData;
use FluentWebhookPlugin\FeedStore;
use PHPUnit\Framework\TestCase;

/**
 * The WordPress plugin's parts that need no WordPress: the form ↔ settings mapping against the
 * extension's real validation errors, and the shaping of FluentCart's models. The whole plugin
 * in a real WordPress and browser is tested by `make e2e` (e2e/admin.test.mjs).
 */
final class PluginTest extends TestCase
{
    public static function setUpBeforeClass(): void
    {
        require_once dirname(__DIR__) . '/wordpress/fluent-webhook/src/Admin/FeedForm.php';
        require_once dirname(__DIR__) . '/wordpress/fluent-webhook/src/EventData.php';
        require_once dirname(__DIR__) . '/wordpress/fluent-webhook/src/Admin/DeliveriesPage.php';
        require_once dirname(__DIR__) . '/wordpress/fluent-webhook/src/FeedStore.php';
    }

    /** Queued retries keep the request they were made with: which edits must cancel them. */
    public function testEditsThatSendElsewhereAreTold(): void
    {
        $before = self::VALID + ['request_method' => 'POST', 'secret' => 'whsec_a', 'request_headers' => 'custom_headers',
            'custom_header_values' => [['header_name' => 'Authorization', 'header_value' => 'Bearer old'], ['header_name' => 'X-Pin', 'header_value' => '0123']]];
        $this->assertFalse(FeedStore::sendsElsewhere($before, ['name' => 'Renamed', 'event_trigger' => ['order_fully_refunded']] + $before));
        $this->assertFalse(FeedStore::sendsElsewhere($before, ['request_format' => 'FORM'] + $before), 'the body of a queued delivery was made already');
        foreach ([
            'request_url' => 'https://hooks.example/new',
            'request_method' => 'PUT',
            'secret' => 'whsec_b',
            'custom_header_values' => [['header_name' => 'Authorization', 'header_value' => 'Bearer new'], ['header_name' => 'X-Pin', 'header_value' => '0123']],
            'request_headers' => 'no_headers',
        ] as $key => $value) {
            $this->assertTrue(FeedStore::sendsElsewhere($before, [$key => $value] + $before), $key);
        }
        // Compared as sent: a PIN "0123" rotated to "123" is another value; rows reordered, or
        // a name's case changed, send the same.
        $pin = [['header_name' => 'Authorization', 'header_value' => 'Bearer old'], ['header_name' => 'X-Pin', 'header_value' => '123']];
        $this->assertTrue(FeedStore::sendsElsewhere($before, ['custom_header_values' => $pin] + $before));
        $same = [['header_name' => 'x-pin', 'header_value' => '0123'], ['header_name' => 'AUTHORIZATION', 'header_value' => 'Bearer old']];
        $this->assertFalse(FeedStore::sendsElsewhere($before, ['custom_header_values' => $same] + $before));
        $off = ['request_headers' => 'no_headers'] + $before;
        $this->assertFalse(FeedStore::sendsElsewhere($off, ['custom_header_values' => $pin] + $off), 'rows not sent');
        $unnamed = [...$before['custom_header_values'], ['header_name' => ' ', 'header_value' => 'left behind']];
        $this->assertFalse(FeedStore::sendsElsewhere($before, ['custom_header_values' => $unnamed] + $before), 'a row without a name is not sent');
    }

    /**
     * A feed switched off in its edit form cancels its retries, as the list's switch does:
     * the form saved it off and left its retries to go out to the endpoint.
     */
    public function testAnEditThatSwitchesTheFeedOffCancelsItsRetries(): void
    {
        $on = self::VALID + ['enabled' => true];
        $off = ['enabled' => false] + $on;
        $this->assertSame('the feed was switched off', FeedStore::cancelReasonForEdit($on, $off));
        $this->assertSame('the feed was switched off', FeedStore::cancelReasonForEdit(['enabled' => 'yes'] + $on, ['enabled' => 'no'] + $on), "FluentCart's other spelling");
        $this->assertSame('the feed was switched off', FeedStore::cancelReasonForEdit($on, ['request_url' => 'https://hooks.example/new'] + $off));
        $this->assertSame("the feed's address, method, headers or secret changed", FeedStore::cancelReasonForEdit($on, ['request_url' => 'https://hooks.example/new'] + $on));
        $this->assertNull(FeedStore::cancelReasonForEdit($on, ['name' => 'Renamed'] + $on));
        $this->assertNull(FeedStore::cancelReasonForEdit($off, $off), 'already off: cancelled when it was switched off');
        $this->assertNull(FeedStore::cancelReasonForEdit($off, $on));
    }

    /** The list, the missed-event count and the edit's cancel read `enabled` as the extension. */
    public function testEnabledIsReadAsTheExtensionReadsIt(): void
    {
        foreach ([true, 'yes', 'Yes', ' TRUE ', 1, '1', null, false, 'no', 'No', ' FALSE ', 0, '0'] as $enabled) {
            $settings = self::VALID + ['enabled' => $enabled];
            $this->assertSame((new Feed($settings))->isEnabled(), FeedStore::isEnabled($settings), var_export($enabled, true));
        }
    }

    private const VALID = [
        'name' => 'Orders',
        'request_url' => 'https://hooks.example/orders',
        'event_trigger' => ['order_paid_done'],
    ];

    public static function invalidSettings(): array
    {
        return [
            'blank title' => [['name' => ''], 'name'],
            'relative URL' => [['request_url' => 'hooks.example/x'], 'request_url'],
            'method' => [['request_method' => 'TRACE'], 'request_method'],
            'format' => [['request_format' => 'XML'], 'request_format'],
            'headers switch' => [['request_headers' => 'some'], 'request_headers'],
            'header name' => [['request_headers' => 'custom_headers', 'custom_header_values' => [['header_name' => 'Bad Name', 'header_value' => 'x']]], 'request_headers'],
            'header CR/LF' => [['request_headers' => 'custom_headers', 'custom_header_values' => [['header_name' => 'X-A', 'header_value' => "a\r\nB: c"]]], 'request_headers'],
            'body switch' => [['request_body' => 'some'], 'request_body'],
            'payload key twice' => [['request_body' => 'selected_fields', 'selected_field_values' => [
                ['field_name' => 'a', 'field_value' => '{{order.id}}'], ['field_name' => 'a', 'field_value' => '{{order.id}}']]], 'request_body'],
            'no event' => [['event_trigger' => []], 'event_trigger'],
            'secret' => [['secret' => 'not-a-secret'], 'secret'],
        ];
    }

    /**
     * Each error the extension raises is shown next to a field of the form, never only on top.
     *
     * @dataProvider invalidSettings
     */
    public function testEveryValidationErrorHasAField(array $override, string $field): void
    {
        try {
            new Feed(array_merge(self::VALID, $override));
            $this->fail('the extension accepted invalid settings');
        } catch (InvalidFeedException $e) {
            [$mapped, $message] = FeedForm::fieldError($e->getMessage());
            $this->assertSame($field, $mapped, $e->getMessage());
            $this->assertNotSame('', $message);
            $this->assertStringStartsNotWith($field, $message, 'the key is not repeated in the message');
        }
    }

    public function testAFormErrorWithoutAKnownKeyStaysWhole(): void
    {
        $this->assertSame(['form', 'something else broke'], FeedForm::fieldError('something else broke'));
    }

    public function testTheSubmittedFormBecomesFluentCartSettings(): void
    {
        $settings = FeedForm::settingsFromPost(['feed' => [
            'name' => '  Orders ', 'request_url' => ' https://hooks.example/orders ', 'request_method' => 'PUT',
            'request_format' => 'FORM', 'request_headers' => 'custom_headers',
            'custom_header_values' => [['header_name' => 'X-Key', 'header_value' => 'v'], ['header_name' => '', 'header_value' => '']],
            'request_body' => 'selected_fields',
            'selected_field_values' => [['field_name' => 'email', 'field_value' => '{{order.billing.email}}']],
            'event_trigger' => ['order_paid_done', 'order_fully_refunded', 'not_an_event'], 'enabled' => '1',
        ]], array_keys(\FluentWebhook\events()));
        $feed = new Feed($settings);
        $this->assertSame('Orders', $feed->name());
        $this->assertSame('PUT', $feed->method());
        $this->assertSame('FORM', $feed->format());
        $this->assertTrue($feed->isEnabled());
        $this->assertSame(['order_paid_done', 'order_fully_refunded'], $feed->events(), 'an event the site does not know is left out');
        $this->assertSame([['header_name' => 'X-Key', 'header_value' => 'v']], $feed->toArray()['custom_header_values'], 'the blank row is ignored');
    }

    public function testAForgedFormIsRefusedByNameNotByCrash(): void
    {
        $settings = FeedForm::settingsFromPost(['feed' => [
            'name' => ['array'], 'request_url' => new \stdClass(), 'custom_header_values' => 'x',
            'selected_field_values' => [['field_name' => ['x']]], 'event_trigger' => [['nested'], 7], 'enabled' => ['1'],
        ]], array_keys(\FluentWebhook\events()));
        $this->assertSame('', $settings['name']);
        $this->assertSame('', $settings['request_url']);
        $this->assertSame([], $settings['event_trigger']);
        $this->assertFalse($settings['enabled']);
        $this->expectException(InvalidFeedException::class);
        $this->expectExceptionMessageMatches('/^name: /');
        new Feed($settings);
    }

    public function testStoredHeaderValuesAreNeverShownAndKeptWhenLeftBlank(): void
    {
        $stored = ['custom_header_values' => [['header_name' => 'X-Api-Key', 'header_value' => 'key-123'], ['header_name' => 'X-Store', 'header_value' => 'e2e']]];
        $rows = FeedForm::headerRowsForForm($stored['custom_header_values'], $stored);
        $this->assertSame(['', ''], array_column($rows, 'header_value'), 'the form carries no stored value');
        $this->assertSame([true, true], array_column($rows, 'kept'));

        $submitted = ['custom_header_values' => [
            ['header_name' => 'x-api-key', 'header_value' => ''],   // left blank: kept
            ['header_name' => 'X-Store', 'header_value' => 'new'],  // typed: replaced
            ['header_name' => 'X-New', 'header_value' => ''],       // nothing stored: stays blank
        ]];
        $this->assertSame(['key-123', 'new', ''], array_column(FeedForm::keepStoredHeaderValues($submitted, $stored)['custom_header_values'], 'header_value'));
        $this->assertSame([['header_name' => '', 'header_value' => '', 'kept' => false]], FeedForm::headerRowsForForm([], null), 'an empty list shows one row');
    }

    /**
     * A header name given twice (a key rotated by adding a row; names in any case) is stored
     * twice, and the extension sends the later row. The form blanked only the value sent: the
     * other stored key was written into the edit page, in clear, in its value attribute.
     */
    public function testAHeaderNameGivenTwiceShowsNeitherStoredValue(): void
    {
        $stored = ['request_headers' => 'custom_headers', 'custom_header_values' => [
            ['header_name' => 'Authorization', 'header_value' => 'Bearer old-key'],
            ['header_name' => 'authorization', 'header_value' => 'Bearer new-key'],
        ]] + self::VALID;
        new Feed($stored); // the extension takes it
        $rows = FeedForm::headerRowsForForm($stored['custom_header_values'], $stored);
        $this->assertSame(['', ''], array_column($rows, 'header_value'), 'the form carries no stored value');
        $this->assertSame([true, true], array_column($rows, 'kept'));
        // Saved again as shown (both left blank): each row keeps its own value.
        $submitted = ['custom_header_values' => array_map(fn ($row) => ['header_name' => $row['header_name'], 'header_value' => ''], $rows)];
        $this->assertSame($stored['custom_header_values'], FeedForm::keepStoredHeaderValues($submitted, $stored)['custom_header_values']);
    }

    public function testModelsBecomeArraysWithFluentCartsAddressAliases(): void
    {
        $model = new class (['id' => 42, 'total_amount' => 12345]) {
            public array $loaded = [];

            public function __construct(private array $attributes)
            {
            }

            public function __get(string $name): mixed
            {
                return $this->attributes[$name] ?? $this->loaded[$name] ?? null;
            }

            public function loadMissing(string $relation): static
            {
                $this->loaded[$relation] = match ($relation) {
                    'billing_address' => ['email' => 'ada@example.test', 'created' => new \DateTimeImmutable('2026-01-02 03:04:05')],
                    'order_items' => [new \ArrayObject(['sku' => 'A'])],
                    default => null,
                };
                return $this;
            }

            public function billing_address(): void
            {
            }

            public function order_items(): void
            {
            }

            public function toArray(): array
            {
                return $this->attributes + $this->loaded;
            }
        };
        $data = EventData::shape(['order' => $model]);
        $this->assertSame(42, $data['order']['id']);
        $this->assertSame('ada@example.test', $data['order']['billing']['email'], 'order.billing from the billing_address relation');
        $this->assertSame('2026-01-02 03:04:05', $data['order']['billing']['created']);
        $this->assertArrayNotHasKey('shipping', $data['order'], 'no shipping address, no alias');
        $this->assertArrayNotHasKey('customer', $data['order'], 'a relation the model lacks is not loaded');
        $this->assertSame('42', EventData::orderId(['order' => $model]));
        $this->assertSame('7', EventData::orderId(['order' => ['id' => 7]]));
        $this->assertNull(EventData::orderId(['subscription' => ['id' => 7]]));
        $body = (new Feed(self::VALID + ['request_body' => 'selected_fields', 'selected_field_values' => [
            ['field_name' => 'email', 'field_value' => '{{order.billing.email}}'], ['field_name' => 'total', 'field_value' => '{{order.total_amount}}']]]))
            ->render('order_paid_done', $data)['body'];
        $this->assertSame('{"email":"ada@example.test","total":123.45}', $body);
    }

    public function testADateWithAToArrayOfItsOwnIsWrittenAsADate(): void
    {
        // Carbon's shape: a DateTime with toArray() (its parts) and jsonSerialize().
        $carbon = new class ('2026-01-02 03:04:05') extends \DateTimeImmutable implements \JsonSerializable {
            public function toArray(): array
            {
                return ['year' => 2026, 'month' => 1, 'day' => 2];
            }

            public function jsonSerialize(): string
            {
                return $this->format(DATE_ATOM);
            }
        };
        $data = EventData::shape(['order' => ['id' => 1, 'paid_at' => $carbon]]);
        $this->assertSame('2026-01-02 03:04:05', $data['order']['paid_at']);
    }

    public function testASubscriptionOrderCarriesItsSubscription(): void
    {
        $data = EventData::shape(['order' => ['id' => 9, 'subscriptions' => [['id' => 3, 'status' => 'active']]]]);
        $this->assertSame(['id' => 3, 'status' => 'active'], $data['subscription']);
        $given = EventData::shape(['order' => ['id' => 9, 'subscriptions' => [['id' => 3]]], 'subscription' => ['id' => 4]]);
        $this->assertSame(['id' => 4], $given['subscription'], 'the subscription FluentCart passes wins');
    }

    public function testTheAttemptsColumnCountsRequestsNotTheExtensionsOwnEntries(): void
    {
        $entry = fn (?int $code, ?string $error) => ['at' => 1.0, 'status_code' => $code, 'error' => $error, 'duration_ms' => 0];
        $this->assertTrue(DeliveriesPage::isAttempt($entry(503, 'HTTP 503')));
        $this->assertTrue(DeliveriesPage::isAttempt($entry(null, 'could not connect: refused')));
        $this->assertFalse(DeliveriesPage::isAttempt($entry(null, 'canceled: the feed was switched off')));
        $this->assertFalse(DeliveriesPage::isAttempt($entry(null, "not sent: the spool has lost this delivery's body")));
    }

    /**
     * Deleting the plugin deletes its feeds (uninstall.php); the delivery log is the
     * extension's and stays. Feeds made after the plugin is added again must not take the
     * deleted ones' ids: the ids started at 1 again, so the new feed 1 listed the deleted feed
     * 1's deliveries as its own, and Resend sent their payloads (another endpoint's customer
     * data) to the new feed's address with its credentials. A site whose feeds an earlier
     * version stored keeps their ids, and with them their deliveries.
     */
    public function testFeedsMadeAfterThePluginWasDeletedDoNotTakeTheDeletedFeedsIds(): void
    {
        $store = dirname(__DIR__) . '/wordpress/fluent-webhook/src/FeedStore.php';
        $script = tempnam(sys_get_temp_dir(), 'fw-plugin-') . '.php';
        file_put_contents($script, self::WORDPRESS_OPTIONS . <<<PHP
            require '$store';
            use FluentWebhookPlugin\FeedStore;
            \$ids = [];
            \$ids['first'] = FeedStore::extensionId((new FeedStore())->insert(['name' => 'CRM']));
            delete_option('fluent_webhook_feeds'); // uninstall.php
            \$ids['after reinstall'] = FeedStore::extensionId((new FeedStore())->insert(['name' => 'Analytics']));
            // Feeds an earlier version stored, without a token of their install.
            update_option('fluent_webhook_feeds', ['feeds' => [1 => ['name' => 'Old']], 'next_id' => 2]);
            \$ids['earlier version'] = FeedStore::extensionId(1);
            \$ids['earlier version, new feed'] = FeedStore::extensionId((new FeedStore())->insert(['name' => 'New']));
            echo json_encode(\$ids);
            PHP);
        $output = shell_exec(escapeshellarg(PHP_BINARY) . ' ' . escapeshellarg($script) . ' 2>&1');
        unlink($script);
        $ids = json_decode((string) $output, true);
        $this->assertIsArray($ids, (string) $output);
        $legacy = 'wp-' . substr(hash('sha256', '1|https://shop.example'), 0, 12) . ':';
        $this->assertNotSame($ids['first'], $ids['after reinstall'], 'feed 1 of the new install has an id of its own');
        $this->assertStringEndsWith(':1', $ids['after reinstall']);
        $this->assertSame($legacy . '1', $ids['earlier version'], 'feeds an earlier version stored keep their ids');
        $this->assertSame($legacy . '2', $ids['earlier version, new feed']);
    }

    /**
     * What FeedStore and uninstall.php need of WordPress, in a child PHP process: each site's
     * options in memory, by site id. One site, unless a script adds more to $sites (a network).
     */
    private const WORDPRESS_OPTIONS = <<<'PHP'
        <?php
        $sites = [1 => []];
        $site = 1;
        $switched = [];
        // Each site's home option (WordPress keeps it with the other options; here apart, so that
        // a test sees the plugin's own options alone).
        $homes = [];
        function get_option(string $name, mixed $default = false): mixed {
            if ($name === 'home') {
                return $GLOBALS['homes'][$GLOBALS['site']] ?? ($GLOBALS['site'] === 1 ? 'https://shop.example' : "https://shop.example/site{$GLOBALS['site']}");
            }
            return $GLOBALS['sites'][$GLOBALS['site']][$name] ?? $default;
        }
        function update_option(string $name, mixed $value, bool $autoload = true): bool { $GLOBALS['sites'][$GLOBALS['site']][$name] = $value; return true; }
        function delete_option(string $name): bool { unset($GLOBALS['sites'][$GLOBALS['site']][$name]); return true; }
        function get_current_blog_id(): int { return $GLOBALS['site']; }
        // As WordPress's get_home_url(): the home option, with https in a request made over HTTPS.
        function is_ssl(): bool { return in_array(strtolower((string) ($_SERVER['HTTPS'] ?? '')), ['on', '1'], true) || ($_SERVER['SERVER_PORT'] ?? '') === '443'; }
        function home_url(): string { return is_ssl() ? preg_replace('#^http:#i', 'https:', get_option('home')) : get_option('home'); }
        function is_multisite(): bool { return count($GLOBALS['sites']) > 1; }
        function get_sites(array $args = []): array { return array_keys($GLOBALS['sites']); }
        function switch_to_blog(int $site): bool { $GLOBALS['switched'][] = $GLOBALS['site']; $GLOBALS['site'] = $site; return true; }
        function restore_current_blog(): bool { $GLOBALS['site'] = array_pop($GLOBALS['switched']); return true; }

        PHP;

    /**
     * Deleting the plugin cancels its feeds' deliveries waiting for a retry, as deleting a
     * feed does: they were left to go out, hours later, to the addresses of feeds the owner
     * had removed with the plugin. The log keeps them, with the reason.
     */
    public function testDeletingThePluginCancelsItsFeedsRetries(): void
    {
        $out = $this->uninstalled(<<<'PHP'
            $store = new FeedStore();
            foreach (['CRM', 'Analytics'] as $name) {
                $store->insert(['name' => $name, 'request_url' => $refused, 'event_trigger' => ['order_paid_done']]);
            }
            FluentWebhook\dispatch('order_paid_done', ['order' => ['id' => 1]], $store->feeds());
            $ids = array_map([FeedStore::class, 'extensionId'], array_keys($store->all()));
            update_option('fluent_webhook_missed_events', ['x']);
            PHP);
        $this->assertSame([1 => []], $out['sites'], 'the feeds and notices go with the plugin');
        $this->assertCount(2, $out['deliveries']);
    }

    /**
     * Deleting the plugin from a PHP without the extension (`wp plugin uninstall` where only
     * php-fpm loads it) cannot cancel the feeds' retries, and it deletes the install token
     * their ids are made from: nothing said so, and the retries went out later, from any
     * process with the extension, to the removed addresses. The error log now names the ids.
     */
    public function testDeletingThePluginWithoutTheExtensionNamesTheRetriesItCouldNotCancel(): void
    {
        $plugin = dirname(__DIR__) . '/wordpress/fluent-webhook';
        $file = tempnam(sys_get_temp_dir(), 'fw-plugin-') . '.php';
        file_put_contents($file, self::WORDPRESS_OPTIONS . <<<PHP
            require '$plugin/src/FeedStore.php';
            \$store = new FluentWebhookPlugin\FeedStore();
            \$store->insert(['name' => 'CRM', 'request_url' => 'https://crm.example/hook', 'event_trigger' => ['order_paid_done']]);
            \$store->insert(['name' => 'Analytics', 'request_url' => 'https://a.example/hook', 'event_trigger' => ['order_paid_done']]);
            \$ids = [FluentWebhookPlugin\FeedStore::extensionId(1), FluentWebhookPlugin\FeedStore::extensionId(2)];
            define('WP_UNINSTALL_PLUGIN', true);
            require '$plugin/uninstall.php';
            echo json_encode(['ids' => \$ids, 'sites' => \$GLOBALS['sites']]), "\n";
            PHP);
        $process = proc_open([PHP_BINARY, '-n', '-d', 'display_errors=stderr', $file], [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        [$stdout, $stderr] = [stream_get_contents($pipes[1]), stream_get_contents($pipes[2])];
        proc_close($process);
        unlink($file);
        $out = json_decode($stdout, true);
        $this->assertIsArray($out, $stdout . $stderr);
        $this->assertSame([1 => []], $out['sites'], 'the feeds still go with the plugin');
        $this->assertStringContainsString('the extension is not loaded in this PHP', $stderr);
        foreach ($out['ids'] as $id) {
            $this->assertStringContainsString($id, $stderr);
        }
    }

    /**
     * A request that switches to another site of a network (switch_to_blog) and fires an
     * event there: the store built its Feed objects once per request, and sent the other
     * site's order to the first site's feeds.
     */
    public function testTheFeedsAreThoseOfTheSiteTheRequestIsOn(): void
    {
        $out = $this->runWithSpool(<<<'PHP'
            $sites += [3 => []];
            $store = new FeedStore();
            $store->insert(['name' => 'CRM of site 1', 'request_url' => $refused, 'event_trigger' => ['order_paid_done']]);
            $names = fn () => array_map(fn ($feed) => $feed->name(), $store->feeds());
            $seen = ['site 1' => $names()];
            switch_to_blog(3);
            $seen['site 3'] = $names();
            restore_current_blog();
            $seen['site 1 again'] = $names();
            echo json_encode($seen);
            PHP);
        $this->assertSame(['site 1' => [1 => 'CRM of site 1'], 'site 3' => [], 'site 1 again' => [1 => 'CRM of site 1']], $out);
    }

    /**
     * On a network, WordPress runs uninstall.php once, on the main site, and every site keeps
     * feeds of its own: the other sites' feeds stayed stored and their retries went out, for
     * hours, after the network's admin had deleted the plugin.
     */
    public function testDeletingThePluginFromANetworkCancelsEverySitesRetries(): void
    {
        $out = $this->uninstalled(<<<'PHP'
            $sites += [2 => [], 3 => []];
            $ids = [];
            foreach ([1, 3] as $id) {
                switch_to_blog($id);
                $store = new FeedStore();
                $store->insert(['name' => "CRM of site $id", 'request_url' => $refused, 'event_trigger' => ['order_paid_done']]);
                FluentWebhook\dispatch('order_paid_done', ['order' => ['id' => 1]], $store->feeds());
                $ids[] = FeedStore::extensionId(1);
                update_option('fluent_webhook_missed_events', ['x']);
                restore_current_blog();
            }
            PHP);
        $this->assertSame([1 => [], 2 => [], 3 => []], $out['sites'], "every site's feeds and notices go with the plugin");
        $this->assertCount(2, $out['deliveries']);
    }

    /**
     * A store whose home is http:// answers some requests over HTTPS: its admin under
     * FORCE_SSL_ADMIN, a payment gateway's callback. WordPress's home_url() says https in
     * those, and the feed ids carried it: a checkout over HTTP queued deliveries under one id,
     * the admin deleting the feed over HTTPS canceled another, and the retries went on to the
     * deleted feed's address with its credentials (and the Deliveries screen never showed
     * them). A feed has one id, whatever the scheme of the request.
     */
    public function testAFeedHasOneIdOverHttpAndHttps(): void
    {
        $out = $this->runWithSpool(<<<'PHP'
            $homes[1] = 'http://shop.example';
            $store = new FeedStore();
            $id = $store->insert(['name' => 'CRM', 'request_url' => $refused, 'event_trigger' => ['order_paid_done']]);
            $queuedAs = FeedStore::extensionId($id);
            FluentWebhook\dispatch('order_paid_done', ['order' => ['id' => 1]], $store->feeds()); // the checkout, over HTTP
            FluentWebhook\flush(10);
            $_SERVER['HTTPS'] = 'on'; // the admin deletes the feed
            $store->delete($id);
            echo json_encode([
                'ids' => [$queuedAs, FeedStore::extensionId($id)],
                'canceled' => FeedStore::cancelPending($id, 'the feed was deleted'),
                'delivery' => FluentWebhook\deliveries(['feed' => $queuedAs])[0] ?? null,
            ]);
            PHP);
        $this->assertSame($out['ids'][0], $out['ids'][1], 'the id the deliveries were queued under is the one the admin cancels');
        $this->assertSame(1, $out['canceled']);
        $this->assertSame('failed', $out['delivery']['status'] ?? null, json_encode($out));
        $this->assertSame('canceled: the feed was deleted', end($out['delivery']['attempts'])['error']);
    }

    /**
     * Runs $setup (which queues deliveries to $refused and lists their feeds' ids in $ids) and
     * then uninstall.php, as WordPress does, on site 1; returns each site's options after, and
     * the deliveries, each checked to have ended with the plugin.
     *
     * @return array{sites: array<int, array<string, mixed>>, deliveries: list<array<string, mixed>>}
     */
    private function uninstalled(string $setup): array
    {
        $plugin = dirname(__DIR__) . '/wordpress/fluent-webhook';
        $out = $this->runWithSpool(<<<PHP
            $setup
            FluentWebhook\\flush(10);
            define('WP_UNINSTALL_PLUGIN', true);
            require '$plugin/uninstall.php';
            echo json_encode([
                'sites' => \$GLOBALS['sites'],
                'deliveries' => array_map(fn (\$id) => FluentWebhook\deliveries(['feed' => \$id])[0] ?? null, \$ids),
            ]);
            PHP);
        foreach ($out['deliveries'] as $delivery) {
            $this->assertSame('failed', $delivery['status'] ?? null, json_encode($out));
            $this->assertStringContainsString('could not connect', $delivery['attempts'][0]['error']);
            $this->assertSame('canceled: the plugin was deleted', end($delivery['attempts'])['error']);
            $this->assertNull($delivery['next_attempt_at']);
        }
        return $out;
    }

    /**
     * Runs $script after FeedStore is loaded over WORDPRESS_OPTIONS, in a child PHP process
     * with a spool of its own and an hour before a retry; $refused is an address that refuses
     * connections. Returns what the script printed as JSON.
     */
    private function runWithSpool(string $script): array
    {
        $plugin = dirname(__DIR__) . '/wordpress/fluent-webhook';
        $refused = 'http://127.0.0.1:' . Receiver::freePort() . '/hook';
        $spool = sys_get_temp_dir() . '/fw-plugin-' . bin2hex(random_bytes(6)) . '.sqlite';
        $file = tempnam(sys_get_temp_dir(), 'fw-plugin-') . '.php';
        file_put_contents($file, self::WORDPRESS_OPTIONS . <<<PHP
            require '$plugin/src/FeedStore.php';
            use FluentWebhookPlugin\FeedStore;
            \$refused = '$refused';
            $script
            PHP);
        $command = [PHP_BINARY, '-d', 'fluent_webhook.retry_schedule=3600', '-d', "fluent_webhook.spool_path=$spool", $file];
        $process = proc_open($command, [1 => ['pipe', 'w'], 2 => ['pipe', 'w']], $pipes);
        $output = stream_get_contents($pipes[1]) . stream_get_contents($pipes[2]);
        proc_close($process);
        unlink($file);
        exec('rm -f ' . escapeshellarg($spool) . '*');
        $out = json_decode($output, true);
        $this->assertIsArray($out, $output);
        return $out;
    }

    /**
     * An order whose items each refer back to the order, as objects of a model graph do. The
     * walk followed every back reference again down to its depth limit, each level once per
     * item: with ten items the checkout's request ended in a fatal error (memory or time)
     * that no catch stops. Each object is shaped once; a reference back to one being shaped
     * becomes null.
     */
    public function testAnOrderWhoseItemsReferBackToItIsShapedOnce(): void
    {
        $output = $this->shapeInAProcessOfItsOwn(<<<'PHP'
            $order = new stdClass();
            $order->id = 7;
            $order->items = [];
            foreach (range(1, 10) as $i) {
                $item = new stdClass();
                $item->sku = "A$i";
                $item->order = $order;
                $order->items[] = $item;
            }
            echo json_encode(FluentWebhookPlugin\EventData::shape(['order' => $order]));
            PHP);
        $data = json_decode($output, true);
        $this->assertIsArray($data, $output);
        $this->assertCount(10, $data['order']['items']);
        $this->assertSame(['sku' => 'A1', 'order' => null], $data['order']['items'][0]);
    }

    /**
     * Data whose values are reached along ever more paths: objects that share the next level
     * (no cycle), or an array holding two PHP references to itself. The walk took time that
     * doubles with each level, past max_execution_time, a fatal error inside the checkout. It
     * now stops at a bound, and the bridge records the event as missed, with the reason.
     */
    public function testDataReachedAlongExponentiallyManyPathsIsRefusedInTime(): void
    {
        $output = $this->shapeInAProcessOfItsOwn(<<<'PHP'
            $shared = new stdClass();
            foreach (range(1, 40) as $_) {
                $level = new stdClass();
                $level->left = $level->right = $shared;
                $shared = $level;
            }
            $self = ['id' => 1];
            $self['left'] = &$self;
            $self['right'] = &$self;
            foreach (['objects' => ['order' => $shared], 'references' => ['order' => $self]] as $what => $data) {
                try {
                    FluentWebhookPlugin\EventData::shape($data);
                    echo "$what: shaped\n";
                } catch (LengthException $e) {
                    echo "$what: ", $e->getMessage(), "\n";
                }
            }
            PHP);
        $this->assertStringContainsString('objects: the event data holds more than 100000 values', $output);
        $this->assertStringContainsString('references: the event data holds more than 100000 values', $output);
    }

    /**
     * Runs $script with EventData loaded in a PHP process of its own, under a memory limit and
     * a time limit (a walk that never ends is a fatal error there, not a hung test), and
     * returns what it printed, errors included.
     */
    private function shapeInAProcessOfItsOwn(string $script): string
    {
        $eventData = dirname(__DIR__) . '/wordpress/fluent-webhook/src/EventData.php';
        $file = tempnam(sys_get_temp_dir(), 'fw-plugin-') . '.php';
        file_put_contents($file, "<?php\nrequire '$eventData';\n$script");
        $command = escapeshellarg(PHP_BINARY) . ' -d memory_limit=128M -d max_execution_time=10 ' . escapeshellarg($file) . ' 2>&1';
        $output = (string) shell_exec($command);
        unlink($file);
        return $output;
    }

    public function testAModelGraphThatRefersToItselfEnds(): void
    {
        $node = new \stdClass();
        $node->self = $node;
        $data = EventData::shape(['order' => ['id' => 1, 'node' => $node]]);
        $depth = 0;
        for ($at = $data['order']['node']; is_array($at); $at = $at['self']) {
            $depth++;
        }
        $this->assertLessThan(40, $depth);
    }
}
