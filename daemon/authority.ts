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
import { RateLimiter } from './ratelimit';
import { REASONS, type Reason } from './reasons';
import { Store, type Account, type Group, type Role, type StoreData } from './store';
import { checkEmail, checkFullName, checkName, lookupName } from './validate';
import { BusyError, Verifier } from './verifier';
import { planImport, type ImportReport } from './import';
import type { Sources } from './import-parse';

export type Channel = 'query' | 'pam' | 'ldap' | 'admin' | 'cli';

export interface Profile {
  name: string; uid: number; gid: number; role: Role; email: string | null; full_name: string;
  services: string[]; groups: string[]; password_changed_at: string | null; must_change_password: boolean;
}
export interface Decision {
  reason: Reason;
  message: string;
  retry_after?: number; // seconds
  profile?: Profile; // only when the password was proven
  cached?: boolean;
}
export interface AuthRequest { user: string; password: Uint8Array; service: string; source: string; channel: Channel }

export function profileOf(a: Account): Profile {
  return {
    name: a.name, uid: a.uid, gid: a.gid, role: a.role, email: a.email, full_name: a.full_name,
    services: [...a.services], groups: [...a.groups],
    password_changed_at: a.password_changed_at ? new Date(a.password_changed_at).toISOString() : null,
    must_change_password: a.must_change_password,
  };
}

export interface AccountInput {
  name: string; role?: Role; email?: string | null; full_name?: string; uid?: number; gid?: number;
  services?: string[]; groups?: string[]; enabled?: boolean; must_change_password?: boolean;
}

export class Authority {
  readonly cache: AuthCache;
  readonly limiter: RateLimiter;
  readonly verifier: Verifier;
  readonly counters = new Map<string, number>(); // "reason|service|cached" → count
  /** The last few refusals per existing account, for `nasauth doctor` (bounded). */
  readonly recent = new Map<string, Array<{ at: number; service: string; source: string; reason: Reason }>>();
  private cfg: Config;
  /** decision lines: safe fields only, so no redaction pass (daemon/log.ts) */
  readonly auditLog: Logger;
  readonly collapser: AuditCollapser;

  constructor(cfg: Config, readonly store: Store, readonly log: Logger, readonly now: () => number = Date.now) {
    this.cfg = cfg;
    this.auditLog = auditLogger(log);
    this.collapser = new AuditCollapser(this.auditLog, cfg.log.collapse_seconds * 1000, now);
    this.cache = new AuthCache(cfg.cache.ttl_seconds * 1000, cfg.cache.max_entries, cfg.cache.enabled, now);
    this.limiter = new RateLimiter(cfg.rate_limit, now);
    this.verifier = new Verifier(cfg.scrypt);
  }

  get config(): Config { return this.cfg; }

  /** Apply a reloaded config: policy and limits change; the cache key and counters stay. */
  reload(cfg: Config) {
    this.cfg = cfg;
    this.limiter.reconfigure(cfg.rate_limit);
    this.collapser.setInterval(cfg.log.collapse_seconds);
  }

  private decide(reason: Reason, extra: Partial<Decision> = {}, message?: string): Decision {
    return { reason, message: message ?? REASONS[reason].message, ...extra };
  }

