'use strict';

// The conformance child of SPEC.md section 9, served with the public API of polyfork.
// Run by the Go cross-language tests and by test/child.test.js.

// polyfork first: in "js" stdio mode it patches child_process, which only reaches code
// that looks up child_process functions after it loaded.
const polyfork = require('..');
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const tty = require('node:tty');
const { setTimeout: delay } = require('node:timers/promises');

/** The user-defined error class the `fail` method raises. */
class ConformanceError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ConformanceError';
  }
}

polyfork.handle('echo', (v) => v);

polyfork.handle('add', (a, b) => a + b);

polyfork.handle('fail', (message) => {
  throw new ConformanceError(message);
});

polyfork.handle('sleep', async function sleep(ms) {
  try {
    await delay(ms, undefined, { signal: this.signal });
  } catch (err) {
    if (this.cancelled) polyfork.notify('cancelled', ms); // by the host, not a session that ended
    throw err;
  }
  return 'slept';
});

polyfork.handle('call_host', (method, params) => polyfork.request(method, params));

polyfork.handle('print', (text) => {
  console.log(text);
  process.stdout.write(`${text}\n`);
  spawnSync('sh', ['-c', 'printf "%s\\n" "$1"', 'sh', text], { stdio: 'inherit' });
  return true;
});

polyfork.handle('stderr', (text) => {
  process.stderr.write(`${text}\n`);
  return true;
});

polyfork.handle('exit', (code) => {
  process.exit(code);
});

polyfork.handle('pid', () => process.pid);

polyfork.handle('isatty', () => [0, 1, 2].map((fd) => tty.isatty(fd)));

polyfork.handle('write_fd1', (text) => {
  fs.writeSync(1, Buffer.from(text, 'utf8'));
  return true;
});

polyfork.handle('env', (name) => process.env[name] ?? null);

polyfork.handle('fds', () => {
  // Listing /proc/self/fd opens a descriptor of its own, closed again by the time the
  // list is back: keep only those still open.
  const listed = fs.readdirSync('/proc/self/fd').map(Number);
  return listed.filter((fd) => {
    try {
      fs.fstatSync(fd);
      return true;
    } catch {
      return false;
    }
  }).sort((a, b) => a - b);
});

polyfork.handle('listeners', () => polyfork.listenFds().map((s) => s.name));

polyfork.on('message', (value) => polyfork.send(value));
