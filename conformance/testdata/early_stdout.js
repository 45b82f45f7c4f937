'use strict';
// Writes to descriptor 1 before the polyfork client is loaded, then from a handler in the
// lowest-level ways Node has. With the channel on descriptors of its own (polyfork
// -channel fd) these are log lines; over stdin and stdout the first one breaks the channel.
process.stdout.write('early bytes before the client\n');

const fs = require('fs');
const { execSync } = require('child_process');
const polyfork = require('../../clients/node');

polyfork.handle('noisy', () => {
  fs.writeSync(1, 'from fs.writeSync\n');
  execSync('echo from a shell', { stdio: 'inherit' });
  console.log('from console.log');
  return 'ok';
});
