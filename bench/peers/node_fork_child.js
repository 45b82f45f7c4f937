'use strict';

// The child of node_fork.js: echoes every IPC message, as Node's docs show
// (process.on('message') and process.send).
process.on('message', (m) => process.send(m));
