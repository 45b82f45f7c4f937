'use strict';

// Tagged values (SPEC.md section 8) to JavaScript values, and exact comparison of decoded
// values with tagged ones.

const assert = require('node:assert/strict');
const { Ext, Float32, Float64 } = require('../../lib/values');

function items(t) {
  return 'repeat' in t ? Array.from({ length: t.repeat }, () => t.item) : t.items;
}

function bitsToFloat64(bits) {
  return Buffer.from(bits, 'hex').readDoubleBE(0);
}

function bitsToFloat32(bits) {
  return Buffer.from(bits, 'hex').readFloatBE(0);
}

/**
 * Returns the JavaScript value the decoder must produce for a tagged value (SPEC section 7).
 * @param {object} t
 * @returns {any}
 */
function expected(t) {
  switch (t.type) {
    case 'nil': return null;
    case 'bool': return t.value;
    case 'int': {
      const b = BigInt(t.value);
      return b >= -(2n ** 53n - 1n) && b <= 2n ** 53n - 1n ? Number(b) : b;
    }
    case 'float64': return bitsToFloat64(t.bits);
    case 'float32': return bitsToFloat32(t.bits);
    case 'str': return t.value;
    case 'bin': return Buffer.from(t.hex, 'hex');
    case 'array': return items(t).map(expected);
    case 'map': {
      const entries = t.entries.map(([k, v]) => [expected(k), expected(v)]);
      if (entries.every(([k]) => typeof k === 'string')) {
        const o = {};
        for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
        return o;
      }
      return new Map(entries);
    }
    case 'ext': {
      const data = Buffer.from(t.hex, 'hex');
      if (t.ext_type === -1) {
        const d = timestampToDate(data);
        if (d) return d;
      }
      return new Ext(t.ext_type, data);
    }
    default: throw new Error(`unknown tagged type ${t.type}`);
  }
}

/** The Date a timestamp ext decodes to when a Date holds it exactly, else null. */
function timestampToDate(b) {
  let sec;
  let nsec;
  if (b.length === 4) return new Date(b.readUInt32BE(0) * 1000);
  if (b.length === 8) {
    const hi = b.readUInt32BE(0);
    nsec = Math.floor(hi / 4);
    sec = (hi & 3) * 2 ** 32 + b.readUInt32BE(4);
  } else if (b.length === 12) {
    nsec = b.readUInt32BE(0);
    sec = Number(b.readBigInt64BE(4));
  } else {
    return null;
  }
  const ms = sec * 1000 + nsec / 1e6;
  return nsec % 1e6 === 0 && Math.abs(ms) <= 8.64e15 ? new Date(ms) : null;
}

/**
 * Returns the JavaScript value that encodes to the tagged value's canonical bytes: floats
 * the encoder would write as integers (integral values, float32) are wrapped.
 * @param {object} t
 * @returns {any}
 */
function toEncode(t) {
  switch (t.type) {
    case 'float64': {
      const x = bitsToFloat64(t.bits);
      return Number.isSafeInteger(x) && !Object.is(x, -0) ? new Float64(x) : x;
    }
    case 'float32': return new Float32(bitsToFloat32(t.bits));
    case 'array': return items(t).map(toEncode);
    case 'map': {
      const entries = t.entries.map(([k, v]) => [toEncode(k), toEncode(v)]);
      if (entries.every(([k]) => typeof k === 'string')) {
        const o = {};
        for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
        return o;
      }
      return new Map(entries);
    }
    default: return expected(t);
  }
}

/**
 * Asserts that a decoded value is exactly the expected one: same types (number vs bigint,
 * object vs Map, Buffer), floats compared by their bits (NaN, -0).
 */
function assertSame(actual, want, path = '$') {
  if (typeof want === 'number') {
    assert.equal(typeof actual, 'number', `${path}: want a number, got ${typeof actual}`);
    assert.ok(Object.is(actual, want) || (Number.isNaN(actual) && Number.isNaN(want)), `${path}: ${actual} !== ${want}`);
    return;
  }
  if (typeof want !== 'object' || want === null) {
    assert.equal(actual, want, path);
    return;
  }
  if (Buffer.isBuffer(want)) {
    assert.ok(Buffer.isBuffer(actual), `${path}: want a Buffer`);
    assert.ok(actual.equals(want), `${path}: bytes differ`);
    return;
  }
  if (want instanceof Date) {
    assert.ok(actual instanceof Date, `${path}: want a Date`);
    assert.equal(actual.getTime(), want.getTime(), path);
    return;
  }
  if (want instanceof Ext) {
    assert.ok(actual instanceof Ext, `${path}: want an Ext`);
    assert.equal(actual.type, want.type, path);
    assert.ok(Buffer.from(actual.data).equals(want.data), `${path}: ext bytes differ`);
    return;
  }
  if (Array.isArray(want)) {
    assert.ok(Array.isArray(actual), `${path}: want an array`);
    assert.equal(actual.length, want.length, `${path}: length`);
    for (let i = 0; i < want.length; i++) assertSame(actual[i], want[i], `${path}[${i}]`);
    return;
  }
  if (want instanceof Map) {
    assert.ok(actual instanceof Map, `${path}: want a Map`);
    assert.deepEqual([...actual.keys()], [...want.keys()], `${path}: keys`);
    for (const [k, v] of want) assertSame(actual.get(k), v, `${path}<${String(k)}>`);
    return;
  }
  assert.ok(actual !== null && typeof actual === 'object' && !Array.isArray(actual) && !(actual instanceof Map),
    `${path}: want a plain object`);
  assert.deepEqual(Object.keys(actual).sort(), Object.keys(want).sort(), `${path}: keys`);
  for (const k of Object.keys(want)) assertSame(actual[k], want[k], `${path}.${k}`);
}

module.exports = { expected, toEncode, assertSame };
