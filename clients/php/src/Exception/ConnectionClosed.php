<?php

declare(strict_types=1);

namespace Polyfork\Exception;

/**
 * The host closed the channel (end of file) while this process waited for the answer
 * to a call, or something was sent after the channel was closed.
 */
final class ConnectionClosed extends \RuntimeException implements PolyforkException
{
    /** End of file on the channel while call $id to $method waited for its response. */
    public static function whileWaiting(string $method, int $id): self
    {
        return new self(sprintf('the host closed the channel while call %d to "%s" waited for its response', $id, $method));
    }

    /** Writing to the channel failed because the host stopped reading. */
    public static function onWrite(): self
    {
        return new self('the host closed the channel: writing a frame failed');
    }
}
