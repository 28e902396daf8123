// Following a directory: the authority asks this (and only the authority does) to prove
// passwords of directory accounts, to change them, and to refuse local-only actions on
// them. Everything else (rate gate, policy, audit, reasons) stays in the authority.
//
// A login for a directory account, in order (docs/directory.md):
//   1. hot-path cache hit and the directory accepted this password within
//      upstream.cached_auth_seconds: answered here;
//   2. directory reachable: search the user's DN (service identity, structured filter),
//      bind as that DN with the password, read the groups; on success the account, its
//      groups and a scrypt verifier + NT hash of the proven password are kept durably;
//   3. directory unreachable (every URL failed, or no answer before upstream.timeout_ms):
//      answered from that durable copy while the directory confirmed the account within
//      upstream.offline.lifetime_seconds, else `unavailable`. Once the directory failed,
//      logins go straight to the copy and a background probe (every retry_seconds,
//      jittered) finds the directory again: no login waits on a dead directory.
// A background refresh (paged searches, bounded, jittered) keeps every directory account,
// group and the NSS files current and bumps an account's version when it changed.
import type { Authority, Channel, Decision } from '../authority';
import type { Config, UpstreamConfig } from '../config';
import { NasauthError } from '../errors';
import type { Logger } from '../log';
import { canonicalBytes, canonicalText } from '../password';
import { passwordProblems } from '../password-policy';
import { REASONS, type Reason } from '../reasons';
import type { Account, Store, StoreData } from '../store';
import { peekAccounts } from '../store';
import { lookupName } from '../validate';
import { BusyError, WorkPool } from '../verifier';
import { FilterParser } from 'ldapts';
import { Directory, DirectoryError, DirectoryRefusal, groupsOfFilter, readCa, readSecret, userFilter, userFilterText } from './directory';
import type { ProveResult, UpstreamHooks } from './hooks';
import {
  applyGroup, applyUser, clashOf, copyForApply, DraftIndex, groupAttributes, isSkip, markRemoved, normDn, ntFingerprint,
  toGroup, toUser, userAttributes, type DirGroup, type DirUser, type Skip,
} from './mapping';

/** How often the last complete refresh is written to disk at most (when nothing else changed). */
const REFRESHED_WRITE_MS = 3_600_000;
/** A refresh that would remove more than this share of the directory accounts is not applied. */
const MAX_REMOVED_SHARE = 0.5;
const MAX_LISTED = 50;

export interface RefreshReport {
  at: string; ok: boolean; error?: string; ms: number; users: number; groups: number;
  created: number; updated: number; removed: number; skipped: Skip[]; clashes: Array<{ name: string; why: string }>;
  rss_before: number; rss_after: number; heap_peak: number; removals_held?: number;
}

export interface UpstreamStatus {
  enabled: true;
  state: 'online' | 'offline' | 'unknown';
  url: string | null;
  since: string | null;
  error: { kind: string; message: string } | null;
  accounts: number;
  last_refresh: RefreshReport | null;
  refreshed_at: string | null;
  next_refresh: string | null;
  clashes: Array<{ name: string; why: string }>;
  offline_lifetime_seconds: number;
}

const decision = (reason: Reason, message?: string, extra: Partial<Decision> = {}): Decision => ({ reason, message: message ?? REASONS[reason].message, ...extra });

function jitter(baseMs: number, spreadMs: number): number {
  return Math.max(0, baseMs + Math.round((Math.random() * 2 - 1) * spreadMs));
}

export class Upstream implements UpstreamHooks {
  readonly dir: Directory;
  private cfg: Config;
  private pool: WorkPool;
  /** rid → when the directory last accepted this account's password (memory only) */
  private verified = new Map<number, number>();
  private down: { since: number; error: DirectoryError } | null = null;
  private everOnline = false;
  private probeTimer: NodeJS.Timeout | null = null;
  private refreshTimer: NodeJS.Timeout | null = null;
  private nextRefreshAt: number | null = null;
  private refreshing: Promise<RefreshReport> | null = null;
  private queued: Promise<RefreshReport> | null = null;
  private lastRefresh: RefreshReport | null = null;
  /** the last complete refresh (memory; written to the store when something changed, or hourly) */
  private refreshedAt: number | null = null;
  /** names the directory and a local account both claim (from the last refresh or login) */
  readonly clashes = new Map<string, string>();
  private stopped = false;
  /** bumped by reload(): the results of work begun under older settings are not the new directory's */
  private gen = 0;

  // the store: this follower is logic, like the authority (test/layers.test.ts)
  constructor(private auth: Authority, private store: Store, private log: Logger) {
    this.cfg = auth.config;
    this.dir = new Directory({ cfg: this.u, secret: readSecret(this.u), ca: readCa(this.u) });
    this.pool = new WorkPool(this.u.max_in_flight, this.u.max_queued);
  }

