#!/usr/bin/env bash
# End-to-end test of the WordPress plugin: Debian's wordpress with MariaDB, served by php8.2-fpm
# (the extension loaded) behind nginx on 127.0.0.1, a webhook receiver on 127.0.0.1, and Debian's
# Chromium driven headless by playwright-core through the admin screens (e2e/admin.test.mjs).
#
#   e2e/run.sh            (make e2e) as root on Debian 12; installs what is missing
#
# Everything it starts listens on 127.0.0.1 or a unix socket under $E2E_DIR and is stopped on
# exit. Screenshots of each screen go to $E2E_SCREENSHOTS (default target/e2e-screenshots).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SO=${FLUENT_WEBHOOK_SO:-$ROOT/target/release/libfluent_webhook.so}
E2E_DIR=${E2E_DIR:-/tmp/fluent-webhook-e2e}
export E2E_SCREENSHOTS=${E2E_SCREENSHOTS:-$ROOT/target/e2e-screenshots}
WP_CONFIG_NAME=fluent-webhook-e2e
WP_CONFIG=/etc/wordpress/config-$WP_CONFIG_NAME.php

step() { printf '\n== e2e: %s\n' "$*"; }
fail() { printf '\n!! e2e FAILED: %s\n' "$*" >&2; exit 1; }

