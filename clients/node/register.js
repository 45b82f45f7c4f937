'use strict';

/**
 * Fork compatibility: `node --require <repo>/clients/node/register.js script.js` (or
 * `--require polyfork/register`, or the same in NODE_OPTIONS) gives a script written for
 * `child_process.fork` the child API it expects, backed by the polyfork channel instead of
 * Node's IPC:
 *
 * - `process.send(message[, sendHandle[, options]][, callback])` sends a message
 *   (`[2, "message", [message]]`), with Node's argument checks; sendHandle is not supported.
 *   Values: see jsoncompat.js (msgpack where it holds the value, else what Node's JSON IPC
 *   makes of it), so that send never throws where fork's would not.
 * - `process.on('message', fn)` receives the host's messages. Messages that arrive before the
 *   first 'message' listener exists wait for it (an ES module registers its listener only
 *   once it is evaluated).
 * - `process.connected`, `process.disconnect()`, the `'disconnect'` event, and
 *   `process.channel` with `ref()` / `unref()`, as Node gives them: the channel keeps the
 *   process alive only while there are 'message' or 'disconnect' listeners, unless
 *   `process.channel.ref()` / `unref()` said otherwise.
 *
 * `$ready` goes out once the main module has loaded (an ES module: after its top-level
 * await), or earlier when the script adds its first 'message' listener (it is then ready
 * for messages, and a top-level await for the host's first message must not deadlock).
 *
 * Nested forks talk to their real parent: register.js removes itself from
 * `process.execArgv` and NODE_OPTIONS, and the POLYFORK_* variables from the environment,
 * so that the script's own `child_process.fork` children (tinypool, jest-worker,
 * worker-farm...) get Node's IPC channel, not this one.
 *
 * On `$stop` or the end of input the process is disconnected ('disconnect' is emitted) and
 * exits as a forked child does, once nothing else keeps it alive; since SPEC.md requires a
 * child to exit when its host is gone, one still alive 2 seconds later exits with status 0.
 *
 * With the channel on descriptors of its own (POLYFORK_CHANNEL_FDS, the recommended mode
 * for register.js children), console.log and process.stdout are left as they are, as under
 * Node's own fork.
 */

const { EventEmitter } = require('node:events');
const { getRuntime } = require('./lib/child');
const { jsonCompatible } = require('./lib/jsoncompat');
const { stripRegister } = require('./lib/inherit');

/** How long a disconnected child may keep running before it is made to exit. */
const DISCONNECT_GRACE_MS = 2000;

// Only under a polyfork host, and never in a process that has Node's own IPC channel (a
// child forked by Node, which inherited the variables by mistake): there register.js stays
// out of the way, and the script runs as plain Node; nor in a worker thread (the channel is
// the main thread's).
const underHost = Boolean(process.env.POLYFORK_PROTOCOL) || process.env.POLYFORK_CHANNEL_FDS !== undefined;
if (underHost && process.channel === undefined && require('node:worker_threads').isMainThread) install();

