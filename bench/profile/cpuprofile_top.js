'use strict';

// Prints the functions with the most self time in a V8 .cpuprofile (node --cpu-prof):
//   node bench/profile/cpuprofile_top.js FILE.cpuprofile [N]

const fs = require('node:fs');

const [file, n = '30'] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: cpuprofile_top.js FILE.cpuprofile [N]\n');
  process.exit(2);
}
const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
const byId = new Map(prof.nodes.map((node) => [node.id, node]));
const self = new Map(); // "function file:line" -> microseconds
const dt = prof.timeDeltas;
let total = 0;
for (let i = 0; i < prof.samples.length; i++) {
  const node = byId.get(prof.samples[i]);
  const f = node.callFrame;
  const where = f.url ? `${f.url.replace(/^.*\/(clients|bench|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
  const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
  const us = dt[i] || 0;
  self.set(key, (self.get(key) || 0) + us);
  total += us;
}
const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(n));
console.log(`self time of ${(total / 1e3).toFixed(0)} ms sampled:`);
for (const [key, us] of rows) {
  console.log(`${(100 * us / total).toFixed(1).padStart(6)}%  ${(us / 1e3).toFixed(1).padStart(8)} ms  ${key}`);
}
