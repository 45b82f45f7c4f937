'use strict';

/**
 * Writes whole frames to a Writable stream. Frames written during one turn of the event
 * loop (say, the answers to every request of one read chunk) go out together, in order,
 * right after that turn's callback returns (process.nextTick): one write when they are
 * contiguous in the Encoder's slab (the usual case), else one writev. A lone frame still
 * goes out at once, before Node polls for I/O again. The writer can hold frames back until
 * the handshake goes out first (hold / release), and it tells when everything written has
 * reached the stream's underlying resource (flush).
 * @module polyfork/writer
 */

/**
 * How many bytes may wait in the stream, written but not yet taken by the OS, before the
 * writer reports pressure: about what a Python or PHP child holds when its write blocks on a
 * full pipe (the Go host's pipes hold 1 MiB).
 */
const PRESSURE_BYTES = 1 << 20;

/**
 * A frame writer over a Node Writable (a socket, a pipe, one half of an in-memory duplex).
 * Frames must come from an Encoder: they are not copied, and must not change until written.
 */
class FrameWriter {
  /**
   * @param {import('node:stream').Writable} stream
   * @param {object} [options]
   * @param {boolean} [options.hold] queue frames until release() (default false)
   * @param {(() => void) | null} [options.recycle] called when every frame written so far
   *   has been handed to the OS whole, so that their memory may be reused (Encoder's
   *   recycle). Only for a stream that copies what it writes before its write call
   *   returns when it reports nothing buffered, as a net.Socket does (libuv's try-write).
   * @param {((full: boolean) => void) | null} [options.onPressure] called with true when
   *   more than PRESSURE_BYTES wait in the stream (the peer reads more slowly than frames
   *   are written), and with false once the stream has drained: the reading side stops
   *   taking requests meanwhile, so that answers nobody reads do not pile up in memory
   * @param {((err: Error) => void) | null} [options.onError] called once when a write fails
   *   (the peer closed its end: EPIPE): from then on the writer drops every frame
   */
  constructor(stream, { hold = false, recycle = null, onPressure = null, onError = null } = {}) {
    this.stream = stream;
    this.recycle = recycle;
    this.onPressure = onPressure;
    /** True while onPressure(true) was the last call. */
    this.full = false;
    /** @type {Array<[Buffer, Function|undefined]> | null} frames held back */
    this.held = hold ? [] : null;
    /**
     * Frames waiting for this turn's flush, as runs of adjacent bytes: each run is
     * [buffer, start, end, callbacks or null].
     * @type {Array<[Buffer, number, number, Function[] | null]>}
     */
    this.runs = [];
    this.scheduled = false;
    this.closed = false;
    this.error = null;
    /** Set by refuse(): frames written from then on are dropped. */
    this.refused = null;
    stream.on('error', (err) => {
      // A broken pipe: the peer no longer reads, so nothing written can reach it. A 'drain'
      // that onPressure waits for will never come; onError must end what waits for it.
      if (this.closed) return;
      this.error = err;
      this.closed = true;
      if (onError !== null) onError(err);
    });
  }

  /**
   * Queues one frame for this turn's write. cb, if given, is called once the frame was
   * handed to the OS (or with an error).
   * @param {Buffer} frame
   * @param {(err?: Error | null) => void} [cb]
   */
  write(frame, cb) {
    this.writeRange(frame, 0, frame.length, cb);
  }

  /**
   * Queues the frame buf[start, end) like write(), without a Buffer of its own: frames
   * that follow each other in the same buffer (an Encoder's, see putResponse) go out as
   * one.
   * @param {Buffer} buf
   * @param {number} start
   * @param {number} end
   * @param {(err?: Error | null) => void} [cb]
   */
  writeRange(buf, start, end, cb) {
    if (this.held !== null) {
      this.held.push([start === 0 && end === buf.length ? buf : buf.subarray(start, end), cb]);
      return;
    }
    if (this.closed || this.refused !== null) {
      if (cb) process.nextTick(cb, this.error || this.refused || new Error('polyfork: the channel is closed'));
      return;
    }
    const runs = this.runs;
    const last = runs.length > 0 ? runs[runs.length - 1] : null;
    if (last !== null && last[0] === buf && last[2] === start) {
      last[2] = end; // the Encoder wrote it right after the previous frame
    } else {
      runs.push([buf, start, end, null]);
    }
    if (cb) {
      const run = runs[runs.length - 1];
      (run[3] || (run[3] = [])).push(cb);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      process.nextTick(flushRuns, this);
    }
  }

  /**
   * Drops every frame written from now on (a callback given gets `err`); frames written
   * before still go out. The session is over: nothing more may reach the peer.
   * @param {Error} err
   */
  refuse(err) {
    if (this.refused === null) this.refused = err;
  }

  /** Writes the queued frames now. */
  drain() {
    this.scheduled = false;
    const runs = this.runs;
    if (runs.length === 0) return;
    this.runs = [];
    if (this.closed) {
      const err = this.error || new Error('polyfork: the channel is closed');
      for (const run of runs) if (run[3] !== null) for (const cb of run[3]) process.nextTick(cb, err);
      return;
    }
    const stream = this.stream;
    const many = runs.length > 1;
    if (many) stream.cork();
    for (const [buf, start, end, cbs] of runs) {
      stream.write(start === 0 && end === buf.length ? buf : buf.subarray(start, end), cbs === null ? undefined : callAll(cbs));
    }
    if (many) stream.uncork();
    // Nothing left in the stream: the OS took every frame, none of their memory is in use.
    if (this.recycle !== null && stream.writableLength === 0 && this.held === null && !this.closed) this.recycle();
    if (this.onPressure !== null && !this.full && stream.writableLength > PRESSURE_BYTES && !this.closed) {
      this.full = true;
      stream.once('drain', () => {
        this.full = false;
        this.onPressure(false);
      });
      this.onPressure(true);
    }
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
    this.drain();
    if (this.closed || this.stream.writableLength === 0) {
      setImmediate(cb);
      return;
    }
    // An empty write's callback runs after the writes queued before it.
    this.stream.write(Buffer.alloc(0), () => cb());
  }
}

function flushRuns(writer) {
  writer.drain();
}

function callAll(cbs) {
  if (cbs.length === 1) return cbs[0];
  return (err) => {
    for (const cb of cbs) cb(err);
  };
}

module.exports = { FrameWriter, PRESSURE_BYTES };
