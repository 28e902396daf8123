// What makes one change cost one change (issue 15): the LDAP directory is updated in place
// (only entries whose inputs changed are made again) and the store copies an account only
// when a change reads it. Both must give exactly what a whole rebuild / a whole copy gives:
// a random series of changes is checked against a directory built afresh after each step,
// and the store's old data must never see a change, also one that threw.
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { RenderedGroup, SmbAccount, SmbDirectory } from '../daemon/authority';
import { loadConfig } from '../daemon/config';
import { Directory, candidates, filterText, matches, type Entry, type LdapFilter } from '../daemon/ldap-directory';
import { Store, peekAccounts, type Account } from '../daemon/store';
import { testConfig } from './helpers/daemon';
import { tempDir } from './helpers/tmp';
import { prng } from './fuzz/mutate';

const dir = tempDir('nasauth-incr-');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const cfgFile = join(dir, 'nasauth.yaml');
writeFileSync(cfgFile, stringify(testConfig(dir, { sockets: { ldap: { enabled: true } } })));
const cfg = loadConfig(cfgFile);

function view(d: Directory) {
  const out: Record<string, Record<string, string>> = {};
  // by DN: an updated entry may scan in another place (LDAP gives results no order)
  for (const e of [...d.entries].sort((a, b) => (a.ndn < b.ndn ? -1 : 1))) out[e.ndn] = Object.fromEntries([...e.attrs].map(([k, a]) => [k, `${a.values.join('|')} ${a.enc.toString('hex')}`]));
  return out;
}

t.test('an updated directory is the directory built afresh, after every step of 300 random changes', async (t) => {
  for (const seed of [1, 7, 1234]) {
    const r = prng(seed);
    const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)];
    let nextRid = 1000;
    const accounts = new Map<string, SmbAccount>();
    const groups = new Map<string, RenderedGroup>();
    const mkAccount = (name: string): SmbAccount => ({
      name, rid: nextRid++, version: 1, uid: 1000 + nextRid, gid: cfg.accounts.default_gid, full_name: `Person ${name}`, email: null,
      nt: 'A'.repeat(32), closed: null, locked: false, must_change: false, password_last_set: 1_700_000_000_000,
    });
    for (let i = 0; i < 30; i++) accounts.set(`u${i}`, mkAccount(`u${i}`));
    groups.set('family', { name: 'family', gid: 2000, members: ['u1', 'u2'], service: null });
    const data = (gen: number): SmbDirectory => ({ generation: gen, domain_sid: 'S-1-5-21-1-2-3', next_rid: nextRid, accounts: [...accounts.values()], groups: [...groups.values()] });
    const d = new Directory(cfg, data(0));
    let mismatches = 0;
    for (let step = 1; step <= 300; step++) {
      const names = [...accounts.keys()];
      const a = accounts.get(pick(names))!;
      const op = Math.floor(r() * 10);
      if (op === 0) accounts.set(`n${step}`, mkAccount(`n${step}`));
      else if (op === 1 && names.length > 5) { accounts.delete(a.name); for (const g of groups.values()) g.members = g.members.filter((m) => m !== a.name); }
      else if (op === 2) accounts.set(a.name, { ...a, email: r() < 0.3 ? null : `${a.name}.${step}@example.com` });
      else if (op === 3) accounts.set(a.name, { ...a, full_name: r() < 0.2 ? '' : `Changed: ${step}` });
      else if (op === 4) accounts.set(a.name, { ...a, nt: r() < 0.2 ? null : step.toString(16).padStart(32, 'B'), password_last_set: a.password_last_set + 1000 });
      else if (op === 5) accounts.set(a.name, { ...a, closed: a.closed ? null : 'disabled', must_change: r() < 0.3 });
      else if (op === 6) { const g = groups.get('family')!; g.members = g.members.includes(a.name) ? g.members.filter((m) => m !== a.name) : [...g.members, a.name]; }
      else if (op === 7) accounts.set(a.name, { ...a, gid: a.gid === 2000 ? cfg.accounts.default_gid : 2000 });
      else if (op === 8) { if (groups.has('extra')) groups.delete('extra'); else groups.set('extra', { name: 'extra', gid: 2001, members: [a.name], service: null }); }
      else { accounts.delete(a.name); accounts.set(`${a.name}r`, { ...a, name: `${a.name}r` }); } // a rename
      const now = data(step);
      d.update(now);
      const fresh = new Directory(cfg, now);
      const same = JSON.stringify(view(d)) === JSON.stringify(view(fresh));
      // every indexed lookup smbd makes finds the same entries
      let lookupsSame = true;
      for (const acc of now.accounts) {
        for (const [attr, v] of [['uid', acc.name], ['sambasid', `${now.domain_sid}-${acc.rid}`], ['uidnumber', String(acc.uid)], ['memberuid', acc.name]] as const) {
          const got = d.lookup(attr, v).map((e: Entry) => e.ndn).sort();
          const want = fresh.lookup(attr, v).map((e: Entry) => e.ndn).sort();
          if (JSON.stringify(got) !== JSON.stringify(want)) lookupsSame = false;
        }
      }
      if (d.lookup('objectclass', 'top').length !== fresh.lookup('objectclass', 'top').length) lookupsSame = false;
      if (!same || !lookupsSame) { mismatches++; if (mismatches === 1) t.fail(`seed ${seed} step ${step} (op ${op}): the updated directory differs from a fresh one`); }
    }
    t.equal(mismatches, 0, `seed ${seed}: 300 steps, the updated directory was the fresh one every time`);
  }
});