  private get u(): UpstreamConfig { return this.cfg.upstream; }
  /** The stored account behind a name (for the doctor hook, which gets the admin's view). */
  account(name: string): Account | undefined { return this.store.account(name); }
  private now() { return this.auth.now(); }

  start() {
    this.scheduleRefresh(jitter(500, 400));
  }

  reload(cfg: Config) {
    this.cfg = cfg;
    try {
      this.dir.reconfigure({ cfg: this.u, secret: readSecret(this.u), ca: readCa(this.u) });
    } catch (e) {
      this.log.error({ upstream: 'reload', err: (e as Error).message }, 'could not read the directory secret or CA; keeping the connections closed until the next reload');
    }
    this.pool = new WorkPool(this.u.max_in_flight, this.u.max_queued);
    // a new directory (or a new way to it): nothing known about it yet. A probe scheduled
    // for the old one goes too: it ran at the old retry_seconds, and while it was pending
    // no probe at the new interval was scheduled (an hour-long one hid a directory that
    // came back; test/upstream-faults.test.ts). What was in flight for the old settings
    // (a refresh, a probe) neither marks the new one offline nor reschedules.
    this.gen++;
    this.down = null;
    this.everOnline = false;
    if (this.probeTimer) { clearTimeout(this.probeTimer); this.probeTimer = null; }
    this.scheduleRefresh(jitter(500, 400));
  }

  stop() {
    this.stopped = true;
    if (this.probeTimer) clearTimeout(this.probeTimer);
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.dir.close();
  }

  // ---- reachability ---------------------------------------------------------------

  private wentOffline(e: DirectoryError) {
    const first = !this.down;
    if (first) this.down = { since: this.now(), error: e };
    else this.down!.error = e;
    if (first) this.log.warn({ upstream: 'offline', kind: e.kind, err: e.message }, 'the directory cannot be reached: logins are answered from the offline copies');
    if (!this.probeTimer && !this.stopped) this.scheduleProbe();
  }

  private markOnline() {
    this.everOnline = true;
    if (this.down) {
      this.log.info({ upstream: 'online', url: this.dir.lastUrl, offline_ms: this.now() - this.down.since }, 'the directory answers again');
      this.down = null;
      if (this.probeTimer) { clearTimeout(this.probeTimer); this.probeTimer = null; }
      this.scheduleRefresh(jitter(1000, 500));
    }
  }

  private scheduleProbe() {
    const ms = jitter(this.u.offline.retry_seconds * 1000, this.u.offline.retry_seconds * 200);
    this.probeTimer = setTimeout(() => { this.probeTimer = null; void this.probe(); }, ms);
    this.probeTimer.unref();
  }

  /** Try the directory once (the service bind and a one-entry search). */
  async probe(): Promise<boolean> {
    const gen = this.gen;
    try {
      await this.dir.probe(Date.now() + this.u.timeout_ms);
      if (gen === this.gen) this.markOnline();
      return true;
    } catch (e) {
      if (!(e instanceof DirectoryError)) throw e;
      if (gen === this.gen) this.wentOffline(e);
      return false;
    }
  }

  // ---- logins ---------------------------------------------------------------------

  owns(name: string, acct: Account | undefined): boolean {
    if (!this.u.enabled || name.startsWith('\0')) return false;
    return !acct || acct.source === 'directory' || this.clashes.has(name);
  }

  private offlineMessage(): string {
    const since = this.down ? ` since ${new Date(this.down.since).toISOString()}` : '';
    const days = Math.round(this.u.offline.lifetime_seconds / 86400 * 10) / 10;
    return `the directory cannot be reached${since}, and this NAS has no offline copy of this sign-in that the directory confirmed in the last ${days >= 1 ? `${days} days` : `${this.u.offline.lifetime_seconds} seconds`}; try again when the network is back, or ask the NAS administrator`;
  }

  /**
   * When the directory last vouched for this account: an online login, a refresh that
   * changed it, or the last complete refresh (which marks every account it did not
   * find as removed, so every other directory account was there).
   */
  confirmedAt(a: Account): number {
    const m = a.upstream;
    if (!m) return 0;
    const refreshed = m.removed_at ? 0 : this.refreshedAt ?? this.store.snapshot.upstream_refreshed_at ?? 0;
    return Math.max(m.seen_at, this.verifiedAt(a) ?? 0, refreshed);
  }

  /** When the directory last accepted this account's password (memory, else the store). */
  verifiedAt(a: Account): number | null {
    const mem = this.verified.get(a.rid) ?? 0;
    const disk = a.upstream?.verified_at ?? 0;
    return Math.max(mem, disk) || null;
  }

