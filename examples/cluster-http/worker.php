<?php

/*
 * An HTTP worker of the cluster in PHP: a small blocking HTTP/1.1 server on the listening
 * socket the host passes (Polyfork::listenSocket(), SPEC 1.2), one request per connection.
 *
 * With a polyfork channel (polyfork cluster -channel fd) it serves the socket from
 * Polyfork::run()'s loop (Polyfork::watch()) and stops on the host's $stop; without one
 * (-channel none) it serves from its own stream_select() loop and stops on SIGTERM. It
 * handles one connection at a time, so when it stops there is nothing left to answer.
 */

declare(strict_types=1);

require dirname(__DIR__, 2) . '/clients/php/autoload.php';

use Polyfork\Polyfork;

$server = Polyfork::listenSocket();
if ($server === null) {
    fwrite(STDERR, "worker.php: no listening socket was passed (LISTEN_FDS, LISTEN_PID): run it under polyfork cluster\n");
    exit(2);
}

/** Takes one connection, unless another worker took it first, and answers it. */
$serve = static function ($server): void {
    $conn = @stream_socket_accept($server, 0);
    if ($conn === false) {
        return;
    }
    stream_set_timeout($conn, 10);
    $head = '';
    while (!str_contains($head, "\r\n\r\n") && \strlen($head) < 65536) {
        $line = fgets($conn, 8192);
        if ($line === false) {
            fclose($conn); // the client went away
            return;
        }
        $head .= $line;
    }
    $body = sprintf("hello from php worker %d\n", getmypid());
    fwrite($conn, "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "
        . \strlen($body) . "\r\nConnection: close\r\n\r\n" . $body);
    fclose($conn);
};

if (getenv('POLYFORK_PROTOCOL') !== false) {
    Polyfork::watch($server, $serve);
    Polyfork::run(); // until $stop
    exit(0);
}

$stop = false;
pcntl_async_signals(true);
pcntl_signal(SIGTERM, static function () use (&$stop): void {
    $stop = true;
});
while (!$stop) {
    $read = [$server];
    $none = null;
    if (@stream_select($read, $none, $none, 1) > 0) {
        $serve($server);
    }
}
