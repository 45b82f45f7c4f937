<?php

declare(strict_types=1);

namespace Polyfork\Codec;

use Polyfork\Exception\ProtocolError;

/**
 * Walks msgpack bytes without building values, before ext-msgpack sees them (SPEC 3):
 * exactly one complete value, no byte 0xc1, every count and length within the bytes left (so
 * `dd ff ff ff ff` cannot become a huge allocation), nesting at most $maxDepth containers,
 * and at most $maxValues values in all (so 16 MiB of empty arrays cannot become 16 million
 * PHP arrays). A container's elements are counted when its header is read, before any of
 * them is walked.
 * It also finds what ext-msgpack would silently change: ext values (ext-msgpack turns them
 * into null), integers above PHP_INT_MAX (it turns them into strings) and map keys that are
 * neither strings nor integers (it coerces them).
 *
 * Use one Scanner per value: scan() fills the public result fields.
 */
final class Scanner
{
    /** Bytes that are a whole value on their own and cannot start a container. */
    private const ONE_BYTE = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
        . "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"
        . "\x20\x21\x22\x23\x24\x25\x26\x27\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f"
        . "\x30\x31\x32\x33\x34\x35\x36\x37\x38\x39\x3a\x3b\x3c\x3d\x3e\x3f"
        . "\x40\x41\x42\x43\x44\x45\x46\x47\x48\x49\x4a\x4b\x4c\x4d\x4e\x4f"
        . "\x50\x51\x52\x53\x54\x55\x56\x57\x58\x59\x5a\x5b\x5c\x5d\x5e\x5f"
        . "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"
        . "\x70\x71\x72\x73\x74\x75\x76\x77\x78\x79\x7a\x7b\x7c\x7d\x7e\x7f"
        . "\xa0\xc0\xc2\xc3"
        . "\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef"
        . "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff";

    /**
     * Ext values found, in order: [offset, end, type, data]. $end is the offset just past it.
     *
     * @var list<array{int, int, int, string}>
     */
    public array $exts = [];

    /**
     * The first value PHP cannot represent: [offset, description kind, detail], or null.
     * Kinds: "uint64" (detail: decimal), "key" (detail: msgpack type name).
     *
     * @var array{int, string, string}|null
     */
    public ?array $unsupported = null;

    /**
     * Offsets of the elements of the top-level array, plus its end, when the value is an
     * array of at most 4 elements (a message); empty otherwise.
     *
     * @var list<int>
     */
    public array $top = [];

    /** Size of a uint8/16/32 or int8/16/32 by its first byte (not uint64: it may not fit). */
    private const INT_SIZE = [0xcc => 2, 0xcd => 3, 0xce => 5, 0xd0 => 2, 0xd1 => 3, 0xd2 => 5, 0xd3 => 9];

    /** Size of nil, false, true, float32 and float64 by their first byte (not valid map keys). */
    private const VALUE_SIZE = [0xc0 => 1, 0xc2 => 1, 0xc3 => 1, 0xca => 5, 0xcb => 9];

    private string $b = '';
    private int $maxDepth = 0;
    private int $maxValues = 0;
    private int $len = 0;

    /** Values counted so far: the outermost one, plus the elements of every container read. */
    private int $count = 0;

    /**
     * Checks that $bytes holds exactly one value nesting at most $maxDepth containers and
     * counting at most $maxValues values (a map pair counts two).
     *
     * @throws ProtocolError when it does not, naming the byte where it goes wrong
     */
    public function scan(string $bytes, int $maxDepth, int $maxValues = PHP_INT_MAX): void
    {
        $this->b = $bytes;
        $this->maxDepth = $maxDepth;
        $this->maxValues = $maxValues;
        $this->count = 1;
        $this->len = \strlen($bytes);
        $this->exts = [];
        $this->unsupported = null;
        $this->top = [];
        $end = $this->skip(0, $maxDepth, false, true);
        if ($end !== $this->len) {
            throw ProtocolError::malformed(sprintf(
                '%d bytes left over after the msgpack value; a frame holds exactly one value',
                $this->len - $end
            ), $bytes, $end);
        }
        $this->b = '';
    }

