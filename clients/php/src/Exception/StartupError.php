<?php

declare(strict_types=1);

namespace Polyfork\Exception;

/**
 * The environment the host gave this process cannot be used: a polyfork variable with a bad
 * value, or a descriptor it names that is not open (SPEC 1, 1.1, 1.2). The facade writes the
 * message to stderr as one line and exits with status 2; nothing was sent to the host.
 */
final class StartupError extends \UnexpectedValueException implements PolyforkException
{
    /** The variable $name holds $value, which is not $what. */
    public static function badVariable(string $name, string $value, string $what): self
    {
        return new self(sprintf('polyfork: %s must be %s, got "%s"', $name, $what, self::printable($value)));
    }

    /** The descriptor $fd that the variable $name (holding $value) names cannot be used. */
    public static function badDescriptor(string $name, string $value, int $fd, string $why): self
    {
        return new self(sprintf('polyfork: %s="%s": descriptor %d %s', $name, self::printable($value), $fd, $why));
    }

    /** $value with control characters and bytes that are not UTF-8 escaped, and cut at 100 bytes. */
    private static function printable(string $value): string
    {
        $cut = \strlen($value) > 100 ? substr($value, 0, 100) . '...' : $value;
        return preg_match('/^[\x20-\x7e]*$/D', $cut) === 1 ? $cut : addcslashes($cut, "\0..\37\177..\377");
    }
}
