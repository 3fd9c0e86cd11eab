<?php
// A keep-alive webhook endpoint that closes connections as real servers do (Apache's
// KeepAliveTimeout, Node's keepAliveTimeout, nginx's keepalive_requests):
//   php keepalive-server.php PORT LOG ANSWERED
// Each connection gets ANSWERED requests answered (200, kept alive); when the next request
// arrives on it, the connection is reset without that request being read, as happens when a
// server's idle timeout closes a connection just as a request is sent on it. With ANSWERED
// as N:read, that next request is read (and logged) before the reset, as by a server that
// processes a request and fails before answering. Every request read is logged to LOG as a
// JSON line (connection, webhook-id, time).

[$_, $port, $log, $answered] = $argv;
[$answered, $then] = explode(':', $answered) + [1 => 'unread'];
$server = stream_socket_server("tcp://127.0.0.1:$port", $errno, $error);
if (!$server) {
    fwrite(STDERR, "cannot listen on $port: $error\n");
    exit(1);
}
$connections = [];
$served = [];
$buffers = [];
$next = 0;
$deadline = time() + 120;
while (time() < $deadline) {
    $read = array_merge([$server], $connections);
    $write = $except = null;
    if (!@stream_select($read, $write, $except, 1)) {
        continue;
    }
    foreach ($read as $stream) {
        if ($stream === $server) {
            if ($connection = @stream_socket_accept($server, 0)) {
                $id = ++$next;
                $connections[$id] = $connection;
                $served[$id] = 0;
                $buffers[$id] = '';
            }
            continue;
        }
        $id = array_search($stream, $connections, true);
        if ($served[$id] >= (int) $answered && $then === 'unread') {
            // The next request came: reset the connection, the request unread.
            $socket = socket_import_stream($stream);
            socket_set_option($socket, SOL_SOCKET, SO_LINGER, ['l_onoff' => 1, 'l_linger' => 0]);
            socket_close($socket);
            unset($connections[$id]);
            continue;
        }
        $data = fread($stream, 65536);
        if ($data === '' || $data === false) {
            fclose($stream);
            unset($connections[$id]);
            continue;
        }
        $buffers[$id] .= $data;
        $end = strpos($buffers[$id], "\r\n\r\n");
        if ($end === false || !preg_match('/^content-length:\s*(\d+)/mi', substr($buffers[$id], 0, $end), $length)) {
            continue;
        }
        if (strlen($buffers[$id]) < $end + 4 + (int) $length[1]) {
            continue;
        }
        preg_match('/^webhook-id:\s*(\S+)/mi', substr($buffers[$id], 0, $end), $webhookId);
        $buffers[$id] = '';
        $served[$id]++;
        file_put_contents($log, json_encode(['connection' => $id, 'id' => $webhookId[1] ?? null, 'at' => microtime(true)]) . "\n",
            FILE_APPEND | LOCK_EX);
        if ($served[$id] > (int) $answered) {
            // Read, then reset unanswered.
            $socket = socket_import_stream($stream);
            socket_set_option($socket, SOL_SOCKET, SO_LINGER, ['l_onoff' => 1, 'l_linger' => 0]);
            socket_close($socket);
            unset($connections[$id]);
            continue;
        }
        fwrite($stream, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    }
}
