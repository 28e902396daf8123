// Importing an old system's accounts: the plan. Given the parsed sources, the current
// store and what the system already has (resolved beforehand, so the plan stays pure),
// decide per account what happens and why, without writing anything; the authority
// applies a plan in one durable change (or not at all, for --dry-run).
// Nothing is lost or invented: every field of every source lands in the store or is
// named in the report, and every choice the import makes on its own is in the report too.
import { createHash } from 'node:crypto';
import type { Config } from './config';
import type { Sources, PasswdEntry } from './import-parse';
import type { Account, Group, StoreData, Verifiers } from './store';
import { identify, parseLegacy } from './crypt';
import { EMPTY_NT_HASH } from './password';
import { checkEmail, checkFullName, checkName } from './validate';
import { NasauthError } from './errors';

export type Outcome = 'create' | 'update' | 'unchanged' | 'skip';
export interface AccountReport {
  name: string; // the old system's name
  outcome: Outcome;
  notes: string[]; // plain words, one per finding or choice
  verifier?: string; // kind only, never the hash
  nt_hash?: boolean;
  email?: string | null;
  /** the nasauth name when it differs from the old one */
  as?: string;
  uid?: number;
  /** this account is the old owner, carried over onto the first-start admin */
  owner?: boolean;
}
export interface ImportReport {
  sources: Record<string, string>;
  accounts: AccountReport[];
  groups: Array<{ name: string; outcome: Outcome; notes: string[]; as?: string; gid?: number }>;
  summary: Record<Outcome, number>;
  /** every e-mail of the old system that is not in nasauth after this import, and why */
  emails_not_carried: Array<{ name: string; email: string; why: string }>;
  /** how the old owner was recognised, or why none was */
  owner: { name: string | null; why: string; carried_onto?: string };
}

/** What the import recorded on an account, so a second import can tell what nasauth changed since. */
export interface ImportMark { at: number; secret_fp: string; email: string | null; from?: string }
export type ImportedAccount = Account & { imported?: ImportMark };

export interface Plan {
  report: ImportReport;
  accounts: ImportedAccount[]; // create or replace
  groups: Group[];
  /** store keys to remove first (the first-start admin, when the owner carried over takes another name) */
  remove: string[];
}

/** The admin's own choices (CLI options), keyed by the old system's names. */
export interface ImportChoices {
  rename?: Record<string, string>;
  uid?: Record<string, number>;
  renameGroup?: Record<string, string>;
  owner?: string;
}

/** What the system (NSS outside nasauth) and the verifiers said, resolved before planning. */
export interface ImportContext {
  /** system users and groups by name and by id (only what matters to this import) */
  sysUsers: Map<string, number>;
  sysUids: Map<number, string>;
  sysGroups: Map<string, number>;
  sysGids: Map<number, string>;
  /** free ids in the NAS range, lowest first (free in the system; the plan skips those the store uses) */
  freeUids: number[];
  freeGids: number[];
  /** names whose shadow hash is the hash of the empty password */
  emptyLegacy: Set<string>;
}

export const emptyContext = (): ImportContext => ({ sysUsers: new Map(), sysUids: new Map(), sysGroups: new Map(), sysGids: new Map(), freeUids: [], freeGids: [], emptyLegacy: new Set() });

/** Groups an old NAS firmware puts its administrators in. */
export const OLD_ADMIN_GROUPS = ['administrators', 'admins', 'admin'];

const fp = (v: Verifiers) => createHash('sha256').update(`${v.legacy ?? ''}|${v.nt ?? ''}`).digest('hex').slice(0, 16);

/** The first-start admin while nobody has used it yet (its one-time password never changed). */
export function untouchedFirstAdmin(cur: Readonly<StoreData>, cfg: Config): Account | undefined {
  return Object.values(cur.accounts).find((a) => (a as ImportedAccount).imported === undefined && a.must_change_password && a.role === 'admin' &&
    (a.first_start === true || (a.name === cfg.first_start.admin_name && a.email === null && a.full_name === 'Administrator')));
}

