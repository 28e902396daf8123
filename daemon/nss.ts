// NSS view of the NAS accounts: smbd and afpd call getpwnam() before they ask for a
// password, and the session uid comes from NSS. The daemon renders its accounts and
// groups as passwd/group files in libnss-extrausers' format, atomically on every change
// (nsswitch.conf: "passwd: files extrausers", "group: files extrausers"). System
// accounts stay in /etc/passwd, untouched. uid/gid here are exactly the store's, which
// the LDAP view serves too. The group file also holds the service groups the authority
// renders (smb.conf admits shares through them), from Authority.nssView().
import type { NssView } from './authority';
import { writeDurable } from './store';
import { inOrder } from './order';
import { VERSION } from './version';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A full name as a passwd field: ':' and newlines would split the line. */
function gecos(s: string): string {
  return s.indexOf(':') < 0 && s.indexOf('\n') < 0 ? s : s.replace(/[:\n]/g, ' ');
}

/**
 * The passwd file, ordered by uid. Built in pieces of 256 lines joined as it goes: each
 * line is a string made of several parts, and holding all 10 000 until one final join
 * made the young generation copy and promote them all (a start with 10k accounts spent
 * twice as long here as the lines themselves cost; docs/performance.md).
 */
export function renderPasswd(d: NssView, homeBase: string, shell: string): string {
  // the store keeps accounts in the order they were made, which is mostly uid order
  const all = inOrder(d.list ?? Object.values(d.accounts), (a, b) => a.uid - b.uid);
  const pieces: string[] = [];
  let lines: string[] = [];
  for (const a of all) {
    lines.push(`${a.name}:x:${a.uid}:${a.gid}:${gecos(a.full_name)}:${homeBase}/${a.name}:${shell}\n`);
    if (lines.length === 256) { pieces.push(lines.join('')); lines = []; }
  }
  pieces.push(lines.join(''));
  return pieces.join('');
}

export function renderGroup(d: NssView): string {
  return Object.values(d.groups)
    .sort((a, b) => a.gid - b.gid)
    .map((g) => `${g.name}:x:${g.gid}:${g.members.join(',')}\n`)
    .join('');
}

/**
 * Write a file durably unless it already holds exactly these bytes with mode 0644: a
 * restart, or a store change that touches nothing NSS shows (a lockout, an e-mail), then
 * costs a read instead of a temp file and two fsyncs (docs/performance.md). The new file
 * is in place when this returns; its fsyncs run afterwards (`onSynced`; see writeDurable:
 * the files are rendered from the store, and a start renders them again unless NssFiles'
 * stamp, written only once both are on disk, says they are what this store renders).
 */
function writeIfChanged(file: string, data: Buffer, onSynced: (err: Error | null) => void) {
  try {
    const st = statSync(file);
    if (st.isFile() && st.size === data.length && (st.mode & 0o777) === 0o644 && readFileSync(file).equals(data)) return onSynced(null);
  } catch { /* missing or unreadable: write it */ }
  writeDurable(file, data, 0o644, false, onSynced);
}

/**
 * Render the passwd and group files into `dir`; `onSyncError` hears of an fsync that
 * failed after the files were in place, `onDurable` (once) that both are on disk.
 */
export function writeNss(dir: string, d: NssView, homeBase: string, shell: string, onSyncError: (file: string, err: Error) => void = () => {}, onDurable: () => void = () => {}) {
  if (mkdirSync(dir, { recursive: true, mode: 0o755 })) chmodSync(dir, 0o755); // readable by every process, whatever the umask
  let pending = 2;
  let failed = false;
  for (const [name, text] of [['passwd', renderPasswd(d, homeBase, shell)], ['group', renderGroup(d)]]) {
    const file = join(dir, name);
    writeIfChanged(file, Buffer.from(text), (err) => {
      if (err) { failed = true; onSyncError(file, err); }
      if (--pending === 0 && !failed) onDurable();
    });
  }
}

/** Bump when the files hold something else for the same store, config and code. */
const NSS_FORMAT = 1;
const RENDER_CODE = [renderPasswd, renderGroup, gecos, writeNss].map(String);
const FILES = ['passwd', 'group'];

/** What a file is now: anything that writes, replaces, truncates or chmods it changes its ctime, which no one can set back. */
function fileMark(file: string): string {
  const st = statSync(file, { bigint: true });
  return `${st.dev}:${st.ino}:${st.size}:${st.mode}:${st.uid}:${st.ctimeNs}`;
}

/**
 * The NSS files, rendered only when what they show may have changed. Rendering 10 000
 * accounts (the service groups' members, the passwd lines, comparing with the files) is
 * about 14 ms of a 140 ms start on x86, and a restart used to pay it to find the files
 * unchanged. A stamp in the state folder (root only) holds the digest of everything the
 * files are rendered from (`inputs`: the store's content hash, the config and the code;
 * Authority.nssInputs) and what each file was once both were in place and on disk
 * (device, inode, size, mode, owner, ctime). A start whose digest and files match the
 * stamp renders nothing; anything else (another store, config or build, a file edited,
 * removed or replaced, no stamp, a damaged one) renders and compares as before.
 */
export class NssFiles {
  private renders = 0;
  constructor(readonly stampFile: string) {}

  /** Render into `dir` unless it holds what `inputs` render already (`view` is called only to render); whether it rendered. */
  update(dir: string, inputs: string, view: () => NssView, homeBase: string, shell: string, onSyncError?: (file: string, err: Error) => void): boolean {
    const digest = createHash('sha256').update(JSON.stringify([NSS_FORMAT, VERSION, RENDER_CODE, dir, homeBase, shell, inputs])).digest('hex');
    if (this.current(dir, digest)) return false;
    const n = ++this.renders;
    let marks: string[] | null = null;
    let durable = false;
    const stamp = () => {
      // only the latest render's files may be stamped (an earlier one's fsync can end later)
      if (n !== this.renders || !marks) return;
      const tmp = `${this.stampFile}.tmp`;
      try {
        writeFileSync(tmp, JSON.stringify({ digest, dir, files: marks }) + '\n', { mode: 0o600 });
        renameSync(tmp, this.stampFile);
      } catch { /* no stamp: the next start renders again */ }
    };
    writeNss(dir, view(), homeBase, shell, onSyncError, () => { durable = true; stamp(); });
    // the files as this render left them, read as soon as they are in place (when both were
    // unchanged, onDurable ran already, before this: then the stamp is written here)
    try { marks = FILES.map((f) => fileMark(join(dir, f))); } catch { marks = null; }
    if (durable) stamp();
    return true;
  }

  private current(dir: string, digest: string): boolean {
    try {
      const s = JSON.parse(readFileSync(this.stampFile, 'utf8')) as { digest?: unknown; dir?: unknown; files?: unknown };
      return s.digest === digest && s.dir === dir && Array.isArray(s.files) && s.files.length === FILES.length && FILES.every((f, i) => (s.files as unknown[])[i] === fileMark(join(dir, f)));
    } catch {
      return false; // no stamp, a damaged one, a file gone
    }
  }
}
