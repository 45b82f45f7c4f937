<?php

declare(strict_types=1);

namespace Polyfork\Codec;

use Polyfork\Exception\ProtocolError;
use Polyfork\Exception\UnsupportedValue;
use Polyfork\Ext;

/**
 * msgpack bytes -> PHP value, with ext-msgpack doing the decoding and this class making it
 * safe and exact (SPEC 3 and 7):
 *
 * - ext-msgpack runs with php_only off, so no map becomes an object of some class
 *   (object injection), and only after the Scanner checked counts, lengths and nesting;
 * - an integer above PHP_INT_MAX or a map key that is not a string or an integer throws
 *   UnsupportedValue instead of turning into a string or a coerced key;
 * - a timestamp (ext -1) becomes a DateTimeImmutable in UTC, any other ext a Polyfork\Ext.
 *
 * - at most $maxValues values (SPEC 3, value count) are decoded from one frame: the Scanner
 *   counts them before ext-msgpack builds anything.
 *
 * Small values with no byte that could start an ext or a uint64 skip the Scanner: ext-msgpack
 * already refuses truncated input, and fewer bytes than the depth limit or the value limit
 * cannot nest too deep or hold too many values (each value takes at least one byte).
 * Not safe for concurrent use (PHP has none).
 */
final class Decoder
{
    /** Default nesting limit, counting the outermost container (SPEC 3). */
    public const MAX_DEPTH = 128;

    /** Default limit of the values in one frame (SPEC 3, value count). */
    public const MAX_VALUES = 4_194_304;

    /**
     * Bytes that can start an ext (c7-c9, d4-d8) or a uint64 (cf): these need the Scanner.
     * A PCRE class (JIT-compiled, cached) finds them 2.5-4x faster than strpbrk().
     */
    private const SUSPECT = '/[\xc7-\xc9\xcf\xd4-\xd8]/';

    /**
     * First bytes of the scalars ext-msgpack decodes exactly: str, bin, float, bool, ints
     * except uint64 (which may not fit), fixints. Not nil, which an ext also becomes.
     */
    private const SCALAR = [
        "\xa0" => 1, "\xa1" => 1, "\xa2" => 1, "\xa3" => 1, "\xa4" => 1, "\xa5" => 1, "\xa6" => 1, "\xa7" => 1,
        "\xa8" => 1, "\xa9" => 1, "\xaa" => 1, "\xab" => 1, "\xac" => 1, "\xad" => 1, "\xae" => 1, "\xaf" => 1,
        "\xb0" => 1, "\xb1" => 1, "\xb2" => 1, "\xb3" => 1, "\xb4" => 1, "\xb5" => 1, "\xb6" => 1, "\xb7" => 1,
        "\xb8" => 1, "\xb9" => 1, "\xba" => 1, "\xbb" => 1, "\xbc" => 1, "\xbd" => 1, "\xbe" => 1, "\xbf" => 1,
        "\xd9" => 1, "\xda" => 1, "\xdb" => 1, "\xc4" => 1, "\xc5" => 1, "\xc6" => 1, "\xca" => 1, "\xcb" => 1,
        "\xc2" => 1, "\xc3" => 1, "\xcc" => 1, "\xcd" => 1, "\xce" => 1, "\xd0" => 1, "\xd1" => 1, "\xd2" => 1,
        "\xd3" => 1,
    ];

    private readonly \MessagePack $msgpack;
    private readonly Scanner $scanner;
    private readonly string $nonce;
    private ?string $warning = null;

    /** The error handler that records ext-msgpack's warnings while it runs. */
    private readonly \Closure $recordWarning;

    /**
     * Offsets of the elements of the last scanned value when it was an array of at most 4
     * elements, plus its end: lets a message's envelope be read when a parameter is
     * unsupported (UnsupportedValue comes only from scanned values). A value that takes the
     * fast path leaves it as it was.
     *
     * @var list<int>
     */
    public array $lastTop = [];

