// Importing an old system's accounts: the plan. Given the parsed sources and the current
// store, decide per account what happens and why, without writing anything; the
// authority applies a plan in one durable change (or not at all, for --dry-run).
// Nothing is lost or invented: every field of every source lands in the store or is
// named in the report.
import { createHash } from 'node:crypto';
import type { Config } from './config';
import type { Sources, PasswdEntry } from './import-parse';
import type { Account, Group, StoreData, Verifiers } from './store';
import { identify, parseLegacy } from './crypt';
import { checkEmail, checkFullName, checkName } from './validate';

export type Outcome = 'create' | 'update' | 'unchanged' | 'skip';
export interface AccountReport {
  name: string;
  outcome: Outcome;
  notes: string[]; // plain words, one per finding
  verifier?: string; // kind only, never the hash
  nt_hash?: boolean;
  email?: string | null;
}
export interface ImportReport {
  sources: Record<string, string>;
  accounts: AccountReport[];
  groups: Array<{ name: string; outcome: Outcome; notes: string[] }>;
  summary: Record<Outcome, number>;
}

/** What the import recorded on an account, so a second import can tell what nasauth changed since. */
export interface ImportMark { at: number; secret_fp: string; email: string | null }
export type ImportedAccount = Account & { imported?: ImportMark };

export interface Plan {
  report: ImportReport;
  accounts: ImportedAccount[]; // create or replace
  groups: Group[];
}

const fp = (v: Verifiers) => createHash('sha256').update(`${v.legacy ?? ''}|${v.nt ?? ''}`).digest('hex').slice(0, 16);

