<?php

declare(strict_types=1);

namespace Polyfork;

/**
 * A listening socket this process inherited (SPEC 1.2: a polyfork cluster sharing its
 * sockets with its workers, or systemd socket activation). $socket is a PHP socket stream:
 * use it with stream_socket_accept() and stream_select() as one from stream_socket_server().
 */
final class ListenSocket
{
    /**
     * @param resource $socket the listening socket stream
     * @param string   $name   its name from LISTEN_FDNAMES ("unknown" when none was given)
     * @param int      $fd     the descriptor it was passed on (3 for the first)
     */
    public function __construct(
        public readonly mixed $socket,
        public readonly string $name,
        public readonly int $fd,
    ) {
    }
}
