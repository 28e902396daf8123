// What the account portal (nasauth-web) may ask, as logic: sign in, the session's own
// account, and the administrators' users table. Every check is made here, on every
// call, against the current store: the session's account still exists with the same
// rid and version, is enabled, may use the dashboard, and (for the users table) is an
// admin. Changes go through the same Authority methods as the admin socket and the CLI.
// The HTTP side is daemon/portal-routes.ts; docs/protocol.md describes both.
import { randomInt } from 'node:crypto';
import { type Authority, type Decision, type Profile, profileOf } from './authority';
import { adminView } from './admin-socket';
import { diagnose, type Diagnosis, type DoctorHook } from './doctor';
import { NasauthError } from './errors';
import { passwordProblems } from './password-policy';
import type { Reason } from './reasons';
import type { NewSession, Session } from './sessions';
import type { Account, Role } from './store';

export interface Refusal { status: 401 | 403; reason: Reason; message: string }
export interface Ctx { session: Session; account: Account; checkedVersion: number; source: string }

export const isRefusal = (x: Ctx | Refusal): x is Refusal => 'status' in x;

// Letters and digits that cannot be mistaken for each other when read aloud or copied by hand.
const OTP_ALPHABET = 'abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789';

/** A one-time password for a new or reset account: four groups of four, e.g. "Hq7d-mZ2k-…". */
export function oneTimePassword(auth: Authority, user: string): string {
  for (let i = 0; i < 50; i++) {
    const groups = Array.from({ length: 4 }, () => Array.from({ length: 4 }, () => OTP_ALPHABET[randomInt(OTP_ALPHABET.length)]).join(''));
    const pw = groups.join('-');
    if (passwordProblems(Buffer.from(pw), user, auth.config.password_policy).length === 0) return pw;
  }
  throw new NasauthError('NASAUTH_PASSWORD_POLICY', 'could not make a one-time password that meets the password policy (password_policy.min_length above 19?); give a password');
}

export interface UserRow extends ReturnType<typeof adminView> {
  access: Record<string, boolean>;
  last_refusal: { at: string; service: string; source: string; reason: Reason } | null;
}

export class Portal {
  /** the same extra doctor checks as the admin socket (the LDAP view's, when on) */
  doctorHooks: DoctorHook[] = [];
  constructor(private readonly auth: Authority) {}

  private audit(fields: Record<string, unknown>) {
    this.auth.auditLog.info({ channel: 'query', ...fields });
  }

  /** Prove a password for the dashboard; on ok, a session bound to the proven account. */
  async signIn(user: string, password: Uint8Array, source: string): Promise<{ decision: Decision; session?: NewSession }> {
    let proven: Account | undefined;
    const decision = await this.auth.authenticate({ user, password, service: 'dashboard', source, channel: 'query' }, (a) => { proven = a; });
    if (decision.reason !== 'ok' || !proven) return { decision };
    const session = this.auth.sessions.create(proven, source);
    this.audit({ audit: 'session_start', user: proven.name, source: source.slice(0, 128) });
    return { decision, session };
  }

  /** The session behind a token, checked against the account as it is now. */
  resolve(token: string, source: string, opts: { admin?: boolean } = {}): Ctx | Refusal {
    const sessions = this.auth.sessions;
    const s = sessions.find(token);
    if (!s) return { status: 401, reason: 'bad_credentials', message: 'you are signed out (the session ended, timed out, or the NAS restarted); sign in again' };
    const a = this.auth.store.account(s.name);
    const ended = (reason: Reason, message: string): Refusal => {
      sessions.end(s);
      this.audit({ audit: 'session_end', user: s.name, source: source.slice(0, 128), why: reason });
      return { status: 401, reason, message };
    };
    if (!a || a.rid !== s.rid) return ended('unknown_user', 'this account no longer exists');
    const p = this.auth.policy(a, 'dashboard');
    if (p !== 'ok') return ended(p, p === 'account_disabled' ? 'this account has been disabled' : p === 'service_denied' ? 'this account may no longer use this page' : 'the password must be changed; sign in again');
    if (a.version !== s.version) return ended('bad_credentials', 'the account was changed (a new password, for example): sign in again');
    if (opts.admin && a.role !== 'admin') return { status: 403, reason: 'service_denied', message: 'only an administrator may do this' };
    return { session: s, account: a, checkedVersion: s.version, source };
  }

  /** Which services the account may use now (listed for it and allowed for its role). */
  access(a: Account): Record<string, boolean> {
    return Object.fromEntries(Object.keys(this.auth.config.services).map((s) => [s, this.auth.serviceAllowed(a, s)]));
  }

  me(c: Ctx): { user: Profile; role: Role; access: Record<string, boolean>; session: Record<string, unknown> } {
    return {
      user: profileOf(c.account), role: c.account.role, access: this.access(c.account),
      session: { created_at: new Date(c.session.created).toISOString(), ...this.auth.sessions.expiresAt(c.session), sessions: this.auth.sessions.countFor(c.account.rid) },
    };
  }

