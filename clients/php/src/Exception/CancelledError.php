<?php

declare(strict_types=1);

namespace Polyfork\Exception;

/**
 * The host sent `$cancel` for the request being handled (SPEC 4.4). Throw it from a handler
 * (Polyfork::throwIfCancelled() does) to answer the request with the reserved
 * `CancelledError` error map.
 */
final class CancelledError extends \RuntimeException implements PolyforkException
{
    /** The request $id was cancelled by the host. */
    public static function request(int $id): self
    {
        return new self(sprintf('request %d was cancelled by the host', $id));
    }
}
