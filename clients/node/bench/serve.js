'use strict';
// The child's own CPU time per request, as its event loop sees it: a Connection serving
// `echo` is fed reads the way net.Socket's onread feeds the child runtime (each read holding
// `batch` request frames, as a host with many calls in flight sends them; at most 64 KiB
// per read for the large ones), and writes its answers to a real pipe drained by `cat`.
// CPU time of this process only (process.cpuUsage), so the reader process does not count.
// Run: node bench/serve.js [batch] [sizes]   (batch 64 by default, 1 is the sequential case;
// sizes a comma-separated list of payload bytes, by default 16,1024,65536,1048576)
const { spawn } = require('node:child_process');
const { EventEmitter } = require('node:events');
const { Connection } = require('../lib/connection');
const { Encoder } = require('../lib/encode');

const BATCH = Number(process.argv[2] || 64);
const SIZES = (process.argv[3] || '16,1024,65536,1048576').split(',').map(Number);

/** Opens a Connection whose input this script feeds by hand, as onread would. */
function served(output) {
  let hooks;
  const fakeSocket = Object.assign(new EventEmitter(), { pause() {}, resume() {} });
  const c = new Connection((onread) => { hooks = onread; return fakeSocket; }, output);
  c.handle('echo', (v) => v);
  c.listen();
  return {
    read(bytes) {
      for (let at = 0; at < bytes.length;) {
        const target = hooks.buffer();
        const n = Math.min(target.length, bytes.length - at, 65536);
        bytes.copy(target, 0, at, at + n);
        at += n;
        hooks.callback(n, target);
      }
    },
  };
}

async function measure(size, batch, output) {
  const conn = served(output);
  const enc = new Encoder();
  const payload = 'x'.repeat(size);
  const frames = [];
  for (let i = 0; i < batch; i++) frames.push(Buffer.from(enc.request(i, 'echo', [payload])));
  const chunk = Buffer.concat(frames);
  const total = Math.max(20, Math.min(batch > 1 ? 400000 : 40000, Math.floor(4e8 / (size + 64))));
  const rounds = Math.max(1, Math.floor(total / batch));
  // An empty write's callback runs once the writes queued before it are done.
  const drained = () => (output.writableLength === 0 ? Promise.resolve() : new Promise((r) => output.write(Buffer.alloc(0), r)));
  const once = async () => {
    conn.read(chunk);
    await new Promise((r) => process.nextTick(r));
    await drained();
  };
  for (let i = 0; i < Math.max(3, rounds / 5); i++) await once();
  const cpu0 = process.cpuUsage();
  for (let i = 0; i < rounds; i++) await once();
  const cpu = process.cpuUsage(cpu0);
  return ((cpu.user + cpu.system) * 1000) / (rounds * batch);
}

(async () => {
  const cat = spawn('sh', ['-c', 'exec cat > /dev/null'], { stdio: ['pipe', 'ignore', 'inherit'] });
  cat.stdin.setMaxListeners(0); // one 'error' listener per Connection measured
  for (const size of SIZES) {
    const b = size >= 65536 ? 1 : BATCH;
    const ns = [];
    for (let i = 0; i < 5; i++) ns.push(await measure(size, b, cat.stdin));
    ns.sort((x, y) => x - y);
    console.log(`${String(size).padStart(8)} B, ${b} per read: ${(ns[2] / 1000).toFixed(2)} us of CPU per request (median of 5)`);
  }
  cat.stdin.end();
})();