    /**
     * @param int $maxValues the most values one decoded value may hold (every nil, bool,
     *                       number, str, bin, ext, array and map counts one)
     */
    public function __construct(private readonly int $maxValues = self::MAX_VALUES)
    {
        if ($maxValues < 1) {
            throw new \InvalidArgumentException(sprintf('the maximum number of values must be at least 1, got %d', $maxValues));
        }
        ini_set('msgpack.php_only', '0');
        $this->msgpack = new \MessagePack(false);
        $this->scanner = new Scanner();
        $this->nonce = random_bytes(16);
        $this->recordWarning = function (int $level, string $message): bool {
            $this->warning ??= $message;
            return true;
        };
    }

    /**
     * Decodes $bytes, which must hold exactly one msgpack value nesting at most $maxDepth
     * containers.
     *
     * $tail (a message's params or result) is for a caller that parsed the bytes before it:
     * they hold a top-level array of at most 4 elements whose last element starts at $tail,
     * and none of them starts an ext, a uint64 or another container. Then only the bytes from
     * $tail on are looked at, and a last element that is an array of one scalar (`[v]`: str,
     * bin, int, float, bool, whatever its size; 6 values in all) needs no Scanner: ext-msgpack
     * checks its length.
     *
     * @throws ProtocolError    when the bytes are not one well-formed value within the limits
     * @throws UnsupportedValue when the value is well-formed but PHP cannot hold it exactly
     */
    public function decode(string $bytes, int $maxDepth = self::MAX_DEPTH, int $tail = 0): mixed
    {
        $n = \strlen($bytes);
        if ($n <= $maxDepth && $n <= $this->maxValues
            ? preg_match(self::SUSPECT, $bytes, $none, 0, $tail) === 0
            : $tail !== 0 && $maxDepth >= 2 && $this->maxValues >= 6 && $bytes[$tail] === "\x91" && isset(self::SCALAR[$bytes[$tail + 1] ?? ''])) {
            $this->warning = null; // inlined unpack(): this is the path of most small frames
            set_error_handler($this->recordWarning);
            try {
                $value = $this->msgpack->unpack($bytes);
            } finally {
                restore_error_handler();
            }
            if ($this->warning === null) {
                return $value;
            }
            // ext-msgpack complained: let the Scanner say precisely what is wrong and where.
        }
        $this->lastTop = [];
        $scanner = $this->scanner;
        $scanner->scan($bytes, $maxDepth, $this->maxValues);
        $this->lastTop = $scanner->top;
        if ($scanner->unsupported !== null) {
            [$offset, $kind, $detail] = $scanner->unsupported;
            throw $kind === 'uint64' ? UnsupportedValue::uint64($detail, $offset) : UnsupportedValue::mapKey($detail, $offset);
        }
        if ($scanner->exts === []) {
            $value = $this->unpack($bytes);
            $this->failOnWarning($bytes);
            return $value;
        }
        $objects = [];
        $spliced = '';
        $from = 0;
        foreach ($scanner->exts as $i => [$offset, $end, $type, $data]) {
            $objects[$i] = $type === Timestamp::TYPE ? Timestamp::decode($data, $offset) : new Ext($type, $data);
            $spliced .= substr($bytes, $from, $offset - $from) . "\xb4" . $this->nonce . pack('N', $i);
            $from = $end;
        }
        $spliced .= substr($bytes, $from);
        $value = $this->unpack($spliced);
        $this->failOnWarning($bytes);
        return $this->restore($value, $objects);
    }

