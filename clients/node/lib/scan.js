'use strict';

/**
 * The safety check of SPEC.md section 3, run on every frame before anything is decoded:
 * the frame holds exactly one msgpack value, nests at most 128 containers deep, and every
 * count and length fits in the bytes that follow, so no decoder can be tricked into a large
 * allocation (`dd ff ff ff ff` claims 4 billion elements in 5 bytes). It allocates nothing.
 * @module polyfork/scan
 */

const { ProtocolError } = require('./errors');
const { MAX_DEPTH, DEFAULT_MAX_VALUES } = require('./encode');

let src;
let frameStart;
let frameEnd;
/** How many more values the frame may hold. */
let left;
let maxValues;

/**
 * Checks that `buf[start, end)` is one complete, well-formed msgpack value of at most
 * `maxValuesIn` values (SPEC section 3, "Value count": every scalar, str, bin, ext, array and
 * map counts one; a map pair two), checked as it goes, before anything is decoded.
 * @param {Uint8Array} buf
 * @param {number} [start]
 * @param {number} [end]
 * @param {number} [maxDepth] how many containers may nest (default 128)
 * @param {number} [maxValuesIn] how many values the frame may hold (default 4194304)
 * @throws {ProtocolError} naming what is wrong and the byte offset (relative to start)
 */
function check(buf, start = 0, end = buf.length, maxDepth = MAX_DEPTH, maxValuesIn = DEFAULT_MAX_VALUES) {
  src = buf;
  frameStart = start;
  frameEnd = end;
  left = maxValuesIn;
  maxValues = maxValuesIn;
  try {
    const at = skip(start, maxDepth);
    if (at !== end) fail(at, `${end - at} bytes left over after the msgpack value; a frame holds exactly one value`);
  } finally {
    src = undefined;
  }
}

/**
 * Returns the offset just past the value that starts at `at`.
 * @param {number} at
 * @param {number} depth how many more levels of containers are allowed
 * @returns {number}
 */
function skip(at, depth) {
  if (at >= frameEnd) fail(at, 'msgpack value cut short: the frame ends where a value should start');
  if (--left < 0) fail(at, `more than ${maxValues} msgpack values in one frame, the maximum (POLYFORK_MAX_VALUES)`);
  const c = src[at++];
  if (c < 0x80 || c >= 0xe0) return at; // fixints
  if (c < 0x90) return container(at, c & 0x0f, 2, depth);
  if (c < 0xa0) return container(at, c & 0x0f, 1, depth);
  if (c < 0xc0) return bytes(at, c & 0x1f, 'str', 0);
  switch (c) {
    case 0xc0: case 0xc2: case 0xc3:
      return at;
    case 0xc1:
      return fail(at - 1, 'byte 0xc1 is never used in msgpack');
    case 0xcc: case 0xd0:
      return fixed(at, 1);
    case 0xcd: case 0xd1:
      return fixed(at, 2);
    case 0xce: case 0xd2: case 0xca:
      return fixed(at, 4);
    case 0xcf: case 0xd3: case 0xcb:
      return fixed(at, 8);
    case 0xd4: return fixed(at, 2);
    case 0xd5: return fixed(at, 3);
    case 0xd6: return fixed(at, 5);
    case 0xd7: return fixed(at, 9);
    case 0xd8: return fixed(at, 17);
    case 0xc4: return bytes(at + 1, head(at, 1), 'bin', 0);
    case 0xc5: return bytes(at + 2, head(at, 2), 'bin', 0);
    case 0xc6: return bytes(at + 4, head(at, 4), 'bin', 0);
    case 0xd9: return bytes(at + 1, head(at, 1), 'str', 0);
    case 0xda: return bytes(at + 2, head(at, 2), 'str', 0);
    case 0xdb: return bytes(at + 4, head(at, 4), 'str', 0);
    case 0xc7: return bytes(at + 1, head(at, 1), 'ext', 1);
    case 0xc8: return bytes(at + 2, head(at, 2), 'ext', 1);
    case 0xc9: return bytes(at + 4, head(at, 4), 'ext', 1);
    case 0xdc: return container(at + 2, head(at, 2), 1, depth);
    case 0xdd: return container(at + 4, head(at, 4), 1, depth);
    case 0xde: return container(at + 2, head(at, 2), 2, depth);
    default: /* 0xdf */ return container(at + 4, head(at, 4), 2, depth);
  }
}

/** Reads an n-byte big-endian length or count at `at`. */
function head(at, n) {
  if (at + n > frameEnd) fail(at - 1, `msgpack value cut short: a header needs ${n} more bytes, ${frameEnd - at} left`);
  if (n === 1) return src[at];
  if (n === 2) return (src[at] << 8) | src[at + 1];
  return src[at] * 0x1000000 + ((src[at + 1] << 16) | (src[at + 2] << 8) | src[at + 3]);
}

function fixed(at, n) {
  if (at + n > frameEnd) fail(at - 1, `msgpack value cut short: it needs ${n} more bytes, ${frameEnd - at} left`);
  return at + n;
}

function bytes(at, n, what, extra) {
  if (n > frameEnd - at - extra) {
    fail(at, `${what} length ${n} is larger than the ${Math.max(0, frameEnd - at - extra)} bytes left in the frame`);
  }
  return at + extra + n;
}

function container(at, n, per, depth) {
  if (depth <= 0) fail(at - 1, `containers nest deeper than ${MAX_DEPTH} levels`);
  // Every element takes at least one byte: refuse counts the rest of the frame cannot hold.
  if (n > (frameEnd - at) / per) {
    fail(at, `${per === 1 ? `array of ${n} elements` : `map of ${n} pairs`} cannot fit in the ${frameEnd - at} bytes left in the frame`);
  }
  const d = depth - 1;
  if (per === 1) {
    for (let i = n; i > 0; i--) at = skip(at, d);
  } else {
    for (let i = n; i > 0; i--) at = skip(skip(at, d), d);
  }
  return at;
}

function fail(at, reason) {
  throw new ProtocolError(reason, {
    frame: src.subarray(frameStart, frameEnd),
    offset: at - frameStart,
  });
}

/**
 * Returns how many msgpack values `buf[start, end)` holds, as SPEC section 3 counts them
 * (for tests and tools; it checks the value like check()).
 * @param {Uint8Array} buf
 * @param {number} [start]
 * @param {number} [end]
 * @returns {number}
 */
function countValues(buf, start = 0, end = buf.length) {
  check(buf, start, end, MAX_DEPTH, Number.MAX_SAFE_INTEGER);
  return Number.MAX_SAFE_INTEGER - left;
}

module.exports = { check, countValues };
