'use strict';

// The polyfork Node echo child of the benchmark: one handler, written as a user would
// (an installed package would be require('polyfork')).
const polyfork = require('../../clients/node');

polyfork.handle('echo', (value) => value);
