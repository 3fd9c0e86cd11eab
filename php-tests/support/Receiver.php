<?php

namespace FluentWebhook\Tests;

/**
 * A real HTTP receiver on 127.0.0.1: PHP's built-in server with several workers (so one held
 * request does not block the others) and receiver-router.php recording every request.
 */
final class Receiver
{
    private $process;
    public readonly int $port;
    public readonly string $dir;

    public function __construct(?int $port = null)
    {
        $this->dir = sys_get_temp_dir() . '/fluent-webhook-receiver-' . getmypid() . '-' . bin2hex(random_bytes(4));
        mkdir($this->dir, 0777, true);
        touch("$this->dir/requests.jsonl");
        $this->port = $port ?? self::freePort();
        $env = getenv();
        $env['FLUENT_RECEIVER_DIR'] = $this->dir;
        $env['PHP_CLI_SERVER_WORKERS'] = '8';
        // -n: the receiver must not load the extension under test. setsid: the server forks
        // workers, and stop() ends the whole process group.
        $command = ['setsid', PHP_BINARY, '-n', '-S', "127.0.0.1:$this->port", __DIR__ . '/receiver-router.php'];
        $this->process = proc_open($command, [0 => ['pipe', 'r'], 1 => ['file', "$this->dir/server.log", 'a'], 2 => ['file', "$this->dir/server.log", 'a']], $pipes, null, $env);
        $deadline = microtime(true) + 10;
        while (@file_get_contents("http://127.0.0.1:$this->port/__health") !== 'ok') {
            if (microtime(true) > $deadline) {
                throw new \RuntimeException("receiver did not start: " . @file_get_contents("$this->dir/server.log"));
            }
            usleep(20000);
        }
    }

    public function url(string $path): string
    {
        return "http://127.0.0.1:$this->port/" . ltrim($path, '/');
    }

    /** Every recorded line whose path starts with $prefix, in arrival order. */
    public function records(string $prefix = '/'): array
    {
        $records = [];
        foreach (file("$this->dir/requests.jsonl", FILE_IGNORE_NEW_LINES | FILE_SKIP_EMPTY_LINES) as $line) {
            $record = json_decode($line, true);
            if (str_starts_with($record['path'], $prefix)) {
                if (isset($record['body'])) {
                    $record['body'] = base64_decode($record['body']);
                    $record['headers'] = array_change_key_case($record['headers'], CASE_LOWER);
                }
                $records[] = $record;
            }
        }
        return $records;
    }

    /** Requests (not "answered" lines) under $prefix. */
    public function requests(string $prefix = '/'): array
    {
        return array_values(array_filter($this->records($prefix), fn ($r) => $r['phase'] === 'arrived'));
    }

    /** Polls until $count requests arrived under $prefix, at most $timeout seconds. */
    public function waitForRequests(string $prefix, int $count, float $timeout = 10.0): array
    {
        $deadline = microtime(true) + $timeout;
        do {
            $requests = $this->requests($prefix);
            if (count($requests) >= $count) {
                return $requests;
            }
            usleep(10000);
        } while (microtime(true) < $deadline);
        return $requests;
    }

    /** Lets every request held at /hold/$name answer. */
    public function release(string $name): void
    {
        touch("$this->dir/release-$name");
    }

    public function stop(): void
    {
        if (is_resource($this->process)) {
            $status = proc_get_status($this->process);
            posix_kill(-$status['pid'], SIGTERM);
            foreach (glob("$this->dir/release-*") ?: [] as $f) {
                unlink($f);
            }
            proc_close($this->process);
        }
    }

    public static function freePort(): int
    {
        $server = stream_socket_server('tcp://127.0.0.1:0');
        $name = stream_socket_get_name($server, false);
        fclose($server);
        return (int) substr($name, strrpos($name, ':') + 1);
    }
}
