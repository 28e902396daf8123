// Shared helpers for the legacy crypt(3) verifiers.

/** The crypt(3) base-64 alphabet used by md5-crypt, sha-crypt and yescrypt. */
export const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

const ATOI64 = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) ATOI64[ITOA64.charCodeAt(i)] = i;

/** Value 0..63 of a crypt base-64 character, or -1. */
export function atoi64(code: number): number {
  return code < 128 ? ATOI64[code] : -1;
}

/** True when every character of s is in the crypt base-64 alphabet. */
export function isCryptB64(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (atoi64(s.charCodeAt(i)) < 0) return false;
  return true;
}

/**
 * Append the glibc `b64_from_24bit` encoding: the 24-bit value (b2 << 16 | b1 << 8 | b0),
 * least significant 6 bits first, n characters.
 */
export function b64From24(b2: number, b1: number, b0: number, n: number): string {
  let w = (b2 << 16) | (b1 << 8) | b0;
  let out = '';
  while (n-- > 0) {
    out += ITOA64[w & 0x3f];
    w >>>= 6;
  }
  return out;
}

/**
 * A hash computation written as a generator that yields every few milliseconds of work,
 * so that the same code can run to completion synchronously or cooperatively
 * (yielding to the event loop between slices).
 */
export type Steps<T> = Generator<void, T, void>;

export function runSync<T>(g: Steps<T>): T {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
  }
}

export async function runAsync<T>(g: Steps<T>): Promise<T> {
  for (;;) {
    const r = g.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Thrown by the cryptSync family for settings that are malformed or refused. */
export class CryptSettingError extends Error {
  override name = 'CryptSettingError';
}
