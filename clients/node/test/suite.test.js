'use strict';

// protocol/testdata/msgpack-test-suite.json (imported from the npm package msgpack-test-suite
// by scripts/import-msgpack-test-suite.js): every accepted encoding decodes to its value, and
// the value encodes to the canonical bytes.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { Encoder } = require('../lib/encode');
const { decode, decodeExact } = require('../lib/decode');
const { Ext } = require('../lib/values');
const { expected, toEncode, assertSame } = require('./helpers/tagged');

const file = require('../../../protocol/testdata/msgpack-test-suite.json');

describe(`msgpack-test-suite ${file.source.version}`, () => {
  it('names its source package, version and license', () => {
    assert.equal(file.source.package, 'msgpack-test-suite');
    assert.equal(file.source.license, 'MIT');
    assert.ok(file.vectors.length > 80);
  });

  for (const v of file.vectors) {
    it(v.name, () => {
      for (const a of v.accept) {
        const bytes = Buffer.from(a.hex, 'hex');
        assertSame(decode(bytes), expected(a.value), `${a.hex}`);
        assertSame(decodeExact(bytes, 0), expected(a.value), `${a.hex}`);
      }
      const enc = new Encoder();
      assert.equal(enc.encodeValue(toEncode(v.value)).toString('hex'), v.hex);
      // What the decoder returns for the canonical bytes goes back to the same bytes, with
      // one documented exception: integral floats are numbers and encode as integers.
      const decoded = decode(Buffer.from(v.hex, 'hex'));
      const integralFloat = v.value.type === 'float64' && Number.isSafeInteger(decoded) && !Object.is(decoded, -0);
      if (!integralFloat) assert.equal(enc.encodeValue(decoded).toString('hex'), v.hex);
    });
  }

  it('keeps timestamps a Date cannot hold as exact Ext values', () => {
    const ns = file.vectors.find((x) => x.timestamp && x.timestamp[1] % 1e6 !== 0);
    const d = decode(Buffer.from(ns.hex, 'hex'));
    assert.ok(d instanceof Ext);
    assert.equal(d.type, -1);
  });
});
