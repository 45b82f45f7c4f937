'use strict';

// Two Connections over in-memory stream pairs: no processes.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { PassThrough } = require('node:stream');
const { Connection } = require('../lib/connection');
const { RemoteError, CancelledError, ConnectionClosedError, FrameTooLargeError, ValueError } = require('../lib/errors');

function pair(opts = {}) {
  const ab = new PassThrough();
  const ba = new PassThrough();
  const a = new Connection(ba, ab, opts);
  const b = new Connection(ab, ba, opts);
  a.listen();
  b.listen();
  return { a, b, ab, ba };
}

describe('Connection over in-memory streams', () => {
  it('calls both ways, with params as arguments', async () => {
    const { a, b } = pair();
    b.handle('add', (x, y) => x + y);
    a.handle('hello', async (name) => `hello ${name}`);
    b.handle('relay', (name) => b.call('hello', name));
    assert.equal(await a.call('add', 2, 3), 5);
    assert.equal(await a.call('relay', 'js'), 'hello js');
  });

  it('maps thrown errors to RemoteError with type, message and traceback', async () => {
    const { a, b } = pair();
    class QuotaError extends Error {}
    b.handle('quota', () => { const e = new QuotaError('over quota'); e.data = { limit: 3 }; throw e; });
    b.handle('str', () => { throw 'plain string'; });
    const e = await a.call('quota').catch((x) => x);
    assert.ok(e instanceof RemoteError);
    assert.equal(e.type, 'QuotaError');
    assert.equal(e.message, 'over quota');
    assert.deepEqual(e.data, { limit: 3 });
    assert.match(e.traceback, /over quota/);
    const s = await a.call('str').catch((x) => x);
    assert.equal(s.type, 'Error');
    assert.match(s.message, /plain string/);
  });

  it('delivers messages and named notifications; disposers unsubscribe', async () => {
    const { a, b } = pair();
    const got = [];
    const d = b.on('message', (v) => got.push(v));
    b.on('progress', (pct, text) => got.push([pct, text]));
    a.send({ x: 1 });
    a.notify('progress', 50, 'half');
    await new Promise((r) => setImmediate(r));
    d.dispose();
    a.send('dropped');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(got, [{ x: 1 }, [50, 'half']]);
  });

  it('aborts the handler signal on $cancel when the caller gives up', async () => {
    const { a, b } = pair();
    let seen;
    const aborted = new Promise((resolve) => {
      b.handle('wait', function wait() {
        seen = this;
        this.signal.addEventListener('abort', () => resolve(this.signal.reason));
        return new Promise(() => {});
      });
    });
    const ac = new AbortController();
    const p = a.request('wait', [], { signal: ac.signal });
    await new Promise((r) => setImmediate(r));
    ac.abort();
    await assert.rejects(p, { name: 'AbortError' });
    const reason = await aborted;
    assert.ok(reason instanceof CancelledError);
    assert.equal(seen.cancelled, true);
  });

  it('ends running handlers with the reason the connection ended, and sends nothing after', async () => {
    const { a, b, ab } = pair();
    let seen;
    const aborted = new Promise((resolve) => {
      b.handle('wait', function wait() {
        seen = this;
        this.signal.addEventListener('abort', () => {
          b.notify('after', 1); // the session is over: dropped
          resolve(this.signal.reason);
        });
        return new Promise(() => {});
      });
    });
    const got = [];
    a.on('after', (v) => got.push(v));
    const call = a.call('wait').catch((e) => e);
    await new Promise((r) => setImmediate(r));
    ab.write(Buffer.from([0, 0, 0, 0])); // an empty frame: a protocol error for b
    const reason = await aborted;
    assert.ok(reason instanceof ConnectionClosedError, `reason: ${reason}`);
    assert.equal(reason.cause && reason.cause.name, 'ProtocolError');
    assert.equal(seen.cancelled, false, 'the peer did not cancel it');
    let sent;
    b.send('late', (err) => { sent = err; });
    await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(got, []);
    assert.ok(sent instanceof ConnectionClosedError, `send after the end: ${sent}`);
    a.close();
    await call;
  });

  it('times out with a CancelledError and sends $cancel', async () => {
    const { a, b } = pair();
    const cancelled = new Promise((resolve) => {
      b.handle('never', function never() {
        this.signal.addEventListener('abort', resolve);
        return new Promise(() => {});
      });
    });
    await assert.rejects(a.request('never', [], { timeout: 1 }), { name: 'CancelledError', code: 'POLYFORK_TIMEOUT' });
    await cancelled;
  });

  it('refuses an oversize send with both sizes, and stays usable', async () => {
    const { a, b } = pair({ maxFrameSize: 100 });
    b.handle('echo', (v) => v);
    assert.throws(() => a.send('x'.repeat(200)), (e) => e instanceof FrameTooLargeError && /maximum frame size is 100 bytes/.test(e.message));
    await assert.rejects(a.call('echo', 'y'.repeat(200)), FrameTooLargeError);
    assert.equal(await a.call('echo', 'small'), 'small');
  });

  it('names where a value cannot be encoded', () => {
    const { a } = pair();
    assert.throws(() => a.send({ list: [1, { f() {} }] }), (e) => e instanceof ValueError && e.path === 'value.list[1].f');
    assert.throws(() => a.send(2n ** 64n), /outside the msgpack integer range/);
    assert.throws(() => a.send('\ud800'), /lone UTF-16 surrogate/);
    const cyc = {};
    cyc.self = cyc;
    assert.throws(() => a.send(cyc), /nest deeper than 128/);
  });

  it('fails pending calls when the peer closes, and on a protocol error', async () => {
    const { a, b, ba } = pair();
    b.handle('never', () => new Promise(() => {}));
    const p = a.call('never');
    await new Promise((r) => setImmediate(r));
    ba.end();
    await assert.rejects(p, ConnectionClosedError);

    const c = { ab: new PassThrough(), ba: new PassThrough() };
    c.a = new Connection(c.ba, c.ab);
    c.a.listen();
    const closed = new Promise((r) => c.a.onClose(r));
    const q = c.a.call('x');
    c.ba.write(Buffer.from('0000000190', 'hex')); // an empty array is not a message
    const err = await closed;
    assert.match(err.message, /a message is an array of 3 or 4 elements, got 0/);
    await assert.rejects(q, ConnectionClosedError);
  });

  it('answers MethodNotFound and runs $stop callbacks', async () => {
    const { a, b } = pair();
    const e = await a.call('nope').catch((x) => x);
    assert.equal(e.type, 'MethodNotFound');
    const stopped = new Promise((r) => b.onStop(r));
    a.notify('$stop');
    await stopped;
    assert.equal(b.stopping, true);
  });
});
