<?php

declare(strict_types=1);

namespace Polyfork\Message;

use Polyfork\Exception\UnsupportedValue;

/**
 * A request `[0, id, method, params]` (SPEC 4.1). When a parameter could not be decoded
 * exactly, $params is empty and $unsupported says why: the request gets that error.
 */
final class Request
{
    /**
     * @param int               $id          uint32, chosen by the sender
     * @param string            $method      UTF-8 method name
     * @param list<mixed>       $params      positional arguments
     * @param ?UnsupportedValue $unsupported set when the params could not be decoded
     */
    public function __construct(
        public readonly int $id,
        public readonly string $method,
        public readonly array $params,
        public readonly ?UnsupportedValue $unsupported = null
    ) {
    }
}