  async prove(name: string, pw: Uint8Array, acct: Account | undefined): Promise<ProveResult> {
    // a local account whose name the directory also has: the local password first
    if (acct && acct.source !== 'directory') return this.proveClash(name, pw, acct);
    let knownMatch = false;
    if (acct && this.auth.cache.check(acct.rid, acct.name, pw, acct.version)) {
      const last = this.verified.get(acct.rid) ?? 0;
      if (!this.down && this.now() - last < this.u.cached_auth_seconds * 1000) return { kind: 'ok', account: acct, cached: true };
      knownMatch = true;
    }
    if (this.down) return this.offline(acct, pw, knownMatch);
    const text = canonicalText(pw);
    // an empty password is an "unauthenticated bind", which a directory may accept as anonymous
    if (text.length === 0) return { kind: 'bad', account: acct };
    try {
      return await this.pool.run(() => this.online(name, text, pw, acct, knownMatch));
    } catch (e) {
      if (e instanceof BusyError) return { kind: 'decision', decision: decision('busy', undefined, { retry_after: 1 }) };
      if (e instanceof DirectoryError) {
        this.wentOffline(e);
        return this.offline(this.store.account(name), pw, knownMatch);
      }
      throw e;
    }
  }

  private async proveClash(name: string, pw: Uint8Array, acct: Account): Promise<ProveResult> {
    let local: 'ok' | 'bad' | 'none';
    try { local = await this.auth.verifier.check(acct.verifiers, pw); } catch (e) {
      if (e instanceof BusyError) return { kind: 'decision', decision: decision('busy', undefined, { retry_after: 1 }) };
      throw e;
    }
    if (local === 'ok') {
      this.auth.cache.put(acct.rid, acct.name, pw, acct.version);
      return { kind: 'ok', account: acct, cached: false };
    }
    if (this.down) return { kind: 'bad', account: acct };
    // the directory's user of that name: say why they cannot sign in, once the directory took the password
    try {
      const deadline = Date.now() + this.u.timeout_ms;
      const found = await this.findUser(name, deadline);
      if (found && found !== 'ambiguous' && !isSkip(found) && (await this.dir.checkPassword(found.dn, canonicalText(pw), deadline))) {
        return { kind: 'decision', decision: decision('account_disabled', this.clashes.get(name) ?? `"${name}" is a local account on this NAS; the directory's ${name} cannot sign in here`) };
      }
    } catch (e) {
      if (e instanceof DirectoryRefusal) return { kind: 'bad', account: acct };
      if (!(e instanceof DirectoryError)) throw e;
      this.wentOffline(e);
    }
    return { kind: 'bad', account: acct };
  }

  private async findUser(name: string, deadline: number): Promise<DirUser | Skip | null | 'ambiguous'> {
    const entries = await this.dir.search({ base: this.u.user_base, filter: userFilter(this.u, name), attributes: userAttributes(this.u), sizeLimit: 2 }, deadline);
    if (entries.length === 0) return null;
    if (entries.length > 1) return 'ambiguous';
    return toUser(entries[0], this.u, this.now());
  }

  /** The directory groups a user is in (DirGroup list), by the configured membership model. */
  private async groupsOf(u: DirUser, deadline: number): Promise<DirGroup[]> {
    if (!this.u.group_base) return [];
    const filter = this.u.group_membership === 'member_of'
      ? FilterParser.parseString(this.u.group_filter)
      : groupsOfFilter(this.u, u.name, u.dn);
    const entries = await this.dir.search({ base: this.u.group_base, filter, attributes: groupAttributes(this.u), sizeLimit: 0 }, deadline);
    const out: DirGroup[] = [];
    const mine = new Set(u.member_of.map(normDn));
    for (const e of entries) {
      const g = toGroup(e, this.u);
      if (isSkip(g)) continue;
      if (this.u.group_membership === 'member_of' && !mine.has(normDn(g.dn))) continue;
      out.push(g);
    }
    return out;
  }

