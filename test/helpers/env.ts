// Whether a test can run here, and what a missing prerequisite means.
//
// Something the repo's test command installs (a Debian package, the Netatalk chroot, the
// armhf sysroot, a native binding, chromium) is never a reason to skip under CI=true:
// there it is a failure that names the missing thing, because the test command should
// have installed it. Only what cannot exist on this kind of machine (installable:
// false, e.g. not running as root) is a skip, and scripts/test.sh lists every skip by
// name beside its closing line.
// Only a type import at the top: bench/ uses these helpers too, and loading tap in a
// process starts tap's root test (with its timeout) there.
import type { Test } from 'tap';

export const CI = process.env.CI === 'true';
export const isRoot = process.getuid?.() === 0;
export const NOT_ROOT = 'needs root (private mount namespaces, chroot, tmpfs mounts)';

/** What is missing, and whether the repo's test command could have installed it. */
export interface Missing { what: string; installable: boolean }

/** The first missing prerequisite of a list of checks, or null when all are there. */
export function firstMissing(...checks: Array<Missing | null | false | undefined>): Missing | null {
  return checks.find((c): c is Missing => !!c) ?? null;
}

/** A check: `ok` false means `what` is missing (installable unless said otherwise). */
export function need(ok: boolean, what: string, installable = true): Missing | null {
  return ok ? null : { what, installable };
}

/** Root is needed for namespaces and mounts; it cannot be installed. */
export function needRoot(): Missing | null {
  return need(isRoot, NOT_ROOT, false);
}

function normalise(m: Missing | string | null | false | undefined, installable?: boolean): Missing | null {
  if (!m) return null;
  return typeof m === 'string' ? { what: m, installable: installable ?? true } : m;
}

/**
 * Inside a test: returns true when it may go on; otherwise records a skip, or (under
 * CI=true, for what the repo installs) a failure that names the missing thing.
 */
export function canRun(t: Test, missing: Missing | string | null | false | undefined, opts: { installable?: boolean } = {}): boolean {
  const m = normalise(missing, opts.installable);
  if (!m) return true;
  if (CI && m.installable) t.fail(`missing: ${m.what} (the test command installs this; under CI=true that is a failure, not a skip)`);
  else t.pass(m.what, { skip: m.what });
  return false;
}

/** For a whole test file: `if (fileCanRun(...)) { ...tests... }`. */
export function fileCanRun(missing: Missing | string | null | false | undefined, opts: { installable?: boolean } = {}): boolean {
  const m = normalise(missing, opts.installable);
  if (!m) return true;
  const tap = require('tap').t as Test; // eslint-disable-line @typescript-eslint/no-var-requires
  if (CI && m.installable) tap.fail(`missing: ${m.what} (the test command installs this; under CI=true that is a failure, not a skip)`);
  else tap.plan(0, `skip: ${m.what}`);
  return false;
}

/**
 * A command line run without tap's process-info hook. tap adds its loader (a file inside
 * the checkout) to NODE_OPTIONS of every child, even one given its own env; a Node
 * process of another uid (nobody, the web server's user) then dies on that import when
 * the checkout lies in a 0700 folder. `env -u NODE_OPTIONS` drops it in between.
 */
export function untapped(cmd: string, args: string[]): [string, string[]] {
  return ['env', ['-u', 'NODE_OPTIONS', cmd, ...args]];
}
