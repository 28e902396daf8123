// Names and ids the system already has, outside nasauth. With "passwd: files extrausers"
// the system's entry wins in NSS: a NAS account "_apt" would write files as uid 42, a NAS
// group "users" (gid 1000) would lose to the system's users (gid 100). So nasauth refuses
// names, uids, group names and gids that resolve elsewhere, on every path that makes one
// (user add, group add, import, the first-start admin).
//
// Asked from NSS, not from a fixed list: /etc/passwd and /etc/group are read directly,
// and every other source nsswitch.conf names for the database (ldap, sss, systemd, nis,
// winbind, …) is asked through `getent -s DB:SOURCE`. The extrausers source is skipped:
// those are nasauth's own files. When nsswitch.conf cannot be read, plain getent is asked
// and an answer equal to one of nasauth's own entries is ignored. The systemd source is
// skipped when it has nothing to serve: its users come from PID 1 (dynamic users),
// systemd-homed and userdb drop-in folders; without a running systemd and without those
// folders it only synthesizes root and nobody, which /etc/passwd has (and nasauth reserves).
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NasauthError } from './errors';

export type Db = 'passwd' | 'group';
export interface SystemEntry { db: Db; name: string; id: number; source: string }

/** getent answers in microseconds; a hung directory source must not hold an admin change for long. */
const GETENT_TIMEOUT_MS = 3000;
const OWN_SOURCES = new Set(['files', 'extrausers']);
const USERDB_DIRS = ['/run/systemd/system', '/etc/userdb', '/run/userdb', '/run/host/userdb', '/usr/local/lib/userdb', '/usr/lib/userdb', '/run/systemd/userdb'];
/** whether nss-systemd can know anybody beyond root and nobody here (see above) */
const systemdServes = () => USERDB_DIRS.some((d) => existsSync(d));

function parseLine(db: Db, line: string, source: string): SystemEntry | null {
  const f = line.split(':');
  if (f.length < (db === 'passwd' ? 7 : 4) || !/^\d+$/.test(f[2] ?? '')) return null;
  return { db, name: f[0], id: Number(f[2]), source };
}

/**
 * getent's answer. Exit 2 means some key was not found (the others are still printed).
 * A source that does not answer (timeout, getent missing, another error) makes the check
 * fail closed: nasauth cannot tell whether the name is taken, so nothing is created.
 */
function getent(args: string[], source: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('getent', args, { timeout: GETENT_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout) => {
      if (!err || (err as { code?: unknown }).code === 2) return resolve(stdout);
      reject(new NasauthError('NASAUTH_CONFLICT', `could not ask the system (NSS source ${source}) whether the name or id is taken: ${err.killed ? `no answer within ${GETENT_TIMEOUT_MS / 1000} s` : err.message.split('\n')[0]}; nothing was changed (try again when it answers)`));
    });
  });
}

export class SystemAccounts {
  /**
   * @param etc where passwd, group and nsswitch.conf are read (tests use private mount
   *   namespaces instead; this stays /etc on the device)
   * @param own whether an entry is one of nasauth's own (used only without nsswitch.conf)
   */
  constructor(private etc = '/etc', private own: (e: SystemEntry) => boolean = () => false) {}

  /** The entries of /etc/passwd or /etc/group (read each time: they are small and may change). */
  files(db: Db): SystemEntry[] {
    let text = '';
    try { text = readFileSync(join(this.etc, db), 'utf8'); } catch { return []; }
    const out: SystemEntry[] = [];
    for (const l of text.split('\n')) {
      if (!l || l.startsWith('#') || l.startsWith('+') || l.startsWith('-')) continue;
      const e = parseLine(db, l, 'files');
      if (e) out.push(e);
    }
    return out;
  }

  /** NSS sources for `db` other than files and extrausers; null when nsswitch.conf is unreadable. */
  sources(db: Db): string[] | null {
    let text: string;
    try { text = readFileSync(join(this.etc, 'nsswitch.conf'), 'utf8'); } catch { return null; }
    const line = text.split('\n').map((l) => l.replace(/#.*/, '').trim()).find((l) => l.startsWith(`${db}:`));
    if (!line) return []; // glibc's default for a missing line is files, read above
    return line.slice(db.length + 1).split(/\s+/).filter((w) => w && !w.startsWith('[') && /^[a-z0-9_-]+$/i.test(w) && !OWN_SOURCES.has(w) && (w !== 'systemd' || systemdServes()));
  }

  /** The system's entry for a name or an id in `db`, or null. */
  async lookup(db: Db, key: string | number): Promise<SystemEntry | null> {
    return (await this.lookupMany(db, [key])).get(key) ?? null;
  }

  /**
   * The system's entries for several names and ids at once: the files are read once, and
   * each other source is asked once (getent takes several keys), so an account add costs
   * one getent per extra NSS source, not one per key.
   */
  async lookupMany(db: Db, keys: Array<string | number>): Promise<Map<string | number, SystemEntry>> {
    const out = new Map<string | number, SystemEntry>();
    const match = (e: SystemEntry) => {
      for (const k of keys) if (!out.has(k) && (typeof k === 'number' ? e.id === k : e.name === k)) out.set(k, e);
    };
    for (const e of this.files(db)) match(e);
    let rest = keys.filter((k) => !out.has(k));
    if (!rest.length) return out;
    const srcs = this.sources(db);
    const ask = async (args: string[], source: string) => {
      const text = await getent([...args, db, ...rest.map(String)], source);
      for (const line of text.split('\n')) {
        const e = line ? parseLine(db, line, source) : null;
        if (e && (source !== 'nss' || !this.own(e))) match(e);
      }
      rest = keys.filter((k) => !out.has(k));
    };
    if (srcs === null) await ask([], 'nss');
    else for (const src of srcs) { if (rest.length) await ask(['-s', `${db}:${src}`], src); }
    return out;
  }

  /** Why `name` / `id` cannot be a NAS account (or group), or null when both are free. */
  async clash(db: Db, name: string | null, id: number | null): Promise<string | null> {
    const what = db === 'passwd' ? 'user' : 'group';
    const found = await this.lookupMany(db, [...(name !== null ? [name] : []), ...(id !== null ? [id] : [])]);
    const from = (e: SystemEntry) => (e.source === 'files' ? `/etc/${db}` : `NSS source ${e.source}`);
    const byName = name !== null ? found.get(name) : undefined;
    if (byName) return `the system already has a ${what} "${name}" (${db === 'passwd' ? 'uid' : 'gid'} ${byName.id}, from ${from(byName)}), and it would win over a NAS ${what} of that name`;
    const byId = id !== null ? found.get(id) : undefined;
    if (byId) return `${db === 'passwd' ? 'uid' : 'gid'} ${id} already belongs to the system's ${what} "${byId.name}" (from ${from(byId)})`;
    return null;
  }
}