  private async online(name: string, text: string, pw: Uint8Array, acct: Account | undefined, knownMatch: boolean): Promise<ProveResult> {
    const deadline = Date.now() + this.u.timeout_ms;
    const found = await this.findUser(name, deadline);
    this.markOnline();
    if (found === null || found === 'ambiguous' || isSkip(found)) {
      if (found === 'ambiguous') this.log.error({ upstream: 'ambiguous', user: name, filter: userFilterText(this.u, name) }, 'two directory entries match this name: refused until the directory has one');
      else if (found) this.log.warn({ upstream: 'skipped', user: name, dn: found.dn, why: found.why }, 'a directory entry cannot be a NAS account');
      if (found === null && acct?.source === 'directory' && !acct.upstream?.removed_at) await this.removed(acct.name);
      return { kind: 'bad', account: acct ? this.store.account(acct.name) : undefined };
    }
    const u = found;
    try {
      if (!(await this.dir.checkPassword(u.dn, text, deadline))) return { kind: 'bad', account: acct };
    } catch (e) {
      if (!(e instanceof DirectoryRefusal)) throw e;
      this.log.warn({ upstream: 'bind_refused', user: u.name, why: e.message }, 'the directory refused this user\'s bind');
      return { kind: 'bad', account: acct };
    }
    const groups = await this.groupsOf(u, deadline);
    const now = this.now();
    // a fresh verifier unless the one kept already matches this password (the hot cache
    // just said so, or one scrypt check does): then nothing needs to be written
    let made: { scrypt: string; nt: string } | null = null;
    try {
      const cur = this.store.account(u.name);
      const kept = cur?.source === 'directory' ? cur.verifiers.scrypt : undefined;
      const same = !!kept && (knownMatch || (await this.auth.verifier.check({ scrypt: kept }, pw)) === 'ok');
      if (!same) made = await this.auth.verifier.make(pw);
    } catch (e) {
      if (e instanceof BusyError) return { kind: 'decision', decision: decision('busy', undefined, { retry_after: 1 }) };
      throw e;
    }
    const prev = this.store.account(u.name);
    // the proof's time is kept in memory; on disk it is renewed only when it is a quarter
    // of the offline lifetime old (the refresh confirms every account meanwhile): with
    // 10,000 accounts every store write costs ~150 ms of CPU (docs/performance.md, figure 11)
    const staleProof = !prev?.upstream?.verified_at || now - prev.upstream.verified_at > this.u.offline.lifetime_seconds * 250;
    const r = await this.store.mutate((d) => {
      const ix = new DraftIndex(d);
      const names: string[] = [];
      for (const g of groups) if (applyGroup(d, ix, g).ok) names.push(g.name);
      const clash = clashOf(d, ix, u.name, u.uid);
      if (clash) return { clash };
      const res = applyUser(d, ix, this.cfg, u, names, now);
      const a = d.accounts[u.name];
      let bump = false;
      if (made) {
        // SMB takes the proven password's hash: the directory's own may be stale
        a.verifiers = { scrypt: made.scrypt, nt: made.nt };
        a.upstream!.nt_from = u.nt === made.nt ? 'directory' : 'login';
        bump = true;
      }
      a.upstream!.verified_at = now;
      if (bump && !res.created) a.version += 1;
      if (!res.changed && !bump && !staleProof && !res.created) throw new Unchanged();
      return { clash: null };
    }).catch((e) => {
      if (e instanceof Unchanged) return { clash: null };
      throw e;
    });
    if (r.clash) {
      this.clashes.set(u.name, r.clash);
      return { kind: 'decision', decision: decision('account_disabled', r.clash) };
    }
    const a = this.store.account(u.name)!;
    this.verified.set(a.rid, now);
    this.auth.cache.put(a.rid, a.name, pw, a.version);
    return { kind: 'ok', account: a, cached: false };
  }

  private offline(acct: Account | undefined, pw: Uint8Array, knownMatch: boolean): Promise<ProveResult> | ProveResult {
    const unavailable: ProveResult = { kind: 'decision', decision: decision('unavailable', this.offlineMessage()) };
    if (!this.u.offline.enabled || !acct || acct.source !== 'directory' || !acct.verifiers.scrypt) return unavailable;
    if (this.now() - this.confirmedAt(acct) > this.u.offline.lifetime_seconds * 1000) return unavailable;
    if (knownMatch) return { kind: 'ok', account: acct, cached: true };
    return (async (): Promise<ProveResult> => {
      let r: 'ok' | 'bad' | 'none';
      try { r = await this.auth.verifier.check({ scrypt: acct.verifiers.scrypt }, pw); } catch (e) {
        if (e instanceof BusyError) return { kind: 'decision', decision: decision('busy', undefined, { retry_after: 1 }) };
        throw e;
      }
      const now = this.store.account(acct.name);
      if (r !== 'ok' || !now || now.version !== acct.version) return { kind: 'bad', account: now };
      this.auth.cache.put(now.rid, now.name, pw, now.version);
      this.log.info({ upstream: 'offline_login', user: now.name }, 'answered from the offline copy');
      return { kind: 'ok', account: now, cached: true };
    })();
  }

  private async removed(name: string) {
    const rid = this.store.account(name)?.rid;
    await this.store.mutate((d) => { const a = d.accounts[name]; if (a) markRemoved(a, this.now()); }).catch((e) => this.log.error({ err: (e as Error).message }, 'could not record a removed directory account'));
    if (rid !== undefined) this.auth.cache.forget(rid);
    this.log.info({ audit: 'upstream_removed', user: name }, 'the directory no longer has this account: refused from now on');
  }

