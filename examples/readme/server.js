// server.js of README.md's cluster section: the seed's cluster worker (process-cluster.js)
// with .listen({ fd: 3 }) in place of .listen(3000). polyfork cluster passes the socket
// that every worker shares as descriptor 3; the worker is a plain Node server, with no
// polyfork library. internal/readmetest runs the README's commands with it.
//
// On SIGTERM (a reload, a drain) it stops accepting and exits once it has answered the
// connections it accepted: without this, Node exits at once and those connections fail.
// net.Server's close, not http.Server's: since Node 19 the latter also closes connections
// it counts as idle, which includes one just accepted whose request is not read yet.
const http = require('node:http');
const net = require('node:net');

const server = http.createServer((req, res) => {
  res.end(`handled by worker ${process.pid}\n`);
}).listen({ fd: 3 });

process.on('SIGTERM', () => {
  net.Server.prototype.close.call(server, () => process.exit(0));
  setTimeout(() => server.closeIdleConnections(), 1000).unref(); // idle keep-alives
});
