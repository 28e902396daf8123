// The account store: one file, replaced atomically and durably before a change is
// acknowledged. Layout of the file:
//   line 1: {"format":"nasauth-store","schema":1,"sha256":"<hex of the rest>","length":N}
//   rest:   the JSON of StoreData (exactly N bytes)
// A torn or damaged file fails the length/checksum test and is refused; it is never
// overwritten. Each write first keeps the current good file as store.json.prev.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { NasauthError } from './errors';

export const STORE_SCHEMA = 1;
export type Role = 'admin' | 'user';

export interface Verifiers {
  scrypt?: string; // PHC string
  nt?: string; // NT hash, 32 upper-case hex digits
  legacy?: string; // imported crypt(3) hash, until the first plaintext login upgrades it
}
export interface Account {
  name: string;
  uid: number;
  gid: number;
  rid: number; // Samba RID; the SID is domain_sid-rid
  role: Role;
  email: string | null;
  full_name: string;
  enabled: boolean;
  services: string[];
  groups: string[];
  verifiers: Verifiers;
  must_change_password: boolean;
  password_changed_at: number | null; // ms since epoch
  lockout_until: number | null; // ms since epoch; persisted only when a lockout starts
  created_at: number;
  version: number; // bumped by every change; the cache is tied to it
  // ---- optional (schema 1 files without them load as before) ----
  /**
   * false: the NT hash came from an import and no plaintext login has confirmed it yet
   * (an old Samba may have made it from the wrong bytes); true: a plaintext login proved
   * it (or replaced it). Absent: made by nasauth from a plaintext, or imported before
   * this field existed (see ntConfirmed()).
   */
  nt_confirmed?: boolean;
  /** the account the first start created with a one-time password (an import may carry the old owner onto it) */
  first_start?: boolean;
  /** absent: a local account; 'directory': followed from the upstream directory (daemon/upstream/) */
  source?: 'directory';
  upstream?: UpstreamMark;
}
/** What nasauth remembers of a directory account (docs/directory.md). Times in ms since epoch. */
export interface UpstreamMark {
  dn: string;
  /** the directory last confirmed the account (an online login or a refresh found it) */
  seen_at: number;
  /** the directory last accepted a password of this account (a bind as the user) */
  verified_at: number | null;
  /** where the NT hash in verifiers.nt comes from */
  nt_from: 'directory' | 'login' | null;
  /** fingerprint of the directory's sambaNTPassword last taken, to see it change */
  nt_seen: string | null;
  /** the directory's sambaPwdLastSet / pwdChangedTime last seen, to see a password change */
  pwd_changed: string | null;
  /** the directory says the account is disabled */
  disabled: boolean;
  /** a refresh no longer found the account */
  removed_at: number | null;
}
/** Whether the NT hash SMB uses is known to match the password (see Account.nt_confirmed). */
export function ntConfirmed(a: Account & { imported?: unknown }): boolean {
  if (a.nt_confirmed !== undefined) return a.nt_confirmed;
  return !(a.imported && !a.verifiers.scrypt);
}
export interface Group {
  name: string; gid: number; members: string[]; version: number;
  /** absent: a local group; 'directory': followed from the upstream directory */
  source?: 'directory';
  dn?: string;
}
export interface StoreData {
  domain_sid: string;
  next_rid: number;
  generation: number;
  accounts: Record<string, Account>;
  groups: Record<string, Group>;
  /** the last complete refresh from the upstream directory (ms since epoch) */
  upstream_refreshed_at?: number;
}

const FORMAT = 'nasauth-store';

export function emptyStore(): StoreData {
  const sub = randomBytes(12);
  const sid = `S-1-5-21-${sub.readUInt32LE(0)}-${sub.readUInt32LE(4)}-${sub.readUInt32LE(8)}`;
  return { domain_sid: sid, next_rid: 1000, generation: 0, accounts: Object.create(null), groups: Object.create(null) };
}

export function encodeStore(d: StoreData): Buffer {
  return encode(d).bytes;
}

/** The file's bytes and the SHA-256 of its content (what its header names). */
function encode(d: StoreData): { bytes: Buffer; sha256: string } {
  const body = Buffer.from(JSON.stringify(d));
  const sha256 = createHash('sha256').update(body).digest('hex');
  const head = Buffer.from(JSON.stringify({ format: FORMAT, schema: STORE_SCHEMA, sha256, length: body.length }) + '\n');
  return { bytes: Buffer.concat([head, body]), sha256 };
}

export function decodeStore(buf: Buffer, file: string): StoreData {
  return decode(buf, file).data;
}

