'use strict';

/**
 * The child runtime: the one Connection of a process started by a polyfork host. The channel
 * is the process's stdin and stdout, moved off descriptors 0 and 1 (stdio.js), or the
 * descriptors named by POLYFORK_CHANNEL_FDS (channel.js), which leaves stdio alone. It sends
 * `$ready` as the first frame once the script is ready to serve (see ChildRuntime), and
 * exits with status 0 after `$stop` or the end of input once running handlers have finished
 * and their responses are written. A protocol error is reported on stderr in one line and
 * ends the process with status 2; so does a bad setting in the environment, at start.
 * @module polyfork/child
 */

const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');
const tty = require('node:tty');
const { isMainThread } = require('node:worker_threads');
const { Connection } = require('./connection');
const { readConfig, ConfigError } = require('./config');
const { openChannelFds } = require('./channel');
const { takeStdio } = require('./stdio');
const { ConnectionClosedError } = require('./errors');

/** The library name and version sent in `$ready`: the package's own version. */
const LIB = `polyfork-node/${require('../package.json').version}`;
/** The protocol version this library speaks. */
const PROTOCOL = 1;
/** Exit status after a protocol error, or a start-up error (a bad POLYFORK_* variable). */
const EXIT_PROTOCOL_ERROR = 2;

let runtime = null;

/**
 * Writes one line to stderr, synchronously (the process may be about to exit).
 * @param {string} text
 */
function logLine(text) {
  try {
    fs.writeSync(2, `${text}\n`);
  } catch {
    // stderr is gone too: nothing left to tell.
  }
}

/**
 * Returns text with its line breaks escaped, so that it is one log line.
 * @param {string} text
 * @returns {string}
 */
function oneLine(text) {
  return String(text).replace(/\r?\n/g, '\\n');
}

/**
 * Calls cb once the main module has finished loading: a CommonJS main when its code has run
 * (the turn that loads it ends), an ES module main once its evaluation settled, top-level
 * await included. Node runs an ES module main inside a `process.on('exit',
 * handleProcessExit)` that it removes when the main module's promise settles (Node 20 to 24,
 * lib/internal/modules/run_main.js); when that listener is not there, the main module has
 * loaded.
 * @param {() => void} cb
 */
function afterMainModule(cb) {
  setImmediate(() => {
    const esm = process.listeners('exit').find((fn) => fn.name === 'handleProcessExit');
    if (esm === undefined) {
      cb();
      return;
    }
    const onRemove = (event, fn) => {
      if (event !== 'exit' || fn !== esm) return;
      process.off('removeListener', onRemove);
      setImmediate(cb);
    };
    process.on('removeListener', onRemove);
  });
}

/**
 * Throws a ConfigError when fd is not a pipe or a socket, the only descriptors Node can
 * stream the channel over: a terminal (the script run by hand), a regular file or /dev/null
 * (net.Socket throws "Unsupported fd type", a stack trace where one line says it all).
 * @param {number} fd
 * @param {string} what names fd for the message
 */
function checkStreamable(fd, what) {
  let st;
  try {
    st = fs.fstatSync(fd);
  } catch {
    return; // the Connection reports what is wrong with it
  }
  if (st.isFIFO() || st.isSocket()) return;
  let kind = 'a regular file';
  if (tty.isatty(fd)) kind = 'a terminal';
  else if (st.isCharacterDevice()) kind = 'a character device (such as /dev/null)';
  else if (!st.isFile()) kind = 'neither a pipe nor a socket';
  throw new ConfigError(`polyfork: ${what} is ${kind}: a polyfork child talks to its host over pipes or sockets, so start this script from a host, such as: polyfork call METHOD '[...]' -- node ${path.basename(process.argv[1] ?? 'worker.js')}`);
}

/**
 * The process-wide child runtime.
 *
 * When `$ready` goes out: at the first of
 * - the main module has finished loading (an ES module: after its top-level await), unless
 *   the script called `run()` before: the automatic start;
 * - `ready()`, or the end of the `setup` given to `run(setup)`;
 * - the first call to the host (`call`, `request`), which could get no answer before it.
 */
class ChildRuntime {
  /**
   * @param {import('./config').Config} config
   */
  constructor(config) {
    const { maxFrameSize, maxValues, channelFds } = config;
    let inFd;
    let outFd;
    if (channelFds !== null) {
      ({ inFd, outFd } = openChannelFds(channelFds));
      // SPEC section 1.1: so that subprocesses do not take themselves for polyfork children.
      delete process.env.POLYFORK_CHANNEL_FDS;
      /** How the channel was set up: 'channel' (its own descriptors), or 'fd', 'fd+js', 'js' (stdio.js). */
      this.stdioMode = 'channel';
    } else {
      let mode;
      ({ inFd, outFd, mode } = takeStdio());
      this.stdioMode = mode;
    }
    if (channelFds !== null) {
      checkStreamable(inFd, `POLYFORK_CHANNEL_FDS=${channelFds.r},${channelFds.w}: descriptor ${channelFds.r}`);
      checkStreamable(outFd, `POLYFORK_CHANNEL_FDS=${channelFds.r},${channelFds.w}: descriptor ${channelFds.w}`);
    } else {
      checkStreamable(inFd, 'stdin');
      checkStreamable(outFd, 'stdout');
    }
    const both = inFd === outFd; // one socket both ways
    /** The Connection to the host; it reads the input with onread, straight into frame memory. */
    this.connection = new Connection(
      (onread) => new net.Socket({ fd: inFd, readable: true, writable: both, onread }),
      (input) => {
        this.output = both ? input : new net.Socket({ fd: outFd, readable: false, writable: true });
        // The output socket must never keep the process alive on its own.
        if (!both) this.output.unref();
        return this.output;
      },
      // A child stops reading requests while the host leaves its answers unread; the host
      // always reads, so this cannot deadlock (two peers that both did could).
      { maxFrameSize, maxValues, hold: true, log: logLine, pauseOnPressure: true });
    /** The input socket. */
    this.input = this.connection.readable;
    /** Whether the process exits by itself on $stop / end of input (register.js turns it off). */
    this.exitOnStop = true;
    /** Whether `$ready` goes out by itself once the main module has loaded (see run()). */
    this.autoStart = true;
    this.stopHooks = [];
    this.started = false;
    this.exiting = false;
    this.connection.onStop(() => this.handleStop());
    // Frames go out after the turn that made them; a process.exit() in that turn must not
    // lose them: hand them to the pipe now (a synchronous attempt, as a write used to be).
    process.on('exit', () => this.connection.writer.drain());
    this.connection.onClose((err) => {
      if (err === null) return;
      if (err instanceof ConnectionClosedError) this.onWriteFailed(err);
      else this.onProtocolError(err);
    });
    afterMainModule(() => {
      if (this.autoStart) this.start();
    });
  }

