<?php

declare(strict_types=1);

namespace Polyfork\Io;

use Polyfork\Exception\StartupError;

/**
 * The channel on descriptors of its own (SPEC 1.1): when the host sets
 * `POLYFORK_CHANNEL_FDS=<r>,<w>`, frames are read from descriptor r and written to w, and
 * stdin, stdout and PHP's output buffering are left alone (descriptor 1 is a log the host
 * relays, like stderr).
 *
 * open() takes the two descriptors as PHP streams (see Descriptors::take(): on r and w
 * themselves and close-on-exec when FFI and /proc are there, else on duplicates that
 * processes the child starts inherit), and removes the variable from the environment
 * (putenv(), $_ENV, $_SERVER) so that those processes do not take themselves for polyfork
 * children.
 */
final class ChannelFds
{
    /** The environment variable that names the descriptors. */
    public const VARIABLE = 'POLYFORK_CHANNEL_FDS';

    /**
     * The streams to read frames from and write them to, or null when the variable is not
     * set (the channel is then stdin and stdout). One socket passed as both (`5,5`) gives
     * one stream, returned twice.
     *
     * @return array{resource, resource}|null
     * @throws StartupError when the value is not two descriptor numbers, or one of them is
     *                      not open (for reading, for writing)
     */
    public static function open(): ?array
    {
        $value = getenv(self::VARIABLE);
        if ($value === false) {
            return null;
        }
        if (preg_match('/^(\d{1,9}),(\d{1,9})$/D', $value, $m) !== 1) {
            throw StartupError::badVariable(self::VARIABLE, $value, 'two descriptor numbers "<r>,<w>" (SPEC 1.1)');
        }
        [$r, $w] = [(int) $m[1], (int) $m[2]];
        foreach ($r === $w ? [[$r, 'r'], [$r, 'w']] : [[$r, 'r'], [$w, 'w']] as [$fd, $access]) {
            $why = Descriptors::unusable($fd, $access);
            if ($why !== null) {
                throw StartupError::badDescriptor(self::VARIABLE, $value, $fd, $why);
            }
        }
        $in = Descriptors::take($r, $r === $w ? 'r+b' : 'rb');
        $out = $r === $w ? $in : Descriptors::take($w, 'wb');
        if ($in === null || $out === null) {
            throw StartupError::badDescriptor(self::VARIABLE, $value, $in === null ? $r : $w, 'is not open');
        }
        if (stream_get_meta_data($in)['stream_type'] !== 'STDIO') {
            // A socket: PHP gives socket streams a read timeout (default_socket_timeout, 60 s),
            // after which a read returns nothing, which would look like the end of the channel.
            stream_set_timeout($in, -1);
            if ($out !== $in) {
                stream_set_timeout($out, -1);
            }
        }
        Environment::forget(self::VARIABLE);
        return [$in, $out];
    }
}
