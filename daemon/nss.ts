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
import { chmodSync, mkdirSync, readFileSync, statSync } from 'node:fs';
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
 * the files are rendered from the store, and every start compares them again).
 */
function writeIfChanged(file: string, data: Buffer, onSynced: (err: Error | null) => void) {
  try {
    const st = statSync(file);
    if (st.isFile() && st.size === data.length && (st.mode & 0o777) === 0o644 && readFileSync(file).equals(data)) return;
  } catch { /* missing or unreadable: write it */ }
  writeDurable(file, data, 0o644, false, onSynced);
}

/** Render the passwd and group files into `dir`; `onSyncError` hears of an fsync that failed after the files were in place. */
export function writeNss(dir: string, d: NssView, homeBase: string, shell: string, onSyncError: (file: string, err: Error) => void = () => {}) {
  if (mkdirSync(dir, { recursive: true, mode: 0o755 })) chmodSync(dir, 0o755); // readable by every process, whatever the umask
  for (const [name, text] of [['passwd', renderPasswd(d, homeBase, shell)], ['group', renderGroup(d)]]) {
    const file = join(dir, name);
    writeIfChanged(file, Buffer.from(text), (err) => { if (err) onSyncError(file, err); });
  }
}
