<?php

declare(strict_types=1);

namespace Polyfork\Codec;

use Polyfork\Bin;
use Polyfork\Exception\EncodingFailed;
use Polyfork\Ext;

/**
 * PHP value -> canonical msgpack bytes (SPEC 3 and 7). ext-msgpack does the packing
 * (shortest integers, floats as float64, lists as arrays, other arrays as maps); this class
 * first checks the value and fixes what ext-msgpack cannot express:
 *
 * - a string that is not valid UTF-8 is sent as `bin` (msgpack `str` must be UTF-8);
 * - Polyfork\Bin is `bin`, Polyfork\Ext an ext, DateTimeInterface a timestamp (ext -1);
 * - stdClass is a map (an empty one is `80`), JsonSerializable its jsonSerialize(),
 *   BackedEnum its value; any other object, a resource or a closure is refused;
 * - nesting deeper than the limit (or an array that contains itself) is refused;
 * - more than $maxValues values in all (SPEC 3, value count: every nil, bool, number, string,
 *   array and map counts one, a map pair two) are refused, counted as the value is walked.
 *
 * Those values are replaced by unique placeholder strings before packing, and the
 * placeholders' bytes are then swapped for the hand-built bytes. Values with none of them
 * (the usual case) cost one read-only walk plus ext-msgpack. Strings are checked for UTF-8
 * as Encoder::isUtf8() says (the hot paths inline its test of short strings).
 */
final class Encoder
{
    /**
     * Each byte, at its own offset: self::BYTES[$i] === \chr($i) for 0 <= $i < 256. Reading a
     * string's offset costs about half of a chr() call (no function call without OPcache);
     * the hot paths build headers and length prefixes with it.
     */
    public const BYTES = "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"
        . "\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f"
        . "\x20\x21\x22\x23\x24\x25\x26\x27\x28\x29\x2a\x2b\x2c\x2d\x2e\x2f"
        . "\x30\x31\x32\x33\x34\x35\x36\x37\x38\x39\x3a\x3b\x3c\x3d\x3e\x3f"
        . "\x40\x41\x42\x43\x44\x45\x46\x47\x48\x49\x4a\x4b\x4c\x4d\x4e\x4f"
        . "\x50\x51\x52\x53\x54\x55\x56\x57\x58\x59\x5a\x5b\x5c\x5d\x5e\x5f"
        . "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"
        . "\x70\x71\x72\x73\x74\x75\x76\x77\x78\x79\x7a\x7b\x7c\x7d\x7e\x7f"
        . "\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f"
        . "\x90\x91\x92\x93\x94\x95\x96\x97\x98\x99\x9a\x9b\x9c\x9d\x9e\x9f"
        . "\xa0\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8\xa9\xaa\xab\xac\xad\xae\xaf"
        . "\xb0\xb1\xb2\xb3\xb4\xb5\xb6\xb7\xb8\xb9\xba\xbb\xbc\xbd\xbe\xbf"
        . "\xc0\xc1\xc2\xc3\xc4\xc5\xc6\xc7\xc8\xc9\xca\xcb\xcc\xcd\xce\xcf"
        . "\xd0\xd1\xd2\xd3\xd4\xd5\xd6\xd7\xd8\xd9\xda\xdb\xdc\xdd\xde\xdf"
        . "\xe0\xe1\xe2\xe3\xe4\xe5\xe6\xe7\xe8\xe9\xea\xeb\xec\xed\xee\xef"
        . "\xf0\xf1\xf2\xf3\xf4\xf5\xf6\xf7\xf8\xf9\xfa\xfb\xfc\xfd\xfe\xff";

    /** Default nesting limit of a value that is itself sent inside a message (SPEC 3). */
    public const MAX_DEPTH = 126;

    private readonly \MessagePack $msgpack;
    private readonly string $nonce;

    private int $maxDepth = self::MAX_DEPTH;

    /** Values counted so far in the value being encoded. */
    private int $count = 0;

    /** @var array<string, string> packed placeholder => replacement bytes */
    private array $replace = [];

    /**
     * @param int $maxValues the most values one encoded value may hold (the receiver's
     *                       POLYFORK_MAX_VALUES)
     */
    public function __construct(private readonly int $maxValues = Decoder::MAX_VALUES)
    {
        if ($maxValues < 1) {
            throw new \InvalidArgumentException(sprintf('the maximum number of values must be at least 1, got %d', $maxValues));
        }
        $this->msgpack = new \MessagePack(false);
        $this->nonce = random_bytes(16);
    }