/** Puts the fork API in place over the polyfork channel. */
function install() {
  const runtime = getRuntime(); // reads the POLYFORK_* variables first
  stripRegister(__filename);
  runtime.exitOnStop = false;
  const connection = runtime.connection;
  let connected = true;

  function nodeError(Ctor, code, message) {
    const err = new Ctor(message);
    err.code = code;
    return err;
  }

  /**
   * process.channel: Node's Control for the IPC pipe, here for the polyfork input. Its
   * references follow the 'message' and 'disconnect' listeners until ref() or unref() is
   * called, after which they are the script's to manage (lib/internal/child_process.js).
   */
  class Channel extends EventEmitter {
    #refs = 0;
    #explicit = false;

    refCounted() {
      if (++this.#refs === 1 && !this.#explicit) runtime.input.ref();
    }

    unrefCounted() {
      if (--this.#refs === 0 && !this.#explicit) {
        runtime.input.unref();
        this.emit('unref');
      }
    }

    ref() {
      this.#explicit = true;
      runtime.input.ref();
    }

    unref() {
      this.#explicit = true;
      runtime.input.unref();
    }

    /** The descriptor the channel reads from. */
    get fd() {
      const h = runtime.input._handle;
      return h ? h.fd : undefined;
    }
  }

  let channel = new Channel();
  runtime.input.unref(); // until a listener comes

  Object.defineProperty(process, 'connected', {
    configurable: true,
    enumerable: true,
    get: () => connected,
  });

  Object.defineProperty(process, 'channel', {
    configurable: true,
    enumerable: true,
    get: () => channel,
  });

  /**
   * Sends a message to the host, as `process.send` does in a forked child.
   * @param {any} message
   * @param {any} [sendHandle] not supported: must be undefined
   * @param {object} [options]
   * @param {(err: Error | null) => void} [callback]
   * @returns {boolean}
   */
  process.send = function send(message, sendHandle, options, callback) {
    if (typeof sendHandle === 'function') {
      callback = sendHandle;
      sendHandle = undefined;
    } else if (typeof options === 'function') {
      callback = options;
    }
    if (message === undefined) throw nodeError(TypeError, 'ERR_MISSING_ARGS', 'The "message" argument must be specified');
    const type = typeof message;
    if (type !== 'string' && type !== 'object' && type !== 'number' && type !== 'boolean') {
      throw nodeError(TypeError, 'ERR_INVALID_ARG_TYPE',
        `The "message" argument must be one of type string, object, number, or boolean. Received type ${type}`);
    }
    if (sendHandle !== undefined && sendHandle !== null) {
      throw new TypeError('polyfork: process.send cannot pass handles (sockets, servers) over the polyfork channel');
    }
    if (!connected) {
      const err = nodeError(Error, 'ERR_IPC_CHANNEL_CLOSED', 'Channel closed');
      if (typeof callback === 'function') process.nextTick(callback, err);
      else process.nextTick(() => process.emit('error', err));
      return false;
    }
    const cb = typeof callback === 'function' ? (err) => callback(err || null) : undefined;
    try {
      connection.send(message, cb);
    } catch (e) {
      // A value msgpack cannot hold: what Node's JSON IPC would have sent. Over a limit (size,
      // count, depth), or a cycle: thrown, as JSON.stringify throws for what it cannot send.
      if (e.name !== 'ValueError' || e.code === 'POLYFORK_TOO_MANY_VALUES') throw e;
      connection.send(jsonCompatible(message), cb);
    }
    return true;
  };

  /** Closes the channel to the host, as `process.disconnect` does in a forked child. */
  process.disconnect = function disconnect() {
    if (!connected) {
      process.emit('error', nodeError(Error, 'ERR_IPC_DISCONNECTED', 'IPC channel is already disconnected'));
      return;
    }
    markDisconnected();
    connection.flush(() => runtime.output.end());
  };

  function markDisconnected() {
    connected = false;
    channel = null;
    // Stop reading; a socket used both ways stays open for what is still to be written.
    if (runtime.input === runtime.output) runtime.input.pause();
    else runtime.input.destroy();
    connection.close();
    process.nextTick(() => process.emit('disconnect'));
  }

  // Messages wait for the first 'message' listener.
  const queued = [];
  connection.on('message', (value) => {
    if (queued.length > 0 || process.listenerCount('message') === 0) queued.push(value);
    else process.emit('message', value, undefined);
  });

  function deliverQueued() {
    while (queued.length > 0 && process.listenerCount('message') > 0) {
      process.emit('message', queued.shift(), undefined);
    }
  }

  process.on('newListener', (event) => {
    if (event === 'message') {
      runtime.start(); // the script takes messages now
      if (queued.length > 0) process.nextTick(deliverQueued); // once the listener is in
    }
    if ((event === 'message' || event === 'disconnect') && channel !== null) channel.refCounted();
  });
  process.on('removeListener', (event) => {
    if ((event === 'message' || event === 'disconnect') && channel !== null) channel.unrefCounted();
  });

  runtime.onStop(() => {
    if (!connected) return;
    markDisconnected();
    connection.flush(() => {
      const timer = setTimeout(() => process.exit(0), DISCONNECT_GRACE_MS);
      timer.unref();
    });
  });
}
