<?php

declare(strict_types=1);

namespace Polyfork\Message;

use Polyfork\Codec\Decoder;
use Polyfork\Codec\Encoder;
use Polyfork\Exception\EncodingFailed;
use Polyfork\Exception\ProtocolError;
use Polyfork\Exception\UnsupportedValue;

/**
 * Frame bodies <-> msgpack-rpc messages (SPEC 4). Decoding validates the envelope: kind,
 * uint32 ids, `str` methods, array params, nil-or-error-map errors; anything else is a
 * ProtocolError quoting the bytes. A value inside params or result that PHP cannot hold
 * does not fail the session: the message comes back with its $unsupported set.
 */
final class MessageCodec
{
    /** The largest request id (ids are uint32). */
    public const MAX_ID = 0xffffffff;

    /** Size of a msgpack integer by its first byte, beyond the fixints. */
    private const INT_SIZE = [0xcc => 2, 0xd0 => 2, 0xcd => 3, 0xd1 => 3, 0xce => 5, 0xd2 => 5, 0xcf => 9, 0xd3 => 9];

    /** Offset of the method in a request whose id is a uint8, uint16 or uint32, by that id's first byte. */
    public const METHOD_AFTER_UINT = [0xcc => 4, 0xcd => 5, 0xce => 7];

    /** Header size of a msgpack str by its first byte, beyond the fixstrs. */
    private const STR_HEAD = [0xd9 => 2, 0xda => 3, 0xdb => 5];

    private readonly Decoder $decoder;
    private readonly Encoder $encoder;

    /** Packs responses whose result needs none of the Encoder's checks (the hot path). */
    private readonly \MessagePack $msgpack;

    /** Whether a response with a scalar result (5 values) is within the value limit. */
    private readonly bool $scalarResults;

    /**
     * @param int $maxValues the most values one message may hold, both ways (SPEC 3)
     */
    public function __construct(int $maxValues = Decoder::MAX_VALUES)
    {
        $this->decoder = new Decoder($maxValues);
        $this->encoder = new Encoder($maxValues);
        $this->msgpack = new \MessagePack(false);
        $this->scalarResults = $maxValues >= 5;
    }

    /** Header size of a msgpack str or bin of 8, 16 or 32 bits of length, by its first byte. */
    private const STRING_HEAD = [0xd9 => 2, 0xda => 3, 0xdb => 5, 0xc4 => 2, 0xc5 => 3, 0xc6 => 5];

    /**
     * Where a message's last value, a string, starts and how long it is, when the message is
     * one of the shapes whose last value can be handed out on its own: a request
     * `[0, id, fixstr, [string]]`, a notification `[2, fixstr, [string]]`, or a response
     * `[1, id, nil, string]`, string being a str or a bin with an 8, 16 or 32-bit length.
     *
     * @return array{int, int, int}|null the string's header offset, its bytes' offset (both
     *                                   from $from) and its length; null for any other bytes
     */
    private static function tailShape(string $bytes, int $from): ?array
    {
        $head = substr($bytes, $from, 2);
        if ($head === "\x94\x00" || $head === "\x94\x01") {
            $c = \ord($bytes[$from + 2] ?? "\xc1");
            $at = $c < 0x80 ? 3 : (self::METHOD_AFTER_UINT[$c] ?? 0); // after the id
        } else {
            $at = $head === "\x93\x02" ? 2 : 0;
        }
        if ($at === 0) {
            return null;
        }
        if ($head === "\x94\x01") {
            $s = ($bytes[$from + $at] ?? '') === "\xc0" ? $at + 1 : 0; // nil error
        } else {
            $m = \ord($bytes[$from + $at] ?? "\x00"); // a fixstr method, then [ (one param)
            $p = $at + 1 + ($m & 0x1f);
            $s = ($m & 0xe0) === 0xa0 && ($bytes[$from + $p] ?? '') === "\x91" ? $p + 1 : 0;
        }
        $h = $s === 0 ? 0 : (self::STRING_HEAD[\ord($bytes[$from + $s] ?? "\x00")] ?? 0);
        if ($h === 0 || \strlen($bytes) < $from + $s + $h) {
            return null;
        }
        $n = $h === 2 ? \ord($bytes[$from + $s + 1]) : unpack($h === 3 ? 'n' : 'N', $bytes, $from + $s + 1)[1];
        return [$s, $s + $h, $n];
    }

