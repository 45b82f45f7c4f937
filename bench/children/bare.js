'use strict';

// A bare length-prefixed msgpack echo: the least a Node child can do per message. No
// handshake, no ids, no handlers: read frames, unpack each, pack the value, write it back.
// The floor that the polyfork Node client is compared with (issue 5's "bare exchange").
// It uses msgpackr, the codec of the Node client.
const fs = require('node:fs');
const { pack, unpack } = require('../../clients/node/node_modules/msgpackr');

let buf = Buffer.alloc(0);
process.stdin.on('data', (chunk) => {
  buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
  const out = [];
  while (buf.length >= 4) {
    const n = buf.readUInt32BE(0);
    if (buf.length < 4 + n) break;
    const body = pack(unpack(buf.subarray(4, 4 + n)));
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(body.length, 0);
    out.push(head, body);
    buf = buf.subarray(4 + n);
  }
  if (out.length > 0) writeAll(Buffer.concat(out));
});

// writeAll writes b to stdout (a blocking pipe) in full.
function writeAll(b) {
  for (let off = 0; off < b.length; ) off += fs.writeSync(1, b, off);
}
