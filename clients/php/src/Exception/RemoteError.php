<?php

declare(strict_types=1);

namespace Polyfork\Exception;

/**
 * The peer's handler failed: thrown by Polyfork::call() with the error map of the response
 * (SPEC 4.2). getType() is the remote error type (a class name, or MethodNotFound,
 * CancelledError, ProtocolError), getMessage() its message, getTraceback() the remote stack
 * as text, getData() whatever structured data the raiser attached.
 */
final class RemoteError extends \RuntimeException implements PolyforkException
{
    private function __construct(
        private readonly string $type,
        string $message,
        private readonly ?string $traceback,
        private readonly mixed $data
    ) {
        parent::__construct($message);
    }

    /**
     * Builds the exception from a validated error map: type and message are strings,
     * traceback is a string or absent, data anything.
     *
     * @param array<array-key, mixed> $error
     */
    public static function fromErrorMap(array $error): self
    {
        $traceback = $error['traceback'] ?? null;
        return new self(
            (string) $error['type'],
            (string) $error['message'],
            \is_string($traceback) ? $traceback : null,
            $error['data'] ?? null
        );
    }

    /** The remote error type, e.g. "ValueError", "App\\Errors\\Quota" or "MethodNotFound". */
    public function getType(): string
    {
        return $this->type;
    }

    /** The remote stack as text in the remote language's format, or null if none was sent. */
    public function getTraceback(): ?string
    {
        return $this->traceback;
    }

    /** Structured data the remote raiser attached, or null. */
    public function getData(): mixed
    {
        return $this->data;
    }
}
