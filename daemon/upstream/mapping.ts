// From directory entries to nasauth accounts and groups, and back into the store.
// No I/O here: entries in, plain objects out, store drafts changed in place.
import { createHash } from 'node:crypto';
import type { Entry } from 'ldapts';
import type { Config, UpstreamConfig } from '../config';
import type { Account, Group, Role, StoreData, UpstreamMark } from '../store';
import { peekAccounts } from '../store';
import { checkName } from '../validate';

/** A directory user as nasauth sees it. */
export interface DirUser {
  dn: string;
  name: string;
  uid: number;
  gid: number;
  email: string | null;
  full_name: string;
  /** the directory's sambaNTPassword (32 upper-case hex digits), when it holds one */
  nt: string | null;
  disabled: boolean;
  /** sambaPwdLastSet or pwdChangedTime, when the directory has them */
  pwd_changed: string | null;
  /** directory group DNs from memberOf (group_membership: member_of) */
  member_of: string[];
}
export interface DirGroup { dn: string; name: string; gid: number; member_uids: string[]; member_dns: string[] }

/** Attributes to ask for. */
export function userAttributes(u: UpstreamConfig): string[] {
  const a = u.attributes;
  return [...new Set([a.name, a.uid, a.gid, a.email, ...a.full_name, a.nt_hash, a.acct_flags, a.member_of, 'shadowExpire', 'pwdAccountLockedTime', 'sambaPwdLastSet', 'pwdChangedTime'])];
}
export function groupAttributes(u: UpstreamConfig): string[] {
  const a = u.attributes;
  return [...new Set([a.group_name, a.group_gid, a.member_uid, a.member])];
}

/** The values of an attribute, whatever case the server spelled its name in. */
function values(e: Entry, attr: string): string[] {
  const want = attr.toLowerCase();
  for (const [k, v] of Object.entries(e)) {
    if (k.toLowerCase() !== want || k === 'dn') continue;
    const list = Array.isArray(v) ? v : [v];
    return list.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x)));
  }
  return [];
}
const first = (e: Entry, attr: string) => values(e, attr)[0];

/** Normalised form of a DN for comparisons (case and spaces after separators). */
export function normDn(dn: string): string {
  return dn.trim().toLowerCase().replace(/\s*([,=+])\s*/g, '$1');
}

export type Skip = { dn: string; why: string };

/** A user entry → DirUser, or why it cannot be a NAS account. */
export function toUser(e: Entry, u: UpstreamConfig, now: number): DirUser | Skip {
  const dn = String(e.dn);
  const raw = first(e, u.attributes.name);
  if (!raw) return { dn, why: `no ${u.attributes.name} attribute` };
  const name = raw.toLowerCase();
  try { checkName(name); } catch (err) { return { dn, why: (err as Error).message }; }
  const uid = Number(first(e, u.attributes.uid));
  const gid = Number(first(e, u.attributes.gid));
  if (!Number.isInteger(uid) || uid < u.min_uid || uid > 2 ** 31 - 2) return { dn, why: `${u.attributes.uid} must be an integer from ${u.min_uid} (upstream.min_uid) to 2147483646, got ${first(e, u.attributes.uid) ?? 'none'}` };
  if (!Number.isInteger(gid) || gid < 0 || gid > 2 ** 31 - 2) return { dn, why: `${u.attributes.gid} must be a non-negative integer, got ${first(e, u.attributes.gid) ?? 'none'}` };
  const mail = first(e, u.attributes.email) ?? null;
  const email = mail && /^[^\s@:]{1,64}@[^\s@:]{1,189}$/.test(mail) ? mail : null;
  let full = '';
  for (const a of u.attributes.full_name) { const v = first(e, a); if (v) { full = v; break; } }
  // the GECOS field: no control characters, no ":"
  // eslint-disable-next-line no-control-regex
  full = full.replace(/[\x00-\x1f\x7f:]/g, ' ').slice(0, 256).normalize('NFC');
  const ntRaw = first(e, u.attributes.nt_hash);
  const nt = ntRaw && /^[0-9a-fA-F]{32}$/.test(ntRaw) && !/^0+$/.test(ntRaw) ? ntRaw.toUpperCase() : null;
  const flags = first(e, u.attributes.acct_flags) ?? '';
  const expire = Number(first(e, 'shadowExpire'));
  const disabled = /^\[[^\]]*D/.test(flags)
    || (Number.isInteger(expire) && expire >= 0 && expire * 86_400_000 <= now)
    || values(e, 'pwdAccountLockedTime').length > 0;
  const pwd = first(e, 'pwdChangedTime') ?? first(e, 'sambaPwdLastSet') ?? null;
  return { dn, name, uid, gid, email, full_name: full, nt, disabled, pwd_changed: pwd, member_of: values(e, u.attributes.member_of) };
}

