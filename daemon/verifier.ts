// The verifier pipeline: scrypt (PHC string) for the modern verifier, the NT hash for
// SMB, legacy crypt(3) hashes from an import. Slow hashing runs on libuv's thread pool
// with a bounded number in flight and a bounded queue, so a flood of bad passwords
// cannot exhaust memory or starve the event loop that serves cache hits.
import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import type { Config } from './config';
import { canonicalBytes, ntHash } from './password';
import type { Verifiers } from './store';
import { verifyLegacy } from './crypt';

export class BusyError extends Error {
  constructor() { super('too many password checks in progress'); }
}

/** How many of the last checks decide whether the pool is flooded (a bit each). */
const OUTCOMES = 16;
/** Flooded: the queue is in use and at least this share of the last checks failed ... */
const FLOOD_ENTER = 0.75;
/** ... until fewer than this failed, or the queue has been empty this long. */
const FLOOD_LEAVE = 0.5;
const FLOOD_IDLE_MS = 2000;

/**
 * At most `limit` jobs run; at most `maxQueued` wait; the rest are refused at once.
 *
 * Under a flood of wrong passwords (the queue in use, and most recent checks failing)
 * one slot fewer runs: `limit` hashes on a box with as many cores (the device: two and
 * two) leave none for the event loop, and every cache hit waited behind a hash. With
 * one core kept, cache hits answered during a flood as fast as without it
 * (docs/performance.md, figure 2). Logins that need a slow hash (the flood's and any
 * other) are checked at the reduced rate while the flood lasts; the queue's bound and
 * every answer stay the same. Legitimate load does not trigger it: checks that succeed
 * keep the failure share low.
 */
export class WorkPool {
  private running = 0;
  private waiting: Array<() => void> = [];
  private outcomes = 0; // bit i: the i-th most recent check failed
  private counted = 0;
  private flooded = false;
  private lastQueued = 0;
  /** told when the pool enters (true) or leaves (false) its flood mode */
  onFlood: ((flooded: boolean, limit: number) => void) | null = null;
  constructor(private limit: number, private maxQueued: number, private now: () => number = Date.now) {}
  get inFlight() { return this.running; }
  get queued() { return this.waiting.length; }
  /** jobs allowed to run right now */
  get currentLimit() { return this.flooded ? Math.max(1, this.limit - 1) : this.limit; }

  async run<T>(job: () => Promise<T>): Promise<T> {
    this.review();
    if (this.running >= this.currentLimit) {
      if (this.waiting.length >= this.maxQueued) throw new BusyError();
      await new Promise<void>((res) => this.waiting.push(res));
    } else {
      this.running += 1;
    }
    try {
      return await job();
    } finally {
      const next = this.running <= this.currentLimit ? this.waiting.shift() : undefined;
      if (next) next(); // hand our slot over
      else this.running -= 1;
    }
  }

  /** A password check finished: did it fail (a wrong password, an unknown name)? */
  outcome(failed: boolean) {
    this.outcomes = ((this.outcomes << 1) | (failed ? 1 : 0)) & ((1 << OUTCOMES) - 1);
    if (this.counted < OUTCOMES) this.counted++;
    this.review();
  }

  private failShare(): number {
    let n = 0;
    for (let b = this.outcomes; b; b &= b - 1) n++;
    return this.counted ? n / this.counted : 0;
  }

  private review() {
    const now = this.now();
    if (this.waiting.length > 0) this.lastQueued = now;
    if (!this.flooded) {
      if (this.limit > 1 && this.waiting.length > 0 && this.counted >= OUTCOMES && this.failShare() >= FLOOD_ENTER) {
        this.flooded = true;
        this.onFlood?.(true, this.currentLimit);
      }
    } else if (this.failShare() < FLOOD_LEAVE || now - this.lastQueued > FLOOD_IDLE_MS) {
      this.flooded = false;
      this.onFlood?.(false, this.currentLimit);
      // the slot given back: a waiting job starts now
      while (this.running < this.currentLimit && this.waiting.length > 0) { this.running += 1; this.waiting.shift()!(); }
    }
  }
}

interface ScryptParams { ln: number; r: number; p: number }

function scryptRaw(pw: Buffer, salt: Buffer, prm: ScryptParams, len: number): Promise<Buffer> {
  const N = 2 ** prm.ln;
  return new Promise((res, rej) =>
    scryptCb(pw, salt, len, { N, r: prm.r, p: prm.p, maxmem: 256 * N * prm.r + 1024 * 1024 }, (e, k) => (e ? rej(e) : res(k))));
}

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