    /**
     * Encodes $value; $path names it in error messages (e.g. "value[3]['k']"), and $labels
     * name the elements of a top-level array instead (a message: [3 => 'params']).
     *
     * @param array<int, string> $labels
     * @throws EncodingFailed when the value has no msgpack form, nests too deeply or holds too
     *                        many values
     */
    public function encode(mixed $value, int $maxDepth = self::MAX_DEPTH, string $path = 'value', array $labels = []): string
    {
        if (\is_array($value)) {
            $this->count = 1;
            if (!$this->plain($value, $maxDepth - 1)) {
                return $this->encodeFixed($value, $maxDepth, $path, $labels);
            }
        } elseif (\is_string($value)) {
            if (!(\strlen($value) < self::SHORT ? mb_check_encoding($value, 'UTF-8') : self::isUtf8($value))) {
                return self::bin($value);
            }
        } elseif (\is_object($value) || \is_resource($value)) {
            return $this->encodeFixed($value, $maxDepth, $path);
        }
        return $this->msgpack->pack($value);
    }

    /**
     * True when $array needs no fix-up: only scalars, UTF-8 strings, UTF-8 keys and arrays
     * nesting less than $depth more levels, and the values counted stay within the limit.
     * (False also when they do not: prepare() then says where.)
     *
     * @param array<array-key, mixed> $array
     */
    private function plain(array $array, int $depth): bool
    {
        if ($depth < 0) {
            return false;
        }
        $this->count += array_is_list($array) ? \count($array) : 2 * \count($array);
        if ($this->count > $this->maxValues) {
            return false;
        }
        foreach ($array as $k => $v) {
            if (\is_string($v)) {
                if (!(\strlen($v) < self::SHORT ? mb_check_encoding($v, 'UTF-8') : self::isUtf8($v))) {
                    return false;
                }
            } elseif (\is_array($v)) {
                if (!$this->plain($v, $depth - 1)) {
                    return false;
                }
            } elseif (\is_object($v) || \is_resource($v)) {
                return false;
            }
            if (\is_string($k) && !mb_check_encoding($k, 'UTF-8')) {
                return false;
            }
        }
        return true;
    }

    /** @param array<int, string> $labels */
    private function encodeFixed(mixed $value, int $maxDepth, string $path, array $labels = []): string
    {
        $this->replace = [];
        $this->maxDepth = $maxDepth;
        $this->count = 1;
        try {
            if ($labels !== [] && \is_array($value)) {
                $this->count += \count($value); // a message: a list
                $prepared = [];
                foreach ($value as $k => $item) {
                    $prepared[$k] = $this->prepare($item, $maxDepth - 1, $labels[$k] ?? $path . '[' . $k . ']');
                }
            } else {
                $prepared = $this->prepare($value, $maxDepth, $path);
            }
            $packed = $this->msgpack->pack($prepared);
            return strtr($packed, $this->replace);
        } finally {
            $this->replace = [];
        }
    }

    /** Returns $value with every special value replaced by a placeholder string. */
    private function prepare(mixed $value, int $depth, string $path): mixed
    {
        if ($value === null || \is_bool($value) || \is_int($value) || \is_float($value)) {
            return $value;
        }
        if (\is_string($value)) {
            return self::isUtf8($value) ? $value : $this->placeholder(self::bin($value));
        }
        if (\is_array($value)) {
            if ($depth <= 0) {
                throw EncodingFailed::tooDeep($path, $this->maxDepth);
            }
            $this->countValues(array_is_list($value) ? \count($value) : 2 * \count($value), $path);
            $out = [];
            foreach ($value as $k => $item) {
                if (\is_string($k) && !mb_check_encoding($k, 'UTF-8')) {
                    throw EncodingFailed::keyNotUtf8($path . '[' . bin2hex($k) . ' (hex)]');
                }
                $out[$k] = $this->prepare($item, $depth - 1, $path . '[' . var_export($k, true) . ']');
            }
            return $out;
        }
        if ($value instanceof Bin) {
            return $this->placeholder(self::bin($value->bytes));
        }
        if ($value instanceof Ext) {
            return $this->placeholder(self::ext($value->type, $value->data, $path));
        }
        if ($value instanceof \DateTimeInterface) {
            return $this->placeholder(Timestamp::encode($value));
        }
        if ($value instanceof \stdClass) {
            return $this->placeholder($this->map(get_object_vars($value), $depth, $path));
        }
        if ($value instanceof \JsonSerializable) {
            return $this->prepare($value->jsonSerialize(), $depth, $path);
        }
        if ($value instanceof \BackedEnum) {
            return $value->value;
        }
        throw EncodingFailed::unsupportedType(get_debug_type($value), $path);
    }

