<?php

/*
 * An HTTP worker on an inherited listening socket (SPEC 1.2).
 *
 * Under a polyfork host that shares a listening socket with its workers (a cluster), it
 * serves HTTP on the socket and the host's calls in one loop (Polyfork::watch()), and stops
 * on the host's $stop. Without a host it takes the socket the same way (systemd socket
 * activation, or any launcher that sets LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES) and
 * serves until it is killed:
 *
 *     systemd-socket-activate -l 127.0.0.1:8080 php clients/php/examples/http_worker.php
 *
 * A minimal blocking HTTP/1.1 server: one request per connection (Connection: close), a
 * body read when Content-Length says so, a plain-text answer naming the worker's pid.
 */

declare(strict_types=1);

require dirname(__DIR__) . '/autoload.php';

use Polyfork\Polyfork;

$server = Polyfork::listenSocket('http') ?? Polyfork::listenSocket();
if ($server === null) {
    fwrite(STDERR, "http_worker: no listening socket was passed (LISTEN_FDS, LISTEN_PID): run it under a polyfork cluster or systemd socket activation\n");
    exit(2);
}

$served = 0;

/** Accepts one connection if there is one (another worker may take it first) and answers it. */
$serve = static function ($server) use (&$served): void {
    $conn = @stream_socket_accept($server, 0);
    if ($conn === false) {
        return;
    }
    stream_set_timeout($conn, 10);
    $head = '';
    while (!str_contains($head, "\r\n\r\n") && \strlen($head) < 65536) {
        $line = fgets($conn, 8192);
        if ($line === false) {
            fclose($conn); // the client went away, or sent nothing within 10 s
            return;
        }
        $head .= $line;
    }
    $lines = explode("\r\n", $head);
    [$method, $target] = explode(' ', $lines[0]) + ['', ''];
    $length = 0;
    foreach ($lines as $line) {
        if (stripos($line, 'content-length:') === 0) {
            $length = max(0, min((int) trim(substr($line, 15)), 1 << 20));
        }
    }
    $body = $length > 0 ? (string) stream_get_contents($conn, $length) : '';
    $served++;
    $text = sprintf("hello from php worker %d: %s %s (%d bytes of body)\n", getmypid(), $method, $target, \strlen($body));
    fwrite($conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\n"
        . 'Content-Length: ' . \strlen($text) . "\r\nConnection: close\r\n\r\n" . $text);
    fclose($conn);
};

if (getenv('POLYFORK_PROTOCOL') !== false) {
    // Under a polyfork host: the host may ask how many requests this worker served.
    Polyfork::handle('served', static function () use (&$served): int {
        return $served;
    });
    Polyfork::watch($server, $serve);
    Polyfork::run(); // until $stop: then the script ends and the socket is closed
} else {
    while (true) {
        $read = [$server];
        $none = null;
        if (@stream_select($read, $none, $none, null) > 0) {
            $serve($server);
        }
    }
}
