'use strict';

/**
 * polyfork for Node: the child side of a polyfork session. A script that requires it is a
 * child of a polyfork host (Go, or any other): it serves requests with `handle`, listens
 * with `on`, and talks back with `send`, `notify` and `call`.
 *
 * Under a host (POLYFORK_PROTOCOL set) the library takes over stdin and stdout as soon as
 * it is loaded, so that console.log goes to stderr; without it, on the first call of
 * any function below. `$ready` goes out once the script has finished loading (on
 * setImmediate), so register handlers at the top level of the script.
 * @module polyfork
 */

const core = require('./core');
const { getRuntime } = require('./child');

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
  return conn().request(method, params);
}

/**
 * Calls the host's handler `method` with an array of params and options `{signal, timeout}`.
 * @param {string} method
 * @param {any[]} [params]
 * @param {{signal?: AbortSignal, timeout?: number}} [options]
 * @returns {Promise<any>}
 */
function request(method, params, options) {
  return conn().request(method, params, options);
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
 * Takes over stdio and schedules `$ready` now, if that has not happened yet. Useful to
 * move console output off the channel before other modules load.
 * @returns {import('./connection').Connection} the connection to the host
 */
function start() {
  return conn();
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
  onStop,
  ...core,
};

if (process.env.POLYFORK_PROTOCOL) getRuntime();
