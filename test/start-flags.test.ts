// daemon/start-flags.ts: the init script's heap flags are set back to their defaults once
// V8 has set up the heap from them, so that Node's built-in modules can use the code
// cache Node ships for them. Two things must hold, and both are checked in real node
// processes started with the init script's kind of flags:
//   - the limits stay: the heap size limit and the young generation's size under
//     allocation are exactly those of a process that keeps the flags;
//   - V8 accepts code cached by a process with default flags again (the check Node's own
//     cache goes through), which a process that keeps the flags refuses.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { transformSync } from 'esbuild';
import { ROOT } from './helpers/daemon';
import { tempDir } from './helpers/tmp';
import { HEAP_SETUP_FLAGS, hasBuiltinCodeCache, resetHeapSetupFlags } from '../daemon/start-flags';

const dir = tempDir('nasauth-start-flags-');
const flagsJs = join(dir, 'start-flags.js');
writeFileSync(flagsJs, transformSync(readFileSync(join(ROOT, 'daemon/start-flags.ts'), 'utf8'), { loader: 'ts', format: 'cjs' }).code);
const cacheFile = join(dir, 'probe.cache');

// what each child does: optionally the module, then a code cache check, then allocation
const probe = join(dir, 'probe.js');
writeFileSync(probe, `
const v8 = require('node:v8');
const vm = require('node:vm');
const fs = require('node:fs');
const [mode, flagsJs, cacheFile] = process.argv.slice(2);
// (the module resets by itself only in a node built with a code cache for its own
// modules; called here so that the check does not depend on how node was built)
if (mode === 'reset') require(flagsJs).resetHeapSetupFlags();
const src = 'function probe(a, b) { return [a, b].map((x) => x * 2).join(","); } probe(1, 2);';
let rejected = null;
if (mode === 'make') fs.writeFileSync(cacheFile, new vm.Script(src).createCachedData());
else rejected = new vm.Script(src, { cachedData: fs.readFileSync(cacheFile) }).cachedDataRejected;
let maxNew = 0;
const keep = [];
for (let r = 0; r < 30; r++) {
  const g = [];
  for (let i = 0; i < 100000; i++) g.push({ i, s: 'x' + i });
  keep.push(g[r]);
  maxNew = Math.max(maxNew, v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size);
}
process.stdout.write(JSON.stringify({ rejected, maxNew, limit: v8.getHeapStatistics().heap_size_limit }));
`);

const INIT_FLAGS = ['--max-semi-space-size=1', '--max-old-space-size=48'];
const run = (flags: string[], mode: string) =>
  JSON.parse(execFileSync(process.execPath, [...flags, probe, mode, flagsJs, cacheFile], { encoding: 'utf8' })) as { rejected: boolean | null; maxNew: number; limit: number };

t.test('the flags given are the ones set back, in either spelling', async (t) => {
  t.same(resetHeapSetupFlags(['--max-semi-space-size=1', '--max_old_space_size', '256', '--expose-gc', '--stack-size=900']), ['max-semi-space-size', 'max-old-space-size']);
  t.same(resetHeapSetupFlags([]), []);
  t.ok(HEAP_SETUP_FLAGS.every((f) => !f.includes('_')));
  t.equal(hasBuiltinCodeCache(), (process.config.variables as unknown as Record<string, unknown>).node_use_node_code_cache !== false);
});

t.test('heap limits kept, default-flag code cache accepted again', async (t) => {
  const plain = run([], 'make');
  const kept = run(INIT_FLAGS, 'keep');
  const reset = run(INIT_FLAGS, 'reset');
  t.equal(kept.rejected, true, 'control: with the flags left set, V8 refuses code cached with default flags (as it refuses Node\'s own)');
  t.equal(reset.rejected, false, 'with the flags set back, the same cache is accepted');
  t.equal(reset.limit, kept.limit, 'the heap size limit is the one --max-old-space-size set');
  t.not(reset.limit, plain.limit, 'control: the limit differs from the default one');
  t.equal(reset.maxNew, kept.maxNew, 'the young generation stays as small as --max-semi-space-size made it');
  t.ok(plain.maxNew > kept.maxNew, `control: without the flag the young generation grows under the same allocation (${plain.maxNew} > ${kept.maxNew})`);
});
