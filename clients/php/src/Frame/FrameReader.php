<?php

declare(strict_types=1);

namespace Polyfork\Frame;

use Polyfork\Exception\ProtocolError;

/**
 * Reads length-prefixed frames (SPEC 2) from a blocking stream: a 4-byte big-endian length N,
 * then N bytes. N is checked against the maximum before anything is allocated for the body,
 * and reads loop until the frame is complete (a pipe returns at most 64 KiB per read).
 * End of file between frames is a normal close; inside a frame it is a ProtocolError.
 *
 * One read takes everything that waits (up to 64 KiB), so under load it holds many frames;
 * they are handed out from an offset into that buffer, without copying the rest each time.
 * hasFrame() says whether the next read() returns without touching the stream; $more, more
 * cheaply, whether any bytes are buffered after the frame read() returned. A layer that holds
 * answers back while $more is set gives a $beforeRead hook that writes them: read() calls it
 * before it reads from the stream, which may block.
 *
 * poll() reads whatever has arrived without blocking longer than asked, so a handler can look
 * for `$cancel` while it works; the bytes it reads stay queued for read().
 *
 * A large frame that ends in one long string (a call whose one parameter is a 1 MiB string)
 * can be handed out in two parts, when a tail finder is given: the body up to that string's
 * bytes, and the string itself in $tail, read straight from the stream. The layer above then
 * makes it the parameter without copying it out of the body: the frame costs one string of
 * its size instead of two. (Under the Zend allocator two strings of 1 MiB need two fresh 2 MiB
 * chunks, which it unmaps and maps again on every call: 260 page faults a call, a third of its
 * time.)
 */
final class FrameReader
{
    /** Bytes read ahead (by a read, or by poll()), not yet returned: from $pos on. */
    private string $buffer = '';

    /** Offset in $buffer of the first byte not yet returned. */
    private int $pos = 0;

    private bool $eof = false;

    /**
     * The length read by hasFrame() of the frame at $pos, so that read() does not unpack it
     * again (under load both run once per frame); -1 when not known.
     */
    private int $peeked = -1;

    /** How much one read asks for: a pipe holds 64 KiB, so one read takes all that waits. */
    private const READ_SIZE = 65536;

    /** How much one read of a large body asks for (the string is allocated at this size). */
    private const BODY_READ_SIZE = 262144;

    /** The smallest frame whose trailing string the tail finder is asked about. */
    private const TAIL_MIN = 65536;

    /**
     * A trailing string under this size is grown as the pieces arrive (readRest()), inside the
     * Zend allocator's 2 MiB chunks; a larger one is mapped on its own whatever is done, and
     * is joined once.
     */
    private const TAIL_APPEND_MAX = (2 << 20) - 8192;

    /**
     * The trailing string of the frame that read() just returned, when the tail finder cut it
     * off (the body then ends just before the string's bytes); null otherwise. The caller
     * takes it and sets it back to null before the next read(). poll() never cuts one: it
     * returns only frames that have wholly arrived.
     */
    public ?string $tail = null;

    /**
     * True when bytes are buffered after the frame read() last returned: the next read()
     * starts on them (it returns at once when they hold a whole frame; else it calls
     * $beforeRead and then reads the rest from the stream). To be read, not written, by the
     * caller.
     */
    public bool $more = false;

    /**
     * Called (and cleared) before the next read from the stream, which may block: the layer
     * above sets it when it holds answers back because $more was set, and the hook writes
     * them, so that no answer waits for frames the host may send only after it got it.
     */
    public ?\Closure $beforeRead = null;

    /**
     * Turns off PHP's read buffering on $stream: this class buffers itself, and large bodies
     * are then read straight into their string (64 KiB per read, no copy through 8 KiB chunks).
     *
     * @param resource      $stream   the readable stream (the child's stdin, or the channel's read descriptor)
     * @param int           $maxFrame the maximum frame size in bytes
     * @param \Closure|null $tailAt   the tail finder: given the bytes that have arrived of a frame
     *                                of 64 KiB or more (its body from offset $from of $bytes) and
     *                                the frame's size, the body offset at which a string that runs
     *                                to the end of the frame starts, or -1 (see $tail)
     */
    public function __construct(private $stream, private readonly int $maxFrame, private readonly ?\Closure $tailAt = null)
    {
        stream_set_read_buffer($stream, 0);
    }

