<?php

declare(strict_types=1);

namespace Polyfork\Exception;

/**
 * The environment the host gave this process cannot be used: a polyfork variable with a bad
 * value, a descriptor it names that is not open (SPEC 1, 1.1, 1.2), or a PHP extension the
 * library needs that is not loaded. The facade writes the
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

    /** The PHP extension $extension, which polyfork-php needs, is not loaded. */
    public static function missingExtension(string $extension, string $package): self
    {
        return new self(sprintf(
            'polyfork: the PHP extension %s is not loaded, and polyfork-php needs it (Debian: apt-get install %s; elsewhere: pecl or your PHP build), or it is not enabled for %s (php --ini lists the ini files read)',
            $extension,
            $package,
            PHP_BINARY,
        ));
    }

    /** $value with control characters and bytes that are not UTF-8 escaped, and cut at 100 bytes. */
    private static function printable(string $value): string
    {
        $cut = \strlen($value) > 100 ? substr($value, 0, 100) . '...' : $value;
        return preg_match('/^[\x20-\x7e]*$/D', $cut) === 1 ? $cut : addcslashes($cut, "\0..\37\177..\377");
    }
}
