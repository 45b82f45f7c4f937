'use strict';

// The golden vectors of protocol/testdata, byte-exactly both ways, through both decoders
// (the scan's check, then the decoder; and the decoder alone).

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { Encoder } = require('../lib/encode');
const { decode, decodeExact } = require('../lib/decode');
const { parseMessage } = require('../lib/message');
const { FrameReader } = require('../lib/reader');
const { ProtocolError } = require('../lib/errors');
const { expected, toEncode, assertSame } = require('./helpers/tagged');

const values = require('../../../protocol/testdata/values.json');
const messages = require('../../../protocol/testdata/messages.json');
const invalid = require('../../../protocol/testdata/invalid.json');

/** Integral floats: JavaScript numbers cannot tell 1.0 from 1, see README "Values". */
function integralFloat(t) {
  if (t.type !== 'float64' && t.type !== 'float32') return false;
  const x = Buffer.from(t.bits, 'hex')[t.type === 'float64' ? 'readDoubleBE' : 'readFloatBE'](0);
  return Number.isSafeInteger(x) && !Object.is(x, -0);
}

describe('values.json', () => {
  for (const v of values) {
    it(v.name, () => {
      const bytes = Buffer.from(v.hex, 'hex');
      const want = expected(v.value);
      assertSame(decode(bytes), want);
      assertSame(decodeExact(bytes, 0), want);
      // Encoding: the decoded value gives the same bytes, except for floats that JavaScript
      // cannot keep apart from integers (integral floats) or from float64 (float32): those
      // round-trip through the Float64 / Float32 wrappers.
      const enc = new Encoder();
      assert.equal(enc.encodeValue(toEncode(v.value)).toString('hex'), v.hex);
      if (!v.features.includes('float32') && !integralFloat(v.value)) {
        assert.equal(enc.encodeValue(decode(bytes)).toString('hex'), v.hex);
      }
    });
  }

  it('integral floats decode to numbers that encode as integers', () => {
    const enc = new Encoder();
    assert.equal(decode(Buffer.from('cb3ff0000000000000', 'hex')), 1);
    assert.equal(enc.encodeValue(1).toString('hex'), '01');
    assert.equal(enc.encodeValue(-0).toString('hex'), 'cb8000000000000000');
    assert.equal(decode(Buffer.from('ca3fc00000', 'hex')), 1.5);
  });
});

describe('messages.json', () => {
  for (const v of messages) {
    it(v.name, () => {
      const frame = Buffer.from(v.hex, 'hex');
      const frames = [];
      new FrameReader((b) => frames.push(b)).push(frame);
      assert.equal(frames.length, 1);
      const m = parseMessage(frames[0]);
      const w = v.message;
      assert.equal(m.kind, w.kind);
      const enc = new Encoder();
      let again;
      if (w.kind === 0) {
        assert.equal(m.id, w.id);
        assert.equal(m.method, w.method);
        assertSame(m.params, expected(w.params));
        again = enc.request(m.id, m.method, m.params);
      } else if (w.kind === 1) {
        assert.equal(m.id, w.id);
        if (w.error) {
          const want = { ...w.error };
          if (want.data) want.data = expected(want.data);
          assertSame(m.error, want);
        } else {
          assert.equal(m.error, null);
          assertSame(m.result, expected(w.result));
        }
        again = enc.response(m.id, m.error, m.error ? null : m.result);
      } else {
        assert.equal(m.method, w.method);
        assertSame(m.params, expected(w.params));
        again = enc.notification(m.method, m.params);
      }
      assert.equal(Buffer.from(again).toString('hex'), v.hex);
    });
  }
});

describe('invalid.json', () => {
  for (const v of invalid) {
    it(`${v.name}: ${v.reason}`, () => {
      const bytes = Buffer.from(v.hex, 'hex');
      const r = new FrameReader((b) => parseMessage(b));
      // Fed whole, and byte by byte: both must fail the same way.
      assert.throws(() => { r.push(bytes); r.end(); }, ProtocolError);
      const r2 = new FrameReader((b) => parseMessage(b));
      assert.throws(() => { for (let i = 0; i < bytes.length; i++) r2.push(bytes.subarray(i, i + 1)); r2.end(); }, ProtocolError);
    });
  }
});
