'use strict';

/**
 * The value rule of fork compatibility (register.js): a value goes as msgpack where msgpack
 * holds it (Date, Buffer and Uint8Array, Map, bigint, undefined as nil, -0, NaN), and the
 * parts msgpack cannot hold are converted exactly as Node's JSON IPC (`JSON.stringify`)
 * converts them, so that a script written for `child_process.fork` never fails where fork
 * would have sent something:
 *
 * - an object with a `toJSON()` method: what it returns (except Date and byte arrays,
 *   which msgpack holds);
 * - a function or a symbol: left out of an object, `null` in an array;
 * - `Error`, `Set`, `WeakMap`, `RegExp`, `Promise`, typed arrays other than `Uint8Array`,
 *   and any other object: its own enumerable string-keyed properties (an `Error` and a
 *   `Set` become `{}`, `Float32Array [1.5]` becomes `{"0": 1.5}`);
 * - an invalid Date: `null`;
 * - a string with a lone surrogate: the surrogate becomes U+FFFD (UTF-8 cannot carry it).
 *
 * What JSON.stringify throws for, this throws for too: a cycle (TypeError), and a bigint
 * outside the 64-bit range msgpack holds (TypeError, as JSON throws for every bigint).
 * @module polyfork/jsoncompat
 */

const { Ext, Float32, Float64 } = require('./values');

const INT64_MIN = -(1n << 63n);
const UINT64_MAX = (1n << 64n) - 1n;

/** Marks a value JSON leaves out. */
const OMIT = Symbol('omit');

/**
 * Returns `value` with every part msgpack cannot hold converted as JSON.stringify would.
 * @param {any} value
 * @returns {any}
 */
function jsonCompatible(value) {
  const v = convert(value, '', []);
  return v === OMIT ? null : v;
}

function convert(v, key, stack) {
  switch (typeof v) {
    case 'string':
      return v.isWellFormed() ? v : v.toWellFormed();
    case 'number':
    case 'boolean':
    case 'undefined':
      return v;
    case 'bigint':
      if (v < INT64_MIN || v > UINT64_MAX) throw new TypeError(`Do not know how to serialize a BigInt (${v} is outside the 64-bit range)`);
      return v;
    case 'function':
    case 'symbol':
      return OMIT;
    default:
      break;
  }
  if (v === null) return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v;
  if (v instanceof Uint8Array || v instanceof ArrayBuffer || v instanceof Ext || v instanceof Float32 || v instanceof Float64) return v;
  if (typeof v.toJSON === 'function') return convert(v.toJSON(key), key, stack);
  if (stack.includes(v)) throw new TypeError('Converting circular structure to JSON');
  stack.push(v);
  try {
    if (Array.isArray(v)) {
      return v.map((x, i) => {
        const c = convert(x, String(i), stack);
        return c === OMIT ? null : c;
      });
    }
    if (v instanceof Map) {
      const m = new Map();
      for (const [k, x] of v) {
        const c = convert(x, '', stack);
        m.set(convert(k, '', stack), c === OMIT ? null : c);
      }
      return m;
    }
    const o = {};
    for (const k of Object.keys(v)) {
      const c = convert(v[k], k, stack);
      if (c !== OMIT) o[k] = c;
    }
    return o;
  } finally {
    stack.pop();
  }
}

module.exports = { jsonCompatible };
