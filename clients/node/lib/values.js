'use strict';

/**
 * Wrappers for msgpack values that plain JavaScript values cannot express.
 * @module polyfork/values
 */

/**
 * A msgpack ext value: a type code (-128..127) and its bytes. Received for every ext type
 * other than the timestamp (-1), and for timestamps a `Date` cannot hold exactly (sub-
 * millisecond precision, or out of the `Date` range). Encodes back to the same bytes.
 */
class Ext {
  /**
   * @param {number} type an integer from -128 to 127
   * @param {Uint8Array} data the payload
   */
  constructor(type, data) {
    if (!Number.isInteger(type) || type < -128 || type > 127) {
      throw new RangeError(`ext type must be an integer from -128 to 127, got ${String(type)}`);
    }
    if (!(data instanceof Uint8Array)) throw new TypeError('ext data must be a Uint8Array or Buffer');
    /** The ext type code. */
    this.type = type;
    /** The payload bytes. */
    this.data = data;
  }
}

/**
 * A number to send as msgpack float32 (`ca`). Received float32 values arrive as plain
 * numbers; use this when a peer needs float32 on the wire.
 */
class Float32 {
  /** @param {number} value */
  constructor(value) {
    if (typeof value !== 'number') throw new TypeError(`Float32 wraps a number, got ${typeof value}`);
    /** The number, written with float32 precision. */
    this.value = value;
  }
}

/**
 * A number to send as msgpack float64 (`cb`) even when it is integral: JavaScript has one
 * number type, so `1.0` is `1` and would be written as the integer 1.
 */
class Float64 {
  /** @param {number} value */
  constructor(value) {
    if (typeof value !== 'number') throw new TypeError(`Float64 wraps a number, got ${typeof value}`);
    /** The number. */
    this.value = value;
  }
}

/**
 * Returns a Float32 wrapper: `float32(1.5)` is sent as msgpack float32.
 * @param {number} value
 * @returns {Float32}
 */
function float32(value) {
  return new Float32(value);
}

/**
 * Returns a Float64 wrapper: `float64(1)` is sent as msgpack float64, not as the integer 1.
 * @param {number} value
 * @returns {Float64}
 */
function float64(value) {
  return new Float64(value);
}

module.exports = { Ext, Float32, Float64, float32, float64 };
