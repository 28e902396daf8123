// yescrypt ("$y$"), the default password hash of libxcrypt (Debian >= 11, Fedora, ...).
// A transcription of the reference implementation (openwall/yescrypt yescrypt-ref.c, and the
// "$y$" encoding of yescrypt-common.c), restricted to what crypt(3) produces by default:
// flavour YESCRYPT_DEFAULTS (RW, pwxform 6 rounds, gather 4, simple 2, 12 KiB S-boxes), no ROM.
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { ITOA64, atoi64, CryptSettingError, Steps } from './common';

// Flags (yescrypt.h)
const YESCRYPT_RW = 0x002;
const YESCRYPT_RW_FLAVOR_MASK = 0x3fc;
const YESCRYPT_DEFAULTS = 0x002 | 0x004 | 0x010 | 0x020 | 0x080; // RW | ROUNDS_6 | GATHER_4 | SIMPLE_2 | SBOX_12K = 0xb6
const YESCRYPT_PREHASH = 0x10000000;

// pwxform parameters of YESCRYPT_DEFAULTS
const PWX_ROUNDS = 6;
const SWORDS = 3072; // Sbytes (12288) / 4
const SMASK = 4080; // ((1 << 8) - 1) * PWXsimple * 8
const S_PAIRS = 512; // (1 << Swidth) * PWXsimple
const SBOX_N = 96; // Sbytes / 128

/** Memory ceiling for N * r * 128 bytes: 64 MiB (Debian's default j9T needs 16 MiB). */
export const YESCRYPT_MEM_LIMIT = 64 * 1024 * 1024;
/** Time parameter ceiling (libxcrypt never writes t; each step adds about one N*r pass). */
export const YESCRYPT_T_LIMIT = 4;
/** Thread-count parameter ceiling (libxcrypt always writes p = 1). */
export const YESCRYPT_P_LIMIT = 16;
const YIELD_BLOCKS = 1 << 18; // yield after about this many 32-bit words of block work

export interface YescryptSetting {
  prefix: string; // "$y$<params>$<salt chars>" exactly as given
  N: number;
  r: number;
  p: number;
  t: number;
  salt: Buffer;
}

function decode64Uint32(s: string, pos: number, min: number): { value: number; pos: number } | null {
  let c = atoi64(s.charCodeAt(pos++));
  if (c < 0) return null;
  let start = 0, end = 47, chars = 1, bits = 0;
  let dst = min;
  while (c > end) {
    dst += (end + 1 - start) * 2 ** bits;
    start = end + 1;
    end = start + Math.floor((62 - end) / 2);
    chars++;
    bits += 6;
  }
  dst += (c - start) * 2 ** bits;
  while (--chars) {
    c = atoi64(s.charCodeAt(pos++));
    if (c < 0) return null;
    bits -= 6;
    dst += c * 2 ** bits;
  }
  if (dst > 0xffffffff) return null;
  return { value: dst, pos };
}

/** Strict little-endian crypt base-64 decoding (yescrypt-common.c decode64). */
function decode64(s: string): Buffer | null {
  // An empty salt is valid (libxcrypt's own tests use "$y$jD5.7$$...").
  const out: number[] = [];
  for (let i = 0; i < s.length; i += 4) {
    const group = s.slice(i, i + 4);
    if (group.length === 1) return null; // must have at least one full byte
    let value = 0;
    for (let k = 0; k < group.length; k++) {
      const c = atoi64(group.charCodeAt(k));
      if (c < 0) return null;
      value |= c << (6 * k);
    }
    const nbytes = Math.floor((group.length * 6) / 8);
    for (let k = 0; k < nbytes; k++) out.push((value >>> (8 * k)) & 0xff);
    if (value >>> (8 * nbytes) !== 0 && nbytes < 3) return null; // leftover bits must be zero
  }
  return Buffer.from(out);
}

function encode64(src: Uint8Array): string {
  let out = '';
  for (let i = 0; i < src.length; ) {
    let value = 0, bits = 0;
    do {
      value |= src[i++] << bits;
      bits += 8;
    } while (bits < 24 && i < src.length);
    for (let b = 0; b < bits; b += 6) {
      out += ITOA64[value & 0x3f];
      value >>>= 6;
    }
  }
  return out;
}

