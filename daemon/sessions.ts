// Sessions of the account portal (nasauth-web), kept only in nasauthd's memory.
//
// - A token is 32 random bytes (base64url, 43 characters). Its first 16 characters
//   are the selector (the map key); the daemon keeps only SHA-256 of the whole token
//   and compares it in constant time. A dump of this map holds no live token.
// - A session is bound to the account's identity (rid, never reused) and to its
//   version: every change to the account bumps the version (the same bump that
//   invalidates the password cache), so a password change, disable, role change,
//   lockout or delete ends every session of that account at once. A change the
//   session made itself (its own e-mail, its own password) re-binds that one session
//   when its change was the only one (version + 1); anything else ends it.
// - Idle and absolute timeouts and the number of sessions (per account and overall)
//   come from the config (sessions.*). When full, the least recently used goes first.
// - Nothing here survives a restart: after one, everybody signs in again.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Config } from './config';
import type { Account } from './store';

export type SessionLimits = Config['sessions'];

export interface Session {
  selector: string;
  verifier: Buffer; // SHA-256 of the whole token
  rid: number;
  name: string;
  version: number;
  created: number;
  lastUsed: number;
  source: string;
}

export interface NewSession { token: string; created_at: string; expires_at: string; idle_seconds: number }

const TOKEN_RE = /^[A-Za-z0-9_-]{43}$/;
const SELECTOR_CHARS = 16;

const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest();

export class Sessions {
  private readonly map = new Map<string, Session>(); // selector → session, least recently used first
  constructor(private limits: SessionLimits, private readonly now: () => number) {}

  reconfigure(limits: SessionLimits) { this.limits = limits; }

  get size() { return this.map.size; }

  /** A new session for an account whose password (and policy) was just proven. */
  create(a: Pick<Account, 'rid' | 'name' | 'version'>, source: string): NewSession {
    this.sweep();
    const mine = [...this.map.values()].filter((s) => s.rid === a.rid);
    // oldest of this account's sessions first (the map is in least-recently-used order)
    for (let i = 0; i <= mine.length - this.limits.max_per_account; i++) this.map.delete(mine[i].selector);
    while (this.map.size >= this.limits.max_total) this.map.delete(this.map.keys().next().value as string);
    let token: string;
    do token = randomBytes(32).toString('base64url'); while (this.map.has(token.slice(0, SELECTOR_CHARS)));
    const t = this.now();
    const s: Session = { selector: token.slice(0, SELECTOR_CHARS), verifier: digest(token), rid: a.rid, name: a.name, version: a.version, created: t, lastUsed: t, source: source.slice(0, 128) };
    this.map.set(s.selector, s);
    return { token, created_at: new Date(t).toISOString(), expires_at: new Date(t + this.limits.absolute_seconds * 1000).toISOString(), idle_seconds: this.limits.idle_seconds };
  }

  /** The live session for a token (timeouts checked, use recorded), or null. */
  find(token: string): Session | null {
    if (!TOKEN_RE.test(token)) return null;
    const s = this.map.get(token.slice(0, SELECTOR_CHARS));
    if (!s || !timingSafeEqual(s.verifier, digest(token))) return null;
    if (this.expired(s, this.now())) { this.map.delete(s.selector); return null; }
    s.lastUsed = this.now();
    this.map.delete(s.selector);
    this.map.set(s.selector, s);
    return s;
  }

  private expired(s: Session, t: number): boolean {
    return t - s.lastUsed >= this.limits.idle_seconds * 1000 || t - s.created >= this.limits.absolute_seconds * 1000;
  }

  expiresAt(s: Session): { expires_at: string; idle_expires_at: string } {
    const abs = s.created + this.limits.absolute_seconds * 1000;
    return { expires_at: new Date(abs).toISOString(), idle_expires_at: new Date(Math.min(abs, s.lastUsed + this.limits.idle_seconds * 1000)).toISOString() };
  }

  end(s: Session) { this.map.delete(s.selector); }

  /** End every session of an account ("sign out everywhere", delete), but `keep`. Returns how many. */
  endAccount(rid: number, keep?: Session): number {
    let n = 0;
    for (const s of [...this.map.values()]) if (s.rid === rid && s !== keep) { this.map.delete(s.selector); n++; }
    return n;
  }

  countFor(rid: number): number {
    let n = 0;
    for (const s of this.map.values()) if (s.rid === rid) n++;
    return n;
  }

  /**
   * After the session's own change to its account: keep it only when that change was the
   * only one since the session was checked (its version moved by exactly one).
   */
  rebind(s: Session, checkedVersion: number, after: Pick<Account, 'rid' | 'version'> | undefined): boolean {
    if (after && after.rid === s.rid && after.version === checkedVersion + 1 && this.map.get(s.selector) === s) {
      s.version = after.version;
      return true;
    }
    this.map.delete(s.selector);
    return false;
  }

  /**
   * Drop timed-out sessions. Sessions whose account changed stay until their next use,
   * which ends them with the real reason (disabled, removed, ...); the bounds hold anyway.
   */
  sweep() {
    const t = this.now();
    for (const s of [...this.map.values()]) if (this.expired(s, t)) this.map.delete(s.selector);
  }
}