    /**
     * Blocks until a whole frame arrived and returns its body, or null at end of file
     * between frames.
     *
     * @throws ProtocolError on a bad length or end of file inside a frame
     */
    public function read(): ?string
    {
        $buffer = $this->buffer;
        $pos = $this->pos;
        $have = \strlen($buffer) - $pos - 4;
        if ($have < -3 && !$this->eof) { // (-4: nothing buffered; `<` costs less than `===`)
            // Nothing buffered: one read, which usually brings the whole next frame (or,
            // under load, many frames).
            if ($this->beforeRead !== null) {
                $this->beforeRead();
            }
            $buffer = \fread($this->stream, self::READ_SIZE);
            if (($buffer === false || $buffer === '') && ($buffer = $this->afterEmptyRead(self::READ_SIZE)) === '') {
                $this->eof = true;
                $this->buffer = '';
                $this->pos = 0;
                $this->more = false;
                return null;
            }
            $have = \strlen($buffer) - 4;
            // A whole frame first (as below, without writing $buffer and $pos twice): when the
            // read brought just that frame (one call in flight), nothing stays buffered, and
            // $buffer, $pos and $more keep the values they have when nothing is ('', 0, false).
            if ($have > 0 && ($size = \unpack('Nn', $buffer)['n']) <= $have && $size > 0 && $size <= $this->maxFrame) {
                if ($size < $have) {
                    $this->buffer = $buffer;
                    $this->pos = 4 + $size;
                    $this->more = true;
                    return \substr($buffer, 4, $size);
                }
                return \substr($buffer, 4);
            }
            $this->buffer = $buffer;
            $this->pos = $pos = 0;
        }
        if ($have >= 0) {
            if ($this->peeked < 0) {
                // Named with one letter: unpack() then keys the array with an interned one-
                // letter string, where the unnamed [1] is formatted and then converted to an
                // int key (~135 instructions more).
                $size = \unpack('Nn', $buffer, $pos)['n'];
            } else {
                $size = $this->peeked;
                $this->peeked = -1;
            }
            // (Ints compared with < rather than ===: without opcache `===` calls a function.)
            if ($size > 0 && $size <= $have && $size <= $this->maxFrame) {
                if ($size < $have) {
                    $this->pos = $pos + 4 + $size;
                    $this->more = true;
                } else {
                    $this->buffer = '';
                    $this->pos = 0;
                    $this->more = false;
                }
                return \substr($buffer, $pos + 4, $size);
            }
        }
        return $this->readSlowly();
    }

    /**
     * True when a whole frame is buffered (or a bad length prefix, which read() reports at
     * once): read() would then return without reading from the stream.
     */
    public function hasFrame(): bool
    {
        $have = \strlen($this->buffer) - $this->pos - 4;
        if ($have < 0) {
            return false;
        }
        $size = $this->peeked = unpack('N', $this->buffer, $this->pos)[1];
        return $size <= $have || $size === 0 || $size > $this->maxFrame;
    }

    /** Calls (and clears) $beforeRead. */
    private function beforeRead(): void
    {
        $hook = $this->beforeRead;
        $this->beforeRead = null;
        $hook();
    }

    /** read() for a frame not (wholly) buffered yet, a bad length, or end of file. */
    private function readSlowly(): ?string
    {
        if ($this->beforeRead !== null && !$this->eof) {
            $this->beforeRead();
        }
        $buffer = $this->pos === 0 ? $this->buffer : substr($this->buffer, $this->pos);
        $this->buffer = '';
        $this->pos = 0;
        $this->peeked = -1;
        $this->more = false;
        while (\strlen($buffer) < 4) {
            $chunk = $this->eof ? '' : fread($this->stream, self::READ_SIZE);
            if (($chunk === false || $chunk === '') && ($this->eof || ($chunk = $this->afterEmptyRead(self::READ_SIZE)) === '')) {
                $this->eof = true;
                if ($buffer === '') {
                    return null;
                }
                throw ProtocolError::truncatedFrame('length prefix', \strlen($buffer), 4);
            }
            $buffer .= $chunk;
        }
        $size = unpack('N', $buffer)[1];
        if ($size === 0) {
            throw ProtocolError::emptyFrame();
        }
        if ($size > $this->maxFrame) {
            throw ProtocolError::frameTooLarge($size, $this->maxFrame);
        }
        $have = \strlen($buffer) - 4;
        if ($have >= $size) {
            if ($have > $size) {
                $this->buffer = $buffer;
                $this->pos = 4 + $size;
                $this->more = true;
            }
            return substr($buffer, 4, $size);
        }
        $need = $size - $have;
        if ($this->tailAt !== null && $size >= self::TAIL_MIN
            && ($at = ($this->tailAt)($buffer, 4, $size)) > 0 && $at <= $have) {
            // A string runs from body offset $at to the end: the body before it is returned,
            // the string is completed from the stream on its own, in $tail.
            $tail = $this->readRest(substr($buffer, 4 + $at), $need, $size - $at < self::TAIL_APPEND_MAX);
            if (\strlen($tail) < $size - $at) {
                throw ProtocolError::truncatedFrame('body', $at + \strlen($tail), $size);
            }
            $this->tail = $tail;
            return substr($buffer, 4, $at);
        }
        $body = $this->readRest(substr($buffer, 4), $need, false);
        if (\strlen($body) < $size) {
            throw ProtocolError::truncatedFrame('body', \strlen($body), $size);
        }
        return $body;
    }