  /** Sends `$ready` (then anything sent before it) and starts reading requests, once. */
  start() {
    if (this.started) return;
    this.started = true;
    const c = this.connection;
    c.open(c.encoder.notification('$ready', [{ protocol: PROTOCOL, lang: 'node', pid: process.pid, lib: LIB }]));
    c.listen();
  }

  /**
   * Turns the automatic start off, waits for `setup` (a function, run now, or a promise),
   * then starts. A setup that throws or rejects rejects the returned promise and sends no
   * `$ready`.
   * @param {(() => unknown) | Promise<unknown>} [setup]
   * @returns {Promise<void>}
   */
  run(setup) {
    this.autoStart = false;
    if (setup === undefined) {
      this.start();
      return Promise.resolve();
    }
    return Promise.resolve()
      .then(() => (typeof setup === 'function' ? setup() : setup))
      .then(() => { this.start(); });
  }

  /**
   * Runs fn on $stop or end of input, before the process exits. If fn returns a promise
   * (an HTTP server finishing the requests it accepted, say), the process exits once it
   * settles and the calls in flight are answered.
   * @param {() => (void | Promise<unknown>)} fn
   */
  onStop(fn) {
    this.stopHooks.push(fn);
  }

  handleStop() {
    const pending = [];
    for (const fn of this.stopHooks) {
      try {
        const r = fn();
        if (r && typeof r.then === 'function') pending.push(Promise.resolve(r).catch((err) => logLine(`polyfork: an onStop hook failed: ${oneLine(String(err && err.message || err))}`)));
      } catch (err) {
        logLine(`polyfork: an onStop hook threw: ${oneLine(String(err && err.message || err))}`);
      }
    }
    if (!this.exitOnStop) return;
    Promise.all(pending).then(() => this.connection.whenIdle(() => this.exit(0)));
  }

  /**
   * A write to the host failed: it closed its end of the channel (docs/faults.md section 8).
   * As in Python and PHP: one line, no new handler runs (the connection is closed), exit 0.
   * @param {ConnectionClosedError} err
   */
  onWriteFailed(err) {
    const cause = err.cause;
    const why = cause && (cause.code || cause.message);
    logLine(`polyfork: the host closed the channel: writing a frame failed${why ? ` (${oneLine(why)})` : ''}; stopping`);
    this.exit(0);
  }

  onProtocolError(err) {
    // SPEC section 6: one line naming the error (the status says the session is over).
    logLine(`polyfork: ${oneLine(err.message)}`);
    this.exit(EXIT_PROTOCOL_ERROR);
  }

  /**
   * Flushes what was written, then exits with `code`.
   * @param {number} code
   */
  exit(code) {
    if (this.exiting) return;
    this.exiting = true;
    // Stop reading; a socket used both ways must stay open until the answers are out.
    if (this.input === this.output) this.connection.stopReading();
    else this.input.destroy();
    this.connection.flush(() => process.exit(code));
  }
}

/**
 * Returns the process's child runtime, creating it (and taking over the channel) on first
 * use. A bad POLYFORK_* variable is a start-up error: one line on stderr, exit status 2.
 * @returns {ChildRuntime}
 */
function getRuntime() {
  if (!isMainThread) {
    // A worker thread shares the process's descriptors: had it taken the channel, it would
    // have served the host in the main thread's place (the main thread's own use then failed
    // with ERR_INVALID_FD_TYPE and ended the process); after the main thread took it, it
    // found /dev/null on stdin and ended the thread with status 2.
    const err = new Error('polyfork: the channel to the host belongs to the main thread: a worker '
      + 'thread cannot send, call, handle or listen (post its messages to the main thread, '
      + "through worker_threads' parentPort, and let that talk to the host; polyfork/core works "
      + 'in any thread)');
    err.code = 'POLYFORK_WORKER_THREAD';
    throw err;
  }
  if (runtime === null) {
    let config;
    try {
      config = readConfig();
      runtime = new ChildRuntime(config);
    } catch (e) {
      if (e.code !== 'POLYFORK_CONFIG') throw e;
      logLine(oneLine(e.message));
      process.exit(EXIT_PROTOCOL_ERROR);
    }
  }
  return runtime;
}

/**
 * Reports whether the child runtime has been created.
 * @returns {boolean}
 */
function hasRuntime() {
  return runtime !== null;
}

module.exports = { getRuntime, hasRuntime, afterMainModule, LIB, PROTOCOL, EXIT_PROTOCOL_ERROR };
