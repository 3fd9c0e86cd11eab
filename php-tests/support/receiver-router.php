<?php
// A webhook receiver for PHP's built-in server: records every request (method, path, query,
// headers, raw body) as one JSON line in $FLUENT_RECEIVER_DIR/requests.jsonl.
//
// Paths that change the answer (anything else answers 200 "ok"):
//   /status/CODE[/...]  answers CODE (a 3xx also sends Location: http://127.0.0.1:9/elsewhere)
//   /hold/NAME[/...]    waits until the file release-NAME exists (at most 30 s), then answers
//                       200 and records a second line with "phase": "answered"
//   /sleep/SECONDS/...  sleeps, then answers 200
//   /big/BYTES/...      answers 200 with a body of BYTES bytes

$dir = getenv('FLUENT_RECEIVER_DIR');
$path = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
if ($path === '/__health') {
    echo 'ok';
    return true;
}

$record = [
    'phase' => 'arrived',
    'seq' => hrtime(true),
    'method' => $_SERVER['REQUEST_METHOD'],
    'path' => $path,
    'query' => $_SERVER['QUERY_STRING'] ?? '',
    'headers' => getallheaders(),
    'body' => base64_encode(file_get_contents('php://input')),
];
$append = function (array $record) use ($dir) {
    file_put_contents("$dir/requests.jsonl", json_encode($record, JSON_INVALID_UTF8_SUBSTITUTE) . "\n", FILE_APPEND | LOCK_EX);
};
$append($record);

$parts = explode('/', trim($path, '/'));
if ($parts[0] === 'status' && isset($parts[1])) {
    $code = (int) $parts[1];
    http_response_code($code);
    if ($code >= 300 && $code < 400) {
        header('Location: http://127.0.0.1:9/elsewhere');
    }
    echo "status $code";
    return true;
}
if ($parts[0] === 'hold' && isset($parts[1])) {
    $release = "$dir/release-" . basename($parts[1]);
    $deadline = microtime(true) + 30;
    while (!file_exists($release) && microtime(true) < $deadline) {
        usleep(10000);
    }
    $append(['phase' => 'answered', 'seq' => hrtime(true), 'path' => $path, 'released' => file_exists($release)]);
    echo 'released';
    return true;
}
if ($parts[0] === 'big' && isset($parts[1])) {
    $left = (int) $parts[1];
    header("Content-Length: $left");
    while ($left > 0) {
        $chunk = min($left, 65536);
        echo str_repeat('b', $chunk);
        $left -= $chunk;
    }
    return true;
}
if ($parts[0] === 'sleep' && isset($parts[1])) {
    usleep((int) ((float) $parts[1] * 1e6));
}
echo 'ok';
return true;
