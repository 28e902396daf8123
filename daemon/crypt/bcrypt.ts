// bcrypt ("$2a$", "$2b$", "$2y$"): Provos & Mazieres' eksblowfish, following the semantics of
// Openwall's crypt_blowfish as shipped in libxcrypt (the Linux crypt(3) that made these hashes).
import { blowfishInitState } from './bf-tables';
import { CryptSettingError, Steps } from './common';

const BF_ITOA64 = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const BF_ATOI64 = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) BF_ATOI64[BF_ITOA64.charCodeAt(i)] = i;

export const BCRYPT_COST_MIN = 4;
/**
 * Our own ceiling. bcrypt allows cost 31 (2^31 key-schedule iterations: days of CPU on a
 * Cortex-A9). Each step doubles the work; cost 16 is already ~2,000x the common default 10
 * (measured: see README). An imported hash with a larger cost would make every login attempt
 * against that account a denial of service, so it is refused.
 */
export const BCRYPT_COST_LIMIT = 16;
const YIELD_EVERY = 16; // key-schedule iterations (each ~1,000 block encryptions)

export interface BcryptSetting {
  minor: 'a' | 'b' | 'y';
  cost: number;
  saltWords: Uint32Array; // 4 big-endian words
  saltCanonical: string; // the 22 salt characters as crypt(3) writes them back
}

function bfDecode(s: string, nbytes: number): Uint8Array | null {
  const out = new Uint8Array(nbytes);
  let o = 0;
  let i = 0;
  const c = (): number => {
    const code = s.charCodeAt(i++);
    return code < 128 ? BF_ATOI64[code] : -1;
  };
  while (o < nbytes) {
    const c1 = c(), c2 = c();
    if (c1 < 0 || c2 < 0) return null;
    out[o++] = (c1 << 2) | ((c2 & 0x30) >> 4);
    if (o >= nbytes) break;
    const c3 = c();
    if (c3 < 0) return null;
    out[o++] = ((c2 & 0x0f) << 4) | ((c3 & 0x3c) >> 2);
    if (o >= nbytes) break;
    const c4 = c();
    if (c4 < 0) return null;
    out[o++] = ((c3 & 0x03) << 6) | c4;
  }
  return out;
}

function bfEncode(src: Uint8Array, n: number): string {
  let out = '';
  let i = 0;
  while (i < n) {
    let c1 = src[i++];
    out += BF_ITOA64[c1 >> 2];
    c1 = (c1 & 0x03) << 4;
    if (i >= n) {
      out += BF_ITOA64[c1];
      break;
    }
    let c2 = src[i++];
    c1 |= c2 >> 4;
    out += BF_ITOA64[c1];
    c1 = (c2 & 0x0f) << 2;
    if (i >= n) {
      out += BF_ITOA64[c1];
      break;
    }
    c2 = src[i++];
    c1 |= c2 >> 6;
    out += BF_ITOA64[c1];
    out += BF_ITOA64[c2 & 0x3f];
  }
  return out;
}

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
  const saltStr = rest.slice(0, 22);
  const salt = bfDecode(saltStr, 16);
  if (!salt) throw new CryptSettingError('bcrypt salt has characters outside [./A-Za-z0-9]');
  if (rest.length === 53 && !bfDecode(rest.slice(22), 23)) throw new CryptSettingError('bcrypt hash part has characters outside [./A-Za-z0-9]');
  const saltWords = new Uint32Array(4);
  for (let i = 0; i < 4; i++) saltWords[i] = ((salt[4 * i] << 24) | (salt[4 * i + 1] << 16) | (salt[4 * i + 2] << 8) | salt[4 * i + 3]) >>> 0;
  // crypt_blowfish writes the salt back from the decoded bits: the last character keeps only 2 bits.
  const last = BF_ITOA64[BF_ATOI64[saltStr.charCodeAt(21)] & 0x30];
  return { minor, cost, saltWords, saltCanonical: saltStr.slice(0, 21) + last };
}

// State layout in one Int32Array: P[0..17], then S0, S1, S2, S3 (256 words each).
const P0 = 0, S0 = 18, S1 = 18 + 256, S2 = 18 + 512, S3 = 18 + 768, STATE_WORDS = 18 + 1024;

/** Encrypt (lr[0], lr[1]) in place with state st (16 rounds). */
function encrypt(st: Int32Array, lr: Int32Array): void {
  let L = lr[0], R = lr[1];
  L ^= st[P0];
  for (let i = 0; i < 16; i += 2) {
    R ^= (((st[S0 + (L >>> 24)] + st[S1 + ((L >>> 16) & 0xff)]) ^ st[S2 + ((L >>> 8) & 0xff)]) + st[S3 + (L & 0xff)]) ^ st[P0 + i + 1];
    L ^= (((st[S0 + (R >>> 24)] + st[S1 + ((R >>> 16) & 0xff)]) ^ st[S2 + ((R >>> 8) & 0xff)]) + st[S3 + (R & 0xff)]) ^ st[P0 + i + 2];
  }
  lr[0] = R ^ st[P0 + 17];
  lr[1] = L;
}