export function planImport(src: Sources, cur: Readonly<StoreData>, cfg: Config, opts: { overwrite: boolean; now: number }): Plan {
  const { uid_min, uid_max } = cfg.accounts;
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

  // who: passwd users in the NAS uid range, plus smbpasswd-only users (with a warning)
  const people: PasswdEntry[] = [];
  const seenUid = new Map<number, string>();
  for (const p of src.passwd) {
    if (p.uid < uid_min || p.uid > uid_max) {
      if (smb.has(p.name) || meta.has(p.name)) rep(p.name).notes.push(`${f.passwd}:${p.line}: uid ${p.uid} is outside the NAS range ${uid_min}-${uid_max} (a system account): not imported`);
      if (reports.has(p.name)) reports.get(p.name)!.outcome = 'skip';
      continue;
    }
    const other = seenUid.get(p.uid);
    if (other) {
      const r = rep(p.name);
      r.outcome = 'skip';
      r.notes.push(`${f.passwd}:${p.line}: uid ${p.uid} is also used by "${other}": not imported (give one of them another uid in the source and import again)`);
      continue;
    }
    seenUid.set(p.uid, p.name);
    people.push(p);
  }
  for (const s of src.smb) {
    if (src.passwd.some((p) => p.name === s.name)) continue;
    const r = rep(s.name);
    if (s.uid < uid_min || s.uid > uid_max) { r.outcome = 'skip'; r.notes.push(`${f.smbpasswd}:${s.line}: only in smbpasswd, with uid ${s.uid} outside the NAS range: not imported`); continue; }
    if (seenUid.has(s.uid)) { r.outcome = 'skip'; r.notes.push(`${f.smbpasswd}:${s.line}: only in smbpasswd, and its uid ${s.uid} belongs to "${seenUid.get(s.uid)}": not imported`); continue; }
    r.notes.push(`${f.smbpasswd}:${s.line}: in smbpasswd but not in passwd: imported with uid ${s.uid} from smbpasswd`);
    seenUid.set(s.uid, s.name);
    people.push({ name: s.name, uid: s.uid, gid: cfg.accounts.default_gid, gecos: '', home: '', shell: '', line: 0 });
  }
  for (const m of src.meta) {
    if (!people.some((p) => p.name === m.name) && !reports.has(m.name)) {
      const r = rep(m.name);
      r.outcome = 'skip';
      r.notes.push(`${f.meta}:${m.line}: metadata for a user in neither passwd nor smbpasswd: not imported`);
    }
  }

  const out: ImportedAccount[] = [];
  let nextRid = cur.next_rid;
  for (const p of people) {
    const r = rep(p.name);
    try { checkName(p.name); } catch (e) {
      r.outcome = 'skip';
      r.notes.push(`${(e as Error).message}: not imported (rename it on the old system or create it by hand)`);
      continue;
    }
    const existing = cur.accounts[p.name] as ImportedAccount | undefined;
    const owner = Object.values(cur.accounts).find((a) => a.uid === p.uid && a.name !== p.name);
    if (owner) { r.outcome = 'skip'; r.notes.push(`uid ${p.uid} already belongs to nasauth account "${owner.name}": not imported`); continue; }
    if (existing && !existing.imported && !opts.overwrite) {
      r.outcome = 'skip';
      r.notes.push(`an account "${p.name}" was created in nasauth (not by an import): kept as it is (use --overwrite to replace it with the old system's)`);
      continue;
    }
    const m = meta.get(p.name);
    const sh = shadow.get(p.name);
    const sm = smb.get(p.name);

    // verifiers: the crypt hash from shadow, the NT hash from smbpasswd
    const v: Verifiers = {};
    let enabled = true;
    if (sh) {
      let h = sh.hash;
      if (h.startsWith('!')) { enabled = false; r.notes.push(`${f.shadow}:${sh.line}: the password is locked ("!") in shadow: imported disabled`); h = h.replace(/^!+/, ''); }
      if (h === '' || h === '*' || h === 'x') {
        if (sh.hash === '') r.notes.push(`${f.shadow}:${sh.line}: empty password field: no password imported from shadow`);
      } else if (identify(h)) {
        const chk = parseLegacy(h);
        if ('error' in chk) r.notes.push(`${f.shadow}:${sh.line}: ${chk.error}: the shadow hash was not imported`);
        else v.legacy = h;
      } else {
        r.notes.push(`${f.shadow}:${sh.line}: unsupported hash format (${/^[./0-9A-Za-z]{13}$/.test(h) ? 'traditional DES crypt' : h.split('$')[1] ? `$${h.split('$')[1]}$` : 'unknown'}): not imported`);
      }
    } else if (src.shadow.length) r.notes.push('no shadow entry');
    if (sm) {
      if (sm.nt) v.nt = sm.nt; else r.notes.push(`${f.smbpasswd}:${sm.line}: no NT hash in smbpasswd`);
      if (sm.flags.includes('D')) { enabled = false; r.notes.push(`${f.smbpasswd}:${sm.line}: disabled in Samba ([D]): imported disabled`); }
      if (sm.uid !== p.uid && p.line) r.notes.push(`${f.smbpasswd}:${sm.line}: smbpasswd says uid ${sm.uid}, passwd says ${p.uid}: passwd wins`);
    }
    if (!v.legacy && !v.nt) r.notes.push('no usable password: the admin must set one (nasauth user passwd)');
    else if (!v.nt) r.notes.push('no NT hash: SMB will fail until this user logs in once elsewhere (PAM, AFP, dashboard) or the admin resets the password');
    else if (!v.legacy && src.shadow.length) r.notes.push('only the NT hash: the first login over PAM/AFP/dashboard upgrades it');
    if (v.legacy && v.nt) r.notes.push('shadow and smbpasswd hashes both kept: the first password that proves either becomes the only one');
    r.verifier = v.legacy ? `legacy:${identify(v.legacy)}` : v.nt ? 'nt-only' : 'none';
    r.nt_hash = !!v.nt;

    let email: string | null = null;
    if (m?.email) {
      try { email = checkEmail(m.email); } catch { r.notes.push(`${f.meta}:${m.line}: e-mail "${m.email}" is not valid: not imported (set it with nasauth user set ${p.name} --email)`); }
    }
    let fullName = (m?.full_name ?? p.gecos.split(',')[0] ?? '').trim();
    try { fullName = checkFullName(fullName); } catch { r.notes.push(`full name "${fullName.slice(0, 40)}" has characters a passwd file cannot hold: not imported`); fullName = ''; }
    if (p.gecos.includes(',')) r.notes.push(`GECOS extra fields "${p.gecos.split(',').slice(1).join(',')}" (room, phones) are not kept by nasauth`);
    let role: 'admin' | 'user' = 'user';
    if (m?.role) {
      if (m.role === 'admin' || m.role === 'user') role = m.role;
      else r.notes.push(`${f.meta}:${m.line}: role "${m.role}" is unknown: imported as user`);
    }
    let services = [...cfg.roles[role].default_services];
    if (m?.services) {
      const unknown = m.services.filter((s) => !cfg.services[s]);
      if (unknown.length) r.notes.push(`${f.meta}:${m.line}: unknown services ${unknown.join(', ')}: left out`);
      services = m.services.filter((s) => cfg.services[s]);
    }
    if (m?.enabled !== undefined) enabled = m.enabled;
    const groups = src.group.filter((g) => g.members.includes(p.name) && g.gid >= uid_min && g.gid <= uid_max).map((g) => g.name).sort();
    const changedAt = sh?.lastChangeDays ? sh.lastChangeDays * 86400000 : sm?.lastChange ?? null;

    const secretFp = fp(v);
    const acct: ImportedAccount = {
      name: p.name, uid: p.uid, gid: p.gid, rid: existing?.rid ?? nextRid, role, email, full_name: fullName, enabled, services,
      groups, verifiers: v, must_change_password: false, password_changed_at: changedAt, lockout_until: null,
      created_at: existing?.created_at ?? opts.now, version: existing ? existing.version + 1 : 1,
      imported: { at: opts.now, secret_fp: secretFp, email },
    };
    if (!existing) {
      nextRid += 1;
      r.outcome = 'create';
      r.email = email;
      out.push(acct);
      continue;
    }
    // Re-import: take the old system's value only where it changed since the last
    // import and nasauth did not change it meanwhile (or --overwrite says so).
    const mark = existing.imported;
    const srcSecretChanged = secretFp !== mark?.secret_fp;
    const nasSecretChanged = !mark || !!existing.verifiers.scrypt || fp(existing.verifiers) !== mark.secret_fp;
    const takeSecret = srcSecretChanged && (opts.overwrite || !nasSecretChanged);
    if (srcSecretChanged && !takeSecret) r.notes.push('the password was set in nasauth since: kept (use --overwrite to take the old system\'s)');
    const srcEmailChanged = email !== (mark ? mark.email : null);
    const nasEmailChanged = !mark || existing.email !== mark.email;
    const takeEmail = srcEmailChanged && (opts.overwrite || !nasEmailChanged) && email !== existing.email;
    if (srcEmailChanged && !takeEmail && email !== existing.email) r.notes.push(`the e-mail was changed in nasauth since: kept "${existing.email ?? ''}" (use --overwrite to take "${email ?? ''}")`);
    const merged: ImportedAccount = {
      ...existing,
      uid: acct.uid, gid: acct.gid, full_name: fullName || existing.full_name,
      email: takeEmail ? email : existing.email,
      verifiers: takeSecret ? v : existing.verifiers,
      imported: { at: mark?.at ?? opts.now, secret_fp: takeSecret || !mark ? secretFp : mark.secret_fp, email: takeEmail || !mark ? email : mark.email },
    };
    const key = (a: ImportedAccount) => JSON.stringify([a.uid, a.gid, a.full_name, a.email, a.verifiers, a.imported?.secret_fp, a.imported?.email]);
    if (key(merged) === key(existing)) { r.outcome = 'unchanged'; r.email = existing.email; continue; }
    merged.version = existing.version + 1;
    r.outcome = 'update';
    r.email = merged.email;
    out.push(merged);
  }

  // groups in the NAS range; members limited to accounts that exist after the import
  const finalNames = new Set([...Object.keys(cur.accounts), ...out.map((a) => a.name)]);
  const groupOut: Group[] = [];
  const groupRep: ImportReport['groups'] = [];
  for (const g of src.group) {
    if (g.gid < uid_min || g.gid > uid_max) continue;
    const notes: string[] = [];
    try { checkName(g.name, 'group'); } catch (e) { groupRep.push({ name: g.name, outcome: 'skip', notes: [(e as Error).message] }); continue; }
    const members = g.members.filter((m) => finalNames.has(m));
    const dropped = g.members.filter((m) => !finalNames.has(m));
    if (dropped.length) notes.push(`members not imported: ${dropped.join(', ')}`);
    const ex = cur.groups[g.name];
    const clash = Object.values(cur.groups).find((x) => x.gid === g.gid && x.name !== g.name);
    if (clash) { groupRep.push({ name: g.name, outcome: 'skip', notes: [`gid ${g.gid} already belongs to group "${clash.name}"`] }); continue; }
    const want: Group = { name: g.name, gid: g.gid, members: [...new Set([...(ex?.members ?? []), ...members])].sort(), version: (ex?.version ?? 0) + 1 };
    if (ex && ex.gid === want.gid && JSON.stringify([...ex.members].sort()) === JSON.stringify(want.members)) { groupRep.push({ name: g.name, outcome: 'unchanged', notes }); continue; }
    groupOut.push(want);
    groupRep.push({ name: g.name, outcome: ex ? 'update' : 'create', notes });
  }

  const accounts = [...reports.values()].sort((a, b) => a.name.localeCompare(b.name));
  const summary: Record<Outcome, number> = { create: 0, update: 0, unchanged: 0, skip: 0 };
  for (const a of accounts) summary[a.outcome] += 1;
  return { report: { sources: f, accounts, groups: groupRep, summary }, accounts: out, groups: groupOut };
}
