#!/usr/bin/env bash
# Copies the built extension into PHP's extension directory and enables it for every PHP
# SAPI Debian has set up (CLI, FPM, Apache), then restarts php8.2-fpm if it runs.
set -euo pipefail
so=${1:?usage: install-extension.sh path/to/libfluent_webhook.so}
ext_dir=$(php-config --extension-dir)
install -m 0644 "$so" "$ext_dir/fluent_webhook.so"
echo "installed $ext_dir/fluent_webhook.so"

version=$(php-config --version | cut -d. -f1,2)
mods=/etc/php/$version/mods-available
if [ -d "$mods" ] && command -v phpenmod >/dev/null; then
  cat > "$mods/fluent_webhook.ini" <<INI
; fluent-webhook: FluentCart webhooks sent from a background runtime.
; priority=30
extension=fluent_webhook.so
; fluent_webhook.timeout = 15           ; seconds a request may take
; fluent_webhook.connect_timeout = 5    ; seconds to connect
; fluent_webhook.shutdown_timeout = 5   ; seconds a process waits at exit for queued deliveries
; fluent_webhook.max_concurrency = 32   ; requests in flight at once per process
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
