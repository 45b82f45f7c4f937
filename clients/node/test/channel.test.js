'use strict';

// SPEC section 1.1: the channel on descriptors of its own (POLYFORK_CHANNEL_FDS=<r>,<w>).
// The test host passes two pipes after the standard three (or one socket as both); stdin is
// /dev/null and stdout a pipe it reads as a log. The child must leave descriptors 0 and 1
// and process.stdout alone, remove the variable, and keep the channel from its subprocesses.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { TestHost, CONFORMANCE } = require('./host');

const MISBEHAVE = path.join(__dirname, 'fixtures', 'misbehave.js');

const hosts = [];
after(() => { for (const h of hosts) h.kill(); });
function start(args, opts) {
  const h = new TestHost(args, opts);
  hosts.push(h);
  return h;
}

for (const channel of ['fds', 'socket-fd']) {
  describe(`channel on descriptors (${channel})`, () => {
    it('serves the conformance child; stdout, console and fd 1 stay the process\'s own', async () => {
      const h = start([CONFORMANCE], { channel });
      const ready = await h.start();
      assert.equal(ready.pid, h.proc.pid);
      assert.equal(await h.call('add', 40, 2), 42);
      assert.equal(await h.call('print', 'printed'), true); // console.log, process.stdout, a subprocess
      assert.equal(await h.call('write_fd1', 'straight to fd 1\n'), true);
      assert.equal(await h.call('stderr', 'to stderr'), true);
      assert.deepEqual(await h.call('echo', { still: ['fine'] }), { still: ['fine'] });
      h.send('msg');
      assert.equal(await h.nextMessage(), 'msg');
      assert.deepEqual(await h.call('isatty'), [false, false, false]);
      assert.equal(await h.call('env', 'POLYFORK_CHANNEL_FDS'), null);
      assert.equal(await h.call('env', 'POLYFORK_PROTOCOL'), '1');
      assert.deepEqual(await h.call('listeners'), []);
      const fds = await h.call('fds');
      assert.deepEqual(fds.slice(0, 3), [0, 1, 2]);
      h.closeStdin();
      assert.deepEqual(await h.wait(), { code: 0, signal: null });
      // All of it reached the log pipe, in order; none of it the channel.
      assert.equal(h.stdoutLog, 'printed\nprinted\nprinted\nstraight to fd 1\n');
      assert.equal(h.stderr, 'to stderr\n');
    });

    it('exits 0 on $stop once running handlers are done', async () => {
      const h = start([MISBEHAVE, 'slow-stop'], { channel });
      await h.start();
      const slow = h.call('slow', 50);
      h.stop();
      assert.equal(await slow, 'done');
      assert.deepEqual(await h.wait(), { code: 0, signal: null });
    });
  });
}

describe('channel on descriptors: what subprocesses inherit', () => {
  // Node marks inherited descriptors close-on-exec at start-up, up to the first gap after
  // 15; the channel at 20,21 after a gap is past that, so the library must see to it.
  for (const [where, listen] of [['3,4', []], ['20,21, after a gap', new Array(17).fill('ignore')]]) {
    it(`neither the channel pipes nor POLYFORK_CHANNEL_FDS (channel at ${where})`, async () => {
      const h = start([MISBEHAVE, 'spawn-report'], { channel: 'fds', listen });
      await h.start();
      const { fds, env } = await h.call('spawn');
      const channel = new Set(h.channelIds.map(([dev, ino]) => `${dev}:${ino}`));
      const leaked = fds.filter(([, dev, ino]) => channel.has(`${dev}:${ino}`));
      assert.deepEqual(leaked, [], `the subprocess holds the channel on ${JSON.stringify(leaked)}`);
      assert.equal(env.POLYFORK_CHANNEL_FDS, undefined);
      h.closeStdin();
      assert.equal((await h.wait()).code, 0);
    });
  }
});

describe('channel on descriptors: bad values are start-up errors of one line', () => {
  const cases = [
    ['three', /^polyfork: POLYFORK_CHANNEL_FDS must be two descriptor numbers "<r>,<w>", got "three"\n$/],
    ['3', /^polyfork: POLYFORK_CHANNEL_FDS must be two descriptor numbers "<r>,<w>", got "3"\n$/],
    ['3,-4', /^polyfork: POLYFORK_CHANNEL_FDS must be two descriptor numbers "<r>,<w>", got "3,-4"\n$/],
    ['60,61', /^polyfork: POLYFORK_CHANNEL_FDS=60,61: descriptor 60 is not open \(EBADF\)\n$/],
  ];
  for (const [value, says] of cases) {
    it(`POLYFORK_CHANNEL_FDS=${value}`, async () => {
      const h = start([CONFORMANCE], { env: { POLYFORK_CHANNEL_FDS: value } });
      await h.start().catch(() => {});
      assert.equal((await h.wait()).code, 2);
      assert.match(h.stderr, says);
    });
  }
});
