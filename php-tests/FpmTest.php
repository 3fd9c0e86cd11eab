<?php

namespace FluentWebhook\Tests;

/**
 * Debian's php8.2-fpm with the extension, workers as www-data recycled every 25 requests,
 * behind nginx on 127.0.0.1: 2,000 requests that each dispatch one delivery. Every delivery
 * must arrive, each webhook-id once, and no worker may crash. The spool is shared with this
 * test's CLI processes (root), as it is between a site's php-fpm and its cron jobs.
 */
final class FpmTest extends WebhookTestCase
{
    private const REQUESTS = 2000;
    private const CONCURRENCY = 16;

    private string $dir;
    /** @var list<resource> */
    private array $processes = [];

    protected function setUp(): void
    {
        parent::setUp();
        foreach (['php-fpm8.2' => '/usr/sbin/php-fpm8.2', 'nginx' => '/usr/sbin/nginx'] as $name => $path) {
            $this->assertFileExists($path, "$name is needed: run scripts/install-deps.sh");
        }
        $this->dir = sys_get_temp_dir() . '/fw-fpm-' . bin2hex(random_bytes(6));
        mkdir("$this->dir/www", 0755, true);
        chmod($this->dir, 0755);
        // The spool directory is shared: group www-data, setgid, group-writable.
        mkdir("$this->dir/spool", 02770);
        chgrp("$this->dir/spool", 'www-data');
        chmod("$this->dir/spool", 02770);
    }

    protected function tearDown(): void
    {
        foreach ($this->processes as $process) {
            proc_terminate($process, SIGQUIT);
            $deadline = microtime(true) + 10;
            while (proc_get_status($process)['running'] && microtime(true) < $deadline) {
                usleep(20000);
            }
            proc_terminate($process, SIGKILL);
            proc_close($process);
        }
        exec('rm -rf ' . escapeshellarg($this->dir));
        parent::tearDown();
    }

    private function start(array $command, string $log): void
    {
        $this->processes[] = proc_open($command, [0 => ['pipe', 'r'], 1 => ['file', $log, 'a'], 2 => ['file', $log, 'a']], $pipes);
    }

