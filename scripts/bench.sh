#!/usr/bin/env bash
# `make bench`: starts nginx answering 204 on 127.0.0.1 (access log off, keep-alive on) and a
# PHP endpoint that answers after 500 ms, then runs scripts/bench.php against them, or the
# script given (`make bench-floors`: scripts/bench-floors.php).
# BENCH_SCALE=0.05 makes a smoke run of a few seconds.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$root/target/bench
rm -rf "$dir"
mkdir -p "$dir/tmp"
port() { php -r '$s = stream_socket_server("tcp://127.0.0.1:0"); $n = stream_socket_get_name($s, false); echo substr($n, strrpos($n, ":") + 1);'; }
nginx_port=$(port)
slow_port=$(port)
down_port=$(port)
cat > "$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/nginx.log;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/tmp;
    client_body_buffer_size 64k;
    server {
        listen 127.0.0.1:$nginx_port;
        location / { return 204; }
    }
}
CONF
echo '<?php usleep(500000); http_response_code(204);' > "$dir/slow.php"
/usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" &
nginx_pid=$!
PHP_CLI_SERVER_WORKERS=16 setsid php -n -S "127.0.0.1:$slow_port" "$dir/slow.php" > "$dir/slow.log" 2>&1 &
slow_pid=$!
trap 'kill $nginx_pid 2>/dev/null; kill -- -$slow_pid 2>/dev/null || kill $slow_pid 2>/dev/null' EXIT
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$nginx_port/" && curl -s -o /dev/null "http://127.0.0.1:$slow_port/" && break
  sleep 0.1
done
# The builds just before leave GBs of files for the kernel to write back, on the same 2 cores
# as the first figures: dispatch() read 10-12 µs right after a build, 7 µs without one.
sync
BENCH_NGINX="http://127.0.0.1:$nginx_port/hook" BENCH_NGINX_PID="$dir/nginx.pid" BENCH_SLOW="http://127.0.0.1:$slow_port/hook" \
BENCH_DOWN="http://127.0.0.1:$down_port/hook" FLUENT_WEBHOOK_SPOOL="$dir/spool.sqlite" \
  "$root/scripts/php-dev" -d fluent_webhook.retry_schedule= -d memory_limit=2G "${1:-$root/scripts/bench.php}"
