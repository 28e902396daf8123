// Verifiers for legacy crypt(3) password hashes imported from an old system, in pure
// TypeScript (node:crypto for SHA/MD5/HMAC/PBKDF2 only; no native addons). See README.md.
import { timingSafeEqual } from 'node:crypto';
import { CryptSettingError, runAsync, runSync, Steps } from './common';
import { checkMd5Hash, md5Crypt } from './md5crypt';
import { checkShaHash, shaCryptSteps } from './shacrypt';
import { bcryptAsync, bcryptSync, parseBcryptSetting } from './bcrypt';
import { parseYescryptSetting, yescryptSteps } from './yescrypt';

export type LegacyKind = 'md5-crypt' | 'sha256-crypt' | 'sha512-crypt' | 'bcrypt' | 'yescrypt';
export { CryptSettingError };
export { SHA_ROUNDS_LIMIT } from './shacrypt';
export { BCRYPT_COST_LIMIT } from './bcrypt';
export { YESCRYPT_MEM_LIMIT } from './yescrypt';

/** Longest hash string we look at (yescrypt with a 64-byte salt and all parameters is ~190). */
export const MAX_HASH_LENGTH = 256;

/** Which algorithm a hash claims to be, by its prefix alone (no syntax check). */
export function identify(hash: string): LegacyKind | null {
  if (typeof hash !== 'string') return null;
  if (hash.startsWith('$1$')) return 'md5-crypt';
  if (hash.startsWith('$5$')) return 'sha256-crypt';
  if (hash.startsWith('$6$')) return 'sha512-crypt';
  if (/^\$2[aby]\$/.test(hash)) return 'bcrypt';
  if (hash.startsWith('$y$')) return 'yescrypt';
  return null;
}

/** Strict syntax and policy check of a stored hash. Never throws. */
export function parseLegacy(hash: string): { kind: LegacyKind } | { error: string } {
  if (typeof hash !== 'string') return { error: 'hash is not a string' };
  if (hash.length > MAX_HASH_LENGTH) return { error: `hash is longer than ${MAX_HASH_LENGTH} characters` };
  const kind = identify(hash);
  if (!kind) {
    if (/^\$2x\$/.test(hash)) return { error: 'bcrypt $2x$ (hashes made with the old sign-extension bug) is not supported' };
    if (/^\$(7|gy|sha1|md5|argon2[a-z]*|pbkdf2[-a-z0-9]*)\$/.test(hash)) return { error: `unsupported hash scheme ${hash.split('$')[1]}` };
    if (hash === '' || hash === '*' || hash.startsWith('!')) return { error: 'hash is empty or a locked-account marker' };
    return { error: 'unknown hash format (expected a $1$, $5$, $6$, $2a$/$2b$/$2y$ or $y$ prefix)' };
  }
  let err: string | null = null;
  try {
    switch (kind) {
      case 'md5-crypt':
        err = checkMd5Hash(hash);
        break;
      case 'sha256-crypt':
        err = checkShaHash('sha256', hash);
        break;
      case 'sha512-crypt':
        err = checkShaHash('sha512', hash);
        break;
      case 'bcrypt':
        parseBcryptSetting(hash, true);
        break;
      case 'yescrypt':
        parseYescryptSetting(hash, true);
        break;
    }
  } catch (e) {
    err = e instanceof CryptSettingError ? e.message : `malformed ${kind} hash`;
  }
  return err ? { error: err } : { kind };
}

function steps(kind: LegacyKind, password: Buffer, setting: string): Steps<string> {
  switch (kind) {
    case 'md5-crypt':
      // 1,000 MD5 rounds: ~1 ms, no need to yield.
      // eslint-disable-next-line require-yield
      return (function* () {
        return md5Crypt(password, setting);
      })();
    case 'sha256-crypt':
      return shaCryptSteps('sha256', password, setting);
    case 'sha512-crypt':
      return shaCryptSteps('sha512', password, setting);
    case 'bcrypt':
      throw new CryptSettingError('bcrypt runs in bcryptjs, not as steps');
    case 'yescrypt':
      return yescryptSteps(password, setting);
    default:
      throw new CryptSettingError(`unknown kind ${String(kind)}`);
  }
}

/**
 * crypt(3): the full hash string for `password` with the salt/parameters of `setting`
 * (a setting such as "$5$rounds=10000$salt", or a complete hash). Parses the setting the
 * way crypt(3) does (sha-crypt clamps rounds and truncates the salt per the spec), but
 * refuses work above this system's limits. Throws CryptSettingError on a bad setting.
 * Synchronous: yescrypt at Debian's default parameters blocks for a while (see README).
 */
export function cryptSync(kind: LegacyKind, password: Buffer, setting: string): string {
  if (identify(setting) !== kind) throw new CryptSettingError(`setting is not a ${kind} setting`);
  if (kind === 'bcrypt') return bcryptSync(password, setting);
  return runSync(steps(kind, password, setting));
}

/** Like cryptSync, but yields to the event loop every few milliseconds of work. */
export function cryptAsync(kind: LegacyKind, password: Buffer, setting: string): Promise<string> {
  if (identify(setting) !== kind) return Promise.reject(new CryptSettingError(`setting is not a ${kind} setting`));
  if (kind === 'bcrypt') return bcryptAsync(password, setting);
  return runAsync(steps(kind, password, setting));
}

/**
 * True iff `password` matches the stored legacy `hash`. Malformed or refused hashes, and
 * passwords containing a NUL byte (crypt(3) would have cut them there), give false; this
 * never throws. The final comparison of the re-encoded hash strings is constant-time.
 */
export async function verifyLegacy(hash: string, password: Buffer): Promise<boolean> {
  try {
    const parsed = parseLegacy(hash);
    if ('error' in parsed) return false;
    if (!Buffer.isBuffer(password) || password.includes(0)) return false;
    const computed = Buffer.from(await cryptAsync(parsed.kind, password, hash), 'latin1');
    const expected = Buffer.from(hash, 'latin1');
    if (computed.length !== expected.length) return false;
    return timingSafeEqual(computed, expected);
  } catch {
    return false;
  }
}
