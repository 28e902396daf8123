// sha256-crypt ("$5$") and sha512-crypt ("$6$") per Ulrich Drepper's specification
// ("Unix crypt using SHA-256 and SHA-512", https://www.akkadia.org/drepper/SHA-crypt.txt).
import { createHash } from 'node:crypto';
import { b64From24, isCryptB64, CryptSettingError, Steps } from './common';

export type ShaVariant = 'sha256' | 'sha512';

const ROUNDS_DEFAULT = 5000;
export const SHA_ROUNDS_MIN = 1000; // spec minimum; smaller values are clamped up by crypt(3)
export const SHA_ROUNDS_SPEC_MAX = 999_999_999; // spec maximum; larger values are clamped down
/**
 * Our own ceiling. The spec allows 999,999,999 rounds, which is minutes of CPU per attempt
 * on a Cortex-A9: a single imported hash like that would be a denial of service on every login
 * attempt. 1,000,000 still covers the largest values in common use (passlib's defaults are
 * 535,000 for $5$ and 656,000 for $6$); anything above is refused, never clamped (clamping
 * would compute a different hash).
 */
export const SHA_ROUNDS_LIMIT = 1_000_000;
const SALT_MAX = 16;
const YIELD_EVERY = 4096;

const INFO = {
  sha256: { magic: '$5$', hashLen: 32, chars: 43, name: 'sha256-crypt' },
  sha512: { magic: '$6$', hashLen: 64, chars: 86, name: 'sha512-crypt' },
} as const;

// Byte order of the final base-64 encoding (glibc sha256-crypt.c / sha512-crypt.c).
function order(variant: ShaVariant): number[][] {
  const out: number[][] = [];
  if (variant === 'sha256') {
    for (let i = 0; i < 10; i++) {
      const a = i, b = i + 10, c = i + 20;
      out.push(i % 3 === 0 ? [a, b, c] : i % 3 === 1 ? [c, a, b] : [b, c, a]);
    }
  } else {
    for (let i = 0; i < 21; i++) {
      const a = i, b = i + 21, c = i + 42;
      out.push(i % 3 === 0 ? [a, b, c] : i % 3 === 1 ? [b, c, a] : [c, a, b]);
    }
  }
  return out;
}
const ORDER = { sha256: order('sha256'), sha512: order('sha512') };

export interface ShaSetting {
  rounds: number;
  custom: boolean;
  salt: string;
}

/** Parse a setting the way crypt(3) does (lenient: clamps rounds, truncates the salt). */
export function parseShaSetting(variant: ShaVariant, setting: string): ShaSetting {
  const { magic, name } = INFO[variant];
  if (!setting.startsWith(magic)) throw new CryptSettingError(`${name} setting must start with ${magic}`);
  // eslint-disable-next-line no-control-regex
  if (/[^\x20-\x7e]/.test(setting)) throw new CryptSettingError(`${name} setting must be printable ASCII`);
  let rest = setting.slice(magic.length);
  let rounds = ROUNDS_DEFAULT;
  let custom = false;
  const m = /^rounds=([0-9]+)\$/.exec(rest);
  if (m) {
    const n = Number(m[1]);
    rounds = Math.max(SHA_ROUNDS_MIN, Math.min(n, SHA_ROUNDS_SPEC_MAX));
    custom = true;
    rest = rest.slice(m[0].length);
  }
  const d = rest.indexOf('$');
  const salt = (d >= 0 ? rest.slice(0, d) : rest).slice(0, SALT_MAX);
  if (rounds > SHA_ROUNDS_LIMIT) {
    throw new CryptSettingError(`${name} rounds=${rounds} is above this system's limit of ${SHA_ROUNDS_LIMIT}`);
  }
  return { rounds, custom, salt };
}

/** Strict check of a stored hash; returns an error text or null. */
export function checkShaHash(variant: ShaVariant, hash: string): string | null {
  const { magic, chars, name } = INFO[variant];
  if (!hash.startsWith(magic)) return `${name} hash must start with ${magic}`;
  const m = /^(?:rounds=([^$]*)\$)?([^$]*)\$([^$]*)$/.exec(hash.slice(magic.length));
  if (!m) return `${name} hash must look like ${magic}[rounds=N$]<salt>$<${chars} chars>`;
  const [, r, salt, enc] = m;
  if (r !== undefined) {
    if (!/^[1-9][0-9]{0,9}$/.test(r)) return `${name} rounds= must be a decimal number without leading zeros`;
    const n = Number(r);
    if (n < SHA_ROUNDS_MIN) return `${name} rounds=${n} is below the minimum ${SHA_ROUNDS_MIN} (crypt would have written rounds=${SHA_ROUNDS_MIN})`;
    if (n > SHA_ROUNDS_SPEC_MAX) return `${name} rounds=${n} is above the maximum ${SHA_ROUNDS_SPEC_MAX}`;
    if (n > SHA_ROUNDS_LIMIT) return `${name} rounds=${n} is above this system's limit of ${SHA_ROUNDS_LIMIT} (refused to bound the work per login)`;
  }
  if (salt.length > SALT_MAX) return `${name} salt longer than ${SALT_MAX} characters`;
  if (!isCryptB64(salt)) return `${name} salt has characters outside [./0-9A-Za-z]`;
  if (enc.length !== chars) return `${name} hash part must be ${chars} characters, got ${enc.length}`;
  if (!isCryptB64(enc)) return `${name} hash part has characters outside [./0-9A-Za-z]`;
  return null;
}

function repeatDigest(variant: ShaVariant, block: Buffer, times: number): Buffer {
  const h = createHash(variant);
  for (let i = 0; i < times; i++) h.update(block);
  return h.digest();
}

function stretch(digest: Buffer, len: number): Buffer {
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; i += digest.length) digest.copy(out, i, 0, Math.min(digest.length, len - i));
  return out;
}

export function* shaCryptSteps(variant: ShaVariant, password: Buffer, setting: string): Steps<string> {
  const { magic, hashLen } = INFO[variant];
  const { rounds, custom, salt: saltStr } = parseShaSetting(variant, setting);
  const pw = password;
  const salt = Buffer.from(saltStr, 'latin1');

  // Steps 4-8: digest B = H(pw salt pw)
  const B = createHash(variant).update(pw).update(salt).update(pw).digest();
  // Steps 1-3, 9-12: digest A
  const a = createHash(variant).update(pw).update(salt);
  let cnt: number;
  for (cnt = pw.length; cnt > hashLen; cnt -= hashLen) a.update(B);
  a.update(B.subarray(0, cnt));
  for (cnt = pw.length; cnt > 0; cnt >>>= 1) a.update(cnt & 1 ? B : pw);
  let A = a.digest();
  // Steps 13-16: P sequence
  const P = stretch(repeatDigest(variant, pw, pw.length), pw.length);
  // Steps 17-20: S sequence
  const S = stretch(repeatDigest(variant, salt, 16 + A[0]), salt.length);
  // Step 21
  for (let r = 0; r < rounds; r++) {
    const c = createHash(variant);
    c.update(r & 1 ? P : A);
    if (r % 3) c.update(S);
    if (r % 7) c.update(P);
    c.update(r & 1 ? A : P);
    A = c.digest();
    if ((r + 1) % YIELD_EVERY === 0) yield;
  }
  let enc = '';
  for (const [x, y, z] of ORDER[variant]) enc += b64From24(A[x], A[y], A[z], 4);
  enc += variant === 'sha256' ? b64From24(0, A[31], A[30], 3) : b64From24(0, 0, A[63], 2);
  return magic + (custom ? `rounds=${rounds}$` : '') + saltStr + '$' + enc;
}
