// Bundle the daemon and the CLI into single CommonJS files with no native addons.
import { build } from 'esbuild';
import { readFileSync, mkdirSync } from 'node:fs';

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
  logLevel: 'warning',
  define: { __NASAUTH_VERSION__: JSON.stringify(pkg.version) },
  banner: { js: '#!/usr/bin/env node' },
};
const results = await Promise.all([
  build({ ...common, entryPoints: ['daemon/main.ts'], outfile: 'dist/nasauthd.js', metafile: true }),
  build({ ...common, entryPoints: ['daemon/cli.ts'], outfile: 'dist/nasauth.js', metafile: true }),
]);
for (const r of results) {
  for (const [file, out] of Object.entries(r.metafile.outputs)) {
    process.stdout.write(`${file} ${(out.bytes / 1024).toFixed(0)} KiB\n`);
  }
}
