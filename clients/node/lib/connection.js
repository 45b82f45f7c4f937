'use strict';

/**
 * The peer: requests, responses and notifications over a pair of streams (SPEC.md section
 * 4). It knows nothing of processes: the child runtime (child.js) and the tests give it
 * streams.
 * @module polyfork/connection
 */

const net = require('node:net');
const { Encoder, DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_VALUES } = require('./encode');
const { FrameReader } = require('./reader');
const { FrameWriter } = require('./writer');
const { parseMessage, REQUEST, RESPONSE } = require('./message');
const {
  RemoteError, CancelledError, ConnectionClosedError, ProtocolError, FrameTooLargeError, ValueError,
} = require('./errors');

const MAX_ID = 0xffffffff;

/**
 * What `this` is inside a request handler: the request's id and method, and an AbortSignal
 * that is aborted when the peer sends `$cancel` for it. A handler must be a `function`, not
 * an arrow function, to see it.
 */
class RequestContext {
  /**
   * @param {Connection} connection
   * @param {number} id
   * @param {string} method
   */
  constructor(connection, id, method) {
    /** The connection the request came in on. */
    this.connection = connection;
    /** The request id. */
    this.id = id;
    /** The method name. */
    this.method = method;
    /** True once the peer sent `$cancel` for this request. */
    this.cancelled = false;
    this.controller = null;
    /** Why the connection ended while the request ran, or null. */
    this.endReason = null;
  }

  /**
   * An AbortSignal aborted when the peer cancels the request (with a CancelledError as its
   * reason), or when the connection ends while it runs (a protocol error, the peer gone:
   * with a ConnectionClosedError). Created on first use.
   * @type {AbortSignal}
   */
  get signal() {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.cancelled) this.controller.abort(cancelReason(this));
      else if (this.endReason !== null) this.controller.abort(this.endReason);
    }
    return this.controller.signal;
  }

  cancel() {
    if (this.cancelled) return;
    this.cancelled = true;
    if (this.controller !== null) this.controller.abort(cancelReason(this));
  }

  /** The connection ended with `reason` while the request ran: no answer can go out. */
  end(reason) {
    if (this.cancelled || this.endReason !== null) return;
    this.endReason = reason;
    if (this.controller !== null) this.controller.abort(reason);
  }
}

function cancelReason(ctx) {
  return new CancelledError(`request ${ctx.id} ("${ctx.method}") was cancelled by the peer`);
}

/**
 * A disposable registration, as returned by `on` and `handle`.
 * @typedef {{dispose(): void}} Disposable
 */

/**
 * The `onread` option of net.Socket: where the next read goes, and what to do with it.
 * @typedef {{buffer: () => Uint8Array, callback: (n: number, buf: Uint8Array) => boolean}} OnRead
 */

/**
 * One side of a polyfork session over a readable and a writable stream.
 *
 * Events are plain callbacks: `onClose(fn)` and `onStop(fn)`. All methods must be called
 * from the main thread; none blocks.
 */
