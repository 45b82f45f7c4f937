'use strict';

// Peer driver: Node's child_process.fork IPC, measured in Node. The parent forks
// node_fork_child.js with the given serialization ('json' or 'advanced') and sends it
// strings; the child sends each back. Prints one JSON trial (bench/driver/spec.go).
//
//   node node_fork.js serialization=json system=node-fork-json sizes=16,1024 ...

const { fork } = require('node:child_process');
const path = require('node:path');
const { parseArgs } = require('./args');

const args = parseArgs(process.argv.slice(2).filter((a) => !a.startsWith('serialization=')));
const serialization = (process.argv.find((a) => a.startsWith('serialization=')) || 'serialization=json').slice(14);

const child = fork(path.join(__dirname, 'node_fork_child.js'), [], { serialization });
const now = () => process.hrtime.bigint();

let onReply = null;
child.on('message', (m) => onReply(m));
child.on('exit', (code, signal) => {
  if (onReply !== null) {
    process.stderr.write(`node_fork: the child exited (${code ?? signal}) during the benchmark\n`);
    process.exit(1);
  }
});

function check(m, n) {
  if (typeof m !== 'string' || m.length !== n) {
    process.stderr.write(`node_fork: wrong echo for a ${n}-byte string\n`);
    process.exit(1);
  }
}

/** One round trip: send s, wait for the echo. */
function roundtrip(s) {
  return new Promise((resolve) => {
    onReply = (m) => {
      check(m, s.length);
      resolve();
    };
    child.send(s);
  });
}

/** Pipelined: keep `conc` messages in flight until the deadline, then drain. */
function throughput(s, ms, conc) {
  return new Promise((resolve) => {
    const start = now();
    const deadline = start + BigInt(ms) * 1000000n;
    let inflight = 0;
    let done = 0;
    onReply = (m) => {
      check(m, s.length);
      inflight--;
      done++;
      if (now() < deadline) {
        inflight++;
        child.send(s);
      } else if (inflight === 0) {
        resolve({ calls: done, ns: Number(now() - start) });
      }
    };
    for (; inflight < conc; inflight++) child.send(s);
  });
}

async function main() {
  const out = { system: args.system, payloads: [] };
  for (const n of args.sizeList) {
    const s = 'x'.repeat(n);
    let t0 = now();
    for (let i = 0; i < args.warm_max && (i < 3 || now() - t0 < BigInt(args.warm_ms) * 1000000n); i++) {
      await roundtrip(s);
    }
    const r = { payload_bytes: n };
    if (args.lat) {
      const lat = [];
      t0 = now();
      while (lat.length < args.lat_max &&
             (lat.length < args.lat_min || now() - t0 < BigInt(args.lat_ms) * 1000000n)) {
        const a = now();
        await roundtrip(s);
        lat.push(Number(now() - a));
      }
      r.lat_ns = lat;
    }
    if (args.tput) {
      const t = await throughput(s, args.tput_ms, args.conc);
      r.tput_calls = t.calls;
      r.tput_ns = t.ns;
    }
    out.payloads.push(r);
  }
  onReply = null;
  child.disconnect();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((err) => {
  process.stderr.write(`node_fork: ${err.stack}\n`);
  process.exit(1);
});
