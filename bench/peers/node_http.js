// The trivial HTTP handler of the cluster benchmark, served three ways:
//
//   node node_http.js single        one process listening on 127.0.0.1:0 itself
//   node node_http.js cluster N     Node's own cluster: a primary and N workers (its default
//                                   scheduling: the primary accepts and hands connections
//                                   round-robin to the workers)
//   node node_http.js fd            a worker of polyfork cluster: listens on descriptor 3
//
// single and cluster print "listening PORT" on stdout once every worker listens. The
// handler echoes the request body, with the worker's pid in X-Pid so that the load
// generator (bench/driver/cluster.go) can count each worker's share.
'use strict';

const cluster = require('node:cluster');
const http = require('node:http');

function handler(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
    res.writeHead(200, { 'Content-Length': body.length, 'X-Pid': String(process.pid) });
    res.end(body);
  });
}

function serve(listenArg, onListening) {
  const server = http.createServer(handler);
  server.keepAliveTimeout = 60000;
  server.listen(listenArg, onListening && (() => onListening(server.address().port)));
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

const [mode, n] = process.argv.slice(2);
if (mode === 'single') {
  serve({ host: '127.0.0.1', port: 0 }, (port) => console.log(`listening ${port}`));
} else if (mode === 'fd') {
  serve({ fd: 3 });
} else if (mode === 'cluster' && cluster.isPrimary) {
  const workers = Number(n) || 2;
  let listening = 0;
  cluster.on('listening', (w, address) => {
    listening++;
    if (listening === workers) console.log(`listening ${address.port}`);
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    cluster.on('exit', () => {
      if (Object.keys(cluster.workers).length === 0) process.exit(0);
    });
  });
} else if (mode === 'cluster') {
  serve({ host: '127.0.0.1', port: 0 });
} else {
  console.error('usage: node node_http.js single | cluster N | fd');
  process.exit(2);
}
