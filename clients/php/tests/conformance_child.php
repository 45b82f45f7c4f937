<?php

/*
 * The PHP conformance child of protocol/SPEC.md section 9: the same handlers as every other
 * client's, served with the public facade. Run it under a polyfork host:
 *
 *     php clients/php/tests/conformance_child.php
 */

declare(strict_types=1);

require dirname(__DIR__) . '/autoload.php';

use Polyfork\Io\StdoutGuard;
use Polyfork\Polyfork;

/** The exception `fail` raises; its error type is exactly "ConformanceError". */
final class ConformanceError extends Exception
{
}

Polyfork::handle('echo', fn (mixed $v): mixed => $v);

Polyfork::handle('add', fn (int|float $a, int|float $b): int|float => $a + $b);

Polyfork::handle('fail', function (string $message): never {
    throw new ConformanceError($message);
});

Polyfork::handle('sleep', function (int|float $ms): string {
    $deadline = hrtime(true) + (int) ($ms * 1e6);
    while (($left = $deadline - hrtime(true)) > 0) {
        if (Polyfork::cancelled($left / 1e9)) {
            Polyfork::notify('cancelled', $ms);
            Polyfork::throwIfCancelled();
        }
    }
    return 'slept';
});

Polyfork::handle('call_host', fn (string $method, array $params): mixed => Polyfork::call($method, ...$params));

Polyfork::handle('print', function (string $text): bool {
    echo $text, "\n";
    print $text . "\n";
    printf("%s\n", $text);
    if (StdoutGuard::mode() === 'ffi') {
        fwrite(STDOUT, $text . "\n"); // closed (and so refused) in the "reopen" fallback
    }
    $out = fopen('php://stdout', 'wb');
    fwrite($out, $text . "\n");
    fclose($out);
    system('echo ' . escapeshellarg($text));
    passthru('printf "%s\n" ' . escapeshellarg($text));
    return true;
});

Polyfork::handle('stderr', function (string $text): bool {
    fwrite(STDERR, $text . "\n");
    return true;
});

Polyfork::handle('exit', function (int $code): never {
    exit($code);
});

Polyfork::handle('pid', fn (): int => getmypid());

Polyfork::on('message', fn (mixed $value) => Polyfork::send($value));

Polyfork::run();
