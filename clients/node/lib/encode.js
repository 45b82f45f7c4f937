'use strict';

/**
 * The msgpack encoder for the profile of SPEC.md section 3: shortest integers, float64 for
 * every number that is not a safe integer (and for -0), float32 only through `Float32`, str
 * for strings, bin for bytes, maps in the order given. It builds whole frames (length prefix
 * included) in one buffer, so a frame goes out with a single write.
 *
 * Why not msgpackr's or @msgpack/msgpack's encoder: msgpackr writes integers of 2^32 and up
 * as float64 (4999950000 would arrive in Go as a float) and -0 as the integer 0;
 * @msgpack/msgpack writes -0 as 0 and every bigint in 9 bytes. Both break SPEC.md section 3
 * and the golden vectors, and neither has a hook for numbers. See README.md.
 * @module polyfork/encode
 */

const { FrameTooLargeError, ValueError } = require('./errors');
const { Ext, Float32, Float64 } = require('./values');

/**
 * What to throw for e, caught on the way out of the value at `segment`: a ValueError (what
 * user code threw made one) with segment in front of its path; the encoder's other errors
 * (FrameTooLargeError, a failed allocation) as they are.
 * @param {unknown} e
 * @param {string} segment
 */
function within(e, segment) {
  const v = fromUserCode(e);
  return v instanceof ValueError ? v.within(segment) : v;
}

/** Marks an error of the encoder's own (a failed allocation), which fromUserCode passes on. */
const OWN_FAILURE = Symbol('polyfork.ownFailure');

/**
 * Turns what user code threw while the encoder read a value (a getter, a Proxy trap, a
 * toJSON method) into a ValueError, so that the catch blocks on the way up name where it
 * happened and the caller gets one kind of error (a worker answers the call with it instead of
 * failing on a thrown non-Error). The encoder's own errors pass through. Runs only on failure.
 * @param {unknown} e
 * @returns {ValueError | FrameTooLargeError}
 */
function fromUserCode(e) {
  if (e instanceof ValueError || e instanceof FrameTooLargeError || (e !== null && typeof e === 'object' && e[OWN_FAILURE])) {
    return e;
  }
  let what;
  if (e instanceof Error) {
    what = `${e.name}: ${e.message}`;
  } else {
    try {
      what = `the non-Error value ${typeof e === 'string' ? JSON.stringify(e) : String(e)}`;
    } catch {
      what = `a non-Error value (${typeof e})`;
    }
  }
  const v = new ValueError(`a getter, Proxy trap or toJSON() threw ${what} while the value was read`);
  v.cause = e;
  return v;
}

/** The default maximum frame size: 64 MiB. */
const DEFAULT_MAX_FRAME_SIZE = 64 * 1024 * 1024;
/** The deepest nesting of containers, counting the message array itself. */
const MAX_DEPTH = 128;
/**
 * The default maximum number of msgpack values in one frame (SPEC section 3, "Value count"):
 * every nil, bool, number, str, bin, ext, array and map counts one, the message array and
 * its fields included; a map pair counts two.
 */
const DEFAULT_MAX_VALUES = 4194304;

const SLAB = 64 * 1024;
/** A buffer grown for a large frame is kept for the next frames up to this size. */
const KEEP_MAX = 8 * 1024 * 1024;
/** Strings this long (UTF-16 units) or longer are written by longStr. */
const LONG_STR_CHARS = 1024;
const MIN_ROOM = 2048;
const TWO32 = 4294967296;
const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);

/**
 * Encodes messages into frames. One instance per connection; not re-entrant.
 *
 * A returned frame is a view into a slab the Encoder never writes again, so it stays valid
 * for as long as the caller keeps it, until the caller calls recycle().
 */
