// md5-crypt ("$1$"), Poul-Henning Kamp's FreeBSD algorithm as implemented by glibc/libxcrypt.
import { createHash } from 'node:crypto';
import { b64From24, isCryptB64, CryptSettingError } from './common';

const MAGIC = '$1$';
export const MD5_SALT_MAX = 8;
const HASH_CHARS = 22;

/** Salt as crypt(3) reads it from a setting: up to the next '$', at most 8 characters. */
function settingSalt(setting: string): string {
  if (!setting.startsWith(MAGIC)) throw new CryptSettingError('md5-crypt setting must start with $1$');
  let salt = setting.slice(MAGIC.length);
  const d = salt.indexOf('$');
  if (d >= 0) salt = salt.slice(0, d);
  return salt.slice(0, MD5_SALT_MAX);
}

/** Strict check of a stored md5-crypt hash; returns an error text or null. */
export function checkMd5Hash(hash: string): string | null {
  const m = /^\$1\$([^$]*)\$([^$]*)$/.exec(hash);
  if (!m) return 'md5-crypt hash must look like $1$<salt>$<22 chars>';
  const [, salt, enc] = m;
  if (salt.length > MD5_SALT_MAX) return `md5-crypt salt longer than ${MD5_SALT_MAX} characters`;
  if (!isCryptB64(salt)) return 'md5-crypt salt has characters outside [./0-9A-Za-z]';
  if (enc.length !== HASH_CHARS) return `md5-crypt hash part must be ${HASH_CHARS} characters, got ${enc.length}`;
  if (!isCryptB64(enc)) return 'md5-crypt hash part has characters outside [./0-9A-Za-z]';
  return null;
}

export function md5Crypt(password: Buffer, setting: string): string {
  const salt = Buffer.from(settingSalt(setting), 'latin1');
  const pw = password;
  const magic = Buffer.from(MAGIC, 'latin1');

  const alt = createHash('md5').update(pw).update(salt).update(pw).digest();
  const ctx = createHash('md5').update(pw).update(magic).update(salt);
  for (let pl = pw.length; pl > 0; pl -= 16) ctx.update(alt.subarray(0, Math.min(16, pl)));
  const zero = Buffer.alloc(1);
  const first = pw.subarray(0, 1);
  for (let i = pw.length; i; i >>>= 1) ctx.update(i & 1 ? zero : first);
  let fin = ctx.digest();

  for (let i = 0; i < 1000; i++) {
    const c = createHash('md5');
    c.update(i & 1 ? pw : fin);
    if (i % 3) c.update(salt);
    if (i % 7) c.update(pw);
    c.update(i & 1 ? fin : pw);
    fin = c.digest();
  }

  const f = fin;
  const enc =
    b64From24(f[0], f[6], f[12], 4) +
    b64From24(f[1], f[7], f[13], 4) +
    b64From24(f[2], f[8], f[14], 4) +
    b64From24(f[3], f[9], f[15], 4) +
    b64From24(f[4], f[10], f[5], 4) +
    b64From24(0, 0, f[11], 2);
  return MAGIC + salt.toString('latin1') + '$' + enc;
}
