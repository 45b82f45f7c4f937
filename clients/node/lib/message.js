'use strict';

/**
 * Parses a frame body into a message (SPEC.md section 4). The envelope (kind, id, method,
 * error map) must be exact or the frame is a protocol error; the params and the result are
 * decoded separately, so a value JavaScript cannot hold fails only that request, not the
 * session.
 * @module polyfork/message
 */

const { ProtocolError, ValueError } = require('./errors');
const { check } = require('./scan');
const { MAX_DEPTH, DEFAULT_MAX_VALUES } = require('./encode');
const { decodeExact } = require('./decode');

/** Message kinds. */
const REQUEST = 0;
const RESPONSE = 1;
const NOTIFICATION = 2;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

let src;
let pos;
let frameStart;
let frameEnd;

/**
 * A decoded message. Which fields are set depends on `kind`:
 * request: id, method, params; response: id, error or result; notification: method, params.
 * `valueError` is set instead of `params` / `result` when those could not be decoded.
 * @typedef {object} Message
 * @property {0|1|2} kind
 * @property {number} [id]
 * @property {string} [method]
 * @property {any[]} [params]
 * @property {{type: string, message: string, traceback?: string, data?: any} | null} [error]
 * @property {any} [result]
 * @property {ValueError} [valueError]
 */

/**
 * Parses one frame body.
 * @param {Buffer} buf
 * @param {number} [start]
 * @param {number} [end]
 * @param {number} [maxValues] the most msgpack values the frame may hold (default 4194304)
 * @returns {Message}
 * @throws {ProtocolError} when the body is not one well-formed message
 */
function parseMessage(buf, start = 0, end = buf.length, maxValues = DEFAULT_MAX_VALUES) {
  check(buf, start, end, MAX_DEPTH, maxValues);
  src = buf;
  pos = start;
  frameStart = start;
  frameEnd = end;
  try {
    return envelope(start);
  } finally {
    src = undefined;
  }
}

function envelope(start) {
  const c = src[pos];
  let n;
  if (c >= 0x90 && c <= 0x9f) {
    n = c & 0x0f;
    pos++;
  } else if (c === 0xdc) {
    n = (src[pos + 1] << 8) | src[pos + 2];
    pos += 3;
  } else if (c === 0xdd) {
    n = src.readUInt32BE(pos + 1);
    pos += 5;
  } else {
    fail(start, `a message is a msgpack array, got ${describe(c)}`);
  }
  if (n !== 3 && n !== 4) fail(start, `a message is an array of 3 or 4 elements, got ${n}`);
  let at = pos;
  const kind = readUint();
  if (kind < 0) fail(at, `message kind must be the integer 0, 1 or 2, got ${describe(src[at])}`);
  if (kind === REQUEST || kind === RESPONSE) {
    const name = kind === REQUEST ? 'request' : 'response';
    if (n !== 4) fail(start, `a ${name} is an array of 4 elements, got ${n}`);
    at = pos;
    const id = readUint();
    if (id < 0 || id > 0xffffffff) {
      fail(at, `${name} id must be an integer from 0 to 4294967295, got ${describeAt(at)}`);
    }
    if (kind === REQUEST) {
      const msg = { kind, id, method: '', params: undefined, valueError: undefined };
      methodAndParams(msg, name);
      return msg;
    }
    return errorAndResult({ kind, id, error: null, result: undefined, valueError: undefined });
  }
  if (kind === NOTIFICATION) {
    if (n !== 3) fail(start, `a notification is an array of 3 elements, got ${n}`);
    const msg = { kind, method: '', params: undefined, valueError: undefined };
    methodAndParams(msg, 'notification');
    return msg;
  }
  return fail(at, `message kind must be 0, 1 or 2, got ${kind}`);
}

function methodAndParams(msg, name) {
  let at = pos;
  const c = src[pos];
  let len;
  if (c >= 0xa0 && c <= 0xbf) {
    len = c & 0x1f;
    pos++;
  } else if (c === 0xd9) {
    len = src[pos + 1];
    pos += 2;
  } else if (c === 0xda) {
    len = (src[pos + 1] << 8) | src[pos + 2];
    pos += 3;
  } else if (c === 0xdb) {
    len = src.readUInt32BE(pos + 1);
    pos += 5;
  } else {
    fail(at, `${name} method must be a str, got ${describe(c)}`);
  }
  let method = asciiName(pos, len);
  if (method === undefined) {
    try {
      method = strictUtf8.decode(src.subarray(pos, pos + len));
    } catch {
      fail(at, `${name} method name is not valid UTF-8`);
    }
  }
  msg.method = method;
  pos += len;
  at = pos;
  const p = src[pos];
  if (!((p >= 0x90 && p <= 0x9f) || p === 0xdc || p === 0xdd)) {
    fail(at, `${name} params must be an array, got ${describe(p)}`);
  }
  try {
    msg.params = decodeExact(src, pos);
  } catch (e) {
    if (!(e instanceof ValueError)) throw e;
    msg.valueError = e.within('params');
  }
  return msg;
}