    /**
     * `[v]` for a message whose last element (its params) is an array of one scalar that
     * starts at $at and ends with $bytes: nil, bool, int (not a uint64 above PHP_INT_MAX),
     * float, str or bin. Null for anything else, which decode() then handles. Decoding these
     * by hand spares ext-msgpack, its warning handler and the whole message array; the
     * values are those ext-msgpack gives (a str is delivered as its bytes, a float32 as
     * float). The caller has checked the message's envelope (the bytes before $at - 1).
     *
     * @return array{mixed}|null
     */
    public function lone(string $bytes, int $at): ?array
    {
        $n = \strlen($bytes) - $at;
        if ($n < 1 || $this->maxValues < 6) {
            return null;
        }
        $c = \ord($bytes[$at]);
        if ($c <= 0x7f || $c >= 0xe0) {
            return $n === 1 ? [$c <= 0x7f ? $c : $c - 0x100] : null;
        }
        if (($c & 0xe0) === 0xa0) {
            return $n === 1 + ($c & 0x1f) ? [substr($bytes, $at + 1)] : null;
        }
        switch ($c) {
            case 0xd9:
            case 0xc4:
                return $n >= 2 && $n === 2 + \ord($bytes[$at + 1]) ? [substr($bytes, $at + 2)] : null;
            case 0xda:
            case 0xc5:
                return $n >= 3 && $n === 3 + unpack('n', $bytes, $at + 1)[1] ? [substr($bytes, $at + 3)] : null;
            case 0xdb:
            case 0xc6:
                return $n >= 5 && $n === 5 + unpack('N', $bytes, $at + 1)[1] ? [substr($bytes, $at + 5)] : null;
            case 0xc0:
                return $n === 1 ? [null] : null;
            case 0xc2:
            case 0xc3:
                return $n === 1 ? [$c === 0xc3] : null;
            case 0xcc:
                return $n === 2 ? [\ord($bytes[$at + 1])] : null;
            case 0xcd:
                return $n === 3 ? [unpack('n', $bytes, $at + 1)[1]] : null;
            case 0xce:
                return $n === 5 ? [unpack('N', $bytes, $at + 1)[1]] : null;
            case 0xd0:
                return $n === 2 ? [unpack('c', $bytes, $at + 1)[1]] : null;
            case 0xd1:
                return $n === 3 ? [(unpack('n', $bytes, $at + 1)[1] ^ 0x8000) - 0x8000] : null;
            case 0xd2:
                return $n === 5 ? [(unpack('N', $bytes, $at + 1)[1] ^ 0x80000000) - 0x80000000] : null;
            case 0xd3:
                return $n === 9 ? [unpack('J', $bytes, $at + 1)[1]] : null;
            case 0xcf: // a uint64 that fits an int; one that does not is the Scanner's to refuse
                if ($n !== 9) {
                    return null;
                }
                $int = unpack('J', $bytes, $at + 1)[1];
                return $int >= 0 ? [$int] : null;
            case 0xca:
                return $n === 5 ? [unpack('G', $bytes, $at + 1)[1]] : null;
            case 0xcb:
                return $n === 9 ? [unpack('E', $bytes, $at + 1)[1]] : null;
            default:
                return null;
        }
    }

    /**
     * Decodes the element $index of the last scanned top-level array on its own (used to read
     * a message's kind, id and method when its parameters are unsupported).
     *
     * @throws ProtocolError|UnsupportedValue
     */
    public function decodeTopElement(string $bytes, int $index): mixed
    {
        if (!isset($this->lastTop[$index + 1])) {
            throw ProtocolError::malformed('no such element in the message', $bytes, 0);
        }
        $top = $this->lastTop;
        $start = $top[$index];
        $value = $this->decode(substr($bytes, $start, $top[$index + 1] - $start));
        $this->lastTop = $top;
        return $value;
    }

    private function unpack(string $bytes): mixed
    {
        $this->warning = null;
        set_error_handler($this->recordWarning);
        try {
            return $this->msgpack->unpack($bytes);
        } finally {
            restore_error_handler();
        }
    }

    private function failOnWarning(string $bytes): void
    {
        if ($this->warning !== null) {
            throw ProtocolError::malformed('ext-msgpack refused the value: ' . $this->warning, $bytes, 0);
        }
    }

    /**
     * Replaces the placeholder strings left by the ext splice with their objects.
     *
     * @param array<int, object> $objects
     */
    private function restore(mixed $value, array $objects): mixed
    {
        if (\is_string($value)) {
            if (\strlen($value) === 20 && str_starts_with($value, $this->nonce)) {
                return $objects[unpack('N', $value, 16)[1]];
            }
            return $value;
        }
        if (\is_array($value)) {
            foreach ($value as $k => $item) {
                if (\is_array($item) || \is_string($item)) {
                    $new = $this->restore($item, $objects);
                    if (\is_object($new)) {
                        $value[$k] = $new;
                    } elseif (\is_array($item)) {
                        $value[$k] = $new;
                    }
                }
            }
        }
        return $value;
    }
}
