<?php

declare(strict_types=1);

namespace Polyfork\Exception;

/**
 * A PHP value could not be sent: its type has no msgpack form, it nests too deeply, it holds
 * more values than the peer accepts, or the frame would be larger than the peer accepts.
 * Nothing was written; the connection stays usable.
 */
final class EncodingFailed extends \RuntimeException implements PolyforkException
{
    /** The encoded frame would be $size bytes, more than the peer's maximum $max (SPEC 2). */
    public static function frameTooLarge(int $size, int $max): self
    {
        return new self(sprintf(
            'refusing to send a frame of %d bytes: the maximum frame size is %d bytes (POLYFORK_MAX_FRAME_SIZE); nothing was sent',
            $size,
            $max
        ));
    }

    /**
     * The container at $path brings the message to $count values, more than the peer's
     * maximum $max (SPEC 3, value count).
     */
    public static function tooManyValues(int $count, int $max, string $path): self
    {
        if (\strlen($path) > 60) {
            $path = substr($path, 0, 40) . '...' . substr($path, -12);
        }
        return new self(sprintf(
            'refusing to send a message of more than %d values (POLYFORK_MAX_VALUES; every nil, bool, number, string, '
            . 'array and map counts one, a map pair two): the container at %s brings the count to %d; nothing was sent',
            $max,
            $path,
            $count
        ));
    }

    /** The value at $path has a PHP type with no msgpack form. */
    public static function unsupportedType(string $type, string $path): self
    {
        return new self(sprintf(
            'cannot encode %s at %s: send null, bool, int, float, string, array, stdClass, '
            . 'JsonSerializable, BackedEnum, DateTimeInterface, Polyfork\\Bin or Polyfork\\Ext',
            $type,
            $path
        ));
    }

    /** The value at $path nests deeper than $max containers (or refers to itself). */
    public static function tooDeep(string $path, int $max): self
    {
        if (\strlen($path) > 60) {
            $path = substr($path, 0, 40) . '...' . substr($path, -12);
        }
        return new self(sprintf(
            'value at %s goes past the limit of %d nested containers, the message included (or an array contains itself)',
            $path,
            $max
        ));
    }

    /** The map key at $path is a string that is not UTF-8 (msgpack str must be UTF-8). */
    public static function keyNotUtf8(string $path): self
    {
        return new self(sprintf('map key at %s is not valid UTF-8: msgpack str keys must be UTF-8', $path));
    }

    /** An Ext or a DateTimeInterface that msgpack cannot carry. */
    public static function invalidExt(string $why, string $path): self
    {
        return new self(sprintf('cannot encode the ext value at %s: %s', $path, $why));
    }
}