/** The data and the SHA-256 of the file's content (checked against its header). */
function decode(buf: Buffer, file: string): { data: StoreData; sha256: string } {
  const bad = (why: string): never => {
    throw new NasauthError('NASAUTH_STORE_CORRUPT',
      `${file}: ${why}. The file was left as it is. The previous good copy is ${file}.prev; ` +
      'inspect both, then restore one by copying it over the store while the daemon is stopped.');
  };
  const nl = buf.indexOf(0x0a);
  if (nl < 0 || nl > 512) bad('no valid header (not a nasauth store, or truncated)');
  let head: { format?: unknown; schema?: unknown; sha256?: unknown; length?: unknown };
  try {
    head = JSON.parse(buf.subarray(0, nl).toString('utf8'));
  } catch {
    return bad('the header is not valid JSON');
  }
  if (head.format !== FORMAT) bad('not a nasauth store (wrong format tag)');
  if (head.schema !== STORE_SCHEMA) bad(`schema ${String(head.schema)} is not supported by this version (expects ${STORE_SCHEMA})`);
  const body = buf.subarray(nl + 1);
  if (body.length !== head.length) bad(`truncated or padded: ${body.length} bytes where the header says ${String(head.length)}`);
  const sha256 = createHash('sha256').update(body).digest('hex');
  if (sha256 !== head.sha256) bad('checksum mismatch (the content was damaged)');
  let d: StoreData;
  try {
    d = JSON.parse(body.toString('utf8'));
  } catch {
    return bad('the content is not valid JSON');
  }
  const isMap = (x: unknown) => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isMap(d) || !isMap(d.accounts) || !isMap(d.groups) || typeof d.domain_sid !== 'string') {
    bad('the content does not have the store layout');
  }
  // Plain objects from JSON, made null-prototype so that a name like "constructor" can never
  // find Object.prototype's (JSON.parse makes "__proto__" an own property, as Object.assign
  // onto a null-prototype object does). Changing the prototype in place instead of copying
  // saves a copy of 10 000 properties at a start (docs/performance.md).
  Object.setPrototypeOf(d.accounts, null);
  Object.setPrototypeOf(d.groups, null);
  return { data: d, sha256 };
}

/**
 * Write `data` to `file` durably: temp file, fsync, keep previous, rename, fsync dir.
 *
 * `onSynced` (files the daemon renders again from the store at every start, i.e. the NSS
 * files): the temp file is renamed into place at once, so readers see the whole new file
 * as before, and the two fsyncs (file and folder, about 2-3 ms on the start's path) run on
 * the thread pool afterwards, `onSynced(err)` when done. A crash in those few ms can leave
 * the file empty on disk; the next start compares it with the store and writes it again
 * before it is ready, so nothing is lost that the store does not hold.
 */
export function writeDurable(file: string, data: Buffer, mode = 0o600, keepPrev = true, onSynced?: (err: Error | null) => void): void {
  const dir = join(file, '..');
  const tmp = `${file}.tmp`;
  let fd = -1;
  try {
    try { fs.unlinkSync(tmp); } catch { /* none left over */ }
    fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, mode);
    fs.fchmodSync(fd, mode); // exactly `mode`, whatever the umask (NSS files are 0644 under the init script's umask 077)
    let off = 0;
    while (off < data.length) off += fs.writeSync(fd, data, off, data.length - off);
    if (!onSynced) {
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      fd = -1;
    }
    if (keepPrev && fs.existsSync(file)) {
      // keep the last good copy: hard link, so the live file is never missing
      try { fs.unlinkSync(`${file}.prev.tmp`); } catch { /* none */ }
      fs.linkSync(file, `${file}.prev.tmp`);
      fs.renameSync(`${file}.prev.tmp`, `${file}.prev`);
    }
    fs.renameSync(tmp, file);
    if (onSynced) {
      const f = fd;
      fd = -1;
      syncLater(f, dir, onSynced);
      return;
    }
    const dfd = fs.openSync(dir, 'r');
    try { fs.fsyncSync(dfd); } finally { fs.closeSync(dfd); }
  } catch (e) {
    if (fd >= 0) try { fs.closeSync(fd); } catch { /* ignore */ }
    try { fs.unlinkSync(tmp); } catch { /* ignore */ }
    throw new NasauthError('NASAUTH_STORE_IO', `could not write ${file}: ${(e as Error).message}; nothing was changed`);
  }
}

/** fsync `fd` (then close it) and the folder `dir`, on the thread pool. */
function syncLater(fd: number, dir: string, done: (err: Error | null) => void) {
  fs.fsync(fd, (e1) => {
    fs.close(fd, () => {
      if (e1) return done(e1);
      fs.open(dir, 'r', (e2, dfd) => {
        if (e2) return done(e2);
        fs.fsync(dfd, (e3) => fs.close(dfd, () => done(e3)));
      });
    });
  });
}

/** drafts' copy-on-read account views → the plain objects behind them */
const draftTargets = new WeakMap<object, Record<string, Account>>();

/**
 * The accounts of `d` for reading only, without copying them: inside a mutate() `fn`,
 * reading through `d.accounts` copies each account it touches (so that it can be changed);
 * a scan that only looks (a uid check, an index) reads them here instead. Never change
 * what this returns.
 */
