'use strict';
// A cluster-sum worker in Node: answers one request, as the seed's cluster workers do.
const polyfork = require('../../clients/node');

polyfork.handle('handle_request', (path) => {
  console.info('process pid', process.pid, 'serves', path); // to the host's log, tagged
  let sum = 0;
  for (let i = 0; i < 100000; i++) sum += i;
  return { pid: process.pid, lang: 'node', sum };
});