    /**
     * The tail finder of FrameReader: given the first bytes of a frame's body (from offset
     * $from of $bytes) and the body's size, the offset at which the string that ends the
     * message starts, when the message is one decodeWithTail() takes; -1 otherwise.
     */
    public static function tailAt(string $bytes, int $from, int $size): int
    {
        $shape = self::tailShape($bytes, $from);
        return $shape !== null && $shape[1] + $shape[2] === $size ? $shape[1] : -1;
    }

    /**
     * Decodes a frame body handed out in two parts (FrameReader::$tail): $head, which ends
     * where the message's last value, a string, starts, and $tail, that string. The message
     * is the one decode($head . $tail) returns, with $tail as its last value, not a copy of
     * it; so are the errors.
     *
     * @param bool|null $text set to true when $tail is the message's last value and arrived as a
     *                        `str`, false otherwise
     * @param-out bool $text
     * @throws ProtocolError when the body is not a well-formed message
     */
    public function decodeWithTail(string $head, string $tail, ?bool &$text = null): Request|Response|Notification
    {
        $text = false;
        $shape = self::tailShape($head, 0);
        if ($shape !== null && $shape[1] === \strlen($head) && $shape[2] === \strlen($tail)) {
            // The same message with nil in the string's place: every check of decode() runs.
            try {
                $message = $this->decode(substr($head, 0, $shape[0]) . "\xc0");
            } catch (ProtocolError) {
                $message = null; // reported below, quoting the real bytes
            }
            $whole = match (true) {
                $message instanceof Request && $message->params === [null] => new Request($message->id, $message->method, [$tail]),
                $message instanceof Notification && $message->params === [null] => new Notification($message->method, [$tail]),
                $message instanceof Response && $message->error === null && $message->result === null => new Response($message->id, null, $tail),
                default => null,
            };
            if ($whole !== null) {
                $text = \ord($head[$shape[0]]) >= 0xd9; // str8/16/32 (d9-db), not bin8/16/32 (c4-c6)
                return $whole;
            }
        }
        return $this->decode($head . $tail);
    }

