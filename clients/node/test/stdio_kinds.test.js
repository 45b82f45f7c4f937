'use strict';

// A child whose stdin or stdout is neither a pipe nor a socket (the script run by hand in a
// terminal, stdin from /dev/null, stdout into a file) cannot serve the channel: it says so
// on one line of stderr and exits with status 2. It threw net.Socket's TypeError
// "Unsupported fd type: FILE" (or TTY) with a stack trace.

const { describe, it } = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const CHILD = path.join(__dirname, 'conformance_child.js');

function run(stdio) {
  const env = { ...process.env, POLYFORK_PROTOCOL: '1' };
  delete env.POLYFORK_CHANNEL_FDS;
  const r = spawnSync(process.execPath, [CHILD], {
    stdio,
    env,
    encoding: 'utf8',
    timeout: 30000,
  });
  return { status: r.status, signal: r.signal, stderr: r.stderr };
}

describe('stdio that is not a pipe', () => {
  it('stdin from /dev/null: one line naming it, status 2', () => {
    const r = run(['ignore', 'pipe', 'pipe']);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^polyfork: stdin is a character device \(such as \/dev\/null\): a polyfork child talks to its host over pipes or sockets, so start this script from a host, such as: polyfork call METHOD '\[\.\.\.\]' -- node conformance_child\.js\n$/);
  });

  it('stdout into a file: one line naming it, status 2', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'polyfork-stdio-'));
    const out = fs.openSync(path.join(dir, 'out'), 'w');
    try {
      const r = run(['pipe', out, 'pipe']);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^polyfork: stdout is a regular file: /);
      assert.equal(r.stderr.split('\n').length, 2, r.stderr);
      assert.equal(fs.readFileSync(path.join(dir, 'out'), 'utf8'), '', 'nothing written');
    } finally {
      fs.closeSync(out);
      fs.rmSync(dir, { recursive: true });
    }
  });
});
