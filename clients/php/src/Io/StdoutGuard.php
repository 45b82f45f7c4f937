<?php

declare(strict_types=1);

namespace Polyfork\Io;

/**
 * Keeps everything but frames off the child's stdout (SPEC 1). install():
 *
 * 1. opens `php://fd/1`, which is a private duplicate of descriptor 1: frames go there (it
 *    is close-on-exec when FFI is usable, so processes the child starts do not inherit it);
 * 2. points descriptor 1 at stderr, so fwrite(STDOUT), `php://stdout` and subprocesses that
 *    inherit stdout (system(), passthru(), exec(), proc_open() without a stdout spec) write
 *    to the log. It uses FFI's dup2() when ext-ffi is usable (the CLI default); otherwise it
 *    closes STDOUT and reopens stderr, which lands on the freed descriptor 1 but leaves the
 *    STDOUT constant closed (fwrite(STDOUT) then throws a TypeError instead of corrupting
 *    the channel);
 * 3. starts an output buffer with chunk size 1 whose callback writes to STDERR, so `echo`,
 *    `print`, printf(), var_dump() and `php://output` go to the log as soon as written.
 */
final class StdoutGuard
{
    /** @var resource|null */
    private static $protocol = null;

    /** @var resource|null the stderr duplicate that holds descriptor 1 in "reopen" mode */
    private static $holder = null;

    private static string $mode = 'none';

    /**
     * Installs the guard once and returns the private stream that frames must be written to.
     *
     * @return resource
     */
    public static function install()
    {
        if (self::$protocol !== null) {
            return self::$protocol;
        }
        $protocol = Descriptors::take(1, 'wb');
        if ($protocol === null) {
            throw new \RuntimeException('polyfork: cannot duplicate descriptor 1 (stdout) for the protocol');
        }
        self::$mode = self::redirectDescriptor1();
        ob_start(static function (string $buffer): string {
            if ($buffer !== '') {
                fwrite(STDERR, $buffer);
            }
            return '';
        }, 1);
        self::$protocol = $protocol;
        return $protocol;
    }

    /**
     * How descriptor 1 was moved: "ffi" (dup2), "reopen" (STDOUT closed), or "none" (not
     * installed, or no way found: then only echo/print are covered).
     */
    public static function mode(): string
    {
        return self::$mode;
    }

    private static function redirectDescriptor1(): string
    {
        if (Descriptors::libc()?->dup2(2, 1) === 1) {
            return 'ffi';
        }
        if (\defined('STDOUT')) {
            fclose(STDOUT);
            $holder = fopen('php://fd/2', 'wb'); // dup(2) takes the lowest free descriptor: 1
            if ($holder !== false) {
                self::$holder = $holder;
                return 'reopen';
            }
        }
        return 'none';
    }
}
