<?php

namespace FluentWebhookPlugin;

/**
 * The webhook feeds, in one autoloaded option: FluentCart's settings array per feed id, plus
 * the optional signing secret. Settings are validated by the extension before they are stored.
 */
final class FeedStore
{
    private const OPTION = 'fluent_webhook_feeds';

    /**
     * The stored feeds as Feed objects, and those the extension refuses (id => its error),
     * built once per request and site (blog id): a request that switches to another site and
     * fires an event there sends it to that site's feeds.
     *
     * @var array<int, array{feeds: array<int, \FluentWebhook\Feed>, invalid: array<int, string>}>
     */
    private array $built = [];

    /**
     * The id the extension files a feed's deliveries under. The delivery log is shared by
     * every site a PHP pool serves, so the id carries this site (blog id and home URL): one
     * site's admins never see or resend another's deliveries. It carries the install too: the
     * log outlives the feeds of a deleted plugin, and the feeds of its next install start
     * again at 1.
     */
    public static function extensionId(int $id): string
    {
        return self::sitePrefix() . $id;
    }

    /** Whether a delivery log entry's feed id belongs to this site. */
    public static function isThisSite(?string $extensionId): bool
    {
        return $extensionId !== null && str_starts_with($extensionId, self::sitePrefix());
    }

    private static function sitePrefix(): string
    {
        // The install's token: deleting the plugin deletes its feeds, not their deliveries,
        // and feed ids start at 1 again. Feeds an earlier version stored have none.
        $stored = get_option(self::OPTION, []);
        $install = is_array($stored) && is_string($stored['install'] ?? null) ? $stored['install'] : '';
        // The home option as stored, not home_url(): that says https in a request made over
        // HTTPS (an admin under FORCE_SSL_ADMIN, a gateway's callback) to a site whose home is
        // http://, and plugins filter it (a language's path), so one feed had several ids and
        // a cancel missed the deliveries queued under the others.
        $site = get_current_blog_id() . '|' . get_option('home') . ($install === '' ? '' : "|$install");
        return 'wp-' . substr(hash('sha256', $site), 0, 12) . ':';
    }

    /**
     * Why saving $after over $before must cancel the feed's deliveries waiting for a retry,
     * or null when they may still go: a feed switched off in its form sends nothing more, as
     * one switched off in the list.
     */
    public static function cancelReasonForEdit(array $before, array $after): ?string
    {
        if (self::isEnabled($before) && !self::isEnabled($after)) {
            return 'the feed was switched off';
        }
        return self::sendsElsewhere($before, $after) ? "the feed's address, method, headers or secret changed" : null;
    }

    /**
     * Whether saving $after over $before changes where the feed's requests go or what
     * credentials they carry: deliveries already queued keep the request they were made with,
     * so their retries would still go to the old address with the old keys.
     */
    public static function sendsElsewhere(array $before, array $after): bool
    {
        return self::requestTarget($before) !== self::requestTarget($after);
    }

    /**
     * What of a feed's settings reaches the wire as where and with which credentials, compared
     * as sent: strings compared as strings ("0123" is not "123"), header names in any case,
     * header rows in any order, and no rows when headers are off or the row has no name.
     */
    private static function requestTarget(array $settings): array
    {
        $headers = [];
        if (($settings['request_headers'] ?? 'no_headers') === 'custom_headers') {
            foreach ((array) ($settings['custom_header_values'] ?? []) as $row) {
                $row = (array) $row;
                $name = strtolower(trim((string) ($row['header_name'] ?? '')));
                // A row without a name is skipped, as FluentCart skips it: nothing of it is sent.
                if ($name !== '') {
                    $headers[] = $name . ':' . (string) ($row['header_value'] ?? '');
                }
            }
            sort($headers, SORT_STRING);
        }
        return [
            'url' => (string) ($settings['request_url'] ?? ''),
            'method' => strtoupper((string) ($settings['request_method'] ?? '')),
            'headers' => $headers,
            'secret' => (string) ($settings['secret'] ?? ''),
        ];
    }

    /** @return array<int, array<string, mixed>> feed id => settings, in creation order */
    public function all(): array
    {
        $stored = get_option(self::OPTION, []);
        // A row that is not an array was not written by this plugin; it cannot be a feed.
        $feeds = array_filter(is_array($stored['feeds'] ?? null) ? $stored['feeds'] : [], 'is_array');
        ksort($feeds);
        return $feeds;
    }

    /** @return array<string, mixed>|null */
    public function get(int $id): ?array
    {
        return $this->all()[$id] ?? null;
    }

    /**
     * Enabled as FluentCart stores it: true/false, or 'yes'/'no' in its other feeds. Strings are
     * read as the extension reads them, in any case and with blanks around.
     */
    public static function isEnabled(array $settings): bool
    {
        $enabled = $settings['enabled'] ?? true;
        $enabled = is_string($enabled) ? strtolower(trim($enabled)) : $enabled;
        return !in_array($enabled, [false, 'no', 0, '0', 'false'], true);
    }

