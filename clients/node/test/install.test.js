'use strict';

// Installing the client from outside the repository, the ways README.md documents: into a
// fresh project in a temp directory, then a worker of that project serves one call under
// the test host. The client has no runtime dependency, so `npm install <path>` (a link) and
// `npm install --install-links <path>` (a copy, as from the registry) both work.

const { describe, it, after } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');
const { TestHost } = require('./host');

const CLIENT = path.join(__dirname, '..');
const VERSION = require('../package.json').version;
const NPM = process.env.npm_execpath && process.env.npm_execpath.endsWith('.js')
  ? [process.execPath, process.env.npm_execpath] : ['npm'];

const dirs = [];
const hosts = [];
after(() => {
  for (const h of hosts) h.kill();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function npm(cwd, ...args) {
  return execFileSync(NPM[0], [...NPM.slice(1), ...args, '--no-audit', '--no-fund', '--ignore-scripts'],
    { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe('install from outside the repository', { timeout: 180000 }, () => {
  for (const [how, args] of [['npm install <path>', []], ['npm install --install-links <path>', ['--install-links']]]) {
    it(`${how}: a fresh project's CommonJS and ES module workers serve a call`, async () => {
      const root = fs.mkdtempSync(path.join(os.tmpdir(), 'polyfork-install-'));
      dirs.push(root);
      // The client as a fresh clone has it: no node_modules of its own.
      const clone = path.join(root, 'clone', 'clients', 'node');
      fs.cpSync(CLIENT, clone, { recursive: true, filter: (src) => !/[\\/](node_modules|test|bench)$/.test(src) });
      const dir = path.join(root, 'app');
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
      npm(dir, 'install', ...args, clone);
      const installed = path.join(dir, 'node_modules', 'polyfork');
      assert.equal(fs.lstatSync(installed).isSymbolicLink(), args.length === 0);
      fs.writeFileSync(path.join(dir, 'worker.js'), "const polyfork = require('polyfork');\npolyfork.handle('add', (a, b) => a + b);\n");
      fs.writeFileSync(path.join(dir, 'worker.mjs'), "import { handle } from 'polyfork';\nhandle('add', (a, b) => a + b);\n");
      for (const worker of ['worker.js', 'worker.mjs']) {
        const h = new TestHost([path.join(dir, worker)], { transport: 'fifo' });
        hosts.push(h);
        const ready = await h.start();
        assert.equal(ready.lib, `polyfork-node/${VERSION}`);
        assert.equal(await h.call('add', 40, 2), 42);
        h.closeStdin();
        assert.deepEqual(await h.wait(), { code: 0, signal: null });
      }
    });
  }

  it('the package is 0.2.0, with no runtime dependency', () => {
    const pkg = require('../package.json');
    assert.equal(pkg.version, '0.2.0');
    assert.deepEqual(pkg.dependencies ?? {}, {});
  });
});