class Encoder {
  /**
   * @param {object} [options]
   * @param {number} [options.maxFrameSize] the largest frame body to produce (default 64 MiB)
   * @param {number} [options.maxValues] the most msgpack values in one frame (default 4194304)
   */
  constructor({ maxFrameSize = DEFAULT_MAX_FRAME_SIZE, maxValues = DEFAULT_MAX_VALUES } = {}) {
    /** The largest frame body this Encoder produces. */
    this.maxFrameSize = maxFrameSize;
    /** The most msgpack values this Encoder puts in one frame. */
    this.maxValues = maxValues;
    /** Values in the frame being encoded so far. */
    this.count = 0;
    this.buf = Buffer.allocUnsafeSlow(SLAB);
    this.pos = 0;
    this.start = 0;
    /** Where the last frame put is in `buf`: [frameStart, frameEnd). */
    this.frameStart = 0;
    this.frameEnd = 0;
  }

  /**
   * Returns the frame for the request `[0, id, method, params]`.
   * @param {number} id
   * @param {string} method
   * @param {any[]} params
   * @returns {Buffer}
   */
  request(id, method, params) {
    this.putRequest(id, method, params);
    return this.frame();
  }

  /**
   * Returns the frame for the response `[1, id, error, result]`: `error` is null on success,
   * else an error map `{type, message, traceback?, data?}`.
   * @param {number} id
   * @param {{type: string, message: string, traceback?: string, data?: any} | null} error
   * @param {any} result
   * @returns {Buffer}
   */
  response(id, error, result) {
    this.putResponse(id, error, result);
    return this.frame();
  }

  /**
   * Returns the frame for the notification `[2, method, params]`.
   * @param {string} method
   * @param {any[]} params
   * @returns {Buffer}
   */
  notification(method, params) {
    this.putNotification(method, params);
    return this.frame();
  }

  /**
   * Encodes the request frame like request(), without making a Buffer of it: the frame is
   * `this.buf[this.frameStart, this.frameEnd)` until the next frame or recycle().
   * @param {number} id
   * @param {string} method
   * @param {any[]} params
   */
  putRequest(id, method, params) {
    this.begin();
    try {
      this.buf[this.pos++] = 0x94;
      this.buf[this.pos++] = 0x00;
      this.int(id);
      this.str(method);
      this.count = 4;
      this.params(params);
    } catch (e) {
      this.pos = this.start;
      throw e;
    }
    this.end();
  }

  /**
   * Encodes the response frame like response(), without making a Buffer of it (see
   * putRequest).
   * @param {number} id
   * @param {{type: string, message: string, traceback?: string, data?: any} | null} error
   * @param {any} result
   */
  putResponse(id, error, result) {
    this.begin();
    try {
      this.buf[this.pos++] = 0x94;
      this.buf[this.pos++] = 0x01;
      this.int(id);
      this.count = 4; // the array, kind, id, and the nil error or the nil result
      if (error) {
        this.errorMap(error);
        this.buf[this.pos++] = 0xc0;
      } else {
        this.buf[this.pos++] = 0xc0;
        try {
          this.value(result, 2);
        } catch (e) {
          throw within(e, 'result');
        }
      }
    } catch (e) {
      this.pos = this.start;
      throw e;
    }
    this.end();
  }

  /**
   * Encodes the notification frame like notification(), without making a Buffer of it (see
   * putRequest).
   * @param {string} method
   * @param {any[]} params
   */
  putNotification(method, params) {
    this.begin();
    try {
      this.buf[this.pos++] = 0x93;
      this.buf[this.pos++] = 0x02;
      this.str(method);
      this.count = 3;
      this.params(params);
    } catch (e) {
      this.pos = this.start;
      throw e;
    }
    this.end();
  }

  /**
   * Returns the last frame put, as a view of this Encoder's memory.
   * @returns {Buffer}
   */
  frame() {
    return this.buf.subarray(this.frameStart, this.frameEnd);
  }

