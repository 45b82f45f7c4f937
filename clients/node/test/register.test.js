'use strict';

// Fork compatibility: the seed's compute.js, unmodified, under --require register.js.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const { TestHost } = require('./host');

const { pathToFileURL } = require('node:url');
const { RemoteError } = require('../lib/errors');

const REGISTER = path.join(__dirname, '..', 'register.js');
const FIX = path.join(__dirname, 'fixtures');
const COMPUTE = path.join(FIX, 'compute.js');
const FORKISH = path.join(FIX, 'forkish.js');
const TINYPOOL_ENTRY = require.resolve('tinypool').replace(/index\.js$/, 'entry/process.js');

// shared/ sits beside the repository (also in CI's fresh clone).
const SEED = path.join(__dirname, '..', '..', '..', '..', 'shared', 'seed', '000_947ee7dd3589c2df.txt');

const hosts = [];
after(() => { for (const h of hosts) h.kill(); });
function start(script, opts) {
  const h = new TestHost(['--require', REGISTER, script], opts);
  hosts.push(h);
  return h;
}

describe('register.js', () => {
  it('runs the seed compute.js verbatim', { skip: !fs.existsSync(SEED) && 'shared/seed not present beside the repository' }, () => {
    const seed = fs.readFileSync(SEED, 'utf8');
    const part = seed.slice(seed.indexOf('// compute.js'), seed.indexOf('```', seed.indexOf('// compute.js')));
    assert.equal(fs.readFileSync(COMPUTE, 'utf8'), part);
  });

  for (const transport of ['socket', 'fifo']) {
    for (const ending of ['$stop', 'EOF']) {
      it(`compute.js answers 4999950000, logs to stderr, and exits 0 on ${ending} (${transport})`, async () => {
        const h = start(COMPUTE, { transport });
        await h.start();
        h.send('开始计算');
        assert.equal(await h.nextMessage(), 4999950000);
        if (ending === '$stop') h.stop();
        else h.closeStdin();
        assert.deepEqual(await h.wait(), { code: 0, signal: null });
        assert.match(h.stderr, new RegExp(`子进程PID ${h.proc.pid}`));
        assert.match(h.stderr, /子进程接收到的信息： 开始计算/);
      });
    }
  }

  it('gives process.connected, send callbacks, the disconnect event and an exit', async () => {
    const h = start(FORKISH);
    await h.start();
    h.send('hello');
    assert.deepEqual(await h.nextMessage(), { connected: true, got: 'hello' });
    assert.equal(await h.nextMessage(), 'send callback');
    assert.equal(await h.nextMessage(), 'send callback: null');
    h.stop();
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
    assert.match(h.stderr, /disconnect event; connected=false/);
    assert.match(h.stderr, /send after disconnect: ERR_IPC_CHANNEL_CLOSED/);
  });

  it('process.disconnect() from the child ends the channel and lets the script finish', async () => {
    const h = start(FORKISH);
    await h.start();
    h.send('disconnect');
    await h.nextMessage();
    await h.nextMessage();
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
    assert.match(h.stderr, /disconnect event; connected=false/);
  });

  it('a script without a message listener exits by itself, as a forked child does', async () => {
    const h = start(path.join(__dirname, 'fixtures', 'no_listener.js'));
    await h.start();
    assert.equal(await h.nextMessage(), 'bye');
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
  });
});

describe('register.js with the channel on descriptors', { timeout: 60000 }, () => {
  it('compute.js: console output stays on stdout, untouched, as under Node\'s fork', async () => {
    const h = start(COMPUTE, { channel: 'fds' });
    await h.start();
    h.send('开始计算');
    assert.equal(await h.nextMessage(), 4999950000);
    h.stop();
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
    assert.match(h.stdoutLog, new RegExp(`子进程PID ${h.proc.pid}`));
    assert.equal(h.stderr, '');
  });

  it('a child writing to stdout every way still completes its exchanges', async () => {
    const h = start(path.join(FIX, 'fork_writes.js'), { channel: 'fds' });
    await h.start();
    for (const m of ['one', 'two']) {
      h.send(m);
      assert.deepEqual(await h.nextMessage(), { done: m, stdoutIsTTY: false });
    }
    h.stop();
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
    assert.equal(h.stdoutLog, ['one', 'two'].map((m) => `console.log ${m}\nprocess.stdout.write ${m}\nfs.writeSync(1) ${m}\n`).join(''));
  });
});

describe('register.js: messages wait for the first listener', { timeout: 60000 }, () => {
  it('an ES module child whose listener comes after a top-level await gets the first message', async () => {
    const h = start(path.join(FIX, 'fork_esm_tla.mjs'), { channel: 'fds' });
    await h.start();
    h.send('first'); // at once, as tinypool's parent does
    h.send('second');
    assert.deepEqual(await h.nextMessage(), { echo: 'first' });
    assert.deepEqual(await h.nextMessage(), { echo: 'second' });
    h.stop();
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
  });

  it('a listener added after $ready still gets what came before it, in order', async () => {
    const h = start(path.join(FIX, 'fork_late_listener.js'));
    await h.start();
    h.send(1);
    h.send(2);
    assert.deepEqual(await h.nextMessage(), { late: 1 });
    assert.deepEqual(await h.nextMessage(), { late: 2 });
    h.stop();
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
  });

  it("tinypool's own child_process worker (an ES module) serves a task under register.js", async () => {
    const h = start(TINYPOOL_ENTRY, { channel: 'fds', env: { TINYPOOL_WORKER_ID: '1' } });
    await h.start();
    const filename = pathToFileURL(path.join(FIX, 'tinypool_task.mjs')).href;
    h.send({ __tinypool_worker_message__: true, source: 'pool', filename, name: 'default' });
    assert.deepEqual(await h.nextMessage(), { ready: true, source: 'pool', __tinypool_worker_message__: true });
    h.send({ __tinypool_worker_message__: true, source: 'port', taskId: 7, task: 21, filename, name: 'default' });
    const done = await h.nextMessage();
    assert.equal(done.taskId, 7);
    assert.equal(done.error, null);
    assert.equal(done.result.doubled, 42);
    h.stop();
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
  });
});

