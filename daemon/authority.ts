// The authority: every credential question on the box ends here. It knows nothing
// about sockets; the protocol surfaces (query, PAM, admin, LDAP) translate into calls.
//
// Order of an authentication, and why:
//   1. rate gate (per source, per name; names tracked whether or not they exist)
//   2. prove the password: cache, else the slow verifier (dummy work for unknown names)
//   3. only then policy: disabled, service, must-change. Nobody learns who exists
//      or what they may do without the password.
import { randomBytes } from 'node:crypto';
import type { Config } from './config';
import { canonicalService } from './config';
import { NasauthError } from './errors';
import { auditLogger, type Logger } from './log';
import { AuditCollapser } from './audit-collapse';
import { passwordProblems } from './password-policy';
import { AuthCache } from './cache';
import { inOrder } from './order';
import { RateLimiter } from './ratelimit';
import { REASONS, type Reason } from './reasons';
import { Store, ntConfirmed, peekAccounts, type Account, type Group, type Role, type StoreData } from './store';
import { type NewSession, type Session, Sessions } from './sessions';
import { checkEmail, checkFullName, checkName, lookupName } from './validate';
import { BusyError, Verifier } from './verifier';
import { EMPTY_NT_HASH, ntHash } from './password';
import { SystemAccounts, type Db, type SystemEntry } from './system-accounts';
import { emptyContext, importKeys, planImport, type ImportChoices, type ImportContext, type ImportReport } from './import';
import { identify, parseLegacy, verifyLegacy } from './crypt';
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { Sources } from './import-parse';
import type { UpstreamHooks } from './upstream/hooks';

export type Channel = 'query' | 'pam' | 'ldap' | 'admin' | 'cli';

export interface Profile {
  name: string; uid: number; gid: number; role: Role; email: string | null; full_name: string;
  services: string[]; groups: string[]; password_changed_at: string | null; must_change_password: boolean;
  /** where the account comes from: this NAS, or the directory it follows (docs/directory.md) */
  source: 'local' | 'directory';
}
export interface Decision {
  reason: Reason;
  message: string;
  retry_after?: number; // seconds
  profile?: Profile; // only when the password was proven
  cached?: boolean;
}
export interface AuthRequest { user: string; password: Uint8Array; service: string; source: string; channel: Channel }

/**
 * Profiles are made once per account object and version, and frozen: every cache hit
 * answers one, and building it (arrays, the date as text) was a fifth of the hit's
 * JavaScript (docs/performance.md). Store.mutate replaces a changed account (a new
 * object, a new version), so a profile never outlives what it describes.
 */
const profiles = new WeakMap<Account, { version: number; profile: Profile }>();

export function profileOf(a: Account): Profile {
  const memo = profiles.get(a);
  if (memo && memo.version === a.version) return memo.profile;
  const profile: Profile = Object.freeze({
    name: a.name, uid: a.uid, gid: a.gid, role: a.role, email: a.email, full_name: a.full_name,
    services: Object.freeze([...a.services]) as string[], groups: Object.freeze([...a.groups]) as string[],
    password_changed_at: a.password_changed_at ? new Date(a.password_changed_at).toISOString() : null,
    must_change_password: a.must_change_password,
    source: a.source ?? 'local',
  });
  profiles.set(a, { version: a.version, profile });
  return profile;
}

export interface AccountInput {
  name: string; role?: Role; email?: string | null; full_name?: string; uid?: number; gid?: number;
  services?: string[]; groups?: string[]; enabled?: boolean; must_change_password?: boolean;
}

// ---- what the surfaces may read --------------------------------------------------
// A surface renders these; it never reads the store or decides policy itself
// (test/layers.test.ts checks that no surface touches the store).

/** What the admin sees of an account: everything but the verifiers themselves. */
export interface AccountView extends Profile {
  enabled: boolean; rid: number; verifier: string; nt_hash: boolean;
  locked_until: string | null; created_at: string; version: number;
  /** false while an imported NT hash has not been confirmed by a plaintext login (SMB may refuse) */
  nt_confirmed: boolean;
  /** the only password held is the empty one (an old system's), which nasauth never accepts */
  password_empty: boolean;
  /** a directory account's state (daemon/upstream/), for the CLI and the web page */
  directory?: { dn: string; seen_at: string; verified_at: string | null; nt_from: string | null; disabled: boolean; removed_at: string | null };
}

/** What smbd may see of one account, decided by the same policy as every other login. */
export interface SmbAccount {
  name: string; rid: number; version: number; uid: number; gid: number;
  full_name: string; email: string | null;
  /** the NT hash smbd proves a password with; null: every SMB login fails */
  nt: string | null;
  /** why SMB refuses the account after the right password (smbd's "disabled"), or null */
  closed: string | null;
  /** locked out now (nasauth's persisted lockout or the in-memory one) */
  locked: boolean;
  must_change: boolean;
  /** ms since epoch: when the password was set (creation when never) */
  password_last_set: number;
}
/** A group as smbd and NSS see it: a NAS group, or a service group nasauth renders. */
export interface RenderedGroup { name: string; gid: number; members: string[]; service: string | null }
/** Everything the LDAP view renders for smbd, as of one store generation and config. */
export interface SmbDirectory { generation: number; domain_sid: string; next_rid: number; accounts: SmbAccount[]; groups: RenderedGroup[] }
/** what prove() finds: the proven account, or the decision that refuses */
type Proven = { account: Account; cached: boolean } | Decision;
/** What the NSS files (extrausers passwd and group) hold. */
export interface NssView {
  accounts: Record<string, Pick<Account, 'name' | 'uid' | 'gid' | 'full_name'>>;
  /** the same accounts as a list in the store's order, when the caller has one */
  list?: readonly Pick<Account, 'name' | 'uid' | 'gid' | 'full_name'>[];
  groups: Record<string, Pick<Group, 'name' | 'gid' | 'members'>>;
}

