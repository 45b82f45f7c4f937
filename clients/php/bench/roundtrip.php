<?php

/*
 * Round-trip benchmark: a PHP host sends `echo` requests to a PHP child and waits for each
 * response (one in flight). Usage:
 *
 *     taskset -c 1 php bench/roundtrip.php [library|bare] [payload bytes] [iterations]
 *
 * `library` is bench/echo_child.php (the Polyfork facade), `bare` is bench/bare_child.php
 * (the floor). Prints microseconds per round trip (median of 5 runs). Set USE_ZEND_ALLOC=0
 * in the environment to compare allocators (the child inherits it).
 */

declare(strict_types=1);

$kind = $argv[1] ?? 'library';
$size = (int) ($argv[2] ?? 1);
$iterations = (int) ($argv[3] ?? 20000);
$script = __DIR__ . ($kind === 'bare' ? '/bare_child.php' : '/echo_child.php');
$php = getenv('POLYFORK_PHP') ?: PHP_BINARY;
$phpArgs = array_values(array_filter(explode(' ', (string) getenv('BENCH_PHP_ARGS'))));

$child = proc_open([$php, ...$phpArgs, $script], [['pipe', 'r'], ['pipe', 'w'], STDERR], $pipes);
[$in, $out] = $pipes;

stream_set_read_buffer($out, 0);
$read = static function () use ($out): string {
    $head = fread($out, 4);
    while (strlen($head) < 4) {
        $head .= fread($out, 4 - strlen($head));
    }
    $need = unpack('N', $head)[1];
    $pieces = [];
    while ($need > 0) {
        $pieces[] = $piece = fread($out, min($need, 262144));
        $need -= strlen($piece);
    }
    return implode('', $pieces);
};
$read(); // $ready

$payload = str_repeat('x', $size);
$runs = [];
for ($run = 0; $run < 5; $run++) {
    $start = hrtime(true);
    for ($i = 0; $i < $iterations; $i++) {
        $body = msgpack_pack([0, $i, 'echo', [$payload]]);
        fwrite($in, pack('N', strlen($body)) . $body);
        $response = $read();
    }
    $runs[] = (hrtime(true) - $start) / $iterations / 1000;
    if (msgpack_unpack($response)[3] !== $payload) {
        fwrite(STDERR, "wrong echo\n");
        exit(1);
    }
}
fclose($in);
proc_close($child);
sort($runs);
printf("%s %d bytes: %.2f us per round trip (runs: %s)\n", $kind, $size, $runs[2], implode(' ', array_map(fn ($r) => sprintf('%.2f', $r), $runs)));
