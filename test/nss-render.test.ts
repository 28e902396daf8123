// The passwd text nasauth renders for libnss-extrausers (daemon/nss.ts): ordered by uid,
// a full name that would split the line made safe, and the same text whether there are
// 3 accounts or several pieces' worth (the renderer joins its lines in pieces of 256).
import t from 'tap';
import { renderPasswd, renderGroup } from '../daemon/nss';
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
  for (const n of [0, 1, 255, 256, 257, 513, 3000]) {
    const accounts: NssView['accounts'] = Object.create(null);
    const uids = Array.from({ length: n }, (_, i) => 1000 + i).sort(() => rnd() - 0.5);
    for (let i = 0; i < n; i++) {
      const name = `u${i}`;
      const full = rnd() < 0.1 ? `Name:${i}\nx` : rnd() < 0.1 ? 'Ünïcode Ñame' : `User ${i}`;
      accounts[name] = { name, uid: uids[i], gid: 100, full_name: full };
    }
    const d = { accounts, groups: Object.create(null) };
    t.equal(renderPasswd(d, '/shares', '/bin/false'), reference(d, '/shares', '/bin/false'), `${n} accounts`);
  }
});

t.test('group lines: gid order, members joined by commas', async (t) => {
  const groups: NssView['groups'] = Object.create(null);
  groups.b = { name: 'b', gid: 2001, members: ['x', 'y'] };
  groups.a = { name: 'a', gid: 2000, members: [] };
  t.equal(renderGroup({ accounts: Object.create(null), groups }), 'a:x:2000:\nb:x:2001:x,y\n');
});