  private count(reason: Reason, service: string, cached: boolean) {
    const k = `${reason}|${service}|${cached ? 1 : 0}`;
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
   */
  private async prove(req: AuthRequest): Promise<{ account: Account; cached: boolean } | Decision> {
    const name = lookupName(req.user) ?? `\0invalid:${req.user.slice(0, 40)}`;
    const gate = this.limiter.gate(name, req.source);
    let acct = name.startsWith('\0') ? undefined : this.store.account(name);
    const persisted = this.lockedUntil(acct);
    if (persisted) return this.decide('locked_out', { retry_after: Math.ceil((persisted - this.now()) / 1000) });
    if (gate.kind !== 'open') return this.decide(gate.kind, { retry_after: Math.ceil(gate.retryAfterMs / 1000) });
    if (acct && this.cache.check(acct.name, req.password, acct.version)) return { account: acct, cached: true };
    let result: 'ok' | 'bad' | 'none';
    try {
      result = await this.verifier.check(acct?.verifiers, req.password);
    } catch (e) {
      if (e instanceof BusyError) return this.decide('busy', { retry_after: 1 });
      throw e;
    }
    // the account may have changed while we hashed: judge against the current one
    const now = acct ? this.store.account(acct.name) : undefined;
    if (result === 'ok' && acct && now && now.version === acct.version) {
      this.limiter.success(name);
      acct = await this.upgradeIfNeeded(now, req.password);
      this.cache.put(acct.name, req.password, acct.version);
      return { account: acct, cached: false };
    }
    const lockStarts = this.limiter.fail(name, req.source);
    if (lockStarts !== null) {
      this.log.warn({ audit: 'lockout', user: req.user.slice(0, 64), source: req.source.slice(0, 128), until: new Date(lockStarts).toISOString() });
      if (now) {
        await this.store.mutate((d) => {
          const a = d.accounts[now.name];
          if (a) { a.lockout_until = lockStarts; a.version += 1; }
        }).catch((e) => this.log.error({ err: (e as Error).message }, 'could not persist lockout'));
      }
      return this.decide('locked_out', { retry_after: Math.ceil((lockStarts - this.now()) / 1000) });
    }
    return this.decide('bad_credentials');
  }

  /** Lazy upgrade: a legacy or outdated verifier is replaced after a proven login. */
  private async upgradeIfNeeded(a: Account, pw: Uint8Array): Promise<Account> {
    if (!this.verifier.outdated(a.verifiers)) return a;
    try {
      const v = await this.verifier.make(pw);
      const version = a.version;
      const upgraded = await this.store.mutate((d) => {
        const x = d.accounts[a.name];
        if (!x || x.version !== version) return null; // changed meanwhile: leave it
        x.verifiers = { scrypt: v.scrypt, nt: v.nt };
        x.version += 1;
        return x;
      });
      if (upgraded) {
        this.log.info({ audit: 'verifier_upgrade', user: a.name });
        return this.store.account(a.name) ?? a;
      }
    } catch (e) {
      this.log.error({ user: a.name, err: (e as Error).message }, 'verifier upgrade failed; login allowed with the old verifier');
    }
    return a;
  }

  /**
   * A refusal that did not prove the password answers only after failure_delay_ms (as
   * pam_unix's FAIL_DELAY does): a guessing client waits on each try, and a flood of
   * closed-loop guesses cannot crowd out the event loop that serves cache hits. The
   * wait holds no more than the connection it answers on (sockets cap connections).
   */
  private async delayFailure(d: Decision): Promise<Decision> {
    const ms = this.cfg.rate_limit.failure_delay_ms;
    if (ms > 0 && (d.reason === 'bad_credentials' || d.reason === 'busy' || d.reason === 'rate_limited' || d.reason === 'locked_out')) {
      await new Promise((r) => setTimeout(r, ms));
    }
    return d;
  }

  async authenticate(req: AuthRequest): Promise<Decision> {
    const service = canonicalService(this.cfg, req.service);
    let d: Decision;
    const r = await this.prove(req);
    if ('reason' in r) {
      d = r;
    } else {
      const reason = this.policy(r.account, service);
      d = this.decide(reason, { cached: r.cached, profile: profileOf(r.account) });
    }
    this.count(d.reason, service ?? 'unknown', d.cached ?? false);
    this.audit(req, d);
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

  /** The user's own profile, after proving the password. */
  async profile(req: AuthRequest): Promise<Decision> {
    const r = await this.prove(req);
    const d = 'reason' in r ? r : this.decide('ok', { profile: profileOf(r.account), cached: r.cached });
    this.audit(req, d, 'profile');
    return this.delayFailure(d);
  }

  /** Change one's own password: the old one must be proven. must_change_password does not block this. */
  async changePassword(req: AuthRequest & { newPassword: Uint8Array }): Promise<Decision> {
    const r = await this.prove(req);
    let d: Decision;
    if ('reason' in r) d = r;
    else {
      const reason = this.policy(r.account, canonicalService(this.cfg, req.service));
      if (reason !== 'ok' && reason !== 'must_change_password') d = this.decide(reason);
      else d = await this.setPasswordChecked(r.account.name, req.newPassword, req.channel, r.account.name);
    }
    this.audit(req, d, 'change_password');
    return this.delayFailure(d);
  }

  /**
   * Set a password on behalf of a trusted caller (root via PAM chauthtok, Samba's LDAP
   * password modify, the admin). Policy-checked like every other path.
   */
  async setPasswordChecked(name: string, pw: Uint8Array, channel: Channel, actor: string, opts: { mustChange?: boolean } = {}): Promise<Decision> {
    const a = this.store.account(name);
    if (!a) return this.decide('unknown_user');
    const problems = passwordProblems(pw, a.name, this.cfg.password_policy);
    if (problems.length) return this.decide('password_rejected', {}, `the new password needs ${problems.join('; ')}`);
    let v;
    try { v = await this.verifier.make(pw); } catch (e) {
      if (e instanceof BusyError) return this.decide('busy', { retry_after: 1 });
      throw e;
    }
    try {
      await this.store.mutate((d) => {
        const x = d.accounts[name];
        if (!x) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${name}"`);
        x.verifiers = { scrypt: v.scrypt, nt: v.nt };
        x.password_changed_at = this.now();
        x.must_change_password = opts.mustChange ?? false;
        x.lockout_until = null;
        x.version += 1;
      });
    } catch (e) {
      if (e instanceof NasauthError && e.code === 'NASAUTH_NOT_FOUND') return this.decide('unknown_user');
      if (e instanceof NasauthError && e.code === 'NASAUTH_STORE_IO') {
        this.log.error({ user: name, err: e.message }, 'password change not recorded: the store cannot be written');
        return this.decide('unavailable', {}, 'the password could not be saved (the NAS storage is full or failing); nothing was changed');
      }
      throw e;
    }
    this.cache.forget(name);
    this.limiter.unlock(name);
    this.log.info({ audit: 'password_set', user: name, by: actor, channel });
    return this.decide('ok');
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

  private freeUid(d: StoreData): number {
    const used = new Set(Object.values(d.accounts).map((a) => a.uid));
    for (let u = this.cfg.accounts.uid_min; u <= this.cfg.accounts.uid_max; u++) if (!used.has(u)) return u;
    throw new NasauthError('NASAUTH_UID_CONFLICT', `no free uid left in ${this.cfg.accounts.uid_min}-${this.cfg.accounts.uid_max}`);
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
    const v = password ? await this.verifier.make(password) : {};
    const acct = await this.store.mutate((d) => {
      if (d.accounts[name]) throw new NasauthError('NASAUTH_EXISTS', `an account named "${name}" already exists`, 'name');
      const uid = input.uid ?? this.freeUid(d);
      this.checkUid(uid);
      if (Object.values(d.accounts).some((a) => a.uid === uid)) throw new NasauthError('NASAUTH_UID_CONFLICT', `uid ${uid} is already used by another account`, 'uid');
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

  async delUser(name: string, actor: string): Promise<void> {
    await this.store.mutate((d) => {
      if (!d.accounts[name]) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${name}"`, 'name');
      delete d.accounts[name];
      for (const g of Object.values(d.groups)) if (g.members.includes(name)) { g.members = g.members.filter((m) => m !== name); g.version += 1; }
    });
    this.cache.forget(name);
    this.limiter.unlock(name);
    this.log.info({ audit: 'user_del', user: name, by: actor });
  }

  async setUser(name: string, patch: Partial<AccountInput>, actor: string): Promise<Account> {
    const allowed = ['email', 'full_name', 'role', 'enabled', 'must_change_password', 'services', 'uid', 'gid', 'groups'];
    for (const k of Object.keys(patch)) if (!allowed.includes(k)) throw new NasauthError('NASAUTH_INVALID_FIELD', `"${k}" cannot be set (settable: ${allowed.join(', ')})`, k);
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
    if ('uid' in patch) this.checkUid(patch.uid);
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
      if (upd.uid !== undefined && Object.values(d.accounts).some((o) => o.uid === upd.uid && o.name !== name)) {
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
      x.version += 1;
      return x;
    });
    this.cache.forget(name);
    this.log.info({ audit: 'user_set', user: name, fields: Object.keys(patch), by: actor });
    return a;
  }

  async setServices(name: string, service: string, allow: boolean, actor: string): Promise<Account> {
    const a = this.store.account(name);
    if (!a) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${name}"`, 'name');
    const list = allow ? [...new Set([...a.services, service])] : a.services.filter((s) => s !== service);
    return this.setUser(name, { services: list }, actor);
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
    const g = await this.store.mutate((d) => {
      if (d.groups[name]) throw new NasauthError('NASAUTH_EXISTS', `a group named "${name}" already exists`, 'name');
      const used = new Set(Object.values(d.groups).map((x) => x.gid));
      let id = gid ?? this.cfg.accounts.uid_min;
      if (gid !== undefined && (!Number.isInteger(gid) || gid < 1 || gid > 2 ** 31 - 2)) throw new NasauthError('NASAUTH_INVALID_FIELD', 'gid must be a positive integer', 'gid');
      if (gid !== undefined && used.has(gid)) throw new NasauthError('NASAUTH_UID_CONFLICT', `gid ${gid} is already used`, 'gid');
      while (used.has(id)) id++;
      const grp: Group = { name, gid: id, members: [], version: 1 };
      d.groups[name] = grp;
      return grp;
    });
    this.log.info({ audit: 'group_add', group: name, by: actor });
    return g;
  }

  async delGroup(name: string, actor: string): Promise<void> {
    await this.store.mutate((d) => {
      if (!d.groups[name]) throw new NasauthError('NASAUTH_NOT_FOUND', `no group named "${name}"`, 'name');
      delete d.groups[name];
      for (const a of Object.values(d.accounts)) if (a.groups.includes(name)) { a.groups = a.groups.filter((g) => g !== name); a.version += 1; }
    });
    this.log.info({ audit: 'group_del', group: name, by: actor });
  }

  async groupMember(group: string, user: string, add: boolean, actor: string): Promise<void> {
    const a = this.store.account(user);
    if (!a) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${user}"`, 'name');
    if (!this.store.group(group)) throw new NasauthError('NASAUTH_NOT_FOUND', `no group named "${group}"`, 'group');
    const groups = add ? [...new Set([...a.groups, group])] : a.groups.filter((g) => g !== group);
    await this.setUser(user, { groups }, actor);
  }

  /**
   * Import an old system's accounts (parsed sources) in one durable change, or only
   * report what would happen (dryRun). The plan is made inside the store's serialised
   * change, against the state it applies to.
   */
  async importAccounts(src: Sources, opts: { dryRun: boolean; overwrite: boolean }, actor: string): Promise<ImportReport> {
    const now = this.now();
    if (opts.dryRun) return planImport(src, this.store.snapshot, this.cfg, { overwrite: opts.overwrite, now }).report;
    const first = planImport(src, this.store.snapshot, this.cfg, { overwrite: opts.overwrite, now });
    if (!first.accounts.length && !first.groups.length) return first.report;
    const report = await this.store.mutate((d) => {
      const plan = planImport(src, d, this.cfg, { overwrite: opts.overwrite, now });
      for (const a of plan.accounts) {
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
      return plan.report;
    });
    for (const a of report.accounts) if (a.outcome === 'update') this.cache.forget(a.name);
    this.log.info({ audit: 'import', by: actor, ...report.summary });
    return report;
  }

  /** The first start: an admin with a random one-time password that must be changed. */
  async createFirstAdmin(): Promise<string> {
    const pw = randomBytes(12).toString('base64url');
    await this.addUser({ name: 'admin', role: 'admin', full_name: 'Administrator', must_change_password: true }, Buffer.from(pw), 'first-start');
    return pw;
  }
}
