<?php

declare(strict_types=1);

namespace Polyfork;

/**
 * A msgpack ext value other than the timestamp (type -1, which maps to DateTimeImmutable):
 * an application-defined type number from -128 to 127 and its raw bytes. Received ext values
 * arrive as Ext, and an Ext is sent back with the same bytes.
 */
final class Ext
{
    /**
     * @param int    $type the ext type, -128..127 (negative types are reserved by msgpack)
     * @param string $data the payload bytes, at most 4 GiB - 1
     */
    public function __construct(public readonly int $type, public readonly string $data)
    {
        if ($type < -128 || $type > 127) {
            throw new \InvalidArgumentException(sprintf('ext type %d is outside -128..127', $type));
        }
    }
}
