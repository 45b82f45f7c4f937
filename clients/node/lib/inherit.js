'use strict';

/**
 * Keeps register.js to the process it was loaded into. Node passes `process.execArgv` to
 * `child_process.fork` children and NODE_OPTIONS and the environment to every subprocess,
 * so without this a script's own forks (tinypool, jest-worker, worker-farm) would load
 * register.js too and take the polyfork variables for theirs, instead of talking to their
 * real parent over Node's IPC.
 * @module polyfork/inherit
 */

const fs = require('node:fs');

/** The variables a polyfork host sets for its child (SPEC.md section 1). */
const HOST_VARIABLES = ['POLYFORK_PROTOCOL', 'POLYFORK_MAX_FRAME_SIZE', 'POLYFORK_MAX_VALUES', 'POLYFORK_CHANNEL_FDS'];

/**
 * Removes `--require <file>` (and `-r`, `--require=`) from process.execArgv (in place) and
 * from NODE_OPTIONS, and the POLYFORK_* variables from process.env.
 * @param {string} file the register.js that is loaded
 */
function stripRegister(file) {
  const self = real(file);
  const isSelf = (spec) => resolvesTo(spec, self);
  const argv = process.execArgv;
  for (let i = 0; i < argv.length;) {
    const a = argv[i];
    if ((a === '--require' || a === '-r') && i + 1 < argv.length && isSelf(argv[i + 1])) argv.splice(i, 2);
    else if (a.startsWith('--require=') && isSelf(a.slice('--require='.length))) argv.splice(i, 1);
    else i++;
  }
  const opts = process.env.NODE_OPTIONS;
  if (opts !== undefined) {
    const tokens = opts.match(/(?:[^\s"]+|"(?:\\.|[^"\\])*")+/g) || [];
    const kept = [];
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if ((t === '--require' || t === '-r') && i + 1 < tokens.length && isSelf(unquote(tokens[i + 1]))) i++;
      else if (t.startsWith('--require=') && isSelf(unquote(t.slice('--require='.length)))) continue;
      else kept.push(t);
    }
    if (kept.length === 0) delete process.env.NODE_OPTIONS;
    else if (kept.length !== tokens.length) process.env.NODE_OPTIONS = kept.join(' ');
  }
  for (const name of HOST_VARIABLES) delete process.env[name];
}

function unquote(s) {
  return s.replace(/"((?:\\.|[^"\\])*)"/g, (_, inner) => inner.replace(/\\(.)/g, '$1'));
}

function real(p) {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

/** Reports whether the --require argument `spec` names `file`, as Node would resolve it. */
function resolvesTo(spec, file) {
  try {
    return real(require.resolve(spec, { paths: [process.cwd()] })) === file;
  } catch {
    return false;
  }
}

module.exports = { stripRegister, HOST_VARIABLES };