class Connection {
  /**
   * @param {import('node:stream').Readable | ((onread: OnRead) => import('node:net').Socket)} readable
   *   where frames come from: a stream, or a function that opens a net.Socket with the given
   *   `onread` option (see net.Socket), which lets the reader read straight into its own
   *   memory: no buffer allocated per read, and a large frame read in place, not copied
   * @param {import('node:stream').Writable | ((readable: import('node:stream').Readable) => import('node:stream').Writable)} writable
   *   where frames go; or a function that gets the readable once opened and returns it (a
   *   socket used both ways, say)
   * @param {object} [options]
   * @param {number} [options.maxFrameSize] for what is read and what is sent (default 64 MiB)
   * @param {number} [options.maxValues] the most msgpack values in one frame, for what is read
   *   and what is sent (default 4194304)
   * @param {boolean} [options.hold] queue outgoing frames until `open(firstFrame)`
   * @param {(line: string) => void} [options.log] where the one line about a dropped
   *   notification goes (default: process.stderr)
   * @param {boolean} [options.pauseOnPressure] stop reading while more than 1 MiB of our
   *   frames waits unread by the other side (see pressure()). For a child only: if both
   *   sides did it, each could wait for the other to read (default false)
   */
  constructor(readable, writable, {
    maxFrameSize = DEFAULT_MAX_FRAME_SIZE, maxValues = DEFAULT_MAX_VALUES, hold = false, log = logToStderr,
    pauseOnPressure = false,
  } = {}) {
    /** Writes one log line (no trailing newline needed). */
    this.log = log;
    /** The most msgpack values a frame may hold, both ways. */
    this.maxValues = maxValues;
    this.encoder = new Encoder({ maxFrameSize, maxValues });
    this.reader = new FrameReader((buf, start, end) => this.onFrame(buf, start, end), { maxFrameSize, ranges: true });
    /** True when frames are read with net.Socket's onread (readable was a function). */
    this.direct = typeof readable === 'function';
    if (this.direct) {
      this.readable = readable({
        buffer: () => this.reader.readTarget(),
        callback: (n) => this.onRead(n),
      });
      this.readable.pause(); // until listen()
    } else {
      this.readable = readable;
    }
    if (typeof writable === 'function') writable = writable(this.readable);
    // A plain net.Socket has copied a write to the OS when it reports nothing buffered.
    const copies = writable instanceof net.Socket && Object.getPrototypeOf(writable) === net.Socket.prototype;
    this.writer = new FrameWriter(writable, {
      hold,
      recycle: copies ? () => this.encoder.recycle() : null,
      onPressure: pauseOnPressure ? (full) => this.pressure(full) : null,
      onError: (err) => this.writeFailed(err),
    });
    /** True while reading is paused because the other side does not read our frames. */
    this.pausedForPressure = false;
    /** True once reading stopped for good (close, stopReading). */
    this.readingStopped = false;
    /** @type {Map<string, Function>} */
    this.handlers = new Map();
    /** @type {Map<string, Function[]>} */
    this.listeners = new Map();
    /** @type {Map<number, RequestContext>} handlers running, by request id */
    this.inflight = new Map();
    /** @type {Map<number, object>} our requests waiting for a response */
    this.pending = new Map();
    this.nextId = 0;
    /** True after `$stop` or the end of input: no new handlers start. */
    this.stopping = false;
    /** True once the connection ended; `closeError` says why (null for a clean end). */
    this.closed = false;
    this.closeError = null;
    this.stopCallbacks = [];
    this.closeCallbacks = [];
    this.idleCallbacks = [];
    this.listening = false;
    /** True once the input ended: no answer can come, so new calls fail at once. */
    this.inputEnded = false;
    /** Promises returned by notification listeners (async ones) that have not settled. */
    this.pendingListeners = 0;
  }

  /** Starts reading frames. */
  listen() {
    if (this.listening) return;
    this.listening = true;
    const r = this.readable;
    if (!this.direct) {
      r.on('data', (chunk) => {
        if (this.closed) return;
        try {
          this.reader.push(chunk);
        } catch (e) {
          this.fail(e);
        }
      });
    }
    r.on('end', () => {
      if (this.closed) return;
      try {
        this.reader.end();
      } catch (e) {
        this.fail(e);
        return;
      }
      this.endOfInput();
    });
    r.on('error', (e) => this.fail(e));
    if (this.direct) r.resume();
  }

  /**
   * Takes n bytes read straight into the reader's memory (net.Socket's onread callback).
   * @param {number} n
   * @returns {boolean} false to stop reading
   */
  onRead(n) {
    if (this.closed) return false;
    try {
      this.reader.wrote(n);
    } catch (e) {
      this.fail(e);
      return false;
    }
    return !this.closed && !this.pausedForPressure && !this.readingStopped;
  }

  /**
   * Stops reading while the other side leaves our frames unread (full), and starts again
   * once they have drained: a peer that sends requests but does not read the answers would
   * otherwise make every answer wait in memory, without bound. (Python and PHP children get
   * the same from their blocking writes.)
   * @param {boolean} full
   */
  pressure(full) {
    if (full) {
      if (this.pausedForPressure || this.readingStopped) return;
      this.pausedForPressure = true;
      this.readable.pause();
    } else if (this.pausedForPressure) {
      this.pausedForPressure = false;
      if (!this.readingStopped) this.readable.resume();
    }
  }

  /** Stops reading for good (the process is about to exit); frames already read still run. */
  stopReading() {
    this.readingStopped = true;
    this.readable.pause();
  }

