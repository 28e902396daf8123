// nasauthd-start.js (daemon/start.ts): the bundle run through a V8 code cache, as the
// init script starts it. The cache is code, so it is used only from a directory and a
// file that belong to the daemon's user and that nobody else can write; a cache made for
// another build, or damaged, is made again; the daemon answers the same in every case.
import t, { type Test } from 'tap';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, addUser, authenticate, cleanup, ensureBuilt, startDaemon, type Daemon } from './helpers/daemon';
import { tempDir } from './helpers/tmp';
import { waitFor } from './helpers/wait';
import { canRun } from './helpers/env';

ensureBuilt();
// a copy of the two files, so that the bundle can be changed without touching dist/
const lib = tempDir('nasauth-cc-lib-');
chmodSync(lib, 0o755);
for (const f of ['nasauthd.js', 'nasauthd-start.js']) copyFileSync(join(ROOT, 'dist', f), join(lib, f));
const START = join(lib, 'nasauthd-start.js');
const cacheDir = tempDir('nasauth-cc-');
chmodSync(cacheDir, 0o700);
const CACHE = join(cacheDir, 'nasauthd.v8-cache');

const readyField = (d: Daemon) => /"event":"ready".*?"code_cache":"([^"]*)"/.exec(d.logs())?.[1] ?? '(none)';

async function start(env: Record<string, string> = { NASAUTH_CODE_CACHE: cacheDir }) {
  const d = await startDaemon({ script: START, env });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  return d;
}

async function answers(t: Test, d: Daemon, what: string) {
  await addUser(d, 'alice', 'Correct-Horse1');
  const r = await authenticate(d, 'alice', 'Correct-Horse1');
  t.equal(r.body.reason, 'ok', `${what}: the daemon answers`);
}

t.test('made at the first start, used at the next, and the daemon answers either way', async (t) => {
  const a = await start();
  t.equal(readyField(a), 'made', 'the first start makes it');
  await answers(t, a, 'made');
  await waitFor('the cache file', () => existsSync(CACHE));
  t.equal(statSync(CACHE).mode & 0o777, 0o600, 'written 0600');
  await a.stop();
  const before = readFileSync(CACHE);
  const b = await start();
  t.equal(readyField(b), 'used', 'the second start uses it');
  await answers(t, b, 'used');
  t.ok(readFileSync(CACHE).equals(before), 'a cache that was used is not written again');
});

t.test('a cache for another build, or damaged, is made again', async (t) => {
  await waitFor('a cache from the test before', () => existsSync(CACHE));
  // the bundle changed (a package upgrade): another mtime
  const now = new Date(Date.now() + 5000);
  utimesSync(join(lib, 'nasauthd.js'), now, now);
  const a = await start();
  t.match(readyField(a), /^made \(the last one was for another build, or damaged\)$/, 'another build: made again');
  await answers(t, a, 'another build');
  const mtime = `"mtime":${statSync(join(lib, 'nasauthd.js')).mtimeMs},`;
  await waitFor('the cache made for the new build', () => readFileSync(CACHE).toString('latin1').split('\n')[0].includes(mtime));
  await a.stop();
  // one byte of the data flipped: the checksum line no longer matches
  const bytes = readFileSync(CACHE);
  bytes[bytes.length - 100] ^= 0xff;
  writeFileSync(CACHE, bytes, { mode: 0o600 });
  const b = await start();
  t.match(readyField(b), /^made /, 'damaged: not used, made again');
  await answers(t, b, 'damaged');
});

t.test('not trusted: a directory or file others can write, or a file of another user', async (t) => {
  if (!canRun(t, process.getuid?.() !== 0 && 'root (to chown the cache to another user)', { installable: false })) return;
  chmodSync(cacheDir, 0o770);
  const a = await start();
  t.match(readyField(a), /^not used: .* is writable by its group or others \(mode 770\)$/, 'a group-writable directory is not trusted');
  await answers(t, a, 'group-writable directory');
  await a.stop();
  chmodSync(cacheDir, 0o700);
  chownSync(CACHE, 65534, 65534);
  const b = await start();
  t.match(readyField(b), /^not used: .* belongs to uid 65534, not 0$/, 'a file of another user is not trusted');
  await answers(t, b, 'foreign file');
  await b.stop();
  t.equal(statSync(CACHE).uid, 65534, 'and it is left alone (the administrator decides)');
  chownSync(CACHE, 0, 0);
  chmodSync(CACHE, 0o666);
  const c = await start();
  t.match(readyField(c), /^not used: .* is writable by its group or others \(mode 666\)$/, 'a world-writable file is not trusted');
  await answers(t, c, 'world-writable file');
  const missing = join(cacheDir, 'nope');
  const d = await start({ NASAUTH_CODE_CACHE: missing });
  t.match(readyField(d), /^not used: ENOENT/, 'a directory that is not there');
  await answers(t, d, 'no directory');
  mkdirSync(missing, { mode: 0o700 });
});

t.test('without NASAUTH_CODE_CACHE the bundle is compiled as always', async (t) => {
  const env: Record<string, string> = {};
  const d = await start(env);
  t.equal(readyField(d), 'off');
  await answers(t, d, 'off');
});