export function peekAccounts(d: StoreData): Readonly<Record<string, Readonly<Account>>> {
  return draftTargets.get(d.accounts) ?? d.accounts;
}

export class Store {
  readonly file: string;
  private data: StoreData;
  private byUid = new Map<number, string>();
  /** the accounts in the store's order, made once per change (a for-in over 10 000 keys is 1-2 ms each time) */
  private list: Account[] = [];
  private count = 0;
  private sha: string;
  private chain: Promise<unknown> = Promise.resolve();
  onChange: (d: StoreData) => void = () => {};

  private constructor(file: string, data: StoreData, sha: string) {
    this.file = file;
    this.data = data;
    this.sha = sha;
    this.index();
  }

  /** Open the store in `dir`; creates an empty one only when no store file exists at all. */
  static open(dir: string): { store: Store; created: boolean } {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const file = join(dir, 'store.json');
    let buf: Buffer | null = null;
    try {
      buf = fs.readFileSync(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new NasauthError('NASAUTH_STORE_CORRUPT', `${file}: cannot be read: ${(e as Error).message}`);
      }
    }
    if (buf === null) {
      if (fs.existsSync(`${file}.prev`)) {
        throw new NasauthError('NASAUTH_STORE_CORRUPT', `${file} is missing but ${file}.prev exists: refusing to start with an empty store. Restore the store (copy ${file}.prev to ${file}) or remove ${file}.prev to start afresh.`);
      }
      const d = emptyStore();
      const enc = encode(d);
      writeDurable(file, enc.bytes);
      return { store: new Store(file, d, enc.sha256), created: true };
    }
    const st = fs.statSync(file);
    if ((st.mode & 0o077) !== 0) fs.chmodSync(file, 0o600);
    const dec = decode(buf, file);
    return { store: new Store(file, dec.data, dec.sha256), created: false };
  }

  private index() {
    this.byUid.clear();
    const list: Account[] = [];
    const accounts = this.data.accounts;
    for (const k in accounts) { const a = accounts[k]; this.byUid.set(a.uid, a.name); list.push(a); }
    this.list = list;
    this.count = list.length;
  }

  /** How many accounts, counted when the data changes (health answers it on every poll). */
  get accountCount(): number { return this.count; }

  get snapshot(): Readonly<StoreData> { return this.data; }
  get generation(): number { return this.data.generation; }
  /** The SHA-256 of the store file's content as it is on disk now (its header's): what the data is, in 64 characters. */
  get contentSha(): string { return this.sha; }
  account(name: string): Account | undefined { return this.data.accounts[name]; }
  accountByUid(uid: number): Account | undefined {
    const n = this.byUid.get(uid);
    return n === undefined ? undefined : this.data.accounts[n];
  }
  accounts(): Account[] { return this.list.slice(); }
  /** The accounts in the store's order without a copy: never change the array (or the accounts outside mutate()). */
  accountList(): readonly Readonly<Account>[] { return this.list; }
  group(name: string): Group | undefined { return this.data.groups[name]; }
  groups(): Group[] { return Object.values(this.data.groups); }

  /**
   * Apply `fn` to a copy of the data and make it durable; the in-memory state changes
   * only after the file is on disk. Changes are serialised. `fn` may throw to abort.
   *
   * The copy is made as `fn` reads it: an account is deep-copied the first time `fn`
   * reads it from `d.accounts` (a change to one account among 10 000 copies one, not
   * 10 000; enumerating `d.accounts` copies every account it reads). Groups and the
   * other fields are copied whole (few and small). Unchanged accounts are shared between
   * the old and the new data: nothing may change an account outside mutate().
   */
  mutate<T>(fn: (d: StoreData) => T): Promise<T> {
    const run = async () => {
      const live = this.data.accounts;
      const { accounts: _omit, ...rest } = this.data;
      const draft = structuredClone(rest) as StoreData;
      draft.groups = Object.assign(Object.create(null), draft.groups);
      const accounts: Record<string, Account> = Object.assign(Object.create(null), live);
      const view = new Proxy(accounts, {
        get(t, k) {
          const v = Reflect.get(t, k);
          if (typeof k !== 'string' || v === undefined || v !== live[k]) return v;
          const copy = structuredClone(v);
          t[k] = copy;
          return copy;
        },
      });
      draftTargets.set(view, accounts);
      draft.accounts = view;
      let result: T;
      try { result = fn(draft); } finally { draft.accounts = accounts; }
      draft.generation += 1;
      const enc = encode(draft);
      writeDurable(this.file, enc.bytes);
      this.data = draft;
      this.sha = enc.sha256;
      this.index();
      try { this.onChange(draft); } catch { /* listeners must not undo a durable change */ }
      return result;
    };
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }
}
