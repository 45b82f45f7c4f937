<?php

/*
 * The PHP conformance child of protocol/SPEC.md section 9: the same handlers as every other
 * client's, served with the public facade. Run it under a polyfork host:
 *
 *     php clients/php/tests/conformance_child.php
 */

declare(strict_types=1);

require dirname(__DIR__) . '/autoload.php';

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
    if (is_resource(STDOUT)) {
        fwrite(STDOUT, $text . "\n"); // closed (and so refused) in StdoutGuard's "reopen" fallback
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

Polyfork::handle('isatty', fn (): array => array_map(static function (int $fd): bool {
    if (function_exists('posix_isatty')) {
        return posix_isatty($fd);
    }
    $stream = @fopen('php://fd/' . $fd, 'rb');
    return $stream !== false && stream_isatty($stream);
}, [0, 1, 2]));

Polyfork::handle('write_fd1', function (string $text): bool {
    $fd1 = fopen('php://fd/1', 'wb');
    fwrite($fd1, $text);
    fclose($fd1);
    return true;
});

Polyfork::handle('env', fn (string $name): ?string => getenv($name) === false ? null : getenv($name));

Polyfork::handle('fds', function (): array {
    $fds = [];
    foreach (scandir('/proc/self/fd') as $name) {
        // The listing's own descriptor is closed by now: readlink() fails for it.
        if (ctype_digit($name) && @readlink('/proc/self/fd/' . $name) !== false) {
            $fds[] = (int) $name;
        }
    }
    sort($fds);
    return $fds;
});

Polyfork::handle('listeners', fn (): array => array_map(static fn ($listener): string => $listener->name, Polyfork::listenSockets()));

Polyfork::on('message', fn (mixed $value) => Polyfork::send($value));

Polyfork::run();
