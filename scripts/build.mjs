// Bundle the daemon, the CLI and the web portal into single CommonJS files with no native addons.
// Each file is written beside its target and renamed over it, so a process starting
// the bundle while it is rebuilt never reads half a file.
import { build, transform } from 'esbuild';
import { stripIndent } from './strip-indent.mjs';
import { readFileSync, readdirSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
mkdirSync('dist', { recursive: true });
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: false,
  sourcemap: false,
  legalComments: 'none',
  // ASCII output: one non-ASCII character (a comment's arrow was enough) makes V8 hold the
  // whole bundle's source as UTF-16, twice its size in memory (docs/performance.md)
  charset: 'ascii',
  logLevel: 'warning',
  define: { __NASAUTH_VERSION__: JSON.stringify(pkg.version) },
  banner: { js: '#!/usr/bin/env node' },
};
// nasauth-web's stylesheet, script and templates go into its bundle as text (two
// virtual modules, declared in web/assets.d.ts): one file to ship, nothing to find at run time.
const webAssets = {
  name: 'nasauth-web-assets',
  setup(b) {
    b.onResolve({ filter: /^nasauth-web-(assets|views)$/ }, (a) => ({ path: a.path, namespace: 'nasauth-web' }));
    b.onLoad({ filter: /.*/, namespace: 'nasauth-web' }, (a) => {
      const text = (f) => readFileSync(new URL(`../web/${f}`, import.meta.url), 'utf8');
      const out = a.path === 'nasauth-web-assets'
        ? { css: text('static/app.css'), js: text('static/app.js') }
        : Object.fromEntries(readdirSync(new URL('../web/views/', import.meta.url)).filter((f) => f.endsWith('.eta')).map((f) => [f.slice(0, -4), text(`views/${f}`)]));
      return { contents: `module.exports = ${JSON.stringify(out)};`, loader: 'js', watchFiles: [] };
    });
  },
};
// sonic-boom and thread-stream (pino's, loaded at every start) call assert(value, message)
// and nothing else of node:assert; node:assert itself pulls AssertionError, its colours
// and process.stderr into the start (about 4 ms of it, docs/performance.md). Only these
// two importers get this stand-in; everything else keeps node:assert.
const lightAssert = {
  name: 'nasauth-light-assert',
  setup(b) {
    b.onResolve({ filter: /^(node:)?assert$/ }, (a) => (/node_modules[\\/](sonic-boom|thread-stream)[\\/]/.test(a.importer) ? { path: 'assert', namespace: 'nasauth-light-assert' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'nasauth-light-assert' }, () => ({
      contents: "module.exports = function assert(value, message) { if (!value) { const e = new Error(message || 'assertion failed'); e.code = 'ERR_ASSERTION'; throw e; } }; module.exports.ok = module.exports;",
      loader: 'js',
    }));
  },
};
// pino's transports run a logger in a worker thread (thread-stream); nasauth never uses
// them (they do not survive bundling), yet pino loads them, and with them
// node:worker_threads, node:module and the ES module loader, at every start: about
// 1 MB of an idle daemon's memory (docs/performance.md). In the bundles pino gets a
// transport() that says so, and tools.js, which asks only whether it runs on the main
// thread, is told it does (nasauth has no other threads running JavaScript).
const noPinoTransport = {
  name: 'nasauth-no-pino-transport',
  setup(b) {
    b.onResolve({ filter: /^(\.\/transport|\.\/lib\/transport|(node:)?worker_threads)$/ }, (a) => (/node_modules[\\/]pino[\\/](lib[\\/]tools|pino)\.js$/.test(a.importer) ? { path: a.path, namespace: 'nasauth-no-pino-transport' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'nasauth-no-pino-transport' }, (a) => ({
      contents: /worker_threads/.test(a.path)
        ? 'module.exports = { isMainThread: true };'
        : "module.exports = function transport() { throw new Error('pino transports are not part of the nasauth bundles: log to stdout or to log.file'); };",
      loader: 'js',
    }));
  },
};
const tmp = `.tmp-${process.pid}`;
const outs = [['daemon/main.ts', 'dist/nasauthd.js'], ['daemon/start.ts', 'dist/nasauthd-start.js'], ['daemon/cli.ts', 'dist/nasauth.js'], ['web/main.ts', 'dist/nasauth-web.js'], ['web/mkcert.ts', 'dist/nasauth-web-cert.js']];
await Promise.all(outs.map(([entry, out]) => build({ ...common, entryPoints: [entry], outfile: out + tmp, plugins: [webAssets, lightAssert, noPinoTransport] })));
const minified = async (code) => (await transform(code, { minify: true, loader: 'js', charset: 'ascii' })).code;
for (const [, out] of outs) {
  // esbuild escapes code (charset ascii) but keeps comments as written: escape those too
  let text = readFileSync(out + tmp, 'utf8');
  if (/[^\x00-\x7f]/.test(text)) text = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  // no indentation (a fifth of the text V8 keeps in memory), every line where it was;
  // the same program, or no build
  const stripped = stripIndent(text);
  if (await minified(stripped) !== await minified(text)) throw new Error(`${out}: taking out the indentation changed the program (scripts/strip-indent.mjs)`);
  writeFileSync(out + tmp, stripped);
  renameSync(out + tmp, out);
  process.stdout.write(`${out} ${(stripped.length / 1024).toFixed(0)} KiB\n`);
}
