'use strict';

// When $ready goes out: once the main module has loaded (an ES module: after its top-level
// await), at run(setup)'s end, or at the first call to the host, whichever comes first.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { TestHost } = require('./host');

const FIX = path.join(__dirname, 'fixtures');

const hosts = [];
after(() => { for (const h of hosts) h.kill(); });
function start(args, opts) {
  const h = new TestHost(args, opts);
  hosts.push(h);
  return h;
}

describe('$ready', () => {
  it('an ES module: after its top-level await, so handlers registered after it are found', async () => {
    const h = start([path.join(FIX, 'start_esm_tla.mjs')]);
    await h.start();
    // The host calls at once, as a pool does.
    assert.equal(await h.call('late'), 'registered after the await');
    h.closeStdin();
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
  });

  it('an ES module whose top-level await calls the host: the call sends $ready', async () => {
    const h = start([path.join(FIX, 'start_esm_calls_host.mjs')]);
    h.conn.handle('config', () => ({ answer: 42 }));
    await h.start();
    // The handler registered after the call is there once the host's answer got back.
    let got;
    for (;;) {
      got = await h.call('config').catch((e) => e);
      if (!(got instanceof Error && got.type === 'MethodNotFound')) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(got, { answer: 42 });
    h.closeStdin();
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
  });

  it('run(setup): after setup resolved', async () => {
    const h = start([path.join(FIX, 'start_run.js')]);
    await h.start();
    assert.equal(await h.call('late'), 'registered in setup');
    h.closeStdin();
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
  });

  it('run(setup): a setup that fails sends no $ready and ends the process', async () => {
    const h = start([path.join(FIX, 'start_run.js'), 'fails']);
    await assert.rejects(h.start(), /closed stdout before \$ready/);
    assert.equal((await h.wait()).code, 1);
    assert.match(h.stderr, /Error: set-up failed/);
    assert.equal(h.frames.length, 0);
  });
});