  // ---- passwords ------------------------------------------------------------------

  async setPassword(a: Account, pw: Uint8Array, channel: Channel, actor: string, old: Uint8Array | null): Promise<Decision> {
    const dn = a.upstream?.dn;
    if (channel === 'admin' || channel === 'cli') this.guard('user', a.name, 'set the password of');
    if (!dn || a.upstream?.removed_at) return decision('account_disabled', 'the directory no longer has this account');
    const problems = passwordProblems(pw, a.name, this.cfg.password_policy);
    if (problems.length) return decision('password_rejected', `the new password needs ${problems.join('; ')}`);
    if (old === null && this.u.password_resets !== 'service') {
      return decision('password_rejected', `the directory owns ${a.name}'s password, and this NAS may change it there only with the old password: change it on the web page, over AFP, with passwd, or in the directory (upstream.password_resets)`);
    }
    if (this.down) return decision('unavailable', `the password cannot be changed while the directory cannot be reached (since ${new Date(this.down.since).toISOString()}); nothing was changed`);
    let made;
    try { made = await this.auth.verifier.make(pw); } catch (e) {
      if (e instanceof BusyError) return decision('busy', undefined, { retry_after: 1 });
      throw e;
    }
    const deadline = Date.now() + this.u.timeout_ms;
    const newBytes = canonicalBytes(pw);
    const newText = newBytes.toString('utf8');
    let fresh: DirUser | null = null;
    try {
      await this.dir.modifyPassword(dn, old === null ? null : canonicalText(old), newBytes, deadline);
      this.markOnline();
      // keep the directory's Samba hash in step when it holds one (as smbk5pwd would)
      if (a.upstream?.nt_seen) {
        try {
          await this.dir.modifyAttributes(dn, old === null ? null : { password: newText }, { [this.u.attributes.nt_hash]: made.nt, sambaPwdLastSet: String(Math.floor(this.now() / 1000)) }, Date.now() + this.u.timeout_ms);
        } catch (e) {
          this.log.warn({ upstream: 'nt_write', user: a.name, err: (e as Error).message }, 'the password changed in the directory, but its sambaNTPassword could not be written: other systems reading it keep the old SMB password');
        }
      }
      const f = await this.findUser(a.name, Date.now() + this.u.timeout_ms).catch(() => null);
      if (f && f !== 'ambiguous' && !isSkip(f)) fresh = f;
    } catch (e) {
      if (e instanceof DirectoryRefusal) {
        this.log.info({ upstream: 'password_refused', user: a.name, code: e.code, why: e.message }, 'the directory refused a password change');
        if (e.code === 'invalid_credentials') return decision('bad_credentials');
        if (e.code === 'access') return decision('password_rejected', `the directory does not let this NAS change ${a.name}'s password (${e.message}); change it in the directory`);
        return decision('password_rejected', `the directory refused the new password: ${e.message}`);
      }
      if (e instanceof DirectoryError) {
        this.wentOffline(e);
        return decision('unavailable', 'the password cannot be changed: the directory did not answer; nothing was changed');
      }
      throw e;
    } finally {
      newBytes.fill(0);
    }
    const now = this.now();
    try {
      await this.store.mutate((d) => {
        const x = d.accounts[a.name];
        if (!x || !x.upstream) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${a.name}"`);
        x.verifiers = { scrypt: made.scrypt, nt: made.nt };
        x.password_changed_at = now;
        x.must_change_password = false;
        x.lockout_until = null;
        x.upstream.verified_at = now;
        x.upstream.nt_from = 'login';
        if (fresh) {
          x.upstream.pwd_changed = fresh.pwd_changed;
          if (fresh.nt) { x.upstream.nt_seen = ntFingerprint(fresh.nt); if (fresh.nt === made.nt) x.upstream.nt_from = 'directory'; }
        }
        x.version += 1;
      });
    } catch (e) {
      if (e instanceof NasauthError && e.code === 'NASAUTH_STORE_IO') {
        this.log.error({ user: a.name, err: e.message }, 'the directory took the new password, but the offline copy could not be saved');
        return decision('ok');
      }
      throw e;
    }
    const x = this.store.account(a.name);
    if (x) this.verified.set(x.rid, now);
    this.auth.cache.forget(a.rid);
    this.auth.limiter.unlock(a.name);
    this.log.info({ audit: 'password_set', user: a.name, by: actor, channel, directory: old === null ? 'service' : 'user' });
    return decision('ok');
  }

