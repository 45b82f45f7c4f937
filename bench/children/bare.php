<?php

/*
 * A bare length-prefixed msgpack echo: the least a PHP child can do per message. No
 * handshake, no ids, no handlers: read a frame, unpack it, pack the value, write it back.
 * The floor that the polyfork PHP client is compared with (the "bare exchange").
 */

declare(strict_types=1);

while (($head = stream_get_contents(STDIN, 4)) !== false && strlen($head) === 4) {
    $body = msgpack_pack(msgpack_unpack(stream_get_contents(STDIN, unpack('N', $head)[1])));
    fwrite(STDOUT, pack('N', strlen($body)) . $body);
}
