// The Markdown stage of examples/polyglot: Markdown in, HTML out, with marked from npm
// (installed here by `npm ci`, as package-lock.json says).
import { marked } from 'marked';
import { handle } from '../../clients/node/lib/index.mjs';

handle('html', (markdown) => marked.parse(markdown, { async: false, gfm: true }));
// The client serves once this module has loaded.
