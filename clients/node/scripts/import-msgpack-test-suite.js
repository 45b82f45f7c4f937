#!/usr/bin/env node
'use strict';

/**
 * Converts the npm package msgpack-test-suite (a data set other msgpack libraries test
 * against) into polyfork's tagged-value JSON (SPEC.md section 8) and writes
 * protocol/testdata/msgpack-test-suite.json:
 *
 *   {"source": {package, version, license, copyright, url},
 *    "vectors": [{"name", "group", "hex", "value", "features", "accept": [{"hex", "value", "features"}]}]}
 *
 * `hex` is the canonical encoding of `value` under SPEC.md section 3 (shortest integer,
 * float64 for a non-integral number, shortest str / bin / array / map / ext header), picked
 * from the suite's own encodings. `accept` lists every encoding the suite gives, each with
 * the exact tagged value it holds (a float form of an integer is a float there), which a
 * decoder must accept. The bytes come from the suite, not from any polyfork encoder.
 *
 *   npm install && node scripts/import-msgpack-test-suite.js
 */

const fs = require('node:fs');
const path = require('node:path');

const PKG_DIR = path.dirname(require.resolve('msgpack-test-suite/package.json'));
const pkg = require('msgpack-test-suite/package.json');
const suite = require('msgpack-test-suite');
const OUT = path.resolve(__dirname, '..', '..', '..', 'protocol', 'testdata', 'msgpack-test-suite.json');

const INT_MAX_SAFE = 2n ** 53n - 1n;

function hexOf(dashed) {
  return dashed.replace(/-/g, '');
}

function isIntByte(c) {
  return c < 0x80 || c >= 0xe0 || (c >= 0xcc && c <= 0xd3);
}

function isUintByte(c) {
  return c < 0x80 || (c >= 0xcc && c <= 0xcf);
}

/** The suite entry's value and kind: [kind, value]. */
function entryValue(e) {
  for (const k of ['nil', 'bool', 'binary', 'bignum', 'number', 'string', 'array', 'map', 'timestamp', 'ext']) {
    if (k in e) return [k, e[k]];
  }
  throw new Error(`unknown suite entry ${JSON.stringify(e)}`);
}

/** The natural tagged value of a JSON value from the suite (inside containers too). */
function natural(v) {
  if (v === null) return { type: 'nil' };
  if (typeof v === 'boolean') return { type: 'bool', value: v };
  if (typeof v === 'number') {
    if (Number.isInteger(v)) return { type: 'int', value: String(v) };
    const b = Buffer.alloc(8);
    b.writeDoubleBE(v);
    return { type: 'float64', bits: b.toString('hex'), value: String(v) };
  }
  if (typeof v === 'string') return { type: 'str', value: v };
  if (Array.isArray(v)) return { type: 'array', items: v.map(natural) };
  return { type: 'map', entries: Object.entries(v).map(([k, x]) => [{ type: 'str', value: k }, natural(x)]) };
}

/** The exact tagged value held by one encoding of a suite entry. */
function taggedOf(kind, value, bytes) {
  const c = bytes[0];
  if (kind === 'number' || kind === 'bignum') {
    if (isIntByte(c)) return { type: 'int', value: BigInt(kind === 'bignum' ? value : String(value)).toString() };
    if (c === 0xca) return { type: 'float32', bits: bytes.subarray(1).toString('hex'), value: String(bytes.readFloatBE(1)) };
    if (c === 0xcb) return { type: 'float64', bits: bytes.subarray(1).toString('hex'), value: String(bytes.readDoubleBE(1)) };
    throw new Error(`unexpected number encoding ${bytes.toString('hex')}`);
  }
  if (kind === 'binary') return { type: 'bin', hex: hexOf(value) };
  if (kind === 'timestamp' || kind === 'ext') {
    const { type, data } = extPayload(bytes);
    return { type: 'ext', ext_type: type, hex: data.toString('hex') };
  }
  return natural(value);
}

