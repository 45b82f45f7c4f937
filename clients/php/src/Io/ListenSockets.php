<?php

declare(strict_types=1);

namespace Polyfork\Io;

use Polyfork\Exception\StartupError;
use Polyfork\ListenSocket;

/**
 * The listening sockets a host passed (SPEC 1.2), in the systemd socket-activation
 * convention: descriptors 3 to 3+N-1 with LISTEN_FDS=N, LISTEN_PID=<this process's pid> and
 * LISTEN_FDNAMES=<name>:<name>... Works under a polyfork host, under systemd, or with any
 * launcher that follows the convention; the channel is not needed.
 *
 * take() looks once: it removes LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES from the
 * environment (as sd_listen_fds(1) does, whether or not the sockets were for this process),
 * so that processes this one starts do not take them for theirs, and opens each socket as a
 * PHP socket stream on its own descriptor, close-on-exec (see Descriptors::take(); without
 * FFI, on a duplicate, and both are inherited by processes this one starts).
 */
final class ListenSockets
{
    /** The first descriptor of the convention. */
    public const FIRST_FD = 3;

    /** @var list<ListenSocket>|null */
    private static ?array $taken = null;

    /**
     * The sockets, in order; [] when there are none or when LISTEN_PID is not this process's
     * pid (the variables were inherited from another process).
     *
     * @return list<ListenSocket>
     * @throws StartupError when LISTEN_FDS is not a number, LISTEN_FDNAMES does not name
     *                      each socket, or a descriptor is not an open socket
     */
    public static function take(): array
    {
        if (self::$taken !== null) {
            return self::$taken;
        }
        $count = getenv('LISTEN_FDS');
        $pid = getenv('LISTEN_PID');
        $names = getenv('LISTEN_FDNAMES');
        Environment::forget('LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES');
        if ($count === false || $pid === false || $pid !== (string) getmypid()) {
            return self::$taken = [];
        }
        if (preg_match('/^\d{1,6}$/D', $count) !== 1) {
            throw StartupError::badVariable('LISTEN_FDS', $count, 'a number of descriptors');
        }
        $n = (int) $count;
        $names = $names === false ? array_fill(0, $n, 'unknown') : explode(':', $names);
        if (\count($names) !== $n) {
            throw StartupError::badVariable('LISTEN_FDNAMES', implode(':', $names), sprintf('%d name%s separated by ":" (LISTEN_FDS=%d)', $n, $n === 1 ? '' : 's', $n));
        }
        $sockets = [];
        foreach ($names as $i => $name) {
            $sockets[] = self::open(self::FIRST_FD + $i, $name, $count);
        }
        return self::$taken = $sockets;
    }

    private static function open(int $fd, string $name, string $count): ListenSocket
    {
        $why = Descriptors::unusable($fd, 'r');
        $socket = $why === null ? Descriptors::take($fd, 'r+b') : null;
        if ($socket === null) {
            throw StartupError::badDescriptor('LISTEN_FDS', $count, $fd, $why ?? 'is not open');
        }
        if (stream_get_meta_data($socket)['stream_type'] === 'STDIO') {
            fclose($socket);
            throw StartupError::badDescriptor('LISTEN_FDS', $count, $fd, 'is not a socket');
        }
        $imported = \function_exists('socket_import_stream') && PHP_OS_FAMILY === 'Linux' ? @socket_import_stream($socket) : false;
        if ($imported !== false) {
            // SO_ACCEPTCONN: ext-sockets has no constant for it; 30 on Linux.
            if (@socket_get_option($imported, SOL_SOCKET, 30) === 0) {
                fclose($socket);
                throw StartupError::badDescriptor('LISTEN_FDS', $count, $fd, 'is a socket that is not listening');
            }
        }
        return new ListenSocket($socket, $name, $fd);
    }
}