function errorAndResult(msg) {
  const at = pos;
  if (src[pos] === 0xc0) {
    pos++;
  } else {
    const c = src[pos];
    if (!((c >= 0x80 && c <= 0x8f) || c === 0xde || c === 0xdf)) {
      fail(at, `response error must be nil or an error map, got ${describe(c)}`);
    }
    const end = skipValue(pos);
    let map;
    try {
      map = decodeExact(src, pos);
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
      // A well-formed error map holding a value JavaScript cannot represent (a malformed
      // timestamp in its data, say) fails the one call, not the session.
      checkErrorMapShape(at);
      msg.valueError = e.within('error');
      pos = end;
      return msg;
    }
    const get = map instanceof Map ? (k) => map.get(k) : (k) => map[k];
    if (typeof get('type') !== 'string') fail(at, 'an error map has a str "type"');
    if (typeof get('message') !== 'string') fail(at, 'an error map has a str "message"');
    msg.error = { type: get('type'), message: get('message') };
    if (typeof get('traceback') === 'string') msg.error.traceback = get('traceback');
    if (get('data') !== undefined) msg.error.data = get('data');
    pos = end;
  }
  if (msg.error) return msg; // the result is ignored
  try {
    msg.result = decodeExact(src, pos);
  } catch (e) {
    if (!(e instanceof ValueError)) throw e;
    msg.valueError = e.within('result');
  }
  return msg;
}

/**
 * Checks, without decoding values, that the map at `at` has a str "type" and a str
 * "message" (SPEC section 4.2); fails the frame otherwise.
 */
function checkErrorMapShape(at) {
  let p = at;
  const c = src[p];
  let n;
  if (c <= 0x8f) {
    n = c & 0x0f;
    p += 1;
  } else if (c === 0xde) {
    n = src.readUInt16BE(p + 1);
    p += 3;
  } else {
    n = src.readUInt32BE(p + 1);
    p += 5;
  }
  let hasType = false;
  let hasMessage = false;
  for (let i = 0; i < n; i++) {
    const keyAt = p;
    p = skipValue(p);
    const v = src[p];
    const isStr = (v >= 0xa0 && v <= 0xbf) || v === 0xd9 || v === 0xda || v === 0xdb;
    const k = src[keyAt];
    if (k === 0xa4 && src.latin1Slice(keyAt + 1, keyAt + 5) === 'type') hasType = isStr;
    else if (k === 0xa7 && src.latin1Slice(keyAt + 1, keyAt + 8) === 'message') hasMessage = isStr;
    p = skipValue(p);
  }
  if (!hasType) fail(at, 'an error map has a str "type"');
  if (!hasMessage) fail(at, 'an error map has a str "message"');
}

/** Method names seen lately, by a hash of their bytes: [bytes, string] or undefined. */
const names = new Array(64);

/**
 * Returns the method name of the `len` bytes at `at` when they are ASCII and fewer than 64
 * (from `names` when it was seen before: the same string, already hashed for the handler
 * lookup, with no decoding), or undefined for other names.
 */
function asciiName(at, len) {
  if (len >= 64) return undefined;
  let h = len;
  for (let i = at; i < at + len; i++) {
    const c = src[i];
    if (c >= 0x80) return undefined;
    h = (h * 31 + c) | 0;
  }
  const slot = h & 63;
  const seen = names[slot];
  if (seen !== undefined) {
    const b = seen[0];
    if (b.length === len) {
      let i = 0;
      while (i < len && b[i] === src[at + i]) i++;
      if (i === len) return seen[1];
    }
  }
  const name = len === 0 ? '' : src.latin1Slice(at, at + len);
  names[slot] = [Buffer.from(src.subarray(at, at + len)), name];
  return name;
}

/**
 * Reads an integer at pos if it is one and not negative; returns -1 otherwise (pos is then
 * left where it was). Values above 2^53 come back as Infinity, which callers reject.
 */
