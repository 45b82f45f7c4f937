<?php

declare(strict_types=1);

namespace Polyfork\Io;

/**
 * What PHP cannot do with file descriptors by itself, done through FFI (ext-ffi, usable in
 * the CLI with the default `ffi.enable=preload`) and /proc (Linux): mark a descriptor
 * close-on-exec, close one PHP holds no stream for, and find out which descriptor a stream
 * opened from `php://fd/N` got (PHP dup()s N and does not say where the copy went).
 *
 * Every method degrades instead of failing: without FFI nothing is marked or closed, without
 * /proc no descriptor number is known; callers document what is then left undone.
 */
final class Descriptors
{
    private const F_GETFD = 1;
    private const F_SETFD = 2;
    private const FD_CLOEXEC = 1;

    /** The libc functions, false once found unusable, null before the first try. */
    private static \FFI|false|null $libc = null;

    /**
     * fcntl(), close() and dup2() of the C library, or null when FFI is not usable here
     * (ext-ffi missing, `ffi.enable=0`).
     */
    public static function libc(): ?\FFI
    {
        if (self::$libc === null) {
            self::$libc = false;
            if (\extension_loaded('ffi')) {
                try {
                    self::$libc = \FFI::cdef('int fcntl(int fd, int cmd, ...); int close(int fd); int dup2(int oldfd, int newfd);');
                } catch (\Throwable) {
                    // ffi.enable=0, or no C library symbols in the process: left undone.
                }
            }
        }
        return self::$libc === false ? null : self::$libc;
    }

    /**
     * The open descriptors of this process, sorted, from /proc/self/fd (the one the listing
     * itself used is left out); null when /proc is not mounted.
     *
     * @return list<int>|null
     */
    public static function open(): ?array
    {
        $names = @scandir('/proc/self/fd');
        if ($names === false) {
            return null;
        }
        $fds = [];
        foreach ($names as $name) {
            // The directory's own descriptor is closed by now: readlink() fails for it.
            if (ctype_digit($name) && @readlink('/proc/self/fd/' . $name) !== false) {
                $fds[] = (int) $name;
            }
        }
        sort($fds);
        return $fds;
    }

    /**
     * Whether $fd is open and, when /proc tells, open for $access ('r' or 'w'): null when
     * it is, else why not ("is not open", "is not open for reading").
     */
    public static function unusable(int $fd, string $access): ?string
    {
        $info = @file_get_contents('/proc/self/fdinfo/' . $fd);
        if ($info === false) {
            if (is_dir('/proc/self/fdinfo')) {
                return 'is not open';
            }
            $stream = @fopen('php://fd/' . $fd, 'rb'); // without /proc: at least open?
            if ($stream === false) {
                return 'is not open';
            }
            fclose($stream);
            return null;
        }
        if (preg_match('/^flags:\s+([0-7]+)/m', $info, $m) !== 1) {
            return null;
        }
        $mode = octdec($m[1]) & 3; // O_ACCMODE: 0 O_RDONLY, 1 O_WRONLY, 2 O_RDWR
        if ($access === 'r' && $mode === 1) {
            return 'is not open for reading';
        }
        if ($access === 'w' && $mode === 0) {
            return 'is not open for writing';
        }
        return null;
    }

    /**
     * Opens a PHP stream on $fd itself, close-on-exec, in $mode: `php://fd/$fd` gives a stream
     * on a duplicate, so with FFI and /proc the original is closed and the duplicate
     * duplicated again, which lands on the lowest free number: $fd. Without them the stream
     * is on a duplicate and neither descriptor is close-on-exec. A socket gives a socket
     * stream (stream_socket_accept() works on a listening one). Descriptors 0, 1 and 2 are
     * never closed.
     *
     * @return resource|null null when $fd is not open
     */
    public static function take(int $fd, string $mode)
    {
        $before = self::open();
        $stream = @fopen('php://fd/' . $fd, $mode);
        if ($stream === false) {
            return null;
        }
        $libc = self::libc();
        $copy = self::added($before);
        if ($libc === null || $copy === null) {
            return $stream;
        }
        if ($fd > 2) {
            $libc->close($fd);
            $before = self::open();
            $again = @fopen('php://fd/' . $copy, $mode);
            if ($again !== false) {
                fclose($stream);
                $stream = $again;
                $copy = self::added($before) ?? -1;
            }
        }
        if ($copy >= 0) {
            self::closeOnExec($copy);
        }
        return $stream;
    }

    /** The stream on /dev/null that holds descriptor 0 in the "reopen" way of nullStdin(). */
    private static mixed $stdinHolder = null;

    /**
     * Points descriptor 0 at /dev/null, once the channel reads from a duplicate of it (SPEC 1):
     * `fgets(STDIN)` and subprocesses that inherit stdin (`shell_exec`, `system`, `exec`)
     * read the host's frames otherwise. With FFI, dup2(); without, STDIN is closed and
     * /dev/null opened on the freed descriptor 0 (`fgets(STDIN)` then throws a TypeError).
     * Returns how: "ffi", "reopen" or "none".
     */
    public static function nullStdin(): string
    {
        $before = self::open();
        $null = @fopen('/dev/null', 'rb');
        if ($null === false) {
            return 'none';
        }
        $fd = self::added($before);
        $libc = self::libc();
        $done = $libc !== null && $fd !== null && $libc->dup2($fd, 0) === 0;
        fclose($null);
        if ($done) {
            return 'ffi';
        }
        if (\defined('STDIN')) {
            fclose(STDIN);
            $holder = @fopen('/dev/null', 'rb'); // the lowest free descriptor: 0
            if ($holder !== false) {
                self::$stdinHolder = $holder;
                return 'reopen';
            }
        }
        return 'none';
    }

    /** Marks $fd close-on-exec; false when that could not be done. */
    public static function closeOnExec(int $fd): bool
    {
        $libc = self::libc();
        if ($libc === null) {
            return false;
        }
        $flags = $libc->fcntl($fd, self::F_GETFD);
        return $flags >= 0 && $libc->fcntl($fd, self::F_SETFD, $flags | self::FD_CLOEXEC) === 0;
    }

    /**
     * Whether $fd is marked close-on-exec; null when that cannot be told (no FFI) or $fd is
     * not open.
     */
    public static function isCloseOnExec(int $fd): ?bool
    {
        $libc = self::libc();
        $flags = $libc?->fcntl($fd, self::F_GETFD) ?? -1;
        return $flags < 0 ? null : ($flags & self::FD_CLOEXEC) !== 0;
    }

    /**
     * The one descriptor open now and not in $before; null when that is not exactly one or
     * /proc could not tell.
     *
     * @param list<int>|null $before
     */
    private static function added(?array $before): ?int
    {
        $after = self::open();
        if ($before === null || $after === null) {
            return null;
        }
        $new = array_values(array_diff($after, $before));
        return \count($new) === 1 ? $new[0] : null;
    }
}