  guard(kind: 'user' | 'group', name: string, what: string): void {
    if (kind === 'user') {
      const a = this.store.account(name);
      if (a?.source !== 'directory') return;
      if (what === 'delete' && a.upstream?.removed_at) return; // the directory dropped it: the admin may clean up
      throw new NasauthError('NASAUTH_CONFLICT', `"${name}" comes from the directory (${a.upstream?.dn}): ${what} ${name} there; nasauth follows the directory and would undo a local change`, 'name');
    }
    const g = this.store.group(name);
    if (g?.source !== 'directory') return;
    throw new NasauthError('NASAUTH_CONFLICT', `the group "${name}" comes from the directory (${g.dn}): ${what} it there; nasauth follows the directory and would undo a local change`, 'name');
  }

  // ---- refresh --------------------------------------------------------------------

  private scheduleRefresh(ms: number) {
    if (this.stopped) return;
    if (this.refreshTimer) clearTimeout(this.refreshTimer);
    this.nextRefreshAt = this.now() + ms;
    this.refreshTimer = setTimeout(() => {
      this.refreshTimer = null;
      const gen = this.gen;
      void this.refresh('schedule').then((r) => {
        if (gen !== this.gen) return; // reload() scheduled the next one
        const i = this.u.refresh;
        this.scheduleRefresh(r.ok ? jitter(i.interval_seconds * 1000, i.jitter_seconds * 1000) : jitter(this.u.offline.retry_seconds * 1000, this.u.offline.retry_seconds * 200));
      });
    }, ms);
    this.refreshTimer.unref();
  }