  /**
   * Returns the msgpack bytes of one value (no frame prefix), as a copy. For tests and tools.
   * @param {any} value
   * @returns {Buffer}
   */
  encodeValue(value) {
    this.begin();
    try {
      this.count = 0;
      this.value(value, 1);
    } catch (e) {
      this.pos = this.start;
      throw fromUserCode(e);
    }
    this.end();
    return Buffer.from(this.buf.subarray(this.frameStart + 4, this.frameEnd));
  }

  /**
   * Lets the next frames reuse this Encoder's memory from its start, instead of taking
   * fresh memory (which the OS must fault in and zero: most of the cost of sending a large
   * frame). Call it only when no frame returned so far is in use any more, for example
   * once a socket took every one of them whole (see FrameWriter's `recycle` option).
   */
  recycle() {
    if (this.buf.length > KEEP_MAX) this.buf = Buffer.allocUnsafeSlow(SLAB);
    this.pos = 0;
    this.start = 0;
  }

  // --- frame bookkeeping ---------------------------------------------------------------

  begin() {
    if (this.buf.length - this.pos < MIN_ROOM || this.buf.length > KEEP_MAX) {
      this.buf = Buffer.allocUnsafeSlow(SLAB);
      this.pos = 0;
    }
    this.start = this.pos;
    this.pos += 4;
  }

  end() {
    if (this.count > this.maxValues) {
      this.pos = this.start;
      throw tooManyValues(this.maxValues);
    }
    const size = this.pos - this.start - 4;
    if (size > this.maxFrameSize) {
      this.pos = this.start;
      throw new FrameTooLargeError(size, this.maxFrameSize, 'send');
    }
    const buf = this.buf;
    const s = this.start;
    buf[s] = size >>> 24;
    buf[s + 1] = (size >>> 16) & 0xff;
    buf[s + 2] = (size >>> 8) & 0xff;
    buf[s + 3] = size & 0xff;
    this.frameStart = s;
    this.frameEnd = this.pos;
  }

  /** Makes room for n more bytes, moving the frame begun at this.start to a larger buffer. */
  ensure(n) {
    if (this.pos + n <= this.buf.length) return;
    const used = this.pos - this.start;
    if (used - 4 + n > this.maxFrameSize) {
      throw new FrameTooLargeError(this.maxFrameSize, this.maxFrameSize, 'send', true);
    }
    // Double what the frame holds so far, plus what is asked: amortized growth for many
    // small values, and no more than needed for one large one.
    let nb;
    try {
      nb = Buffer.allocUnsafeSlow(Math.max(SLAB, 2 * used + n));
    } catch (e) {
      if (e !== null && typeof e === 'object') e[OWN_FAILURE] = true; // not user code's (fromUserCode)
      throw e;
    }
    this.buf.copy(nb, 0, this.start, this.pos);
    this.buf = nb;
    this.start = 0;
    this.pos = used;
  }

  // --- values --------------------------------------------------------------------------

  params(params) {
    if (!Array.isArray(params)) throw new ValueError(`params must be an array, got ${kindOf(params)}`, 'params');
    this.count++;
    try {
      this.array(params, 2);
    } catch (e) {
      throw within(e, 'params');
    }
  }

  errorMap(err) {
    const hasTb = typeof err.traceback === 'string';
    const hasData = err.data !== undefined;
    this.ensure(1);
    const pairs = 2 + (hasTb ? 1 : 0) + (hasData ? 1 : 0);
    this.count += 1 + 2 * pairs - (hasData ? 1 : 0); // the map, its keys and str values; data counts itself
    this.buf[this.pos++] = 0x80 | pairs;
    this.str('type');
    this.str(String(err.type));
    this.str('message');
    this.str(String(err.message));
    if (hasTb) {
      this.str('traceback');
      this.str(err.traceback);
    }
    if (hasData) {
      this.str('data');
      try {
        this.value(err.data, 3);
      } catch (e) {
        throw within(e, 'error.data');
      }
    }
  }