  signOut(c: Ctx, everywhere: boolean): number {
    const n = everywhere ? this.auth.sessions.endAccount(c.account.rid) : (this.auth.sessions.end(c.session), 1);
    this.audit({ audit: everywhere ? 'session_end_all' : 'session_end', user: c.account.name, source: c.source.slice(0, 128), ended: n });
    return n;
  }

  /** The session's own e-mail and full name; the session stays signed in. */
  async setOwnProfile(c: Ctx, patch: { email?: string | null; full_name?: string }): Promise<Profile> {
    const x = await this.auth.setUser(c.account.name, patch, `web:${c.account.name}`, { rid: c.account.rid, version: c.checkedVersion });
    this.auth.sessions.rebind(c.session, c.checkedVersion, x);
    return profileOf(x);
  }

  /** The session's own password, the old one proven again; other sessions of the account end. */
  async changeOwnPassword(c: Ctx, oldPw: Uint8Array, newPw: Uint8Array): Promise<Decision> {
    const d = await this.auth.changePassword({ user: c.account.name, password: oldPw, newPassword: newPw, service: 'dashboard', source: c.source, channel: 'query' });
    if (d.reason === 'ok') {
      // the version moved: this session is re-bound when the change was its own alone; the others end now
      this.auth.sessions.rebind(c.session, c.checkedVersion, this.auth.store.account(c.account.name));
      this.auth.sessions.endAccount(c.account.rid, c.session);
    }
    return d;
  }

  // ---- the users table (admins) ----------------------------------------------------

  users(): UserRow[] {
    const now = this.auth.now();
    return this.auth.store.accounts().sort((a, b) => a.name.localeCompare(b.name)).map((a) => this.row(a, now));
  }

  user(name: string): UserRow {
    const a = this.auth.store.account(name);
    if (!a) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${name}"`, 'name');
    return this.row(a);
  }

  /** The rules a new password must meet (not a secret: the page shows them next to the field). */
  passwordPolicy() {
    const p = this.auth.config.password_policy;
    return { min_length: p.min_length, max_length: p.max_length, min_classes: p.min_classes, reject_username: p.reject_username };
  }

  serviceNames(): string[] { return Object.keys(this.auth.config.services); }

  row(a: Account, now = this.auth.now()): UserRow {
    const last = this.auth.recent.get(a.name)?.at(-1);
    return {
      ...adminView(a, now), access: this.access(a),
      last_refusal: last ? { at: new Date(last.at).toISOString(), service: last.service, source: last.source, reason: last.reason } : null,
    };
  }

  private actor(c: Ctx) { return `web:${c.account.name}`; }

  /** Add an account; without a password it gets a one-time password that must be changed at first sign-in. */
  async addUser(c: Ctx, input: { name: string; role?: Role; email?: string | null; full_name?: string; services?: string[]; enabled?: boolean; must_change_password?: boolean }, password: Uint8Array | null) {
    const otp = password ? null : oneTimePassword(this.auth, input.name);
    const pw = password ?? Buffer.from(otp!);
    try {
      const a = await this.auth.addUser({ ...input, must_change_password: otp ? true : input.must_change_password ?? true }, pw, this.actor(c));
      return { user: this.row(a), ...(otp ? { one_time_password: otp } : {}) };
    } finally { if (!password) pw.fill(0); }
  }

  async setUser(c: Ctx, name: string, patch: Record<string, unknown>, rid?: number) {
    const own = name === c.account.name;
    const x = await this.auth.setUser(name, patch, this.actor(c), { rid, ...(own ? { version: c.checkedVersion } : {}) });
    if (own) this.auth.sessions.rebind(c.session, c.checkedVersion, x);
    return { user: this.row(x) };
  }

  async delUser(c: Ctx, name: string, rid?: number) {
    const a = this.auth.store.account(name);
    await this.auth.delUser(name, this.actor(c), { rid });
    if (a) this.auth.sessions.endAccount(a.rid);
    return { deleted: name };
  }

  /** Reset a password (admin): the user must change it at the next sign-in. */
  async resetPassword(c: Ctx, name: string, password: Uint8Array | null, rid?: number) {
    if (!this.auth.store.account(name)) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${name}"`, 'name');
    const otp = password ? null : oneTimePassword(this.auth, name);
    const pw = password ?? Buffer.from(otp!);
    try {
      const d = await this.auth.setPasswordChecked(name, pw, 'query', this.actor(c), { mustChange: true, rid });
      if (d.reason === 'unknown_user') throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${name}"`, 'name');
      if (d.reason === 'password_rejected') throw new NasauthError('NASAUTH_PASSWORD_POLICY', d.message, 'password');
      if (d.reason !== 'ok') return { decision: d };
      return { user: this.row(this.auth.store.account(name)!), ...(otp ? { one_time_password: otp } : {}) };
    } finally { if (!password) pw.fill(0); }
  }

  async unlock(c: Ctx, name: string) {
    await this.auth.unlock(name, this.actor(c));
    return { user: this.row(this.auth.store.account(name)!) };
  }

  async doctor(name: string, service: string | null): Promise<{ diagnosis: Diagnosis }> {
    if (!this.auth.store.account(name)) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${name}"`, 'name');
    return { diagnosis: await diagnose(this.auth, name, service, this.doctorHooks) };
  }
}
