<?php

declare(strict_types=1);

namespace Polyfork\Frame;

use Polyfork\Codec\Encoder;
use Polyfork\Exception\ConnectionClosed;
use Polyfork\Exception\EncodingFailed;

/**
 * Writes length-prefixed frames (SPEC 2) to a blocking stream. A body larger than the maximum
 * frame size is refused before anything is written, so the connection stays usable.
 *
 * write() sends a frame at once. queue() holds small frames back so that several go out in
 * one write (one syscall and one wake-up of the reader instead of one each); the caller
 * decides when that is safe and calls flush(). Queued frames always go out before a frame
 * given to write(), in order; what is still queued when the script ends is flushed by a
 * shutdown function (also after exit() in a handler).
 */
final class FrameWriter
{
    /** Bodies up to this size are written in one call with their prefix (one copy, one syscall). */
    public const JOIN_LIMIT = 65536;

    /** Queued bytes that trigger a write: a pipe takes 64 KiB at once, more saves nothing. */
    private const QUEUE_LIMIT = 65536;

    /** Frames queued by queue(), prefixes included, not yet written. */
    private string $queued = '';

    private bool $flushOnShutdown = false;

    /**
     * True while a frame is written in more than one fwrite() (a partial write, a large
     * frame): PHP runs a signal handler (pcntl_async_signals) between them. A frame written
     * from there meanwhile waits in $late, or it would land inside the one under way.
     */
    private bool $busy = false;

    /** Frames written while $busy, prefixes included, written as soon as it is over. */
    private string $late = '';

    /**
     * @param resource $stream   the writable stream (a private duplicate of the child's stdout)
     * @param int      $maxFrame the peer's maximum frame size in bytes
     */
    public function __construct(private $stream, private readonly int $maxFrame)
    {
    }

    /**
     * Writes the queued frames and one frame holding $body.
     *
     * @throws EncodingFailed   when $body is larger than the maximum frame size (the queued
     *                          frames stay queued)
     * @throws ConnectionClosed when the peer no longer reads
     */
    public function write(string $body): void
    {
        $size = \strlen($body);
        if ($size > $this->maxFrame) {
            throw EncodingFailed::frameTooLarge($size, $this->maxFrame);
        }
        if ($this->busy) {
            $this->late .= pack('N', $size) . $body;
            return;
        }
        if ($size <= self::JOIN_LIMIT) {
            // The prefix of a body under 256 bytes from Encoder::BYTES (pack('N') costs ~600
            // instructions more), the frame in one allocation ("{$...}", not a chain of `.`).
            if ($size < 0x100) {
                $last = Encoder::BYTES[$size];
                $frame = "\0\0\0{$last}{$body}";
            } else {
                $frame = \pack('N', $size) . $body;
            }
            if ($this->queued !== '') {
                $frame = $this->queued . $frame;
                $this->queued = '';
            }
            $written = @\fwrite($this->stream, $frame);
            if ($written < \strlen($frame)) { // (false, or short; `<` costs less than `!==`)
                $this->writeParts([$frame], $written === false ? 0 : $written); // finish, or report
            }
            return;
        }
        $head = $this->queued . pack('N', $size);
        $this->queued = '';
        $this->writeParts([$head, $body]);
    }

    /**
     * Writes the queued frames and one frame holding $head . $tail, without joining them:
     * for a large $tail (a string result) that saves a copy of it.
     *
     * @throws EncodingFailed   when the frame is larger than the maximum frame size
     * @throws ConnectionClosed when the peer no longer reads
     */
    public function writeSplit(string $head, string $tail): void
    {
        $size = \strlen($head) + \strlen($tail);
        if ($size > $this->maxFrame) {
            throw EncodingFailed::frameTooLarge($size, $this->maxFrame);
        }
        if ($this->busy) {
            $this->late .= pack('N', $size) . $head . $tail;
            return;
        }
        $first = $this->queued . pack('N', $size) . $head;
        $this->queued = '';
        $this->writeParts([$first, $tail]);
    }

    /**
     * Queues one frame holding $body, to be written by the next write() or flush() (or at
     * once when the queue has grown to 64 KiB, or $body is larger than that).
     *
     * @throws EncodingFailed   when $body is larger than the maximum frame size
     * @throws ConnectionClosed when the peer no longer reads
     */
    public function queue(string $body): void
    {
        $size = \strlen($body);
        if ($size > self::JOIN_LIMIT || \strlen($this->queued) + $size >= self::QUEUE_LIMIT) {
            $this->write($body);
            return;
        }
        if ($size > $this->maxFrame) {
            throw EncodingFailed::frameTooLarge($size, $this->maxFrame);
        }
        if (!$this->flushOnShutdown) {
            $this->flushOnShutdown = true;
            $writer = \WeakReference::create($this);
            $pid = getmypid();
            register_shutdown_function(static function () use ($writer, $pid): void {
                if (getmypid() !== $pid) {
                    return; // a pcntl_fork()ed copy: the frames are its parent's to write
                }
                try {
                    $writer->get()?->flush();
                } catch (\Throwable) {
                    // Nobody reads any more, or the stream was closed: nothing to deliver.
                }
            });
        }
        if ($size < 0x100) { // (see write())
            $last = Encoder::BYTES[$size];
            $this->queued .= "\0\0\0{$last}{$body}";
        } else {
            $this->queued .= \pack('N', $size) . $body;
        }
    }

    /**
     * Writes the queued frames, if any.
     *
     * @throws ConnectionClosed when the peer no longer reads (the frames are dropped)
     */
    public function flush(): void
    {
        if ($this->queued !== '' && !$this->busy) {
            $frames = $this->queued;
            $this->queued = '';
            $this->writeParts([$frames]);
        }
    }

    /**
     * Writes $parts, the first from offset $written on, as one frame (or frames) that nothing
     * may come between, then the frames a signal handler wrote meanwhile ($late).
     *
     * @param list<string> $parts
     */
    private function writeParts(array $parts, int $written = 0): void
    {
        $this->busy = true;
        try {
            foreach ($parts as $part) {
                $this->writeAll($part, $written);
                $written = 0;
            }
            while ($this->late !== '') {
                $late = $this->late;
                $this->late = '';
                $this->writeAll($late);
            }
        } catch (\Throwable $e) {
            $this->late = ''; // the host stopped reading: the session is over
            throw $e;
        } finally {
            $this->busy = false;
        }
        if ($this->late !== '') { // written by a handler that ran just before $busy was cleared
            $this->writeParts([]);
        }
    }

    /** Writes $bytes from offset $written on, looping over partial writes. */
    private function writeAll(string $bytes, int $written = 0): void
    {
        $total = \strlen($bytes);
        $stalls = 0;
        while ($written < $total) {
            error_clear_last();
            $more = @fwrite($this->stream, $written === 0 ? $bytes : substr($bytes, $written));
            if ($more === false || $more === 0) {
                $why = error_get_last()['message'] ?? null;
                // No warning: a signal interrupted the write (EINTR: a handler installed by
                // pcntl_signal() with $restart_syscalls false; PHP gives up with false and says
                // nothing), or the stream was made non-blocking and is full (0). It used to end
                // the session as if the host had gone, half a frame written. Wait until the
                // stream takes more and go on. A failure with a warning (EPIPE) is the end.
                if ($why === null && ++$stalls < 100_000) {
                    $none = null;
                    $write = [$this->stream];
                    @stream_select($none, $write, $none, null);
                    continue;
                }
                throw ConnectionClosed::onWrite($why);
            }
            $stalls = 0;
            $written += $more;
        }
    }
}