    /**
     * Decodes one frame body into a message.
     *
     * @throws ProtocolError when the body is not a well-formed message
     */
    public function decode(string $body): Request|Response|Notification
    {
        // The usual shapes, told by their first bytes: a request whose id is a positive
        // fixint or a uint8/16/32 (so an int in range) and a notification, each with a fixstr
        // method and params that are an array. The bytes before the params then start no ext,
        // no uint64 and no container, which spares the decoder looking at them.
        $at = 0;
        $params = 0;
        if (str_starts_with($body, "\x94\x00")) {
            $c = \ord($body[2] ?? "\xc1");
            $at = $c < 0x80 ? 3 : (self::METHOD_AFTER_UINT[$c] ?? 0);
        } elseif (str_starts_with($body, "\x93\x02")) {
            $at = 2;
        }
        if ($at !== 0 && isset($body[$at])) {
            $c = \ord($body[$at]);
            if (($c & 0xe0) === 0xa0) {
                $p = $at + 1 + ($c & 0x1f);
                $c = isset($body[$p]) ? \ord($body[$p]) : 0;
                if (($c & 0xf0) === 0x90 || $c === 0xdc || $c === 0xdd) {
                    $params = $p;
                    // Params of one scalar (the commonest call): no ext-msgpack at all.
                    $one = $c === 0x91 ? $this->decoder->lone($body, $p + 1) : null;
                    if ($one !== null) {
                        $method = substr($body, $at + 1, $p - $at - 1);
                        if (mb_check_encoding($method, 'UTF-8')) {
                            if ($at === 2) {
                                return new Notification($method, $one);
                            }
                            $c = \ord($body[2]);
                            $id = $c < 0x80 ? $c : ($c === 0xcc ? \ord($body[3]) : unpack($c === 0xcd ? 'n' : 'N', $body, 3)[1]);
                            return new Request($id, $method, $one);
                        }
                    }
                }
            }
        }
        // A message is an array: a map would decode to a PHP array too (a list, even, for the
        // keys 0 to 3), and then fail a later check with a misleading reason.
        $c = \ord($body[0] ?? "\xc1");
        if (($c & 0xf0) !== 0x90 && $c !== 0xdc && $c !== 0xdd && $c !== 0xc1) { // (0xc1: the decoder names it)
            throw ProtocolError::invalidMessage('a message is an array, got ' . self::describe($c), $body);
        }
        try {
            $message = $this->decoder->decode($body, Decoder::MAX_DEPTH, $params);
            $unsupported = null;
        } catch (UnsupportedValue $e) {
            $unsupported = $e;
            $message = $this->envelope($body, $e);
        }
        // The value decoded, so it is the list of 4 (or 3) elements the bytes say, with those
        // types; only the method's UTF-8 is left to check.
        if ($params !== 0 && $unsupported === null) {
            $method = $message[$at === 2 ? 1 : 2];
            if (mb_check_encoding($method, 'UTF-8')) {
                return $at === 2 ? new Notification($method, $message[2]) : new Request($message[1], $method, $message[3]);
            }
        }
        // Straight-line checks: this runs for every other frame.
        $count = \is_array($message) ? \count($message) : 0;
        if (($count !== 3 && $count !== 4) || !array_is_list($message)) {
            throw ProtocolError::invalidMessage(\is_array($message)
                ? sprintf('a message is an array of 3 or 4 elements, not %d', $count)
                : 'a message is an array', $body);
        }
        $kind = $message[0];
        if (!\is_int($kind) || $kind < 0 || $kind > 2) {
            throw ProtocolError::invalidMessage('the kind (first element) is the integer 0, 1 or 2', $body);
        }
        if ($count !== ($kind === 2 ? 3 : 4)) {
            throw ProtocolError::invalidMessage(sprintf(
                'a %s has %d elements, not %d',
                ['request', 'response', 'notification'][$kind],
                $kind === 2 ? 3 : 4,
                $count
            ), $body);
        }
        // Byte offset of the element after the kind (array header: 1, 3 or 5 bytes).
        $c = \ord($body[0]);
        $at = $c === 0xdc ? 3 : ($c === 0xdd ? 5 : 1);
        $c = \ord($body[$at]);
        $at += $c < 0x80 ? 1 : (self::INT_SIZE[$c] ?? 1);
        if ($kind !== 2) {
            $id = $message[1];
            if (!\is_int($id) || $id < 0 || $id > self::MAX_ID) {
                throw ProtocolError::invalidMessage('the id is an integer from 0 to 4294967295', $body);
            }
            if ($kind === 1) {
                $error = $message[2];
                if ($error !== null && !self::isErrorMap($error)) {
                    throw ProtocolError::invalidMessage('the error of a response is nil or a map with a str "type" and a str "message"', $body);
                }
                return new Response($id, $error, $message[3], $unsupported);
            }
            $c = \ord($body[$at]);
            $at += $c < 0x80 ? 1 : (self::INT_SIZE[$c] ?? 1);
        }
        // The method: a str (not a bin, which PHP would also make a string), valid UTF-8.
        $method = $message[$kind === 2 ? 1 : 2];
        $c = isset($body[$at]) ? \ord($body[$at]) : 0;
        $head = ($c & 0xe0) === 0xa0 ? 1 : (self::STR_HEAD[$c] ?? 0);
        if ($head === 0 || !\is_string($method)) {
            throw ProtocolError::invalidMessage('the method is a msgpack str', $body);
        }
        if (!mb_check_encoding($method, 'UTF-8')) {
            throw ProtocolError::invalidMessage('the method is not valid UTF-8', $body);
        }
        // The params: an array (not a map, which PHP would also make an array).
        $params = $message[$kind === 2 ? 2 : 3];
        if ($unsupported === null) {
            $at += $head + \strlen($method);
            $c = isset($body[$at]) ? \ord($body[$at]) : 0;
            if (!\is_array($params) || !(($c & 0xf0) === 0x90 || $c === 0xdc || $c === 0xdd)) {
                throw ProtocolError::invalidMessage('params are a msgpack array', $body);
            }
        } else {
            $params = [];
        }
        return $kind === 0
            ? new Request($message[1], $method, $params, $unsupported)
            : new Notification($method, $params, $unsupported);
    }

    /**
     * Encodes a request `[0, $id, $method, $params]`.
     *
     * @param list<mixed> $params
     * @throws EncodingFailed
     */
    public function request(int $id, string $method, array $params): string
    {
        return $this->encoder->encode([0, $id, $method, $params], Decoder::MAX_DEPTH, 'request', [3 => 'params']);
    }

