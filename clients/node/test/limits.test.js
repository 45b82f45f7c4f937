'use strict';

// SPEC section 3, "Value count" (POLYFORK_MAX_VALUES, default 4194304) and the nesting depth
// of 128: a receiver checks the count before it decodes (a larger count is a protocol
// error); a sender refuses, before sending, a frame over the limit or nested deeper, with
// an error naming the count and the limit, and the session stays usable.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { TestHost } = require('./host');
const { Encoder, DEFAULT_MAX_VALUES } = require('../lib/encode');
const { parseMessage } = require('../lib/message');
const { countValues } = require('../lib/scan');
const { Ext, float32 } = require('../lib/values');
const { ProtocolError, ValueError, RemoteError, FrameTooLargeError } = require('../lib/errors');

const MISBEHAVE = path.join(__dirname, 'fixtures', 'misbehave.js');

const hosts = [];
after(() => { for (const h of hosts) h.kill(); });
function start(args, opts) {
  const h = new TestHost(args, opts);
  hosts.push(h);
  return h;
}

/** Frames of every shape, each built by a function of an Encoder. */
const shapes = {
  'request, no params': (e) => e.request(1, 'm', []),
  'request, nested values': (e) => e.request(70000, 'echo', [1, 'two', [3, [4, null]], { a: true, b: { c: 1.5 } }, Buffer.from('x')]),
  'request, Map, Date, Ext, float32, bigint': (e) => e.request(2, 'x', [new Map([[1, 'a'], ['k', [1, 2]]]), new Date(0), new Ext(5, Buffer.from('ab')), float32(1.5), 2n ** 64n - 1n]),
  'notification': (e) => e.notification('message', [{ sum: 4999950000, list: [1, 2, 3] }]),
  'notification, no params': (e) => e.notification('$stop', []),
  'response, result': (e) => e.response(3, null, { rows: [[1, 'a'], [2, 'b']] }),
  'response, nil result': (e) => e.response(3, null, undefined),
  'response, error': (e) => e.response(4, { type: 'E', message: 'm' }, null),
  'response, error with traceback and data': (e) => e.response(5, { type: 'E', message: 'm', traceback: 't', data: { why: [1, 2] } }, null),
};

describe('value count: the encoder and the scanner count alike', () => {
  for (const [name, make] of Object.entries(shapes)) {
    it(name, () => {
      const frame = make(new Encoder());
      const n = countValues(frame, 4);
      assert.ok(n >= 3, `count ${n}`);
      // Receiving: exactly n passes, n - 1 is a protocol error naming the limit.
      parseMessage(frame, 4, frame.length, n);
      assert.throws(() => parseMessage(frame, 4, frame.length, n - 1),
        (e) => e instanceof ProtocolError && e.message.includes(`more than ${n - 1} msgpack values in one frame`));
      // Sending: an Encoder allowing n values makes the same bytes; n - 1 refuses.
      assert.deepEqual(make(new Encoder({ maxValues: n })), frame);
      const enc = new Encoder({ maxValues: n - 1 });
      assert.throws(() => make(enc), (e) => e instanceof ValueError && e.code === 'POLYFORK_TOO_MANY_VALUES' &&
        e.message.includes(`more than ${n - 1} msgpack values`));
      // Nothing was half-written: the Encoder goes on with the next frame.
      enc.maxValues = DEFAULT_MAX_VALUES;
      assert.deepEqual(enc.request(9, 'ok', []), new Encoder().request(9, 'ok', []));
    });
  }

  it('the default is 4194304, and a frame of 16 MiB of empty arrays is over it', () => {
    assert.equal(DEFAULT_MAX_VALUES, 4194304);
    const frame = emptyArraysRequest(16 << 20);
    assert.throws(() => parseMessage(frame, 4), (e) => e instanceof ProtocolError && /more than 4194304 msgpack values/.test(e.message));
  });

  it('the encoder refuses nesting deeper than 128, counting the message', () => {
    const nest = (d) => (d === 0 ? 1 : [nest(d - 1)]);
    // message array (1) + params array (2): a param of 126 nested arrays reaches level 128.
    new Encoder().request(1, 'm', [nest(126)]);
    assert.throws(() => new Encoder().request(1, 'm', [nest(127)]), (e) => e instanceof ValueError && /deeper than 128/.test(e.message));
  });

  it('a frame over the size found deep inside a value stays a FrameTooLargeError', () => {
    // The encoder's own errors pass the catch blocks that name where user code threw.
    const big = [1, { a: ['x'.repeat(1 << 20)] }];
    assert.throws(() => new Encoder({ maxFrameSize: 1000 }).response(1, null, big), FrameTooLargeError);
    assert.throws(() => new Encoder({ maxFrameSize: 1000 }).notification('m', [big]), FrameTooLargeError);
    assert.throws(() => new Encoder({ maxFrameSize: 1000 }).request(1, 'm', [new Map([[1, big]])]), FrameTooLargeError);
  });

  it('what a getter, Proxy trap or toJSON() throws is a ValueError naming where, its cause kept', () => {
    const boom = new Error('boom');
    const v = { list: [0, new Map([['k', { get x() { throw boom; } }]])] };
    assert.throws(() => new Encoder().response(1, null, v), (e) => e instanceof ValueError && e.cause === boom &&
      e.path === 'result.list[1].<Map entry 0>.x' &&
      e.message === 'a getter, Proxy trap or toJSON() threw Error: boom while the value was read at result.list[1].<Map entry 0>.x');
    assert.throws(() => new Encoder().encodeValue(new Proxy({}, { getPrototypeOf() { throw 'no'; } })), (e) => // eslint-disable-line no-throw-literal
      e instanceof ValueError && e.cause === 'no' && /threw the non-Error value "no" while the value was read$/.test(e.message));
  });
});