    /**
     * Returns the offset just past the value at $off. $depth is how many more container
     * levels are allowed; $isKey says the value is a map key; $isTop records element offsets.
     */
    private function skip(int $off, int $depth, bool $isKey, bool $isTop = false): int
    {
        if ($off >= $this->len) {
            throw ProtocolError::malformed('msgpack value cut short: the frame ends where a value should start', $this->b, $off);
        }
        $c = \ord($this->b[$off]);
        if ($c <= 0x7f || $c >= 0xe0) {
            return $off + 1;
        }
        if ($c <= 0x8f) {
            return $this->container($off, $off + 1, $c & 0x0f, true, $depth, $isKey, $isTop);
        }
        if ($c <= 0x9f) {
            return $this->container($off, $off + 1, $c & 0x0f, false, $depth, $isKey, $isTop);
        }
        if ($c <= 0xbf) {
            return $this->payload($off, 1, $c & 0x1f, 'str');
        }
        switch ($c) {
            case 0xc0:
            case 0xc2:
            case 0xc3:
                if ($isKey) {
                    $this->unsupportedAt($off, 'key', $c === 0xc0 ? 'nil' : 'bool');
                }
                return $off + 1;
            case 0xc1:
                throw ProtocolError::malformed('byte 0xc1 is never used in msgpack', $this->b, $off);
            case 0xc4:
            case 0xd9:
                $end = $off + 2 + ($off + 1 < $this->len ? \ord($this->b[$off + 1]) : 0);
                return $off + 1 < $this->len && $end <= $this->len ? $end : $this->payload($off, 2, $this->length($off, 1), $c === 0xc4 ? 'bin' : 'str');
            case 0xc5:
            case 0xda:
                $end = $off + 3 + ($off + 2 < $this->len ? unpack('n', $this->b, $off + 1)[1] : 0);
                return $off + 2 < $this->len && $end <= $this->len ? $end : $this->payload($off, 3, $this->length($off, 2), $c === 0xc5 ? 'bin' : 'str');
            case 0xc6:
            case 0xdb:
                $end = $off + 5 + ($off + 4 < $this->len ? unpack('N', $this->b, $off + 1)[1] : 0);
                return $off + 4 < $this->len && $end <= $this->len ? $end : $this->payload($off, 5, $this->length($off, 4), $c === 0xc6 ? 'bin' : 'str');
            case 0xc7:
                return $this->ext($off, 3, $this->length($off, 1), $isKey);
            case 0xc8:
                return $this->ext($off, 4, $this->length($off, 2), $isKey);
            case 0xc9:
                return $this->ext($off, 6, $this->length($off, 4), $isKey);
            case 0xca:
            case 0xcb:
                if ($isKey) {
                    $this->unsupportedAt($off, 'key', $c === 0xca ? 'float32' : 'float64');
                }
                return $this->fixed($off, $c === 0xca ? 5 : 9);
            case 0xcc:
            case 0xd0:
                return $this->fixed($off, 2);
            case 0xcd:
            case 0xd1:
                return $this->fixed($off, 3);
            case 0xce:
            case 0xd2:
                return $this->fixed($off, 5);
            case 0xcf:
                $end = $this->fixed($off, 9);
                if (\ord($this->b[$off + 1]) >= 0x80) {
                    $this->unsupportedAt($off, 'uint64', self::uint64Decimal(substr($this->b, $off + 1, 8)));
                }
                return $end;
            case 0xd3:
                return $this->fixed($off, 9);
            case 0xd4:
                return $this->ext($off, 2, 1, $isKey);
            case 0xd5:
                return $this->ext($off, 2, 2, $isKey);
            case 0xd6:
                return $this->ext($off, 2, 4, $isKey);
            case 0xd7:
                return $this->ext($off, 2, 8, $isKey);
            case 0xd8:
                return $this->ext($off, 2, 16, $isKey);
            case 0xdc:
                return $this->container($off, $off + 3, $this->length($off, 2), false, $depth, $isKey, $isTop);
            case 0xdd:
                return $this->container($off, $off + 5, $this->length($off, 4), false, $depth, $isKey, $isTop);
            case 0xde:
                return $this->container($off, $off + 3, $this->length($off, 2), true, $depth, $isKey, $isTop);
            default: // 0xdf
                return $this->container($off, $off + 5, $this->length($off, 4), true, $depth, $isKey, $isTop);
        }
    }

    /** Reads the big-endian length of $size bytes that follows the type byte at $off. */
    private function length(int $off, int $size): int
    {
        if ($off + 1 + $size > $this->len) {
            throw ProtocolError::malformed(sprintf(
                'msgpack value cut short: a header needs %d more bytes, %d left',
                $size,
                $this->len - $off - 1
            ), $this->b, $off);
        }
        return match ($size) {
            1 => \ord($this->b[$off + 1]),
            2 => unpack('n', $this->b, $off + 1)[1],
            default => unpack('N', $this->b, $off + 1)[1],
        };
    }

