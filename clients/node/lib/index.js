'use strict';

/**
 * polyfork for Node: the child side of a polyfork session. A script that requires it is a
 * child of a polyfork host (Go, or any other): it serves requests with `handle`, listens
 * with `on`, and talks back with `send`, `notify` and `call`.
 *
 * Under a host (POLYFORK_PROTOCOL or POLYFORK_CHANNEL_FDS set) the library takes the
 * channel as soon as it is loaded (from stdin and stdout, so that console.log goes to
 * stderr; or from descriptors of its own, leaving stdio alone); without it, on the first
 * call of any function below. `$ready` goes out once the main module has finished loading
 * (an ES module: after its top-level await), or when the script says so with ready() or
 * run(setup).
 * @module polyfork
 */

const core = require('./core');
const { getRuntime } = require('./child');
const { listenFds, listenHandle } = require('./listen');

function conn() {
  return getRuntime().connection;
}

/**
 * Sends `value` to the host as a message (`[2, "message", [value]]`).
 * @param {any} value
 * @param {(err?: Error | null) => void} [cb] called once the frame was written
 */
function send(value, cb) {
  conn().send(value, cb);
}

/**
 * Listens to the host's notifications named `name`: `'message'` gets the value of each
 * host `Send`; other names get the params as arguments.
 * @param {string} name
 * @param {Function} fn
 * @returns {{dispose(): void}}
 */
function on(name, fn) {
  return conn().on(name, fn);
}

/**
 * Serves the host's requests for `method`: fn gets the params as arguments and returns the
 * result (or a Promise of it) or throws. In a `function` handler, `this.signal` is an
 * AbortSignal aborted when the host cancels the call.
 * @param {string} method
 * @param {Function} fn
 * @returns {{dispose(): void}}
 */
function handle(method, fn) {
  return conn().handle(method, fn);
}

/**
 * Calls the host's handler `method` with `params` as its arguments.
 * @param {string} method
 * @param {...any} params
 * @returns {Promise<any>}
 */
function call(method, ...params) {
  return ready().request(method, params);
}

/**
 * Calls the host's handler `method` with an array of params and options `{signal, timeout}`.
 * @param {string} method
 * @param {any[]} [params]
 * @param {{signal?: AbortSignal, timeout?: number}} [options]
 * @returns {Promise<any>}
 */
function request(method, params, options) {
  return ready().request(method, params, options);
}

/**
 * Sends the notification `method` with `params` as its arguments.
 * @param {string} method
 * @param {...any} params
 */
function notify(method, ...params) {
  conn().notify(method, ...params);
}

/**
 * Takes the channel now (moving console output off stdout before other modules load), if
 * that has not happened yet. `$ready` goes out as usual.
 * @returns {import('./connection').Connection} the connection to the host
 */
function start() {
  return conn();
}

/**
 * Sends `$ready` now, if it has not gone out: the host may call from then on. For a script
 * whose handlers are in place before the main module has finished loading, or after it (a
 * set-up in a callback: call `run()` first, during the first turn, to hold the automatic
 * `$ready` back, or use `run(setup)`). A call to the host sends it too, since the host
 * answers nothing before it.
 * @returns {import('./connection').Connection} the connection to the host
 */
function ready() {
  const rt = getRuntime();
  rt.start();
  return rt.connection;
}

/**
 * Holds the automatic `$ready` back until `setup` is done: `setup` is a function (run now;
 * it may return a Promise) or a Promise. `$ready` goes out when it resolves; when it throws
 * or rejects, the returned Promise rejects and no `$ready` is sent (unhandled, the process
 * ends as for any unhandled rejection). Without `setup`, the same as ready().
 *
 *     polyfork.run(async () => {
 *       const db = await connect();
 *       polyfork.handle('query', (q) => db.query(q));
 *     });
 *
 * @param {(() => unknown) | Promise<unknown>} [setup]
 * @returns {Promise<void>} resolves once `$ready` went out
 */
function run(setup) {
  return getRuntime().run(setup);
}

/**
 * Runs fn when the host sends `$stop` or closes stdin, before the process exits.
 * @param {() => void} fn
 */
function onStop(fn) {
  getRuntime().onStop(fn);
}

module.exports = {
  send,
  on,
  handle,
  call,
  request,
  notify,
  start,
  ready,
  run,
  onStop,
  listenFds,
  listenHandle,
  ...core,
};

// Not in a worker thread: the channel is the main thread's (see getRuntime); loading the
// module there is harmless, using it throws.
if ((process.env.POLYFORK_PROTOCOL || process.env.POLYFORK_CHANNEL_FDS !== undefined)
  && require('node:worker_threads').isMainThread) getRuntime();
