// nasauthd-start.js: run nasauthd.js (the bundle beside this file) through a V8 code
// cache, so that a start does not compile the bundle again. What the init script runs;
// `node nasauthd.js` still works alone and does exactly the same, only slower to start.
//
// Compiling the 1.4 MB bundle and the functions the start runs is about 20 ms of a
// 130 ms start on x86 and about 0.3 s of 2.4 s under qemu-arm (docs/performance.md).
// Node 20 has no compile cache of its own (Node 22's module.enableCompileCache), so this
// small file reads the bundle as text, compiles it with vm.Script and the cached data
// of the last start, and writes new cached data once the daemon is ready.
//
// The cache is code: whoever can write it runs code as the daemon's user (root). It is
// used only from NASAUTH_CODE_CACHE, a directory that must belong to this process's user
// and be writable by nobody else, and only a file in it that belongs to this user and is
// writable by nobody else; otherwise the bundle is compiled as usual and the ready line
// says why (code_cache). The file starts with a line naming what it was made for (Node's
// version, the architecture, the node options, the bundle's size, mtime and inode) and a
// line with the SHA-256 of the data (V8 checks its version, flags and the source's length,
// but not the data itself in a release build: a damaged file would run damaged code);
// any difference and the cache is made again.
import './start-flags'; // first: see there (the heap flags, and Node's own code cache)
import { closeSync, fstatSync, lstatSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import type * as NodeModuleNs from 'node:module';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Script } from 'node:vm';

// The CommonJS Module class, from this file's own module object: require('node:module')
// would also load the ES module loader and the source map support (about 1 ms of a start)
const Module = module.constructor as typeof NodeModuleNs.Module;
const BUNDLE = join(__dirname, 'nasauthd.js');
const FILE = 'nasauthd.v8-cache';
const MAX_BYTES = 32 * 1024 * 1024;
/** what the daemon's ready line reports (read by daemon/main.ts) */
const STATUS = Symbol.for('nasauth.codeCache');

type Status = 'off' | 'used' | 'made' | string;

function setStatus(s: Status) {
  (globalThis as Record<symbol, unknown>)[STATUS] = s;
}

/** Why `path` may not be trusted as code for this process (or null). */
function unsafe(path: string, dir: boolean): string | null {
  const st = lstatSync(path);
  const uid = process.geteuid?.() ?? 0;
  if (dir ? !st.isDirectory() : !st.isFile()) return `${path} is not a ${dir ? 'directory' : 'regular file'}`;
  if (st.uid !== uid) return `${path} belongs to uid ${st.uid}, not ${uid}`;
  if ((st.mode & 0o022) !== 0) return `${path} is writable by its group or others (mode ${(st.mode & 0o777).toString(8)})`;
  return null;
}

function readCache(file: string, key: string): Buffer | null {
  const fd = openSync(file, 'r');
  try {
    if (fstatSync(fd).size > MAX_BYTES) return null;
    const b = readFileSync(fd);
    const nl = b.indexOf(10);
    if (nl < 0 || b.toString('utf8', 0, nl) !== key) return null;
    const nl2 = b.indexOf(10, nl + 1);
    if (nl2 < 0) return null;
    const data = b.subarray(nl2 + 1);
    return createHash('sha256').update(data).digest('hex') === b.toString('latin1', nl + 1, nl2) ? data : null;
  } finally {
    closeSync(fd);
  }
}

function run() {
  const dir = process.env.NASAUTH_CODE_CACHE ?? '';
  // UTF-8, not latin1 (the bundle is ASCII, so either gives the same text): latin1 makes
  // Node hand V8 an external copy of 1 MB outside its heap, about 1 ms faster on x86 but
  // +0.7 MB of idle RSS in the armhf boot (47 764 / 47 888 KiB against 47 108 with UTF-8)
  let src = readFileSync(BUNDLE, 'utf8');
  if (src.startsWith('#!')) src = `//${src.slice(2)}`; // a hashbang is valid only at the start of a script
  const st = statSync(BUNDLE);
  const key = JSON.stringify({ v: 1, node: process.version, arch: process.arch, options: process.execArgv, size: st.size, mtime: st.mtimeMs, ino: st.ino });
  const file = join(dir, FILE);
  let cached: Buffer | null = null;
  let status: Status = 'off';
  if (dir) {
    try {
      const exists = lstatExists(file);
      const why = unsafe(dir, true) ?? (exists ? unsafe(file, false) : null);
      if (why) status = `not used: ${why}`;
      else {
        cached = exists ? readCache(file, key) : null;
        status = cached ? 'used' : exists ? 'made (the last one was for another build, or damaged)' : 'made';
      }
    } catch (e) {
      status = `not used: ${(e as Error).message}`;
    }
  }
  const script = new Script(Module.wrap(src), { filename: BUNDLE, cachedData: cached ?? undefined });
  if (cached && script.cachedDataRejected) status = 'made (the last one was refused by V8)';
  setStatus(status);
  if (status.startsWith('made')) {
    // once the daemon is ready: daemon/main.ts emits this right after the ready line and
    // before anything sets V8 flags at run time (the startup collection's --expose-gc),
    // which would make the data unusable for the next start; so it is written at once,
    // not later (a few ms, at a start that has no cache only)
    (process as NodeJS.EventEmitter).once('nasauth:ready', () => {
      const tmp = `${file}.${process.pid}.tmp`;
      try {
        const data = script.createCachedData();
        writeFileSync(tmp, Buffer.concat([Buffer.from(`${key}\n${createHash('sha256').update(data).digest('hex')}\n`), data]), { mode: 0o600, flag: 'wx' });
        renameSync(tmp, file);
      } catch {
        try { unlinkSync(tmp); } catch { /* not there */ }
        setStatus('off (could not be written)');
      }
    });
  }
  const m = new Module(BUNDLE, undefined);
  m.filename = BUNDLE;
  m.paths = (Module as unknown as { _nodeModulePaths(d: string): string[] })._nodeModulePaths(dirname(BUNDLE));
  const req = Module.createRequire(BUNDLE) as NodeJS.Require;
  (req as { main: unknown }).main = m; // the bundle runs main() when require.main === module
  (script.runInThisContext() as (...a: unknown[]) => void).call(m.exports, m.exports, req, m, BUNDLE, dirname(BUNDLE));
}

function lstatExists(p: string): boolean {
  try { lstatSync(p); return true; } catch { return false; }
}

run();
