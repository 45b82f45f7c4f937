'use strict';

// FrameReader's two ways in: chunks pushed, and reads straight into its memory (readTarget /
// wrote, as net.Socket's onread drives it). Both must cut the same frames from any split of
// the stream, and refuse the same bad input.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { FrameReader, LANDING_SIZE } = require('../lib/reader');
const { ProtocolError, FrameTooLargeError } = require('../lib/errors');
const { parseMessage } = require('../lib/message');
const invalid = require('../../../protocol/testdata/invalid.json');

/** A deterministic pseudo-random generator (xorshift32), so a failure can be replayed. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return (n) => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
}

function frameOf(body) {
  const f = Buffer.allocUnsafe(4 + body.length);
  f.writeUInt32BE(body.length, 0);
  body.copy(f, 4);
  return f;
}

/** Feeds `stream` to a direct reader in reads of at most `max(i)` bytes, as a kernel would. */
function feedDirect(reader, stream, max) {
  let at = 0;
  for (let i = 0; at < stream.length; i++) {
    const target = reader.readTarget();
    assert.ok(target.length > 0, 'the reader always offers room');
    const n = Math.min(target.length, stream.length - at, max(i));
    stream.copy(target, 0, at, at + n);
    at += n;
    reader.wrote(n);
  }
}

describe('FrameReader direct reads', () => {
  const sizes = [1, 3, 4, 100, LANDING_SIZE - 4, LANDING_SIZE - 3, LANDING_SIZE, 200000, 17, 1 << 20, 5, 70000, 70000, 2];
  const bodies = sizes.map((n, i) => {
    const b = Buffer.allocUnsafe(n);
    for (let j = 0; j < n; j++) b[j] = (i * 31 + j * 7) & 0xff;
    return b;
  });
  const stream = Buffer.concat(bodies.map(frameOf));

  const splits = {
    'whole reads': () => Infinity,
    'one byte at a time': () => 1,
    'odd sizes': (i) => [7, 4093, 65536, 3, 100000][i % 5],
  };
  const r = rng(12345);
  splits['random sizes'] = () => 1 + r(90000);

  for (const [name, max] of Object.entries(splits)) {
    it(`cuts the same frames in ${name}`, { timeout: 60000 }, () => {
      const got = [];
      const reader = new FrameReader((body) => got.push(Buffer.from(body)));
      feedDirect(reader, stream, max);
      reader.end();
      assert.equal(got.length, bodies.length);
      for (let i = 0; i < bodies.length; i++) assert.ok(got[i].equals(bodies[i]), `frame ${i} (${sizes[i]} bytes) differs`);
    });
  }

  it('reuses its memory: a body is valid only during onFrame', () => {
    const seen = [];
    const reader = new FrameReader((body) => seen.push(body));
    feedDirect(reader, Buffer.concat([frameOf(Buffer.from('first')), frameOf(Buffer.from('again'))]), () => 9);
    assert.equal(seen.length, 2);
    assert.equal(seen[0].buffer, seen[1].buffer, 'both frames landed in the same buffer');
  });

  it('refuses a length above the maximum before allocating', () => {
    const reader = new FrameReader(() => assert.fail('no frame'), { maxFrameSize: 1000 });
    const t = reader.readTarget();
    Buffer.from('7fffffff00', 'hex').copy(t);
    assert.throws(() => reader.wrote(5), FrameTooLargeError);
    assert.throws(() => reader.wrote(0), FrameTooLargeError, 'and refuses further input');
  });

  it('reports a stream that ends inside a frame', () => {
    for (const [bytes, msg] of [
      ['0000', /ended after 2 of the 4 length-prefix bytes/],
      ['0000000590', /ended after 1 of 5 body bytes/],
      ['00100000' + '00'.repeat(70000), /ended after 70000 of 1048576 body bytes/],
    ]) {
      const reader = new FrameReader(() => assert.fail('no frame'));
      feedDirect(reader, Buffer.from(bytes, 'hex'), () => 65536);
      assert.throws(() => reader.end(), (e) => e instanceof ProtocolError && msg.test(e.message));
    }
  });

  describe('invalid.json', () => {
    for (const v of invalid) {
      it(`${v.name}: ${v.reason}`, () => {
        const bytes = Buffer.from(v.hex, 'hex');
        for (const max of [() => Infinity, () => 1]) {
          const reader = new FrameReader((b) => parseMessage(b));
          assert.throws(() => { feedDirect(reader, bytes, max); reader.end(); }, ProtocolError);
        }
      });
    }
  });
});
