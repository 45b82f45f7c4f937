// An HTTP worker of the cluster in Node: an ordinary http server on the listening socket
// the host passes (polyfork.listenHandle(), SPEC 1.2; plain `server.listen({fd: 3})` works
// as well). It runs without a polyfork channel (polyfork cluster -channel none): SIGTERM
// stops it, after it has answered what it accepted.
'use strict';

const http = require('node:http');
const net = require('node:net');
const path = require('node:path');
const polyfork = require(path.join(__dirname, '..', '..', 'clients', 'node'));

const handle = polyfork.listenHandle();
if (handle === null) {
  console.error('worker.js: no listening socket was passed (LISTEN_FDS, LISTEN_PID): run it under polyfork cluster');
  process.exit(2);
}

let stopping = false;
const server = http.createServer((req, res) => {
  if (stopping) res.setHeader('Connection', 'close'); // no keep-alive past the stop
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  res.end(`hello from node worker ${process.pid}\n`);
});
server.listen(handle);

process.on('SIGTERM', () => {
  stopping = true;
  // net.Server's close, not http.Server's: since Node 19 the latter also closes the
  // connections it counts as idle, and a connection just accepted whose request has not
  // been read yet counts as idle, so its client would get no answer. This one only stops
  // accepting; the process exits when the connections it has are answered and closed.
  net.Server.prototype.close.call(server, () => process.exit(0));
  // Keep-alive connections that stay idle would hold the exit forever.
  setTimeout(() => server.closeIdleConnections(), 1000).unref();
});
