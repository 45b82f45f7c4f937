<?php

declare(strict_types=1);

namespace Polyfork\Io;

/** The process environment, as PHP keeps it in three places. */
final class Environment
{
    /**
     * Removes the variables $names from the environment of this process (so processes it
     * starts do not inherit them; getenv() no longer sees them) and from $_ENV and $_SERVER.
     */
    public static function forget(string ...$names): void
    {
        foreach ($names as $name) {
            putenv($name);
            unset($_ENV[$name], $_SERVER[$name]);
        }
    }
}
