'use strict';

// Fork compatibility: the seed's compute.js, unmodified, under --require register.js.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const { TestHost } = require('./host');

const REGISTER = path.join(__dirname, '..', 'register.js');
const COMPUTE = path.join(__dirname, 'fixtures', 'compute.js');
const FORKISH = path.join(__dirname, 'fixtures', 'forkish.js');

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