/** A request frame `[0, 1, "echo", [[<n - 14 empty arrays>]]]` of n bytes in all. */
function emptyArraysRequest(total) {
  const head = Buffer.from('9400 01 a46563686f 91 dd00000000'.replace(/ /g, ''), 'hex');
  const n = total - 4 - head.length;
  head.writeUInt32BE(n, head.length - 4);
  const frame = Buffer.alloc(total, 0x90);
  frame.writeUInt32BE(total - 4, 0);
  head.copy(frame, 4);
  return frame;
}

describe('value count in a real child', () => {
  it('a frame of 16 MiB of empty arrays is refused before decoding: one line, status 2, no gigabyte', async () => {
    const h = start([MISBEHAVE, 'rss-at-exit'], { transport: 'fifo' });
    await h.start();
    h.writeRaw(emptyArraysRequest(16 << 20));
    h.closeStdin(); // a child that took the frame exits after answering it
    const st = await h.wait();
    assert.equal(st.code, 2, h.stderr);
    const lines = h.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 2, h.stderr); // the protocol error, then the fixture's maxRSS line
    assert.match(lines[0], /^polyfork: protocol: more than 4194304 msgpack values in one frame, the maximum \(POLYFORK_MAX_VALUES\) \(at byte \d+ of a 16777212-byte frame\)/);
    const kib = Number(/^maxRSS (\d+) KiB$/.exec(lines[1])[1]);
    // A safety bound, not a measurement: decoding them takes about a gigabyte; reading
    // the frame and refusing it, the frame's 16 MiB twice over and Node's own.
    assert.ok(kib < 300 * 1024, `the child's peak RSS was ${Math.round(kib / 1024)} MiB`);
  });

  it('POLYFORK_MAX_VALUES bounds results, sends and requests; the session stays usable until a request is over it', async () => {
    const h = start([MISBEHAVE, 'big-result'], { env: { POLYFORK_MAX_VALUES: '50' } });
    await h.start();
    // Response [1, id, nil, [n zeros]] holds 5 + n values.
    assert.equal((await h.call('many', 45)).length, 45);
    const err = await h.call('many', 46).catch((e) => e);
    assert.ok(err instanceof RemoteError, String(err));
    assert.equal(err.type, 'ProtocolError');
    assert.match(err.message, /^cannot send the result of "many": refusing to send a frame of more than 50 msgpack values: the peer's maximum \(POLYFORK_MAX_VALUES\); nothing was sent at result\[45\]$/);
    const sent = await h.call('sendMany', 100);
    assert.equal(sent.name, 'ValueError');
    assert.equal(sent.code, 'POLYFORK_TOO_MANY_VALUES');
    assert.match(sent.message, /more than 50 msgpack values/);
    assert.equal(await h.call('ok'), 'ok');
    // A request the child would have to decode more than 50 values of ends the session.
    h.call('many', ...new Array(60).fill(1)).catch(() => {});
    assert.equal((await h.wait()).code, 2);
    assert.match(h.stderr, /^polyfork: protocol: more than 50 msgpack values in one frame[^\n]*\n$/);
  });

  for (const bad of ['0', '-5', '1e6', 'lots']) {
    it(`POLYFORK_MAX_VALUES=${bad} is a start-up error of one line`, async () => {
      const h = start([MISBEHAVE, 'big-result'], { env: { POLYFORK_MAX_VALUES: bad } });
      await h.start().catch(() => {});
      assert.equal((await h.wait()).code, 2);
      assert.equal(h.stderr, `polyfork: POLYFORK_MAX_VALUES must be a positive integer count of values, got ${JSON.stringify(bad)}\n`);
    });
  }
});