/** Every name, uid, group name and gid the plan may ask the system about. */
export function importKeys(src: Sources, choices: ImportChoices): { names: string[]; uids: number[]; groups: string[]; gids: number[] } {
  const names = new Set<string>();
  for (const p of [...src.passwd, ...src.smb]) { names.add(p.name); names.add(p.name.toLowerCase()); }
  for (const v of Object.values(choices.rename ?? {})) names.add(v);
  const groups = new Set<string>();
  for (const g of src.group) groups.add(g.name);
  for (const v of Object.values(choices.renameGroup ?? {})) groups.add(v);
  return {
    names: [...names],
    uids: [...new Set([...src.passwd.map((p) => p.uid), ...src.smb.map((s) => s.uid), ...Object.values(choices.uid ?? {})])],
    groups: [...groups],
    gids: [...new Set(src.group.map((g) => g.gid))],
  };
}

export function planImport(src: Sources, cur: Readonly<StoreData>, cfg: Config, opts: { overwrite: boolean; now: number } & ImportChoices, ctx: ImportContext = emptyContext()): Plan {
  const { uid_min, uid_max, default_gid } = cfg.accounts;
  const inRange = (n: number) => n >= uid_min && n <= uid_max;
  const reports = new Map<string, AccountReport>();
  const rep = (name: string) => {
    let r = reports.get(name);
    if (!r) { r = { name, outcome: 'create', notes: [] }; reports.set(name, r); }
    return r;
  };
  const shadow = new Map(src.shadow.map((s) => [s.name, s]));
  const smb = new Map(src.smb.map((s) => [s.name, s]));
  const meta = new Map(src.meta.map((m) => [m.name, m]));
  const f = src.files;
  const rename = opts.rename ?? {};
  const uidChoice = opts.uid ?? {};
  const renameGroup = opts.renameGroup ?? {};
  const notCarried: ImportReport['emails_not_carried'] = [];
  // an option that names nobody is a typo: refuse the whole import rather than ignore it
  const known = new Set([...src.passwd.map((p) => p.name), ...src.smb.map((x) => x.name)]);
  for (const [opt, m] of [['--rename', rename], ['--uid', uidChoice]] as const) {
    for (const k of Object.keys(m)) if (!known.has(k)) throw new NasauthError('NASAUTH_INVALID_FIELD', `${opt} ${k}=…: the old system has no account "${k}" (names are as in its passwd/smbpasswd); nothing was imported`, opt.slice(2));
  }
  if (opts.owner !== undefined && !known.has(opts.owner)) throw new NasauthError('NASAUTH_INVALID_FIELD', `--owner ${opts.owner}: the old system has no account "${opts.owner}"; nothing was imported`, 'owner');
  for (const k of Object.keys(renameGroup)) if (!src.group.some((g) => g.name === k)) throw new NasauthError('NASAUTH_INVALID_FIELD', `--rename-group ${k}=…: the old system has no group "${k}"; nothing was imported`, 'rename_group');

  // ---- who: every passwd entry, plus smbpasswd-only users --------------------------
  const all: PasswdEntry[] = [...src.passwd];
  for (const s of src.smb) {
    if (src.passwd.some((p) => p.name === s.name)) continue;
    rep(s.name).notes.push(`${f.smbpasswd}:${s.line}: in smbpasswd but not in passwd: imported with uid ${s.uid} from smbpasswd`);
    all.push({ name: s.name, uid: s.uid, gid: default_gid, gecos: '', home: '', shell: '', line: 0 });
  }
  const disabledAtSource = (n: string) => !!shadow.get(n)?.hash.startsWith('!') || !!smb.get(n)?.flags.includes('D') || meta.get(n)?.enabled === false;
  const oldAdminGroups = src.group.filter((g) => OLD_ADMIN_GROUPS.includes(g.name.toLowerCase()));

  // ---- the old owner ---------------------------------------------------------------
  // The owner is the account with the admin role (metadata) or in the old admin group,
  // not whatever is named "admin": firmwares keep a disabled built-in admin beside the
  // real owner. The name decides only when nothing else does.
  let owner: PasswdEntry | undefined;
  let ownerWhy = '';
  const alsoOwners: string[] = [];
  if (opts.owner !== undefined) {
    owner = all.find((p) => p.name === opts.owner);
    ownerWhy = owner ? `named with --owner ${opts.owner}` : `--owner ${opts.owner}: no such account in the sources`;
  } else {
    const score = (p: PasswdEntry) => {
      const why: string[] = [];
      let s = 0;
      if (meta.get(p.name)?.role === 'admin') { s += 4; why.push(`role admin in ${f.meta}`); }
      const g = oldAdminGroups.find((x) => x.members.includes(p.name) || x.gid === p.gid);
      if (g) { s += 2; why.push(`member of the old admin group "${g.name}"`); }
      if (p.name.toLowerCase() === 'admin' || p.name === cfg.first_start.admin_name) { s += 1; why.push('named admin'); }
      if (s && !disabledAtSource(p.name)) s += 8; // an enabled account beats a disabled built-in
      return { s, why };
    };
    const ranked = all.map((p) => ({ p, ...score(p) })).filter((x) => x.s > 0).sort((a, b) => b.s - a.s || a.p.uid - b.p.uid);
    if (ranked.length) {
      owner = ranked[0].p;
      ownerWhy = ranked[0].why.join(', ') + (disabledAtSource(owner.name) ? ' (disabled on the old system)' : '');
      for (const x of ranked.slice(1)) if (x.s >= 4 + 8 || x.s === ranked[0].s) alsoOwners.push(x.p.name);
    } else ownerWhy = `no account has the admin role in the metadata, is in an old admin group (${OLD_ADMIN_GROUPS.join(', ')}) or is named admin`;
  }
  const firstAdmin = untouchedFirstAdmin(cur, cfg);
  if (owner) { all.splice(all.indexOf(owner), 1); all.unshift(owner); } // its choices come first

  // ---- NAS groups (gid in the NAS range): names and gids first, members after the accounts
  interface GroupPlan { g: Sources['group'][number]; name: string; gid: number; notes: string[]; ex?: Group }
  const groupPlans: GroupPlan[] = [];
  const groupRep: ImportReport['groups'] = [];
  const gidMap = new Map<number, number>(); // old gid → nasauth gid
  const mergedIntoDefault = new Set<number>();
  const takenGids = new Set<number>();
  let freeGidIdx = 0;
  const nextFreeGid = () => {
    while (freeGidIdx < ctx.freeGids.length) {
      const gd = ctx.freeGids[freeGidIdx++];
      if (!takenGids.has(gd) && !Object.values(cur.groups).some((x) => x.gid === gd) && !src.group.some((x) => x.gid === gd)) return gd;
    }
    return null;
  };
  for (const g of src.group) {
    if (!inRange(g.gid)) continue;
    const notes: string[] = [];
    let gname = renameGroup[g.name] ?? g.name;
    if (renameGroup[g.name]) notes.push(`renamed to "${gname}" (--rename-group ${g.name}=${gname})`);
    try { checkName(gname, 'group'); } catch (e) {
      const lower = gname.toLowerCase();
      let ok = false;
      try { checkName(lower, 'group'); ok = lower !== gname; } catch { /* not only the case */ }
      if (!ok) { groupRep.push({ name: g.name, outcome: 'skip', notes: [`${(e as Error).message} (import it under another name with --rename-group ${g.name}=NEWNAME)`] }); continue; }
      notes.push(`upper-case letters: imported as "${lower}"`);
      gname = lower;
    }
    const sysGid = ctx.sysGroups.get(gname);
    const ex = cur.groups[gname];
    if (sysGid !== undefined && !ex) {
      if (sysGid === default_gid) {
        mergedIntoDefault.add(g.gid);
        groupRep.push({ name: g.name, outcome: 'skip', notes: [...notes, `the system already has a group "${gname}" (gid ${sysGid}), and it is the NAS default group every account is in: the old group (gid ${g.gid}) is merged into it; accounts whose primary group it was get gid ${default_gid} (files on the old disks with gid ${g.gid} need chgrp ${default_gid}); or import it under another name with --rename-group ${g.name}=NEWNAME`] });
      } else {
        groupRep.push({ name: g.name, outcome: 'skip', notes: [...notes, `the system already has a group "${gname}" (gid ${sysGid}), which would win over a NAS group of that name: not imported (import it under another name with --rename-group ${g.name}=NEWNAME); its members were ${g.members.join(', ') || 'none'}`] });
      }
      continue;
    }
    if (groupPlans.some((x) => x.name === gname)) { groupRep.push({ name: g.name, outcome: 'skip', notes: [...notes, `another group is already imported as "${gname}" (choose another name with --rename-group ${g.name}=NEWNAME)`] }); continue; }
    let gid = ex?.gid ?? g.gid;
    const gidTaken = (x: number) => ctx.sysGids.has(x) || Object.values(cur.groups).some((o) => o.gid === x && o.name !== gname) || takenGids.has(x);
    if (!ex && gidTaken(gid)) {
      const why = ctx.sysGids.has(gid) ? `gid ${gid} belongs to the system's group "${ctx.sysGids.get(gid)}"` : `gid ${gid} already belongs to another NAS group`;
      const ng = nextFreeGid();
      if (ng === null) { groupRep.push({ name: g.name, outcome: 'skip', notes: [...notes, `${why}, and no free gid is left: not imported`] }); continue; }
      notes.push(`${why}: imported with gid ${ng} (files on the old disks with gid ${gid} need chgrp ${ng})`);
      gid = ng;
    }
    takenGids.add(gid);
    gidMap.set(g.gid, gid);
    groupPlans.push({ g, name: gname, gid, notes, ex });
  }
  const existingGids = new Set(Object.values(cur.groups).map((x) => x.gid));
  /** the nasauth primary gid for an old one, and the note when it had to change */
  const primaryGid = (old: number): [number, string | null] => {
    if (old === default_gid) return [old, null];
    if (gidMap.has(old)) return [gidMap.get(old)!, null];
    if (mergedIntoDefault.has(old)) return [default_gid, null];
    if (existingGids.has(old) && inRange(old)) return [old, null];
    const sys = ctx.sysGids.get(old);
    return [default_gid, `primary gid ${old}${sys ? ` (the system's group "${sys}")` : ''} is not a NAS group: mapped to the NAS default group (gid ${default_gid})${old === 0 ? '; gid 0 is root\'s group and is never given to a NAS account' : ''}`];
  };

  // ---- uids and names handed out in this plan -------------------------------------
  const takenUids = new Map<number, string>(); // uid → nasauth name, for this plan
  const takenNames = new Set<string>();
  const sourceUids = new Set(all.map((p) => p.uid));
  let freeIdx = 0;
  let carriedFrom: Account | undefined; // the first-start admin once the owner is carried onto it: its old uid is free
  const storeUidOwner = (uid: number, except: Set<string>) => Object.values(cur.accounts).find((a) => a.uid === uid && !except.has(a.name) && a !== carriedFrom);
  const nextFreeUid = (except: Set<string>): number | null => {
    while (freeIdx < ctx.freeUids.length) {
      const u = ctx.freeUids[freeIdx++];
      // never one the old system used: that account would then lose its own uid
      if (!takenUids.has(u) && !storeUidOwner(u, except) && !Object.values(uidChoice).includes(u) && !sourceUids.has(u)) return u;
    }
    return null;
  };

  const out: ImportedAccount[] = [];
  const remove: string[] = [];
  let nextRid = cur.next_rid;
  const accountOldToNew = new Map<string, string>(); // old name → nasauth name, for accounts in nasauth after this import
  let carriedOnto: string | undefined;

  for (const p of all) {
    const m = meta.get(p.name);
    const sm = smb.get(p.name);
    const isOwner = owner === p;
    // accounts outside the NAS uid range are the system's, unless something says they are
    // people: the owner, an smbpasswd or metadata entry, or the admin's --uid
    if (!inRange(p.uid) && !isOwner && !sm && !m && uidChoice[p.name] === undefined) continue;
    const r = rep(p.name);
    const lostEmail = (why: string) => {
      if (m?.email) notCarried.push({ name: p.name, email: m.email, why });
    };
    const skip = (note: string) => { r.outcome = 'skip'; r.notes.push(note); lostEmail(note); };

    // the nasauth name
    const carry = isOwner && firstAdmin !== undefined;
    const prev = Object.values(cur.accounts).find((a) => (a as ImportedAccount).imported?.from === p.name) as ImportedAccount | undefined;
    let name = rename[p.name] ?? prev?.name ?? p.name;
    if (rename[p.name] === undefined && !prev) {
      try { checkName(name); } catch {
        const lower = p.name.toLowerCase();
        let ok = false;
        try { checkName(lower); ok = lower !== p.name; } catch { /* not only the case */ }
        if (ok) { name = lower; r.notes.push(`the name "${p.name}" has upper-case letters, which nasauth (like Samba and POSIX) does not use: imported as "${lower}"; ${p.name} still logs in as "${p.name}" (names are not case-sensitive at login)`); }
      }
    } else if (rename[p.name] !== undefined) r.notes.push(`renamed to "${name}" (--rename ${p.name}=${name})`);
    try { checkName(name); } catch (e) {
      skip(`${(e as Error).message}: not imported (import it under another name with --rename ${p.name}=NEWNAME)`);
      continue;
    }
    const sysUid = ctx.sysUsers.get(name);
    if (sysUid !== undefined && !prev) {
      if (carry) {
        r.notes.push(`the system already has a user "${name}" (uid ${sysUid}): the old owner keeps the name of the first-start admin, "${firstAdmin.name}"`);
        name = firstAdmin.name;
      } else {
        skip(`the system already has a user "${name}" (uid ${sysUid}), which would win over a NAS account of that name: not imported (import it under another name with --rename ${p.name}=NEWNAME)`);
        continue;
      }
    }
    if (takenNames.has(name)) {
      skip(`another account of the old system is already imported as "${name}": not imported (choose another name with --rename ${p.name}=NEWNAME)`);
      continue;
    }

    // which nasauth account this becomes
    let existing = (prev ?? (remove.includes(name) ? undefined : cur.accounts[name])) as ImportedAccount | undefined;
    if (carry) {
      existing = firstAdmin as ImportedAccount;
      if (cur.accounts[name] && cur.accounts[name] !== firstAdmin) {
        r.notes.push(`an account "${name}" already exists in nasauth: the old owner keeps the name of the first-start admin, "${firstAdmin.name}"`);
        name = firstAdmin.name;
      }
    } else if (existing && !existing.imported && !opts.overwrite) {
      skip(`an account "${name}" was created in nasauth (not by an import): kept as it is (use --overwrite to replace it with the old system's, or --rename ${p.name}=NEWNAME to import it beside)`);
      continue;
    }
    const mine = new Set<string>(existing ? [existing.name] : []);

    // the uid: the admin's choice, else the old one when it is free, else a free one (reported)
    let uid: number;
    const oldUid = p.uid;
    const chosen = uidChoice[p.name];
    const problem = (u: number): string | null => {
      if (!inRange(u)) return `uid ${u} is outside the NAS range ${uid_min}-${uid_max} (accounts.uid_min/uid_max)`;
      const other = takenUids.get(u);
      if (other) return `uid ${u} is also used by "${other}" on the old system`;
      const so = storeUidOwner(u, mine);
      if (so) return `uid ${u} already belongs to nasauth account "${so.name}"`;
      const sys = ctx.sysUids.get(u);
      if (sys !== undefined) return `uid ${u} belongs to the system's user "${sys}"`;
      return null;
    };
    if (chosen !== undefined) {
      const why = problem(chosen);
      if (why) { skip(`--uid ${p.name}=${chosen}: ${why}: not imported`); continue; }
      uid = chosen;
      if (chosen !== oldUid) r.notes.push(`uid ${chosen} (--uid ${p.name}=${chosen}; it had ${oldUid}: files it owns on the old disks need chown)`);
    } else if (existing?.imported && existing.uid !== oldUid && !problem(existing.uid)) {
      uid = existing.uid; // a uid chosen by an earlier import stays
    } else if (carry && !inRange(oldUid) && !sourceUids.has(firstAdmin.uid)) {
      uid = firstAdmin.uid;
      r.notes.push(`uid ${oldUid} is below the NAS range (${uid_min}-${uid_max}): keeps the first-start admin's uid ${uid} (files it owns on the old disks need chown -R ${uid})`);
    } else {
      const why = problem(oldUid);
      if (!why) uid = oldUid;
      else {
        const u = carry && !problem(firstAdmin.uid) && !sourceUids.has(firstAdmin.uid) ? firstAdmin.uid : nextFreeUid(mine);
        if (u === null) { skip(`${why}, and no free uid is left in the NAS range: not imported`); continue; }
        uid = u;
        r.notes.push(`${why}: imported with uid ${u} (choose another with --uid ${p.name}=N; files it owns on the old disks need chown)`);
      }
    }

    // verifiers: the crypt hash from shadow, the NT hash from smbpasswd
    const sh = shadow.get(p.name);
    const v: Verifiers = {};
    let enabled = true;
    if (sh) {
      let h = sh.hash;
      if (h.startsWith('!')) { enabled = false; r.notes.push(`${f.shadow}:${sh.line}: the password is locked ("!") in shadow: imported disabled`); h = h.replace(/^!+/, ''); }
      if (h === '' || h === '*' || h === 'x') {
        if (sh.hash === '') r.notes.push(`${f.shadow}:${sh.line}: empty password field: no password imported from shadow (nasauth never accepts an empty password)`);
      } else if (identify(h)) {
        const chk = parseLegacy(h);
        if ('error' in chk) r.notes.push(`${f.shadow}:${sh.line}: ${chk.error}: the shadow hash was not imported`);
        else if (ctx.emptyLegacy.has(p.name)) r.notes.push(`${f.shadow}:${sh.line}: the shadow hash is that of an empty password: not imported (nasauth never accepts an empty password)`);
        else v.legacy = h;
      } else {
        r.notes.push(`${f.shadow}:${sh.line}: unsupported hash format (${/^[./0-9A-Za-z]{13}$/.test(h) ? 'traditional DES crypt' : h.split('$')[1] ? `$${h.split('$')[1]}$` : 'unknown'}): not imported`);
      }
    } else if (src.shadow.length) r.notes.push('no shadow entry');
    if (sm) {
      if (sm.flags.includes('N')) r.notes.push(`${f.smbpasswd}:${sm.line}: Samba's "no password required" flag ([N]): the old box let this account in without a password; nasauth never does, so no password was imported from smbpasswd`);
      else if (sm.nt === EMPTY_NT_HASH) r.notes.push(`${f.smbpasswd}:${sm.line}: the NT hash is that of an empty password (the old box let this account in without one): not imported (nasauth never accepts an empty password)`);
      else if (sm.nt) v.nt = sm.nt;
      else r.notes.push(`${f.smbpasswd}:${sm.line}: no NT hash in smbpasswd`);
      if (sm.flags.includes('D')) { enabled = false; r.notes.push(`${f.smbpasswd}:${sm.line}: disabled in Samba ([D]): imported disabled`); }
      if (sm.uid !== oldUid && p.line) r.notes.push(`${f.smbpasswd}:${sm.line}: smbpasswd says uid ${sm.uid}, passwd says ${oldUid}: passwd wins`);
    }
    if (!v.legacy && !v.nt) r.notes.push(`no usable password: nobody can log in as ${name} until the admin sets one (nasauth user passwd ${name})`);
    else if (!v.nt) r.notes.push(`no NT hash: SMB and Time Machine work after ${name} has logged in once on the web page (or AFP, FTP), or after the admin sets a new password`);
    else if (!v.legacy && src.shadow.length) r.notes.push('only the NT hash: the first login over PAM/AFP/dashboard upgrades it');
    if (v.legacy && v.nt) r.notes.push('shadow and smbpasswd hashes both kept: the first plaintext login that proves either replaces the other');
    r.verifier = v.legacy ? `legacy:${identify(v.legacy)}` : v.nt ? 'nt-only' : 'none';
    r.nt_hash = !!v.nt;

    let email: string | null = null;
    if (m?.email) {
      try { email = checkEmail(m.email); } catch {
        r.notes.push(`${f.meta}:${m.line}: e-mail "${m.email}" is not valid: not imported (set it with nasauth user set ${name} --email)`);
        notCarried.push({ name: p.name, email: m.email, why: 'not a valid e-mail address' });
      }
    }
    let fullName = (m?.full_name ?? p.gecos.split(',')[0] ?? '').trim();
    try { fullName = checkFullName(fullName); } catch { r.notes.push(`full name "${fullName.slice(0, 40)}" has characters a passwd file cannot hold: not imported`); fullName = ''; }
    if (p.gecos.includes(',')) r.notes.push(`GECOS extra fields "${p.gecos.split(',').slice(1).join(',')}" (room, phones) are not kept by nasauth`);
    let role: 'admin' | 'user' = isOwner ? 'admin' : 'user';
    if (m?.role) {
      if (m.role === 'admin' || m.role === 'user') role = isOwner ? 'admin' : m.role;
      else r.notes.push(`${f.meta}:${m.line}: role "${m.role}" is unknown: imported as ${role}`);
    }
    if (!isOwner && role === 'user' && oldAdminGroups.some((g) => g.members.includes(p.name))) {
      role = 'admin';
      r.notes.push(`member of the old admin group: imported with the admin role`);
    }
    let services = [...cfg.roles[role].default_services];
    if (m?.services) {
      const unknown = m.services.filter((s) => !cfg.services[s]);
      if (unknown.length) r.notes.push(`${f.meta}:${m.line}: unknown services ${unknown.join(', ')}: left out`);
      services = m.services.filter((s) => cfg.services[s]);
    }
    if (m?.enabled !== undefined) enabled = m.enabled;
    const [gid, gidNote] = primaryGid(p.gid);
    if (gidNote) r.notes.push(gidNote);
    const changedAt = sh?.lastChangeDays ? sh.lastChangeDays * 86400000 : sm?.lastChange ?? null;

    takenUids.set(uid, name);
    takenNames.add(name);
    if (name !== p.name) r.as = name;
    r.uid = uid;
    const secretFp = fp(v);
    const mark: ImportMark = { at: opts.now, secret_fp: secretFp, email, from: p.name };
    const acct: ImportedAccount = {
      name, uid, gid, rid: existing?.rid ?? nextRid, role, email, full_name: fullName, enabled, services,
      groups: [], verifiers: v, must_change_password: false, password_changed_at: changedAt, lockout_until: null,
      created_at: existing?.created_at ?? opts.now, version: existing ? existing.version + 1 : 1,
      ...(v.nt ? { nt_confirmed: false } : {}),
      imported: mark,
    };
    accountOldToNew.set(p.name, name);

    if (carry) {
      // the old owner onto the first-start admin: its rid stays, everything the owner had
      // comes over, and the one-time password (with its must-change flag) is gone
      r.owner = true;
      r.outcome = 'update';
      r.email = email;
      r.notes.unshift(`the old owner (${ownerWhy}): carried over onto the first-start admin "${firstAdmin.name}": password, e-mail, full name, groups; the one-time password no longer works${name !== firstAdmin.name ? `; the account is now named "${name}"` : ''}`);
      if (!fullName) acct.full_name = firstAdmin.full_name;
      if (!m?.services) acct.services = [...new Set([...firstAdmin.services, ...services])];
      acct.groups = [...firstAdmin.groups];
      carriedOnto = firstAdmin.name;
      carriedFrom = firstAdmin;
      if (name !== firstAdmin.name) remove.push(firstAdmin.name);
      out.push(acct);
      continue;
    }
    if (isOwner) r.notes.unshift(`the old owner (${ownerWhy}): imported with the admin role${firstAdmin ? '' : ' (no untouched first-start admin to carry it onto)'}`);
    if (!existing) {
      nextRid += 1;
      r.outcome = 'create';
      r.email = email;
      out.push(acct);
      continue;
    }
    // Re-import (or --overwrite): take the old system's value only where it changed since
    // the last import and nasauth did not change it meanwhile (or --overwrite says so).
    const last = existing.imported;
    const srcSecretChanged = secretFp !== last?.secret_fp;
    const nasSecretChanged = !last || !!existing.verifiers.scrypt || fp(existing.verifiers) !== last.secret_fp;
    const takeSecret = srcSecretChanged && (opts.overwrite || !nasSecretChanged);
    if (srcSecretChanged && !takeSecret) r.notes.push('the password was set in nasauth since: kept (use --overwrite to take the old system\'s)');
    const srcEmailChanged = email !== (last ? last.email : null);
    const nasEmailChanged = !last || existing.email !== last.email;
    const takeEmail = srcEmailChanged && (opts.overwrite || !nasEmailChanged) && email !== existing.email;
    if (srcEmailChanged && !takeEmail && email !== existing.email) r.notes.push(`the e-mail was changed in nasauth since: kept "${existing.email ?? ''}" (use --overwrite to take "${email ?? ''}")`);
    const merged: ImportedAccount = {
      ...existing,
      uid: acct.uid, gid: acct.gid, full_name: fullName || existing.full_name,
      email: takeEmail ? email : existing.email,
      verifiers: takeSecret ? v : existing.verifiers,
      // the old system's password has no "must change" (an --overwrite of a first-start admin had one)
      must_change_password: takeSecret ? false : existing.must_change_password,
      ...(takeSecret ? { nt_confirmed: v.nt ? false : undefined } : {}),
      imported: { at: last?.at ?? opts.now, secret_fp: takeSecret || !last ? secretFp : last.secret_fp, email: takeEmail || !last ? email : last.email, from: p.name },
    };
    if (takeSecret && !v.nt) delete merged.nt_confirmed;
    const key = (a: ImportedAccount) => JSON.stringify([a.uid, a.gid, a.full_name, a.email, a.verifiers, a.must_change_password, a.imported?.secret_fp, a.imported?.email, a.imported?.from]);
    if (key(merged) === key(existing)) { r.outcome = 'unchanged'; r.email = existing.email; continue; }
    merged.version = existing.version + 1;
    r.outcome = 'update';
    r.email = merged.email;
    out.push(merged);
  }
  for (const mt of src.meta) {
    if (!all.some((p) => p.name === mt.name) && !reports.has(mt.name)) {
      const r = rep(mt.name);
      r.outcome = 'skip';
      r.notes.push(`${f.meta}:${mt.line}: metadata for a user in neither passwd nor smbpasswd: not imported`);
      if (mt.email) notCarried.push({ name: mt.name, email: mt.email, why: 'metadata for a user in neither passwd nor smbpasswd' });
    }
  }

  // ---- group members: the accounts of the old system that are in nasauth after this import
  const groupOut: Group[] = [];
  for (const gp of groupPlans) {
    const { g, ex } = gp;
    const members = g.members.filter((x) => accountOldToNew.has(x)).map((x) => accountOldToNew.get(x)!);
    const dropped = g.members.filter((x) => !accountOldToNew.has(x));
    if (dropped.length) gp.notes.push(`members not imported: ${dropped.join(', ')}`);
    const want: Group = { name: gp.name, gid: gp.gid, members: [...new Set([...(ex?.members ?? []).filter((x) => !remove.includes(x)), ...members])].sort(), version: (ex?.version ?? 0) + 1 };
    const rg = { name: g.name, notes: gp.notes, ...(gp.name !== g.name ? { as: gp.name } : {}), gid: gp.gid };
    if (ex && ex.gid === want.gid && JSON.stringify([...ex.members].sort()) === JSON.stringify(want.members)) { groupRep.push({ ...rg, outcome: 'unchanged' }); continue; }
    groupOut.push(want);
    groupRep.push({ ...rg, outcome: ex ? 'update' : 'create' });
  }
  // new accounts get their NAS groups here; existing ones keep theirs, and the authority
  // adds the memberships of groupOut when it applies the plan
  for (const a of out) if (!cur.accounts[a.name] || remove.includes(a.name)) a.groups = [...new Set([...a.groups, ...groupOut.filter((g) => g.members.includes(a.name)).map((g) => g.name)])].sort();

  const accounts = [...reports.values()].sort((a, b) => a.name.localeCompare(b.name));
  const summary: Record<Outcome, number> = { create: 0, update: 0, unchanged: 0, skip: 0 };
  for (const a of accounts) summary[a.outcome] += 1;
  const ownerRep: ImportReport['owner'] = { name: owner?.name ?? null, why: ownerWhy + (alsoOwners.length ? `; also candidates: ${alsoOwners.join(', ')} (choose with --owner NAME)` : ''), ...(carriedOnto ? { carried_onto: carriedOnto } : {}) };
  return { report: { sources: f, accounts, groups: groupRep, summary, emails_not_carried: notCarried, owner: ownerRep }, accounts: out, groups: groupOut, remove };
}