  /** Read every user and group (paged) and bring the store in line. One at a time. */
  refresh(why: string): Promise<RefreshReport> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh(why).finally(() => { this.refreshing = null; });
      return this.refreshing;
    }
    // one is running: it may have read the directory before the caller's reason to ask,
    // so one more follows it (and every caller meanwhile shares that one)
    this.queued ??= this.refreshing.catch(() => undefined).then(() => { this.queued = null; return this.refresh(why); });
    return this.queued;
  }

  private async doRefresh(why: string): Promise<RefreshReport> {
    const gen = this.gen;
    const t0 = Date.now();
    const rss0 = process.memoryUsage.rss();
    let heapPeak = process.memoryUsage().heapUsed;
    const report: RefreshReport = { at: new Date(this.now()).toISOString(), ok: false, ms: 0, users: 0, groups: 0, created: 0, updated: 0, removed: 0, skipped: [], clashes: [], rss_before: rss0, rss_after: 0, heap_peak: 0 };
    const skip = (s: Skip) => { if (report.skipped.length < MAX_LISTED) report.skipped.push(s); };
    const pageMs = Math.max(this.u.timeout_ms, 10_000);
    try {
      const users = new Map<string, DirUser>();
      const byDn = new Map<string, string>();
      for await (const page of this.dir.pages({ base: this.u.user_base, filter: FilterParser.parseString(this.u.user_filter), attributes: userAttributes(this.u) }, this.u.refresh.page_size, pageMs)) {
        if (gen === this.gen) this.markOnline();
        const now = this.now();
        for (const e of page) {
          const x = toUser(e, this.u, now);
          if (isSkip(x)) { skip(x); continue; }
          if (users.has(x.name)) { skip({ dn: x.dn, why: `a second entry named ${x.name} (the first one is used)` }); continue; }
          users.set(x.name, x);
          byDn.set(normDn(x.dn), x.name);
        }
        if (users.size > this.u.refresh.max_users) throw new RefreshLimit(`the directory holds more than ${this.u.refresh.max_users} users (upstream.refresh.max_users); nothing was changed`);
        heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
      }
      const groups = new Map<string, DirGroup>();
      if (this.u.group_base) {
        for await (const page of this.dir.pages({ base: this.u.group_base, filter: FilterParser.parseString(this.u.group_filter), attributes: groupAttributes(this.u) }, this.u.refresh.page_size, pageMs)) {
          for (const e of page) {
            const g = toGroup(e, this.u);
            if (isSkip(g)) { skip(g); continue; }
            if (!groups.has(g.name)) groups.set(g.name, g);
          }
          if (groups.size > this.u.refresh.max_groups) throw new RefreshLimit(`the directory holds more than ${this.u.refresh.max_groups} groups (upstream.refresh.max_groups); nothing was changed`);
          heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
        }
      }
      // memberships: user name → directory group names
      const memberOf = new Map<string, string[]>();
      const add = (user: string, group: string) => { const l = memberOf.get(user); if (l) { if (!l.includes(group)) l.push(group); } else memberOf.set(user, [group]); };
      const groupByDn = new Map<string, string>();
      for (const g of groups.values()) {
        groupByDn.set(normDn(g.dn), g.name);
        if (this.u.group_membership === 'member_of') continue;
        for (const m of g.member_uids) if (users.has(m)) add(m, g.name);
        for (const m of g.member_dns) { const n = byDn.get(m); if (n) add(n, g.name); }
      }
      if (this.u.group_membership === 'member_of') {
        for (const x of users.values()) for (const dn of x.member_of) { const g = groupByDn.get(normDn(dn)); if (g) add(x.name, g); }
      }
      // read under settings a reload replaced (another user_base, another directory):
      // not applied; the refresh the reload scheduled reads the new one
      if (gen !== this.gen) throw new Superseded(SUPERSEDED);
      report.users = users.size;
      report.groups = groups.size;
      const clashes = new Map<string, string>();
      const now = this.now();
      // most refreshes change nothing: then the store (and NSS, and the LDAP view) is left alone
      const persistDue = now - (this.store.snapshot.upstream_refreshed_at ?? 0) > Math.min(REFRESHED_WRITE_MS, this.u.offline.lifetime_seconds * 100);
      if (!persistDue && !this.differs(users, groups, memberOf, now)) {
        const snap = this.store.snapshot as StoreData;
        const ix = new DraftIndex(snap);
        for (const x of users.values()) { const c = clashOf(snap, ix, x.name, x.uid); if (c) clashes.set(x.name, c); }
        this.afterRefresh(report, clashes, now);
        return this.finishReport(report, t0, heapPeak, why);
      }
      await this.store.mutate((d) => {
        const ix = new DraftIndex(d);
        const okGroups = new Set<string>();
        for (const g of groups.values()) {
          const r = applyGroup(d, ix, g);
          if (r.ok) okGroups.add(g.name); else skip({ dn: g.dn, why: r.why! });
        }
        // directory groups the directory no longer has
        for (const g of Object.values(d.groups)) {
          if (g.source === 'directory' && !okGroups.has(g.name)) {
            for (const m of g.members) { const a = d.accounts[m]; if (a) { a.groups = a.groups.filter((x) => x !== g.name); a.version += 1; } }
            delete d.groups[g.name];
            ix.byGid.delete(g.gid);
          }
        }
        const members = new Map<string, string[]>();
        for (const x of users.values()) {
          const clash = clashOf(d, ix, x.name, x.uid);
          if (clash) { clashes.set(x.name, clash); continue; }
          const mine = (memberOf.get(x.name) ?? []).filter((g) => okGroups.has(g));
          const r = applyUser(d, ix, this.cfg, x, mine, now, { syncMembers: false });
          if (r.created) report.created++; else if (r.changed) report.updated++;
          for (const g of mine) { const l = members.get(g); if (l) l.push(x.name); else members.set(g, [x.name]); }
        }
        // each directory group's member list from the users just applied
        for (const g of Object.values(d.groups)) {
          if (g.source !== 'directory') continue;
          const want = (members.get(g.name) ?? []).sort();
          if (JSON.stringify(want) !== JSON.stringify([...g.members].sort())) { g.members = want; g.version += 1; }
        }
        // looked at without copying; only the accounts marked removed are read to be changed
        const all = Object.values(peekAccounts(d));
        const gone = all.filter((a) => a.source === 'directory' && !a.upstream?.removed_at && (!users.has(a.name) || clashes.has(a.name))).map((a) => a.name);
        const live = all.filter((a) => a.source === 'directory' && !a.upstream?.removed_at).length;
        if (gone.length > 10 && gone.length > live * MAX_REMOVED_SHARE) {
          report.removals_held = gone.length;
        } else {
          for (const n of gone) if (markRemoved(d.accounts[n], now)) report.removed++;
        }
        if (!report.removals_held) d.upstream_refreshed_at = now;
      });
      this.afterRefresh(report, clashes, now);
      if (report.removals_held) {
        this.log.error({ upstream: 'refresh_held', would_remove: report.removals_held }, `the directory returned far fewer users than before (${report.removals_held} would be removed): nothing was removed; check upstream.user_base, user_filter and the directory's ACLs for upstream.bind_dn`);
      }
      for (const c of report.clashes) this.log.warn({ upstream: 'clash', user: c.name, why: c.why }, 'a directory user cannot have an account here');
    } catch (e) {
      report.ok = false;
      report.error = gen === this.gen ? (e as Error).message : SUPERSEDED;
      if (e instanceof DirectoryError) { if (gen === this.gen) this.wentOffline(e); } else if (!(e instanceof RefreshLimit || e instanceof Superseded)) this.log.error({ upstream: 'refresh', err: (e as Error).message }, 'the refresh failed');
    }
    return this.finishReport(report, t0, heapPeak, why);
  }

  private afterRefresh(report: RefreshReport, clashes: Map<string, string>, now: number) {
    this.clashes.clear();
    for (const [n, w] of clashes) this.clashes.set(n, w);
    report.clashes = [...clashes].slice(0, MAX_LISTED).map(([name, w]) => ({ name, why: w }));
    report.ok = true;
    if (!report.removals_held) this.refreshedAt = now;
  }

  private finishReport(report: RefreshReport, t0: number, heapPeak: number, why: string): RefreshReport {
    report.ms = Date.now() - t0;
    report.rss_after = process.memoryUsage.rss();
    report.heap_peak = Math.max(heapPeak, process.memoryUsage().heapUsed);
    this.lastRefresh = report;
    this.log.info({ upstream: 'refresh', why, ok: report.ok, err: report.error, ms: report.ms, users: report.users, groups: report.groups, created: report.created, updated: report.updated, removed: report.removed, skipped: report.skipped.length, clashes: report.clashes.length }, 'directory refresh');
    return report;
  }

  /** Would applying this snapshot change the store? Read-only (works on copies). */
  private differs(users: Map<string, DirUser>, groups: Map<string, DirGroup>, memberOf: Map<string, string[]>, now: number): boolean {
    const snap = this.store.snapshot as StoreData;
    const ix = new DraftIndex(snap);
    const okGroups = new Set<string>();
    for (const g of groups.values()) {
      const cur = snap.groups[g.name];
      if (cur && cur.source !== 'directory') continue;
      const byGid = ix.byGid.get(g.gid);
      if (byGid && byGid.name !== g.name) continue;
      if (!cur || cur.gid !== g.gid || cur.dn !== g.dn) return true;
      okGroups.add(g.name);
    }
    const members = new Map<string, string[]>();
    for (const g of Object.values(snap.groups)) if (g.source === 'directory' && !okGroups.has(g.name)) return true;
    let live = 0;
    for (const a of Object.values(snap.accounts)) {
      if (a.source !== 'directory' || a.upstream?.removed_at) continue;
      live++;
      if (!users.has(a.name)) return true;
    }
    for (const x of users.values()) {
      if (clashOf(snap, ix, x.name, x.uid)) continue;
      const cur = snap.accounts[x.name];
      if (!cur || cur.upstream?.removed_at) return true;
      const mine = (memberOf.get(x.name) ?? []).filter((g) => okGroups.has(g));
      for (const g of mine) { const l = members.get(g); if (l) l.push(x.name); else members.set(g, [x.name]); }
      const copy = copyForApply(cur);
      const r = applyUser({ ...snap, accounts: { [x.name]: copy } }, ix, this.cfg, x, mine, now, { syncMembers: false });
      if (r.changed || r.touched) return true;
    }
    for (const g of okGroups) {
      const want = (members.get(g) ?? []).sort();
      const have = [...snap.groups[g].members].sort();
      if (want.length !== have.length || want.some((x, i) => x !== have[i])) return true;
    }
    return live === 0 && users.size > 0;
  }

  // ---- what the admin sees ----------------------------------------------------------

  status(): UpstreamStatus {
    const d: Readonly<StoreData> = this.store.snapshot;
    return {
      enabled: true,
      state: this.down ? 'offline' : this.everOnline ? 'online' : 'unknown',
      url: this.dir.lastUrl,
      since: this.down ? new Date(this.down.since).toISOString() : null,
      error: this.down ? { kind: this.down.error.kind, message: this.down.error.message } : null,
      accounts: Object.values(d.accounts).filter((a) => a.source === 'directory').length,
      last_refresh: this.lastRefresh,
      refreshed_at: (this.refreshedAt ?? d.upstream_refreshed_at) ? new Date((this.refreshedAt ?? d.upstream_refreshed_at)!).toISOString() : null,
      next_refresh: this.nextRefreshAt ? new Date(this.nextRefreshAt).toISOString() : null,
      clashes: [...this.clashes].slice(0, MAX_LISTED).map(([name, why]) => ({ name, why })),
      offline_lifetime_seconds: this.u.offline.lifetime_seconds,
    };
  }

  /** What a doctor says about reaching the directory right now (asks it). */
  async reachability(): Promise<{ ok: boolean; text: string }> {
    if (this.down && this.probeTimer) {
      // one fresh try, so the doctor's answer is current
      await this.probe();
    }
    if (!this.down && !this.everOnline) await this.probe();
    if (this.down) return { ok: false, text: `the directory cannot be reached since ${new Date(this.down.since).toISOString()}: ${this.down.error.message}` };
    return { ok: true, text: `the directory answers (${this.dir.lastUrl})` };
  }

  lookupName(name: string) { return lookupName(name); }
}

class Unchanged extends Error {}
class RefreshLimit extends Error {}
class Superseded extends Error {}
const SUPERSEDED = 'the settings changed during the refresh (a reload): nothing was changed; the refresh the reload scheduled reads the directory again';
