<?php

/*
 * A bare length-prefixed msgpack echo: the least a PHP child can do per message. No
 * handshake, no ids, no handlers: read a frame, unpack it, pack the value, write it back.
 * The floor that the polyfork PHP client is compared with (issue 5's "bare exchange").
 */

declare(strict_types=1);

stream_set_read_buffer(STDIN, 0);
while (($head = fread(STDIN, 4)) !== false && $head !== '') {
    while (strlen($head) < 4) {
        $more = fread(STDIN, 4 - strlen($head));
        if ($more === false || $more === '') {
            exit(0);
        }
        $head .= $more;
    }
    $need = unpack('N', $head)[1];
    $pieces = [];
    while ($need > 0) {
        $piece = fread(STDIN, min($need, 1 << 20));
        if ($piece === false || $piece === '') {
            exit(0);
        }
        $pieces[] = $piece;
        $need -= strlen($piece);
    }
    $body = msgpack_pack(msgpack_unpack(implode('', $pieces)));
    fwrite(STDOUT, pack('N', strlen($body)) . $body);
}
