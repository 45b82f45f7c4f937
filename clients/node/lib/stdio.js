'use strict';

/**
 * Takes the protocol off file descriptors 0 and 1 so that nothing else in the process can
 * read or write it (SPEC.md section 1). Node has no dup2, so:
 *
 * - "fd" mode, when stdin and stdout are pipes (as the Go and Python hosts make them) and
 *   /proc is mounted: open /proc/self/fd/0 and /proc/self/fd/1, which gives the channel its
 *   own descriptors on the same pipes, then close 0 and 1 and open /dev/null and
 *   /proc/self/fd/2 in their place (open returns the lowest free descriptor). From then on
 *   console.log, process.stdout, fs.writeSync(1), and any subprocess that inherits
 *   stdout write to stderr, and whatever reads stdin reads /dev/null. When stderr is a
 *   regular file not opened for appending, or a socket, descriptor 1 points at /dev/null
 *   instead and process.stdout is redirected as in "js" mode ("fd+js").
 * - "js" mode otherwise (stdin or stdout is a socket, as Node's own child_process makes
 *   them, or /proc is missing): the channel keeps descriptors 0 and 1; process.stdout and
 *   process.stdin are replaced by process.stderr and an empty stream, and child_process is
 *   patched so that a subprocess given 'inherit' (or fd 0/1, or process.stdout) gets
 *   /dev/null for stdin and stderr for stdout. Direct writes to descriptor 1
 *   (fs.writeSync(1, ...), native addons) are not covered in this mode.
 * @module polyfork/stdio
 */

const fs = require('node:fs');
const { PassThrough } = require('node:stream');

const { O_RDONLY, O_WRONLY, O_NONBLOCK, O_APPEND } = fs.constants;

/**
 * Moves the channel off descriptors 0 and 1 as described above. Call once, as early as
 * possible.
 * @returns {{inFd: number, outFd: number, mode: 'fd' | 'fd+js' | 'js'}}
 */
function takeStdio() {
  const channel = privateChannel();
  if (channel === null) {
    redirectJs();
    return { inFd: 0, outFd: 1, mode: 'js' };
  }
  replaceFd(0, '/dev/null', O_RDONLY);
  if (stderrReopenable()) {
    replaceFd(1, '/proc/self/fd/2', O_WRONLY | O_APPEND);
    return { ...channel, mode: 'fd' };
  }
  // stderr is a socket, or a file whose offset a second description would clobber: point
  // descriptor 1 at /dev/null and send process.stdout and subprocesses to stderr in JS.
  replaceFd(1, '/dev/null', O_WRONLY);
  redirectJs();
  return { ...channel, mode: 'fd+js' };
}

/** Opens private descriptors on the stdin and stdout pipes, or returns null. */
function privateChannel() {
  let inFd = -1;
  try {
    if (!fs.fstatSync(0).isFIFO() || !fs.fstatSync(1).isFIFO()) return null;
    // O_NONBLOCK: opening a pipe end whose other end is closed must not block.
    inFd = fs.openSync('/proc/self/fd/0', O_RDONLY | O_NONBLOCK);
    const outFd = fs.openSync('/proc/self/fd/1', O_WRONLY | O_NONBLOCK);
    return { inFd, outFd };
  } catch {
    if (inFd >= 0) fs.closeSync(inFd);
    return null;
  }
}

/**
 * Reports whether opening /proc/self/fd/2 gives a descriptor that writes where stderr
 * does without clobbering it: a pipe or a terminal, or a file opened for appending.
 */
function stderrReopenable() {
  try {
    const st = fs.fstatSync(2);
    if (st.isFile()) {
      const info = fs.readFileSync('/proc/self/fdinfo/2', 'latin1');
      const m = /^flags:\s*([0-7]+)/m.exec(info);
      if (!m || (parseInt(m[1], 8) & O_APPEND) === 0) return false;
    } else if (!st.isFIFO() && !st.isCharacterDevice()) {
      return false;
    }
    fs.closeSync(fs.openSync('/proc/self/fd/2', O_WRONLY | O_APPEND | O_NONBLOCK));
    return true;
  } catch {
    return false;
  }
}

/** Closes fd and opens path so that it takes the number fd. */
function replaceFd(fd, path, flags) {
  fs.closeSync(fd);
  let got = -1;
  try {
    got = fs.openSync(path, flags);
  } catch {
    got = fs.openSync('/dev/null', flags & O_WRONLY ? O_WRONLY : O_RDONLY);
  }
  if (got !== fd) {
    // Another thread took the number first (libuv's pool opening a file): extremely unlikely
    // at start-up; leave both descriptors as they are rather than guess.
    process.emitWarning(`polyfork: could not move descriptor ${fd} (got ${got}); output to it may be lost`);
  }
}

function redirectJs() {
  const stderr = process.stderr;
  Object.defineProperty(process, 'stdout', { configurable: true, enumerable: true, get: () => stderr });
  const empty = new PassThrough();
  empty.end();
  Object.defineProperty(process, 'stdin', { configurable: true, enumerable: true, get: () => empty });
  patchChildProcess();
}

/** Rewrites a stdio option so that a subprocess cannot touch the channel. */
function safeStdio(stdio) {
  if (stdio === undefined || stdio === null) return stdio;
  const list = typeof stdio === 'string' ? [stdio, stdio, stdio] : Array.from(stdio);
  if (list[0] === 'inherit' || list[0] === 0 || list[0] === process.stdin) list[0] = 'ignore';
  if (list[1] === 'inherit' || list[1] === 1 || list[1] === process.stdout) list[1] = 2;
  if (list[2] === 'inherit') list[2] = 2;
  return list;
}

function patchChildProcess() {
  const cp = require('node:child_process');
  const proto = cp.ChildProcess.prototype;
  if (proto.spawn.polyforkPatched) return;
  const spawn = proto.spawn;
  // Every asynchronous API (spawn, exec, execFile, fork) ends here with normalized options.
  proto.spawn = function polyforkSpawn(options) {
    if (options && options.stdio !== undefined) options = { ...options, stdio: safeStdio(options.stdio) };
    return spawn.call(this, options);
  };
  proto.spawn.polyforkPatched = true;
  for (const name of ['spawnSync', 'execSync', 'execFileSync']) {
    const orig = cp[name];
    cp[name] = function polyforkSync(file, args, options) {
      // (file, options) or (file, args, options)
      if (Array.isArray(args)) {
        if (options && options.stdio !== undefined) options = { ...options, stdio: safeStdio(options.stdio) };
        return orig.call(this, file, args, options);
      }
      if (args && typeof args === 'object' && args.stdio !== undefined) args = { ...args, stdio: safeStdio(args.stdio) };
      return orig.call(this, file, args, options);
    };
  }
  require('node:module').syncBuiltinESMExports();
}

module.exports = { takeStdio, safeStdio };
