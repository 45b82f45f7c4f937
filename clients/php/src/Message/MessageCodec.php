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

    private readonly Decoder $decoder;
    private readonly Encoder $encoder;

    public function __construct()
    {
        $this->decoder = new Decoder();
        $this->encoder = new Encoder();
    }

    /**
     * Decodes one frame body into a message.
     *
     * @throws ProtocolError when the body is not a well-formed message
     */
    public function decode(string $body): Request|Response|Notification
    {
        try {
            $message = $this->decoder->decode($body, Decoder::MAX_DEPTH);
            $unsupported = null;
        } catch (UnsupportedValue $e) {
            $unsupported = $e;
            $message = $this->envelope($body, $e);
        }
        if (!is_array($message) || !array_is_list($message)) {
            throw ProtocolError::invalidMessage('a message is an array', $body);
        }
        $count = count($message);
        if ($count !== 3 && $count !== 4) {
            throw ProtocolError::invalidMessage(sprintf('a message is an array of 3 or 4 elements, not %d', $count), $body);
        }
        $kind = $message[0] ?? null;
        if (!is_int($kind) || $kind < 0 || $kind > 2) {
            throw ProtocolError::invalidMessage('the kind (first element) is the integer 0, 1 or 2', $body);
        }
        // Byte offset just past the array header and the kind, to check the wire types below.
        $at = match (ord($body[0])) {
            0xdc => 3,
            0xdd => 5,
            default => 1,
        };
        $at += self::intSize($body[$at]);
        if ($kind === 2) {
            if ($count !== 3) {
                throw ProtocolError::invalidMessage(sprintf('a notification has 3 elements, not %d', $count), $body);
            }
            $this->checkMethod($message[1], $body, $at);
            $params = $unsupported === null ? $this->checkParams($message[2], $body, $at, $message[1]) : [];
            return new Notification($message[1], $params, $unsupported);
        }
        if ($count !== 4) {
            throw ProtocolError::invalidMessage(sprintf('a %s has 4 elements, not %d', $kind === 0 ? 'request' : 'response', $count), $body);
        }
        $id = $message[1];
        if (!is_int($id) || $id < 0 || $id > self::MAX_ID) {
            throw ProtocolError::invalidMessage('the id is an integer from 0 to 4294967295', $body);
        }
        if ($kind === 0) {
            $methodAt = $at + self::intSize($body[$at]);
            $this->checkMethod($message[2], $body, $methodAt);
            $params = $unsupported === null ? $this->checkParams($message[3], $body, $methodAt, $message[2]) : [];
            return new Request($id, $message[2], $params, $unsupported);
        }
        $error = $message[2];
        if ($error !== null && !self::isErrorMap($error)) {
            throw ProtocolError::invalidMessage('the error of a response is nil or a map with a str "type" and a str "message"', $body);
        }
        return new Response($id, $error, $message[3], $unsupported);
    }

    /**
     * Encodes a request `[0, $id, $method, $params]`.
     *
     * @param list<mixed> $params
     * @throws EncodingFailed
     */
    public function request(int $id, string $method, array $params): string
    {
        return $this->encoder->encode([0, $id, $method, $params], Decoder::MAX_DEPTH, 'request');
    }

    /**
     * Encodes a response `[1, $id, $error, $result]`.
     *
     * @param array<array-key, mixed>|null $error
     * @throws EncodingFailed
     */
    public function response(int $id, ?array $error, mixed $result): string
    {
        return $this->encoder->encode([1, $id, $error, $result], Decoder::MAX_DEPTH, 'response');
    }

    /**
     * Encodes a notification `[2, $method, $params]`.
     *
     * @param list<mixed> $params
     * @throws EncodingFailed
     */
    public function notification(string $method, array $params): string
    {
        return $this->encoder->encode([2, $method, $params], Decoder::MAX_DEPTH, 'notification');
    }

    /** True when $error is a map with a string "type" and a string "message" (SPEC 4.2). */
    public static function isErrorMap(mixed $error): bool
    {
        return is_array($error) && is_string($error['type'] ?? null) && is_string($error['message'] ?? null);
    }

    /**
     * Reads kind, id and method of a message whose params or result PHP cannot hold.
     *
     * @return list<mixed>
     */
    private function envelope(string $body, UnsupportedValue $e): array
    {
        $top = $this->decoder->lastTop;
        if (count($top) < 4) {
            throw ProtocolError::invalidMessage('a message is an array of 3 or 4 elements (and: ' . $e->getMessage() . ')', $body);
        }
        $parts = [];
        try {
            for ($i = 0; $i < count($top) - 2; $i++) {
                $parts[] = $this->decoder->decodeTopElement($body, $i);
            }
        } catch (UnsupportedValue $inEnvelope) {
            throw ProtocolError::invalidMessage('kind, id and method must be decodable: ' . $inEnvelope->getMessage(), $body);
        }
        $parts[] = null;
        return $parts;
    }

    /** The method at byte $at must be a `str` holding UTF-8. */
    private function checkMethod(mixed $method, string $body, int $at): void
    {
        $c = isset($body[$at]) ? ord($body[$at]) : 0;
        $isStr = ($c >= 0xa0 && $c <= 0xbf) || ($c >= 0xd9 && $c <= 0xdb);
        if (!$isStr || !is_string($method)) {
            throw ProtocolError::invalidMessage('the method is a msgpack str', $body);
        }
        if (!mb_check_encoding($method, 'UTF-8')) {
            throw ProtocolError::invalidMessage('the method is not valid UTF-8', $body);
        }
    }

    /**
     * The params after the method that starts at byte $methodAt must be a msgpack array.
     *
     * @return list<mixed>
     */
    private function checkParams(mixed $params, string $body, int $methodAt, string $method): array
    {
        $c = ord($body[$methodAt]);
        $at = $methodAt + strlen($method) + match (true) {
            $c === 0xd9 => 2,
            $c === 0xda => 3,
            $c === 0xdb => 5,
            default => 1,
        };
        $p = isset($body[$at]) ? ord($body[$at]) : 0;
        if (!is_array($params) || !(($p >= 0x90 && $p <= 0x9f) || $p === 0xdc || $p === 0xdd)) {
            throw ProtocolError::invalidMessage('params are a msgpack array', $body);
        }
        return $params;
    }

    /** The size in bytes of the msgpack integer whose first byte is $first. */
    private static function intSize(string $first): int
    {
        return match (ord($first)) {
            0xcc, 0xd0 => 2,
            0xcd, 0xd1 => 3,
            0xce, 0xd2 => 5,
            0xcf, 0xd3 => 9,
            default => 1,
        };
    }
}
