// bcrypt ("$2a$", "$2b$", "$2y$") through the bcryptjs package (pure JavaScript, no native
// addon, bundles into the daemon). What stays here is ours: the strict syntax check of a
// stored hash, the cost ceiling that bounds the work per login, and the byte → string
// step bcryptjs needs (see README.md: passwords that are not valid UTF-8).
import bcryptjs from 'bcryptjs';
import { CryptSettingError } from './common';

export const BCRYPT_COST_MIN = 4;
/**
 * Our own ceiling. bcrypt allows cost 31 (2^31 key-schedule iterations: days of CPU on a
 * Cortex-A9). Each step doubles the work; cost 16 is already ~2,000x the common default 10
 * (measured: see README). An imported hash with a larger cost would make every login attempt
 * against that account a denial of service, so it is refused.
 */
export const BCRYPT_COST_LIMIT = 16;

const B64 = /^[./A-Za-z0-9]*$/;

export interface BcryptSetting { minor: 'a' | 'b' | 'y'; cost: number; setting: string }

/** Parse "$2x$NN$<22 salt chars>[<31 hash chars>]"; throws CryptSettingError. */
export function parseBcryptSetting(setting: string, requireHash: boolean): BcryptSetting {
  const m = /^\$2([aby])\$([0-9]{2})\$(.*)$/s.exec(setting);
  if (!m) {
    if (/^\$2x\$/.test(setting)) throw new CryptSettingError('bcrypt $2x$ (the sign-extension bug variant) is not supported');
    throw new CryptSettingError('bcrypt hash must look like $2a$/$2b$/$2y$, two-digit cost, $, 22 salt + 31 hash characters');
  }
  const minor = m[1] as 'a' | 'b' | 'y';
  const cost = Number(m[2]);
  const rest = m[3];
  if (cost < BCRYPT_COST_MIN || cost > 31) throw new CryptSettingError(`bcrypt cost ${m[2]} is outside 04..31`);
  if (cost > BCRYPT_COST_LIMIT) {
    throw new CryptSettingError(`bcrypt cost ${cost} is above this system's limit of ${BCRYPT_COST_LIMIT} (refused to bound the work per login)`);
  }
  if (requireHash ? rest.length !== 53 : rest.length !== 22 && rest.length !== 53) {
    throw new CryptSettingError(`bcrypt salt+hash must be ${requireHash ? '53' : '22 or 53'} characters, got ${rest.length}`);
  }
  if (!B64.test(rest.slice(0, 22))) throw new CryptSettingError('bcrypt salt has characters outside ./A-Za-z0-9');
  if (!B64.test(rest.slice(22))) throw new CryptSettingError('bcrypt hash part has characters outside ./A-Za-z0-9');
  return { minor, cost, setting: `$2${minor}$${m[2]}$${rest.slice(0, 22)}` };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * bcryptjs takes the password as a JavaScript string and hashes its UTF-8 bytes, so only
 * passwords whose bytes are valid UTF-8 can be given to it exactly (every password that
 * reached nasauth as text is). Any other byte string, and one with a NUL (crypt(3) would
 * have cut it there), cannot be hashed: CryptSettingError, which verifyLegacy turns into false.
 */
function asText(password: Buffer): string {
  if (password.includes(0)) throw new CryptSettingError('bcrypt: password contains a NUL byte');
  try { return strictUtf8.decode(password); } catch {
    throw new CryptSettingError('bcrypt: the password bytes are not valid UTF-8 (bcryptjs hashes text)');
  }
}

export function bcryptSync(password: Buffer, setting: string): string {
  const s = parseBcryptSetting(setting, false);
  return bcryptjs.hashSync(asText(password), s.setting);
}

/** bcryptjs yields to the event loop (setImmediate) every 100 ms of work. */
export function bcryptAsync(password: Buffer, setting: string): Promise<string> {
  const s = parseBcryptSetting(setting, false);
  return bcryptjs.hash(asText(password), s.setting);
}
