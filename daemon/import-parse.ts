// Reading an old NAS's account files (a copy of its root or config folder). Pure parsing:
// every problem is reported with the file and line; nothing is guessed silently.
// Sources: etc/passwd, etc/shadow, etc/group, Samba's smbpasswd (same format as
// `pdbedit -L -w`), and nasauth's metadata file (YAML or CSV) with e-mail, full name,
// role and services, which old firmwares keep in places of their own (docs/import.md).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';

export const MAX_SOURCE_BYTES = 8 * 1024 * 1024; // a NAS has hundreds of users, not millions

export class ImportSourceError extends Error {
  constructor(readonly file: string, readonly line: number, message: string) {
    super(`${file}${line ? `:${line}` : ''}: ${message}`);
  }
}

export interface PasswdEntry { name: string; uid: number; gid: number; gecos: string; home: string; shell: string; line: number }
export interface ShadowEntry { name: string; hash: string; lastChangeDays: number | null; line: number }
export interface GroupEntry { name: string; gid: number; members: string[]; line: number }
export interface SmbEntry { name: string; uid: number; nt: string | null; flags: string; lastChange: number | null; line: number }
export interface MetaEntry { name: string; email?: string | null; full_name?: string; role?: string; services?: string[]; enabled?: boolean; line: number }

export interface Sources {
  dir: string;
  files: Record<string, string>; // kind → path used
  passwd: PasswdEntry[];
  shadow: ShadowEntry[];
  group: GroupEntry[];
  smb: SmbEntry[];
  meta: MetaEntry[];
}

const CANDIDATES: Record<string, string[]> = {
  passwd: ['etc/passwd', 'passwd'],
  shadow: ['etc/shadow', 'shadow'],
  group: ['etc/group', 'group'],
  smbpasswd: ['etc/samba/smbpasswd', 'var/lib/samba/private/smbpasswd', 'etc/samba/private/smbpasswd', 'smbpasswd', 'pdbedit.txt'],
  meta: ['nasauth-users.yaml', 'etc/nasauth-users.yaml', 'nasauth-users.csv', 'etc/nasauth-users.csv'],
};

function readText(file: string): string[] {
  const st = statSync(file);
  if (!st.isFile()) throw new ImportSourceError(file, 0, 'not a regular file');
  if (st.size > MAX_SOURCE_BYTES) throw new ImportSourceError(file, 0, `larger than ${MAX_SOURCE_BYTES / 1048576} MiB; this is not an account file`);
  const buf = readFileSync(file);
  const nul = buf.indexOf(0);
  if (nul >= 0) throw new ImportSourceError(file, buf.subarray(0, nul).toString('latin1').split('\n').length, 'binary data (a NUL byte); is this the right file?');
  let text: string;
  try { text = new TextDecoder('utf-8', { fatal: true }).decode(buf); } catch {
    // old firmwares wrote GECOS in Latin-1; keep it readable rather than refuse
    text = buf.toString('latin1');
  }
  return text.split('\n');
}

function fields(file: string, line: string, n: number | number[], i: number, what: string): string[] {
  const f = line.split(':');
  const ok = Array.isArray(n) ? n.includes(f.length) : f.length === n;
  if (!ok) throw new ImportSourceError(file, i, `${what} lines have ${Array.isArray(n) ? n.join(' or ') : n} fields separated by ":", this one has ${f.length}`);
  return f;
}

function int(file: string, i: number, v: string, what: string): number {
  if (!/^\d{1,10}$/.test(v) || Number(v) > 2 ** 32 - 1) throw new ImportSourceError(file, i, `${what} "${v.slice(0, 20)}" is not a number`);
  return Number(v);
}

function eachLine(file: string, fn: (line: string, i: number) => void) {
  readText(file).forEach((raw, idx) => {
    const line = raw.replace(/\r$/, '');
    if (line === '' || line.startsWith('#')) return;
    fn(line, idx + 1);
  });
}

export function parsePasswd(file: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  eachLine(file, (line, i) => {
    if (line.startsWith('+') || line.startsWith('-')) return; // NIS compat markers
    const f = fields(file, line, 7, i, 'passwd');
    out.push({ name: f[0], uid: int(file, i, f[2], 'uid'), gid: int(file, i, f[3], 'gid'), gecos: f[4], home: f[5], shell: f[6], line: i });
  });
  return out;
}

