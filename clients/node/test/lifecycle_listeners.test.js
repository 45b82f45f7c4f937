'use strict';

// At $stop or the end of the input, an async 'message' listener still running finishes
// before the exit, and what it sends goes out, as in Python (which awaits it) and as for
// handlers; a call it makes to the host then fails at once. The process exited as soon
// as no handler ran, so the reply to the host's last message was lost (`echo '"x"' |
// polyfork send -- node worker.js` printed nothing), and a call made after the end of
// the input never settled.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { TestHost } = require('./host');

const hosts = [];
after(() => { for (const h of hosts) h.kill(); });

describe('async listeners at the end of the input', () => {
  it("finish, and their send goes out; their call to the host fails at once", async () => {
    const h = new TestHost([path.join(__dirname, 'fixtures', 'async_listener.js')]);
    hosts.push(h);
    await h.start();
    await new Promise((resolve, reject) => h.conn.send('x', (err) => (err ? reject(err) : resolve())));
    h.closeStdin();
    const st = await h.wait();
    assert.deepEqual(st, { code: 0, signal: null }, h.stderr);
    assert.deepEqual(h.messages, [{
      late: 'x',
      called: 'cannot call "lookup": the peer closed the channel, so no answer can come',
    }], h.stderr);
  });
});
