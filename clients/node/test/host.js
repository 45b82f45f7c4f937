'use strict';

// A small polyfork host in JavaScript for the tests: it starts a real child process, frames
// messages over the child's stdin and stdout (never Node's IPC), checks that the first
// frame is $ready, and records stderr and the exit status.
//
// Two transports: 'socket' (Node's child_process pipes, which are socketpairs, so the child
// runs in its "js" stdio mode) and 'fifo' (real pipes for stdin, stdout and stderr, as the
// Go and Python hosts make them, so the child runs in its "fd" mode).

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { Connection } = require('../lib/connection');
const { parseMessage } = require('../lib/message');

const NODE = process.env.POLYFORK_NODE || process.execPath;
const HERE = __dirname;

/** The conformance child's path. */
const CONFORMANCE = path.join(HERE, 'conformance_child.js');

/**
 * Opens a FIFO pair for one direction: returns the parent's end and the child's end.
 * @param {string} dir
 * @param {string} name
 * @param {'toChild' | 'fromChild'} dir2
 */
function fifo(dir, name, dir2) {
  const p = path.join(dir, name);
  const r = spawnSyncOk('mkfifo', [p]);
  if (!r) throw new Error('mkfifo failed');
  const readEnd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writeEnd = fs.openSync(p, fs.constants.O_WRONLY);
  fs.unlinkSync(p);
  return dir2 === 'toChild' ? { parent: writeEnd, child: readEnd } : { parent: readEnd, child: writeEnd };
}

function spawnSyncOk(cmd, args) {
  return require('node:child_process').spawnSync(cmd, args).status === 0;
}

/**
 * A child process under test.
 */
