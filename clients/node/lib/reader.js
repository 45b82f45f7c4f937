'use strict';

/**
 * Splits a byte stream into frames: a 4-byte big-endian length N, then N bytes (SPEC.md
 * section 2). The length is checked against the maximum before anything is allocated.
 * @module polyfork/reader
 */

const { ProtocolError, FrameTooLargeError } = require('./errors');
const { DEFAULT_MAX_FRAME_SIZE } = require('./encode');

/** Size of the buffer that direct reads land in; frames that fit are read in place. */
const LANDING_SIZE = 64 * 1024;
/** Frames up to this size reuse one body buffer; a larger one gets its own, then is let go. */
const KEEP_BODY_MAX = 8 * 1024 * 1024;

/**
 * A frame parser that is either fed chunks (push) or reads straight into its own memory
 * (readTarget / wrote, for net.Socket's `onread` option). It calls onFrame(body) for every
 * complete frame, in order; with the option `ranges`, onFrame(buf, start, end) instead,
 * the body being buf[start, end), which spares a Buffer object per frame.
 *
 * With push, a body that lies within one chunk is a view of that chunk (no copy); it is
 * valid for as long as the chunk is, which for stream chunks is forever. With direct reads,
 * a body is a view of the reader's reused memory, valid only until onFrame returns: decode
 * it there (the decoders copy out every value).
 */
class FrameReader {
  /**
   * @param {(body: Buffer, start?: number, end?: number) => void} onFrame called with each
   *   frame body (or, with `ranges`, a buffer and where in it the body is)
   * @param {object} [options]
   * @param {number} [options.maxFrameSize] the largest body accepted (default 64 MiB)
   * @param {boolean} [options.ranges] call onFrame(buf, start, end) (default false)
   */
  constructor(onFrame, { maxFrameSize = DEFAULT_MAX_FRAME_SIZE, ranges = false } = {}) {
    this.onFrame = ranges ? onFrame
      : (buf, start, end) => onFrame(start === 0 && end === buf.length ? buf : buf.subarray(start, end));
    /** The largest frame body accepted. */
    this.maxFrameSize = maxFrameSize;
    this.hdr = Buffer.alloc(4);
    this.hdrLen = 0;
    /** @type {Buffer | null} body being filled across chunks or reads */
    this.body = null;
    this.got = 0;
    this.failed = null;
    // Direct reads: bytes land in land[hi...]; land[lo, hi) is read and not yet a frame.
    /** @type {Buffer | null} */
    this.land = null;
    this.lo = 0;
    this.hi = 0;
    /** @type {Buffer | null} a body buffer kept for the next large frame */
    this.spare = null;
  }

  /**
   * Feeds bytes. Throws a ProtocolError for a length of 0 or above the maximum; after that
   * the reader refuses further input.
   * @param {Buffer} chunk
   */
  push(chunk) {
    if (this.failed) throw this.failed;
    let at = 0;
    const len = chunk.length;
    if (this.body !== null) at = this.fill(chunk, 0);
    else if (this.hdrLen > 0) at = this.header(chunk, 0);
    while (at < len) {
      if (this.body !== null || this.hdrLen > 0) break;
      if (len - at < 4) {
        at = this.header(chunk, at);
        break;
      }
      const n = chunk.readUInt32BE(at);
      this.checkLength(n, chunk, at, len);
      if (len - at - 4 >= n) {
        this.onFrame(chunk, at + 4, at + 4 + n);
        at += 4 + n;
        if (this.failed) return;
      } else {
        this.body = Buffer.allocUnsafe(n);
        this.got = 0;
        at = this.fill(chunk, at + 4);
      }
    }
  }

  /**
   * Direct reads: returns the memory the next read should fill. Pass the number of bytes
   * read to wrote(). Do not mix with push().
   * @returns {Buffer}
   */
  readTarget() {
    if (this.body !== null) return this.body.subarray(this.got);
    if (this.land === null) this.land = Buffer.allocUnsafeSlow(LANDING_SIZE);
    if (this.hi === this.land.length) this.compact();
    return this.land.subarray(this.hi);
  }

