<?php

/*
 * The least a child can do and still speak the polyfork protocol to the Go host: `$ready`,
 * request ids, answers written together under load; no checks at all (no UTF-8, no depth,
 * no ext or uint64 handling, no handlers). Not a client: a yardstick for how fast the
 * library could be in PHP. README "Performance" measured it with bench/cmd/benchrun by
 * putting it in place of bench/children/echo.php in a scratch copy of the repository:
 *
 *     mkdir -p /tmp/floor/bench/children && cp bench/children/bare.php /tmp/floor/bench/children/
 *     cp clients/php/bench/floor_child.php /tmp/floor/bench/children/echo.php
 *     taskset -c 1 bench/out/bin/benchrun drive root=/tmp/floor system=polyfork-php sizes=16
 */

declare(strict_types=1);

$in = fopen('php://stdin', 'rb');
$out = fopen('php://fd/1', 'wb');
stream_set_read_buffer($in, 0);
$msgpack = new MessagePack(false);
$ready = $msgpack->pack([2, '$ready', [['protocol' => 1, 'lang' => 'php', 'pid' => getmypid(), 'lib' => 'floor']]]);
fwrite($out, pack('N', strlen($ready)) . $ready);

$buffer = '';
$queued = '';
while (true) {
    while (strlen($buffer) < 4 || strlen($buffer) < 4 + unpack('N', $buffer)[1]) {
        $chunk = fread($in, strlen($buffer) < 4 ? 65536 : max(65536, 4 + unpack('N', $buffer)[1] - strlen($buffer)));
        if ($chunk === false || $chunk === '') {
            break 2;
        }
        $buffer .= $chunk;
    }
    $size = unpack('N', $buffer)[1];
    $message = $msgpack->unpack(substr($buffer, 4, $size));
    $buffer = substr($buffer, 4 + $size);
    if ($message[0] === 2 && $message[1] === '$stop') {
        break;
    }
    if ($message[0] !== 0) {
        continue;
    }
    $answer = $msgpack->pack([1, $message[1], null, $message[3][0]]);
    $queued .= pack('N', strlen($answer)) . $answer;
    if (strlen($buffer) < 4 || strlen($buffer) < 4 + unpack('N', $buffer)[1] || strlen($queued) >= 65536) {
        fwrite($out, $queued); // nothing more is waiting: answer now
        $queued = '';
    }
}
fwrite($out, $queued);
