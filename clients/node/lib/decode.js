'use strict';

/**
 * Decodes msgpack values into JavaScript exactly, following SPEC.md section 7:
 *
 *   nil -> null, bool -> boolean, int -> number when a safe integer, else bigint,
 *   float32 / float64 -> number, str -> string (UTF-8 checked), bin -> Buffer,
 *   array -> Array, map with str keys -> plain object, map with any other key -> Map,
 *   ext -1 (timestamp) -> Date when a Date holds it exactly, else Ext; other ext -> Ext.
 *
 * The bytes must have passed scan.check first: this module trusts counts and lengths and
 * does no bounds checks of its own. It is the only decoder: with its cache of map keys it
 * decodes lists of records as fast as msgpackr did (see README.md), and it needs no
 * package beside Node.
 * @module polyfork/decode
 */

const { isAscii, isUtf8, transcode } = require('node:buffer');
const { ValueError } = require('./errors');
const { Ext } = require('./values');
const { check } = require('./scan');

/**
 * From this many bytes on, text that is not ASCII is decoded by transcoding the UTF-8 to
 * UTF-16 (ICU) and taking that as the string, which Node 20 does 5x to 8x faster than its
 * UTF-8 decoder at 64 KiB and above; below 1 KiB the native call costs more than it saves.
 */
const TRANSCODE_MIN = 1024;
/** Whether buffer.transcode works here (it needs ICU, which some Node builds leave out). */
const canTranscode = (() => {
  try {
    return transcode(Buffer.from('\u00e9\u4e2d\ud83d\ude00', 'utf8'), 'utf8', 'utf16le').ucs2Slice() === '\u00e9\u4e2d\ud83d\ude00';
  } catch {
    return false;
  }
})();

const TWO32 = 4294967296;
const MAX_DATE_MS = 8.64e15;

/** @type {Buffer} */
let src;
let pos;

/**
 * Checks and decodes one msgpack value in `buf[start, end)`.
 * @param {Buffer} buf
 * @param {number} [start]
 * @param {number} [end]
 * @returns {any}
 * @throws {ProtocolError} when the bytes are not one well-formed msgpack value
 * @throws {ValueError} when the value has no exact JavaScript form (invalid UTF-8 in a str,
 *   a malformed timestamp)
 */
function decode(buf, start = 0, end = buf.length) {
  if (!Buffer.isBuffer(buf)) buf = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  check(buf, start, end);
  return decodeExact(buf, start);
}

/**
 * Decodes the value at `start`, which scan.check accepted: it trusts counts and lengths.
 * @param {Buffer} buf
 * @param {number} start
 * @returns {any}
 */
function decodeExact(buf, start) {
  const saveSrc = src;
  const savePos = pos;
  src = buf;
  pos = start;
  try {
    return read();
  } finally {
    src = saveSrc;
    pos = savePos;
  }
}