export function parseShadow(file: string): ShadowEntry[] {
  const out: ShadowEntry[] = [];
  eachLine(file, (line, i) => {
    const f = fields(file, line, 9, i, 'shadow');
    out.push({ name: f[0], hash: f[1], lastChangeDays: f[2] === '' ? null : int(file, i, f[2], 'last change'), line: i });
  });
  return out;
}

export function parseGroup(file: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  eachLine(file, (line, i) => {
    const f = fields(file, line, 4, i, 'group');
    out.push({ name: f[0], gid: int(file, i, f[2], 'gid'), members: f[3] ? f[3].split(',').filter(Boolean) : [], line: i });
  });
  return out;
}

/** smbpasswd / `pdbedit -L -w`: name:uid:LM:NT:[flags]:LCT-XXXXXXXX: */
export function parseSmbpasswd(file: string): SmbEntry[] {
  const out: SmbEntry[] = [];
  eachLine(file, (line, i) => {
    const f = fields(file, line, [6, 7], i, 'smbpasswd');
    const nt = f[3];
    if (!/^([0-9A-Fa-f]{32}|X{32}|\*{32}|NO PASSWORDXXXXXXXXXXXXXXXXXXXXX)$/.test(nt)) throw new ImportSourceError(file, i, 'the NT hash field must be 32 hex digits (or 32 X for none)');
    if (!/^\[[A-Z ]{1,16}\]$/.test(f[4])) throw new ImportSourceError(file, i, `the account flags field "${f[4].slice(0, 20)}" is not like [U          ]`);
    const lct = /^LCT-([0-9A-Fa-f]{8})$/.exec(f[5]);
    out.push({
      name: f[0], uid: int(file, i, f[1], 'uid'),
      nt: /^[0-9A-Fa-f]{32}$/.test(nt) ? nt.toUpperCase() : null,
      flags: f[4].slice(1, -1).replace(/ /g, ''), lastChange: lct ? parseInt(lct[1], 16) * 1000 : null, line: i,
    });
  });
  return out;
}

const META_KEYS = ['email', 'full_name', 'role', 'services', 'enabled'];

export function parseMeta(file: string): MetaEntry[] {
  if (file.endsWith('.csv')) return parseMetaCsv(file);
  const text = readText(file).join('\n');
  let v: { users?: unknown } | null;
  try {
    const doc = parseDocument(text, { uniqueKeys: true });
    if (doc.errors.length) {
      const e = doc.errors[0];
      throw new ImportSourceError(file, e.linePos?.[0].line ?? 0, `not valid YAML: ${e.message.split('\n')[0]}`);
    }
    v = doc.toJS({ maxAliasCount: 10 }) as { users?: unknown } | null;
  } catch (e) {
    // the yaml library throws on what it cannot resolve (an alias before its anchor) and
    // runs out of stack on absurd nesting: both are a broken file, said as such (fuzzed)
    if (e instanceof ImportSourceError) throw e;
    throw new ImportSourceError(file, 0, e instanceof RangeError ? 'not valid YAML: nested too deeply' : `not valid YAML: ${(e as Error).message.split('\n')[0].slice(0, 200)}`);
  }
  if (!v || typeof v !== 'object' || !v.users || typeof v.users !== 'object' || Array.isArray(v.users)) {
    throw new ImportSourceError(file, 1, 'expected a mapping "users:" of user name → { email, full_name, role, services, enabled }');
  }
  const lineOf = (name: string) => {
    const idx = text.split('\n').findIndex((l) => new RegExp(`^\\s+${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*:`).test(l));
    return idx + 1;
  };
  return Object.entries(v.users as Record<string, unknown>).map(([name, x]) => {
    const line = lineOf(name);
    if (x === null) return { name, line };
    if (typeof x !== 'object' || Array.isArray(x)) throw new ImportSourceError(file, line, `users.${name}: expected a mapping`);
    const o = x as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!META_KEYS.includes(k)) throw new ImportSourceError(file, line, `users.${name}.${k}: unknown key (known: ${META_KEYS.join(', ')})`);
    if (o.services !== undefined && (!Array.isArray(o.services) || o.services.some((s) => typeof s !== 'string'))) throw new ImportSourceError(file, line, `users.${name}.services: expected a list of service names`);
    if (o.enabled !== undefined && typeof o.enabled !== 'boolean') throw new ImportSourceError(file, line, `users.${name}.enabled: expected true or false`);
    for (const k of ['email', 'full_name', 'role']) if (o[k] !== undefined && o[k] !== null && typeof o[k] !== 'string') throw new ImportSourceError(file, line, `users.${name}.${k}: expected text`);
    return { name, line, ...(o as Omit<MetaEntry, 'name' | 'line'>) };
  });
}

