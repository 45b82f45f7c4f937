<?php

declare(strict_types=1);

namespace Polyfork;

/**
 * Bytes to send as msgpack `bin` even when they happen to be valid UTF-8 (a PHP string that is
 * valid UTF-8 is sent as `str`, any other string as `bin`). Received `bin` arrives as a plain
 * PHP string, not as a Bin.
 */
final class Bin
{
    /** @param string $bytes the bytes to send */
    public function __construct(public readonly string $bytes)
    {
    }
}
