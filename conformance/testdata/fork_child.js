'use strict';
// A script written for Node's child_process.fork, unmodified: run it with
// node --require clients/node/register.js. With the channel on descriptors of its own
// (polyfork -channel fd), console.log writes to stdout as it does under fork.
process.on('message', (m) => {
  console.log('child got', JSON.stringify(m));
  process.stdout.write('raw write to stdout\n');
  process.send({ sum: m.a + m.b });
});
