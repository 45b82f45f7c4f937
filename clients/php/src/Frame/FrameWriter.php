<?php

declare(strict_types=1);

namespace Polyfork\Frame;

use Polyfork\Exception\ConnectionClosed;
use Polyfork\Exception\EncodingFailed;

/**
 * Writes length-prefixed frames (SPEC 2) to a blocking stream. A body larger than the maximum
 * frame size is refused before anything is written, so the connection stays usable.
 */
final class FrameWriter
{
    /** Bodies up to this size are written in one call with their prefix (one copy, one syscall). */
    private const JOIN_LIMIT = 65536;

    /**
     * @param resource $stream   the writable stream (a private duplicate of the child's stdout)
     * @param int      $maxFrame the peer's maximum frame size in bytes
     */
    public function __construct(private $stream, private readonly int $maxFrame)
    {
    }

    /**
     * Writes one frame holding $body.
     *
     * @throws EncodingFailed   when $body is larger than the maximum frame size
     * @throws ConnectionClosed when the peer no longer reads
     */
    public function write(string $body): void
    {
        $size = strlen($body);
        if ($size > $this->maxFrame) {
            throw EncodingFailed::frameTooLarge($size, $this->maxFrame);
        }
        if ($size <= self::JOIN_LIMIT) {
            $frame = pack('N', $size) . $body;
            $written = @fwrite($this->stream, $frame);
            if ($written !== $size + 4) {
                $this->writeAll($frame, $written === false ? 0 : $written); // finish, or report
            }
            return;
        }
        $this->writeAll(pack('N', $size));
        $this->writeAll($body);
    }

    /** Writes $bytes from offset $written on, looping over partial writes. */
    private function writeAll(string $bytes, int $written = 0): void
    {
        $total = strlen($bytes);
        while ($written < $total) {
            $more = @fwrite($this->stream, $written === 0 ? $bytes : substr($bytes, $written));
            if ($more === false || $more === 0) {
                throw ConnectionClosed::onWrite();
            }
            $written += $more;
        }
    }
}
