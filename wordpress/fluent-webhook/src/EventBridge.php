<?php

namespace FluentWebhookPlugin;

/**
 * FluentCart's actions → FluentWebhook\dispatch(). Listens at priority 11, as FluentCart's own
 * integrations do, and runs a feed at most once per order in one request even when several of
 * its triggers fire (paid and shipped in the same request, say).
 *
 * It runs inside the store's checkout and payment callbacks: nothing it does may break them.
 * Whatever cannot be sent is recorded (Extension::recordMissed) for the admin notice.
 */
final class EventBridge
{
    public const PRIORITY = 11;

    /** @var array<string, true> "feed id:order id" already dispatched in this request */
    private array $dispatched = [];

    public function __construct(private readonly FeedStore $store)
    {
    }

    public function register(): void
    {
        foreach (array_keys(Extension::events()) as $event) {
            add_action("fluent_cart/$event", fn ($data = []) => $this->handle($event, $data), self::PRIORITY, 1);
        }
    }

    /** @return list<string> the ids of the deliveries queued */
    public function handle(string $event, mixed $data): array
    {
        try {
            return $this->dispatch($event, $data);
        } catch (\Throwable $e) {
            // The order goes on; what was not sent is recorded and shown to the store owner.
            Extension::recordMissed($event, max(1, $this->listening($event)), get_class($e) . ': ' . $e->getMessage());
            return [];
        }
    }

    private function dispatch(string $event, mixed $data): array
    {
        if (!Extension::loaded()) {
            $listening = $this->listening($event);
            if ($listening > 0) {
                Extension::recordMissed($event, $listening, 'the fluent_webhook PHP extension is not loaded');
            }
            return [];
        }
        foreach ($this->store->invalid() as $id => $error) {
            $settings = $this->store->get($id) ?? [];
            if (FeedStore::isEnabled($settings) && in_array($event, (array) ($settings['event_trigger'] ?? []), true)) {
                Extension::recordMissed($event, 1, "feed $id has settings the extension refuses: $error");
            }
        }
        $orderId = EventData::orderId($data);
        $feeds = [];
        foreach ($this->store->feeds() as $id => $feed) {
            $key = "$id:$orderId";
            if ($feed->matches($event) && ($orderId === null || !isset($this->dispatched[$key]))) {
                $feeds[$key] = $feed;
            }
        }
        if (!$feeds) {
            return [];
        }
        $ids = \FluentWebhook\dispatch($event, EventData::shape($data), array_values($feeds));
        if ($orderId !== null) {
            $this->dispatched += array_fill_keys(array_keys($feeds), true);
        }
        return $ids;
    }

    /** Enabled stored feeds that listen to $event, read without the extension. */
    private function listening(string $event): int
    {
        $count = 0;
        foreach ($this->store->all() as $settings) {
            if (FeedStore::isEnabled($settings) && in_array($event, (array) ($settings['event_trigger'] ?? []), true)) {
                $count++;
            }
        }
        return $count;
    }
}
