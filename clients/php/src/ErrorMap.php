<?php

declare(strict_types=1);

namespace Polyfork;

use Polyfork\Exception\CancelledError;

/**
 * Builds the error maps of responses (SPEC 4.2): `{"type", "message", "traceback"?, "data"?}`.
 * Texts are made valid UTF-8 (invalid bytes become "?") since msgpack str must be UTF-8.
 */
final class ErrorMap
{
    /**
     * The error map of an exception thrown by a handler: type is the fully-qualified class
     * name, message its message, traceback getTraceAsString(). A CancelledError becomes the
     * reserved type `CancelledError`.
     *
     * @return array{type: string, message: string, traceback: string}
     */
    public static function fromThrowable(\Throwable $e): array
    {
        return [
            'type' => $e instanceof CancelledError ? 'CancelledError' : \get_class($e),
            'message' => self::text($e->getMessage()),
            'traceback' => self::text($e->getTraceAsString()),
        ];
    }

    /**
     * The reserved `MethodNotFound` error for a request to $method (SPEC 4.1).
     *
     * @return array{type: string, message: string}
     */
    public static function methodNotFound(string $method): array
    {
        return ['type' => 'MethodNotFound', 'message' => sprintf('no handler for method "%s"', self::cutName($method))];
    }

    /**
     * A method name for an error message: whole up to 200 bytes, else its first 200 (at a
     * character boundary) and its length. A name is the caller's input, and may be huge.
     */
    public static function cutName(string $method): string
    {
        if (\strlen($method) <= 200) {
            return $method;
        }
        $n = 200;
        while ($n > 0 && (\ord($method[$n]) & 0xc0) === 0x80) {
            $n--;
        }
        return sprintf('%s... (%d bytes)', substr($method, 0, $n), \strlen($method));
    }

    /**
     * The reserved `CancelledError` for request $id, cancelled before its handler started.
     *
     * @return array{type: string, message: string}
     */
    public static function cancelled(int $id): array
    {
        return ['type' => 'CancelledError', 'message' => CancelledError::request($id)->getMessage()];
    }

    /**
     * The reserved `Stopping` error for request $id to $method, which arrived after `$stop`
     * and was not run, so the host may send it to another child (SPEC 4.2, 6).
     *
     * @return array{type: string, message: string}
     */
    public static function stopping(int $id, string $method): array
    {
        return ['type' => 'Stopping', 'message' => sprintf(
            'request %d for "%s" arrived after $stop and was not run: the child is stopping',
            $id,
            self::text($method)
        )];
    }

    /**
     * The reserved `ProtocolError`: the request could not be dispatched or answered.
     *
     * @return array{type: string, message: string}
     */
    public static function protocolError(string $message): array
    {
        return ['type' => 'ProtocolError', 'message' => self::text($message)];
    }

    private static function text(string $s): string
    {
        if (Codec\Encoder::isUtf8($s)) {
            return $s;
        }
        $previous = mb_substitute_character();
        mb_substitute_character(0x3f);
        try {
            return mb_convert_encoding($s, 'UTF-8', 'UTF-8');
        } finally {
            mb_substitute_character($previous);
        }
    }
}
