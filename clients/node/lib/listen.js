'use strict';

/**
 * Listening sockets a host passes to its child (SPEC.md section 1.2), with the systemd
 * socket-activation variables: descriptors 3 to 3+N-1, LISTEN_FDS=N, LISTEN_PID=<the
 * child's pid>, LISTEN_FDNAMES=<name>:<name>... Works with or without a polyfork host (any
 * socket-activating parent will do), and touches nothing but these variables: they are
 * removed from process.env once the sockets are taken, so that subprocesses do not think the
 * sockets are theirs.
 *
 * Node cannot mark a descriptor close-on-exec; a subprocess started with child_process
 * inherits the sockets unless its `stdio` says otherwise (their LISTEN_PID would not match).
 * @module polyfork/listen
 */

const fs = require('node:fs');

/** The first descriptor of the convention. */
const FIRST_FD = 3;

/**
 * An inherited listening socket.
 * @typedef {{fd: number, name: string}} ListenFd
 */

/** @type {ListenFd[] | null} what was taken, once taken */
let taken = null;

/**
 * Returns the listening sockets this process inherited, in order, as `{fd, name}`; `[]`
 * when there are none or when LISTEN_PID is not this process's pid (the variables were
 * inherited from another process). The first call takes them and removes LISTEN_FDS,
 * LISTEN_PID and LISTEN_FDNAMES from process.env; later calls return the same list.
 * @returns {ListenFd[]}
 * @throws {Error} naming the variable when LISTEN_FDS is not a count, or a descriptor it
 *   announces is not an open socket
 */
function listenFds() {
  if (taken !== null) return taken.map((s) => ({ ...s }));
  const env = process.env;
  if (env.LISTEN_FDS === undefined || env.LISTEN_PID !== String(process.pid)) return [];
  const raw = env.LISTEN_FDS;
  if (!/^\d{1,6}$/.test(raw)) throw new Error(`polyfork: LISTEN_FDS must be a count of descriptors, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  const names = env.LISTEN_FDNAMES === undefined ? [] : env.LISTEN_FDNAMES.split(':');
  const list = [];
  for (let i = 0; i < n; i++) {
    const fd = FIRST_FD + i;
    let isSocket = false;
    try {
      isSocket = fs.fstatSync(fd).isSocket();
    } catch {
      // not open
    }
    if (!isSocket) throw new Error(`polyfork: LISTEN_FDS=${n} announces descriptor ${fd}, which is not an open socket`);
    list.push({ fd, name: names.length === n ? names[i] : 'unknown' });
  }
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  taken = list;
  return taken.map((s) => ({ ...s }));
}

/**
 * Returns `{fd}` for the inherited listening socket named `name` (or the first one), ready
 * for `server.listen(handle)`; null when there is no inherited socket at all.
 * @param {string} [name]
 * @returns {{fd: number} | null}
 * @throws {Error} when there are sockets but none named `name`
 */
function listenHandle(name) {
  const list = listenFds();
  if (list.length === 0) return null;
  if (name === undefined) return { fd: list[0].fd };
  const found = list.find((s) => s.name === name);
  if (found === undefined) {
    throw new Error(`polyfork: no inherited listening socket named ${JSON.stringify(name)}; the names are ${list.map((s) => JSON.stringify(s.name)).join(', ')}`);
  }
  return { fd: found.fd };
}

module.exports = { listenFds, listenHandle };