/**
 * Parse "$y$<flavor><N_log2><r>[<have>...]$<salt>[$<hash>]"; throws CryptSettingError.
 * With requireHash, the 43-character hash part must be present.
 */
export function parseYescryptSetting(setting: string, requireHash: boolean): YescryptSetting {
  const fail = (msg: string): never => {
    throw new CryptSettingError(msg);
  };
  if (!setting.startsWith('$y$')) fail('yescrypt hash must start with $y$');
  // eslint-disable-next-line no-control-regex
  if (/[^\x21-\x7e]/.test(setting)) fail('yescrypt hash must be printable ASCII without spaces');
  let pos = 3;
  const next = (min: number, what: string): number => {
    const d = decode64Uint32(setting, pos, min);
    if (!d) return fail(`yescrypt parameter field: bad encoding of ${what}`);
    pos = d.pos;
    return d.value;
  };
  const flavor = next(0, 'flavour');
  let flags: number;
  if (flavor < YESCRYPT_RW) flags = flavor;
  else if (flavor <= YESCRYPT_RW + (YESCRYPT_RW_FLAVOR_MASK >> 2)) flags = YESCRYPT_RW + ((flavor - YESCRYPT_RW) << 2);
  else return fail('yescrypt flavour out of range');
  if (flags !== YESCRYPT_DEFAULTS) {
    fail(`yescrypt flavour 0x${flags.toString(16)} not supported (only the libxcrypt default, flags 0xb6, params starting with 'j')`);
  }
  const nLog2 = next(1, 'N');
  const r = next(1, 'r');
  let p = 1, t = 0;
  if (setting[pos] !== '$') {
    const have = next(1, 'optional-parameter mask');
    if (have & ~15) fail('yescrypt optional-parameter mask has unknown bits');
    if (have & 1) p = next(2, 'p');
    if (have & 2) t = next(1, 't');
    if (have & 4) fail('yescrypt hash-upgrade parameter g is not supported');
    if (have & 8) fail('yescrypt ROM (NROM) is not supported');
  }
  if (setting[pos] !== '$') fail('yescrypt parameter field is followed by junk');
  pos++;
  if (nLog2 > 30) fail(`yescrypt N=2^${nLog2} is too large`);
  const N = 2 ** nLog2;
  if (r < 1) fail('yescrypt r must be at least 1');
  if (N * r * 128 > YESCRYPT_MEM_LIMIT) {
    fail(`yescrypt needs N*r*128 = ${(N * r * 128) / 1048576} MiB, above this system's limit of ${YESCRYPT_MEM_LIMIT / 1048576} MiB`);
  }
  if (p > YESCRYPT_P_LIMIT) fail(`yescrypt p=${p} is above this system's limit of ${YESCRYPT_P_LIMIT}`);
  if (t > YESCRYPT_T_LIMIT) fail(`yescrypt t=${t} is above this system's limit of ${YESCRYPT_T_LIMIT}`);
  if (N / p <= 1) fail('yescrypt needs N/p > 1');

  const rest = setting.slice(pos);
  const d = rest.indexOf('$');
  const saltStr = d >= 0 ? rest.slice(0, d) : rest;
  const hashStr = d >= 0 ? rest.slice(d + 1) : null;
  const salt = decode64(saltStr);
  if (!salt) fail('yescrypt salt is not valid crypt base-64 (alphabet [./0-9A-Za-z], canonical length/bits)');
  if (salt!.length > 64) fail('yescrypt salt longer than 64 bytes');
  if (hashStr === null) {
    if (requireHash) fail('yescrypt hash part is missing');
  } else if (hashStr.length !== 43) {
    fail(`yescrypt hash part must be 43 characters, got ${hashStr.length}`);
  } else if (!decode64(hashStr)) {
    fail('yescrypt hash part is not valid crypt base-64');
  }
  return { prefix: setting.slice(0, pos + saltStr.length), N, r, p, t, salt: salt! };
}

