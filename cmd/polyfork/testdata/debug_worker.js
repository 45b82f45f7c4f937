'use strict';
// A Node worker for the console tests and the README: debug() stops at `debugger` when a
// debugger is attached (node inspect), ask() prompts on the console with readline.
const readline = require('readline');
const polyfork = require('../../../clients/node');

polyfork.handle('debug', (value) => {
  const doubled = value * 2;
  debugger; // eslint-disable-line no-debugger
  return doubled;
});

polyfork.handle('ask', (question) => new Promise((resolve) => {
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  rl.question(question, (answer) => {
    rl.close();
    resolve(`you said: ${answer}`);
  });
}));
