'use strict';
// Compares the msgpack codecs in-process: polyfork's own encoder/decoder, msgpackr and
// @msgpack/msgpack, on message shapes the protocol carries. Run: node bench/codec.js
const { Packr, Unpackr } = require('msgpackr');
const msgpack = require('@msgpack/msgpack');
const { Encoder } = require('../lib/encode');
const { decode } = require('../lib/decode');

const cases = {
  'request add(1, 2)': [0, 1, 'add', [1, 2]],
  'message {sum}': [2, 'message', [{ sum: 4999950000 }]],
  'record 10 fields': [0, 7, 'echo', [{ id: 12345, name: 'Ada Lovelace', email: 'ada@example.org', active: true,
    score: 98.5, tags: ['math', 'engines'], created: 1700000000, city: 'London', country: 'UK', note: 'héllo wörld' }]],
  '1000 records': [0, 8, 'echo', [Array.from({ length: 1000 }, (_, i) => ({ id: i, name: `user${i}`, score: i * 1.5, ok: i % 2 === 0 }))]],
  '64 KiB string': [0, 9, 'echo', ['x'.repeat(65536)]],
  '1 MiB bin': [0, 10, 'echo', [Buffer.alloc(1 << 20, 7)]],
};

const packr = new Packr({ useRecords: false, variableMapSize: true, encodeUndefinedAsNil: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'auto', copyBuffers: true });
const enc = new Encoder();
const mpEnc = new msgpack.Encoder({ useBigInt64: true });
const mpDec = new msgpack.Decoder({ useBigInt64: false });

function time(fn, minMs = 300) {
  let n = 1;
  for (;;) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) fn();
    const ns = Number(process.hrtime.bigint() - t0);
    if (ns > minMs * 1e6) return ns / n;
    n *= 2;
  }
}
const fmt = (ns) => (ns < 1000 ? `${ns.toFixed(0)} ns` : ns < 1e6 ? `${(ns / 1000).toFixed(1)} us` : `${(ns / 1e6).toFixed(2)} ms`);

console.log('| message | encode: polyfork | msgpackr | @msgpack/msgpack | decode: polyfork (SPEC 3 check + decoder) | msgpackr (no check) | @msgpack/msgpack |');
console.log('|---|---|---|---|---|---|---|');
for (const [name, msg] of Object.entries(cases)) {
  const bytes = Buffer.from(packr.pack(msg));
  const row = [name];
  const body = msg[0] === 2 ? () => enc.notification(msg[1], msg[2]) : () => enc.request(msg[1], msg[2], msg[3]);
  row.push(fmt(time(body)));
  row.push(fmt(time(() => packr.pack(msg))));
  row.push(fmt(time(() => mpEnc.encode(msg))));
  row.push(fmt(time(() => decode(bytes))));
  row.push(fmt(time(() => unpackr.unpack(bytes))));
  row.push(fmt(time(() => mpDec.decode(bytes))));
  console.log(`| ${row.join(' | ')} |`);
}