    /** Stores new settings (already validated) and returns the new feed's id. */
    public function insert(array $settings): int
    {
        $stored = $this->stored();
        if (!isset($stored['next_id']) && !isset($stored['install']) && !$stored['feeds']) {
            // The first feed of this install (or of one after the plugin was deleted): its
            // ids are its own, never those of deleted feeds whose deliveries the log keeps.
            $stored['install'] = bin2hex(random_bytes(8));
        }
        $id = max(1, (int) ($stored['next_id'] ?? 1));
        $stored['feeds'][$id] = $settings;
        $stored['next_id'] = $id + 1;
        $this->save($stored);
        return $id;
    }

    public function update(int $id, array $settings): void
    {
        $stored = $this->stored();
        $stored['feeds'][$id] = $settings;
        $this->save($stored);
    }

    public function setEnabled(int $id, bool $enabled): bool
    {
        $stored = $this->stored();
        if (!isset($stored['feeds'][$id])) {
            return false;
        }
        $stored['feeds'][$id]['enabled'] = $enabled;
        $this->save($stored);
        return true;
    }

    public function delete(int $id): bool
    {
        $stored = $this->stored();
        if (!isset($stored['feeds'][$id])) {
            return false;
        }
        unset($stored['feeds'][$id]);
        $this->save($stored);
        return true;
    }

    /**
     * The stored feeds as the extension's Feed objects. A stored feed the extension refuses
     * (settings saved by another version) is left out and logged, never sent half-configured.
     *
     * @return array<int, \FluentWebhook\Feed>
     */
    public function feeds(): array
    {
        return $this->built()['feeds'];
    }

    /**
     * Stored feeds the extension refuses (settings saved by another version, or edited by
     * hand): they are not sent, and the bridge records every event they miss.
     *
     * @return array<int, string> id => the extension's error
     */
    public function invalid(): array
    {
        return $this->built()['invalid'];
    }

    /** @return array{feeds: array<int, \FluentWebhook\Feed>, invalid: array<int, string>} */
    private function built(): array
    {
        $site = get_current_blog_id();
        if (!isset($this->built[$site])) {
            $built = ['feeds' => [], 'invalid' => []];
            foreach ($this->all() as $id => $settings) {
                try {
                    $built['feeds'][$id] = new \FluentWebhook\Feed($settings, self::extensionId((int) $id));
                } catch (\FluentWebhook\Exception $e) {
                    $built['invalid'][$id] = $e->getMessage();
                }
            }
            $this->built[$site] = $built;
        }
        return $this->built[$site];
    }

    /**
     * A feed switched off, deleted, or sent elsewhere sends nothing more under its old
     * settings: its deliveries waiting for a retry end as failed with the reason (those in
     * flight after their attempt). The log keeps them. Null when the spool refused (the
     * reason goes to PHP's error log): those retries may still be sent, and the caller says so
     * rather than report success.
     */
    public static function cancelPending(int $id, string $reason): ?int
    {
        if (!function_exists('FluentWebhook\\cancel')) {
            return 0;
        }
        try {
            return \FluentWebhook\cancel(self::extensionId($id), $reason);
        } catch (\FluentWebhook\Exception $e) {
            error_log("fluent-webhook: the pending deliveries of feed $id could not be canceled: " . $e->getMessage());
            return null;
        }
    }

    /**
     * Cancels the deliveries waiting for a retry of every stored feed, before the feeds go
     * with the plugin (their ids need the stored install token). A feed whose cancel the spool
     * refuses is logged and the others still canceled: an uninstall cannot be stopped.
     */
    public static function cancelAllPending(string $reason): void
    {
        $ids = array_keys((new self())->all());
        if ($ids && !function_exists('FluentWebhook\\cancel')) {
            // A PHP without the extension (a CLI's, where only php-fpm loads it) cannot cancel,
            // and the ids go with the feeds' install token: named here, the retries can still
            // be canceled where the extension runs, instead of going to the removed addresses.
            error_log('fluent-webhook: the extension is not loaded in this PHP: the deliveries waiting for a retry of feeds '
                . implode(', ', array_map([self::class, 'extensionId'], $ids))
                . ' were not canceled; FluentWebhook\\cancel() with each id cancels them where it is loaded');
            return;
        }
        foreach ($ids as $id) {
            self::cancelPending((int) $id, $reason);
        }
    }

    private function stored(): array
    {
        $stored = get_option(self::OPTION, []);
        $stored = is_array($stored) ? $stored : [];
        $stored['feeds'] = is_array($stored['feeds'] ?? null) ? $stored['feeds'] : [];
        return $stored;
    }

    private function save(array $stored): void
    {
        update_option(self::OPTION, $stored, true);
        unset($this->built[get_current_blog_id()]);
    }
}
