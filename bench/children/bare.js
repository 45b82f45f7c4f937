'use strict';

// A bare length-prefixed msgpack echo: the least a Node child can do per message. No
// handshake, no ids, no handlers: read frames, unpack each, pack the value, write it back.
// The floor that the polyfork Node client is compared with (the "bare exchange").
// It uses msgpackr, the codec of the Node client.
const fs = require('node:fs');
const { pack, unpack } = require('../../clients/node/node_modules/msgpackr');

let chunks = []; // received and not yet consumed
let have = 0; // bytes in chunks

process.stdin.on('data', (chunk) => {
  chunks.push(chunk);
  have += chunk.length;
  const out = [];
  for (;;) {
    if (have < 4) break;
    if (chunks[0].length < 4) chunks = [Buffer.concat(chunks)];
    const n = chunks[0].readUInt32BE(0);
    if (have < 4 + n) break;
    const buf = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks); // once per frame
    const body = pack(unpack(buf.subarray(4, 4 + n)));
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(body.length, 0);
    out.push(head, body);
    const rest = buf.subarray(4 + n);
    chunks = rest.length > 0 ? [rest] : [];
    have = rest.length;
  }
  if (out.length > 0) writeAll(Buffer.concat(out));
});

// writeAll writes b to stdout (a blocking pipe) in full.
function writeAll(b) {
  for (let off = 0; off < b.length; ) off += fs.writeSync(1, b, off);
}
