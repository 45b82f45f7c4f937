<?php

declare(strict_types=1);

namespace Polyfork\Message;

use Polyfork\Exception\UnsupportedValue;

/**
 * A notification `[2, method, params]` (SPEC 4.3): `message` with one parameter is send() /
 * on('message'); names starting with `$` are the protocol's. When a parameter could not be
 * decoded exactly, $params is empty and $unsupported says why.
 */
final class Notification
{
    /**
     * @param string            $method      UTF-8 notification name
     * @param list<mixed>       $params      positional arguments
     * @param ?UnsupportedValue $unsupported set when the params could not be decoded
     */
    public function __construct(
        public readonly string $method,
        public readonly array $params,
        public readonly ?UnsupportedValue $unsupported = null
    ) {
    }
}
