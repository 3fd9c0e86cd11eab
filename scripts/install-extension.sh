#!/usr/bin/env bash
# Copies the built extension into PHP's extension directory and enables it for every PHP
# SAPI Debian has set up (CLI, FPM, Apache), then restarts php8.2-fpm if it runs.
set -euo pipefail
so=${1:?usage: install-extension.sh path/to/libfluent_webhook.so}
ext_dir=$(php-config --extension-dir)
install -m 0644 "$so" "$ext_dir/fluent_webhook.so"
echo "installed $ext_dir/fluent_webhook.so"

# The default spool, shared by php-fpm's www-data workers and CLI runs: group www-data,
# group-writable, setgid so that new files keep the group; no access for other users (rows
# hold signing secrets, API keys in headers and customers' data).
spool_dir=/var/lib/php/fluent-webhook
if getent group www-data >/dev/null; then
  install -d -m 2770 -g www-data "$spool_dir"
else
  install -d -m 2770 "$spool_dir"
fi
echo "spool directory: $spool_dir"

version=$(php-config --version | cut -d. -f1,2)
mods=/etc/php/$version/mods-available
if [ -d "$mods" ] && command -v phpenmod >/dev/null; then
  cat > "$mods/fluent_webhook.ini" <<INI
; fluent-webhook: FluentCart webhooks sent from a background runtime.
; priority=30
extension=fluent_webhook.so
; fluent_webhook.timeout = 15           ; seconds a request may take
; fluent_webhook.connect_timeout = 5    ; seconds to connect
; fluent_webhook.shutdown_timeout = 5   ; seconds a process waits at exit for deliveries in memory
; fluent_webhook.max_concurrency = 32   ; requests in flight at once per process
; fluent_webhook.retry_schedule = 5,300,1800,7200,18000,36000,36000
; fluent_webhook.spool_path = /var/lib/php/fluent-webhook/spool.sqlite
; fluent_webhook.memory_limit = 64M
; fluent_webhook.log_retention_days = 30
INI
  phpenmod -v "$version" fluent_webhook
  echo "enabled for: $(ls -d /etc/php/"$version"/*/conf.d/*fluent_webhook.ini 2>/dev/null | cut -d/ -f5 | tr '\n' ' ')"
  if command -v systemctl >/dev/null && systemctl is-active --quiet "php$version-fpm" 2>/dev/null; then
    systemctl restart "php$version-fpm" && echo "restarted php$version-fpm"
  fi
else
  echo "add 'extension=fluent_webhook.so' to your php.ini to enable it"
fi
php -m | grep -qx fluent_webhook && echo "php -m lists fluent_webhook"
