#!/usr/bin/env bash
# Seeds the fuzz corpora with realistic inputs: the sample events and FluentCart-shaped
# settings, so that libFuzzer starts from valid JSON instead of random bytes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=$root/fuzz/corpus
mkdir -p "$corpus/settings" "$corpus/smartcode" "$corpus/encoders"
for event in "$root"/fixtures/events/*.json; do
  name=$(basename "$event" .json)
  cp "$event" "$corpus/encoders/$name.json"
  { echo 'Order #{{order.id}} {{order.total_amount}} {{order.billing.email|none}} ##order.status## {{order.note||concat_first|Note: }}'; cat "$event"; } \
    > "$corpus/smartcode/$name.txt"
done
cat > "$corpus/settings/full.json" <<'JSON'
{"name":"Sync Orders","request_url":"https://books.example.com/hook?src=shop","request_method":"PUT",
 "request_format":"FORM","request_headers":"custom_headers",
 "custom_header_values":[{"header_name":"X-Api-Key","header_value":"k"},{"header_name":"","header_value":""}],
 "request_body":"selected_fields","selected_field_values":[{"field_name":"email","field_value":"{{order.billing.email}}"}],
 "event_trigger":["order_paid_done"],"enabled":"yes","secret":"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}
JSON
echo '{"name":"Slack","request_url":"http://h.test/","event_trigger":["order_paid_done"]}' > "$corpus/settings/minimal.json"
