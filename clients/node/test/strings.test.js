'use strict';

// Long strings take their own paths: the encoder writes them without measuring them first,
// and the decoder decodes ASCII as Latin-1 and other text by transcoding to UTF-16. Every
// path must give back the same string, and the same errors, as the short ones.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { Encoder } = require('../lib/encode');
const { decode } = require('../lib/decode');
const { parseMessage } = require('../lib/message');
const { ValueError, FrameTooLargeError } = require('../lib/errors');

const texts = {
  ascii: 'abcdefghij',
  latin1: 'caf\u00e9 na\u00efve ',
  cjk: '\u4e2d\u6587\u5b57',
  emoji: 'ok \ud83d\ude00\ud83c\udf89 ',
  mixed: 'plain text, then \u00fcml\u00e4uts and \u4e2d and \ud83d\ude00. ',
};
const lengths = [15, 16, 63, 64, 1023, 1024, 1025, 21845, 21846, 65535, 65536, 70000, 300000];

function make(unit, n) {
  return unit.repeat(Math.ceil(n / unit.length)).slice(0, n).replace(/[\ud800-\udbff]$/, 'x');
}

describe('long strings', () => {
  const enc = new Encoder();
  for (const [name, unit] of Object.entries(texts)) {
    it(`${name}: encodes to the canonical bytes and decodes back, at every length`, () => {
      for (const n of lengths) {
        const s = make(unit, n);
        const bytes = enc.encodeValue(s);
        const utf8 = Buffer.from(s, 'utf8');
        const len = utf8.length;
        const head = len < 32 ? [0xa0 | len] : len < 0x100 ? [0xd9, len] : len < 0x10000 ? [0xda, len >> 8, len & 0xff]
          : [0xdb, len >>> 24, (len >> 16) & 0xff, (len >> 8) & 0xff, len & 0xff];
        assert.ok(bytes.equals(Buffer.concat([Buffer.from(head), utf8])), `${name} x${n}: bytes differ`);
        assert.equal(decode(bytes), s, `${name} x${n}: decodes back`);
        const frame = enc.request(1, 'echo', [s, { key: s }]);
        const msg = parseMessage(Buffer.from(frame.subarray(4)));
        assert.equal(msg.params[0], s);
        assert.equal(msg.params[1].key, s);
      }
    });
  }

  it('map keys come back right from the key cache, also when keys share a slot of it', () => {
    const o = {};
    for (let i = 0; i < 20000; i++) o[`k${i.toString(36)}`] = i;
    o.__proto__x = 'not the prototype';
    const bytes = enc.encodeValue([o, o, { a: 1, b: 2 }, { b: 1, a: 2 }]);
    const [x, y, ab, ba] = decode(bytes);
    assert.deepEqual(x, o);
    assert.deepEqual(y, o);
    assert.deepEqual(Object.entries(ab), [['a', 1], ['b', 2]]);
    assert.deepEqual(Object.entries(ba), [['b', 1], ['a', 2]]);
    const proto = decode(Buffer.from('81a95f5f70726f746f5f5f01', 'hex')); // {"__proto__": 1}
    assert.equal(Object.getPrototypeOf(proto), Object.prototype);
    assert.deepEqual(Object.entries(proto), [['__proto__', 1]]);
  });

  it('decodes maps with long strings among many short keys', () => {
    const maps = enc.encodeValue(Array.from({ length: 500 }, (_, i) => ({ id: i, name: `n${i}`, ok: true })).concat(['w'.repeat(1024)]));
    assert.deepEqual(decode(maps), Array.from({ length: 500 }, (_, i) => ({ id: i, name: `n${i}`, ok: true })).concat(['w'.repeat(1024)]));
  });

  it('fails a long str that is not UTF-8 as a ValueError', () => {
    for (const n of [100, 5000, 70000]) {
      const body = Buffer.alloc(n, 0x61);
      body[n - 2] = 0xc3; // a lead byte followed by 'a'
      const bytes = Buffer.concat([Buffer.from([0xdb, n >>> 24, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]), body]);
      assert.throws(() => decode(bytes), (e) => e instanceof ValueError && /not valid UTF-8/.test(e.message));
      const frame = Buffer.concat([Buffer.from([0x94, 0x00, 0x01, 0xa4]), Buffer.from('echo'), Buffer.from([0x91]), bytes]);
      const msg = parseMessage(frame);
      assert.ok(msg.valueError instanceof ValueError);
      assert.match(msg.valueError.path, /^params/);
    }
  });

  it('refuses a long string with a lone surrogate, naming where', () => {
    const s = `${'a'.repeat(3000)}\ud800${'b'.repeat(10)}`;
    assert.throws(() => enc.encodeValue(s), (e) => e instanceof ValueError && /lone UTF-16 surrogate 0xd800 at index 3000/.test(e.message));
    assert.deepEqual(enc.encodeValue('ok'), Buffer.from('a26f6b', 'hex'), 'the encoder stays usable');
  });

  it('parses method names right through the name cache, colliding or not', () => {
    const names = ['', 'a', 'echo', 'add', 'x'.repeat(63), 'y'.repeat(64), 'y'.repeat(200), 'caf\u00e9', '\u4e2d', '$cancel'];
    for (let i = 0; i < 2000; i++) names.push(`m${i}_${(i * 7919) % 1000}`);
    for (let round = 0; round < 3; round++) {
      for (const name of names) {
        const msg = parseMessage(Buffer.from(enc.request(round, name, [1]).subarray(4)));
        assert.equal(msg.method, name);
      }
    }
    const bad = Buffer.from('9400 01 a2 c328 90'.replace(/ /g, ''), 'hex');
    assert.throws(() => parseMessage(bad), /method name is not valid UTF-8/);
  });

  it('measures a long string exactly near the frame limit, and refuses one above it', () => {
    const small = new Encoder({ maxFrameSize: 10000 });
    const fits = 'a'.repeat(9980);
    assert.equal(parseMessage(Buffer.from(small.notification('m', [fits]).subarray(4))).params[0], fits);
    assert.throws(() => small.notification('m', ['a'.repeat(10000)]), FrameTooLargeError);
    assert.equal(parseMessage(Buffer.from(small.notification('m', ['ok']).subarray(4))).params[0], 'ok');
  });
});