    /**
     * The bytes of $vars as a msgpack map, even when its keys are 0..n-1 (stdClass is a map).
     *
     * @param array<array-key, mixed> $vars
     */
    private function map(array $vars, int $depth, string $path): string
    {
        if ($depth <= 0) {
            throw EncodingFailed::tooDeep($path, $this->maxDepth);
        }
        $n = \count($vars);
        $this->countValues(2 * $n, $path);
        $out = $n <= 15 ? \chr(0x80 | $n) : ($n <= 0xffff ? "\xde" . pack('n', $n) : "\xdf" . pack('N', $n));
        foreach ($vars as $k => $item) {
            if (\is_string($k) && !mb_check_encoding($k, 'UTF-8')) {
                throw EncodingFailed::keyNotUtf8($path . '->' . bin2hex($k) . ' (hex)');
            }
            $out .= $this->msgpack->pack($k);
            $out .= $this->msgpack->pack($this->prepare($item, $depth - 1, $path . '->' . $k));
        }
        return $out;
    }

    /** Counts the $n elements of the container at $path. */
    private function countValues(int $n, string $path): void
    {
        $this->count += $n;
        if ($this->count > $this->maxValues) {
            throw EncodingFailed::tooManyValues($this->count, $this->maxValues, $path);
        }
    }

    private function placeholder(string $bytes): string
    {
        $id = $this->nonce . pack('N', \count($this->replace));
        $this->replace["\xb4" . $id] = $bytes;
        return $id;
    }

    /**
     * Whether $s is valid UTF-8.
     *
     * - Under SHORT bytes, mbstring's check is the cheapest (about 600 instructions at 16 B).
     * - Longer strings are first matched against ASCII, when PCRE has its JIT: the compiled
     *   loop of `^[\x00-\x7f]*+$` runs at about 0.6 ns a byte, against 1.5 ns for PCRE's
     *   UTF-8 check (`//u`) on PHP 8.2 (1 KiB: 0.7 against 1.6 us; 64 KiB: 22 against 44 us).
     *   It is anchored and possessive, so a string with a byte above 0x7f fails where that
     *   byte is, without a search from later offsets (an unanchored `[\x80-\xff]` is no
     *   faster than the UTF-8 check: that was tried first).
     * - Anything else takes PCRE's UTF-8 check, which is about twice as fast as mbstring's
     *   on long strings (0.6 ms against 1 ms for a new 1 MiB string). PHP remembers on the
     *   string that PCRE found it valid, so checking it again is free: time a new string.
     *
     * A string that is not ASCII pays for its ASCII prefix twice; one that is ASCII up to its
     * last byte costs about 1.6x the UTF-8 check alone. Without the JIT (pcre.jit=0, or a
     * PCRE built without it) the ASCII match is slower than the UTF-8 check and is skipped.
     */
    public static function isUtf8(string $s): bool
    {
        return \strlen($s) < self::SHORT ? mb_check_encoding($s, 'UTF-8')
            : ((self::$ascii ??= self::jit()) && preg_match(self::ASCII, $s) === 1) || preg_match('//u', $s) === 1;
    }

    /** Strings shorter than this are checked by mbstring (see isUtf8()). */
    public const SHORT = 32;

    /** Matches a string of ASCII bytes only (see isUtf8()). */
    public const ASCII = '/^[\x00-\x7f]*+$/D';

    /** Whether isUtf8() tries ASCII first: null until asked, then jit()'s answer. */
    private static ?bool $ascii = null;

    /** Whether PCRE's JIT is built in and switched on (pcre.jit). */
    private static function jit(): bool
    {
        return \defined('PCRE_JIT_SUPPORT') && PCRE_JIT_SUPPORT && filter_var(ini_get('pcre.jit'), FILTER_VALIDATE_BOOL);
    }

    /** The msgpack `bin` bytes of $bytes. */
    private static function bin(string $bytes): string
    {
        $n = \strlen($bytes);
        if ($n <= 0xff) {
            return "\xc4" . \chr($n) . $bytes;
        }
        return ($n <= 0xffff ? "\xc5" . pack('n', $n) : "\xc6" . pack('N', $n)) . $bytes;
    }

    /** The msgpack ext bytes of type $type with payload $data. */
    private static function ext(int $type, string $data, string $path): string
    {
        $n = \strlen($data);
        $t = \chr($type & 0xff);
        $fix = [1 => "\xd4", 2 => "\xd5", 4 => "\xd6", 8 => "\xd7", 16 => "\xd8"];
        if (isset($fix[$n])) {
            return $fix[$n] . $t . $data;
        }
        if ($n <= 0xff) {
            return "\xc7" . \chr($n) . $t . $data;
        }
        if ($n <= 0xffff) {
            return "\xc8" . pack('n', $n) . $t . $data;
        }
        if ($n > 0xffffffff) {
            throw EncodingFailed::invalidExt(sprintf('payload of %d bytes is above 4 GiB - 1', $n), $path);
        }
        return "\xc9" . pack('N', $n) . $t . $data;
    }
}