    private function fixed(int $off, int $size): int
    {
        if ($off + $size > $this->len) {
            throw ProtocolError::malformed(sprintf(
                'msgpack value cut short: it needs %d bytes, %d left',
                $size,
                $this->len - $off
            ), $this->b, $off);
        }
        return $off + $size;
    }

    private function payload(int $off, int $head, int $n, string $what): int
    {
        if ($n > $this->len - $off - $head) {
            throw ProtocolError::malformed(sprintf(
                '%s length %d is larger than the %d bytes left in the frame',
                $what,
                $n,
                max(0, $this->len - $off - $head)
            ), $this->b, $off);
        }
        return $off + $head + $n;
    }

    /** An ext whose type byte is at $off + $head - 1 and whose $n data bytes follow it. */
    private function ext(int $off, int $head, int $n, bool $isKey): int
    {
        $end = $this->payload($off, $head, $n, 'ext');
        if ($isKey) {
            $this->unsupportedAt($off, 'key', 'ext');
        }
        $type = \ord($this->b[$off + $head - 1]);
        $this->exts[] = [$off, $end, $type >= 0x80 ? $type - 0x100 : $type, substr($this->b, $off + $head, $n)];
        return $end;
    }

    /** An array ($isMap false) or map of $n elements or pairs whose first starts at $at. */
    private function container(int $off, int $at, int $n, bool $isMap, int $depth, bool $isKey, bool $isTop): int
    {
        if ($at > $this->len) {
            $this->length($off, $at - $off - 1); // throws "cut short"
        }
        if ($depth <= 0) {
            throw ProtocolError::malformed(sprintf('containers nest deeper than the limit of %d (SPEC 3)', $this->maxDepth), $this->b, $off);
        }
        if ($isKey) {
            $this->unsupportedAt($off, 'key', $isMap ? 'map' : 'array');
        }
        $items = $isMap ? 2 * $n : $n;
        if ($items > $this->len - $at) {
            throw ProtocolError::malformed(sprintf(
                '%s of %d %s cannot fit in the %d bytes left in the frame',
                $isMap ? 'map' : 'array',
                $n,
                $isMap ? 'pairs' : 'elements',
                $this->len - $at
            ), $this->b, $off);
        }
        $this->count += $items;
        if ($this->count > $this->maxValues) {
            throw ProtocolError::tooManyValues(sprintf('%s of %d %s', $isMap ? 'map' : 'array', $n, $isMap ? 'pairs' : 'elements'), $this->count, $this->maxValues, $this->b, $off);
        }
        $record = $isTop && !$isMap && $n <= 4;
        $b = $this->b;
        $len = $this->len;
        for ($i = 0; $i < $items; $i++) {
            if ($record) {
                $this->top[] = $at;
            }
            // Inline, without a call: the headers of most elements (fixints, fixstrs, and
            // unsigned or signed ints up to 32 bits), which are fine as map keys too.
            $c = $at < $len ? \ord($b[$at]) : -1;
            if ($c >= 0 && ($c <= 0x7f || $c >= 0xe0)) {
                if (!$isMap && !$record) {
                    // A run of one-byte values (fixints, nil, bools, "") in one call.
                    $run = strspn($b, self::ONE_BYTE, $at, $items - $i);
                    $at += $run;
                    $i += $run - 1;
                } else {
                    $at++;
                }
                continue;
            }
            if (($c & 0xe0) === 0xa0 && $at + 1 + ($c & 0x1f) <= $len) {
                $at += 1 + ($c & 0x1f);
                continue;
            }
            $size = self::INT_SIZE[$c] ?? 0;
            if ($size === 0 && (!$isMap || ($i & 1) === 1)) {
                $size = self::VALUE_SIZE[$c] ?? 0; // not as map keys
            }
            if ($size !== 0 && $at + $size <= $len) {
                $at += $size;
                continue;
            }
            $at = $this->skip($at, $depth - 1, $isMap && ($i & 1) === 0);
        }
        if ($record) {
            $this->top[] = $at;
        }
        return $at;
    }

    private function unsupportedAt(int $off, string $kind, string $detail): void
    {
        $this->unsupported ??= [$off, $kind, $detail];
    }

    /** The decimal text of 8 big-endian bytes with the top bit set, read as an unsigned integer. */
    private static function uint64Decimal(string $bytes): string
    {
        // u = 2^63 + x; write u = 10 q + r without leaving the int range.
        $x = unpack('J', $bytes)[1] & PHP_INT_MAX;
        $q = intdiv($x, 10) + 922337203685477580;
        $r = $x % 10 + 8;
        if ($r >= 10) {
            $q++;
            $r -= 10;
        }
        return $q . $r;
    }
}
