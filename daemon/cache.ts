// Hot-path cache of verified passwords. After a correct password we keep
// HMAC(per-process key, rid, name, password) with the account's version and an expiry,
// keyed by the account's identity (its rid, never reused): a deleted and re-created
// "alice" is another account and never meets the old one's entry. A hit needs the same
// identity, the same MAC and the same version, so any change to the account (password,
// disable, delete, lockout) invalidates it at once. Never plaintext, never a failure.
// Bounded: least recently used entries go first.
import * as crypto from 'node:crypto';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { canonicalBytes, hmac } from './password';

interface Entry { mac: Buffer; version: number; expires: number }

/** SHA-256's block size: the HMAC key pads (RFC 2104). */
const BLOCK = 64;
/** Room for name and password in the reused message buffer; longer ones take the plain path. */
const ROOM = 4096;
// crypto.hash (one call, no Hash object) is in Node >= 20.12; older runtimes take createHmac.
const oneShot = (crypto as unknown as { hash?: (alg: string, data: Uint8Array, enc: 'binary') => string }).hash;

/** Whether every byte is ASCII: then the bytes are already their canonical form (password.ts). */
function isAscii(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] > 0x7f) return false;
  return true;
}

/**
 * HMAC-SHA256(key, name || 0 || canonical(pw) || 0), the same value as
 * password.ts hmac(key, name, canonicalBytes(pw)), computed for the cache's hot path:
 * the two hashes of RFC 2104 run as one-shot hashes over buffers built once with the
 * key's pads, and an ASCII password (most of them) is its own canonical form, so
 * neither a Hash object nor a decode and normalisation is made per check (they were
 * most of a cache hit's cost: docs/performance.md). The message buffer holds the
 * password only during the call and is wiped before it returns.
 */
export class CacheMac {
  private readonly inner = Buffer.alloc(BLOCK + ROOM); // K ^ ipad, then the message
  private readonly outer = Buffer.alloc(BLOCK + 32); // K ^ opad, then the inner digest
  private readonly out = Buffer.alloc(32); // the MAC (its caller compares or copies it)

  constructor(private readonly key: Buffer) {
    if (key.length > BLOCK) throw new Error('cache key longer than a SHA-256 block');
    for (let i = 0; i < BLOCK; i++) {
      this.inner[i] = (key[i] ?? 0) ^ 0x36;
      this.outer[i] = (key[i] ?? 0) ^ 0x5c;
    }
  }

  /** The MAC, in a buffer reused by the next call: compare or copy it at once. */
  of(name: string, pw: Uint8Array): Buffer {
    const ascii = isAscii(pw);
    if (!oneShot || name.length * 3 + pw.length * 3 + 2 > ROOM) return this.plain(name, pw);
    const canon = ascii ? pw : canonicalBytes(pw);
    let n = BLOCK;
    try {
      n += this.inner.write(name, n, 'utf8');
      this.inner[n++] = 0;
      this.inner.set(canon, n);
      n += canon.length;
      this.inner[n++] = 0;
      // digests come back as 'binary' (latin1) text, one byte per character: no Buffer to allocate
      this.outer.write(oneShot('sha256', this.inner.subarray(0, n), 'binary'), BLOCK, 'latin1');
      this.out.write(oneShot('sha256', this.outer, 'binary'), 0, 'latin1');
      return this.out;
    } finally {
      this.inner.fill(0, BLOCK, n);
      this.outer.fill(0, BLOCK);
      if (!ascii) canon.fill(0);
    }
  }

  /** The reference computation (password.ts), for runtimes without crypto.hash and long inputs. */
  plain(name: string, pw: Uint8Array): Buffer {
    const canon = canonicalBytes(pw);
    try { return hmac(this.key, name, canon); } finally { canon.fill(0); }
  }
}

export class AuthCache {
  private readonly mac = new CacheMac(randomBytes(32));
  private readonly map = new Map<number, Entry>();
  hits = 0;
  misses = 0;
  constructor(private ttlMs: number, private maxEntries: number, private enabled: boolean, private now: () => number) {}

  get size() { return this.map.size; }

  check(rid: number, name: string, pw: Uint8Array, version: number): boolean {
    if (!this.enabled) return false;
    const e = this.map.get(rid);
    if (!e || e.version !== version || e.expires <= this.now()) {
      if (e) this.map.delete(rid);
      this.misses += 1;
      return false;
    }
    const ok = timingSafeEqual(e.mac, this.mac.of(`${rid}:${name}`, pw));
    if (ok) {
      this.hits += 1;
      // refresh recency (Map keeps insertion order)
      this.map.delete(rid);
      this.map.set(rid, e);
    } else {
      this.misses += 1;
    }
    return ok;
  }

  put(rid: number, name: string, pw: Uint8Array, version: number): void {
    if (!this.enabled) return;
    this.map.delete(rid);
    this.map.set(rid, { mac: Buffer.from(this.mac.of(`${rid}:${name}`, pw)), version, expires: this.now() + this.ttlMs });
    while (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next().value as number;
      this.map.delete(oldest);
    }
  }

  forget(rid: number): void { this.map.delete(rid); }
  clear(): void { this.map.clear(); }
}