  /**
   * Writes any value. depth is the nesting level the value would have if it is a container.
   */
  value(v, depth) {
    if (++this.count > this.maxValues) throw tooManyValues(this.maxValues);
    switch (typeof v) {
      case 'number':
        if (Number.isSafeInteger(v) && (v !== 0 || 1 / v > 0)) this.int(v);
        else this.float64(v);
        return;
      case 'string':
        this.str(v);
        return;
      case 'boolean':
        this.ensure(1);
        this.buf[this.pos++] = v ? 0xc3 : 0xc2;
        return;
      case 'undefined':
        this.ensure(1);
        this.buf[this.pos++] = 0xc0;
        return;
      case 'bigint':
        this.bigint(v);
        return;
      case 'object':
        if (v === null) {
          this.ensure(1);
          this.buf[this.pos++] = 0xc0;
          return;
        }
        this.object(v, depth);
        return;
      default:
        throw new ValueError(`cannot encode a ${typeof v} in msgpack`);
    }
  }

  object(v, depth) {
    if (depth > MAX_DEPTH) {
      throw new ValueError(`containers nest deeper than ${MAX_DEPTH} levels (counting the message); is there a cycle?`);
    }
    if (Array.isArray(v)) {
      this.array(v, depth);
      return;
    }
    const proto = Object.getPrototypeOf(v);
    if (proto === Object.prototype || proto === null) {
      this.plainObject(v, depth);
    } else if (v instanceof Uint8Array) {
      this.bin(v);
    } else if (v instanceof Map) {
      this.map(v, depth);
    } else if (v instanceof Date) {
      this.date(v);
    } else if (v instanceof Float64) {
      this.float64(v.value);
    } else if (v instanceof Float32) {
      this.ensure(5);
      this.buf[this.pos] = 0xca;
      this.buf.writeFloatBE(v.value, this.pos + 1);
      this.pos += 5;
    } else if (v instanceof Ext) {
      this.ext(v.type, v.data);
    } else if (v instanceof ArrayBuffer) {
      this.bin(new Uint8Array(v));
    } else if (ArrayBuffer.isView(v) || v instanceof Set || v instanceof WeakMap || v instanceof WeakSet ||
        v instanceof Promise || v instanceof RegExp || v instanceof Error) {
      throw new ValueError(`cannot encode a ${v.constructor.name} in msgpack; convert it to a Buffer, an array, an object or a string first`);
    } else if (typeof v.toJSON === 'function') {
      this.value(v.toJSON(), depth);
    } else {
      this.plainObject(v, depth);
    }
  }

  array(a, depth) {
    const n = a.length;
    this.ensure(5);
    const buf = this.buf;
    if (n < 16) {
      buf[this.pos++] = 0x90 | n;
    } else if (n < 0x10000) {
      buf[this.pos] = 0xdc;
      buf[this.pos + 1] = n >>> 8;
      buf[this.pos + 2] = n & 0xff;
      this.pos += 3;
    } else {
      buf[this.pos] = 0xdd;
      buf.writeUInt32BE(n, this.pos + 1);
      this.pos += 5;
    }
    const d = depth + 1;
    let i = 0;
    try {
      for (; i < n; i++) this.value(a[i], d);
    } catch (e) {
      throw within(e, `[${i}]`);
    }
  }

  mapHeader(n) {
    this.ensure(5);
    const buf = this.buf;
    if (n < 16) {
      buf[this.pos++] = 0x80 | n;
    } else if (n < 0x10000) {
      buf[this.pos] = 0xde;
      buf[this.pos + 1] = n >>> 8;
      buf[this.pos + 2] = n & 0xff;
      this.pos += 3;
    } else {
      buf[this.pos] = 0xdf;
      buf.writeUInt32BE(n, this.pos + 1);
      this.pos += 5;
    }
  }

