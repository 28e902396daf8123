// Temporary folders of a test process. Every folder made here is removed when the test
// process exits, also when a test failed before its own teardown ran (tests still remove
// what they made in t.teardown; this is the net under it). Folders are world-readable
// (0755): some tests run programs as another uid (pamtester as nobody, a foreign socket
// server) that must reach what is inside. scripts/test.sh points TMPDIR at a folder of
// the run's own and fails the run when anything is left in it.
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

const made = new Set<string>();
const hooks: Array<() => void> = [];

process.on('exit', () => {
  for (const fn of hooks.splice(0)) { try { fn(); } catch { /* best effort */ } }
  for (const d of made) { try { rmSync(d, { recursive: true, force: true }); } catch { /* best effort */ } }
});

/** Run `fn` (synchronously) when the test process exits, e.g. kill a server a failed test left. */
export function atExit(fn: () => void) { hooks.push(fn); }

/** A new temporary folder `<TMPDIR>/<prefix>XXXXXX`, mode 0755, removed at exit at the latest. */
export function tempDir(prefix: string, mode = 0o755): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, mode);
  made.add(dir);
  return dir;
}

/** Remove a folder made by tempDir now (idempotent); one that cannot go yet (a mount
 *  still on it) is tried again at exit. */
export function removeDir(dir: string) {
  try {
    rmSync(dir, { recursive: true, force: true });
    made.delete(dir);
  } catch { /* kept in `made`: tried again at exit */ }
}

let shared: string | null = null;
/**
 * A copy of `file` that every uid can read, outside the checkout: the checkout may lie
 * in a folder only root can enter (a clone inside `mktemp -d`), and pamtester running as
 * nobody must still load pam_nasauth.so.
 */
export function worldReadableCopy(file: string): string {
  shared ??= tempDir('nasauth-shared-');
  const dest = join(shared, basename(file));
  copyFileSync(file, dest);
  chmodSync(dest, 0o755);
  return dest;
}
