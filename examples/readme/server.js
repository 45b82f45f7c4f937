// server.js of README.md's cluster section: the seed's cluster worker (process-cluster.js)
// with .listen({ fd: 3 }) in place of .listen(3000). polyfork cluster passes the socket
// that every worker shares as descriptor 3; the worker is a plain Node server, with no
// polyfork library. internal/readmetest runs the README's commands with it.
const http = require('node:http');

http.createServer((req, res) => {
  res.end(`handled by worker ${process.pid}\n`);
}).listen({ fd: 3 });