  plainObject(o, depth) {
    const keys = Object.keys(o);
    const n = keys.length;
    this.count += n; // the keys; each value counts itself
    this.mapHeader(n);
    const d = depth + 1;
    let i = 0;
    try {
      for (; i < n; i++) {
        const k = keys[i];
        this.str(k);
        this.value(o[k], d);
      }
    } catch (e) {
      throw within(e, propPath(keys[i]));
    }
  }

  map(m, depth) {
    this.mapHeader(m.size);
    const d = depth + 1;
    let i = 0;
    try {
      for (const [k, v] of m) {
        this.value(k, d);
        this.value(v, d);
        i++;
      }
    } catch (e) {
      throw within(e, `<Map entry ${i}>`);
    }
  }

  int(v) {
    this.ensure(9);
    const buf = this.buf;
    let p = this.pos;
    if (v >= 0) {
      if (v < 0x80) {
        buf[p++] = v;
      } else if (v < 0x100) {
        buf[p++] = 0xcc;
        buf[p++] = v;
      } else if (v < 0x10000) {
        buf[p++] = 0xcd;
        buf[p++] = v >>> 8;
        buf[p++] = v & 0xff;
      } else if (v < TWO32) {
        buf[p++] = 0xce;
        buf.writeUInt32BE(v, p);
        p += 4;
      } else {
        buf[p++] = 0xcf;
        buf.writeUInt32BE(Math.floor(v / TWO32), p);
        buf.writeUInt32BE(v >>> 0, p + 4);
        p += 8;
      }
    } else if (v >= -32) {
      buf[p++] = v & 0xff;
    } else if (v >= -0x80) {
      buf[p++] = 0xd0;
      buf[p++] = v & 0xff;
    } else if (v >= -0x8000) {
      buf[p++] = 0xd1;
      buf.writeInt16BE(v, p);
      p += 2;
    } else if (v >= -0x80000000) {
      buf[p++] = 0xd2;
      buf.writeInt32BE(v, p);
      p += 4;
    } else {
      buf[p++] = 0xd3;
      buf.writeInt32BE(Math.floor(v / TWO32), p);
      buf.writeUInt32BE(v >>> 0, p + 4);
      p += 8;
    }
    this.pos = p;
  }

  bigint(v) {
    if (v >= -0x80000000n && v < 0x100000000n) {
      this.int(Number(v));
      return;
    }
    if (v > UINT64_MAX || v < INT64_MIN) {
      throw new ValueError(`bigint ${v} is outside the msgpack integer range (-2^63 to 2^64-1)`);
    }
    this.ensure(9);
    if (v > 0n) {
      this.buf[this.pos] = 0xcf;
      this.buf.writeBigUInt64BE(v, this.pos + 1);
    } else {
      this.buf[this.pos] = 0xd3;
      this.buf.writeBigInt64BE(v, this.pos + 1);
    }
    this.pos += 9;
  }

  float64(v) {
    this.ensure(9);
    this.buf[this.pos] = 0xcb;
    this.buf.writeDoubleBE(v, this.pos + 1);
    this.pos += 9;
  }

