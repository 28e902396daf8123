// NSS view of the NAS accounts: smbd and afpd call getpwnam() before they ask for a
// password, and the session uid comes from NSS. The daemon renders its accounts and
// groups as passwd/group files in libnss-extrausers' format, atomically on every change
// (nsswitch.conf: "passwd: files extrausers", "group: files extrausers"). System
// accounts stay in /etc/passwd, untouched. uid/gid here are exactly the store's, which
// the LDAP view serves too. The group file also holds the service groups the authority
// renders (smb.conf admits shares through them), from Authority.nssView().
import type { NssView } from './authority';
import { writeDurable } from './store';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export function renderPasswd(d: NssView, homeBase: string, shell: string): string {
  return Object.values(d.accounts)
    .sort((a, b) => a.uid - b.uid)
    .map((a) => `${a.name}:x:${a.uid}:${a.gid}:${a.full_name.replace(/[:\n]/g, ' ')}:${homeBase}/${a.name}:${shell}\n`)
    .join('');
}

export function renderGroup(d: NssView): string {
  return Object.values(d.groups)
    .sort((a, b) => a.gid - b.gid)
    .map((g) => `${g.name}:x:${g.gid}:${g.members.join(',')}\n`)
    .join('');
}

export function writeNss(dir: string, d: NssView, homeBase: string, shell: string) {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeDurable(join(dir, 'passwd'), Buffer.from(renderPasswd(d, homeBase, shell)), 0o644, false);
  writeDurable(join(dir, 'group'), Buffer.from(renderGroup(d)), 0o644, false);
}