  /**
   * Writes `firstFrame` and then the frames held back since construction (option `hold`).
   * @param {Buffer} [firstFrame]
   */
  open(firstFrame) {
    this.writer.release(firstFrame);
  }

  // --- registrations -------------------------------------------------------------------

  /**
   * Serves requests for `method`: `fn(...params)` returns the result, a Promise of it, or
   * throws. Inside `fn` (a `function`), `this` is a RequestContext with `this.signal`.
   * A later `handle` for the same method replaces this one.
   * @param {string} method
   * @param {Function} fn
   * @returns {Disposable}
   */
  handle(method, fn) {
    if (typeof method !== 'string') throw new TypeError('handle: method must be a string');
    if (typeof fn !== 'function') throw new TypeError(`handle("${method}"): the handler must be a function`);
    this.handlers.set(method, fn);
    return { dispose: () => { if (this.handlers.get(method) === fn) this.handlers.delete(method); } };
  }

  /**
   * Listens to notifications named `method`. For `'message'` (the `send` channel) `fn`
   * gets the one value; for other names it gets the params as arguments.
   * @param {string} method
   * @param {Function} fn
   * @returns {Disposable}
   */
  on(method, fn) {
    if (typeof method !== 'string') throw new TypeError('on: the notification name must be a string');
    if (typeof fn !== 'function') throw new TypeError(`on("${method}"): the listener must be a function`);
    let list = this.listeners.get(method);
    if (!list) this.listeners.set(method, (list = []));
    list.push(fn);
    return {
      dispose: () => {
        const l = this.listeners.get(method);
        const i = l ? l.indexOf(fn) : -1;
        if (i >= 0) l.splice(i, 1);
      },
    };
  }

  /**
   * Calls fn() once on `$stop` or the end of input.
   * @param {() => void} fn
   */
  onStop(fn) {
    this.stopCallbacks.push(fn);
  }

  /**
   * Calls fn(error) once when the connection ends: error is null for a clean end, else the
   * ProtocolError or stream error that ended it.
   * @param {(error: Error | null) => void} fn
   */
  onClose(fn) {
    this.closeCallbacks.push(fn);
  }

  // --- sending -------------------------------------------------------------------------

  /**
   * Sends `value` as the notification `message` (`on('message')` on the other side).
   * Throws (and sends nothing) when the value cannot be encoded or the frame is too large.
   * @param {any} value
   * @param {(err?: Error | null) => void} [cb] called once the frame was written
   */
  send(value, cb) {
    try {
      this.encoder.putNotification('message', [value]);
    } catch (e) {
      throw e instanceof ValueError && e.path.startsWith('params[0]') ? renamePath(e, 'value', 'params[0]'.length) : e;
    }
    this.writeLast(cb);
  }

  /**
   * Sends the notification `method` with `params` as its arguments.
   * @param {string} method
   * @param {...any} params
   */
  notify(method, ...params) {
    this.encoder.putNotification(method, params);
    this.writeLast();
  }

  /**
   * Calls `method` on the other side with `params` as its arguments.
   * @param {string} method
   * @param {...any} params
   * @returns {Promise<any>} the result; rejects with RemoteError when the remote handler
   *   failed, ConnectionClosedError when the connection ended first
   */
  call(method, ...params) {
    return this.request(method, params);
  }

  /**
   * Calls `method` with `params` (an array), with options.
   * @param {string} method
   * @param {any[]} [params]
   * @param {object} [options]
   * @param {AbortSignal} [options.signal] aborting it rejects the call with the signal's
   *   reason and sends `$cancel`
   * @param {number} [options.timeout] milliseconds; when it passes the call rejects with a
   *   CancelledError (code POLYFORK_TIMEOUT) and `$cancel` is sent
   * @returns {Promise<any>}
   */
  request(method, params = [], { signal, timeout } = {}) {
    if (this.closed) {
      return Promise.reject(new ConnectionClosedError(`cannot call "${method}": the connection is closed`, this.closeError || undefined));
    }
    if (this.inputEnded) {
      return Promise.reject(new ConnectionClosedError(`cannot call "${method}": the peer closed the channel, so no answer can come`));
    }
    if (signal && signal.aborted) return Promise.reject(signal.reason);
    const id = this.allocateId();
    const enc = this.encoder;
    try {
      enc.putRequest(id, method, params);
    } catch (e) {
      return Promise.reject(e);
    }
    const { buf, frameStart, frameEnd } = enc;
    return new Promise((resolve, reject) => {
      const call = { resolve, reject, method, timer: null, signal: null, onAbort: null };
      this.pending.set(id, call);
      if (timeout !== undefined && timeout !== null) {
        call.timer = setTimeout(() => {
          this.giveUp(id, new CancelledError(`call "${method}" timed out after ${timeout} ms`, 'POLYFORK_TIMEOUT'));
        }, timeout);
      }
      if (signal) {
        call.signal = signal;
        call.onAbort = () => this.giveUp(id, signal.reason);
        signal.addEventListener('abort', call.onAbort, { once: true });
      }
      this.writer.writeRange(buf, frameStart, frameEnd);
    });
  }

