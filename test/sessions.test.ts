// daemon/sessions.ts on its own, with an injected clock: tokens, the hash-only map,
// timeouts, bounds, re-binding.
import t from 'tap';
import { Sessions } from '../daemon/sessions';

const limits = { idle_seconds: 60, absolute_seconds: 600, max_per_account: 3, max_total: 5 };
const acct = (rid: number, version = 1) => ({ rid, name: `u${rid}`, version });

t.test('a token is 256 random bits; only its hash is kept', async (t) => {
  let now = 1_000_000;
  const s = new Sessions(limits, () => now);
  const a = s.create(acct(1), '192.0.2.1');
  t.match(a.token, /^[A-Za-z0-9_-]{43}$/);
  const b = s.create(acct(1), '192.0.2.1');
  t.not(a.token, b.token);
  const found = s.find(a.token)!;
  t.ok(found, 'found by its token');
  t.equal(found.rid, 1);
  // nothing in the map holds the token itself
  const dump = JSON.stringify([...(s as unknown as { map: Map<string, unknown> }).map.values()]);
  t.notOk(dump.includes(a.token), 'the whole token is nowhere in the map');
  t.notOk(dump.includes(a.token.slice(16)), 'nor its secret part');
  // one character off: not found (same selector, other verifier)
  const off = a.token.slice(0, 42) + (a.token[42] === 'A' ? 'B' : 'A');
  t.equal(s.find(off), null);
  for (const bad of ['', 'x', a.token + 'A', a.token.slice(0, 42) + '!', '../../etc/passwd'.padEnd(43, 'a')]) t.equal(s.find(bad), null, `refused: ${JSON.stringify(bad)}`);
  now += 1;
});

t.test('idle and absolute timeouts', async (t) => {
  let now = 0;
  const s = new Sessions(limits, () => now);
  const a = s.create(acct(1), 'x');
  now = 59_000;
  t.ok(s.find(a.token), 'used within the idle time');
  now = 59_000 + 59_999;
  t.ok(s.find(a.token), 'use restarts the idle clock');
  now += 60_000;
  t.equal(s.find(a.token), null, 'idle too long: ended');
  t.equal(s.size, 0, 'and removed');
  const b = s.create(acct(1), 'x');
  for (let i = 0; i < 20; i++) { now += 30_000; if (now - 0 < 600_000) s.find(b.token); }
  const c = s.create(acct(2), 'x');
  const start = now;
  while (now - start < 599_000) { now += 50_000; t.ok(s.find(c.token) || now - start >= 600_000); }
  now = start + 600_000;
  t.equal(s.find(c.token), null, 'absolute timeout even when busy');
  const d = s.create(acct(3), 'x');
  now += 61_000;
  s.sweep();
  t.equal(s.size, 0, 'the sweep drops what timed out');
  t.equal(s.find(d.token), null);
});

t.test('bounds: per account and overall, least recently used first', async (t) => {
  let now = 0;
  const s = new Sessions(limits, () => now);
  const mine = [1, 2, 3, 4].map(() => { now += 1; return s.create(acct(1), 'x'); });
  t.equal(s.countFor(1), 3, 'at most max_per_account');
  t.equal(s.find(mine[0].token), null, 'the oldest of the account went');
  t.ok(s.find(mine[3].token));
  now += 1;
  t.ok(s.find(mine[1].token), 'touch mine[1]: now most recently used');
  const others = [2, 3, 4].map((rid) => { now += 1; return s.create(acct(rid), 'x'); });
  t.equal(s.size, 5, 'at most max_total');
  t.equal(s.find(mine[2].token), null, 'the least recently used overall went');
  t.ok(s.find(mine[1].token));
  for (const o of others) t.ok(s.find(o.token));
});

t.test('end one, end all of an account, re-bind only after a single own change', async (t) => {
  const now = 0;
  const s = new Sessions({ ...limits, max_total: 100, max_per_account: 10 }, () => now);
  const a = s.create(acct(1, 5), 'x');
  const b = s.create(acct(1, 5), 'x');
  const c = s.create(acct(2, 1), 'x');
  const sa = s.find(a.token)!;
  t.ok(s.rebind(sa, 5, { rid: 1, version: 6 }), 'own change alone: re-bound');
  t.equal(s.find(a.token)!.version, 6);
  const sb = s.find(b.token)!;
  t.notOk(s.rebind(sb, 5, { rid: 1, version: 7 }), 'another change slipped in: ended');
  t.equal(s.find(b.token), null);
  t.notOk(s.rebind(s.find(a.token)!, 6, { rid: 9, version: 7 }), 'another account (a namesake): ended');
  const d = s.create(acct(1, 7), 'x');
  const e = s.create(acct(1, 7), 'x');
  t.equal(s.endAccount(1, s.find(d.token)!), 1, 'everywhere but this one');
  t.ok(s.find(d.token));
  t.equal(s.find(e.token), null);
  t.equal(s.endAccount(1), 1);
  t.ok(s.find(c.token), 'other accounts keep theirs');
});
