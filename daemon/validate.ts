// What POSIX tools and Samba accept, and a clear error otherwise.
import { NasauthError } from './errors';

// Lower case only: Samba and Finder users type names in any case, and one canonical
// spelling avoids two accounts that differ only by case (smbd lowercases before getpwnam).
const NAME_RE = /^[a-z_][a-z0-9_.-]{0,31}$/;
const RESERVED = new Set(['root', 'nobody', 'daemon', 'bin', 'sys', 'sync', 'games', 'man', 'lp', 'mail', 'news', 'uucp', 'proxy', 'www-data', 'backup', 'list', 'irc', 'gnats', 'sshd', 'messagebus', 'systemd-network', 'guest']);

export function checkName(name: unknown, what = 'account'): string {
  if (typeof name !== 'string') throw new NasauthError('NASAUTH_INVALID_NAME', `the ${what} name must be a string`, 'name');
  if (!NAME_RE.test(name)) {
    throw new NasauthError('NASAUTH_INVALID_NAME',
      `"${printable(name)}" is not a valid ${what} name: use 1-32 characters, lower-case letters, digits, "_", "." or "-", starting with a letter or "_" (POSIX and Samba rules)`, 'name');
  }
  if (RESERVED.has(name)) throw new NasauthError('NASAUTH_INVALID_NAME', `"${name}" is reserved for the system; choose another ${what} name`, 'name');
  return name;
}

/**
 * Lookup form of a name typed by a user: lower-cased; null when it cannot be a name.
 * Only ASCII is folded: toLowerCase maps some non-ASCII letters onto ASCII ones
 * (U+212A KELVIN SIGN becomes "k"), so "\u212Aate" would otherwise be kate.
 */
export function lookupName(name: string): string | null {
  if (name.length === 0 || name.length > 32) return null;
  if (!/^[\x21-\x7e]+$/.test(name)) return null; // printable ASCII only, checked before folding
  const n = name.toLowerCase();
  return NAME_RE.test(n) ? n : null;
}

// A pragmatic address check (RFC 5322's full grammar is not what people type).
const EMAIL_RE = /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;
export function checkEmail(email: unknown): string | null {
  if (email === null || email === '') return null;
  if (typeof email !== 'string' || email.length > 254 || !EMAIL_RE.test(email) || email.split('@')[0].length > 64) {
    throw new NasauthError('NASAUTH_INVALID_EMAIL', `"${printable(String(email))}" is not a valid e-mail address (like name@example.com)`, 'email');
  }
  return email;
}

export function checkFullName(v: unknown): string {
  if (typeof v !== 'string' || v.length > 256 || /[\x00-\x1f\x7f:]/.test(v)) {
    throw new NasauthError('NASAUTH_INVALID_FIELD', 'the full name must be text of at most 256 characters without control characters or ":" (it goes into the passwd GECOS field)', 'full_name');
  }
  return v.normalize('NFC');
}

export function printable(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.slice(0, 64).replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
