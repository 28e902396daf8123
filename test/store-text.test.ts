// The store's text round trip (ASCII and not), and the account list the store keeps
// (daemon/store.ts accountList: made once per change, read by the start's passes over
// every account) following every change.
import t from 'tap';
import { join } from 'node:path';
import { decodeStore, emptyStore, encodeStore, Store } from '../daemon/store';
import { tempDir } from './helpers/tmp';

function account(name: string, uid: number, full_name: string) {
  return {
    name, uid, gid: 100, rid: uid, role: 'user', email: `${name}@example.com`, full_name, enabled: true, services: ['smb'], groups: [],
    verifiers: { nt: '0'.repeat(32) }, must_change_password: false, password_changed_at: 1, lockout_until: null, created_at: 1, version: 1,
  };
}

t.test('ASCII and non-ASCII stores decode to what was encoded', async (t) => {
  for (const full of ['Plain Name', 'Zoë Ünïcode', 'Emoji 🗄️', 'Tab\there "quoted" \\ back']) {
    const d = emptyStore();
    d.accounts.zoe = account('zoe', 1000, full) as never;
    const back = decodeStore(encodeStore(d), 'test-store');
    t.equal(back.accounts.zoe.full_name, full, full);
    t.same(JSON.parse(JSON.stringify(back)), JSON.parse(JSON.stringify(d)));
  }
});

t.test('the account list follows the store through changes', async (t) => {
  const { store } = Store.open(join(tempDir('nasauth-store-text-'), 'state'));
  t.same(store.accountList(), []);
  await store.mutate((d) => { d.accounts.b = account('b', 1002, 'B') as never; d.accounts.a = account('a', 1001, 'A') as never; });
  t.same(store.accountList().map((a) => a.name), ['b', 'a'], 'in the store\'s order');
  t.not(store.accounts(), store.accountList(), 'accounts() is a copy');
  await store.mutate((d) => { delete d.accounts.b; });
  t.same(store.accountList().map((a) => a.name), ['a']);
  t.equal(store.accountCount, 1);
});
