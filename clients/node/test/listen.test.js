'use strict';

// SPEC section 1.2: listening sockets inherited as descriptors 3..., with LISTEN_FDS,
// LISTEN_PID and LISTEN_FDNAMES. The test makes a listening socket, passes it as descriptor
// 3, and sets LISTEN_PID to the child's pid with `sh -c 'LISTEN_PID=$$ exec "$@"'`.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { TestHost, CONFORMANCE, NODE } = require('./host');

const FIX = path.join(__dirname, 'fixtures');
const REGISTER = path.join(__dirname, '..', 'register.js');
const WITH_PID = ['-c', 'LISTEN_PID=$$ exec "$@"', 'sh'];

const cleanup = [];
after(() => { for (const fn of cleanup) fn(); });

/** A listening TCP socket on 127.0.0.1: its descriptor, its port, and close() for our copy. */
async function listeningSocket() {
  const srv = net.createServer();
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return { fd: srv._handle.fd, port: srv.address().port, close: () => srv.close() };
}

/** GETs / on port until the server answers (it is starting). */
async function get(port) {
  for (let i = 0; ; i++) {
    try {
      return await new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (d) => { body += d; });
          res.on('end', () => resolve(body));
        }).on('error', reject);
      });
    } catch (e) {
      // The socket listens from the start (the kernel queues the connection), so this is
      // only for a child that died: give up after a while.
      if (i > 100) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function host(args, opts) {
  const h = new TestHost(args, opts);
  cleanup.push(() => h.kill());
  return h;
}

const env = { LISTEN_FDS: '1', LISTEN_FDNAMES: 'web' };

describe('inherited listening sockets', () => {
  it('an unmodified http server .listen({fd: 3}) serves, with no host', async () => {
    const sock = await listeningSocket();
    const child = spawn('sh', [...WITH_PID, NODE, path.join(FIX, 'http_fd3.js')], { stdio: ['ignore', 'inherit', 'inherit', sock.fd], env: { ...process.env, ...env } });
    cleanup.push(() => child.kill('SIGKILL'));
    sock.close();
    assert.equal(await get(sock.port), `hello from ${child.pid}\n`);
    child.kill();
  });

  it('the same server under register.js, the channel on descriptors 4 and 5 after it', async () => {
    const sock = await listeningSocket();
    const h = host([...WITH_PID, NODE, '--require', REGISTER, path.join(FIX, 'http_fd3.js')], { cmd: 'sh', channel: 'fds', listen: [sock.fd], env });
    sock.close();
    await h.start();
    assert.equal(await get(sock.port), `hello from ${h.proc.pid}\n`);
    h.stop();
    assert.deepEqual(await h.wait(), { code: 0, signal: null });
  });

  for (const channel of ['stdio', 'fds']) {
    it(`polyfork.listenHandle(name) under a host (channel ${channel}); LISTEN_* leave the environment`, async () => {
      const sock = await listeningSocket();
      const h = host([...WITH_PID, NODE, path.join(FIX, 'http_helper.js')], { cmd: 'sh', channel, transport: 'fifo', listen: [sock.fd], env });
      sock.close();
      await h.start();
      assert.equal(await get(sock.port), `helper ${h.proc.pid} [{"fd":3,"name":"web"}] undefined\n`);
      h.closeStdin();
      assert.deepEqual(await h.wait(), { code: 0, signal: null });
    });
  }

  it('polyfork.listenHandle(name) with no host', async () => {
    const sock = await listeningSocket();
    const plain = { ...process.env, ...env };
    delete plain.POLYFORK_PROTOCOL;
    const child = spawn('sh', [...WITH_PID, NODE, path.join(FIX, 'http_helper.js')], { stdio: ['ignore', 'inherit', 'inherit', sock.fd], env: plain });
    cleanup.push(() => child.kill('SIGKILL'));
    sock.close();
    assert.equal(await get(sock.port), `helper ${child.pid} [{"fd":3,"name":"web"}] undefined\n`);
    child.kill();
  });

  it('the conformance child lists them; a LISTEN_PID of another process means none', async () => {
    const sock = await listeningSocket();
    const mine = host([...WITH_PID, NODE, CONFORMANCE], { cmd: 'sh', listen: [sock.fd], env: { ...env, LISTEN_FDS: '1', LISTEN_FDNAMES: 'web' } });
    const other = host([CONFORMANCE], { listen: [sock.fd], env: { ...env, LISTEN_PID: String(process.pid) } });
    sock.close();
    await Promise.all([mine.start(), other.start()]);
    assert.deepEqual(await mine.call('listeners'), ['web']);
    assert.equal(await mine.call('env', 'LISTEN_FDS'), null);
    assert.deepEqual(await mine.call('listeners'), ['web']); // the same, once taken
    assert.deepEqual(await other.call('listeners'), []);
    assert.equal(await other.call('env', 'LISTEN_FDS'), '1'); // not ours: left alone
    mine.closeStdin();
    other.closeStdin();
    assert.equal((await mine.wait()).code, 0);
    assert.equal((await other.wait()).code, 0);
  });
});