describe('register.js: nested forks talk to their real parent', { timeout: 60000 }, () => {
  for (const how of ['--require', 'NODE_OPTIONS']) {
    it(`tinypool (child_process runtime) and worker-farm inside a register.js child (${how})`, async () => {
      const args = how === '--require' ? ['--require', REGISTER, path.join(FIX, 'fork_nested.mjs')] : [path.join(FIX, 'fork_nested.mjs')];
      const env = how === 'NODE_OPTIONS' ? { NODE_OPTIONS: `--require "${REGISTER}" --no-warnings` } : {};
      const h = new TestHost(args, { channel: 'fds', env });
      hosts.push(h);
      await h.start();
      h.send(5);
      const r = await h.nextMessage();
      assert.equal(r.error, undefined, r.error);
      assert.equal(r.tinypool.doubled, 10);
      assert.equal(r.farmed.tripled, 15);
      for (const g of [r.tinypool, r.farmed]) {
        assert.equal(g.ppid, r.me);
        assert.ok(!g.execArgv.some((a) => a.includes('register')), JSON.stringify(g.execArgv));
        assert.deepEqual(g.polyfork, []);
      }
      // worker-farm passes process.env on (what is left of NODE_OPTIONS with it); tinypool
      // gives its workers an environment of their own.
      assert.equal(r.farmed.nodeOptions, how === 'NODE_OPTIONS' ? '--no-warnings' : null);
      h.send(0); // the fixture's last message: it ends its pools and disconnects
      await h.nextMessage();
      assert.deepEqual(await h.wait(), { code: 0, signal: null });
    });
  }
});

describe('register.js: values and process.channel as under Node\'s fork', { timeout: 60000 }, () => {
  it('what msgpack cannot hold arrives as Node\'s JSON IPC would deliver it; the rest stays', async () => {
    const h = start(path.join(FIX, 'fork_values.js'));
    await h.start();
    h.send('values');
    const v = await h.nextMessage();
    assert.deepEqual(v, {
      error: { code: 'E_X' },
      set: {},
      regexp: {},
      floats: { 0: 1.5 },
      list: [null, null, null, 1],
      custom: 'from toJSON',
      badDate: null,
      lone: 'a\ufffdb',
      date: new Date(0),
      bytes: Buffer.from('hi'),
      map: new Map([[1, 'one']]),
      big: 2n ** 60n,
    });
    h.send('checks');
    assert.deepEqual(await h.nextMessage(), {
      undefined: 'ERR_MISSING_ARGS',
      function: 'ERR_INVALID_ARG_TYPE',
      bigint: 'ERR_INVALID_ARG_TYPE',
      symbol: 'ERR_INVALID_ARG_TYPE',
      cycle: 'TypeError: Converting circular structure to JSON',
    });
    h.stop();
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
  });

  it('process.channel has ref/unref; unref() lets the process end with a listener in place', async () => {
    const h = start(path.join(FIX, 'fork_values.js'));
    await h.start();
    h.send('channel');
    assert.deepEqual(await h.nextMessage(), { channel: 'object', ref: 'function', unref: 'function', fd: 'number' });
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
  });

  it('the polyfork API answers the same values with a clear error, per call', async () => {
    const h = new TestHost([path.join(FIX, 'misbehave.js'), 'bad-result']);
    hosts.push(h);
    await h.start();
    const err = await h.call('fn').catch((e) => e);
    assert.ok(err instanceof RemoteError);
    assert.match(err.message, /cannot encode a function in msgpack at result/);
    h.closeStdin();
    assert.equal((await h.wait()).code, 0);
  });

  it('a getter, Proxy trap or toJSON() that throws while the result is read: an error naming where', async () => {
    const h = new TestHost([path.join(FIX, 'misbehave.js'), 'bad-result']);
    hosts.push(h);
    await h.start();
    const want = {
      getter: 'threw Error: getter failed while the value was read at result.a[1].x',
      proxy: 'threw RangeError: trap failed while the value was read at result[1].p',
      revoked: 'threw TypeError: Cannot perform \'IsArray\' on a proxy that has been revoked while the value was read at result.list[0]',
      tojson: 'threw TypeError: toJSON failed while the value was read at result.when[1]',
      'throws-null': 'threw the non-Error value null while the value was read at result[0].y',
    };
    for (const [kind, words] of Object.entries(want)) {
      const err = await h.call('throwing', kind).catch((e) => e);
      assert.ok(err instanceof RemoteError, `${kind}: ${err}`);
      assert.equal(err.type, 'ValueError', kind);
      assert.equal(err.message, `cannot send the result of "throwing": a getter, Proxy trap or toJSON() ${words}`);
    }
    // Sending such a value throws the same error to the caller, named from the value sent.
    assert.deepEqual(await h.call('sendThrowing', 'send'), {
      name: 'ValueError', path: 'value.a[1].x', cause: 'Error: getter failed',
      message: 'a getter, Proxy trap or toJSON() threw Error: getter failed while the value was read at value.a[1].x',
    });
    assert.equal((await h.call('sendThrowing', 'notify')).path, 'params[1].a[1].x');
    assert.equal((await h.call('sendThrowing', 'call')).path, 'params[0].a[1].x');
    assert.equal(await h.call('ok'), 'ok'); // the worker serves on
    h.closeStdin();
    assert.equal((await h.wait()).code, 0);
  });
});