// ---- the core ----------------------------------------------------------------------------

/** Salsa20 core on B[o..o+16] (kept in the reference's "SIMD-shuffled" word order). */
function salsa20(B: Int32Array, o: number, rounds: number): void {
  // Unshuffle: x[i*5 % 16] = B[i]  <=>  x_j = B[13*j % 16]
  let x0 = B[o] | 0, x1 = B[o + 13] | 0, x2 = B[o + 10] | 0, x3 = B[o + 7] | 0;
  let x4 = B[o + 4] | 0, x5 = B[o + 1] | 0, x6 = B[o + 14] | 0, x7 = B[o + 11] | 0;
  let x8 = B[o + 8] | 0, x9 = B[o + 5] | 0, x10 = B[o + 2] | 0, x11 = B[o + 15] | 0;
  let x12 = B[o + 12] | 0, x13 = B[o + 9] | 0, x14 = B[o + 6] | 0, x15 = B[o + 3] | 0;
  const y0 = x0, y1 = x1, y2 = x2, y3 = x3, y4 = x4, y5 = x5, y6 = x6, y7 = x7;
  const y8 = x8, y9 = x9, y10 = x10, y11 = x11, y12 = x12, y13 = x13, y14 = x14, y15 = x15;
  let u: number;
  for (let i = 0; i < rounds; i += 2) {
    u = (x0 + x12) | 0; x4 ^= (u << 7) | (u >>> 25);
    u = (x4 + x0) | 0; x8 ^= (u << 9) | (u >>> 23);
    u = (x8 + x4) | 0; x12 ^= (u << 13) | (u >>> 19);
    u = (x12 + x8) | 0; x0 ^= (u << 18) | (u >>> 14);
    u = (x5 + x1) | 0; x9 ^= (u << 7) | (u >>> 25);
    u = (x9 + x5) | 0; x13 ^= (u << 9) | (u >>> 23);
    u = (x13 + x9) | 0; x1 ^= (u << 13) | (u >>> 19);
    u = (x1 + x13) | 0; x5 ^= (u << 18) | (u >>> 14);
    u = (x10 + x6) | 0; x14 ^= (u << 7) | (u >>> 25);
    u = (x14 + x10) | 0; x2 ^= (u << 9) | (u >>> 23);
    u = (x2 + x14) | 0; x6 ^= (u << 13) | (u >>> 19);
    u = (x6 + x2) | 0; x10 ^= (u << 18) | (u >>> 14);
    u = (x15 + x11) | 0; x3 ^= (u << 7) | (u >>> 25);
    u = (x3 + x15) | 0; x7 ^= (u << 9) | (u >>> 23);
    u = (x7 + x3) | 0; x11 ^= (u << 13) | (u >>> 19);
    u = (x11 + x7) | 0; x15 ^= (u << 18) | (u >>> 14);
    u = (x0 + x3) | 0; x1 ^= (u << 7) | (u >>> 25);
    u = (x1 + x0) | 0; x2 ^= (u << 9) | (u >>> 23);
    u = (x2 + x1) | 0; x3 ^= (u << 13) | (u >>> 19);
    u = (x3 + x2) | 0; x0 ^= (u << 18) | (u >>> 14);
    u = (x5 + x4) | 0; x6 ^= (u << 7) | (u >>> 25);
    u = (x6 + x5) | 0; x7 ^= (u << 9) | (u >>> 23);
    u = (x7 + x6) | 0; x4 ^= (u << 13) | (u >>> 19);
    u = (x4 + x7) | 0; x5 ^= (u << 18) | (u >>> 14);
    u = (x10 + x9) | 0; x11 ^= (u << 7) | (u >>> 25);
    u = (x11 + x10) | 0; x8 ^= (u << 9) | (u >>> 23);
    u = (x8 + x11) | 0; x9 ^= (u << 13) | (u >>> 19);
    u = (x9 + x8) | 0; x10 ^= (u << 18) | (u >>> 14);
    u = (x15 + x14) | 0; x12 ^= (u << 7) | (u >>> 25);
    u = (x12 + x15) | 0; x13 ^= (u << 9) | (u >>> 23);
    u = (x13 + x12) | 0; x14 ^= (u << 13) | (u >>> 19);
    u = (x14 + x13) | 0; x15 ^= (u << 18) | (u >>> 14);
  }
  // Shuffle back: B[i] += x[i*5 % 16]
  B[o] = x0 + y0; B[o + 13] = x1 + y1; B[o + 10] = x2 + y2; B[o + 7] = x3 + y3;
  B[o + 4] = x4 + y4; B[o + 1] = x5 + y5; B[o + 14] = x6 + y6; B[o + 11] = x7 + y7;
  B[o + 8] = x8 + y8; B[o + 5] = x9 + y9; B[o + 2] = x10 + y10; B[o + 15] = x11 + y11;
  B[o + 12] = x12 + y12; B[o + 9] = x13 + y13; B[o + 6] = x14 + y14; B[o + 3] = x15 + y15;
}

