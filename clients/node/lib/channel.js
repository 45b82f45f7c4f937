'use strict';

/**
 * The channel on descriptors of its own (SPEC.md section 1.1, POLYFORK_CHANNEL_FDS=<r>,<w>):
 * the child reads frames from r and writes them to w, and leaves descriptors 0 and 1, and
 * process.stdin and process.stdout, as the host gave them.
 *
 * The host passes r and w without close-on-exec, or the child could not inherit them. So
 * that the child's own subprocesses do not inherit them in turn: Node itself marks the
 * descriptors it inherits close-on-exec at start-up (libuv's uv_disable_stdio_inheritance),
 * but only up to the first one missing after 15; a descriptor it left inheritable that is a
 * pipe (what the Go host passes) is reopened through /proc/self/fd, which gives a new
 * descriptor on the same pipe that Node opens with O_CLOEXEC, and the inherited number is
 * closed. Node has no fcntl, so a socket in that case (which /proc cannot reopen) stays
 * inheritable: see `inheritable`.
 * @module polyfork/channel
 */

const fs = require('node:fs');
const { ConfigError } = require('./config');

const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;

/**
 * Checks and takes the channel descriptors.
 * @param {{r: number, w: number}} fds from POLYFORK_CHANNEL_FDS
 * @returns {{inFd: number, outFd: number, inheritable: number[]}} the descriptors to use,
 *   and those of them a subprocess would still inherit (sockets)
 * @throws {ConfigError} when a descriptor is not open (one line, naming the variable)
 */
function openChannelFds({ r, w }) {
  const value = `${r},${w}`;
  for (const fd of r === w ? [r] : [r, w]) {
    let st;
    try {
      st = fs.fstatSync(fd);
    } catch (e) {
      throw new ConfigError(`polyfork: POLYFORK_CHANNEL_FDS=${value}: descriptor ${fd} is not open (${e.code})`);
    }
    // Node opens descriptors of its own at start (epoll, eventfd): a number the host did not
    // pass may be one of those, which are none of these.
    if (!st.isFIFO() && !st.isSocket() && !st.isCharacterDevice() && !st.isFile()) {
      throw new ConfigError(`polyfork: POLYFORK_CHANNEL_FDS=${value}: descriptor ${fd} is not a pipe, socket, file or character device`);
    }
  }
  const inFd = reopen(r, O_RDONLY);
  const outFd = r === w ? inFd : reopen(w, O_WRONLY);
  return { inFd, outFd, inheritable: [...new Set([inFd, outFd])].filter((fd) => !closeOnExec(fd)) };
}

/** O_CLOEXEC as /proc/self/fdinfo shows it (octal flags). */
const O_CLOEXEC = 0o2000000;

/**
 * Returns a close-on-exec descriptor for the pipe on `fd`: `fd` itself when it is already
 * close-on-exec, else a new one (closing `fd`); or `fd` when it is not a pipe or cannot be
 * reopened.
 */
function reopen(fd, flags) {
  try {
    if (closeOnExec(fd) || !fs.fstatSync(fd).isFIFO()) return fd;
    // O_NONBLOCK: opening a pipe end whose other end is closed must not block.
    const copy = fs.openSync(`/proc/self/fd/${fd}`, flags | O_NONBLOCK);
    fs.closeSync(fd);
    return copy;
  } catch {
    return fd;
  }
}

/** Reports whether fd is marked close-on-exec. */
function closeOnExec(fd) {
  try {
    const m = /^flags:\s*([0-7]+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'));
    return m !== null && (parseInt(m[1], 8) & O_CLOEXEC) !== 0;
  } catch {
    return false;
  }
}

module.exports = { openChannelFds };
