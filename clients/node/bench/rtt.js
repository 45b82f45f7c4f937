'use strict';
// Round-trip latency of one small call, sequentially: polyfork (over real pipes, as the Go
// host makes them), a bare length-prefixed msgpack echo, and Node's own fork IPC.
// Run pinned to one CPU: taskset -c 1 node bench/rtt.js [rounds]
const { fork } = require('node:child_process');
const path = require('node:path');
const { TestHost } = require('../test/host');
const { Encoder } = require('../lib/encode');
const { FrameReader } = require('../lib/reader');
const { unpack } = require('msgpackr');

const N = Number(process.argv[2] || 20000);
const CHILD = path.join(__dirname, 'rtt_children.js');

function stats(ns) {
  ns.sort((x, y) => x - y);
  const us = (i) => (ns[Math.floor(i * (ns.length - 1))] / 1000).toFixed(1);
  return `median ${us(0.5)} us, p90 ${us(0.9)} us, p99 ${us(0.99)} us`;
}

async function timeLoop(once) {
  for (let i = 0; i < 2000; i++) await once(i); // warm-up
  const ns = new Array(N);
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    await once(i);
    ns[i] = Number(process.hrtime.bigint() - t0);
  }
  return stats(ns);
}

async function polyfork() {
  const h = new TestHost([CHILD, 'polyfork'], { transport: 'fifo' });
  await h.start();
  const r = await timeLoop((i) => h.call('echo', i));
  h.kill();
  return r;
}

async function bare() {
  const h = new TestHost([CHILD, 'bare'], { transport: 'fifo', env: { POLYFORK_PROTOCOL: undefined } });
  // No $ready from the bare child: talk raw on its pipes.
  h.stdout.removeAllListeners('data');
  let waiting = null;
  const reader = new FrameReader((b) => { const w = waiting; waiting = null; w(unpack(b)[3]); });
  h.stdout.on('data', (d) => reader.push(d));
  const enc = new Encoder();
  const r = await timeLoop((i) => new Promise((resolve) => { waiting = resolve; h.stdin.write(enc.request(i, 'echo', [i])); }));
  h.kill();
  return r;
}

async function ipc() {
  const c = fork(CHILD, ['ipc']);
  let waiting = null;
  c.on('message', (m) => { const w = waiting; waiting = null; w(m); });
  const r = await timeLoop((i) => new Promise((resolve) => { waiting = resolve; c.send(i); }));
  c.kill();
  return r;
}

(async () => {
  console.log(`${N} sequential round trips of a small integer, node ${process.version}`);
  console.log(`bare msgpack echo: ${await bare()}`);
  console.log(`polyfork call:     ${await polyfork()}`);
  console.log(`node fork IPC:     ${await ipc()}`);
})();