function read() {
  const c = src[pos++];
  if (c < 0x80) return c;
  if (c < 0x90) return readMap(c & 0x0f);
  if (c < 0xa0) return readArray(c & 0x0f);
  if (c < 0xc0) return readStr(c & 0x1f);
  if (c >= 0xe0) return c - 0x100;
  let v;
  switch (c) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xcc: return src[pos++];
    case 0xcd:
      v = (src[pos] << 8) | src[pos + 1];
      pos += 2;
      return v;
    case 0xce:
      v = src.readUInt32BE(pos);
      pos += 4;
      return v;
    case 0xcf: return readUint64();
    case 0xd0:
      v = src[pos++];
      return v < 0x80 ? v : v - 0x100;
    case 0xd1:
      v = src.readInt16BE(pos);
      pos += 2;
      return v;
    case 0xd2:
      v = src.readInt32BE(pos);
      pos += 4;
      return v;
    case 0xd3: return readInt64();
    case 0xca:
      v = src.readFloatBE(pos);
      pos += 4;
      return v;
    case 0xcb:
      v = src.readDoubleBE(pos);
      pos += 8;
      return v;
    case 0xd9: return readStr(src[pos++]);
    case 0xda:
      v = (src[pos] << 8) | src[pos + 1];
      pos += 2;
      return readStr(v);
    case 0xdb:
      v = src.readUInt32BE(pos);
      pos += 4;
      return readStr(v);
    case 0xc4: return readBin(src[pos++]);
    case 0xc5:
      v = (src[pos] << 8) | src[pos + 1];
      pos += 2;
      return readBin(v);
    case 0xc6:
      v = src.readUInt32BE(pos);
      pos += 4;
      return readBin(v);
    case 0xdc:
      v = (src[pos] << 8) | src[pos + 1];
      pos += 2;
      return readArray(v);
    case 0xdd:
      v = src.readUInt32BE(pos);
      pos += 4;
      return readArray(v);
    case 0xde:
      v = (src[pos] << 8) | src[pos + 1];
      pos += 2;
      return readMap(v);
    case 0xdf:
      v = src.readUInt32BE(pos);
      pos += 4;
      return readMap(v);
    case 0xd4: return readExt(1);
    case 0xd5: return readExt(2);
    case 0xd6: return readExt(4);
    case 0xd7: return readExt(8);
    case 0xd8: return readExt(16);
    case 0xc7: return readExt(src[pos++]);
    case 0xc8:
      v = (src[pos] << 8) | src[pos + 1];
      pos += 2;
      return readExt(v);
    case 0xc9:
      v = src.readUInt32BE(pos);
      pos += 4;
      return readExt(v);
    default:
      // scan.check refuses 0xc1, the only byte left.
      throw new ValueError(`byte 0x${c.toString(16)} is not a msgpack value`);
  }
}