/** BlockMix_{salsa20/8, r}: B (32r words) in place, Y scratch of the same size. */
function blockmixSalsa8(B: Int32Array, Y: Int32Array, r: number): void {
  const X = B.slice((2 * r - 1) * 16, 2 * r * 16);
  for (let i = 0; i < 2 * r; i++) {
    for (let k = 0; k < 16; k++) X[k] ^= B[i * 16 + k];
    salsa20(X, 0, 8);
    Y.set(X, i * 16);
  }
  for (let i = 0; i < r; i++) B.set(Y.subarray(i * 2 * 16, i * 2 * 16 + 16), i * 16);
  for (let i = 0; i < r; i++) B.set(Y.subarray((i * 2 + 1) * 16, (i * 2 + 1) * 16 + 16), (i + r) * 16);
}

interface PwxCtx {
  S: Int32Array; // 3 S-boxes of 512 (lo, hi) pairs
  s0: number; // word offsets of S0, S1, S2 inside S
  s1: number;
  s2: number;
  w: number; // pair index into S2
}

/** pwxform on the 16-word block Y. */
function pwxform(Y: Int32Array, ctx: PwxCtx): void {
  const S = ctx.S;
  const s0 = ctx.s0, s1 = ctx.s1, s2 = ctx.s2;
  let w2 = 2 * ctx.w; // word index into S2
  for (let i = 0; i < PWX_ROUNDS; i++) {
    const store = i !== 0 && i !== PWX_ROUNDS - 1;
    for (let j = 0; j < 16; j += 4) {
      const p0 = s0 + ((Y[j] & SMASK) >>> 2);
      const p1 = s1 + ((Y[j + 1] & SMASK) >>> 2);
      for (let k = 0; k < 4; k += 2) {
        // x = hi(B_jk) * lo(B_jk) + S0[p0][k], then ^ S1[p1][k]: exact 64-bit arithmetic
        // on two 32-bit halves (low half by Math.imul, high half via 16-bit limbs).
        const a = Y[j + k], b = Y[j + k + 1];
        const a0 = a & 0xffff, a1 = a >>> 16, b0 = b & 0xffff, b1 = b >>> 16;
        const mid = a1 * b0 + a0 * b1 + ((a0 * b0) >>> 16); // < 2^34, exact in a double
        const pl = Math.imul(a, b);
        const lo = (pl + S[p0 + k]) | 0;
        const carry = lo >>> 0 < pl >>> 0 ? 1 : 0;
        const hi = (a1 * b1 + Math.floor(mid / 65536) + S[p0 + k + 1] + carry) ^ S[p1 + k + 1];
        Y[j + k] = lo ^ S[p1 + k];
        Y[j + k + 1] = hi;
        if (store) {
          S[s2 + w2] = Y[j + k];
          S[s2 + w2 + 1] = hi;
          w2 += 2;
        }
      }
    }
  }
  // (S0, S1, S2) <- (S2, S0, S1)
  ctx.s0 = s2;
  ctx.s1 = s0;
  ctx.s2 = s1;
  ctx.w = (w2 >>> 1) & (S_PAIRS - 1);
}