function extPayload(b) {
  const c = b[0];
  let n;
  let at;
  if (c >= 0xd4 && c <= 0xd8) {
    n = 1 << (c - 0xd4);
    at = 1;
  } else if (c === 0xc7) {
    n = b[1];
    at = 2;
  } else if (c === 0xc8) {
    n = b.readUInt16BE(1);
    at = 3;
  } else if (c === 0xc9) {
    n = b.readUInt32BE(1);
    at = 5;
  } else {
    throw new Error(`not an ext: ${b.toString('hex')}`);
  }
  const type = b[at] > 127 ? b[at] - 256 : b[at];
  return { type, data: b.subarray(at + 1, at + 1 + n) };
}

function features(t) {
  const f = new Set();
  const walk = (x) => {
    switch (x.type) {
      case 'int': {
        const v = BigInt(x.value);
        if (v > INT_MAX_SAFE || v < -INT_MAX_SAFE) f.add('bigint');
        if (v > 2n ** 63n - 1n) f.add('uint64');
        break;
      }
      case 'float32': f.add('float32'); break;
      case 'bin': f.add('bin'); break;
      case 'ext': f.add('ext'); if (x.ext_type === -1) f.add('timestamp'); break;
      case 'array': x.items.forEach(walk); break;
      case 'map':
        if (x.entries.length === 0) f.add('empty-map');
        x.entries.forEach(([k, v]) => { walk(k); walk(v); });
        break;
      default:
    }
  };
  walk(t);
  return [...f].sort();
}

/** Picks the canonical encoding (SPEC.md section 3) among the suite's encodings. */
function canonical(kind, value, encodings) {
  let candidates = encodings;
  if (kind === 'number' || kind === 'bignum') {
    const integral = kind === 'bignum' || Number.isInteger(value);
    if (integral) {
      const negative = kind === 'bignum' ? BigInt(value) < 0n : value < 0;
      candidates = encodings.filter((b) => isIntByte(b[0]) && (negative ? !isUintByte(b[0]) || b[0] < 0x80 : isUintByte(b[0])));
    } else {
      candidates = encodings.filter((b) => b[0] === 0xcb);
    }
  }
  if (candidates.length === 0) throw new Error(`no canonical encoding for ${kind} ${JSON.stringify(value)}`);
  return candidates.reduce((best, b) => (b.length < best.length ? b : best));
}

function build() {
  const vectors = [];
  for (const [file, entries] of Object.entries(suite)) {
    const group = file.replace(/\.yaml$/, '');
    entries.forEach((e, i) => {
      const [kind, value] = entryValue(e);
      const encodings = e.msgpack.map((h) => Buffer.from(hexOf(h), 'hex'));
      const canon = canonical(kind, value, encodings);
      const tagged = taggedOf(kind, value, canon);
      const v = {
        name: `${group} #${i}: ${kind} ${JSON.stringify(value)}`,
        group,
        hex: canon.toString('hex'),
        value: tagged,
        features: features(tagged),
      };
      if (kind === 'timestamp') v.timestamp = value;
      v.accept = encodings.map((b) => {
        const t = taggedOf(kind, value, b);
        return { hex: b.toString('hex'), value: t, features: features(t) };
      });
      vectors.push(v);
    });
  }
  return vectors;
}

function main() {
  const license = fs.readFileSync(path.join(PKG_DIR, 'LICENSE'), 'utf8');
  const copyright = (/^Copyright.*$/m.exec(license) || [''])[0];
  const header = {
    source: {
      package: pkg.name,
      version: pkg.version,
      license: pkg.license,
      copyright,
      url: pkg.homepage,
    },
    generated_by: 'clients/node/scripts/import-msgpack-test-suite.js',
    format: 'hex: the canonical encoding of value (SPEC.md section 3); accept: every encoding the suite gives, each with the exact tagged value it holds, which decoders must accept',
  };
  const vectors = build();
  let out = '{\n';
  out += `"source":${JSON.stringify(header.source)},\n`;
  out += `"generated_by":${JSON.stringify(header.generated_by)},\n`;
  out += `"format":${JSON.stringify(header.format)},\n`;
  out += '"vectors":[\n';
  out += vectors.map((v) => JSON.stringify(v)).join(',\n');
  out += '\n]}\n';
  fs.writeFileSync(OUT, out);
  process.stderr.write(`wrote ${vectors.length} vectors (${vectors.reduce((n, v) => n + v.accept.length, 0)} encodings) to ${OUT}\n`);
}

main();