export function toGroup(e: Entry, u: UpstreamConfig): DirGroup | Skip {
  const dn = String(e.dn);
  const raw = first(e, u.attributes.group_name);
  if (!raw) return { dn, why: `no ${u.attributes.group_name} attribute` };
  const name = raw.toLowerCase();
  try { checkName(name, 'group'); } catch (err) { return { dn, why: (err as Error).message }; }
  const gid = Number(first(e, u.attributes.group_gid));
  if (!Number.isInteger(gid) || gid < 1 || gid > 2 ** 31 - 2) return { dn, why: `${u.attributes.group_gid} must be a positive integer, got ${first(e, u.attributes.group_gid) ?? 'none'}` };
  return { dn, name, gid, member_uids: values(e, u.attributes.member_uid).map((x) => x.toLowerCase()), member_dns: values(e, u.attributes.member).map(normDn) };
}

/** sambaPwdLastSet (seconds) or pwdChangedTime (generalized time) in ms, or null. */
export function changedAt(v: string | null): number | null {
  if (!v) return null;
  if (/^\d{1,11}$/.test(v)) return Number(v) * 1000;
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.\d+)?Z$/.exec(v);
  return m ? Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) : null;
}

export const isSkip = (x: unknown): x is Skip => typeof x === 'object' && x !== null && 'why' in x;

export function ntFingerprint(nt: string): string {
  return createHash('sha256').update(`nasauth-nt-seen\0${nt}`).digest('hex').slice(0, 16);
}

/** Role and services from directory group names. */
export function roleAndServices(cfg: Config, groups: string[]): { role: Role; services: string[] } {
  const u = cfg.upstream;
  const lower = new Set(groups.map((g) => g.toLowerCase()));
  const role: Role = u.admin_groups.some((g) => lower.has(g.toLowerCase())) ? 'admin' : 'user';
  const services = new Set(cfg.roles[role].default_services);
  for (const [svc, gs] of Object.entries(u.service_groups)) if (gs.some((g) => lower.has(g.toLowerCase()))) services.add(svc);
  return { role, services: [...services].sort() };
}

