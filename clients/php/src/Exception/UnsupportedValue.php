<?php

declare(strict_types=1);

namespace Polyfork\Exception;

/**
 * A well-formed msgpack value that PHP cannot represent exactly (SPEC 7): an integer above
 * PHP_INT_MAX, a map key that is not a string or an integer, a timestamp finer than a
 * microsecond. It fails that one value (the call that carries it gets this error), never the
 * session.
 */
final class UnsupportedValue extends \RuntimeException implements PolyforkException
{
    /** A uint64 above PHP_INT_MAX at byte $offset. */
    public static function uint64(string $decimal, int $offset): self
    {
        return new self(sprintf(
            'integer %s at byte %d is above PHP_INT_MAX (%d): PHP has no uint64, so it is refused rather than rounded',
            $decimal,
            $offset,
            PHP_INT_MAX
        ));
    }

    /** A map key of msgpack type $type at byte $offset: PHP array keys are int or string. */
    public static function mapKey(string $type, int $offset): self
    {
        return new self(sprintf(
            'map key of type %s at byte %d: PHP array keys can only be integers or strings',
            $type,
            $offset
        ));
    }

    /** A timestamp ext that is malformed or not exactly representable as a DateTimeImmutable. */
    public static function timestamp(string $why, int $offset): self
    {
        return new self(sprintf('timestamp at byte %d: %s', $offset, $why));
    }
}