/** Encrypt a zero block repeatedly through the whole state (Blowfish key schedule body). */
function body(st: Int32Array, lr: Int32Array): void {
  lr[0] = 0;
  lr[1] = 0;
  for (let i = 0; i < STATE_WORDS; i += 2) {
    encrypt(st, lr);
    st[i] = lr[0];
    st[i + 1] = lr[1];
  }
}

/**
 * Expanded key per crypt_blowfish BF_set_key(): the password bytes plus the terminating NUL,
 * repeated to fill 18 big-endian words (so only the first 72 bytes matter). For "$2a$" the
 * anti-collision "safety" tweak against the old sign-extension bug is applied to `initial`.
 */
function setKey(key: Buffer, minor: 'a' | 'b' | 'y'): { expanded: Int32Array; initial: Int32Array } {
  const init = blowfishInitState();
  const expanded = new Int32Array(18);
  const initial = new Int32Array(18);
  const safety = minor === 'a' ? 0x10000 : 0;
  let sign = 0, diff = 0, p = 0;
  for (let i = 0; i < 18; i++) {
    let t0 = 0, t1 = 0;
    for (let j = 0; j < 4; j++) {
      const b = p < key.length ? key[p] : 0;
      t0 = (t0 << 8) | b;
      t1 = (t1 << 8) | ((b << 24) >> 24); // sign-extended, as the buggy variant did
      if (j) sign |= t1 & 0x80;
      p = b === 0 ? 0 : p + 1;
    }
    diff |= t0 ^ t1;
    expanded[i] = t0;
    initial[i] = init[i] ^ t0;
  }
  diff |= diff >>> 16;
  diff &= 0xffff;
  diff += 0xffff;
  sign <<= 9;
  sign &= ~diff & safety;
  initial[0] ^= sign;
  return { expanded, initial };
}

const MAGIC = Buffer.from('OrpheanBeholderScryDoubt', 'latin1');

export function* bcryptSteps(password: Buffer, setting: string): Steps<string> {
  const s = parseBcryptSetting(setting, false);
  if (password.includes(0)) throw new Error('bcrypt: password contains a NUL byte');
  const salt = new Int32Array(s.saltWords.buffer.slice(0));
  const { expanded, initial } = setKey(password, s.minor);
  const st = new Int32Array(STATE_WORDS);
  st.set(initial, 0);
  st.set(new Int32Array(blowfishInitState().buffer, 18 * 4, 1024), 18);
  const lr = new Int32Array(2);

  // Salted key schedule (EksBlowfishSetup's ExpandKey(state, salt, key)).
  for (let i = 0; i < 18; i += 2) {
    lr[0] ^= salt[i & 2];
    lr[1] ^= salt[(i & 2) + 1];
    encrypt(st, lr);
    st[i] = lr[0];
    st[i + 1] = lr[1];
  }
  for (let i = 18; i < STATE_WORDS; i += 4) {
    lr[0] ^= salt[2];
    lr[1] ^= salt[3];
    encrypt(st, lr);
    st[i] = lr[0];
    st[i + 1] = lr[1];
    lr[0] ^= salt[0];
    lr[1] ^= salt[1];
    encrypt(st, lr);
    st[i + 2] = lr[0];
    st[i + 3] = lr[1];
  }

  // 2^cost rounds of ExpandKey(state, 0, key); ExpandKey(state, 0, salt).
  const count = 2 ** s.cost;
  for (let n = 1; n <= count; n++) {
    for (let i = 0; i < 18; i++) st[i] ^= expanded[i];
    body(st, lr);
    for (let i = 0; i < 16; i += 4) {
      st[i] ^= salt[0];
      st[i + 1] ^= salt[1];
      st[i + 2] ^= salt[2];
      st[i + 3] ^= salt[3];
    }
    st[16] ^= salt[0];
    st[17] ^= salt[1];
    body(st, lr);
    if (n % YIELD_EVERY === 0) yield;
  }

  // Encrypt "OrpheanBeholderScryDoubt" 64 times.
  const out = new Uint8Array(24);
  for (let i = 0; i < 6; i += 2) {
    lr[0] = MAGIC.readInt32BE(i * 4);
    lr[1] = MAGIC.readInt32BE(i * 4 + 4);
    for (let k = 0; k < 64; k++) encrypt(st, lr);
    for (let w = 0; w < 2; w++) {
      const v = lr[w];
      const o = (i + w) * 4;
      out[o] = v >>> 24;
      out[o + 1] = (v >>> 16) & 0xff;
      out[o + 2] = (v >>> 8) & 0xff;
      out[o + 3] = v & 0xff;
    }
  }
  const costStr = String(s.cost).padStart(2, '0');
  // Only 23 of the 24 bytes are encoded, bug-compatible with the original implementation.
  return `$2${s.minor}$${costStr}$${s.saltCanonical}${bfEncode(out, 23)}`;
}