  str(s) {
    const n = s.length;
    if (n < 32) {
      // Short strings: encode by hand, which beats a native call, and catch lone surrogates.
      this.ensure(2 + 3 * n);
      const buf = this.buf;
      const head = this.pos;
      let p = head + 1;
      for (let i = 0; i < n; i++) {
        let c = s.charCodeAt(i);
        if (c < 0x80) {
          buf[p++] = c;
        } else if (c < 0x800) {
          buf[p++] = 0xc0 | (c >> 6);
          buf[p++] = 0x80 | (c & 0x3f);
        } else if (c >= 0xd800 && c <= 0xdfff) {
          const c2 = s.charCodeAt(i + 1);
          if (c > 0xdbff || !(c2 >= 0xdc00 && c2 <= 0xdfff)) throw loneSurrogate(s, i);
          c = 0x10000 + ((c - 0xd800) << 10) + (c2 - 0xdc00);
          i++;
          buf[p++] = 0xf0 | (c >> 18);
          buf[p++] = 0x80 | ((c >> 12) & 0x3f);
          buf[p++] = 0x80 | ((c >> 6) & 0x3f);
          buf[p++] = 0x80 | (c & 0x3f);
        } else {
          buf[p++] = 0xe0 | (c >> 12);
          buf[p++] = 0x80 | ((c >> 6) & 0x3f);
          buf[p++] = 0x80 | (c & 0x3f);
        }
      }
      const len = p - head - 1;
      if (len < 32) {
        buf[head] = 0xa0 | len;
        this.pos = p;
      } else {
        // 32..93 bytes: one more header byte, shift the bytes by one.
        buf.copy(buf, head + 2, head + 1, p);
        buf[head] = 0xd9;
        buf[head + 1] = len;
        this.pos = p + 1;
      }
      return;
    }
    if (n >= LONG_STR_CHARS) {
      this.longStr(s, n);
      return;
    }
    if (!s.isWellFormed()) throw loneSurrogate(s, firstLoneSurrogate(s));
    const len = Buffer.byteLength(s, 'utf8');
    this.ensure(5 + len);
    const buf = this.buf;
    if (len < 32) {
      buf[this.pos++] = 0xa0 | len;
    } else if (len < 0x100) {
      buf[this.pos] = 0xd9;
      buf[this.pos + 1] = len;
      this.pos += 2;
    } else if (len < 0x10000) {
      buf[this.pos] = 0xda;
      buf[this.pos + 1] = len >>> 8;
      buf[this.pos + 2] = len & 0xff;
      this.pos += 3;
    } else {
      buf[this.pos] = 0xdb;
      buf.writeUInt32BE(len, this.pos + 1);
      this.pos += 5;
    }
    this.pos += buf.utf8Write(s, this.pos, len);
  }

  /**
   * Writes a long string without measuring it first, where it can: its UTF-8 takes n to 3n
   * bytes, and long text is mostly ASCII, so it is written into room for n + n/4 bytes,
   * and only when it may not have fit is it measured (Buffer.byteLength) and written
   * again. Measuring first was a third of the time to encode a 1 MiB string.
   */
  longStr(s, n) {
    if (!s.isWellFormed()) throw loneSurrogate(s, firstLoneSurrogate(s));
    const hs = n < 0x10000 ? 3 : 5;
    const limit = this.maxFrameSize - (this.pos - this.start - 4) - 5; // the most bytes it may take
    const room = Math.min(n + (n >>> 2) + 8, limit);
    this.ensure(5 + Math.max(room, n)); // a FrameTooLargeError when even n bytes cannot fit
    let head = this.pos;
    let len = this.buf.utf8Write(s, head + hs, room);
    if (len > room - 4) {
      // utf8Write stops before a character that does not fit (4 bytes at most): measure.
      const exact = Buffer.byteLength(s, 'utf8');
      if (exact > len) {
        this.ensure(5 + exact);
        head = this.pos;
        len = this.buf.utf8Write(s, head + hs, exact);
      }
    }
    const buf = this.buf;
    if (hs === 3 && len >= 0x10000) {
      buf.copy(buf, head + 5, head + 3, head + 3 + len); // the room made above has 2 bytes to spare
      buf[head] = 0xdb;
      buf.writeUInt32BE(len, head + 1);
      this.pos = head + 5 + len;
    } else if (hs === 3) {
      buf[head] = 0xda;
      buf[head + 1] = len >>> 8;
      buf[head + 2] = len & 0xff;
      this.pos = head + 3 + len;
    } else {
      buf[head] = 0xdb;
      buf.writeUInt32BE(len, head + 1);
      this.pos = head + 5 + len;
    }
  }

