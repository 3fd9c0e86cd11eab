<?php
// A webhook endpoint that misbehaves on purpose, one connection at a time:
//   php fault-server.php PORT LOG SCRIPT
// SCRIPT is a comma-separated list of answers, one per request, the last repeated:
//   200, 404, 500, 410 ...  answer with that status
//   429:N                   429 with Retry-After: N
//   reset                   read the request, then reset the connection without answering
//   partial                 send half a status line, then reset the connection
//   slow:S                  wait S seconds, then answer 200
//   trickle:S[:STATUS]      answer 200 (or STATUS) at once, then send its 100-byte body over S seconds
//   redirect:N              301 with a Location of N bytes
// Each request is logged to LOG as a JSON line (method, path, headers, body, answer).

[$_, $port, $log, $script] = $argv;
$answers = explode(',', $script);
$server = stream_socket_server("tcp://127.0.0.1:$port", $errno, $error);
if (!$server) {
    fwrite(STDERR, "cannot listen on $port: $error\n");
    exit(1);
}
$count = 0;
while ($connection = @stream_socket_accept($server, 60)) {
    stream_set_timeout($connection, 5);
    $head = '';
    while (!str_contains($head, "\r\n\r\n") && ($line = fgets($connection)) !== false) {
        $head .= $line;
    }
    if (trim($head) === '') {
        // A connection that only checked the port is up.
        fclose($connection);
        continue;
    }
    [$requestLine, $headerText] = explode("\r\n", $head, 2) + [1 => ''];
    $headers = [];
    foreach (explode("\r\n", trim($headerText)) as $headerLine) {
        if (str_contains($headerLine, ':')) {
            [$name, $value] = explode(':', $headerLine, 2);
            $headers[strtolower(trim($name))] = trim($value);
        }
    }
    $body = '';
    $length = (int) ($headers['content-length'] ?? 0);
    while (strlen($body) < $length && !feof($connection)) {
        $body .= fread($connection, $length - strlen($body));
    }
    $answer = $answers[min($count, count($answers) - 1)];
    $count++;
    [$method, $path] = explode(' ', $requestLine) + ['', ''];
    file_put_contents($log, json_encode(['method' => $method, 'path' => $path, 'headers' => $headers,
        'body' => $body, 'answer' => $answer, 'at' => microtime(true)]) . "\n", FILE_APPEND | LOCK_EX);

    if ($answer === 'partial') {
        fwrite($connection, 'HTTP/1.1 20');
        fflush($connection);
        $answer = 'reset';
    }
    if ($answer === 'reset') {
        $socket = socket_import_stream($connection);
        socket_set_option($socket, SOL_SOCKET, SO_LINGER, ['l_onoff' => 1, 'l_linger' => 0]);
        socket_close($socket);
        continue;
    }
    if (str_starts_with($answer, 'trickle:')) {
        [, $seconds, $status] = explode(':', $answer) + [2 => '200'];
        fwrite($connection, "HTTP/1.1 $status X\r\nContent-Length: 100\r\nConnection: close\r\n\r\n");
        for ($sent = 0; $sent < 100; $sent++) {
            if (@fwrite($connection, 't') === false) {
                break;
            }
            usleep((int) ((float) $seconds * 1e4));
        }
        fclose($connection);
        continue;
    }
    $extra = '';
    $status = (int) $answer;
    if (str_starts_with($answer, 'slow:')) {
        usleep((int) ((float) substr($answer, 5) * 1e6));
        $status = 200;
    } elseif (str_starts_with($answer, 'redirect:')) {
        $status = 301;
        $extra = 'Location: http://elsewhere.test/' . str_repeat('a', (int) substr($answer, 9) - 22) . "\r\n";
    } elseif (str_starts_with($answer, '429:')) {
        $status = 429;
        $extra = 'Retry-After: ' . substr($answer, 4) . "\r\n";
    }
    $reply = "answer $count: $status";
    @fwrite($connection, "HTTP/1.1 $status X\r\n{$extra}Content-Length: " . strlen($reply) . "\r\nConnection: close\r\n\r\n$reply");
    fclose($connection);
}