    public function testEveryDeliveryFromRecycledWorkersArrivesOnce(): void
    {
        $so = getenv('FLUENT_WEBHOOK_SO') ?: dirname(__DIR__) . '/target/release/libfluent_webhook.so';
        $spool = "$this->dir/spool/spool.sqlite";
        $url = $this->url('fpm');
        file_put_contents("$this->dir/www/dispatch.php", <<<PHP
            <?php
            \$feed = new FluentWebhook\Feed(['name' => 'fpm', 'request_url' => '$url', 'event_trigger' => ['order_paid_done']], 'fpm');
            echo FluentWebhook\dispatch('order_paid_done', ['n' => (int) (\$_GET['n'] ?? -1), 'pid' => getmypid()], [\$feed])[0];
            PHP);
        file_put_contents("$this->dir/fpm.conf", <<<INI
            [global]
            pid = $this->dir/fpm.pid
            error_log = $this->dir/fpm.log
            daemonize = no
            log_level = notice
            [www]
            user = www-data
            group = www-data
            listen = $this->dir/fpm.sock
            listen.mode = 0666
            pm = static
            pm.max_children = 4
            pm.max_requests = 25
            catch_workers_output = yes
            php_admin_value[error_log] = $this->dir/php-errors.log
            php_admin_flag[log_errors] = on
            INI);
        $port = Receiver::freePort();
        file_put_contents("$this->dir/nginx.conf", <<<CONF
            daemon off;
            worker_processes 1;
            user www-data;
            pid $this->dir/nginx.pid;
            error_log $this->dir/nginx.log;
            events { worker_connections 256; }
            http {
                access_log off;
                client_body_temp_path $this->dir/tmp-body;
                fastcgi_temp_path $this->dir/tmp-fastcgi;
                proxy_temp_path $this->dir/tmp-proxy;
                uwsgi_temp_path $this->dir/tmp-uwsgi;
                scgi_temp_path $this->dir/tmp-scgi;
                server {
                    listen 127.0.0.1:$port;
                    location / {
                        include /etc/nginx/fastcgi_params;
                        fastcgi_param SCRIPT_FILENAME $this->dir/www/dispatch.php;
                        fastcgi_pass unix:$this->dir/fpm.sock;
                    }
                }
            }
            CONF);
        $this->start(['/usr/sbin/php-fpm8.2', '-n', '-d', "extension=$so", '-d', "fluent_webhook.spool_path=$spool",
            '-d', 'fluent_webhook.retry_schedule=1,1,1', '-d', 'fluent_webhook.allowed_networks=127.0.0.0/8', '-y', "$this->dir/fpm.conf", '-F'], "$this->dir/fpm.out");
        $this->start(['/usr/sbin/nginx', '-c', "$this->dir/nginx.conf", '-p', $this->dir], "$this->dir/nginx.out");
        $this->waitForHttp("http://127.0.0.1:$port/?n=-1");

        $ids = $this->requestAll("http://127.0.0.1:$port/?n=");
        $this->assertCount(self::REQUESTS, $ids, 'every request answered with a delivery id');

        // What recycled workers left in the spool is sent by the next process, here a CLI run.
        $cli = self::runPhp(<<<'PHP'
            <?php
            FluentWebhook\resume();
            var_dump(FluentWebhook\flush(60));
            echo json_encode(array_count_values(array_column(FluentWebhook\deliveries(['feed' => 'fpm', 'limit' => 10000]), 'status')));
            PHP, ['fluent_webhook.spool_path' => $spool], 90.0);
        $this->assertSame(0, $cli['exit'], $cli['stderr']);
        [$flushed, $statuses] = explode("\n", $cli['stdout'], 2);
        $this->assertSame('bool(true)', $flushed);
        $this->assertSame(['delivered' => self::REQUESTS + 1], json_decode($statuses, true), 'the workers and this CLI share one spool file');
        $this->assertSame('www-data', posix_getgrgid(filegroup($spool))['name']);

        $requests = self::receiver()->waitForRequests($this->prefix, self::REQUESTS + 1, 60.0);
        $received = array_map(fn ($r) => $r['headers']['webhook-id'], $requests);
        $this->assertCount(count($received), array_unique($received), 'no webhook-id arrives twice');
        $this->assertEqualsCanonicalizing(array_values($ids), array_values(array_intersect($received, $ids)));
        $this->assertCount(self::REQUESTS + 1, $received, 'the warm-up request and the 2,000');
        $workers = count(array_unique(array_map(fn ($r) => json_decode($r['body'], true)['pid'], $requests)));
        $this->assertGreaterThan(self::REQUESTS / 25, $workers, 'workers were recycled');

        $fpmLog = (string) @file_get_contents("$this->dir/fpm.log") . (string) @file_get_contents("$this->dir/fpm.out");
        $this->assertDoesNotMatchRegularExpression('/SIGSEGV|SIGABRT|SIGBUS|exited on signal|core dumped/', $fpmLog);
        $this->assertStringNotContainsString('cannot', (string) @file_get_contents("$this->dir/php-errors.log"));
    }

    private function waitForHttp(string $url): void
    {
        $deadline = microtime(true) + 15;
        while (microtime(true) < $deadline) {
            $answer = @file_get_contents($url);
            if ($answer !== false && str_starts_with($answer, 'msg_')) {
                return;
            }
            usleep(50000);
        }
        $this->fail('php-fpm behind nginx did not answer: ' . @file_get_contents("$this->dir/fpm.log") . @file_get_contents("$this->dir/nginx.log"));
    }

    /** Sends REQUESTS GETs, CONCURRENCY at a time; returns n => delivery id. */
    private function requestAll(string $base): array
    {
        $multi = curl_multi_init();
        $ids = [];
        $next = 0;
        $running = 0;
        $add = function () use (&$next, $multi, $base) {
            $handle = curl_init($base . $next);
            curl_setopt_array($handle, [CURLOPT_RETURNTRANSFER => true, CURLOPT_TIMEOUT => 30, CURLOPT_PRIVATE => (string) $next]);
            curl_multi_add_handle($multi, $handle);
            $next++;
        };
        while ($next < self::CONCURRENCY) {
            $add();
        }
        $deadline = microtime(true) + 120;
        do {
            curl_multi_exec($multi, $running);
            curl_multi_select($multi, 0.1);
            while ($done = curl_multi_info_read($multi)) {
                $handle = $done['handle'];
                $answer = curl_multi_getcontent($handle);
                if (curl_getinfo($handle, CURLINFO_HTTP_CODE) === 200 && str_starts_with((string) $answer, 'msg_')) {
                    $ids[(int) curl_getinfo($handle, CURLINFO_PRIVATE)] = $answer;
                }
                curl_multi_remove_handle($multi, $handle);
                curl_close($handle);
                if ($next < self::REQUESTS) {
                    $add();
                }
            }
        } while (($running > 0 || $next < self::REQUESTS) && microtime(true) < $deadline);
        curl_multi_close($multi);
        return $ids;
    }
}
