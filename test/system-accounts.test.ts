// SystemAccounts: what the system already has, from NSS (daemon/system-accounts.ts).
// The files are read from a private folder; other sources are asked through the real
// getent (glibc's compat module reads the host's /etc/passwd, so it stands in for any
// source beyond files/extrausers here).
import t from 'tap';
import { tempDir } from './helpers/tmp';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SystemAccounts } from '../daemon/system-accounts';

const etc = (files: Record<string, string>) => {
  const dir = tempDir('nasauth-nss-unit-');
  for (const [k, v] of Object.entries(files)) writeFileSync(join(dir, k), v);
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
};

t.test('files first, then each other source through getent -s; extrausers never', async (t) => {
  const dir = etc({
    passwd: 'fwadmin:x:500:500:firmware:/:/bin/sh\n#comment\n+nis\n',
    group: 'media:x:1300:\n',
    'nsswitch.conf': '# a firmware\npasswd:  files [NOTFOUND=return] extrausers compat\ngroup: files extrausers\n',
  });
  const s = new SystemAccounts(dir);
  t.same(s.sources('passwd'), ['compat'], 'action tokens and our own sources are left out');
  t.same(s.sources('group'), []);
  t.match(await s.lookup('passwd', 'fwadmin'), { name: 'fwadmin', id: 500, source: 'files' });
  t.match(await s.lookup('passwd', 500), { name: 'fwadmin', source: 'files' });
  t.match(await s.lookup('passwd', 'root'), { name: 'root', id: 0, source: 'compat' }, 'a name only another source knows is found through getent');
  t.equal(await s.lookup('passwd', 'no-such-user-zz'), null);
  const many = await s.lookupMany('passwd', ['fwadmin', 'root', 'no-such-user-zz', 0, 59998]);
  t.same([...many.keys()].sort(), [0, 'fwadmin', 'root'].sort(), 'several keys in one round trip');
  t.match(await s.clash('passwd', 'fwadmin', null), /the system already has a user "fwadmin" \(uid 500, from \/etc\/passwd\)/);
  t.match(await s.clash('passwd', null, 0), /uid 0 already belongs to the system's user "root" \(from NSS source compat\)/);
  t.match(await s.clash('group', 'media', null), /the system already has a group "media" \(gid 1300/);
  t.equal(await s.clash('group', 'photos', 1400), null);
});

t.test('without nsswitch.conf: plain getent, ignoring nasauth\'s own entries', async (t) => {
  const dir = etc({ passwd: '', group: '' });
  t.equal(new SystemAccounts(dir).sources('passwd'), null);
  t.match(await new SystemAccounts(dir).lookup('passwd', 'root'), { name: 'root', source: 'nss' });
  const own = new SystemAccounts(dir, (e) => e.name === 'root' && e.id === 0);
  t.equal(await own.lookup('passwd', 'root'), null, 'an entry equal to one of nasauth\'s own is not the system\'s');
});

t.test('a source that cannot answer fails closed, with a clear error', async (t) => {
  const dir = etc({ passwd: '', group: '', 'nsswitch.conf': 'passwd: files compat\n' });
  const s = new SystemAccounts(dir);
  const old = process.env.PATH;
  process.env.PATH = dir; // no getent on the PATH: the system cannot be asked
  t.teardown(() => { process.env.PATH = old; });
  await t.rejects(s.lookup('passwd', 'anyone'), /could not ask the system \(NSS source compat\) whether the name or id is taken: .*nothing was changed/);
});
