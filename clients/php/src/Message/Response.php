<?php

declare(strict_types=1);

namespace Polyfork\Message;

use Polyfork\Exception\UnsupportedValue;

/**
 * A response `[1, id, error, result]` (SPEC 4.1). $error is null on success, else a validated
 * error map (str type, str message). When the result could not be decoded exactly, $result is
 * null and $unsupported says why.
 */
final class Response
{
    /**
     * @param int                            $id          the id of the request it answers
     * @param array<array-key, mixed>|null   $error       null, or the error map (SPEC 4.2)
     * @param mixed                          $result      the handler's return value
     * @param ?UnsupportedValue              $unsupported set when the result could not be decoded
     */
    public function __construct(
        public readonly int $id,
        public readonly ?array $error,
        public readonly mixed $result,
        public readonly ?UnsupportedValue $unsupported = null
    ) {
    }
}
