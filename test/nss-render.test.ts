// The passwd text nasauth renders for libnss-extrausers (daemon/nss.ts): ordered by uid,
// a full name that would split the line made safe, and the same text whether there are
// 3 accounts or several pieces' worth (the renderer joins its lines in pieces of 256).
import t from 'tap';
import { NssFiles, renderPasswd, renderGroup, writeNss } from '../daemon/nss';
import { chmodSync, existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/tmp';
import type { NssView } from '../daemon/authority';
import { prng } from './fuzz/mutate';

/** The plain statement of the format, to compare with. */
function reference(d: NssView, home: string, shell: string): string {
  return Object.values(d.accounts).sort((a, b) => a.uid - b.uid)
    .map((a) => `${a.name}:x:${a.uid}:${a.gid}:${a.full_name.split(':').join(' ').split('\n').join(' ')}:${home}/${a.name}:${shell}\n`).join('');
}

t.test('passwd lines: uid order, a colon or newline in the full name cannot split a line', async (t) => {
  const accounts: NssView['accounts'] = Object.create(null);
  accounts.zed = { name: 'zed', uid: 1002, gid: 100, full_name: 'Zed: the "admin"\nsecond line' };
  accounts.amy = { name: 'amy', uid: 1001, gid: 100, full_name: 'Amy Pond' };
  accounts['constructor' as string] = { name: 'constructor', uid: 1000, gid: 100, full_name: '' };
  const text = renderPasswd({ accounts, groups: Object.create(null) }, '/shares', '/usr/sbin/nologin');
  t.equal(text, [
    'constructor:x:1000:100::/shares/constructor:/usr/sbin/nologin',
    'amy:x:1001:100:Amy Pond:/shares/amy:/usr/sbin/nologin',
    'zed:x:1002:100:Zed  the "admin" second line:/shares/zed:/usr/sbin/nologin',
    '',
  ].join('\n'));
  for (const line of text.trimEnd().split('\n')) t.equal(line.split(':').length, 7, `7 fields: ${line}`);
});

t.test('passwd text is the same as the plain statement of the format, for any number of accounts', async (t) => {
  const rnd = prng(20261130);
  for (const n of [0, 1, 2, 255, 256, 257, 512, 513, 3000, 3001]) {
    const accounts: NssView['accounts'] = Object.create(null);
    // shuffled, or in order but for one (the renderer skips its sort when the store's order is uid order already)
    const uids = Array.from({ length: n }, (_, i) => 1000 + i);
    if (n % 2) uids.sort(() => rnd() - 0.5);
    else if (n > 1) [uids[n - 1], uids[n >> 1]] = [uids[n >> 1], uids[n - 1]];
    for (let i = 0; i < n; i++) {
      const name = `u${i}`;
      const full = rnd() < 0.1 ? `Name:${i}\nx` : rnd() < 0.1 ? 'Ünïcode Ñame' : `User ${i}`;
      accounts[name] = { name, uid: uids[i], gid: 100, full_name: full };
    }
    const d = { accounts, groups: Object.create(null) };
    t.equal(renderPasswd(d, '/shares', '/bin/false'), reference(d, '/shares', '/bin/false'), `${n} accounts`);
    t.equal(renderPasswd({ ...d, list: Object.values(accounts) }, '/shares', '/bin/false'), reference(d, '/shares', '/bin/false'), `${n} accounts, given as a list`);
  }
});

t.test('group lines: gid order, members joined by commas', async (t) => {
  const groups: NssView['groups'] = Object.create(null);
  groups.b = { name: 'b', gid: 2001, members: ['x', 'y'] };
  groups.a = { name: 'a', gid: 2000, members: [] };
  t.equal(renderGroup({ accounts: Object.create(null), groups }), 'a:x:2000:\nb:x:2001:x,y\n');
});

t.test('writeNss: both files in place and whole when it returns; their fsyncs follow', async (t) => {
  const dir = join(tempDir('nasauth-nss-'), 'nss');
  const accounts: NssView['accounts'] = Object.create(null);
  accounts.amy = { name: 'amy', uid: 1001, gid: 100, full_name: 'Amy Pond' };
  const groups: NssView['groups'] = Object.create(null);
  groups.staff = { name: 'staff', gid: 2000, members: ['amy'] };
  const errors: string[] = [];
  writeNss(dir, { accounts, groups }, '/shares', '/bin/false', (f, e) => errors.push(`${f}: ${e.message}`));
  t.equal(readFileSync(join(dir, 'passwd'), 'utf8'), 'amy:x:1001:100:Amy Pond:/shares/amy:/bin/false\n');
  t.equal(readFileSync(join(dir, 'group'), 'utf8'), 'staff:x:2000:amy\n');
  t.equal(statSync(join(dir, 'passwd')).mode & 0o777, 0o644);
  await new Promise((r) => setTimeout(r, 200));
  t.same(errors, [], 'the fsyncs succeed');

  // a failed fsync is reported (the folder gone before its fsync: the file's own fsync
  // is already queued, the folder cannot be opened any more)
  accounts.bob = { name: 'bob', uid: 1002, gid: 100, full_name: '' };
  writeNss(dir, { accounts, groups }, '/shares', '/bin/false', (f, e) => errors.push(`${f}: ${(e as NodeJS.ErrnoException).code}`));
  rmSync(dir, { recursive: true });
  for (let i = 0; i < 100 && !errors.length; i++) await new Promise((r) => setTimeout(r, 10));
  t.same(errors, [`${join(dir, 'passwd')}: ENOENT`], 'the changed file\'s failed fsync is reported; the unchanged group file was not written');
});

t.test('NssFiles: renders only when the inputs or the files differ from its stamp', async (t) => {
  const root = tempDir('nasauth-nss-stamp-');
  const dir = join(root, 'nss');
  const stamp = join(root, 'nss.stamp');
  const accounts: NssView['accounts'] = Object.create(null);
  accounts.amy = { name: 'amy', uid: 1001, gid: 100, full_name: 'Amy Pond' };
  const groups: NssView['groups'] = Object.create(null);
  let views = 0;
  const view = () => { views++; return { accounts, groups }; };
  const files = new NssFiles(stamp);
  const stamped = async () => { for (let i = 0; i < 200 && !existsSync(stamp); i++) await new Promise((r) => setTimeout(r, 5)); return existsSync(stamp); };
  const update = (f: NssFiles, inputs: string, home = '/shares') => f.update(dir, inputs, view, home, '/bin/false');

  t.equal(update(files, 'store-1'), true, 'first time: rendered');
  t.ok(await stamped(), 'the stamp is written once both files are on disk');
  t.equal(statSync(stamp).mode & 0o777, 0o600);
  const fresh = new NssFiles(stamp); // as at the next start
  t.equal(update(fresh, 'store-1'), false, 'same inputs, same files: nothing rendered');
  t.equal(views, 1, 'and the view was not even made');

  t.equal(update(fresh, 'store-2'), true, 'other inputs (another store or config): rendered');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(update(new NssFiles(stamp), 'store-2', '/srv'), true, 'another home base: rendered');
  t.equal(readFileSync(join(dir, 'passwd'), 'utf8'), 'amy:x:1001:100:Amy Pond:/srv/amy:/bin/false\n');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(update(new NssFiles(stamp), 'store-2', '/srv'), false);

  // the files changed behind its back, each way: the same size, removed, chmod, the stamp damaged
  const passwd = join(dir, 'passwd');
  const changes: Array<[string, () => void]> = [
    ['a file edited (same size)', () => writeFileSync(passwd, readFileSync(passwd, 'utf8').replace('amy:', 'amz:'))],
    ['a file removed', () => rmSync(join(dir, 'group'))],
    ['a file chmod', () => chmodSync(passwd, 0o600)],
    ['the stamp damaged', () => writeFileSync(stamp, '{"digest":')],
    ['the stamp removed', () => rmSync(stamp)],
  ];
  for (const [what, change] of changes) {
    change();
    t.equal(update(new NssFiles(stamp), 'store-2', '/srv'), true, `${what}: rendered`);
    t.equal(readFileSync(passwd, 'utf8'), 'amy:x:1001:100:Amy Pond:/srv/amy:/bin/false\n', `${what}: passwd right again`);
    t.equal(statSync(passwd).mode & 0o777, 0o644);
    t.ok(existsSync(join(dir, 'group')), `${what}: group there`);
    for (let i = 0; i < 200 && update(new NssFiles(stamp), 'store-2', '/srv'); i++) await new Promise((r) => setTimeout(r, 5));
  }
  t.equal(update(new NssFiles(stamp), 'store-2', '/srv'), false, 'stamped again after each');
});