function readUint64() {
  const hi = src.readUInt32BE(pos);
  const lo = src.readUInt32BE(pos + 4);
  pos += 8;
  if (hi < 0x200000) return hi * TWO32 + lo; // below 2^53
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function readInt64() {
  const hi = src.readInt32BE(pos);
  const lo = src.readUInt32BE(pos + 4);
  pos += 8;
  if (hi < 0x200000 && (hi > -0x200000 || (hi === -0x200000 && lo > 0))) return hi * TWO32 + lo;
  return (BigInt(hi) << 32n) | BigInt(lo);
}

function readStr(n) {
  const start = pos;
  const end = pos + n;
  pos = end;
  if (n < 48) {
    // Short: a loop finds ASCII sooner than a native call; other text goes on below.
    let i = start;
    for (; i < end; i++) if (src[i] >= 0x80) break;
    if (i === end) return n < 8 ? tinyAscii(start, n) : src.latin1Slice(start, end);
  }
  const bytes = src.subarray(start, end);
  if (isAscii(bytes)) return src.latin1Slice(start, end); // a copy, where UTF-8 decoding is 2x slower
  if (!isUtf8(bytes)) {
    throw new ValueError(`str of ${n} bytes at byte ${start} is not valid UTF-8`);
  }
  if (n >= TRANSCODE_MIN && canTranscode) {
    const utf16 = transcode(bytes, 'utf8', 'utf16le');
    return utf16.ucs2Slice(0, utf16.length);
  }
  return src.utf8Slice(start, end);
}

const fromCharCode = String.fromCharCode;

/** Makes the string of the n < 8 ASCII bytes at `at` without a native call. */
function tinyAscii(at, n) {
  switch (n) {
    case 0: return '';
    case 1: return fromCharCode(src[at]);
    case 2: return fromCharCode(src[at], src[at + 1]);
    case 3: return fromCharCode(src[at], src[at + 1], src[at + 2]);
    case 4: return fromCharCode(src[at], src[at + 1], src[at + 2], src[at + 3]);
    case 5: return fromCharCode(src[at], src[at + 1], src[at + 2], src[at + 3], src[at + 4]);
    case 6: return fromCharCode(src[at], src[at + 1], src[at + 2], src[at + 3], src[at + 4], src[at + 5]);
    default: return fromCharCode(src[at], src[at + 1], src[at + 2], src[at + 3], src[at + 4], src[at + 5], src[at + 6]);
  }
}

function readBin(n) {
  const b = Buffer.allocUnsafe(n);
  src.copy(b, 0, pos, pos + n);
  pos += n;
  return b;
}

function readArray(n) {
  const a = new Array(n);
  for (let i = 0; i < n; i++) a[i] = read();
  return a;
}

function readMap(n) {
  const o = {};
  for (let i = 0; i < n; i++) {
    const c = src[pos];
    let k;
    if (c >= 0xa0 && c < 0xb0) {
      pos++;
      k = key(c & 0x0f);
    } else if (!(c >= 0xb0 && c < 0xc0) && c !== 0xd9 && c !== 0xda && c !== 0xdb) {
      return finishAsMap(o, n - i);
    } else {
      k = read();
    }
    if (k === '__proto__') {
      Object.defineProperty(o, k, { value: read(), enumerable: true, writable: true, configurable: true });
    } else {
      o[k] = read();
    }
  }
  return o;
}

/** Map keys of up to 15 bytes seen lately, by a hash of their bytes: [bytes, string]. */
const keys = new Array(4096);

/**
 * Returns the map key of the n < 16 bytes at pos (advancing pos): from `keys` when the same
 * ASCII bytes were seen before, which spares making the string and V8 hashing a fresh
 * key for every record of a list (msgpackr's key cache does the same).
 */
function key(n) {
  const at = pos;
  let h = n;
  for (let i = at; i < at + n; i++) {
    const b = src[i];
    if (b >= 0x80) return readStr(n);
    h = (h * 31 + b) | 0;
  }
  pos = at + n;
  const slot = (h ^ (h >>> 12)) & 4095;
  const seen = keys[slot];
  if (seen !== undefined) {
    const b = seen[0];
    if (b.length === n) {
      let i = 0;
      while (i < n && b[i] === src[at + i]) i++;
      if (i === n) return seen[1];
    }
  }
  const k = n < 8 ? tinyAscii(at, n) : src.latin1Slice(at, at + n);
  keys[slot] = [Buffer.from(src.subarray(at, at + n)), k];
  return k;
}

/** Finishes a map that has a key other than str as a Map, keeping the entries read so far. */
function finishAsMap(o, left) {
  const m = new Map();
  for (const k of Object.keys(o)) m.set(k, o[k]);
  for (let i = 0; i < left; i++) {
    const k = read();
    m.set(k, read());
  }
  return m;
}

function readExt(n) {
  const type = src[pos] > 127 ? src[pos] - 256 : src[pos];
  const start = pos + 1;
  pos = start + n;
  if (type === -1) return timestamp(start, n);
  return new Ext(type, Buffer.from(src.subarray(start, start + n)));
}

/** Decodes the msgpack timestamp ext (type -1) in its 4, 8 or 12-byte form. */
function timestamp(at, n) {
  let sec;
  let nsec;
  if (n === 4) {
    return new Date(src.readUInt32BE(at) * 1000);
  } else if (n === 8) {
    const hi = src.readUInt32BE(at);
    nsec = Math.floor(hi / 4);
    sec = (hi & 3) * TWO32 + src.readUInt32BE(at + 4);
  } else if (n === 12) {
    nsec = src.readUInt32BE(at);
    sec = Number(src.readBigInt64BE(at + 4));
  } else {
    throw new ValueError(`a timestamp ext (type -1) has 4, 8 or 12 bytes, got ${n}`);
  }
  if (nsec > 999999999) throw new ValueError(`timestamp nanoseconds ${nsec} are above 999999999`);
  const ms = sec * 1000 + nsec / 1e6;
  if (nsec % 1e6 === 0 && Math.abs(ms) <= MAX_DATE_MS && Number.isSafeInteger(sec)) return new Date(ms);
  // A Date holds milliseconds in +-8.64e15: keep the exact bytes instead.
  return new Ext(-1, Buffer.from(src.subarray(at, at + n)));
}

module.exports = { decode, decodeExact };