    /**
     * Encodes a response `[1, $id, $error, $result]`.
     *
     * @param array<array-key, mixed>|null $error
     * @throws EncodingFailed
     */
    public function response(int $id, ?array $error, mixed $result): string
    {
        if ($error === null && $this->scalarResults) {
            if (\is_string($result)) {
                // The commonest result, built by hand: [1, id, nil, str].
                $head = $this->stringResultHead($id, $result);
                if ($head !== null) {
                    return $head . $result;
                }
            } elseif ($result === null || \is_scalar($result)) {
                return $this->msgpack->pack([1, $id, null, $result]);
            }
        }
        return $this->encoder->encode([1, $id, $error, $result], Decoder::MAX_DEPTH, 'response', [2 => 'error', 3 => 'result']);
    }

    /**
     * The bytes of the response `[1, $id, nil, $result]` that come before $result, when
     * $result is a string sent as `str` (valid UTF-8); null otherwise. For a large result,
     * which is then written after them without being copied into one body.
     *
     * @param string|null $text a string that arrived as a `str`: a $result equal to it is
     *                          sent as a str without being checked (SPEC 3 says a str is
     *                          UTF-8; checking 1 MiB costs PHP about 0.6 ms, half of such a
     *                          call's time). A peer that sent a str that is not UTF-8 gets its
     *                          bytes back as the str they came as.
     * @param int|string  $id   the id, or its msgpack in its shortest form when the caller has
     *                          it (cut from the request: cheaper than encoding it again)
     */
    public function stringResultHead(int|string $id, string $result, ?string $text = null): ?string
    {
        $n = \strlen($result);
        if (!$this->scalarResults || $result !== $text && ($n < Encoder::SHORT ? !mb_check_encoding($result, 'UTF-8') : !Encoder::isUtf8($result))) {
            return null;
        }
        // (A string with {$...} in it is built in one allocation, a chain of `.` in one each.)
        $byte = Encoder::BYTES;
        $i = \is_string($id) ? $id : ($id < 0x80 ? $byte[$id] : ($id < 0x100 ? "\xcc" . $byte[$id] : ($id < 0x10000 ? "\xcd" . \pack('n', $id) : "\xce" . \pack('N', $id))));
        $s = $n < 0x20 ? $byte[0xa0 | $n] : ($n < 0x100 ? "\xd9" . $byte[$n] : ($n < 0x10000 ? "\xda" . \pack('n', $n) : "\xdb" . \pack('N', $n)));
        return "\x94\x01{$i}\xc0{$s}";
    }

    /**
     * Encodes a notification `[2, $method, $params]`.
     *
     * @param list<mixed> $params
     * @throws EncodingFailed
     */
    public function notification(string $method, array $params): string
    {
        return $this->encoder->encode([2, $method, $params], Decoder::MAX_DEPTH, 'notification', [2 => 'params']);
    }

    /** True when $error is a map with a string "type" and a string "message" (SPEC 4.2). */
    public static function isErrorMap(mixed $error): bool
    {
        return \is_array($error) && \is_string($error['type'] ?? null) && \is_string($error['message'] ?? null);
    }

    /** Names the msgpack type whose encoding starts with the byte $c, for error messages. */
    private static function describe(int $c): string
    {
        return match (true) {
            $c < 0x80, $c >= 0xe0, $c >= 0xcc && $c <= 0xd3 => 'an integer',
            $c < 0x90, $c === 0xde, $c === 0xdf => 'a map',
            $c < 0xa0, $c === 0xdc, $c === 0xdd => 'an array',
            $c < 0xc0, $c >= 0xd9 && $c <= 0xdb => 'a str',
            $c === 0xc0 => 'nil',
            $c === 0xc2, $c === 0xc3 => 'a bool',
            $c === 0xca, $c === 0xcb => 'a float',
            $c >= 0xc4 && $c <= 0xc6 => 'a bin',
            default => 'an ext',
        };
    }

    /**
     * Reads kind, id and method of a message whose params or result PHP cannot hold.
     *
     * @return list<mixed>
     */
    private function envelope(string $body, UnsupportedValue $e): array
    {
        $top = $this->decoder->lastTop;
        if (\count($top) < 4) {
            throw ProtocolError::invalidMessage('a message is an array of 3 or 4 elements (and: ' . $e->getMessage() . ')', $body);
        }
        $parts = [];
        try {
            for ($i = 0; $i < \count($top) - 2; $i++) {
                $parts[] = $this->decoder->decodeTopElement($body, $i);
            }
        } catch (UnsupportedValue $inEnvelope) {
            throw ProtocolError::invalidMessage('kind, id and method must be decodable: ' . $inEnvelope->getMessage(), $body);
        }
        $parts[] = null;
        return $parts;
    }
}
