<?php

namespace FluentWebhookPlugin;

/**
 * FluentCart's actions → FluentWebhook\dispatch(). Listens at priority 11, as FluentCart's own
 * integrations do, and runs a feed at most once per order in one request even when several of
 * its triggers fire (paid and shipped in the same request, say).
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
        if (!Extension::loaded()) {
            $listening = $this->listeningWithoutExtension($event);
            if ($listening > 0) {
                Extension::recordMissed($event, $listening, 'the fluent_webhook PHP extension is not loaded');
            }
            return [];
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
        try {
            $ids = \FluentWebhook\dispatch($event, EventData::shape($data), array_values($feeds));
        } catch (\FluentWebhook\Exception $e) {
            // The order goes on; what was not sent is recorded and shown to the store owner.
            Extension::recordMissed($event, count($feeds), $e->getMessage());
            return [];
        }
        if ($orderId !== null) {
            $this->dispatched += array_fill_keys(array_keys($feeds), true);
        }
        return $ids;
    }

    private function listeningWithoutExtension(string $event): int
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
