// Failure counting per account name and per source, in memory and bounded.
// Names are tracked whether or not the account exists, so the answers (backoff,
// lockout) never tell an attacker which names are real.
import type { Config } from './config';

interface NameState { failures: number; last: number; lockedUntil: number }
interface SourceState { windowStart: number; failures: number }

export type Gate =
  | { kind: 'open' }
  | { kind: 'rate_limited'; retryAfterMs: number }
  | { kind: 'locked_out'; retryAfterMs: number };

/** A Map used as a bounded LRU. */
class Lru<V> {
  private m = new Map<string, V>();
  constructor(private max: number) {}
  get(k: string): V | undefined { return this.m.get(k); }
  set(k: string, v: V) {
    this.m.delete(k);
    this.m.set(k, v);
    if (this.m.size > this.max) this.m.delete(this.m.keys().next().value as string);
  }
  delete(k: string) { this.m.delete(k); }
  get size() { return this.m.size; }
  entries() { return this.m.entries(); }
}

export class RateLimiter {
  private names: Lru<NameState>;
  private sources: Lru<SourceState>;
  constructor(private cfg: Config['rate_limit'], private now: () => number) {
    this.names = new Lru(cfg.tracked_names);
    this.sources = new Lru(cfg.tracked_sources);
  }

  /** New limits from a reloaded config; counts already made are kept. */
  reconfigure(cfg: Config['rate_limit']) { this.cfg = cfg; }

  get trackedNames() { return this.names.size; }
  get trackedSources() { return this.sources.size; }

  gate(name: string, source: string): Gate {
    const t = this.now();
    const s = this.sources.get(source);
    if (s && t - s.windowStart < this.cfg.source_window_seconds * 1000 && s.failures >= this.cfg.source_failures) {
      return { kind: 'rate_limited', retryAfterMs: s.windowStart + this.cfg.source_window_seconds * 1000 - t };
    }
    const n = this.names.get(name);
    if (!n) return { kind: 'open' };
    if (n.lockedUntil > t) return { kind: 'locked_out', retryAfterMs: n.lockedUntil - t };
    const until = this.backoffUntil(n);
    if (until > t) return { kind: 'rate_limited', retryAfterMs: until - t };
    return { kind: 'open' };
  }

  private backoffUntil(n: NameState): number {
    if (n.failures < this.cfg.backoff_after) return 0;
    const exp = Math.min(n.failures - this.cfg.backoff_after, 20);
    return n.last + Math.min(this.cfg.backoff_base_ms * 2 ** exp, this.cfg.backoff_max_ms);
  }

  /** Count a failure; returns the lockout end when this failure starts a lockout. */
  fail(name: string, source: string): number | null {
    const t = this.now();
    const s = this.sources.get(source);
    if (!s || t - s.windowStart >= this.cfg.source_window_seconds * 1000) this.sources.set(source, { windowStart: t, failures: 1 });
    else { s.failures += 1; this.sources.set(source, s); }
    let n = this.names.get(name);
    // failures older than a lockout period are forgotten
    if (!n || t - n.last > this.cfg.lockout_seconds * 1000) n = { failures: 0, last: t, lockedUntil: 0 };
    n.failures += 1;
    n.last = t;
    let started: number | null = null;
    if (n.failures >= this.cfg.lockout_after && n.lockedUntil <= t) {
      n.lockedUntil = t + this.cfg.lockout_seconds * 1000;
      n.failures = 0;
      started = n.lockedUntil;
    }
    this.names.set(name, n);
    return started;
  }

  success(name: string): void { this.names.delete(name); }
  unlock(name: string): void { this.names.delete(name); }
  lockedNames(): Array<{ name: string; until: number }> {
    const t = this.now();
    const out: Array<{ name: string; until: number }> = [];
    for (const [k, v] of this.names.entries()) if (v.lockedUntil > t) out.push({ name: k, until: v.lockedUntil });
    return out;
  }
}
