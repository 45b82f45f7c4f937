'use strict';

// Real child processes (the conformance child and misbehaving ones) driven by the test host
// in host.js, over both transports.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { TestHost, CONFORMANCE } = require('./host');
const { Encoder } = require('../lib/encode');
const { RemoteError, ConnectionClosedError } = require('../lib/errors');

const MISBEHAVE = path.join(__dirname, 'fixtures', 'misbehave.js');
const invalid = require('../../../protocol/testdata/invalid.json');

const hosts = [];
function start(args, opts) {
  const h = new TestHost(args, opts);
  hosts.push(h);
  return h;
}
after(() => { for (const h of hosts) h.kill(); });

for (const transport of ['socket', 'fifo']) {
  describe(`conformance child over ${transport}`, () => {
    it('sends $ready first, with protocol, lang, pid and lib', async () => {
      const h = start([CONFORMANCE], { transport });
      const ready = await h.start();
      assert.deepEqual(ready, { protocol: 1, lang: 'node', pid: h.proc.pid, lib: 'polyfork-node/0.2.0' });
      assert.equal(await h.call('pid'), h.proc.pid);
      h.closeStdin();
      assert.deepEqual(await h.wait(), { code: 0, signal: null });
    });

    it('stops reading requests while the host leaves its answers unread, and loses none', async () => {
      // A host that sends requests but does not read the answers: before, the child read every
      // request and kept every answer in memory (260 MB for 800 answers of 256 KiB); now it
      // stops reading once about 1 MiB of answers waits, as a blocked write stops Python and PHP.
      const h = start([CONFORMANCE], { transport });
      await h.start();
      h.stdout.pause(); // the host stops reading
      const big = 'x'.repeat(256 << 10);
      const calls = [];
      let taken = 0;
      for (; taken < 400; taken++) {
        calls.push(h.call('echo', big));
        await new Promise(setImmediate); // the host's writer writes on the next tick
        if (h.stdin.writableLength > (1 << 20)) {
          // The child is not taking more: wait up to a second for it to.
          const drained = await new Promise((resolve) => {
            const t = setTimeout(() => resolve(false), 1000);
            h.stdin.once('drain', () => { clearTimeout(t); resolve(true); });
          });
          if (!drained) break;
        }
      }
      assert.ok(taken < 100, `the child kept reading: it took ${taken} requests of 256 KiB with no answer read`);
      h.stdout.resume();
      const answers = await Promise.all(calls);
      assert.equal(answers.length, calls.length);
      for (const a of answers) assert.equal(a, big);
      assert.equal(await h.call('echo', 'after'), 'after');
      h.closeStdin();
      assert.deepEqual(await h.wait(), { code: 0, signal: null });
    });

    // docs/faults.md section 8: the host closes its read end of the child's stdout and keeps
    // the child's stdin open. The child used to go on running every request's handler, with
    // nothing logged, until the end of its stdin (and stay paused for ever when it had stopped
    // reading for pressure).
    const WRITE_FAILED = 'polyfork: the host closed the channel: writing a frame failed (EPIPE); stopping';

    async function exitsWithin(h, ms) {
      let timer;
      const late = new Promise((resolve) => { timer = setTimeout(() => resolve(null), ms); });
      const st = await Promise.race([h.wait(), late]);
      clearTimeout(timer);
      assert.ok(st !== null, `the child still runs; stderr:\n${h.stderr}`);
      return st;
    }

    async function stderrHas(h, text) {
      for (let i = 0; i < 3000 && !h.stderr.includes(text); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(h.stderr.includes(text), h.stderr);
    }

    for (const trigger of ['answer', 'send']) {
      it(`a failed write (${trigger}) ends the session: one line, no new handler, status 0`, async () => {
        const h = start([CONFORMANCE], { transport });
        await h.start();
        const inFlight = h.call('sleep', 3_600_000).catch(() => {}); // cancelled, not waited for
        h.stdout.destroy(); // the host no longer reads; stdin stays open
        if (trigger === 'answer') {
          h.call('stderr', 'first').catch(() => {});
          await stderrHas(h, 'first');
        } else {
          h.send('first'); // the conformance child sends it back: that write fails
          // Until the child has failed that write, 'second' could arrive with 'first' (a
          // slow child reads them together) and run: wait for the line, not a fixed time.
          await stderrHas(h, WRITE_FAILED);
        }
        h.call('stderr', 'second').catch(() => {});
        h.send('third');
        assert.deepEqual(await exitsWithin(h, 20_000), { code: 0, signal: null });
        const expected = trigger === 'answer' ? ['first', WRITE_FAILED] : [WRITE_FAILED];
        assert.deepEqual(h.stderr.split('\n').filter((l) => l !== ''), expected);
        void inFlight;
      });
    }

    it('a failed write ends the session also while reading is paused for pressure', async () => {
      const h = start([CONFORMANCE], { transport });
      await h.start();
      h.stdout.pause(); // the host stops reading: the child stops taking requests
      const big = 'x'.repeat(256 << 10);
      for (let taken = 0; taken < 100; taken++) {
        h.call('echo', big).catch(() => {});
        await new Promise(setImmediate);
        if (h.stdin.writableLength > (1 << 20)) {
          const drained = await new Promise((resolve) => {
            const t = setTimeout(() => resolve(false), 1000);
            h.stdin.once('drain', () => { clearTimeout(t); resolve(true); });
          });
          if (!drained) break;
        }
      }
      h.stdout.destroy(); // ... and then closes its read end: the paused child's write fails
      h.call('stderr', 'not run').catch(() => {});
      assert.deepEqual(await exitsWithin(h, 20_000), { code: 0, signal: null });
      assert.equal(h.stderr, `${WRITE_FAILED}\n`);
    });

    it('a request with the id of a request in flight ends the child with status 2, unanswered', async () => {
      // SPEC 4.1: the host could not tell the two answers apart (Python and PHP do the same).
      const h = start([CONFORMANCE], { transport });
      await h.start();
      const enc = new Encoder();
      h.writeRaw(Buffer.from(enc.request(7, 'sleep', [3_600_000])));
      h.writeRaw(Buffer.from(enc.request(7, 'echo', ['again'])));
      assert.deepEqual(await h.wait(), { code: 2, signal: null });
      assert.match(h.stderr, /^polyfork: protocol: request id 7 is already in flight[^\n]*\n$/);
      const { parseMessage } = require('../lib/message');
      assert.deepEqual(h.frames.slice(1).map((f) => parseMessage(f)).filter((m) => m.kind === 1), [], 'no answer');
    });

    it('serves echo, add, fail, unknown methods and messages', async () => {
      const h = start([CONFORMANCE], { transport });
      await h.start();
      const v = { a: [1, 2.5, 'x', null, true], b: Buffer.from([0, 255]), big: 2n ** 63n, m: new Map([[1, 'one']]) };
      assert.deepEqual(await h.call('echo', v), v);
      assert.equal(await h.call('add', 2, 40), 42);
      assert.equal(await h.call('add', 'a', 'b'), 'ab');
      const err = await h.call('fail', 'boom').catch((e) => e);
      assert.ok(err instanceof RemoteError);
      assert.equal(err.type, 'ConformanceError');
      assert.equal(err.message, 'boom');
      assert.match(err.traceback, /ConformanceError: boom\n\s+at /);
      const nf = await h.call('nope').catch((e) => e);
      assert.equal(nf.type, 'MethodNotFound');
      assert.equal(nf.message, 'no handler for method "nope"');
      h.send({ sum: 4999950000 });
      assert.deepEqual(await h.nextMessage(), { sum: 4999950000 });
      h.stop();
      assert.deepEqual(await h.wait(), { code: 0, signal: null });
    });

    it('calls the host, and replies out of order', async () => {
      const h = start([CONFORMANCE], { transport });
      await h.start();
      let open;
      const gate = new Promise((resolve) => { open = resolve; });
      h.conn.handle('gate', () => gate);
      h.conn.handle('mul', (a, b) => a * b);
      assert.equal(await h.call('call_host', 'mul', [6, 7]), 42);
      const hostErr = await h.call('call_host', 'missing', []).catch((e) => e);
      assert.equal(hostErr.type, 'MethodNotFound');
      const order = [];
      const first = h.call('call_host', 'gate', []).then((r) => { order.push(`first:${r}`); });
      const second = h.call('echo', 'second').then((r) => { order.push(r); });
      await second;
      open('opened');
      await first;
      assert.deepEqual(order, ['second', 'first:opened']);
      // Many calls in flight get the right replies.
      const results = await Promise.all(Array.from({ length: 200 }, (_, i) => h.call('add', i, 1000)));
      assert.deepEqual(results, Array.from({ length: 200 }, (_, i) => i + 1000));
      h.closeStdin();
      assert.equal((await h.wait()).code, 0);
    });

    it('echoes large values intact, many in flight, also while the host is not reading', async () => {
      const h = start([CONFORMANCE], { transport });
      await h.start();
      // Sizes around the reader's 64 KiB landing buffer and the encoder's slab, ASCII and
      // not, str and bin: frames straddle reads, and answers queue behind a full pipe.
      const values = [];
      for (const n of [1, 65527, 65531, 65536, 70000, 300000, 1 << 20, 3 << 20, 10]) {
        values.push('a'.repeat(n), 'é中'.repeat(Math.ceil(n / 5)), Buffer.alloc(n, n & 0xff));
      }
      const mixed = Array.from({ length: 300 }, (_, i) => ['x'.repeat(i * 997), { i, s: 'ü'.repeat(i) }][i % 2]);
      const all = [...values, ...mixed, ...values.slice().reverse()];
      assert.deepEqual(await Promise.all(all.map((v) => h.call('echo', v))), all);
      h.stdout.pause();
      const later = Promise.all(all.map((v) => h.call('echo', v)));
      await new Promise((r) => setTimeout(r, 200)); // let answers pile up in the child
      h.stdout.resume();
      assert.deepEqual(await later, all);
      h.closeStdin();
      assert.equal((await h.wait()).code, 0);
    });

    it('aborts the handler signal on $cancel and answers CancelledError', async () => {
      const h = start([CONFORMANCE], { transport });
      await h.start();
      const ac = new AbortController();
      const cancelled = h.nextNotification('cancelled');
      const call = h.conn.request('sleep', [600000], { signal: ac.signal });
      ac.abort();
      await assert.rejects(call, { name: 'AbortError' });
      assert.deepEqual(await cancelled, [600000]);
      // The response the child still sends for the cancelled id is a CancelledError.
      assert.equal(await h.call('echo', 1), 1);
      const enc = new Encoder();
      const cancelled2 = h.nextNotification('cancelled');
      h.writeRaw(enc.request(4000000000, 'sleep', [600001]));
      h.writeRaw(enc.notification('$cancel', [4000000000]));
      assert.deepEqual(await cancelled2, [600001]);
      // The echo request is read after the cancelled handler answered.
      assert.equal(await h.call('echo', 2), 2);
      const resp = h.frames.map((f) => require('../lib/message').parseMessage(f)).find((m) => m.kind === 1 && m.id === 4000000000);
      assert.equal(resp.error.type, 'CancelledError');
      h.stop();
      assert.equal((await h.wait()).code, 0);
    });

    it('keeps stray output off the channel, also from a subprocess', async () => {
      const h = start([CONFORMANCE], { transport });
      await h.start();
      assert.equal(await h.call('print', 'stray line'), true);
      assert.equal(await h.call('stderr', 'to stderr'), true);
      assert.equal(await h.call('echo', 'still fine'), 'still fine');
      h.closeStdin();
      assert.equal((await h.wait()).code, 0);
      const lines = h.stderr.split('\n');
      assert.equal(lines.filter((l) => l === 'stray line').length, 3, h.stderr);
      assert.ok(lines.includes('to stderr'));
    });

    it('finishes running handlers on $stop, then exits 0', async () => {
      const h = start([MISBEHAVE, 'slow-stop'], { transport });
      await h.start();
      const slow = h.call('slow', 50);
      // The request frame goes out before $stop, so the handler is running when it lands.
      h.stop();
      assert.equal(await slow, 'done');
      assert.equal(await h.nextMessage(), 'finishing');
      assert.deepEqual(await h.wait(), { code: 0, signal: null });
    });

    it('waits for onStop hooks that return promises before it exits', async () => {
      const h = start([MISBEHAVE, 'async-stop-hook'], { transport });
      await h.start();
      h.stop();
      assert.equal(await h.nextMessage(), 'cleaned up');
      assert.deepEqual(await h.wait(), { code: 0, signal: null });
      assert.match(h.stderr, /polyfork: an onStop hook failed: cleanup failed/);
    });

    it('answers a request that arrives after $stop with Stopping, without running it', async () => {
      const h = start([MISBEHAVE, 'slow-stop'], { transport });
      await h.start();
      const slow = h.call('slow', 300);
      h.stop();
      const late = await h.call('slow', 1).catch((e) => e);
      assert.ok(late instanceof RemoteError, String(late));
      assert.equal(late.type, 'Stopping');
      assert.match(late.message, /^request \d+ for "slow" arrived after \$stop and was not run/);
      assert.equal(await slow, 'done');
      assert.equal(await h.nextMessage(), 'finishing'); // only the first one ran
      assert.deepEqual(await h.wait(), { code: 0, signal: null });
      assert.equal(h.messages.length, 0);
    });

    it('exits at once with the code given, failing calls in flight', async () => {
      const h = start([CONFORMANCE], { transport });
      await h.start();
      const err = await h.call('exit', 7).catch((e) => e);
      assert.ok(err instanceof ConnectionClosedError, String(err));
      assert.equal((await h.wait()).code, 7);
    });
  });
}

describe('misbehaving children and bad input', () => {
  it('output written while the script loads does not precede $ready', async () => {
    for (const transport of ['socket', 'fifo']) {
      const h = start([MISBEHAVE, 'print-at-load'], { transport });
      await h.start();
      assert.equal(await h.call('ok'), 'ok');
      h.closeStdin();
      assert.equal((await h.wait()).code, 0);
      assert.match(h.stderr, /printed at load time\nwritten at load time/);
    }
  });

  it('a message sent while loading goes out after $ready', async () => {
    const h = start([MISBEHAVE, 'send-before-ready']);
    await h.start();
    assert.equal(await h.nextMessage(), 'sent while loading');
    h.closeStdin();
    assert.equal((await h.wait()).code, 0);
  });

  it('a message sent just before process.exit still goes out', async () => {
    for (const transport of ['socket', 'fifo']) {
      const h = start([MISBEHAVE, 'send-then-exit'], { transport });
      await h.start();
      h.send('now');
      assert.equal(await h.nextMessage(), 'bye now');
      assert.equal((await h.wait()).code, 3);
    }
  });

  it('refuses a result above POLYFORK_MAX_FRAME_SIZE and stays usable', async () => {
    const h = start([MISBEHAVE, 'big-result'], { env: { POLYFORK_MAX_FRAME_SIZE: '1000' } });
    await h.start();
    const err = await h.call('big', 5000).catch((e) => e);
    assert.equal(err.type, 'ProtocolError');
    assert.match(err.message, /maximum frame size is 1000 bytes/);
    assert.equal((await h.call('big', 10)).length, 10);
    h.closeStdin();
    assert.equal((await h.wait()).code, 0);
  });

  it('answers a result it cannot encode with an error naming where', async () => {
    const h = start([MISBEHAVE, 'bad-result']);
    await h.start();
    const err = await h.call('fn').catch((e) => e);
    assert.equal(err.type, 'ValueError');
    assert.match(err.message, /cannot encode a function in msgpack at result/);
    assert.equal(await h.call('ok'), 'ok');
    h.closeStdin();
    assert.equal((await h.wait()).code, 0);
  });

  it('a frame above POLYFORK_MAX_FRAME_SIZE ends the child with status 2', async () => {
    const h = start([CONFORMANCE], { env: { POLYFORK_MAX_FRAME_SIZE: '100' } });
    await h.start();
    h.call('echo', 'y'.repeat(200)).catch(() => {});
    const st = await h.wait();
    assert.equal(st.code, 2);
    assert.match(h.stderr, /frame length \d+ is above the maximum frame size 100/);
  });

  it('a listener that throws crashes the child like an uncaught exception', async () => {
    const h = start([MISBEHAVE, 'ondata-throws']);
    await h.start();
    h.send('boom');
    assert.equal((await h.wait()).code, 1);
    assert.match(h.stderr, /listener exploded/);
  });

  it('a bad POLYFORK_MAX_FRAME_SIZE is refused with a clear error', async () => {
    const h = start([CONFORMANCE], { env: { POLYFORK_MAX_FRAME_SIZE: '12abc' } });
    await h.start().catch(() => {});
    assert.equal((await h.wait()).code, 2);
    assert.equal(h.stderr, 'polyfork: POLYFORK_MAX_FRAME_SIZE must be a positive integer number of bytes, got "12abc"\n');
  });

  for (const transport of ['socket', 'fifo']) {
    it(`every invalid.json frame ends the child with status 2 and a clear error (${transport})`, async () => {
      await Promise.all(invalid.map(async (v) => {
        const h = start([CONFORMANCE], { transport });
        await h.start();
        h.writeRaw(Buffer.from(v.hex, 'hex'));
        h.closeStdin(); // the truncated ones only show at end of file
        const st = await h.wait();
        assert.equal(st.code, 2, `${v.name}: ${h.stderr}`);
        // SPEC section 6: one line naming the error, nothing else.
        assert.match(h.stderr, /^polyfork: protocol: [^\n]+\n$/, v.name);
      }));
    });
  }
});

describe('ES modules', () => {
  it('serves from an .mjs child importing polyfork', async () => {
    const h = start([path.join(__dirname, 'fixtures', 'esm_child.mjs')]);
    await h.start();
    assert.equal(await h.call('twice', 21), 42);
    h.closeStdin();
    assert.equal((await h.wait()).code, 0);
  });
});

describe('worker threads', () => {
  const WORKER_THREADS = path.join(__dirname, 'fixtures', 'worker_threads.js');
  const refused = /^POLYFORK_WORKER_THREAD: polyfork: the channel to the host belongs to the main thread/;

  it('a thread that loads polyfork neither takes the channel nor dies of it', async () => {
    // A thread that loaded polyfork before the main thread took the channel: it served the
    // host in the main thread's place, and the main thread's own use ended the process
    // (ERR_INVALID_FD_TYPE). One that loaded it after ended with status 2 ("stdin is a
    // character device"). Now both load it, and their send throws a clear error.
    for (const transport of ['socket', 'fifo']) {
      const h = new TestHost([WORKER_THREADS], { transport });
      await h.start();
      assert.match(await h.call('early'), refused);
      assert.match(await h.call('late'), refused);
      assert.equal(await h.call('echo', 'still here'), 'still here');
      h.closeStdin();
      const { code } = await h.wait();
      assert.equal(code, 0, h.stderr);
      assert.equal(h.stderr, '');
    }
  });
});