t.test('the store copies what a change reads; the old data never sees a change, also one that threw', async (t) => {
  const sdir = tempDir('nasauth-incr-store-');
  t.teardown(() => rmSync(sdir, { recursive: true, force: true }));
  const { store } = Store.open(sdir);
  // only what the store itself touches (name, uid): the test looks at copies, not at account rules
  const mk = (name: string, uid: number) => ({ name, uid }) as unknown as Account;
  await store.mutate((d) => { for (let i = 0; i < 50; i++) d.accounts[`u${i}`] = mk(`u${i}`, 1000 + i); });
  const before = store.snapshot;
  const u1 = before.accounts.u1;
  await store.mutate((d) => { d.accounts.u1.uid = 5001; });
  const after = store.snapshot;
  t.equal(before.accounts.u1.uid, 1001, 'the old data kept its account');
  t.equal(after.accounts.u1.uid, 5001, 'the new data has the change');
  t.equal(after.accounts.u2, before.accounts.u2, 'an account the change did not read is shared, not copied');
  t.not(after.accounts.u1, u1, 'the changed account is a copy');
  await t.rejects(store.mutate((d) => { d.accounts.u3.uid = 6000; delete d.accounts.u4; throw new Error('abort'); }), /abort/);
  t.equal(store.snapshot.accounts.u3.uid, 1003, 'a change that threw changed nothing');
  t.ok(store.snapshot.accounts.u4, 'and removed nothing');
  // enumeration reads (copies) every account; changes through it land in the copy only
  const snap = store.snapshot;
  await store.mutate((d) => { for (const a of Object.values(d.accounts)) a.uid += 10000; });
  t.equal(snap.accounts.u5.uid, 1005, 'enumerated and changed: the old data is untouched');
  t.equal(store.snapshot.accounts.u5.uid, 11005, 'the new data has every change');
  // peekAccounts looks without copying, and sees what the change did so far
  const shared = store.snapshot.accounts.u7;
  await store.mutate((d) => {
    t.equal(peekAccounts(d).u7, shared, 'peek: the account as it is, not a copy');
    d.accounts.u8.uid = 7777;
    delete d.accounts.u9;
    t.equal(peekAccounts(d).u8.uid, 7777, 'peek sees a change made in this fn');
    t.notOk(peekAccounts(d).u9, 'and a deletion');
  });
  t.equal(store.snapshot.accounts.u7, shared, 'only looked at: still shared after the change');
  // what is on disk is what is in memory
  const { store: again } = Store.open(sdir);
  t.same(again.snapshot.accounts, store.snapshot.accounts, 'the file holds the same accounts');
  t.equal(Object.getPrototypeOf(store.snapshot.accounts), null, 'accounts stay a prototype-less map (no proxy, no __proto__ key)');
});

