'use strict';

/**
 * The child runtime: the one Connection of a process started by a polyfork host, on the
 * process's stdin and stdout. It moves the channel off descriptors 0 and 1 (stdio.js),
 * sends `$ready` as the first frame once the script has loaded, and exits with status 0
 * after `$stop` or the end of stdin once running handlers have finished and their
 * responses are written. A protocol error is reported on stderr and ends the process with
 * status 2.
 * @module polyfork/child
 */

const net = require('node:net');
const fs = require('node:fs');
const { Connection } = require('./connection');
const { DEFAULT_MAX_FRAME_SIZE } = require('./encode');
const { takeStdio } = require('./stdio');

/** The library name and version sent in `$ready`: the package's own version. */
const LIB = `polyfork-node/${require('../package.json').version}`;
/** The protocol version this library speaks. */
const PROTOCOL = 1;
/** Exit status after a protocol error. */
const EXIT_PROTOCOL_ERROR = 2;

let runtime = null;

/**
 * Reads POLYFORK_MAX_FRAME_SIZE (bytes); absent or empty means 64 MiB.
 * @returns {number}
 * @throws {Error} naming the variable and its value when it is not a positive integer
 */
function maxFrameSizeFromEnv() {
  const raw = process.env.POLYFORK_MAX_FRAME_SIZE;
  if (raw === undefined || raw === '') return DEFAULT_MAX_FRAME_SIZE;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new Error(`polyfork: POLYFORK_MAX_FRAME_SIZE must be a positive integer number of bytes, got ${JSON.stringify(raw)}`);
  }
  return n;
}

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
 * The process-wide child runtime.
 */
class ChildRuntime {
  constructor() {
    const maxFrameSize = maxFrameSizeFromEnv();
    const { inFd, outFd, mode } = takeStdio();
    /** How stdout was taken over: 'fd' or 'js' (see stdio.js). */
    this.stdioMode = mode;
    this.output = new net.Socket({ fd: outFd, readable: false, writable: true });
    // The output socket must never keep the process alive on its own.
    this.output.unref();
    /** The Connection to the host; it reads the input with onread, straight into frame memory. */
    this.connection = new Connection((onread) => new net.Socket({ fd: inFd, readable: true, writable: false, onread }),
      this.output, { maxFrameSize, hold: true, log: logLine });
    /** The input socket. */
    this.input = this.connection.readable;
    /** Whether the process exits by itself on $stop / end of input (register.js turns it off). */
    this.exitOnStop = true;
    this.stopHooks = [];
    this.started = false;
    this.exiting = false;
    this.connection.onStop(() => this.handleStop());
    // Frames go out after the turn that made them; a process.exit() in that turn must not
    // lose them: hand them to the pipe now (a synchronous attempt, as a write used to be).
    process.on('exit', () => this.connection.writer.drain());
    this.connection.onClose((err) => {
      if (err) this.onProtocolError(err);
    });
    setImmediate(() => this.start());
  }

  /** Sends `$ready` (then anything sent before it) and starts reading requests. */
  start() {
    if (this.started) return;
    this.started = true;
    const c = this.connection;
    c.open(c.encoder.notification('$ready', [{ protocol: PROTOCOL, lang: 'node', pid: process.pid, lib: LIB }]));
    c.listen();
  }

  /**
   * Runs fn on $stop or end of input, before the process exits.
   * @param {() => void} fn
   */
  onStop(fn) {
    this.stopHooks.push(fn);
  }

  handleStop() {
    for (const fn of this.stopHooks) fn();
    if (!this.exitOnStop) return;
    this.connection.whenIdle(() => this.exit(0));
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
    this.input.destroy();
    this.connection.flush(() => process.exit(code));
  }
}

/**
 * Returns the process's child runtime, creating it (and taking over stdio) on first use.
 * @returns {ChildRuntime}
 */
function getRuntime() {
  if (runtime === null) runtime = new ChildRuntime();
  return runtime;
}

/**
 * Reports whether the child runtime has been created.
 * @returns {boolean}
 */
function hasRuntime() {
  return runtime !== null;
}

module.exports = { getRuntime, hasRuntime, maxFrameSizeFromEnv, LIB, PROTOCOL, EXIT_PROTOCOL_ERROR };