  /**
   * Queues the frame the Encoder put last.
   * @param {(err?: Error | null) => void} [cb]
   */
  writeLast(cb) {
    const enc = this.encoder;
    this.writer.writeRange(enc.buf, enc.frameStart, enc.frameEnd, cb);
  }

  allocateId() {
    for (;;) {
      const id = this.nextId;
      this.nextId = id === MAX_ID ? 0 : id + 1;
      if (!this.pending.has(id)) return id;
    }
  }

  /** Rejects our request `id` and tells the peer with `$cancel`. */
  giveUp(id, reason) {
    const call = this.settle(id);
    if (!call) return;
    call.reject(reason);
    if (this.closed) return;
    this.encoder.putNotification('$cancel', [id]);
    this.writeLast();
  }

  /** Removes request `id` from the pending table and clears its timer and listener. */
  settle(id) {
    const call = this.pending.get(id);
    if (!call) return undefined;
    this.pending.delete(id);
    if (call.timer !== null) clearTimeout(call.timer);
    if (call.onAbort !== null) call.signal.removeEventListener('abort', call.onAbort);
    return call;
  }

  // --- receiving -----------------------------------------------------------------------

  /**
   * Handles the frame body buf[start, end).
   * @param {Buffer} buf
   * @param {number} [start]
   * @param {number} [end]
   */
  onFrame(buf, start = 0, end = buf.length) {
    const msg = parseMessage(buf, start, end, this.maxValues);
    if (msg.kind === REQUEST) this.onRequest(msg);
    else if (msg.kind === RESPONSE) this.onResponse(msg);
    else this.onNotification(msg);
  }