/** BlockMix_pwxform: B (32r words) in place; Y is a 16-word scratch. */
function blockmixPwxform(B: Int32Array, Y: Int32Array, ctx: PwxCtx, r: number): void {
  const r1 = 2 * r; // 128r / PWXbytes
  Y.set(B.subarray((r1 - 1) * 16, r1 * 16));
  for (let i = 0; i < r1; i++) {
    const o = i * 16;
    if (r1 > 1) for (let k = 0; k < 16; k++) Y[k] ^= B[o + k];
    pwxform(Y, ctx);
    B.set(Y, o);
  }
  // i = (r1 - 1) * PWXbytes / 64 = 2r - 1: the last 64-byte block; nothing follows it.
  salsa20(B, (r1 - 1) * 16, 2);
}

function integerifyLo(X: Int32Array, r: number): number {
  return X[(2 * r - 1) * 16];
}

function p2floor(x: number): number {
  let y: number;
  while ((y = x & (x - 1))) x = y;
  return x;
}

function wrap(x: number, i: number): number {
  const n = p2floor(i);
  return (x & (n - 1)) + (i - n);
}

function loadX(X: Int32Array, B: Int32Array, r: number): void {
  for (let k = 0; k < 2 * r; k++) for (let i = 0; i < 16; i++) X[k * 16 + i] = B[k * 16 + ((i * 5) % 16)];
}

function storeX(B: Int32Array, X: Int32Array, r: number): void {
  for (let k = 0; k < 2 * r; k++) for (let i = 0; i < 16; i++) B[k * 16 + ((i * 5) % 16)] = X[k * 16 + i];
}

interface Scratch {
  X: Int32Array;
  Y: Int32Array; // 32r words, for BlockMix_salsa8
  W: Int32Array; // 16 words, for BlockMix_pwxform
}

function* smix1(B: Int32Array, r: number, N: number, rw: boolean, V: Int32Array, sc: Scratch, ctx: PwxCtx | null): Steps<void> {
  const s = 32 * r;
  const X = sc.X.subarray(0, s);
  const Y = sc.Y;
  const W = sc.W;
  const every = Math.max(1, Math.floor(YIELD_BLOCKS / s));
  loadX(X, B, r);
  for (let i = 0; i < N; i++) {
    V.set(X, i * s);
    if (rw && i > 1) {
      const j = wrap(integerifyLo(X, r), i);
      const vo = j * s;
      for (let k = 0; k < s; k++) X[k] ^= V[vo + k];
    }
    if (ctx) blockmixPwxform(X, W, ctx, r);
    else blockmixSalsa8(X, Y, r);
    if ((i + 1) % every === 0) yield;
  }
  storeX(B, X, r);
}

function* smix2(B: Int32Array, r: number, N: number, Nloop: number, rw: boolean, V: Int32Array, sc: Scratch, ctx: PwxCtx | null): Steps<void> {
  const s = 32 * r;
  const X = sc.X.subarray(0, s);
  const Y = sc.Y;
  const W = sc.W;
  const every = Math.max(1, Math.floor(YIELD_BLOCKS / s));
  loadX(X, B, r);
  for (let i = 0; i < Nloop; i++) {
    const j = integerifyLo(X, r) & (N - 1);
    const vo = j * s;
    for (let k = 0; k < s; k++) X[k] ^= V[vo + k];
    if (rw) V.set(X, vo);
    if (ctx) blockmixPwxform(X, W, ctx, r);
    else blockmixSalsa8(X, Y, r);
    if ((i + 1) % every === 0) yield;
  }
  storeX(B, X, r);
}

function wordsToBytes(w: Int32Array): Buffer {
  const out = Buffer.alloc(w.length * 4);
  for (let i = 0; i < w.length; i++) out.writeInt32LE(w[i], i * 4);
  return out;
}