/** Equality of account field values: scalars, or arrays of scalars (no JSON garbage per field). */
function same(x: unknown, y: unknown): boolean {
  if (x === y) return true;
  if (!Array.isArray(x) || !Array.isArray(y) || x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** A copy of an account deep enough for applyUser to change freely (it reassigns arrays). */
export function copyForApply(a: Account): Account {
  return { ...a, verifiers: { ...a.verifiers }, upstream: a.upstream ? { ...a.upstream } : undefined };
}

/** uid and gid lookups over a store draft, built once per change (a refresh touches every account). */
export class DraftIndex {
  /** uid → account name (names, not objects: the draft copies an account when it is read) */
  readonly uidName = new Map<number, string>();
  readonly byGid = new Map<number, Group>();
  constructor(private d: StoreData) {
    // read without copying: with 10,000 accounts, copying them all made every login write cost seconds
    for (const a of Object.values(peekAccounts(d))) this.uidName.set(a.uid, a.name);
    for (const g of Object.values(d.groups)) this.byGid.set(g.gid, g);
  }
  /** the draft's account that has `uid`, if any */
  uidOwner(uid: number): Account | undefined {
    const n = this.uidName.get(uid);
    return n === undefined ? undefined : this.d.accounts[n];
  }
}

/** Why a directory name cannot have an account here, or null. */
export function clashOf(d: StoreData, ix: DraftIndex, name: string, uid: number): string | null {
  const a = d.accounts[name];
  if (a && a.source !== 'directory') return `"${name}" is a local account on this NAS; the directory's ${name} cannot sign in here until one of them is renamed`;
  const byUid = ix.uidOwner(uid);
  if (byUid && byUid.name !== name) {
    if (byUid.source !== 'directory') return `uid ${uid} belongs to the local account "${byUid.name}"; the directory's ${name} cannot sign in here until one of them changes`;
    if (!byUid.upstream?.removed_at) return `uid ${uid} is also the directory account "${byUid.name}"`;
  }
  return null;
}

/** changed: something a login, SMB or NSS depends on (the version moves); touched: only nasauth's own marks */
export interface ApplyResult { changed: boolean; created: boolean; touched: boolean }

/**
 * Create or update the local record of a directory user in a store draft. `groups` are
 * the local (directory-sourced) group names the user belongs to. Bumps the version
 * when anything a login, SMB or NSS depends on changed.
 */
export function applyUser(d: StoreData, ix: DraftIndex, cfg: Config, u: DirUser, groups: string[], now: number, opts: { syncMembers: boolean } = { syncMembers: true }): ApplyResult {
  const { role, services } = roleAndServices(cfg, groups);
  let a = d.accounts[u.name];
  let created = false;
  if (!a) {
    const mark: UpstreamMark = { dn: u.dn, seen_at: now, verified_at: null, nt_from: null, nt_seen: null, pwd_changed: u.pwd_changed, disabled: u.disabled, removed_at: null };
    a = {
      name: u.name, uid: u.uid, gid: u.gid, rid: d.next_rid++, role, email: u.email, full_name: u.full_name,
      enabled: !u.disabled, services, groups: [], verifiers: {}, must_change_password: false,
      password_changed_at: null, lockout_until: null, created_at: now, version: 1, source: 'directory', upstream: mark,
    };
    d.accounts[u.name] = a;
    created = true;
  }
  if (a.uid !== u.uid) { if (ix.uidName.get(a.uid) === a.name) ix.uidName.delete(a.uid); ix.uidName.set(u.uid, a.name); }
  else ix.uidName.set(u.uid, a.name);
  const m = a.upstream!;
  const marks = [m.pwd_changed, m.nt_seen, m.nt_from];
  let changed = created;
  const set = <K extends keyof Account>(k: K, v: Account[K]) => {
    if (!same(a[k], v)) { a[k] = v; changed = true; }
  };
  set('uid', u.uid); set('gid', u.gid); set('role', role); set('email', u.email); set('full_name', u.full_name);
  set('services', services); set('enabled', !u.disabled);
  if (m.dn !== u.dn) { m.dn = u.dn; changed = true; }
  if (m.disabled !== u.disabled) { m.disabled = u.disabled; changed = true; }
  if (m.removed_at) { m.removed_at = null; changed = true; }
  // the password changed in the directory (not through this NAS): the old one must
  // stop working here too, offline and over SMB, until the next online login
  if (u.pwd_changed !== m.pwd_changed) {
    // only a change after the directory last accepted a password here makes ours stale
    const at = changedAt(u.pwd_changed);
    const after = at === null || m.verified_at === null || at > m.verified_at;
    if (m.pwd_changed !== null && u.pwd_changed !== null && after && (a.verifiers.scrypt || m.nt_from === 'login')) {
      const keepNt = m.nt_from === 'directory';
      a.verifiers = keepNt && a.verifiers.nt ? { nt: a.verifiers.nt } : {};
      if (!keepNt) m.nt_from = null;
      changed = true;
    }
    m.pwd_changed = u.pwd_changed;
  }
  // the directory's Samba hash: taken when first seen and no other is held, and
  // whenever it changes (someone set a new password somewhere else)
  if (u.nt) {
    const fp = ntFingerprint(u.nt);
    if (fp !== m.nt_seen) {
      const first = m.nt_seen === null;
      if (!first || !a.verifiers.nt) {
        if (a.verifiers.nt !== u.nt) {
          if (!first && a.verifiers.scrypt) delete a.verifiers.scrypt; // a new password elsewhere
          a.verifiers = { ...a.verifiers, nt: u.nt };
          changed = true;
        }
        m.nt_from = 'directory';
      }
      m.nt_seen = fp;
    }
  } else if (m.nt_from === 'directory' && m.nt_seen !== null) {
    // the directory dropped its Samba hash: so do we
    const v = { ...a.verifiers };
    delete v.nt;
    a.verifiers = v;
    m.nt_from = null;
    m.nt_seen = null;
    changed = true;
  }
  // groups: the account's list and each group's member list agree
  const want = new Set(groups.filter((g) => d.groups[g]?.source === 'directory'));
  const keepLocal = a.groups.filter((g) => d.groups[g] && d.groups[g].source !== 'directory');
  const next = [...keepLocal, ...[...want].sort()];
  if (!same(next, a.groups)) {
    if (opts.syncMembers) {
      for (const g of Object.values(d.groups)) {
        if (g.source !== 'directory') continue;
        const has = g.members.includes(a.name);
        if (want.has(g.name) !== has) { g.members = has ? g.members.filter((x) => x !== a.name) : [...g.members, a.name]; g.version += 1; }
      }
    }
    a.groups = next;
    changed = true;
  }
  m.seen_at = now;
  if (changed && !created) a.version += 1;
  return { changed, created, touched: !same(marks, [m.pwd_changed, m.nt_seen, m.nt_from]) };
}

/** Create or update a directory group in a draft; false when a local group holds the name or gid. */
export function applyGroup(d: StoreData, ix: DraftIndex, g: DirGroup): { ok: boolean; why?: string } {
  const cur = d.groups[g.name];
  if (cur && cur.source !== 'directory') return { ok: false, why: `"${g.name}" is a local group on this NAS` };
  const gidUser = ix.byGid.get(g.gid);
  if (gidUser && gidUser.name !== g.name) return { ok: false, why: `gid ${g.gid} belongs to the group "${gidUser.name}"` };
  if (!cur) {
    const grp: Group = { name: g.name, gid: g.gid, members: [], version: 1, source: 'directory', dn: g.dn };
    d.groups[g.name] = grp;
    ix.byGid.set(g.gid, grp);
  } else if (cur.gid !== g.gid || cur.dn !== g.dn) {
    if (ix.byGid.get(cur.gid) === cur) ix.byGid.delete(cur.gid);
    ix.byGid.set(g.gid, cur);
    cur.gid = g.gid;
    cur.dn = g.dn;
    cur.version += 1;
  }
  return { ok: true };
}

/** The account was not found by a complete refresh (or by a login's search). */
export function markRemoved(a: Account, now: number): boolean {
  if (!a.upstream || a.upstream.removed_at) return false;
  a.upstream.removed_at = now;
  a.enabled = false;
  a.version += 1;
  return true;
}