    /**
     * $first followed by the next $need bytes of the stream, fewer at end of file. The pieces
     * read are joined once (stream_get_contents() would grow one string 8 KiB at a time, a
     * realloc, and under the Zend allocator a copy, each); with $grow, $first is grown as they
     * arrive instead (a realloc, into the pages that follow when they are free), so that it and
     * the piece being read are the only large strings alive (see $tail).
     */
    private function readRest(string $first, int $need, bool $grow): string
    {
        $pieces = $grow ? [] : [$first];
        while ($need > 0 && !$this->eof) {
            $chunk = fread($this->stream, min($need, self::BODY_READ_SIZE));
            if (($chunk === false || $chunk === '') && ($chunk = $this->afterEmptyRead(min($need, self::BODY_READ_SIZE))) === '') {
                $this->eof = true;
                break;
            }
            $need -= \strlen($chunk);
            if ($grow) {
                $first .= $chunk;
            } else {
                $pieces[] = $chunk;
            }
        }
        return $grow ? $first : implode('', $pieces);
    }

    /**
     * fread() gave nothing: end of file, an error, or a signal. PHP retries a read interrupted
     * by a signal (EINTR: a handler installed by pcntl_signal() with $restart_syscalls false)
     * once, then gives up with false, no warning and feof() false; taken for the end of the
     * channel, it ended an idle worker as if the host had closed it, or a frame half read as
     * truncated. So: at end of file, or on a read that failed with a warning (a real error,
     * as before), '' (the end); else wait until the stream is readable and read again.
     */
    private function afterEmptyRead(int $size): string
    {
        for ($tries = 0; $tries < 100_000; $tries++) {
            if (feof($this->stream)) {
                return '';
            }
            $read = [$this->stream];
            $none = null;
            @stream_select($read, $none, $none, null); // false when a signal interrupts it: read anyway
            error_clear_last();
            $chunk = @fread($this->stream, $size);
            if ($chunk !== false && $chunk !== '') {
                return $chunk;
            }
            if (error_get_last() !== null) {
                return '';
            }
        }
        return ''; // never readable, never the end: give up as at the end
    }

    /**
     * Returns a whole frame if one has arrived or arrives within $timeout seconds, false if
     * none did, null at end of file between frames. Never blocks longer than $timeout.
     *
     * @throws ProtocolError on a bad length or end of file inside a frame
     */
    public function poll(float $timeout = 0.0): string|false|null
    {
        $deadline = hrtime(true) + (int) ($timeout * 1e9);
        while (true) {
            if ($this->eof || $this->hasFrame()) {
                return $this->read(); // at end of file: null, or a truncated-frame error
            }
            $left = max(0, $deadline - hrtime(true));
            $read = [$this->stream];
            $none = null;
            $ready = @stream_select($read, $none, $none, intdiv($left, 1_000_000_000), intdiv($left % 1_000_000_000, 1000));
            if ($ready === false) {
                if ($left === 0) {
                    return false;
                }
                continue; // interrupted by a signal: try again
            }
            if ($ready === 0) {
                return false;
            }
            stream_set_blocking($this->stream, false);
            $chunk = fread($this->stream, self::READ_SIZE);
            stream_set_blocking($this->stream, true);
            if ($chunk === false || $chunk === '') {
                if (feof($this->stream)) {
                    $this->eof = true;
                }
                continue;
            }
            $this->buffer = ($this->pos === 0 ? $this->buffer : substr($this->buffer, $this->pos)) . $chunk;
            $this->pos = 0;
            $this->peeked = -1;
            $this->more = true;
        }
    }
}
