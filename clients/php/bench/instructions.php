<?php

/*
 * User-space instructions per `echo` call of a PHP child, counted with valgrind's callgrind,
 * which the machine's load does not disturb (exact from run to run). The child runs under
 * callgrind twice, with N and 2N requests, and the difference is divided by N, so start-up
 * and shutdown drop out:
 *
 *     php clients/php/bench/instructions.php [SIZE] [N] [one|batch] [CHILD] [KEEP_DIR]
 *
 * - one: one call in flight, each request written after the previous answer was read (one
 *   frame per read in the child, each answer written at once);
 * - batch: 64 requests written at once, then their 64 answers read (as with 64 calls in
 *   flight: 64 frames per read in the child, answers queued and written together);
 * - file: the requests wait in a file that is the child's stdin (about 2 000 frames of 16 B
 *   per read), stdout to /dev/null.
 * CHILD is a PHP script speaking the protocol on stdin/stdout (default: count_child.php next
 * to this file, echo_child.php with batching thresholds valgrind cannot miss; give another
 * checkout's to compare); bare children that send no `$ready` (bench/children/bare.php) are
 * recognised by their name. Request ids start at FIRST_ID (default 1000001: a host that has
 * run a while sends uint32 ids; give 1 for the small ids of a fresh one). KEEP_DIR keeps the
 * callgrind output files there, for `callgrind_annotate`.
 */

declare(strict_types=1);

$size = (int) ($argv[1] ?? 16);
$n = (int) ($argv[2] ?? 1000);
$mode = $argv[3] ?? 'one';
$child = realpath(($argv[4] ?? '') ?: __DIR__ . '/count_child.php');
$first = (int) (($argv[5] ?? '') ?: 1000001);
$keep = ($argv[6] ?? '') ?: null;
$bare = basename($child) === 'bare.php';
$php = getenv('POLYFORK_PHP') ?: PHP_BINARY;
$payload = str_repeat('x', $size);

$frame = static function (int $id) use ($payload, $bare): string {
    $body = msgpack_pack($bare ? $payload : [0, $id, 'echo', [$payload]]);
    return pack('N', strlen($body)) . $body;
};

$count = static function (int $calls) use ($php, $child, $mode, $frame, $keep, $bare, $n, $first): int {
    $file = $keep !== null ? "$keep/callgrind.$mode.$calls" : tempnam(sys_get_temp_dir(), 'cg');
    $cmd = ['valgrind', '--tool=callgrind', '--callgrind-out-file=' . $file, $php, $child];
    if ($mode === 'file') {
        // Ids as a host counts them; the smaller run uses the same ids as the larger one's
        // second half, so both pay the same id widths.
        $input = tempnam(sys_get_temp_dir(), 'frames');
        $frames = '';
        for ($id = $first + 2 * $n - $calls; $id < $first + 2 * $n; $id++) {
            $frames .= $frame($id);
        }
        file_put_contents($input, $frames);
        $p = proc_open($cmd, [['file', $input, 'r'], ['file', '/dev/null', 'w'], ['file', '/dev/null', 'w']], $pipes);
        proc_close($p);
        unlink($input);
    } else {
        $p = proc_open($cmd, [['pipe', 'r'], ['pipe', 'w'], ['file', '/dev/null', 'w']], $pipes);
        [$in, $out] = $pipes;
        $read = static function () use ($out): string {
            $head = '';
            while (strlen($head) < 4) {
                $head .= fread($out, 4 - strlen($head));
            }
            $need = unpack('N', $head)[1];
            $body = '';
            while (strlen($body) < $need) {
                $body .= fread($out, $need - strlen($body));
            }
            return $body;
        };
        if (!$bare) {
            $read(); // $ready
        }
        $window = $mode === 'batch' ? 64 : 1;
        for ($id = $first + 2 * $n - $calls; $id < $first + 2 * $n; $id += $window) {
            $frames = '';
            for ($i = $id; $i < min($id + $window, $first + 2 * $n); $i++) {
                $frames .= $frame($i);
            }
            fwrite($in, $frames);
            for ($j = $id; $j < $i; $j++) {
                $read();
            }
        }
        fclose($in);
        stream_get_contents($out);
        proc_close($p);
    }
    preg_match('/^totals: (\d+)/m', (string) file_get_contents($file), $m) || exit("no totals in $file\n");
    if ($keep === null) {
        unlink($file);
    }
    return (int) $m[1];
};

$small = $count($n);
$large = $count(2 * $n);
printf("%s, %d B, %s: %.0f instructions per call (%d calls: %d, %d calls: %d)\n", $child, $size, $mode, ($large - $small) / $n, $n, $small, 2 * $n, $large);
