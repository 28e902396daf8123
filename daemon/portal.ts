// What the web page (nasauth-web) may ask, on top of the Authority: sign in, the
// session's own account, and the administrators' users table. Every check of a session
// is the Authority's (sessionCheck), made on every call against the store as it is now;
// changes go through the same Authority methods as the admin socket and the CLI. The
// HTTP side is daemon/portal-routes.ts; docs/protocol.md describes both.
import { randomInt } from 'node:crypto';
import type { AccountView, Authority, Decision, Profile } from './authority';
import { diagnose, type Diagnosis, type DoctorHook } from './doctor';
import { NasauthError } from './errors';
import { passwordProblems } from './password-policy';
import type { Reason } from './reasons';
import type { NewSession, Session } from './sessions';
import type { Role } from './store';

export interface Refusal { status: 401 | 403; reason: Reason; message: string }
export interface Ctx { session: Session; view: AccountView; checkedVersion: number; source: string }

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

export interface UserRow extends AccountView {
  access: Record<string, boolean>;
  last_refusal: { at: string; service: string; source: string; reason: Reason } | null;
}

export class Portal {
  /** the same extra doctor checks as the admin socket (the LDAP view's, when on) */
  doctorHooks: DoctorHook[] = [];
  constructor(private readonly auth: Authority) {}

  /** Prove a password for the dashboard; on ok, a session bound to the proven account. */
  signIn(user: string, password: Uint8Array, source: string): Promise<{ decision: Decision; session?: NewSession }> {
    return this.auth.signIn({ user, password, service: 'dashboard', source, channel: 'query' });
  }

  /** The session behind a token, checked against the account as it is now. */
  resolve(token: string, source: string, opts: { admin?: boolean } = {}): Ctx | Refusal {
    const c = this.auth.sessionCheck(token, source, opts);
    return 'status' in c ? c : { ...c, source };
  }

  me(c: Ctx): { user: Profile; role: Role; access: Record<string, boolean>; session: Record<string, unknown> } {
    const { enabled: _e, rid: _r, verifier: _v, nt_hash: _n, locked_until: _l, created_at: _c, version: _ver, ...user } = c.view;
    return {
      user, role: c.view.role, access: this.auth.serviceAccess(c.view.name) ?? {},
      session: { created_at: new Date(c.session.created).toISOString(), ...this.auth.sessions.expiresAt(c.session), sessions: this.auth.sessions.countFor(c.view.rid) },
    };
  }

  signOut(c: Ctx, everywhere: boolean): number {
    const n = everywhere ? this.auth.sessions.endAccount(c.view.rid) : (this.auth.sessions.end(c.session), 1);
    this.auth.auditLog.info({ audit: everywhere ? 'session_end_all' : 'session_end', user: c.view.name, source: c.source.slice(0, 128), channel: 'query', ended: n });
    return n;
  }

  setOwnProfile(c: Ctx, patch: { email?: string | null; full_name?: string }): Promise<Profile> {
    return this.auth.setOwnProfile(c.session, c.checkedVersion, patch);
  }

  changeOwnPassword(c: Ctx, oldPw: Uint8Array, newPw: Uint8Array): Promise<Decision> {
    return this.auth.changeOwnPassword(c.session, c.checkedVersion, oldPw, newPw, c.source);
  }

  /** The rules a new password must meet (not a secret: the page shows them next to the field). */
  passwordPolicy() {
    const p = this.auth.config.password_policy;
    return { min_length: p.min_length, max_length: p.max_length, min_classes: p.min_classes, reject_username: p.reject_username };
  }

  // ---- the users table (admins) ----------------------------------------------------

  private row(v: AccountView): UserRow {
    const last = this.auth.recent.get(v.name)?.at(-1);
    return {
      ...v, access: this.auth.serviceAccess(v.name) ?? {},
      last_refusal: last ? { at: new Date(last.at).toISOString(), service: last.service, source: last.source, reason: last.reason } : null,
    };
  }

  users(): UserRow[] {
    return this.auth.userViews().sort((a, b) => a.name.localeCompare(b.name)).map((v) => this.row(v));
  }

  user(name: string): UserRow {
    const v = this.auth.userView(name);
    if (!v) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${name}"`, 'name');
    return this.row(v);
  }

  serviceNames(): string[] { return Object.keys(this.auth.config.services); }

  private actor(c: Ctx) { return `web:${c.view.name}`; }

  /** Add an account; without a password it gets a one-time password that must be changed at first sign-in. */
  async addUser(c: Ctx, input: { name: string; role?: Role; email?: string | null; full_name?: string; services?: string[]; enabled?: boolean; must_change_password?: boolean }, password: Uint8Array | null) {
    const otp = password ? null : oneTimePassword(this.auth, input.name);
    const pw = password ?? Buffer.from(otp!);
    try {
      const a = await this.auth.addUser({ ...input, must_change_password: otp ? true : input.must_change_password ?? true }, pw, this.actor(c));
      return { user: this.user(a.name), ...(otp ? { one_time_password: otp } : {}) };
    } finally { if (!password) pw.fill(0); }
  }

  /** An admin's edit; their own row re-binds their session when that edit was the only change. */
  async setUser(c: Ctx, name: string, patch: Record<string, unknown>, rid?: number) {
    const own = name === c.view.name;
    const x = await this.auth.setUser(name, patch, this.actor(c), { rid: own ? c.view.rid : rid, ...(own ? { version: c.checkedVersion } : {}) });
    if (own) this.auth.sessions.rebind(c.session, c.checkedVersion, x);
    return { user: this.user(x.name) };
  }

  async delUser(c: Ctx, name: string, rid?: number) {
    await this.auth.delUser(name, this.actor(c), { rid });
    return { deleted: name };
  }

  /** Reset a password (admin): the user must change it at the next sign-in. */
  async resetPassword(c: Ctx, name: string, password: Uint8Array | null, rid?: number) {
    if (!this.auth.userView(name)) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${name}"`, 'name');
    const otp = password ? null : oneTimePassword(this.auth, name);
    const pw = password ?? Buffer.from(otp!);
    try {
      const notIt = { reason: 'unknown_user' as const, message: `${name} was deleted and re-created meanwhile; nothing was changed` };
      const d = await this.auth.setPasswordChecked(name, pw, 'query', this.actor(c), { mustChange: true, allow: (x) => (rid === undefined || x.rid === rid ? null : notIt) });
      if (d.reason === 'unknown_user') throw new NasauthError('NASAUTH_NOT_FOUND', d.message || `no account named "${name}"`, 'name');
      if (d.reason === 'password_rejected') throw new NasauthError('NASAUTH_PASSWORD_POLICY', d.message, 'password');
      if (d.reason !== 'ok') return { decision: d };
      return { user: this.user(name), ...(otp ? { one_time_password: otp } : {}) };
    } finally { if (!password) pw.fill(0); }
  }

  async unlock(c: Ctx, name: string) {
    await this.auth.unlock(name, this.actor(c));
    return { user: this.user(name) };
  }

  async doctor(name: string, service: string | null): Promise<{ diagnosis: Diagnosis }> {
    if (!this.auth.userView(name)) throw new NasauthError('NASAUTH_NOT_FOUND', `no account named "${name}"`, 'name');
    return { diagnosis: await diagnose(this.auth, name, service, this.doctorHooks) };
  }
}
