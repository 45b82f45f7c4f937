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
 * Small values with no byte that could start an ext or a uint64 skip the Scanner: ext-msgpack
 * already refuses truncated input, and fewer bytes than the depth limit cannot nest too deep.
 * Not safe for concurrent use (PHP has none).
 */
final class Decoder
{
    /** Default nesting limit, counting the outermost container (SPEC 3). */
    public const MAX_DEPTH = 128;

    /** Bytes that can start an ext (c7-c9, d4-d8) or a uint64 (cf): these need the Scanner. */
    private const SUSPECT = "\xc7\xc8\xc9\xcf\xd4\xd5\xd6\xd7\xd8";

    private readonly \MessagePack $msgpack;
    private readonly Scanner $scanner;
    private readonly string $nonce;
    private ?string $warning = null;

    /** The error handler that records ext-msgpack's warnings while it runs. */
    private readonly \Closure $recordWarning;

    /**
     * Offsets of the elements of the last scanned value when it was an array of at most 4
     * elements, plus its end: lets a message's envelope be read when a parameter is
     * unsupported. Empty when the last value took the fast path.
     *
     * @var list<int>
     */
    public array $lastTop = [];

    public function __construct()
    {
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
     * @throws ProtocolError    when the bytes are not one well-formed value within the limits
     * @throws UnsupportedValue when the value is well-formed but PHP cannot hold it exactly
     */
    public function decode(string $bytes, int $maxDepth = self::MAX_DEPTH): mixed
    {
        $this->lastTop = [];
        if (strlen($bytes) <= $maxDepth && strpbrk($bytes, self::SUSPECT) === false) {
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
        $scanner = $this->scanner;
        $scanner->scan($bytes, $maxDepth);
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
        if (is_string($value)) {
            if (strlen($value) === 20 && str_starts_with($value, $this->nonce)) {
                return $objects[unpack('N', $value, 16)[1]];
            }
            return $value;
        }
        if (is_array($value)) {
            foreach ($value as $k => $item) {
                if (is_array($item) || is_string($item)) {
                    $new = $this->restore($item, $objects);
                    if (is_object($new)) {
                        $value[$k] = $new;
                    } elseif (is_array($item)) {
                        $value[$k] = $new;
                    }
                }
            }
        }
        return $value;
    }
}
