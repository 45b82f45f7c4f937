'use strict';
// Children for bench/rtt.js, chosen by argv[2].
const mode = process.argv[2];
if (mode === 'polyfork') {
  const polyfork = require('..');
  polyfork.handle('echo', (v) => v);
} else if (mode === 'bare') {
  // A bare length-prefixed msgpack echo: the floor polyfork is measured against.
  const { pack, unpack } = require('msgpackr');
  const fs = require('node:fs');
  let buf = Buffer.alloc(0);
  process.stdin.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
      const n = buf.readUInt32BE(0);
      const [, id, , params] = unpack(buf.subarray(4, 4 + n));
      buf = buf.subarray(4 + n);
      const body = pack([1, id, null, params[0]]);
      const out = Buffer.allocUnsafe(4 + body.length);
      out.writeUInt32BE(body.length, 0);
      body.copy(out, 4);
      fs.writeSync(1, out);
    }
  });
} else if (mode === 'ipc') {
  process.on('message', (m) => process.send(m));
}
