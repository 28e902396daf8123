// Whether a test can run here, and what a missing prerequisite means.
//
// Something the repo's test command installs (a Debian package, the Netatalk chroot, the
// armhf sysroot, a native binding, chromium) is never a reason to skip under CI=true:
// there it is a failure that names the missing thing, because the test command should
// have installed it. Only what cannot exist on this kind of machine (installable:
// false, e.g. not root) is a skip, and scripts/test.sh lists every skip by name beside
// its closing line.
import type { Test } from 'tap';

export const CI = process.env.CI === 'true';

/**
 * Returns true when the test may go on. `missing` is null when nothing is missing, else
 * a short description ("smbd is not installed").
 */
export function canRun(t: Test, missing: string | null | false | undefined, opts: { installable?: boolean } = {}): boolean {
  if (!missing) return true;
  const installable = opts.installable ?? true;
  if (CI && installable) {
    t.fail(`missing: ${missing} (the test command installs this; under CI=true that is a failure, not a skip)`);
  } else {
    t.pass(missing, { skip: missing });
  }
  return false;
}


export const isRoot = process.getuid?.() === 0;
