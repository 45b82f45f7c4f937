'use strict';

/**
 * Splits a byte stream into frames: a 4-byte big-endian length N, then N bytes (SPEC.md
 * section 2). The length is checked against the maximum before anything is allocated.
 * @module polyfork/reader
 */

const { ProtocolError, FrameTooLargeError } = require('./errors');
const { DEFAULT_MAX_FRAME_SIZE } = require('./encode');

/**
 * A push parser: feed it chunks with push(), it calls onFrame(body) for every complete
 * frame, in order. A body that lies within one chunk is a view of that chunk (no copy); it
 * is valid for as long as the chunk is, which for stream chunks is forever.
 */
class FrameReader {
  /**
   * @param {(body: Buffer) => void} onFrame called with each frame body
   * @param {object} [options]
   * @param {number} [options.maxFrameSize] the largest body accepted (default 64 MiB)
   */
  constructor(onFrame, { maxFrameSize = DEFAULT_MAX_FRAME_SIZE } = {}) {
    this.onFrame = onFrame;
    /** The largest frame body accepted. */
    this.maxFrameSize = maxFrameSize;
    this.hdr = Buffer.alloc(4);
    this.hdrLen = 0;
    /** @type {Buffer | null} body being filled across chunks */
    this.body = null;
    this.got = 0;
    this.failed = null;
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
      this.checkLength(n, chunk.subarray(at, at + 68));
      if (len - at - 4 >= n) {
        this.onFrame(chunk.subarray(at + 4, at + 4 + n));
        at += 4 + n;
        if (this.failed) return;
      } else {
        this.body = Buffer.allocUnsafe(n);
        this.got = 0;
        at = this.fill(chunk, at + 4);
      }
    }
  }

  /** Collects length-prefix bytes; starts the body once all 4 are in. */
  header(chunk, at) {
    while (this.hdrLen < 4 && at < chunk.length) this.hdr[this.hdrLen++] = chunk[at++];
    if (this.hdrLen < 4) return at;
    const n = this.hdr.readUInt32BE(0);
    this.checkLength(n, Buffer.concat([this.hdr, chunk.subarray(at, at + 64)]));
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
      this.onFrame(body);
    }
    return at;
  }

  checkLength(n, quote) {
    if (n === 0) {
      this.failed = new ProtocolError('frame length is 0; a frame holds one msgpack value, at least 1 byte',
        { frame: quote, size: -1 });
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

module.exports = { FrameReader };