class TestHost {
  /**
   * @param {string[]} args node arguments (script and its args)
   * @param {object} [opts]
   * @param {'socket' | 'fifo'} [opts.transport] stdio pipes: socketpairs (Node's) or real pipes
   * @param {'stdio' | 'fds' | 'socket-fd'} [opts.channel] frames over stdin/stdout, or over
   *   two pipes of their own after the listening sockets (SPEC section 1.1,
   *   POLYFORK_CHANNEL_FDS), or over one socket passed as both (`r,r`); with either of the
   *   last two, stdin is /dev/null and stdout a pipe read as a log (`stdoutLog`), like stderr
   * @param {number[]} [opts.listen] descriptors of listening sockets, passed as 3, 4, ...
   * @param {Record<string, string | undefined>} [opts.env] extra environment (undefined
   *   removes a variable)
   * @param {string} [opts.cmd] the program (default: node)
   */
  constructor(args, { transport = 'socket', channel = 'stdio', listen = [], env = {}, cmd = NODE } = {}) {
    this.stderr = '';
    this.stdoutLog = '';
    this.frames = [];
    this.messages = [];
    this.messageWaiters = [];
    this.notifications = [];
    const chanFds = `${3 + listen.length},${4 + listen.length}`;
    const fullEnv = { ...process.env, POLYFORK_PROTOCOL: '1', ...(channel === 'fds' ? { POLYFORK_CHANNEL_FDS: chanFds } : {}), ...env };
    for (const [k, v] of Object.entries(fullEnv)) if (v === undefined) delete fullEnv[k];
    if (channel === 'socket-fd' && env.POLYFORK_CHANNEL_FDS === undefined) delete fullEnv.POLYFORK_CHANNEL_FDS;
    let stdin;
    let stdout;
    if (channel === 'socket-fd') {
      const fd = 3 + listen.length;
      fullEnv.POLYFORK_CHANNEL_FDS = `${fd},${fd}`;
      this.proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe', ...listen, 'pipe'], env: fullEnv });
      stdin = this.proc.stdio[fd];
      stdout = this.proc.stdio[fd];
      this.stderrStream = this.proc.stderr;
      this.logStream = this.proc.stdout;
      this.logStream.setEncoding('utf8');
      this.logStream.on('data', (d) => { this.stdoutLog += d; });
      this.logDone = new Promise((resolve) => this.logStream.on('close', resolve));
    } else if (channel === 'fds') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'polyfork-test-'));
      const a = fifo(dir, 'in', 'toChild');
      const b = fifo(dir, 'out', 'fromChild');
      const log = fifo(dir, 'log', 'fromChild');
      const c = fifo(dir, 'err', 'fromChild');
      fs.rmdirSync(dir);
      this.proc = spawn(cmd, args, { stdio: ['ignore', log.child, c.child, ...listen, a.child, b.child], env: fullEnv });
      for (const x of [a, b, log, c]) fs.closeSync(x.child);
      /** [dev, ino] of the channel's two pipes, to find them in other processes. */
      this.channelIds = [a.parent, b.parent].map((fd) => { const st = fs.fstatSync(fd); return [st.dev, st.ino]; });
      stdin = new net.Socket({ fd: a.parent, readable: false, writable: true });
      stdout = new net.Socket({ fd: b.parent, readable: true, writable: false });
      this.stderrStream = new net.Socket({ fd: c.parent, readable: true, writable: false });
      this.logStream = new net.Socket({ fd: log.parent, readable: true, writable: false });
      this.logStream.setEncoding('utf8');
      this.logStream.on('data', (d) => { this.stdoutLog += d; });
      this.logDone = new Promise((resolve) => this.logStream.on('close', resolve));
    } else if (transport === 'fifo') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'polyfork-test-'));
      const a = fifo(dir, 'in', 'toChild');
      const b = fifo(dir, 'out', 'fromChild');
      const c = fifo(dir, 'err', 'fromChild');
      fs.rmdirSync(dir);
      this.proc = spawn(cmd, args, { stdio: [a.child, b.child, c.child, ...listen], env: fullEnv });
      fs.closeSync(a.child);
      fs.closeSync(b.child);
      fs.closeSync(c.child);
      stdin = new net.Socket({ fd: a.parent, readable: false, writable: true });
      stdout = new net.Socket({ fd: b.parent, readable: true, writable: false });
      this.stderrStream = new net.Socket({ fd: c.parent, readable: true, writable: false });
    } else {
      this.proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe', ...listen], env: fullEnv });
      stdin = this.proc.stdin;
      stdout = this.proc.stdout;
      this.stderrStream = this.proc.stderr;
    }
    this.stdin = stdin;
    this.stdout = stdout;
    stdin.on('error', () => {}); // EPIPE once the child is gone
    this.stderrStream.setEncoding('utf8');
    this.stderrStream.on('data', (d) => { this.stderr += d; });
    this.stderrDone = new Promise((resolve) => this.stderrStream.on('close', resolve));
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => resolve({ code, signal }));
    });
    this.ready = new Promise((resolve, reject) => {
      this.readyResolve = resolve;
      this.readyReject = reject;
    });
    const conn = new Connection(stdout, stdin);
    this.conn = conn;
    const host = this;
    const onFrame = conn.onFrame.bind(conn);
    conn.onFrame = function (buf, start = 0, end = buf.length) {
      const body = buf.subarray(start, end);
      host.frames.push(Buffer.from(body));
      if (host.frames.length === 1) {
        const m = parseMessage(body);
        if (m.kind !== 2 || m.method !== '$ready') {
          host.readyReject(new Error(`first frame is not $ready: ${JSON.stringify(m)}`));
        } else {
          host.readyResolve(m.params[0]);
        }
        return;
      }
      onFrame(body);
    };
    conn.on('message', (v) => {
      this.messages.push(v);
      const w = this.messageWaiters.shift();
      if (w) w();
    });
    conn.onClose((err) => {
      if (err) this.protocolError = err;
      this.readyReject(err || new Error('the child closed stdout before $ready'));
    });
    conn.onStop(() => this.readyReject(new Error('the child closed stdout before $ready')));
    conn.listen();
    this.ready.catch(() => {});
  }

  /** Waits for $ready and returns its map. */
  async start() {
    return this.ready;
  }

  /** Calls a child method. */
  call(method, ...params) {
    return this.conn.request(method, params);
  }

  /** Sends a value as a message. */
  send(value) {
    this.conn.send(value);
  }

  /** Resolves with the next message value the child sends (in order). */
  async nextMessage() {
    if (this.messages.length === 0) await new Promise((resolve) => this.messageWaiters.push(resolve));
    return this.messages.shift();
  }

  /** Resolves with the params of the next notification named `name`. */
  nextNotification(name) {
    return new Promise((resolve) => {
      const d = this.conn.on(name, (...params) => {
        d.dispose();
        resolve(params);
      });
    });
  }

  /** Sends $stop. */
  stop() {
    this.conn.notify('$stop');
  }

  /** Writes raw bytes to the child's stdin. */
  writeRaw(buf) {
    this.stdin.write(buf);
  }

  /** Closes the child's stdin (end of file). */
  closeStdin() {
    this.stdin.end();
  }

  /** Waits for the exit and the end of stderr; returns {code, signal}. */
  async wait() {
    const st = await this.exited;
    await this.stderrDone;
    if (this.logDone) await this.logDone;
    return st;
  }

  /** Kills the child if still running (test cleanup). */
  kill() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
    this.stdout.destroy();
    this.stdin.destroy();
    this.stderrStream.destroy();
    if (this.logStream) this.logStream.destroy();
  }
}

module.exports = { TestHost, CONFORMANCE, NODE };