function readUint() {
  const c = src[pos];
  if (c < 0x80) {
    pos++;
    return c;
  }
  let v = -1;
  switch (c) {
    case 0xcc: v = src[pos + 1]; pos += 2; break;
    case 0xcd: v = (src[pos + 1] << 8) | src[pos + 2]; pos += 3; break;
    case 0xce: v = src.readUInt32BE(pos + 1); pos += 5; break;
    case 0xcf: {
      const hi = src.readUInt32BE(pos + 1);
      v = hi > 0 ? Infinity : src.readUInt32BE(pos + 5);
      pos += 9;
      break;
    }
    case 0xd0: v = src.readInt8(pos + 1); pos += 2; break;
    case 0xd1: v = src.readInt16BE(pos + 1); pos += 3; break;
    case 0xd2: v = src.readInt32BE(pos + 1); pos += 5; break;
    case 0xd3: {
      const hi = src.readInt32BE(pos + 1);
      v = hi < 0 ? -1 : hi > 0 ? Infinity : src.readUInt32BE(pos + 5);
      pos += 9;
      break;
    }
    default:
      return c >= 0xe0 ? -2 : -1; // negative fixint, or not an integer
  }
  return v < 0 ? -2 : v;
}

/** Returns the offset past the value at `at` (which check has validated). */
function skipValue(at) {
  const c = src[at++];
  if (c < 0x80 || c >= 0xe0 || c === 0xc0 || c === 0xc2 || c === 0xc3) return at;
  if (c < 0x90) return skipN(at, (c & 0x0f) * 2);
  if (c < 0xa0) return skipN(at, c & 0x0f);
  if (c < 0xc0) return at + (c & 0x1f);
  switch (c) {
    case 0xcc: case 0xd0: return at + 1;
    case 0xcd: case 0xd1: return at + 2;
    case 0xce: case 0xd2: case 0xca: return at + 4;
    case 0xcf: case 0xd3: case 0xcb: return at + 8;
    case 0xd4: return at + 2;
    case 0xd5: return at + 3;
    case 0xd6: return at + 5;
    case 0xd7: return at + 9;
    case 0xd8: return at + 17;
    case 0xc4: case 0xd9: return at + 1 + src[at];
    case 0xc5: case 0xda: return at + 2 + src.readUInt16BE(at);
    case 0xc6: case 0xdb: return at + 4 + src.readUInt32BE(at);
    case 0xc7: return at + 2 + src[at];
    case 0xc8: return at + 3 + src.readUInt16BE(at);
    case 0xc9: return at + 5 + src.readUInt32BE(at);
    case 0xdc: return skipN(at + 2, src.readUInt16BE(at));
    case 0xdd: return skipN(at + 4, src.readUInt32BE(at));
    case 0xde: return skipN(at + 2, src.readUInt16BE(at) * 2);
    default: return skipN(at + 4, src.readUInt32BE(at) * 2); // 0xdf
  }
}

function skipN(at, n) {
  for (let i = 0; i < n; i++) at = skipValue(at);
  return at;
}

/**
 * Names the msgpack type that starts with byte c, for error messages.
 * @param {number} c
 * @returns {string}
 */
function describe(c) {
  if (c < 0x80 || c >= 0xe0) return `the integer ${c < 0x80 ? c : c - 0x100}`;
  if (c < 0x90) return 'a map';
  if (c < 0xa0) return 'an array';
  if (c < 0xc0) return 'a str';
  switch (c) {
    case 0xc0: return 'nil';
    case 0xc2: case 0xc3: return 'a bool';
    case 0xca: return 'a float32';
    case 0xcb: return 'a float64';
    case 0xcc: case 0xcd: case 0xce: case 0xcf: case 0xd0: case 0xd1: case 0xd2: case 0xd3: return 'an integer';
    case 0xc4: case 0xc5: case 0xc6: return 'a bin';
    case 0xd9: case 0xda: case 0xdb: return 'a str';
    case 0xdc: case 0xdd: return 'an array';
    case 0xde: case 0xdf: return 'a map';
    default: return 'an ext';
  }
}

function describeAt(at) {
  const c = src[at];
  const save = pos;
  pos = at;
  const v = readUint();
  pos = save;
  if (v === -2) return 'a negative integer';
  if (v === Infinity || v > 0xffffffff) return 'an integer above 4294967295';
  return describe(c);
}

function fail(at, reason) {
  throw new ProtocolError(reason, { frame: src.subarray(frameStart, frameEnd), offset: at - frameStart });
}

module.exports = { parseMessage, describe, REQUEST, RESPONSE, NOTIFICATION };
