'use strict';

/**
 * Writes whole frames to a Writable stream, each with a single write. It can hold frames
 * back until the handshake goes out first (hold / release), and it tells when everything
 * written has reached the stream's underlying resource (flush).
 * @module polyfork/writer
 */

/**
 * A frame writer over a Node Writable (a socket, a pipe, one half of an in-memory duplex).
 * Frames must come from an Encoder: they are not copied.
 */
class FrameWriter {
  /**
   * @param {import('node:stream').Writable} stream
   * @param {object} [options]
   * @param {boolean} [options.hold] queue frames until release() (default false)
   */
  constructor(stream, { hold = false } = {}) {
    this.stream = stream;
    /** @type {Array<[Buffer, Function|undefined]> | null} frames held back */
    this.held = hold ? [] : null;
    this.closed = false;
    this.error = null;
    stream.on('error', (err) => {
      // A broken pipe means the peer is gone; the reading side sees the end of the stream.
      this.error = err;
      this.closed = true;
    });
  }

  /**
   * Writes one frame. cb, if given, is called once the frame was handed to the OS (or with
   * an error).
   * @param {Buffer} frame
   * @param {(err?: Error | null) => void} [cb]
   */
  write(frame, cb) {
    if (this.held !== null) {
      this.held.push([frame, cb]);
      return;
    }
    if (this.closed) {
      if (cb) process.nextTick(cb, this.error || new Error('polyfork: the channel is closed'));
      return;
    }
    this.stream.write(frame, cb);
  }

  /**
   * Writes `first` (when given), then every held frame, and stops holding.
   * @param {Buffer} [first]
   */
  release(first) {
    const held = this.held || [];
    this.held = null;
    if (first) this.write(first);
    for (const [frame, cb] of held) this.write(frame, cb);
  }

  /**
   * Calls cb once everything written so far has left the stream's buffer.
   * @param {() => void} cb
   */
  flush(cb) {
    if (this.held !== null) this.release();
    if (this.closed || this.stream.writableLength === 0) {
      setImmediate(cb);
      return;
    }
    // An empty write's callback runs after the writes queued before it.
    this.stream.write(Buffer.alloc(0), () => cb());
  }
}

module.exports = { FrameWriter };
