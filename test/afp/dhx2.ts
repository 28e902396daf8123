// DHX2 ("Diffie-Hellman eXchange 2") UAM, client side, exactly as netatalk 4.2.3's
// etc/uams/uams_dhx2_pam.c expects it (see test/env/netatalk/NOTES.md for the layouts).
//
// Server step 1 reply (login and change password): ID(2) g(4) len(2) p(len) Ma(len)
// Client step 2: ID(2) Mb(len) CAST5-CBC_K(clientNonce(16), IV "LWallace")
// Server step 2 reply: ID+1(2) CAST5-CBC_K(clientNonce+1(16) serverNonce(16), IV "CJalbert")
// Client step 3: ID+1(2) CAST5-CBC_K(serverNonce+1(16) password(256), IV "LWallace")      (login)
//                ID+1(2) CAST5-CBC_K(serverNonce+1(16) new(256) old(256), IV "LWallace") (change password)
// K = MD5(Mb^Ra mod p as len bytes, big-endian, left zero-padded).
import { createHash, randomBytes } from 'node:crypto';
import { cast5CbcDecrypt, cast5CbcEncrypt } from './cast5';

export const DHX2_C2S_IV = Buffer.from('LWallace', 'latin1');
export const DHX2_S2C_IV = Buffer.from('CJalbert', 'latin1');
export const DHX2_PASSWORD_FIELD = 256;
const NONCE_LEN = 16;
const TWO128 = 1n << 128n;

export function bufToBig(b: Uint8Array): bigint {
  let x = 0n;
  for (const v of b) x = (x << 8n) | BigInt(v);
  return x;
}

export function bigToBuf(x: bigint, len: number): Buffer {
  if (x < 0n) throw new RangeError('negative');
  const out = Buffer.alloc(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  if (x !== 0n) throw new RangeError(`number does not fit in ${len} bytes`);
  return out;
}

export function modPow(base: bigint, exp: bigint, mod: bigint): bigint {
  let result = 1n;
  let b = base % mod;
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % mod;
    e >>= 1n;
    b = (b * b) % mod;
  }
  return result;
}

export function nonceAdd1(n: Uint8Array): Buffer {
  return bigToBuf((bufToBig(n) + 1n) % TWO128, NONCE_LEN);
}

export interface Dhx2ServerHello {
  id: number;
  g: bigint;
  p: bigint;
  len: number;
  ma: bigint;
}

/** Parses the server's first DHX2 reply (FPLogin / FPChangePassword step 1, result kFPAuthContinue). */
export function parseServerHello(b: Buffer): Dhx2ServerHello {
  if (b.length < 8) throw new Error(`DHX2: server hello too short (${b.length} bytes)`);
  const id = b.readUInt16BE(0);
  const g = BigInt(b.readUInt32BE(2));
  const len = b.readUInt16BE(6);
  if (b.length !== 8 + 2 * len) throw new Error(`DHX2: server hello is ${b.length} bytes, expected ${8 + 2 * len} for len=${len}`);
  const p = bufToBig(b.subarray(8, 8 + len));
  const ma = bufToBig(b.subarray(8 + len, 8 + 2 * len));
  if (p < 3n || g < 2n || ma <= 1n || ma >= p) throw new Error('DHX2: implausible DH parameters from server');
  return { id, g, p, len, ma };
}

/** Puts a password into the fixed 256-byte field, bytes as given, zero-filled after. */
export function passwordField(pw: Buffer): Buffer {
  if (pw.length > DHX2_PASSWORD_FIELD) throw new RangeError(`password is ${pw.length} bytes, the DHX2 field holds ${DHX2_PASSWORD_FIELD}`);
  const f = Buffer.alloc(DHX2_PASSWORD_FIELD);
  pw.copy(f);
  return f;
}

/** Client state of one DHX2 exchange. */
export class Dhx2Client {
  readonly hello: Dhx2ServerHello;
  readonly key: Buffer;
  private readonly mb: bigint;
  private readonly clientNonce: Buffer;
  private serverNonce: Buffer | null = null;

  constructor(helloPayload: Buffer, rand: (n: number) => Buffer = randomBytes) {
    this.hello = parseServerHello(helloPayload);
    const { g, p, len, ma } = this.hello;
    // private exponent: as many random bits as p has, reduced into [2, p-2]
    const rb = (bufToBig(rand(len)) % (p - 3n)) + 2n;
    this.mb = modPow(g, rb, p);
    const k = modPow(ma, rb, p);
    this.key = createHash('md5').update(bigToBuf(k, len)).digest();
    this.clientNonce = rand(NONCE_LEN);
  }

  /** Step 2 payload: ID, Mb, encrypted client nonce. */
  step2(): Buffer {
    const { id, len } = this.hello;
    const idb = Buffer.alloc(2);
    idb.writeUInt16BE(id, 0);
    return Buffer.concat([idb, bigToBuf(this.mb, len), cast5CbcEncrypt(this.key, DHX2_C2S_IV, this.clientNonce)]);
  }

  /** Checks the server's step 2 reply (clientNonce+1 proves the server has K) and keeps its nonce. */
  acceptStep2Reply(b: Buffer): void {
    if (b.length !== 2 + 32) throw new Error(`DHX2: step 2 reply is ${b.length} bytes, expected 34`);
    const id = b.readUInt16BE(0);
    if (id !== ((this.hello.id + 1) & 0xffff)) throw new Error(`DHX2: step 2 reply has session id ${id}, expected ${this.hello.id + 1}`);
    const plain = cast5CbcDecrypt(this.key, DHX2_S2C_IV, b.subarray(2));
    if (!plain.subarray(0, 16).equals(nonceAdd1(this.clientNonce))) throw new Error('DHX2: server did not return clientNonce+1 (wrong key?)');
    this.serverNonce = Buffer.from(plain.subarray(16, 32));
  }

  private step3(fields: Buffer[]): Buffer {
    if (!this.serverNonce) throw new Error('DHX2: step 3 before step 2');
    const idb = Buffer.alloc(2);
    idb.writeUInt16BE((this.hello.id + 1) & 0xffff, 0);
    const plain = Buffer.concat([nonceAdd1(this.serverNonce), ...fields]);
    return Buffer.concat([idb, cast5CbcEncrypt(this.key, DHX2_C2S_IV, plain)]);
  }

  /** Step 3 of login: serverNonce+1 and the 256-byte password field. */
  loginStep3(password: Buffer): Buffer {
    return this.step3([passwordField(password)]);
  }

  /** Step 3 of change password: serverNonce+1, new password field, old password field. */
  changePasswordStep3(oldPassword: Buffer, newPassword: Buffer): Buffer {
    return this.step3([passwordField(newPassword), passwordField(oldPassword)]);
  }
}
