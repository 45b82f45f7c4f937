'use strict';

// SPEC section 3, "Ext": a malformed timestamp (data not 4, 8 or 12 bytes, nanoseconds above
// 999999999) fails that one value: a request carrying it gets an error response naming the
// problem, a notification carrying it is dropped with one log line, and the session goes on.
// Checked against the real conformance child over both transports, and on the parser.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const { TestHost, CONFORMANCE } = require('./host');
const { Encoder } = require('../lib/encode');
const { parseMessage } = require('../lib/message');
const { Ext } = require('../lib/values');
const { RemoteError, ValueError, ProtocolError } = require('../lib/errors');

const hosts = [];
after(() => { for (const h of hosts) h.kill(); });
function start(opts) {
  const h = new TestHost([CONFORMANCE], opts);
  hosts.push(h);
  return h;
}

/** The malformed timestamps, with what the error must say. */
const bad = [
  { name: '3 bytes', ext: new Ext(-1, Buffer.from([0, 0, 1])), says: /timestamp ext \(type -1\) has 4, 8 or 12 bytes, got 3/ },
  { name: '16 bytes', ext: new Ext(-1, Buffer.alloc(16)), says: /has 4, 8 or 12 bytes, got 16/ },
  // 64-bit form: the top 30 bits are nanoseconds; all ones is 1073741823.
  { name: 'nanoseconds 2^30-1 (8 bytes)', ext: new Ext(-1, Buffer.from('fffffffc00000000', 'hex')), says: /nanoseconds 1073741823 are above 999999999/ },
  { name: 'nanoseconds 10^9 (12 bytes)', ext: new Ext(-1, Buffer.from('3b9aca00' + '0000000000000000', 'hex')), says: /nanoseconds 1000000000 are above 999999999/ },
];

describe('malformed timestamps', () => {
  for (const b of bad) {
    it(`parser: ${b.name} in params, result or error data fails only that value`, () => {
      const enc = new Encoder();
      const req = parseMessage(enc.request(1, 'echo', [1, { t: b.ext }]).subarray(4));
      assert.ok(req.valueError instanceof ValueError);
      assert.match(req.valueError.message, b.says);
      assert.equal(req.method, 'echo');
      const res = parseMessage(enc.response(2, null, [b.ext]).subarray(4));
      assert.match(res.valueError.message, b.says);
      const err = parseMessage(enc.response(3, { type: 'E', message: 'm', data: b.ext }, null).subarray(4));
      assert.match(err.valueError.message, b.says);
      assert.equal(err.id, 3);
    });
  }

  it('parser: an error map whose type is not a str is still a protocol error', () => {
    const enc = new Encoder();
    // {type: 1, message: "m", data: <bad timestamp>}: the value error must not hide the shape error.
    const frame = enc.response(3, { type: 'E', message: 'm', data: bad[0].ext }, null).subarray(4);
    const i = frame.indexOf(Buffer.from([0xa1, 0x45])); // "E"
    const broken = Buffer.concat([frame.subarray(0, i), Buffer.from([0x01]), frame.subarray(i + 2)]);
    assert.throws(() => parseMessage(broken), (e) => e instanceof ProtocolError && /str "type"/.test(e.message));
  });

  for (const transport of ['socket', 'fifo']) {
    it(`a request gets an error naming the problem; the session goes on (${transport})`, async () => {
      const h = start({ transport });
      await h.start();
      for (const b of bad) {
        const err = await h.call('echo', { when: b.ext }).catch((e) => e);
        assert.ok(err instanceof RemoteError, `${b.name}: ${err}`);
        assert.equal(err.type, 'ValueError');
        assert.match(err.message, /^cannot decode the params of "echo": /);
        assert.match(err.message, b.says);
      }
      // A timestamp the child can hold still round-trips.
      assert.deepEqual(await h.call('echo', new Date(1700000000123)), new Date(1700000000123));
      h.closeStdin();
      assert.deepEqual(await h.wait(), { code: 0, signal: null });
      assert.equal(h.stderr, '');
    });

    it(`a message is dropped with one log line; the session goes on (${transport})`, async () => {
      const h = start({ transport });
      await h.start();
      for (const b of bad) h.send([b.ext]);
      h.send('after');
      assert.equal(await h.nextMessage(), 'after'); // none of the bad ones was echoed
      h.closeStdin();
      assert.deepEqual(await h.wait(), { code: 0, signal: null });
      const lines = h.stderr.split('\n').filter(Boolean);
      assert.equal(lines.length, bad.length, h.stderr);
      bad.forEach((b, i) => assert.match(lines[i], new RegExp(`^polyfork: dropped notification "message": .*${b.says.source}`)));
    });
  }

  it('a host result or error data holding one fails only that call_host', async () => {
    const h = start();
    await h.start();
    h.conn.handle('badResult', () => [bad[0].ext]);
    h.conn.handle('badData', () => {
      throw new RemoteError({ type: 'HostError', message: 'with bad data', data: bad[2].ext });
    });
    const r = await h.call('call_host', 'badResult', []).catch((e) => e);
    assert.equal(r.type, 'ValueError');
    assert.match(r.message, bad[0].says);
    const d = await h.call('call_host', 'badData', []).catch((e) => e);
    assert.equal(d.type, 'ValueError');
    assert.match(d.message, bad[2].says);
    assert.equal(await h.call('add', 1, 2), 3);
    h.closeStdin();
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
  });
});