export function parsePhc(s: string): { prm: ScryptParams; salt: Buffer; hash: Buffer } | null {
  const m = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]{11,88})\$([A-Za-z0-9+/]{22,172})$/.exec(s);
  if (!m) return null;
  const prm = { ln: +m[1], r: +m[2], p: +m[3] };
  if (prm.ln < 1 || prm.ln > 22 || prm.r < 1 || prm.p < 1 || prm.r * prm.p >= 2 ** 30) return null;
  return { prm, salt: Buffer.from(m[4], 'base64'), hash: Buffer.from(m[5], 'base64') };
}

export class Verifier {
  private readonly prm: ScryptParams;
  readonly pool: WorkPool;
  private dummy: string | null = null;

  constructor(cfg: Config['scrypt']) {
    this.prm = { ln: cfg.log_n, r: cfg.r, p: cfg.p };
    this.pool = new WorkPool(cfg.max_in_flight, cfg.max_queued);
  }

  /** Fresh verifiers for a password: scrypt over the canonical bytes, and the NT hash. */
  async make(pw: Uint8Array): Promise<Required<Pick<Verifiers, 'scrypt' | 'nt'>>> {
    const canon = canonicalBytes(pw);
    const salt = randomBytes(16);
    try {
      const hash = await this.pool.run(() => scryptRaw(canon, salt, this.prm, 32));
      const phc = `$scrypt$ln=${this.prm.ln},r=${this.prm.r},p=${this.prm.p}$${b64(salt)}$${b64(hash)}`;
      return { scrypt: phc, nt: ntHash(pw).toString('hex').toUpperCase() };
    } finally {
      canon.fill(0);
    }
  }

  /** Whether the stored scrypt parameters differ from the configured ones. */
  outdated(v: Verifiers): boolean {
    const p = v.scrypt ? parsePhc(v.scrypt) : null;
    return !p || p.prm.ln !== this.prm.ln || p.prm.r !== this.prm.r || p.prm.p !== this.prm.p || !v.nt || !!v.legacy;
  }

  /**
   * Check a password against an account's verifiers (or, for an unknown account, burn
   * the same work against a dummy so timing does not tell who exists).
   * Returns 'ok' | 'bad' | 'none' (no usable verifier). Throws BusyError when the pool is full.
   */
  async check(v: Verifiers | undefined, pw: Uint8Array, info?: { by?: 'scrypt' | 'legacy' | 'nt' }): Promise<'ok' | 'bad' | 'none'> {
    if (pw.length === 0) return 'bad'; // never, whatever a verifier says (the authority refuses it first)
    if (v?.scrypt) {
      if (info) info.by = 'scrypt';
      return (await this.checkScrypt(v.scrypt, pw)) ? 'ok' : 'bad';
    }
    if (v?.legacy) {
      const canon = canonicalBytes(pw);
      try {
        // try the canonical form, then the raw bytes (an old system hashed whatever bytes it got)
        const ok = await this.pool.run(async () => (await verifyLegacy(v.legacy!, canon)) || (!canon.equals(pw) && (await verifyLegacy(v.legacy!, Buffer.from(pw)))));
        this.pool.outcome(!ok);
        if (ok) { if (info) info.by = 'legacy'; return 'ok'; }
        // an import may carry both a shadow hash and an NT hash that drifted apart:
        // either proves the password, and the first login makes it the only one
        if (!v.nt) return 'bad';
      } finally { canon.fill(0); }
    }
    if (v?.nt) {
      // Only an NT hash (imported from smbpasswd): MD4 is fast, still compare in constant time.
      const mine = ntHash(pw);
      const theirs = Buffer.from(v.nt, 'hex');
      if (info) info.by = 'nt';
      return mine.length === theirs.length && timingSafeEqual(mine, theirs) ? 'ok' : 'bad';
    }
    // Unknown user or no verifier: spend the same work, then fail.
    if (!this.dummy) this.dummy = (await this.make(randomBytes(12))).scrypt;
    await this.checkScrypt(this.dummy, pw);
    return v ? 'none' : 'bad';
  }

  private async checkScrypt(phc: string, pw: Uint8Array): Promise<boolean> {
    const p = parsePhc(phc);
    if (!p) return false;
    const canon = canonicalBytes(pw);
    try {
      const got = await this.pool.run(() => scryptRaw(canon, p.salt, p.prm, p.hash.length));
      const ok = got.length === p.hash.length && timingSafeEqual(got, p.hash);
      this.pool.outcome(!ok || phc === this.dummy);
      return ok;
    } finally {
      canon.fill(0);
    }
  }
}