/** The accounts in name order (UTF-16 code units, as Array#sort orders strings): the list itself when it is in that order already. */
export function byName(list: readonly Account[]): readonly Account[] {
  return inOrder(list, (x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

/** The one place an account's verifier kind is named for people (admin view, doctor, status). */
function verifierKind(v: Account['verifiers']): string {
  return v.scrypt ? 'scrypt' : v.legacy ? `legacy:${identify(v.legacy) ?? 'unknown'}` : v.nt ? 'nt-only' : 'none';
}

/** How often prove judges a password again when the account changed while it hashed. */
const PROVE_ROUNDS = 3;

/** Thrown inside a store change to abort it: the account is not the one the change was for. */
class Changed extends Error {}

/** the source text of the code that turns a store into NSS groups (Authority.nssInputs): read once */
let NSS_CODE: string[] | null = null;

export class Authority {
  readonly cache: AuthCache;
  readonly limiter: RateLimiter;
  readonly verifier: Verifier;
  /** set by main (daemon/loop-priority.ts): moves the hash pool's threads for a flood; their nice value now */
  floodPriority: (flooded: boolean) => number = () => 0;
  /** the web page's sessions (daemon/sessions.ts), bound to (rid, version) */
  readonly sessions: Sessions;
  /** the system's own users and groups (NSS outside nasauth): names and ids a NAS account must not take */
  readonly system: SystemAccounts;
  readonly counters = new Map<string, number>(); // "reason|service|cached" → count
  /** The last few refusals per existing account, for `nasauth doctor` (bounded). */
  readonly recent = new Map<string, Array<{ at: number; service: string; source: string; reason: Reason }>>();
  private cfg: Config;
  /** decision lines: safe fields only, so no redaction pass (daemon/log.ts) */
  readonly auditLog: Logger;
  /** the directory this NAS follows (daemon/upstream/), when upstream.enabled */
  upstream: UpstreamHooks | null = null;
  readonly collapser: AuditCollapser;

  // private: surfaces read through the methods below, never the store (test/layers.test.ts)
  constructor(cfg: Config, private readonly store: Store, readonly log: Logger, readonly now: () => number = Date.now) {
    this.cfg = cfg;
    this.auditLog = auditLogger(log);
    this.collapser = new AuditCollapser(this.auditLog, cfg.log.collapse_seconds * 1000, now);
    this.cache = new AuthCache(cfg.cache.ttl_seconds * 1000, cfg.cache.max_entries, cfg.cache.enabled, now);
    this.limiter = new RateLimiter(cfg.rate_limit, now);
    this.verifier = new Verifier(cfg.scrypt);
    this.verifier.pool.onFlood = (flooded, limit) => {
      const nice = this.floodPriority(flooded);
      if (flooded) this.log.warn({ event: 'hash_flood', hashes_at_once: limit, pool_nice: nice }, `most password checks fail and more wait: a flood of wrong passwords; slow checks run ${limit} at a time${nice ? ` at nice ${nice}` : ''} until it ends, so cache hits keep a core`);
      else this.log.info({ event: 'hash_flood_over', hashes_at_once: limit, pool_nice: nice }, `the flood of wrong passwords is over: slow checks run ${limit} at a time again${nice ? '' : ', at the ordinary priority'}`);
    };
    this.sessions = new Sessions(cfg.sessions, now);
    const prev = store.onChange;
    store.onChange = (d) => { prev(d); this.changed(); };
    this.system = new SystemAccounts('/etc', (e) => (e.db === 'passwd' ? this.store.account(e.name)?.uid : this.store.group(e.name)?.gid) === e.id);
  }

  get config(): Config { return this.cfg; }

  /** Apply a reloaded config: policy and limits change; the cache key and counters stay. */
  reload(cfg: Config) {
    this.cfg = cfg;
    this.limiter.reconfigure(cfg.rate_limit);
    this.sessions.reconfigure(cfg.sessions);
    this.collapser.setInterval(cfg.log.collapse_seconds);
    this.changed(); // policy decides group memberships: what was rendered may be out of date
  }

  private listeners: Array<() => void> = [];
  /** `fn` runs after every durable change and every config reload (surfaces re-render). */
  onChange(fn: () => void) { this.listeners.push(fn); }
  private changed() {
    this.smbDir = null;
    for (const fn of this.listeners) {
      try { fn(); } catch (e) { this.log.error({ err: (e as Error).message }, 'a listener failed after a change'); }
    }
  }

  private decide(reason: Reason, extra: Partial<Decision> = {}, message?: string): Decision {
    return { reason, message: message ?? REASONS[reason].message, ...extra };
  }

  /** reason → service → the two counter keys (cached 0, 1): made once, not per decision (bounded: reasons × services) */
  private counterKeys = new Map<Reason, Map<string, [string, string]>>();
  private count(reason: Reason, service: string, cached: boolean) {
    let byService = this.counterKeys.get(reason);
    if (!byService) this.counterKeys.set(reason, byService = new Map());
    let keys = byService.get(service);
    if (!keys) byService.set(service, keys = [`${reason}|${service}|0`, `${reason}|${service}|1`]);
    const k = keys[cached ? 1 : 0];
    this.counters.set(k, (this.counters.get(k) ?? 0) + 1);
  }

  private remember(req: { user: string; service: string; source: string }, d: Decision) {
    if (d.reason === 'ok') return;
    const name = lookupName(req.user);
    if (!name || !this.store.account(name)) return;
    const list = this.recent.get(name) ?? [];
    list.push({ at: this.now(), service: req.service.slice(0, 64), source: req.source.slice(0, 128), reason: d.reason });
    if (list.length > 5) list.shift();
    this.recent.delete(name);
    this.recent.set(name, list);
    if (this.recent.size > 2000) this.recent.delete(this.recent.keys().next().value as string);
  }

  private audit(req: { user: string; service: string; source: string; channel: Channel }, d: Decision, op = 'authenticate') {
    this.remember(req, d);
    // repeated refusals of one kind collapse into a summary line (daemon/audit-collapse.ts)
    this.collapser.record({ audit: op, user: req.user.slice(0, 64), service: req.service.slice(0, 64), source: req.source.slice(0, 128), channel: req.channel, reason: d.reason, cached: d.cached ?? false });
  }

  /** Policy for an account whose password is proven (or, for authorize, not needed). */
  private policy(a: Account, service: string | null): Reason {
    if (!a.enabled) return 'account_disabled';
    if (!service || !a.services.includes(service) || !this.cfg.services[service]?.roles.includes(a.role)) return 'service_denied';
    if (a.must_change_password) return 'must_change_password';
    return 'ok';
  }

  private lockedUntil(a: Account | undefined): number {
    return a?.lockout_until && a.lockout_until > this.now() ? a.lockout_until : 0;
  }

  /**
   * Prove a password for `name`. Returns the account when proven, or a deny decision.
   * Shared by authenticate, change password and profile.
   *
   * A proof belongs to one account: its identity (rid, never reused) and the version
   * whose verifiers matched. The store may change while the slow hash runs, so after it
   * the name must still belong to the same identity: a deleted and re-created "alice" is
   * another account, and the old password proves nothing for her. When the same account
   * changed meanwhile (another login's lazy upgrade, an admin's edit), the password is
   * judged again against the account as it is now (usually a cache hit), at most
   * PROVE_ROUNDS times.
   */
  private prove(req: AuthRequest): Proven | Promise<Proven> {
    const name = lookupName(req.user) ?? `\0invalid:${req.user.slice(0, 40)}`;
    // An empty password is never a login, whatever a verifier would say (an imported NT
    // hash of "" would say yes): refused before any verifier runs, for every name alike.
    // It is not counted as a failure: it guesses nothing, and clients probe with it.
    if (req.password.length === 0) return this.decide('bad_credentials');
    const gate = this.limiter.gate(name, req.source);
    const acct = name.startsWith('\0') ? undefined : this.store.account(name);
    const persisted = this.lockedUntil(acct);
    if (persisted) return this.decide('locked_out', { retry_after: Math.ceil((persisted - this.now()) / 1000) });
    if (gate.kind !== 'open') return this.decide(gate.kind, { retry_after: Math.ceil(gate.retryAfterMs / 1000) });
    // directory accounts (and names unknown here) are proven by daemon/upstream/
    if (this.upstream?.owns(name, acct)) return this.proveRest(req, name, acct, true);
    // a cache hit is answered without a promise: the PAM socket writes its reply in the
    // same turn as it read the request (docs/performance.md, figure 3)
    if (acct && this.cache.check(acct.rid, acct.name, req.password, acct.version)) return { account: acct, cached: true };
    return this.proveRest(req, name, acct, false);
  }

  /** prove() after its synchronous part: the directory, the verifiers, the lockout. */
  private async proveRest(req: AuthRequest, name: string, first: Account | undefined, upstream: boolean): Promise<Proven> {
    let acct = first;
    const up = upstream ? await this.upstream!.prove(name, req.password, acct) : null;
    if (up?.kind === 'decision') return up.decision;
    if (up?.kind === 'ok') { this.limiter.success(name); return { account: up.account, cached: up.cached }; }
    if (up) acct = up.account;
    else for (let round = 0; ; round++) {
      if (round === PROVE_ROUNDS) return this.decide('busy', { retry_after: 1 }, 'the account changed while the password was checked; try again');
      // round 0: prove() has just found no cache entry (the account may have changed since)
      if (round > 0 && acct && this.cache.check(acct.rid, acct.name, req.password, acct.version)) return { account: acct, cached: true };
      let result: 'ok' | 'bad' | 'none';
      const proof: { by?: 'scrypt' | 'legacy' | 'nt' } = {};
      try {
        result = await this.verifier.check(acct?.verifiers, req.password, proof);
      } catch (e) {
        if (e instanceof BusyError) return this.decide('busy', { retry_after: 1 });
        throw e;
      }
      if (result !== 'ok' || !acct) break;
      const now = this.sameAccount(acct);
      if (!now) break; // deleted, or the name is another account now: not proven
      if (now.version !== acct.version) { acct = now; continue; }
      const upgraded = await this.upgradeIfNeeded(now, req.password, proof.by);
      if (!upgraded) { // changed while the new verifier was made: judge again
        const again = this.sameAccount(now);
        if (!again) break;
        acct = again;
        continue;
      }
      this.limiter.success(name);
      this.cache.put(upgraded.rid, upgraded.name, req.password, upgraded.version);
      return { account: upgraded, cached: false };
    }
    const lockStarts = this.limiter.fail(name, req.source);
    if (lockStarts !== null) {
      this.log.warn({ audit: 'lockout', user: req.user.slice(0, 64), source: req.source.slice(0, 128), until: new Date(lockStarts).toISOString() });
      if (acct) {
        await this.store.mutate((d) => {
          const a = d.accounts[name];
          if (a) { a.lockout_until = lockStarts; a.version += 1; }
        }).catch((e) => this.log.error({ err: (e as Error).message }, 'could not persist lockout'));
      }
      return this.decide('locked_out', { retry_after: Math.ceil((lockStarts - this.now()) / 1000) });
    }
    return this.decide('bad_credentials');
  }

  /** The account that has `a`'s name now, if it is still the same identity (rid). */
  private sameAccount(a: Account): Account | undefined {
    const now = this.store.account(a.name);
    return now && now.rid === a.rid ? now : undefined;
  }

  /**
   * Lazy upgrade: a legacy or outdated verifier is replaced after a proven login. The
   * plaintext also settles an imported NT hash: kept and marked confirmed when it matches,
   * replaced (and logged) when it does not (an old Samba made some from the wrong bytes);
   * when the NT hash proved the password, a shadow hash that disagreed is replaced too.
   * Returns the account as upgraded (or as it was, when nothing needed doing or the
   * upgrade failed), or null when the account changed while the new verifier was made
   * (then nothing is written: it may be another account with the same name by now).
   */
  private async upgradeIfNeeded(a: Account, pw: Uint8Array, by?: 'scrypt' | 'legacy' | 'nt'): Promise<Account | null> {
    const outdated = this.verifier.outdated(a.verifiers);
    if (!outdated && ntConfirmed(a)) return a;
    const fresh = ntHash(pw).toString('hex').toUpperCase();
    const ntWrong = !!a.verifiers.nt && a.verifiers.nt !== fresh;
    const legacyWrong = by === 'nt' && !!a.verifiers.legacy;
    let v: { scrypt: string; nt: string };
    try {
      v = outdated ? await this.verifier.make(pw) : { scrypt: a.verifiers.scrypt!, nt: fresh };
    } catch (e) {
      this.log.error({ user: a.name, err: (e as Error).message }, 'verifier upgrade failed; login allowed with the old verifier');
      return a;
    }
    try {
      const upgraded = await this.store.mutate((d) => {
        const x = d.accounts[a.name];
        if (!x || x.rid !== a.rid || x.version !== a.version) throw new Changed();
        x.verifiers = { scrypt: v.scrypt, nt: v.nt };
        x.nt_confirmed = true;
        x.version += 1;
        return x;
      });
      if (outdated) this.log.info({ audit: 'verifier_upgrade', user: a.name });
      if (ntWrong) this.log.warn({ audit: 'nt_hash_replaced', user: a.name, why: `the ${by === 'legacy' ? 'shadow hash' : 'password hash'} proved the password and the imported NT hash did not match it (an old Samba may have made it from the wrong bytes); SMB now takes the proven password` }, `${a.name}: stale NT hash replaced`);
      else if (a.verifiers.nt) this.log.info({ audit: 'nt_hash_confirmed', user: a.name }, `${a.name}: imported NT hash confirmed by a plaintext login`);
      if (legacyWrong) this.log.warn({ audit: 'legacy_hash_replaced', user: a.name, why: 'the NT hash proved the password and the imported shadow hash did not match it' }, `${a.name}: stale shadow hash replaced`);
      return upgraded;
    } catch (e) {
      if (e instanceof Changed) return null;
      this.log.error({ user: a.name, err: (e as Error).message }, 'verifier upgrade failed; login allowed with the old verifier');
      return a;
    }
  }

  /**
   * A refusal that did not prove the password answers only after failure_delay_ms (as
   * pam_unix's FAIL_DELAY does): a guessing client waits on each try, and a flood of
   * closed-loop guesses cannot crowd out the event loop that serves cache hits. The
   * wait holds no more than the connection it answers on (sockets cap connections).
   */
  private delayFailure(d: Decision): Decision | Promise<Decision> {
    const ms = this.cfg.rate_limit.failure_delay_ms;
    if (ms > 0 && (d.reason === 'bad_credentials' || d.reason === 'busy' || d.reason === 'rate_limited' || d.reason === 'locked_out')) {
      return new Promise((r) => setTimeout(() => r(d), ms));
    }
    return d; // no promise of its own for an answer that is not delayed (every cache hit)
  }

  async authenticate(req: AuthRequest, op: 'authenticate' | 'profile' = 'authenticate'): Promise<Decision> {
    return this.authenticateNow(req, op);
  }

  /**
   * authenticate(), answered at once when nothing has to wait (a cache hit; a refusal
   * that is not delayed), else a promise: the same proof, policy, count, audit line and
   * failure delay either way. The PAM socket uses it to write a cache hit's reply in the
   * turn that read the request.
   */
  authenticateNow(req: AuthRequest, op: 'authenticate' | 'profile' = 'authenticate'): Decision | Promise<Decision> {
    const service = canonicalService(this.cfg, req.service);
    const r = this.prove(req);
    return r instanceof Promise ? r.then((x) => this.judged(req, x, service, op)) : this.judged(req, r, service, op);
  }

  private judged(req: AuthRequest, r: Proven, service: string | null, op: 'authenticate' | 'profile'): Decision | Promise<Decision> {
    let d: Decision;
    if ('reason' in r) {
      d = r;
    } else {
      const reason = this.policy(r.account, service);
      d = this.decide(reason, { cached: r.cached, profile: profileOf(r.account) });
    }
    if (op === 'authenticate') this.count(d.reason, service ?? 'unknown', d.cached ?? false);
    this.audit(req, d, op);
    return this.delayFailure(d);
  }

  /** Account/service check without a password (PAM account phase, trusted callers). */
  authorize(req: { user: string; service: string; source: string; channel: Channel }): Decision {
    const name = lookupName(req.user);
    const a = name ? this.store.account(name) : undefined;
    let d: Decision;
    if (!a) d = this.decide('unknown_user');
    else {
      const gate = this.limiter.gate(a.name, '\0none');
      const lockedMs = Math.max(this.lockedUntil(a) - this.now(), gate.kind === 'locked_out' ? gate.retryAfterMs : 0);
      if (lockedMs > 0) d = this.decide('locked_out', { retry_after: Math.ceil(lockedMs / 1000) });
      else d = this.decide(this.policy(a, canonicalService(this.cfg, req.service)));
    }
    this.audit(req, d, 'authorize');
    return d;
  }

  /**
   * The user's own profile, after proving the password, under the same policy as
   * authenticate for the service (the dashboard's): a disabled, service-denied or
   * must-change account is refused with its real reason (and its profile, as there).
   */
  async profile(req: AuthRequest): Promise<Decision> {
    return this.authenticate(req, 'profile');
  }

  /**
   * Change one's own password: the old one must be proven. must_change_password does not
   * block this. The write is tied to the proof: the same identity and the same version
   * (nothing changed while the new verifier was made). When the account changed, the
   * whole change is tried once more from the proof, which then answers for the account
   * as it is (a re-created "alice" does not take the old password).
   */
  async changePassword(req: AuthRequest & { newPassword: Uint8Array }): Promise<Decision> {
    const service = canonicalService(this.cfg, req.service);
    let d: Decision | undefined;
    for (let attempt = 0; attempt < 2 && !d; attempt++) {
      const r = await this.prove(req);
      if ('reason' in r) { d = r; break; }
      const reason = this.policy(r.account, service);
      if (reason !== 'ok' && reason !== 'must_change_password') { d = this.decide(reason); break; }
      const w = await this.writePassword(r.account, req.newPassword, req.channel, r.account.name, { sameVersion: true, oldPassword: req.password });
      if (w !== 'changed') d = w;
    }
    d ??= this.decide('busy', { retry_after: 1 }, 'the account changed while the password was being changed; nothing was changed; try again');
    this.audit(req, d, 'change_password');
    return this.delayFailure(d);
  }

  /**
   * Set a password on behalf of a trusted caller (root via PAM chauthtok, Samba's LDAP
   * password modify, the admin). Policy-checked like every other path.
   *
   * The write is tied to the account the name meant when the request arrived (its rid):
   * if it was deleted, or deleted and re-created, while the new verifier was made,
   * nothing is written. `allow` judges the account as it is when the write lands (a
   * refusal decision, or null to go ahead).
   */
  async setPasswordChecked(name: string, pw: Uint8Array, channel: Channel, actor: string, opts: { mustChange?: boolean; allow?: (a: Account) => Decision | null; oldPassword?: Uint8Array } = {}): Promise<Decision> {
    const a = this.store.account(name);
    if (!a) return this.decide('unknown_user');
    const w = await this.writePassword(a, pw, channel, actor, opts);
    return w === 'changed' ? this.decide('unknown_user', {}, `${name} was deleted or replaced while the new password was prepared; nothing was changed`) : w;
  }

  /**
   * Root sets a password without the old one (PAM chauthtok as root, on the privileged
   * socket): only for an account that exists and may use the service. A lockout or a
   * pending must-change does not block it: a reset by root is how a locked user gets back in.
   */
  async rootSetPassword(req: { user: string; service: string; newPassword: Uint8Array; source: string; channel: Channel }): Promise<Decision> {
    const d = this.authorize(req); // answers and audits the ask
    const name = lookupName(req.user);
    if (!name || (d.reason !== 'ok' && d.reason !== 'must_change_password' && d.reason !== 'locked_out')) return d;
    const service = canonicalService(this.cfg, req.service);
    return this.setPasswordChecked(name, req.newPassword, req.channel, `root via PAM ${req.service.slice(0, 64)}`, {
      allow: (x) => { const r = this.policy(x, service); return r === 'ok' || r === 'must_change_password' ? null : this.decide(r); },
    });
  }

  /**
   * Replace every verifier of `a` in one durable change. 'changed' when `a` is not the
   * account under its name any more (another rid, or none), or, with sameVersion, when
   * it changed at all: then nothing was written.
   */
  private async writePassword(a: Account, pw: Uint8Array, channel: Channel, actor: string,
    opts: { mustChange?: boolean; allow?: (a: Account) => Decision | null; sameVersion?: boolean; oldPassword?: Uint8Array }): Promise<Decision | 'changed'> {
    // a directory account's password changes in the directory first (daemon/upstream/)
    if (a.source === 'directory' && this.upstream) return this.upstream.setPassword(a, pw, channel, actor, opts.oldPassword ?? null);
    const problems = passwordProblems(pw, a.name, this.cfg.password_policy);
    if (problems.length) return this.decide('password_rejected', {}, `the new password needs ${problems.join('; ')}`);
    let v;
    try { v = await this.verifier.make(pw); } catch (e) {
      if (e instanceof BusyError) return this.decide('busy', { retry_after: 1 });
      throw e;
    }
    let refused: Decision | null = null;
    try {
      await this.store.mutate((d) => {
        const x = d.accounts[a.name];
        if (!x || x.rid !== a.rid || (opts.sameVersion && x.version !== a.version)) throw new Changed();
        refused = opts.allow?.(x) ?? null;
        if (refused) throw new Changed();
        x.verifiers = { scrypt: v.scrypt, nt: v.nt };
        if (x.nt_confirmed !== undefined) x.nt_confirmed = true;
        x.password_changed_at = this.now();
        x.must_change_password = opts.mustChange ?? false;
        x.lockout_until = null;
        x.version += 1;
      });
    } catch (e) {
      if (e instanceof Changed) return refused ?? 'changed';
      if (e instanceof NasauthError && e.code === 'NASAUTH_STORE_IO') {
        this.log.error({ user: a.name, err: e.message }, 'password change not recorded: the store cannot be written');
        return this.decide('unavailable', {}, 'the password could not be saved (the NAS storage is full or failing); nothing was changed');
      }
      throw e;
    }
    this.cache.forget(a.rid);
    this.limiter.unlock(a.name);
    this.log.info({ audit: 'password_set', user: a.name, by: actor, channel });
    return this.decide('ok');
  }

  // ---- what the surfaces may read ------------------------------------------------

  /** Whether the account may use the service (enabled, listed, allowed for its role). */
  private mayUse(a: Account, service: string): boolean {
    return a.enabled && a.services.includes(service) && (this.cfg.services[service]?.roles.includes(a.role) ?? false);
  }

  /**
   * Why SMB (smbd, Time Machine over SMB) refuses the account after the right password,
   * or null. The same policy as every other login: disabled, or neither smb nor
   * timemachine allowed. Which share an SMB account may use is the service groups' job.
   */
  private smbClosed(a: Account): string | null {
    if (!a.enabled) return 'the account is disabled';
    if (!this.mayUse(a, 'smb') && !this.mayUse(a, 'timemachine')) return 'the account may not use smb or timemachine';
    return null;
  }

  private isLocked(a: Account): boolean {
    return this.lockedUntil(a) > 0 || this.limiter.gate(a.name, '\0smb-view').kind === 'locked_out';
  }

  private smbAccountOf(a: Account): SmbAccount {
    return {
      name: a.name, rid: a.rid, version: a.version, uid: a.uid, gid: a.gid, full_name: a.full_name, email: a.email,
      // served even to a refused account: smbd proves the password first and only then
      // says why (disabled, locked, must change), like every nasauth decision
      nt: a.verifiers.nt ?? null,
      closed: this.smbClosed(a),
      locked: this.isLocked(a),
      must_change: a.must_change_password,
      password_last_set: a.password_changed_at ?? a.created_at,
    };
  }

  /** The groups nasauth renders per service: members are the accounts that may use it. */
  serviceGroups(): RenderedGroup[] {
    // One pass over the accounts for every group, in name order so that each group's
    // members come out sorted (one sort of the accounts, skipped when the store's order is
    // name order already, instead of one sort per group): 15 ms at 10k accounts when names
    // were not made in order, 7-8 ms now (docs/performance.md).
    const entries = Object.entries(this.cfg.service_groups);
    const members: string[][] = entries.map(() => []);
    for (const a of byName(this.store.accountList())) {
      if (!a.enabled) continue;
      for (let i = 0; i < entries.length; i++) if (this.mayUse(a, entries[i][0])) members[i].push(a.name);
    }
    return entries.map(([service, g], i) => ({ name: g.name, gid: g.gid, service, members: members[i] }));
  }

  /**
   * The NAS groups that take a service group's name or gid (config service_groups): left
   * out of what is rendered, and logged each time it is rendered and at every start.
   */
  clashingGroups(): Set<Group> {
    const names = new Set<string>();
    const gids = new Set<number>();
    for (const g of Object.values(this.cfg.service_groups)) { names.add(g.name); gids.add(g.gid); }
    const out = new Set<Group>();
    for (const g of this.store.groups()) {
      if (!names.has(g.name) && !gids.has(g.gid)) continue;
      this.log.error({ group: g.name, gid: g.gid }, `NAS group ${g.name} (gid ${g.gid}) clashes with a service group (config service_groups); it is not rendered until renamed or given another gid`);
      out.add(g);
    }
    return out;
  }

  /** NAS groups and service groups together; a NAS group that takes a service group's name or gid is left out (and logged). */
  private renderedGroups(): RenderedGroup[] {
    const clashing = this.clashingGroups();
    const nas: RenderedGroup[] = [];
    for (const g of this.store.groups()) if (!clashing.has(g)) nas.push({ name: g.name, gid: g.gid, members: [...g.members], service: null });
    return [...nas, ...this.serviceGroups()];
  }

  private smbDir: SmbDirectory | null = null;
  /** Everything the LDAP view renders for smbd; rebuilt after each change or reload. */
  smbDirectory(): SmbDirectory {
    if (this.smbDir && this.smbDir.generation === this.store.generation) return this.smbDir;
    const data = this.store.snapshot;
    this.smbDir = {
      generation: data.generation, domain_sid: data.domain_sid, next_rid: data.next_rid,
      accounts: Object.values(data.accounts).map((a) => this.smbAccountOf(a)),
      groups: this.renderedGroups(),
    };
    return this.smbDir;
  }

  /** One account as smbd may see it now (lockout is live), or undefined. */
  smbAccount(name: string): SmbAccount | undefined {
    const a = this.store.account(name);
    return a ? this.smbAccountOf(a) : undefined;
  }

  /**
   * Everything the NSS files are rendered from, as one string: the store's content (its
   * hash), the config that decides service groups and their members, and the code that
   * turns them into groups (its source text, so that a build that renders differently
   * never takes the files of another for its own). NssFiles adds the rest (daemon/nss.ts).
   */
  nssInputs(): string {
    NSS_CODE ??= [this.nssView, this.renderedGroups, this.clashingGroups, this.serviceGroups, this.mayUse, byName, inOrder].map(String);
    return JSON.stringify([this.store.contentSha, this.cfg.service_groups, this.cfg.services, NSS_CODE]);
  }

  /** What the NSS files hold: accounts, NAS groups and service groups. */
  nssView(): NssView {
    const groups: NssView['groups'] = Object.create(null);
    for (const g of this.renderedGroups()) groups[g.name] = { name: g.name, gid: g.gid, members: g.members };
    return { accounts: this.store.snapshot.accounts, list: this.store.accountList(), groups };
  }

  private accountView(a: Account): AccountView {
    return {
      ...profileOf(a),
      enabled: a.enabled,
      rid: a.rid,
      verifier: verifierKind(a.verifiers),
      nt_hash: !!a.verifiers.nt,
      locked_until: a.lockout_until && a.lockout_until > this.now() ? new Date(a.lockout_until).toISOString() : null,
      created_at: new Date(a.created_at).toISOString(),
      version: a.version,
      nt_confirmed: ntConfirmed(a),
      password_empty: a.verifiers.nt === EMPTY_NT_HASH,
      ...(a.upstream ? {
        directory: {
          dn: a.upstream.dn, seen_at: new Date(a.upstream.seen_at).toISOString(),
          verified_at: a.upstream.verified_at ? new Date(a.upstream.verified_at).toISOString() : null,
          nt_from: a.verifiers.nt ? a.upstream.nt_from : null, disabled: a.upstream.disabled,
          removed_at: a.upstream.removed_at ? new Date(a.upstream.removed_at).toISOString() : null,
        },
      } : {}),
    };
  }

  /** When the account with this rid last had its password set (null: never); undefined: no such account. */
  passwordSetAt(rid: number): number | null | undefined {
    return this.store.accounts().find((x) => x.rid === rid)?.password_changed_at;
  }

  /** The admin's view of one account, or undefined. */
  userView(name: string): AccountView | undefined {
    const a = this.store.account(name);
    return a ? this.accountView(a) : undefined;
  }
  userViews(): AccountView[] { return this.store.accounts().map((a) => this.accountView(a)); }
  groups(): Group[] { return this.store.groups(); }
  group(name: string): Group | undefined { return this.store.group(name); }
  /** Where the store is and how big: for status, health and metrics. */
  storeInfo() {
    return { file: this.store.file, generation: this.store.generation, accounts: this.store.accountCount, groups: this.store.groups().length, domain_sid: this.store.snapshot.domain_sid };
  }
  /** Account names whose persisted or in-memory lockout is running now. */
  lockedAccounts(): Array<{ name: string; until: string }> {
    const now = this.now();
    const out = new Map<string, string>();
    for (const a of this.store.accounts()) if (a.lockout_until && a.lockout_until > now) out.set(a.name, new Date(a.lockout_until).toISOString());
    for (const l of this.limiter.lockedNames()) if (this.store.account(l.name) && !out.has(l.name)) out.set(l.name, new Date(l.until).toISOString());
    return [...out].map(([name, until]) => ({ name, until }));
  }

  // ---- the web page's sessions (daemon/sessions.ts, docs/protocol.md "Sessions") -----

  /** For every configured service: may the account use it (listed and allowed for its role), enabled or not. */
  serviceAccess(name: string): Record<string, boolean> | undefined {
    const a = this.store.account(name);
    if (!a) return undefined;
    return Object.fromEntries(Object.keys(this.cfg.services).map((s) => [s, a.services.includes(s) && (this.cfg.services[s]?.roles.includes(a.role) ?? false)]));
  }

  /**
   * Sign in to the web page: authenticate for the dashboard (same proof, rate limits,
   * delay and audit); on ok, a session bound to the proven account's rid and version.
   */
  async signIn(req: AuthRequest): Promise<{ decision: Decision; session?: NewSession }> {
    const r = await this.prove(req);
    let d: Decision;
    let session: NewSession | undefined;
    if ('reason' in r) d = r;
    else {
      d = this.decide(this.policy(r.account, 'dashboard'), { cached: r.cached, profile: profileOf(r.account) });
      if (d.reason === 'ok') session = this.sessions.create(r.account, req.source);
    }
    this.count(d.reason, 'dashboard', d.cached ?? false);
    this.audit({ ...req, service: 'dashboard' }, d);
    if (session && d.profile) this.auditLog.info({ audit: 'session_start', user: d.profile.name, source: req.source.slice(0, 128), channel: req.channel });
    return { decision: await this.delayFailure(d), session };
  }

  /**
   * The session behind a token, checked against the account as it is now: the same
   * identity (rid), enabled, allowed the dashboard, no pending password change, the
   * version it was bound to, and for admin routes the admin role. A refused session ends.
   */
  sessionCheck(token: string, source: string, opts: { admin?: boolean } = {}): { session: Session; view: AccountView; checkedVersion: number } | { status: 401 | 403; reason: Reason; message: string } {
    const s = this.sessions.find(token);
    if (!s) return { status: 401, reason: 'bad_credentials', message: 'you are signed out (the session ended, timed out, or the NAS restarted); sign in again' };
    const a = this.store.account(s.name);
    const ended = (reason: Reason, message: string) => {
      this.sessions.end(s);
      this.auditLog.info({ audit: 'session_end', user: s.name, source: source.slice(0, 128), channel: 'query', why: reason });
      return { status: 401 as const, reason, message };
    };
    if (!a || a.rid !== s.rid) return ended('unknown_user', 'this account no longer exists');
    const p = this.policy(a, 'dashboard');
    if (p !== 'ok') return ended(p, p === 'account_disabled' ? 'this account has been disabled' : p === 'service_denied' ? 'this account may no longer use this page' : 'the password must be changed; sign in again');
    if (a.version !== s.version) return ended('bad_credentials', 'the account was changed (a new password, for example): sign in again');
    if (opts.admin && a.role !== 'admin') return { status: 403, reason: 'service_denied', message: 'only an administrator may do this' };
    return { session: s, view: this.accountView(a), checkedVersion: s.version };
  }

  /** A session's own e-mail and name: the session is re-bound when that edit was the only change. */
  async setOwnProfile(s: Session, checkedVersion: number, patch: { email?: string | null; full_name?: string }): Promise<Profile> {
    const x = await this.setUser(s.name, patch, `web:${s.name}`, { rid: s.rid, version: checkedVersion });
    this.sessions.rebind(s, checkedVersion, x);
    return profileOf(x);
  }

  /** A session's own password (the old one proven again): this session is re-bound, the account's others end. */
  async changeOwnPassword(s: Session, checkedVersion: number, oldPw: Uint8Array, newPw: Uint8Array, source: string): Promise<Decision> {
    const d = await this.changePassword({ user: s.name, password: oldPw, newPassword: newPw, service: 'dashboard', source, channel: 'query' });
    if (d.reason === 'ok') {
      this.sessions.rebind(s, checkedVersion, this.store.account(s.name));
      this.sessions.endAccount(s.rid, s);
    }
    return d;
  }

  // ---- what smbd tells nasauth (through the LDAP view) ------------------------------

  /** smbd set a new password (Password Modify, plaintext): only for an account SMB is open to. */
  async smbSetPassword(name: string, pw: Uint8Array): Promise<Decision> {
    const closed = (x: Account): Decision | null => {
      const why = this.smbClosed(x);
      return why ? this.decide(x.enabled ? 'service_denied' : 'account_disabled', {}, `${x.name}: ${why}`) : null;
    };
    const a = this.store.account(name);
    if (!a) return this.decide('unknown_user');
    return closed(a) ?? this.setPasswordChecked(name, pw, 'ldap', 'smbd (LDAP password modify)', { allow: closed });
  }

  /** smbd counted a right password after failures: the name's failures end here too. */
  smbFailuresCleared(name: string) { this.limiter.success(name); }

  /** smbd's own count reached the lockout threshold: make it nasauth's lockout, for that account only. */
  async smbLockout(name: string, rid: number, failures: number): Promise<void> {
    const until = this.now() + this.cfg.rate_limit.lockout_seconds * 1000;
    try {
      await this.store.mutate((d) => {
        const x = d.accounts[name];
        if (!x || x.rid !== rid) throw new Changed();
        x.lockout_until = until;
        x.version += 1;
      });
      this.log.warn({ audit: 'lockout', user: name, source: 'smbd', failures, until: new Date(until).toISOString() }, `SMB locked ${name} out after ${failures} wrong passwords`);
    } catch (e) {
      if (e instanceof Changed) return;
      this.log.error({ user: name, err: (e as Error).message }, 'could not persist the lockout smbd reported');
    }
  }

  // ---- administration (admin socket / CLI) -------------------------------------

  private checkServices(list: unknown): string[] {
    if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) throw new NasauthError('NASAUTH_INVALID_FIELD', 'services must be a list of service names', 'services');
    for (const s of list as string[]) if (!this.cfg.services[s]) throw new NasauthError('NASAUTH_INVALID_FIELD', `unknown service "${s}" (known: ${Object.keys(this.cfg.services).join(', ')})`, 'services');
    return [...new Set(list as string[])];
  }

  /** NAS accounts live in their own uid range so they never collide with system accounts. */
  private checkUid(uid: unknown) {
    const { uid_min: lo, uid_max: hi } = this.cfg.accounts;
    if (typeof uid !== 'number' || !Number.isInteger(uid) || uid < lo || uid > hi) {
      throw new NasauthError('NASAUTH_INVALID_FIELD', `uid must be an integer from ${lo} to ${hi} (accounts.uid_min/uid_max; lower uids belong to the system)`, 'uid');
    }
  }

  /** Refuse a name or id the system already resolves outside nasauth (NSS). */
  private async checkSystem(db: Db, name: string | null, id: number | null, known?: SystemEntry | null): Promise<void> {
    const why = known === undefined ? await this.system.clash(db, name, id)
      : known ? `the system already has a ${db === 'passwd' ? 'user' : 'group'} "${name}" (${db === 'passwd' ? 'uid' : 'gid'} ${known.id}, from ${known.source === 'files' ? `/etc/${db}` : `NSS source ${known.source}`}), and it would win over a NAS ${db === 'passwd' ? 'user' : 'group'} of that name` : null;
    if (!why) return;
    const idClash = name === null || !why.startsWith('the system already has');
    const what = db === 'passwd' ? 'account' : 'group';
    throw new NasauthError(idClash ? 'NASAUTH_UID_CONFLICT' : 'NASAUTH_EXISTS',
      `${why}: choose another ${idClash ? (db === 'passwd' ? 'uid' : 'gid') : `${what} name`}`, idClash ? (db === 'passwd' ? 'uid' : 'gid') : 'name');
  }

  /**
   * The lowest id from uid_min that neither the store (`used`) nor the system has. With
   * `name`, that name is checked in the same NSS round trip (one getent per source).
   */
  async freeSystemId(db: Db, used: Set<number>, name?: string): Promise<number> {
    const { uid_min: lo, uid_max: hi } = this.cfg.accounts;
    let u = lo;
    let first = true;
    while (u <= hi) {
      const batch: number[] = [];
      for (; u <= hi && batch.length < 32; u++) if (!used.has(u)) batch.push(u);
      const found = await this.system.lookupMany(db, [...(first && name !== undefined ? [name] : []), ...batch]);
      if (first && name !== undefined) await this.checkSystem(db, name, null, found.get(name) ?? null);
      first = false;
      const free = batch.find((x) => !found.has(x));
      if (free !== undefined) return free;
    }
    throw new NasauthError('NASAUTH_UID_CONFLICT', `no free ${db === 'passwd' ? 'uid' : 'gid'} left in ${this.cfg.accounts.uid_min}-${this.cfg.accounts.uid_max}`);
  }

  async addUser(input: AccountInput, password: Uint8Array | null, actor: string): Promise<Account> {
    const name = checkName(input.name);
    const role: Role = input.role ?? 'user';
    if (role !== 'admin' && role !== 'user') throw new NasauthError('NASAUTH_INVALID_FIELD', 'role must be admin or user', 'role');
    const email = checkEmail(input.email ?? null);
    const full = checkFullName(input.full_name ?? '');
    const services = input.services ? this.checkServices(input.services) : [...this.cfg.roles[role].default_services];
    if (password) {
      const problems = passwordProblems(password, name, this.cfg.password_policy);
      if (problems.length) throw new NasauthError('NASAUTH_PASSWORD_POLICY', `the password needs ${problems.join('; ')}`, 'password');
    }
    if (this.store.account(name)) throw new NasauthError('NASAUTH_EXISTS', `an account named "${name}" already exists`, 'name');
    if (input.uid !== undefined) this.checkUid(input.uid);
    // the NSS round trip (a getent per source) runs while the password is hashed
    const pick = input.uid !== undefined
      ? this.checkSystem('passwd', name, input.uid).then(() => input.uid as number)
      : this.freeSystemId('passwd', new Set(this.store.accounts().map((a) => a.uid)), name);
    const [picked, v] = await Promise.all([pick, password ? this.verifier.make(password) : Promise.resolve({})]);
    const acct = await this.store.mutate((d) => {
      if (d.accounts[name]) throw new NasauthError('NASAUTH_EXISTS', `an account named "${name}" already exists`, 'name');
      const uid = picked;
      this.checkUid(uid);
      if (Object.values(peekAccounts(d)).some((a) => a.uid === uid)) throw new NasauthError('NASAUTH_UID_CONFLICT', `uid ${uid} is already used by another account`, 'uid');
      const groups = input.groups ?? [];
      for (const g of groups) if (!d.groups[g]) throw new NasauthError('NASAUTH_NOT_FOUND', `no group named "${g}"`, 'groups');
      const a: Account = {
        name, uid, gid: input.gid ?? this.cfg.accounts.default_gid, rid: d.next_rid++, role, email, full_name: full,
        enabled: input.enabled ?? true, services, groups: [...new Set(groups)], verifiers: v,
        must_change_password: input.must_change_password ?? false,
        password_changed_at: password ? this.now() : null, lockout_until: null, created_at: this.now(), version: 1,
      };
      d.accounts[name] = a;
      for (const g of a.groups) d.groups[g].members = [...new Set([...d.groups[g].members, name])];
      return a;
    });
    this.log.info({ audit: 'user_add', user: name, role, by: actor });
    return acct;
  }

  /**
   * Never the last admin: a change that leaves no enabled administrator is refused, on
   * every path (CLI, web), so the NAS always has someone who can manage it.
   */
  private keepAnAdmin(d: StoreData, before: Account, name: string) {
    if (before.role !== 'admin' || !before.enabled) return;
    if (Object.values(peekAccounts(d)).some((a) => a.role === 'admin' && a.enabled)) return;
    throw new NasauthError('NASAUTH_CONFLICT', `"${name}" is the last enabled administrator: make another account an administrator first`, 'role');
  }

  /** `opts.rid`: delete only that account (not a namesake created meanwhile). */
  async delUser(name: string, actor: string, opts: { rid?: number } = {}): Promise<void> {
    this.upstream?.guard('user', name, 'delete');
    const gone = await this.store.mutate((d) => {
      const a = d.accounts[name];
      if (!a) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${name}"`, 'name');
      if (opts.rid !== undefined && a.rid !== opts.rid) throw new NasauthError('NASAUTH_CONFLICT', `${name} was deleted and re-created meanwhile; nothing was changed, try again`, 'name');
      delete d.accounts[name];
      this.keepAnAdmin(d, a, name);
      for (const g of Object.values(d.groups)) if (g.members.includes(name)) { g.members = g.members.filter((m) => m !== name); g.version += 1; }
      return a;
    });
    this.cache.forget(gone.rid);
    this.sessions.endAccount(gone.rid);
    this.limiter.unlock(name);
    this.recent.delete(name);
    this.log.info({ audit: 'user_del', user: name, by: actor });
  }

  /**
   * `opts.rid`: the change was worked out from that account; refuse it if the name is
   * another account now. `opts.version`: only if nothing changed the account since (a
   * web session's own edit, so that the session can be re-bound exactly).
   */
  async setUser(name: string, patch: Partial<AccountInput>, actor: string, opts: { rid?: number; version?: number } = {}): Promise<Account> {
    const allowed = ['email', 'full_name', 'role', 'enabled', 'must_change_password', 'services', 'uid', 'gid', 'groups'];
    for (const k of Object.keys(patch)) if (!allowed.includes(k)) throw new NasauthError('NASAUTH_INVALID_FIELD', `"${k}" cannot be set (settable: ${allowed.join(', ')})`, k);
    this.upstream?.guard('user', name, 'change');
    const upd: Partial<Account> = {};
    if ('email' in patch) upd.email = checkEmail(patch.email);
    if ('full_name' in patch) upd.full_name = checkFullName(patch.full_name);
    if ('role' in patch) {
      if (patch.role !== 'admin' && patch.role !== 'user') throw new NasauthError('NASAUTH_INVALID_FIELD', 'role must be admin or user', 'role');
      upd.role = patch.role;
    }
    for (const k of ['enabled', 'must_change_password'] as const) {
      if (k in patch) {
        if (typeof patch[k] !== 'boolean') throw new NasauthError('NASAUTH_INVALID_FIELD', `${k} must be true or false`, k);
        upd[k] = patch[k];
      }
    }
    if ('services' in patch) upd.services = this.checkServices(patch.services);
    if ('uid' in patch) {
      this.checkUid(patch.uid);
      if (this.store.account(name)?.uid !== patch.uid) await this.checkSystem('passwd', null, patch.uid as number);
    }
    for (const k of ['uid', 'gid'] as const) {
      if (k in patch) {
        const v = patch[k];
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 2) throw new NasauthError('NASAUTH_INVALID_FIELD', `${k} must be a non-negative integer`, k);
        upd[k] = v;
      }
    }
    const a = await this.store.mutate((d) => {
      const x = d.accounts[name];
      if (!x) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${name}"`, 'name');
      if (opts.rid !== undefined && x.rid !== opts.rid) throw new NasauthError('NASAUTH_CONFLICT', `${name} was deleted and re-created meanwhile; nothing was changed, try again`, 'name');
      if (opts.version !== undefined && x.version !== opts.version) throw new NasauthError('NASAUTH_CONFLICT', `the account "${name}" changed meanwhile; reload and try again`);
      const before = { ...x };
      if (upd.uid !== undefined && Object.values(peekAccounts(d)).some((o) => o.uid === upd.uid && o.name !== name)) {
        throw new NasauthError('NASAUTH_UID_CONFLICT', `uid ${upd.uid} is already used by another account`, 'uid');
      }
      if (patch.groups) {
        for (const g of patch.groups) if (!d.groups[g]) throw new NasauthError('NASAUTH_NOT_FOUND', `no group named "${g}"`, 'groups');
        for (const g of Object.values(d.groups)) {
          const want = patch.groups.includes(g.name);
          const has = g.members.includes(name);
          if (want !== has) { g.members = want ? [...g.members, name] : g.members.filter((m) => m !== name); g.version += 1; }
        }
        x.groups = [...new Set(patch.groups)];
      }
      Object.assign(x, upd);
      this.keepAnAdmin(d, before, name);
      x.version += 1;
      return x;
    });
    this.cache.forget(a.rid);
    this.log.info({ audit: 'user_set', user: name, fields: Object.keys(patch), by: actor });
    return a;
  }

  async setServices(name: string, service: string, allow: boolean, actor: string): Promise<Account> {
    const a = this.store.account(name);
    if (!a) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${name}"`, 'name');
    const list = allow ? [...new Set([...a.services, service])] : a.services.filter((s) => s !== service);
    return this.setUser(name, { services: list }, actor, { rid: a.rid });
  }

  async unlock(name: string, actor: string): Promise<void> {
    const a = this.store.account(name);
    this.limiter.unlock(name);
    if (a?.lockout_until) {
      await this.store.mutate((d) => {
        const x = d.accounts[name];
        if (x) { x.lockout_until = null; x.version += 1; }
      });
    } else if (!a) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${name}"`, 'name');
    this.log.info({ audit: 'unlock', user: name, by: actor });
  }

  async addGroup(name: string, gid: number | undefined, actor: string): Promise<Group> {
    checkName(name, 'group');
    if (gid !== undefined && (!Number.isInteger(gid) || gid < 1 || gid > 2 ** 31 - 2)) throw new NasauthError('NASAUTH_INVALID_FIELD', 'gid must be a positive integer', 'gid');
    for (const [svc, sg] of Object.entries(this.cfg.service_groups)) {
      if (sg.name === name) throw new NasauthError('NASAUTH_EXISTS', `"${name}" is the group nasauth renders for the ${svc} service (config service_groups.${svc}); choose another name`, 'name');
      if (gid !== undefined && sg.gid === gid) throw new NasauthError('NASAUTH_UID_CONFLICT', `gid ${gid} belongs to the ${svc} service group (config service_groups.${svc})`, 'gid');
    }
    const reserved = Object.values(this.cfg.service_groups).map((sg) => sg.gid);
    if (this.store.group(name)) throw new NasauthError('NASAUTH_EXISTS', `a group named "${name}" already exists`, 'name');
    if (gid !== undefined) await this.checkSystem('group', name, gid);
    const picked = gid ?? await this.freeSystemId('group', new Set([...this.store.groups().map((x) => x.gid), ...reserved]), name);
    const g = await this.store.mutate((d) => {
      if (d.groups[name]) throw new NasauthError('NASAUTH_EXISTS', `a group named "${name}" already exists`, 'name');
      const used = new Set(Object.values(d.groups).map((x) => x.gid));
      const id = picked;
      if (used.has(id)) throw new NasauthError('NASAUTH_UID_CONFLICT', `gid ${id} is already used${gid === undefined ? ' (taken meanwhile: try again)' : ''}`, 'gid');
      const grp: Group = { name, gid: id, members: [], version: 1 };
      d.groups[name] = grp;
      return grp;
    });
    this.log.info({ audit: 'group_add', group: name, by: actor });
    return g;
  }

  async delGroup(name: string, actor: string): Promise<void> {
    this.upstream?.guard('group', name, 'delete');
    await this.store.mutate((d) => {
      if (!d.groups[name]) throw new NasauthError('NASAUTH_NOT_FOUND', `no group named "${name}"`, 'name');
      delete d.groups[name];
      for (const p of Object.values(peekAccounts(d))) if (p.groups.includes(name)) { const a = d.accounts[p.name]; a.groups = a.groups.filter((g) => g !== name); a.version += 1; }
    });
    this.log.info({ audit: 'group_del', group: name, by: actor });
  }

  async groupMember(group: string, user: string, add: boolean, actor: string): Promise<void> {
    const a = this.store.account(user);
    if (!a) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${user}"`, 'name');
    if (!this.store.group(group)) throw new NasauthError('NASAUTH_NOT_FOUND', `no group named "${group}"`, 'group');
    this.upstream?.guard('group', group, 'change the members of');
    const groups = add ? [...new Set([...a.groups, group])] : a.groups.filter((g) => g !== group);
    await this.setUser(user, { groups }, actor, { rid: a.rid });
  }

  /**
   * What the system has (NSS outside nasauth) for every name and id an import may use,
   * free ids for the choices it makes itself, and which shadow hashes are hashes of the
   * empty password: resolved here, asynchronously, so that the plan stays pure.
   */
  /** Up to `count` ids from uid_min that neither the store nor the system has (one getent per source and batch). */
  private async freeSystemIds(db: Db, used: Set<number>, count: number): Promise<number[]> {
    const out: number[] = [];
    const { uid_min: lo, uid_max: hi } = this.cfg.accounts;
    let u = lo;
    while (u <= hi && out.length < count) {
      const batch: number[] = [];
      for (; u <= hi && batch.length < Math.max(32, count * 2); u++) if (!used.has(u)) batch.push(u);
      const found = await this.system.lookupMany(db, batch);
      for (const x of batch) if (!found.has(x) && out.length < count) out.push(x);
    }
    return out;
  }

  private async importContext(src: Sources, choices: ImportChoices): Promise<ImportContext> {
    const ctx = emptyContext();
    const keys = importKeys(src, choices);
    const dflt = this.cfg.accounts.default_gid; // the NAS default group is the system's (e.g. users, gid 100) on purpose
    const users = await this.system.lookupMany('passwd', [...keys.names, ...keys.uids]);
    const groups = await this.system.lookupMany('group', [...keys.groups, ...keys.gids, dflt]);
    for (const n of keys.names) { const e = users.get(n); if (e) ctx.sysUsers.set(n, e.id); }
    for (const u of keys.uids) { const e = users.get(u); if (e && this.store.account(e.name)?.uid !== u) ctx.sysUids.set(u, e.name); }
    for (const n of keys.groups) { const e = groups.get(n); if (e && !this.store.group(n)) ctx.sysGroups.set(n, e.id); }
    for (const g of [...keys.gids, dflt]) { const e = groups.get(g); if (e && this.store.group(e.name)?.gid !== g) ctx.sysGids.set(g, e.name); }
    const usedU = new Set(this.store.accounts().map((a) => a.uid));
    const usedG = new Set(this.store.groups().map((g) => g.gid));
    const wantU = src.passwd.length + src.smb.length;
    const wantG = src.group.length;
    ctx.freeUids = await this.freeSystemIds('passwd', usedU, wantU);
    ctx.freeGids = await this.freeSystemIds('group', usedG, wantG);
    // a shadow hash of "" would never log in (the authority refuses ""), but the report
    // and doctor must not call it a password: one verification each, off the event loop,
    // for the hash kinds that cost milliseconds. yescrypt and costly sha-crypt/bcrypt
    // settings are not checked (a second or more each on the device: minutes for a whole
    // NAS); such an account is still refused "" at every login.
    const cheap = (h: string) => {
      const k = identify(h);
      if (k === 'md5-crypt') return true;
      if (k === 'sha256-crypt' || k === 'sha512-crypt') return Number(/^\$[56]\$rounds=(\d+)\$/.exec(h)?.[1] ?? 5000) <= 10000;
      if (k === 'bcrypt') return Number(/^\$2[aby]\$(\d\d)\$/.exec(h)?.[1] ?? 99) <= 8;
      return false;
    };
    for (const sh of src.shadow) {
      const h = sh.hash.replace(/^!+/, '');
      if (!identify(h) || 'error' in parseLegacy(h) || !cheap(h)) continue;
      try { if (await this.verifier.pool.run(() => verifyLegacy(h, Buffer.alloc(0)))) ctx.emptyLegacy.add(sh.name); } catch { /* busy: the hash is kept; "" is refused anyway */ }
    }
    return ctx;
  }

  /**
   * Import an old system's accounts (parsed sources) in one durable change, or only
   * report what would happen (dryRun). The plan is made inside the store's serialised
   * change, against the state it applies to.
   */
  async importAccounts(src: Sources, opts: { dryRun: boolean; overwrite: boolean } & ImportChoices, actor: string): Promise<ImportReport> {
    const now = this.now();
    const choices: ImportChoices = { rename: opts.rename, uid: opts.uid, renameGroup: opts.renameGroup, owner: opts.owner };
    const ctx = await this.importContext(src, choices);
    const planOpts = { overwrite: opts.overwrite, now, ...choices };
    if (opts.dryRun) return planImport(src, this.store.snapshot, this.cfg, planOpts, ctx).report;
    const first = planImport(src, this.store.snapshot, this.cfg, planOpts, ctx);
    if (!first.accounts.length && !first.groups.length) return first.report;
    let carried: string | null = null;
    const report = await this.store.mutate((d) => {
      const plan = planImport(src, d, this.cfg, planOpts, ctx);
      for (const old of plan.remove) {
        // the first-start admin, carried over under the old owner's name (same rid)
        const rid = d.accounts[old]?.rid;
        const now2 = plan.accounts.find((a) => a.rid === rid)?.name;
        delete d.accounts[old];
        if (now2) for (const g of Object.values(d.groups)) if (g.members.includes(old)) { g.members = g.members.map((m) => (m === old ? now2 : m)); g.version += 1; }
      }
      for (const a of plan.accounts) {
        if (a.first_start) delete a.first_start;
        d.accounts[a.name] = a;
        d.next_rid = Math.max(d.next_rid, a.rid + 1);
      }
      for (const g of plan.groups) {
        d.groups[g.name] = g;
        for (const m of g.members) {
          const a = d.accounts[m];
          if (a && !a.groups.includes(g.name)) { a.groups = [...a.groups, g.name].sort(); a.version += 1; }
        }
      }
      carried = plan.report.owner.carried_onto ?? null;
      return plan.report;
    });
    const forget = (n: string) => { const rid = this.store.account(n)?.rid; if (rid !== undefined) this.cache.forget(rid); };
    for (const a of report.accounts) if (a.outcome === 'update') forget(a.as ?? a.name);
    if (carried) {
      forget(carried);
      // the one-time password no longer works: its file goes, as when it is changed
      try { unlinkSync(join(this.cfg.state_dir, 'initial-admin-password')); } catch { /* none */ }
      this.log.info({ audit: 'owner_carried_over', user: report.owner.name, onto: carried, by: actor });
    }
    this.log.info({ audit: 'import', by: actor, ...report.summary });
    return report;
  }

  /**
   * A store written before empty passwords were refused may hold the NT hash of "" (an
   * import) or scrypt + NT hash of "" (the first login with it stored them). Remove them
   * at start, so smbd is never handed a hash that takes an empty password; the account
   * then has no usable password until the admin sets one (doctor says so).
   */
  async removeEmptyPasswords(): Promise<string[]> {
    const hit = (a: Account) => a.verifiers.nt === EMPTY_NT_HASH;
    if (!this.store.accountList().some(hit)) return [];
    const names = await this.store.mutate((d) => {
      const out: string[] = [];
      for (const a of Object.values(d.accounts)) {
        if (!hit(a)) continue;
        // scrypt is always made together with the NT hash of the same password
        a.verifiers = a.verifiers.legacy ? { legacy: a.verifiers.legacy } : {};
        a.version += 1;
        out.push(a.name);
      }
      return out;
    });
    for (const n of names) {
      const rid = this.store.account(n)?.rid;
      if (rid !== undefined) this.cache.forget(rid);
      this.log.warn({ audit: 'empty_password_removed', user: n }, `${n} had an empty password (from an old import): removed; the admin must set a password`);
    }
    return names;
  }

  /**
   * The first start: an admin (first_start.admin_name) with a random one-time password
   * that must be changed. Refused (NasauthError) when the system already has that name.
   */
  async createFirstAdmin(): Promise<string> {
    const pw = randomBytes(12).toString('base64url');
    const name = this.cfg.first_start.admin_name;
    try {
      await this.addUser({ name, role: 'admin', full_name: 'Administrator', must_change_password: true }, Buffer.from(pw), 'first-start');
    } catch (e) {
      if (e instanceof NasauthError && (e.code === 'NASAUTH_EXISTS' || e.code === 'NASAUTH_INVALID_NAME')) {
        throw new NasauthError(e.code, `first start: the admin account "${name}" was not created: ${e.message}. Set first_start.admin_name in the configuration to a free name and restart, or add an admin as root: nasauth user add NAME --role admin`);
      }
      throw e;
    }
    await this.store.mutate((d) => { const a = d.accounts[name]; if (a) a.first_start = true; });
    return pw;
  }
}
