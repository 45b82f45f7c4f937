<?php

declare(strict_types=1);

namespace Polyfork\Exception;

/**
 * The peer broke the wire contract (protocol/SPEC.md): a bad frame, bytes that are not one
 * well-formed msgpack value, or a value that is not a msgpack-rpc message. A protocol error
 * ends the session: the run loop stops and the process should exit non-zero.
 */
final class ProtocolError extends \RuntimeException implements PolyforkException
{
    /** The peer announced a frame of $size bytes, more than the maximum $max (SPEC 2). */
    public static function frameTooLarge(int $size, int $max): self
    {
        return new self(sprintf(
            'frame of %d bytes is larger than the maximum frame size of %d bytes (POLYFORK_MAX_FRAME_SIZE)',
            $size,
            $max
        ));
    }

    /** The peer sent a length prefix of 0 (SPEC 2: N is at least 1). */
    public static function emptyFrame(): self
    {
        return new self('frame with length 0: a frame holds one msgpack value, so its length is at least 1');
    }

    /** End of file inside a frame: $got of $want bytes of the $part arrived. */
    public static function truncatedFrame(string $part, int $got, int $want): self
    {
        return new self(sprintf(
            'truncated frame: end of file after %d of the %d bytes of the %s',
            $got,
            $want,
            $part
        ));
    }

    /** The msgpack bytes are malformed at byte $offset of $bytes. */
    public static function malformed(string $why, string $bytes, int $offset): self
    {
        return new self(sprintf('malformed msgpack at byte %d: %s (%s)', $offset, $why, self::quote($bytes, $offset)));
    }

    /**
     * The $container at byte $offset brings the values in the frame to $count, more than the
     * maximum $max (SPEC 3, value count).
     */
    public static function tooManyValues(string $container, int $count, int $max, string $bytes, int $offset): self
    {
        return new self(sprintf(
            'frame holds more than the maximum of %d values (POLYFORK_MAX_VALUES): the %s at byte %d brings the count to %d (%s)',
            $max,
            $container,
            $offset,
            $count,
            self::quote($bytes, $offset)
        ));
    }

    /** The value decoded fine but is not a msgpack-rpc message (SPEC 4). */
    public static function invalidMessage(string $why, string $bytes): self
    {
        return new self(sprintf('invalid message: %s (%s)', $why, self::quote($bytes, 0)));
    }

    /** Reading from or writing to the channel failed at the OS level. */
    public static function io(string $what): self
    {
        return new self('i/o error on the polyfork channel: ' . $what);
    }

    /**
     * Hex of up to 32 bytes of $bytes around $offset, so an error shows what was received.
     */
    public static function quote(string $bytes, int $offset): string
    {
        $start = max(0, min($offset, \strlen($bytes)) - 8);
        $hex = bin2hex(substr($bytes, $start, 32));
        return sprintf(
            'received %d bytes, from byte %d: %s%s',
            \strlen($bytes),
            $start,
            $hex,
            \strlen($bytes) > $start + 32 ? '...' : ''
        );
    }
}