/** CSV with a header: name,email,full_name,role,services,enabled (services separated by ";" or spaces). */
function parseMetaCsv(file: string): MetaEntry[] {
  const rows: Array<{ cells: string[]; line: number }> = [];
  const lines = readText(file);
  // RFC 4180 quoting, as spreadsheets write it
  let cells: string[] = [];
  let cur = '';
  let q = false;
  let startLine = 1;
  for (let li = 0; li < lines.length; li++) {
    const l = lines[li].replace(/\r$/, '');
    if (!q) { cells = []; cur = ''; startLine = li + 1; if (l.trim() === '') continue; }
    for (let i = 0; i < l.length; i++) {
      const c = l[i];
      if (q) {
        if (c === '"' && l[i + 1] === '"') { cur += '"'; i++; } else if (c === '"') q = false; else cur += c;
      } else if (c === '"') q = true;
      else if (c === ',') { cells.push(cur); cur = ''; } else cur += c;
    }
    if (q) { cur += '\n'; continue; }
    cells.push(cur);
    rows.push({ cells, line: startLine });
  }
  if (q) throw new ImportSourceError(file, startLine, 'a quoted field is not closed');
  if (!rows.length) return [];
  const head = rows[0].cells.map((h) => h.trim().toLowerCase());
  if (head[0] !== 'name') throw new ImportSourceError(file, 1, 'the first line must be a header starting with "name" (name,email,full_name,role,services,enabled)');
  for (const h of head.slice(1)) if (!META_KEYS.includes(h)) throw new ImportSourceError(file, 1, `unknown column "${h}" (known: name, ${META_KEYS.join(', ')})`);
  return rows.slice(1).map(({ cells, line }) => {
    if (cells.length !== head.length) throw new ImportSourceError(file, line, `${cells.length} columns where the header has ${head.length}`);
    const e: MetaEntry = { name: cells[0].trim(), line };
    head.forEach((h, i) => {
      const v = cells[i].trim();
      if (i === 0 || v === '') return;
      if (h === 'services') e.services = v.split(/[;\s]+/).filter(Boolean);
      else if (h === 'enabled') {
        if (!/^(yes|no|true|false|1|0)$/i.test(v)) throw new ImportSourceError(file, line, `enabled must be yes or no, not "${v}"`);
        e.enabled = /^(yes|true|1)$/i.test(v);
      } else (e as unknown as Record<string, string>)[h] = v;
    });
    return e;
  });
}

/** Find and parse every known source under `dir`. A source that is present but broken stops the import. */
export function readSources(dir: string, explicit: Partial<Record<keyof typeof CANDIDATES, string>> = {}): Sources {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ImportSourceError(dir, 0, 'not a directory');
  const files: Record<string, string> = {};
  for (const [kind, names] of Object.entries(CANDIDATES)) {
    const given = explicit[kind as keyof typeof CANDIDATES];
    const found = given ?? names.map((n) => join(dir, n)).find((p) => existsSync(p));
    if (found) files[kind] = found;
  }
  if (!files.passwd && !files.smbpasswd) throw new ImportSourceError(dir, 0, 'no etc/passwd and no smbpasswd found: nothing to import');
  return {
    dir, files,
    passwd: files.passwd ? parsePasswd(files.passwd) : [],
    shadow: files.shadow ? parseShadow(files.shadow) : [],
    group: files.group ? parseGroup(files.group) : [],
    smb: files.smbpasswd ? parseSmbpasswd(files.smbpasswd) : [],
    meta: files.meta ? parseMeta(files.meta) : [],
  };
}