  bin(b) {
    const n = b.length;
    this.ensure(5 + n);
    const buf = this.buf;
    if (n < 0x100) {
      buf[this.pos] = 0xc4;
      buf[this.pos + 1] = n;
      this.pos += 2;
    } else if (n < 0x10000) {
      buf[this.pos] = 0xc5;
      buf[this.pos + 1] = n >>> 8;
      buf[this.pos + 2] = n & 0xff;
      this.pos += 3;
    } else {
      buf[this.pos] = 0xc6;
      buf.writeUInt32BE(n, this.pos + 1);
      this.pos += 5;
    }
    buf.set(b, this.pos);
    this.pos += n;
  }

  ext(type, data) {
    const n = data.length;
    this.ensure(6 + n);
    const buf = this.buf;
    const fix = n === 1 ? 0xd4 : n === 2 ? 0xd5 : n === 4 ? 0xd6 : n === 8 ? 0xd7 : n === 16 ? 0xd8 : 0;
    if (fix) {
      buf[this.pos++] = fix;
    } else if (n < 0x100) {
      buf[this.pos] = 0xc7;
      buf[this.pos + 1] = n;
      this.pos += 2;
    } else if (n < 0x10000) {
      buf[this.pos] = 0xc8;
      buf[this.pos + 1] = n >>> 8;
      buf[this.pos + 2] = n & 0xff;
      this.pos += 3;
    } else {
      buf[this.pos] = 0xc9;
      buf.writeUInt32BE(n, this.pos + 1);
      this.pos += 5;
    }
    buf[this.pos++] = type & 0xff;
    buf.set(data, this.pos);
    this.pos += n;
  }

  date(d) {
    const ms = d.getTime();
    if (Number.isNaN(ms)) throw new ValueError('cannot encode an invalid Date');
    const sec = Math.floor(ms / 1000);
    const nsec = (ms - sec * 1000) * 1e6;
    const data = timestampBytes(sec, nsec);
    this.ext(-1, data);
  }
}

/**
 * Returns the payload of the msgpack timestamp ext for seconds and nanoseconds, in its
 * shortest form (32, 64 or 96 bits).
 * @param {number} sec
 * @param {number} nsec
 * @returns {Buffer}
 */
function timestampBytes(sec, nsec) {
  if (sec >= 0 && sec < TWO32 && nsec === 0) {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(sec, 0);
    return b;
  }
  if (sec >= 0 && sec < 0x400000000) {
    const b = Buffer.allocUnsafe(8);
    b.writeUInt32BE(nsec * 4 + Math.floor(sec / TWO32), 0);
    b.writeUInt32BE(sec >>> 0, 4);
    return b;
  }
  const b = Buffer.allocUnsafe(12);
  b.writeUInt32BE(nsec, 0);
  b.writeBigInt64BE(BigInt(sec), 4);
  return b;
}

/** Returns the index of the first lone surrogate in s (which has one). */
function firstLoneSurrogate(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const c2 = s.charCodeAt(i + 1);
      if (c > 0xdbff || !(c2 >= 0xdc00 && c2 <= 0xdfff)) return i;
      i++;
    }
  }
  return -1;
}

function loneSurrogate(s, i) {
  return new ValueError(`string has a lone UTF-16 surrogate 0x${s.charCodeAt(i).toString(16)} at index ${i}, which UTF-8 cannot encode`);
}

function tooManyValues(max) {
  return new ValueError(`refusing to send a frame of more than ${max} msgpack values: the peer's maximum (POLYFORK_MAX_VALUES); nothing was sent`,
    '', 'POLYFORK_TOO_MANY_VALUES');
}

function propPath(k) {
  return /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
}

/**
 * Describes a value's type for error messages.
 * @param {any} v
 * @returns {string}
 */
function kindOf(v) {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  return v.constructor ? v.constructor.name : 'object';
}

module.exports = { Encoder, DEFAULT_MAX_FRAME_SIZE, DEFAULT_MAX_VALUES, MAX_DEPTH, timestampBytes, kindOf };
