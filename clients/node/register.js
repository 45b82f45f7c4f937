'use strict';

/**
 * Fork compatibility: `node --require <repo>/clients/node/register.js script.js` gives a
 * script written for `child_process.fork` the child API it expects, backed by the polyfork
 * channel instead of Node's IPC:
 *
 * - `process.send(value[, sendHandle[, options]][, callback])` sends a message
 *   (`[2, "message", [value]]`); sendHandle is not supported.
 * - `process.on('message', fn)` receives the host's messages.
 * - `process.connected`, `process.disconnect()` and the `'disconnect'` event.
 *
 * As in a forked child, the channel keeps the process alive only while there are
 * 'message' or 'disconnect' listeners. On `$stop` or the end of stdin the process is
 * disconnected ('disconnect' is emitted) and then exits as a forked child does, once
 * nothing else keeps it alive; since SPEC.md requires a child to exit when its host is
 * gone, one still alive 2 seconds later exits with status 0.
 */

const { getRuntime } = require('./lib/child');

/** How long a disconnected child may keep running before it is made to exit. */
const DISCONNECT_GRACE_MS = 2000;

const runtime = getRuntime();
runtime.exitOnStop = false;
const connection = runtime.connection;
let connected = true;

Object.defineProperty(process, 'connected', {
  configurable: true,
  enumerable: true,
  get: () => connected,
});

function channelClosedError() {
  const err = new Error('Channel closed');
  err.code = 'ERR_IPC_CHANNEL_CLOSED';
  return err;
}

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
  if (sendHandle !== undefined && sendHandle !== null) {
    throw new TypeError('polyfork: process.send cannot pass handles (sockets, servers) over the polyfork channel');
  }
  if (message === undefined) {
    const err = new TypeError('The "message" argument must be specified');
    err.code = 'ERR_MISSING_ARGS';
    throw err;
  }
  if (!connected) {
    const err = channelClosedError();
    if (typeof callback === 'function') process.nextTick(callback, err);
    else process.nextTick(() => process.emit('error', err));
    return false;
  }
  connection.send(message, typeof callback === 'function' ? (err) => callback(err || null) : undefined);
  return true;
};

/** Closes the channel to the host, as `process.disconnect` does in a forked child. */
process.disconnect = function disconnect() {
  if (!connected) {
    process.emit('error', channelClosedError());
    return;
  }
  markDisconnected();
  connection.flush(() => runtime.output.end());
};

function markDisconnected() {
  connected = false;
  runtime.input.destroy();
  connection.close();
  process.nextTick(() => process.emit('disconnect'));
}

connection.on('message', (value) => process.emit('message', value, undefined));

runtime.onStop(() => {
  if (!connected) return;
  markDisconnected();
  connection.flush(() => {
    const timer = setTimeout(() => process.exit(0), DISCONNECT_GRACE_MS);
    timer.unref();
  });
});

// Like Node's IPC channel: referenced only while someone listens.
function refreshRef() {
  if (!connected) return;
  if (process.listenerCount('message') + process.listenerCount('disconnect') > 0) runtime.input.ref();
  else runtime.input.unref();
}
process.on('newListener', (event) => {
  if (event === 'message' || event === 'disconnect') setImmediate(refreshRef);
});
process.on('removeListener', (event) => {
  if (event === 'message' || event === 'disconnect') setImmediate(refreshRef);
});
runtime.input.unref();
