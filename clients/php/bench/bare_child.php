<?php

/*
 * Baseline for bench/roundtrip.php: the least a PHP child can do per request, a blocking
 * length-prefixed msgpack echo with no checks, no handshake and no dispatch.
 */

declare(strict_types=1);

fwrite(STDOUT, "\x00\x00\x00\x01\xc0"); // stands in for $ready
while (($head = stream_get_contents(STDIN, 4)) !== false && strlen($head) === 4) {
    $n = unpack('N', $head)[1];
    $request = msgpack_unpack(stream_get_contents(STDIN, $n));
    $body = msgpack_pack([1, $request[1], null, $request[3][0]]);
    fwrite(STDOUT, pack('N', strlen($body)) . $body);
}
