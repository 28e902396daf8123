// Build a realistic copy of an old NAS's account files, with every hash kind made by the
// system's own tools (mkpasswd from the whois package, openssl), known passwords, and
// the conflicts a real migration meets.
import { execFileSync } from 'node:child_process';
import { tempDir } from './tmp';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const mk = (method: string, pw: string, extra: string[] = []) =>
  execFileSync('mkpasswd', ['-m', method, ...extra, '--stdin'], { input: pw, encoding: 'utf8' }).trim();
export const ntOf = (pw: string) => mk('nt', pw).replace(/^\$3\$\$/, '').toUpperCase();

export interface OldUser { name: string; uid: number; password: string; kind: string; email?: string; disabled?: boolean }

export function buildOldNas() {
  const dir = tempDir('oldnas-');
  mkdirSync(join(dir, 'etc', 'samba'), { recursive: true });
  const users: OldUser[] = [
    { name: 'alice', uid: 1001, password: 'alice-Pass1', kind: 'sha512-crypt', email: 'alice@example.com' },
    { name: 'bob', uid: 1002, password: 'bob-Pass2 ü', kind: 'yescrypt', email: 'bob@example.org' },
    { name: 'carol', uid: 1003, password: 'carol-Pass3', kind: 'md5-crypt' },
    { name: 'dave', uid: 1004, password: 'dave-Pass4', kind: 'bcrypt', disabled: true },
    { name: 'erin', uid: 1005, password: 'erin-Pass5', kind: 'nt-only', email: 'erin@example.net' },
    { name: 'jurgen', uid: 1006, password: 'jürgen-Päss6', kind: 'sha256-crypt' },
  ];
  const hash = (u: OldUser) => {
    switch (u.kind) {
      case 'sha512-crypt': return mk('sha512crypt', u.password);
      case 'sha256-crypt': return execFileSync('openssl', ['passwd', '-5', '-stdin'], { input: u.password, encoding: 'utf8' }).trim();
      case 'yescrypt': return mk('yescrypt', u.password);
      case 'md5-crypt': return execFileSync('openssl', ['passwd', '-1', '-stdin'], { input: u.password, encoding: 'utf8' }).trim();
      case 'bcrypt': return mk('bcrypt', u.password, ['-R', '5']);
      default: return '*';
    }
  };
  const passwd = [
    'root:x:0:0:root:/root:/bin/bash',
    'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin',
    'sshd:x:105:65534::/run/sshd:/usr/sbin/nologin',
    ...users.map((u) => `${u.name}:x:${u.uid}:100:${u.name === 'jurgen' ? 'Jürgen Müller,Room 2,,' : u.name[0].toUpperCase() + u.name.slice(1)}:/shares/${u.name}:/bin/sh`),
    'frank:x:1001:100:Frank (same uid as alice):/shares/frank:/bin/sh',
    'Gina:x:1007:100:Gina upper case:/shares/Gina:/bin/sh',
    'ivy:x:1009:100:Ivy:/shares/ivy:/bin/sh',
  ];
  const shadow = [
    'root:$6$abc$notreal:19000:0:99999:7:::',
    'daemon:*:19000:0:99999:7:::',
    ...users.map((u) => `${u.name}:${u.disabled ? '!' : ''}${hash(u)}:19500:0:99999:7:::`),
    'frank:*:19500:0:99999:7:::',
    'Gina:*:19500:0:99999:7:::',
    `ivy:${mk('descrypt', 'ivy-pass')}:19500:0:99999:7:::`,
  ];
  const group = ['root:x:0:', 'users:x:100:', 'family:x:1100:alice,bob,carol,ghost', 'office:x:1101:erin'];
  const smb = [
    ...users.filter((u) => u.kind !== 'yescrypt').map((u) => `${u.name}:${u.uid}:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:${ntOf(u.password)}:[U${u.disabled ? 'D' : ' '}         ]:LCT-5F5E1000:`),
    `henry:1008:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:${ntOf('henry-Pass8')}:[U          ]:LCT-5F5E1000:`,
  ];
  const meta = `# user metadata the old firmware kept in its own database
users:
  alice: { email: alice@example.com, role: admin, full_name: "Alice Admin" }
  bob: { email: bob@example.org, services: [smb, timemachine, afp] }
  erin: { email: erin@example.net }
  ivy: { email: "not an email" }
  jurgen: { full_name: "Jürgen Müller" }
`;
  writeFileSync(join(dir, 'etc', 'passwd'), passwd.join('\n') + '\n');
  writeFileSync(join(dir, 'etc', 'shadow'), shadow.join('\n') + '\n');
  writeFileSync(join(dir, 'etc', 'group'), group.join('\n') + '\n');
  writeFileSync(join(dir, 'etc', 'samba', 'smbpasswd'), smb.join('\n') + '\n');
  writeFileSync(join(dir, 'nasauth-users.yaml'), meta);
  return { dir, users, henry: { name: 'henry', password: 'henry-Pass8' } };
}