  /**
   * Direct reads: takes the n bytes just read into the memory readTarget() returned, and
   * delivers the frames they complete. Throws like push().
   * @param {number} n
   */
  wrote(n) {
    if (this.failed) throw this.failed;
    if (this.body !== null) {
      this.got += n;
      if (this.got < this.body.length) return;
      const body = this.body;
      this.body = null;
      this.onFrame(body, 0, body.length);
      return;
    }
    this.hi += n;
    const land = this.land;
    let lo = this.lo;
    const hi = this.hi;
    while (hi - lo >= 4) {
      const size = land.readUInt32BE(lo);
      this.checkLength(size, land, lo, hi);
      const end = lo + 4 + size;
      if (end <= hi) {
        this.lo = end; // before onFrame, which may throw
        this.onFrame(land, lo + 4, end);
        if (this.failed) return;
        lo = end;
      } else if (size + 4 > land.length) {
        // Too large to land: read the rest straight into a body of its own.
        this.body = this.bodyBuffer(size);
        land.copy(this.body, 0, lo + 4, hi);
        this.got = hi - lo - 4;
        lo = hi;
        break;
      } else {
        if (end > land.length) {
          this.lo = lo;
          this.compact();
          return;
        }
        break;
      }
    }
    if (lo === hi) {
      this.lo = 0;
      this.hi = 0;
    } else {
      this.lo = lo;
    }
  }

  /** Moves the unread bytes of the landing buffer to its start. */
  compact() {
    this.land.copy(this.land, 0, this.lo, this.hi);
    this.hi -= this.lo;
    this.lo = 0;
  }

  /** Returns memory for a body of n bytes: the kept buffer when it is large enough. */
  bodyBuffer(n) {
    if (this.spare !== null && this.spare.length >= n) return this.spare.subarray(0, n);
    const b = Buffer.allocUnsafeSlow(n);
    if (n <= KEEP_BODY_MAX) this.spare = b;
    return b;
  }

  /** Collects length-prefix bytes; starts the body once all 4 are in. */
  header(chunk, at) {
    while (this.hdrLen < 4 && at < chunk.length) this.hdr[this.hdrLen++] = chunk[at++];
    if (this.hdrLen < 4) return at;
    const n = this.hdr.readUInt32BE(0);
    if (n === 0 || n > this.maxFrameSize) {
      const quote = Buffer.concat([this.hdr, chunk.subarray(at, at + 64)]);
      this.checkLength(n, quote, 0, quote.length);
    }
    this.hdrLen = 0;
    this.body = Buffer.allocUnsafe(n);
    this.got = 0;
    return this.fill(chunk, at);
  }

  /** Copies body bytes; delivers the frame when complete. */
  fill(chunk, at) {
    const take = Math.min(this.body.length - this.got, chunk.length - at);
    chunk.copy(this.body, this.got, at, at + take);
    this.got += take;
    at += take;
    if (this.got === this.body.length) {
      const body = this.body;
      this.body = null;
      this.onFrame(body, 0, body.length);
    }
    return at;
  }

  /**
   * Refuses a frame length of 0 or above the maximum; buf[at, end) holds the frame, quoted
   * in the error.
   */
  checkLength(n, buf, at, end) {
    if (n === 0) {
      this.failed = new ProtocolError('frame length is 0; a frame holds one msgpack value, at least 1 byte',
        { frame: Buffer.from(buf.subarray(at, Math.min(end, at + 68))), size: -1 });
      throw this.failed;
    }
    if (n > this.maxFrameSize) {
      this.failed = new FrameTooLargeError(n, this.maxFrameSize, 'receive');
      throw this.failed;
    }
  }

  /**
   * Reports the end of the stream: throws a ProtocolError ("truncated frame") when it ends
   * inside a frame.
   */
  end() {
    if (this.failed) return;
    if (this.hi > this.lo) {
      // Direct reads: what is left is less than one frame.
      const left = this.land.subarray(this.lo, this.hi);
      if (left.length < 4) {
        this.failed = new ProtocolError(`truncated frame: the stream ended after ${left.length} of the 4 length-prefix bytes`,
          { frame: Buffer.from(left), size: -1 });
      } else {
        this.failed = new ProtocolError(`truncated frame: the stream ended after ${left.length - 4} of ${left.readUInt32BE(0)} body bytes`,
          { frame: Buffer.from(left.subarray(4)), size: -1 });
      }
      throw this.failed;
    }
    if (this.hdrLen > 0) {
      this.failed = new ProtocolError(`truncated frame: the stream ended after ${this.hdrLen} of the 4 length-prefix bytes`,
        { frame: this.hdr.subarray(0, this.hdrLen), size: -1 });
      throw this.failed;
    }
    if (this.body !== null) {
      this.failed = new ProtocolError(`truncated frame: the stream ended after ${this.got} of ${this.body.length} body bytes`,
        { frame: this.body.subarray(0, this.got), size: -1 });
      throw this.failed;
    }
  }
}

module.exports = { FrameReader, LANDING_SIZE, KEEP_BODY_MAX };
