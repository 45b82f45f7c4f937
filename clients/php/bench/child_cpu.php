<?php

/*
 * The library's own CPU cost per call, without a host, a pipe or a scheduler: Child::run()
 * serves N `echo` requests read from memory (as under load: many frames per read, answers
 * queued and written together, here to /dev/null). Prints the CPU time per call (user +
 * system, getrusage) of the best and the median of R runs, which a busy machine disturbs far
 * less than wall-clock round trips. Compare two checkouts by naming their clients/php:
 *
 *     taskset -c 1 php clients/php/bench/child_cpu.php [SIZE] [CALLS] [RUNS] [CLIENT_DIR]
 */

declare(strict_types=1);

$size = (int) ($argv[1] ?? 16);
$calls = (int) ($argv[2] ?? 200000);
$runs = (int) ($argv[3] ?? 7);
$client = $argv[4] ?? dirname(__DIR__);
require $client . '/autoload.php';

$payload = str_repeat('x', $size);
$frames = '';
for ($i = 1; $i <= $calls; $i++) {
    // Ids as a host counts them: past 65535 they take 5 bytes.
    $body = msgpack_pack([0, $i, 'echo', [$payload]]);
    $frames .= pack('N', strlen($body)) . $body;
}
$cpu = static function (): float {
    $r = getrusage();
    return ($r['ru_utime.tv_sec'] + $r['ru_stime.tv_sec']) * 1e9 + ($r['ru_utime.tv_usec'] + $r['ru_stime.tv_usec']) * 1e3;
};
$perCall = [];
for ($run = 0; $run < $runs; $run++) {
    $in = fopen('php://memory', 'w+b');
    fwrite($in, $frames);
    rewind($in);
    $child = new Polyfork\Child($in, fopen('/dev/null', 'wb'));
    $child->handle('echo', fn (mixed $value): mixed => $value);
    $start = $cpu();
    $child->run();
    $perCall[] = ($cpu() - $start) / $calls;
}
sort($perCall);
printf("%s, %d B: %.0f ns CPU per call (best of %d), median %.0f\n", realpath($client), $size, $perCall[0], $runs, $perCall[intdiv($runs, 2)]);