  onRequest(msg) {
    const { id, method } = msg;
    if (this.inflight.has(id)) {
      throw new ProtocolError(`request id ${id} is already in flight; ids must be unique among a side's requests in flight`);
    }
    if (this.stopping) {
      // SPEC section 6: never run, so the sender may safely send it elsewhere.
      this.respondError(id, { type: 'Stopping', message: `request ${id} for ${JSON.stringify(method)} arrived after $stop and was not run: the child is stopping` });
      return;
    }
    const fn = this.handlers.get(method);
    if (fn === undefined) {
      this.respondError(id, { type: 'MethodNotFound', message: `no handler for method ${JSON.stringify(cutName(method))}` });
      return;
    }
    if (msg.valueError) {
      // SPEC sections 3 and 7: a value this side cannot represent (a malformed timestamp,
      // invalid UTF-8) fails this one request, named, never the session.
      this.respondError(id, { type: msg.valueError.name, message: `cannot decode the params of ${JSON.stringify(method)}: ${msg.valueError.message}` });
      return;
    }
    const ctx = new RequestContext(this, id, method);
    let result;
    try {
      result = fn.apply(ctx, msg.params);
    } catch (e) {
      this.respondError(id, errorMap(e, ctx));
      return;
    }
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      this.inflight.set(id, ctx);
      result.then((v) => this.finish(ctx, v), (e) => this.finish(ctx, undefined, e, true));
      return;
    }
    this.respond(id, method, result);
  }

  finish(ctx, value, err, failed = false) {
    this.inflight.delete(ctx.id);
    if (!this.closed) {
      if (failed) this.respondError(ctx.id, errorMap(err, ctx));
      else this.respond(ctx.id, ctx.method, value);
    }
    this.runIdleCallbacks();
  }

  /** Runs the whenIdle callbacks once no handler and no async listener is running. */
  runIdleCallbacks() {
    if (this.inflight.size === 0 && this.pendingListeners === 0 && this.idleCallbacks.length > 0) {
      const cbs = this.idleCallbacks;
      this.idleCallbacks = [];
      for (const cb of cbs) cb();
    }
  }

  /**
   * Keeps the stop waiting for the promise an async listener returned (as Python awaits an
   * async listener before it exits): its send() must go out before the exit. A rejection is
   * left unhandled, as it was, and crashes the process.
   * @param {PromiseLike<unknown>} r
   */
  trackListener(r) {
    this.pendingListeners++;
    Promise.resolve(r).finally(() => {
      this.pendingListeners--;
      this.runIdleCallbacks();
    });
  }

  respond(id, method, result) {
    try {
      this.encoder.putResponse(id, null, result);
    } catch (e) {
      // Over a limit of the protocol (size, value count): the request could not be answered
      // (SPEC section 4.2's ProtocolError); a value that cannot be encoded: its error's name.
      const type = e instanceof FrameTooLargeError || e.code === 'POLYFORK_TOO_MANY_VALUES' ? 'ProtocolError' : e.name;
      this.respondError(id, { type, message: `cannot send the result of "${method}": ${e.message}` });
      return;
    }
    this.writeLast();
  }

  respondError(id, map) {
    try {
      this.encoder.putResponse(id, map, null);
    } catch (e) {
      // The error map itself cannot go out (its data, or its size): send the bare minimum.
      this.encoder.putResponse(id, {
        type: e instanceof FrameTooLargeError || e.code === 'POLYFORK_TOO_MANY_VALUES' ? 'ProtocolError' : map.type,
        message: `${String(map.message).slice(0, 1000)} (and the error could not be sent whole: ${e.message})`,
      }, null);
    }
    this.writeLast();
  }

  onResponse(msg) {
    // A response to a request we gave up on (or never sent) is dropped, as SPEC 4.1 allows.
    const call = this.settle(msg.id);
    if (!call) return;
    if (msg.error) call.reject(new RemoteError(msg.error, call.method));
    else if (msg.valueError) call.reject(msg.valueError);
    else call.resolve(msg.result);
  }

  onNotification(msg) {
    const { method, params } = msg;
    if (method.charCodeAt(0) === 0x24 /* $ */) {
      if (method === '$cancel') {
        const ctx = params && this.inflight.get(params[0]);
        if (ctx) ctx.cancel();
      } else if (method === '$stop') {
        this.stop();
      }
      return; // $ready from a peer, and $ names we do not know, are ignored
    }
    if (msg.valueError) {
      // SPEC section 3: the one notification is dropped, with one log line.
      this.log(`polyfork: dropped notification ${JSON.stringify(method)}: ${msg.valueError.message}`);
      return;
    }
    const single = method === 'message';
    if (single && params.length !== 1) {
      this.log(`polyfork: dropped notification "message" with ${params.length} params; it carries exactly one value`);
      return;
    }
    const list = this.listeners.get(method);
    if (list === undefined || list.length === 0) return;
    for (const fn of list.length === 1 ? list : list.slice()) {
      try {
        const r = single ? fn(params[0]) : fn(...params);
        if (r !== null && typeof r === 'object' && typeof r.then === 'function') this.trackListener(r);
      } catch (e) {
        // A listener that throws crashes the process as in Node's own 'message' event, but
        // after this frame, so the reader is left in a sound state.
        process.nextTick(() => { throw e; });
      }
    }
  }

  // --- ending --------------------------------------------------------------------------

  /** Handles `$stop`: no new handlers start; onStop callbacks run. */
  stop() {
    if (this.stopping) return;
    this.stopping = true;
    const cbs = this.stopCallbacks;
    this.stopCallbacks = [];
    for (const cb of cbs) cb();
  }

  endOfInput() {
    // Nobody can answer our requests any more, nor the ones still to come.
    this.inputEnded = true;
    this.failPending(new ConnectionClosedError('the peer closed the channel'));
    this.stop();
  }

  /**
   * Calls cb once no handler is running, nor an async notification listener.
   * @param {() => void} cb
   */
  whenIdle(cb) {
    if (this.inflight.size === 0 && this.pendingListeners === 0) setImmediate(cb);
    else this.idleCallbacks.push(cb);
  }

  /**
   * Calls cb once everything written so far has been handed to the OS.
   * @param {() => void} cb
   */
  flush(cb) {
    this.writer.flush(cb);
  }

  /**
   * Ends the connection because of `err` (a ProtocolError, a stream error): stops reading,
   * fails our pending requests and aborts running handlers.
   * @param {Error} err
   */
  fail(err) {
    if (this.closed) return;
    this.closeError = err;
    this.close();
  }

  /**
   * A write failed: the peer closed its end of the channel (or it broke), so no answer can
   * reach it any more. The connection ends like fail() (reading stops for good, also when it
   * was paused for pressure, whose 'drain' will never come), with a ConnectionClosedError
   * (code POLYFORK_CLOSED) whose cause is the stream's error.
   * @param {Error} err
   */
  writeFailed(err) {
    this.fail(new ConnectionClosedError('the peer closed the channel: writing a frame failed', err));
  }

  /**
   * Ends the connection: stops reading, fails pending requests, aborts running handlers
   * (their signal's reason is a ConnectionClosedError whose cause is what ended it). Frames
   * written before go out; what is sent after is dropped (a callback given gets the error).
   */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.stopping = true;
    this.readingStopped = true;
    this.pausedForPressure = false;
    this.readable.pause();
    const reason = new ConnectionClosedError('the connection is closed', this.closeError || undefined);
    this.writer.refuse(reason);
    this.failPending(reason);
    for (const ctx of this.inflight.values()) ctx.end(reason);
    const cbs = this.closeCallbacks;
    this.closeCallbacks = [];
    for (const cb of cbs) cb(this.closeError);
  }

  failPending(err) {
    for (const id of [...this.pending.keys()]) {
      const call = this.settle(id);
      if (call) call.reject(err);
    }
  }
}