t.test('indexed candidates (with the union bound) then matches() give exactly what a full scan gives, for 3000 random smbd-like filters', async (t) => {
  const r = prng(4242);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
  const accounts: SmbAccount[] = [];
  for (let i = 0; i < 200; i++) {
    accounts.push({
      name: `u${i}`, rid: 1000 + i, version: 1, uid: 1000 + i, gid: i % 3 ? cfg.accounts.default_gid : 2000, full_name: `Person ${i}`, email: null,
      nt: 'A'.repeat(32), closed: null, locked: false, must_change: false, password_last_set: 1_700_000_000_000,
    });
  }
  const groups: RenderedGroup[] = [
    { name: 'family', gid: 2000, members: accounts.filter((_, i) => i % 4 === 0).map((a) => a.name), service: null },
    { name: 'office', gid: 2001, members: ['u1', 'u2', 'u3'], service: null },
  ];
  const d = new Directory(cfg, { generation: 1, domain_sid: 'S-1-5-21-1-2-3', next_rid: 1200, accounts, groups });
  const get = (e: Entry, a: string) => e.attrs.get(a)?.values;
  const values: Record<string, () => string> = {
    uid: () => `u${Math.floor(r() * 220)}`,
    memberUid: () => `U${Math.floor(r() * 220)}`.toLowerCase(),
    gidNumber: () => pick(['100', '2000', '2001', '0', String(cfg.accounts.default_gid)]),
    uidNumber: () => String(990 + Math.floor(r() * 220)),
    objectClass: () => pick(['posixGroup', 'sambaGroupMapping', 'sambaSamAccount', 'posixAccount', 'top', 'sambaDomain', 'nothing']),
    sambaSID: () => pick(['S-1-5-32-544', `S-1-5-21-1-2-3-${1000 + Math.floor(r() * 220)}`, 'S-1-1-0']),
    cn: () => pick(['family', 'office', 'Person 7', 'nobody']),
    sn: () => `u${Math.floor(r() * 220)}`, // not indexed: a scan
  };
  const term = (depth: number): LdapFilter => {
    const k = r();
    if (depth < 3 && k < 0.25) return { type: 'AndFilter', filters: Array.from({ length: 1 + Math.floor(r() * 3) }, () => term(depth + 1)) };
    if (depth < 3 && k < 0.45) return { type: 'OrFilter', filters: Array.from({ length: 1 + Math.floor(r() * 3) }, () => term(depth + 1)) };
    if (k < 0.5) return { type: 'PresenceFilter', attribute: pick(['mail', 'memberUid', 'sambaSID']) };
    const attribute = pick(Object.keys(values));
    return { type: 'EqualityFilter', attribute, value: values[attribute]() };
  };
  let wrong = 0;
  for (let i = 0; i < 3000; i++) {
    const f = term(0);
    const want = d.entries.filter((e) => matches(f, e, get)).map((e) => e.ndn).sort();
    const got = (candidates(d, f, true) ?? d.entries).filter((e) => matches(f, e, get)).map((e) => e.ndn).sort();
    if (JSON.stringify(got) !== JSON.stringify(want)) { wrong++; if (wrong === 1) t.fail(`${filterText(f)}: ${got.length} entries where a scan finds ${want.length}`); }
  }
  t.equal(wrong, 0, '3000 filters: the indexed search found what the scan found');
});
