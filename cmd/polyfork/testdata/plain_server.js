// An unmodified Node http server, as the seed's cluster workers are, except that it listens
// on the socket its parent passed as descriptor 3 instead of binding port 3000 itself. It
// knows nothing of polyfork.
const http = require('http');

http.createServer((req, res) => {
  res.writeHead(200);
  res.end(`hello from node worker ${process.pid}\n`);
}).listen({ fd: 3 });