step "packages"
packages=()
for package in wordpress mariadb-server php8.2-fpm php8.2-mysql nginx chromium sqlite3; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || packages+=("$package")
done
command -v npm >/dev/null || packages+=(nodejs npm)
if ((${#packages[@]})); then
  # The packages must not start system services: the test starts its own, on 127.0.0.1.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null || { rm -f /usr/sbin/policy-rc.d; exit 1; }
    rm -f /usr/sbin/policy-rc.d
  else
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${packages[@]}" >/dev/null
  fi
fi
[ -f "$SO" ] || fail "the extension is not built: run make build ($SO missing)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 18 ] || fail "Node.js 18 or later is needed for playwright-core (found $(node --version))"
(cd e2e && { [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund --loglevel=error; })

free_port() { php -n -r '$s = stream_socket_server("tcp://127.0.0.1:0"); echo explode(":", stream_socket_get_name($s, false))[1];'; }

pids=()
cleanup() {
  local status=$?
  # Each started under setsid leads a process group of its own: the group goes too (PHP's
  # built-in server's workers outlived their leader and kept the receiver's port).
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  sleep 0.5
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true; done
  rm -f "$WP_CONFIG"
  if [ $status -ne 0 ]; then
    for log in php-errors.log fpm.log nginx-error.log mariadb.log wp-debug.log; do
      [ -s "$E2E_DIR/$log" ] && { echo "--- $log (last 40 lines)"; tail -n 40 "$E2E_DIR/$log"; }
    done
  fi
  exit $status
}
trap cleanup EXIT
start() { local log=$1; shift; setsid "$@" >>"$E2E_DIR/$log" 2>&1 & pids+=($!); }
wait_for() { # description, command...
  local what=$1; shift
  for _ in $(seq 1 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  fail "$what did not start within 20 s"
}

step "directories in $E2E_DIR"
rm -rf "$E2E_DIR"
mkdir -p "$E2E_DIR"/{wp-content/plugins,wp-content/themes,wp-content/mu-plugins,wp-content/uploads,spool,receiver,nginx-tmp}
chmod 755 "$E2E_DIR"
cp -r wordpress/fluent-webhook "$E2E_DIR/wp-content/plugins/"
cp e2e/mu-plugins/*.php "$E2E_DIR/wp-content/mu-plugins/"
cp fixtures/events/*.json "$E2E_DIR/"
ln -s /usr/share/wordpress/wp-content/themes/twentytwentythree "$E2E_DIR/wp-content/themes/"
cp "$SO" "$E2E_DIR/fluent_webhook.so"
chown -R www-data:www-data "$E2E_DIR/wp-content" "$E2E_DIR/spool"
touch "$E2E_DIR/php-errors.log" "$E2E_DIR/wp-debug.log" && chown www-data "$E2E_DIR/php-errors.log" "$E2E_DIR/wp-debug.log"

# PHP's configuration without any fluent_webhook.ini that `make install` may have enabled: the
# CLI runs without the extension, php-fpm loads the one just built.
for sapi in cli fpm; do
  mkdir -p "$E2E_DIR/conf.d-$sapi"
  for ini in /etc/php/8.2/$sapi/conf.d/*.ini; do
    case "$ini" in *fluent_webhook*) ;; *) ln -s "$ini" "$E2E_DIR/conf.d-$sapi/" ;; esac
  done
done
export PHP_INI_SCAN_DIR="$E2E_DIR/conf.d-cli"

step "MariaDB on a unix socket only"
mariadb-install-db --no-defaults --datadir="$E2E_DIR/mysql" --user=root --auth-root-authentication-method=socket \
  --skip-test-db >"$E2E_DIR/mariadb-install.log" 2>&1 || fail "mariadb-install-db: $(tail -5 "$E2E_DIR/mariadb-install.log")"
start mariadb.log /usr/sbin/mariadbd --no-defaults --datadir="$E2E_DIR/mysql" --socket="$E2E_DIR/mysqld.sock" \
  --pid-file="$E2E_DIR/mysqld.pid" --skip-networking --user=root --log-error="$E2E_DIR/mariadb.log"
wait_for "MariaDB" mariadb --no-defaults --socket="$E2E_DIR/mysqld.sock" -e 'SELECT 1'
DB_PASSWORD=$(php -n -r 'echo bin2hex(random_bytes(12));')
mariadb --no-defaults --socket="$E2E_DIR/mysqld.sock" -e "CREATE DATABASE wordpress;
  CREATE USER 'wordpress'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
  GRANT ALL ON wordpress.* TO 'wordpress'@'localhost';"

WP_PORT=$(free_port)
RECEIVER_PORT=$(free_port)
export WP_URL="http://127.0.0.1:$WP_PORT"
export RECEIVER_URL="http://127.0.0.1:$RECEIVER_PORT"
export RECEIVER_LOG="$E2E_DIR/receiver/requests.jsonl"
export E2E_SPOOL="$E2E_DIR/spool/spool.sqlite"
export E2E_TOKEN=$(php -n -r 'echo bin2hex(random_bytes(16));')
export WP_ADMIN_USER=admin
export WP_ADMIN_PASSWORD=$(php -n -r 'echo bin2hex(random_bytes(12));')

step "WordPress config ($WP_CONFIG) and install"
mkdir -p /etc/wordpress
salts=$(php -n -r 'foreach (["AUTH_KEY","SECURE_AUTH_KEY","LOGGED_IN_KEY","NONCE_KEY","AUTH_SALT","SECURE_AUTH_SALT","LOGGED_IN_SALT","NONCE_SALT"] as $k) echo "define(\"$k\", \"", bin2hex(random_bytes(32)), "\");\n";')
cat >"$WP_CONFIG" <<PHP
<?php
// Written by fluent-webhook's e2e/run.sh for its test site; removed when the test ends.
define('DB_NAME', 'wordpress');
define('DB_USER', 'wordpress');
define('DB_PASSWORD', '$DB_PASSWORD');
define('DB_HOST', 'localhost:$E2E_DIR/mysqld.sock');
define('WP_HOME', '$WP_URL');
define('WP_SITEURL', '$WP_URL');
define('WP_CONTENT_DIR', '$E2E_DIR/wp-content');
define('WP_CONTENT_URL', '$WP_URL/wp-content');
define('WP_DEBUG', true);
define('WP_DEBUG_DISPLAY', false);
define('WP_DEBUG_LOG', '$E2E_DIR/wp-debug.log');
define('DISABLE_WP_CRON', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('FLUENT_WEBHOOK_E2E_TOKEN', '$E2E_TOKEN');
define('FLUENT_WEBHOOK_E2E_FIXTURES', '$E2E_DIR');
$salts
PHP
chown root:www-data "$WP_CONFIG" && chmod 640 "$WP_CONFIG"
WORDPRESS_CONFIG=$WP_CONFIG_NAME php e2e/install-wordpress.php "$WP_URL" "$WP_ADMIN_USER" "$WP_ADMIN_PASSWORD" 2>"$E2E_DIR/install.log" \
  || fail "WordPress could not be installed: $(cat "$E2E_DIR/install.log")"

step "php-fpm with the extension, nginx on $WP_URL"
cat >"$E2E_DIR/fpm.conf" <<INI
[global]
pid = $E2E_DIR/fpm.pid
error_log = $E2E_DIR/fpm.log
daemonize = no
[www]
user = www-data
group = www-data
listen = $E2E_DIR/fpm.sock
listen.mode = 0666
pm = static
pm.max_children = 4
catch_workers_output = yes
clear_env = no
php_admin_value[error_log] = $E2E_DIR/php-errors.log
php_admin_flag[log_errors] = on
INI
start fpm.out env PHP_INI_SCAN_DIR="$E2E_DIR/conf.d-fpm" /usr/sbin/php-fpm8.2 -F -y "$E2E_DIR/fpm.conf" -d "extension=$E2E_DIR/fluent_webhook.so" \
  -d "fluent_webhook.spool_path=$E2E_SPOOL" -d fluent_webhook.allowed_networks=127.0.0.0/8 \
  -d fluent_webhook.retry_schedule=60
cat >"$E2E_DIR/nginx.conf" <<CONF
daemon off;
worker_processes 1;
user www-data;
pid $E2E_DIR/nginx.pid;
error_log $E2E_DIR/nginx-error.log;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path $E2E_DIR/nginx-tmp/body;
    fastcgi_temp_path $E2E_DIR/nginx-tmp/fastcgi;
    proxy_temp_path $E2E_DIR/nginx-tmp/proxy;
    uwsgi_temp_path $E2E_DIR/nginx-tmp/uwsgi;
    scgi_temp_path $E2E_DIR/nginx-tmp/scgi;
    server {
        listen 127.0.0.1:$WP_PORT;
        root /usr/share/wordpress;
        index index.php;
        location ^~ /wp-content/ { alias $E2E_DIR/wp-content/; }
        location / { try_files \$uri \$uri/ /index.php?\$args; }
        location ~ \.php$ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_param WORDPRESS_CONFIG $WP_CONFIG_NAME;
            # Debian's fastcgi_params pass \$host, without the port that WordPress's URLs need.
            fastcgi_param HTTP_HOST \$host:\$server_port;
            fastcgi_pass unix:$E2E_DIR/fpm.sock;
        }
    }
}
CONF
start nginx.out /usr/sbin/nginx -c "$E2E_DIR/nginx.conf" -p "$E2E_DIR"
wait_for "WordPress behind nginx" curl -fsS -o /dev/null "$WP_URL/wp-login.php"

step "receiver on $RECEIVER_URL"
touch "$RECEIVER_LOG"
FLUENT_RECEIVER_DIR="$E2E_DIR/receiver" PHP_CLI_SERVER_WORKERS=4 \
  start receiver.log php -n -S "127.0.0.1:$RECEIVER_PORT" php-tests/support/receiver-router.php
wait_for "the receiver" curl -fsS "$RECEIVER_URL/__health"

step "an event while the extension is missing is recorded, not dropped silently"
WORDPRESS_CONFIG=$WP_CONFIG_NAME php e2e/without-extension.php || fail "the plugin without the extension"

if [ -n "${E2E_PAUSE:-}" ]; then # debugging: leave the site up for E2E_PAUSE seconds
  env | grep -E '^(WP_|RECEIVER_|E2E_)' > "$E2E_DIR/env"
  step "paused for $E2E_PAUSE s; environment in $E2E_DIR/env"
  sleep "$E2E_PAUSE"
fi
step "the browser test"
mkdir -p "$E2E_SCREENSHOTS"
node e2e/admin.test.mjs || fail "the browser test (screenshots in $E2E_SCREENSHOTS)"
grep -E 'PHP (Fatal|Parse)|PHP (Warning|Notice|Deprecated).*fluent[-_]webhook' "$E2E_DIR/php-errors.log" "$E2E_DIR/wp-debug.log" \
  && fail "PHP errors were logged (above)"
grep -E 'SIGSEGV|SIGABRT|exited on signal' "$E2E_DIR/fpm.log" && fail "a php-fpm worker crashed (above)"
step "passed; screenshots:"
ls -l "$E2E_SCREENSHOTS"