/**
 * A method name for an error message: whole up to 200 bytes of UTF-8, else its first 200
 * (at a character boundary) and its length, as the host and the other clients cut it. A
 * name is the caller's input, and may be huge.
 * @param {string} method
 * @returns {string}
 */
function cutName(method) {
  if (method.length <= 66) return method; // at most 3 bytes a UTF-16 unit
  const raw = Buffer.from(method);
  if (raw.length <= 200) return method;
  let n = 200;
  while (n > 0 && (raw[n] & 0xc0) === 0x80) n--;
  return `${raw.toString('utf8', 0, n)}... (${raw.length} bytes)`;
}

/** The default log of a Connection: one line to stderr. */
function logToStderr(line) {
  process.stderr.write(`${line}\n`);
}

/**
 * Turns what a handler threw into an error map (SPEC.md section 4.2).
 * @param {any} e
 * @param {RequestContext} [ctx]
 * @returns {{type: string, message: string, traceback?: string, data?: any}}
 */
function errorMap(e, ctx) {
  if (ctx && ctx.cancelled && e !== null && typeof e === 'object' &&
      (e.name === 'AbortError' || e.name === 'CancelledError' || (ctx.controller && e === ctx.controller.signal.reason))) {
    return { type: 'CancelledError', message: e.message || `request ${ctx.id} was cancelled`, traceback: e.stack };
  }
  if (e instanceof RemoteError) {
    const m = { type: e.type, message: e.message };
    if (e.traceback !== undefined) m.traceback = e.traceback;
    if (e.data !== undefined) m.data = e.data;
    return m;
  }
  if (e instanceof Error) {
    const ctor = e.constructor && e.constructor.name;
    const type = e.name && e.name !== 'Error' ? e.name : ctor || 'Error';
    const m = { type, message: String(e.message), traceback: typeof e.stack === 'string' ? e.stack : undefined };
    if (m.traceback === undefined) delete m.traceback;
    if (e.data !== undefined) m.data = e.data;
    return m;
  }
  return { type: 'Error', message: `a non-Error value was thrown: ${safeString(e)}` };
}

function safeString(v) {
  try {
    return typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function renamePath(e, to, cut) {
  const r = new ValueError(e.reason, to + e.path.slice(cut), e.code);
  if (e.cause !== undefined) r.cause = e.cause;
  return r;
}

module.exports = { Connection, RequestContext, errorMap };
