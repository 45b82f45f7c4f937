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

    /**
     * This process is a pcntl_fork()ed copy of the worker: the channel is the worker's, so the
     * copy neither sends on it nor reads from it.
     */
    public static function inForkedCopy(int $pid, int $worker): self
    {
        return new self(sprintf('this process (pid %d) is a fork of the polyfork worker (pid %d), whose channel it must not use', $pid, $worker));
    }

    /**
     * Writing to the channel failed because the host stopped reading; $why is the warning
     * fwrite() left, if any ("... errno=32 Broken pipe" is named EPIPE, as the other clients do).
     */
    public static function onWrite(?string $why = null): self
    {
        $reason = '';
        if ($why !== null && preg_match('/errno=(\d+)(?: (.*))?/', $why, $m)) {
            $reason = ' (' . ([32 => 'EPIPE', 104 => 'ECONNRESET'][(int) $m[1]] ?? trim('errno ' . $m[1] . ' ' . ($m[2] ?? ''))) . ')';
        }
        return new self('the host closed the channel: writing a frame failed' . $reason);
    }
}
