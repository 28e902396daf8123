// Hot-path cache of verified passwords. After a correct password we keep
// HMAC(per-process key, rid, name, password) with the account's version and an expiry,
// keyed by the account's identity (its rid, never reused): a deleted and re-created
// "alice" is another account and never meets the old one's entry. A hit needs the same
// identity, the same MAC and the same version, so any change to the account (password,
// disable, delete, lockout) invalidates it at once. Never plaintext, never a failure.
// Bounded: least recently used entries go first.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { canonicalBytes, hmac } from './password';

interface Entry { mac: Buffer; version: number; expires: number }

export class AuthCache {
  private readonly key = randomBytes(32);
  private readonly map = new Map<number, Entry>();
  hits = 0;
  misses = 0;
  constructor(private ttlMs: number, private maxEntries: number, private enabled: boolean, private now: () => number) {}

  get size() { return this.map.size; }

  private mac(rid: number, name: string, pw: Uint8Array): Buffer {
    const canon = canonicalBytes(pw);
    try { return hmac(this.key, `${rid}:${name}`, canon); } finally { canon.fill(0); }
  }

  check(rid: number, name: string, pw: Uint8Array, version: number): boolean {
    if (!this.enabled) return false;
    const e = this.map.get(rid);
    if (!e || e.version !== version || e.expires <= this.now()) {
      if (e) this.map.delete(rid);
      this.misses += 1;
      return false;
    }
    const ok = timingSafeEqual(e.mac, this.mac(rid, name, pw));
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
    this.map.set(rid, { mac: this.mac(rid, name, pw), version, expires: this.now() + this.ttlMs });
    while (this.map.size > this.maxEntries) {
      const oldest = this.map.keys().next().value as number;
      this.map.delete(oldest);
    }
  }

  forget(rid: number): void { this.map.delete(rid); }
  clear(): void { this.map.clear(); }
}