function bytesToWords(b: Buffer): Int32Array {
  const out = new Int32Array(b.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = b.readInt32LE(i * 4);
  return out;
}

/** SMix with YESCRYPT_RW; `passwd` (32 bytes) is replaced by HMAC-SHA256 as in step 24. */
function* smixRW(B: Int32Array, r: number, N: number, p: number, t: number, V: Int32Array, passwd: { v: Buffer }): Steps<void> {
  const s = 32 * r;
  let Nchunk = Math.floor(N / p);
  let NloopAll = Nchunk;
  if (t <= 1) {
    if (t) NloopAll *= 2;
    NloopAll = Math.floor((NloopAll + 2) / 3);
  } else {
    NloopAll *= t - 1;
  }
  let NloopRw = Math.floor(NloopAll / p);
  Nchunk -= Nchunk % 2;
  NloopAll += NloopAll % 2;
  NloopRw += NloopRw % 2;

  const sc: Scratch = { X: new Int32Array(s), Y: new Int32Array(Math.max(s, 32)), W: new Int32Array(16) };
  const ctxs: PwxCtx[] = [];
  for (let i = 0, Vchunk = 0; i < p; i++, Vchunk += Nchunk) {
    const Np = i < p - 1 ? Nchunk : N - Vchunk;
    const Bp = B.subarray(i * s, (i + 1) * s);
    const Vp = V.subarray(Vchunk * s, (Vchunk + Np) * s);
    const S = new Int32Array(SWORDS);
    // S-boxes from SMix1_1(B_i, Sbytes/128, S_i, no flags)
    yield* smix1(Bp, 1, SBOX_N, false, S, sc, null);
    const ctx: PwxCtx = { S, s2: 0, s1: 2 * S_PAIRS, s0: 4 * S_PAIRS, w: 0 };
    ctxs.push(ctx);
    if (i === 0) {
      const key = wordsToBytes(Bp.subarray(s - 16, s));
      passwd.v = createHmac('sha256', key).update(passwd.v).digest();
    }
    yield* smix1(Bp, r, Np, true, Vp, sc, ctx);
    yield* smix2(Bp, r, p2floor(Np), NloopRw, true, Vp, sc, ctx);
  }
  for (let i = 0; i < p; i++) {
    const Bp = B.subarray(i * s, (i + 1) * s);
    yield* smix2(Bp, r, N, NloopAll - NloopRw, false, V, sc, ctxs[i]);
  }
}

function* kdfBody(passwd: Buffer, salt: Buffer, prehash: boolean, N: number, r: number, p: number, t: number): Steps<Buffer> {
  const flagsPw = createHmac('sha256', prehash ? 'yescrypt-prehash' : 'yescrypt').update(passwd).digest();
  const Bbytes = pbkdf2Sync(flagsPw, salt, 1, 128 * r * p, 'sha256');
  const pw = { v: Buffer.from(Bbytes.subarray(0, 32)) };
  const B = bytesToWords(Bbytes);
  const V = new Int32Array(32 * r * N);
  yield* smixRW(B, r, N, p, t, V, pw);
  const dk = pbkdf2Sync(pw.v, wordsToBytes(B), 1, 32, 'sha256');
  if (prehash) return dk;
  const clientKey = createHmac('sha256', dk).update('Client Key').digest();
  return createHash('sha256').update(clientKey).digest();
}

/** yescrypt_kdf() for flavour YESCRYPT_DEFAULTS without ROM: 32-byte result. */
export function* yescryptKdf(passwd: Buffer, salt: Buffer, N: number, r: number, p: number, t: number): Steps<Buffer> {
  let pw = passwd;
  if (N / p >= 0x100 && (N / p) * r >= 0x20000) {
    pw = yield* kdfBody(pw, salt, true, N / 64, r, p, 0);
  }
  return yield* kdfBody(pw, salt, false, N, r, p, t);
}

export function* yescryptSteps(password: Buffer, setting: string): Steps<string> {
  const s = parseYescryptSetting(setting, false);
  const hash = yield* yescryptKdf(password, s.salt, s.N, s.r, s.p, s.t);
  return `${s.prefix}$${encode64(hash)}`;
}

export const _internal = { decode64, encode64, decode64Uint32, YESCRYPT_PREHASH };
