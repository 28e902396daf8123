// NSS view of the NAS accounts: smbd and afpd call getpwnam() before they ask for a
// password, and the session uid comes from NSS. The daemon renders its accounts and
// groups as passwd/group files in libnss-extrausers' format, atomically on every change
// (nsswitch.conf: "passwd: files extrausers", "group: files extrausers"). System
// accounts stay in /etc/passwd, untouched. uid/gid here are exactly the store's, which
// the LDAP view serves too.
import { writeDurable } from './store';
import type { StoreData } from './store';
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export function renderPasswd(d: StoreData, homeBase: string, shell: string): string {
  return Object.values(d.accounts)
    .sort((a, b) => a.uid - b.uid)
    .map((a) => `${a.name}:x:${a.uid}:${a.gid}:${a.full_name.replace(/[:\n]/g, ' ')}:${homeBase}/${a.name}:${shell}\n`)
    .join('');
}

export function renderGroup(d: StoreData): string {
  return Object.values(d.groups)
    .sort((a, b) => a.gid - b.gid)
    .map((g) => `${g.name}:x:${g.gid}:${g.members.join(',')}\n`)
    .join('');
}

export function writeNss(dir: string, d: StoreData, homeBase: string, shell: string) {
  if (mkdirSync(dir, { recursive: true, mode: 0o755 })) chmodSync(dir, 0o755); // readable by every process, whatever the umask
  writeDurable(join(dir, 'passwd'), Buffer.from(renderPasswd(d, homeBase, shell)), 0o644, false);
  writeDurable(join(dir, 'group'), Buffer.from(renderGroup(d)), 0o644, false);
}
