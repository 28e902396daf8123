// The hot-path shortcuts of issue 15 must give exactly what the plain code gives:
// the cache's MAC, the memoised profile and its JSON, the audit line written without
// pino's serialiser, the batched log file, the Content-Length read from rawHeaders.
// Each is checked against the reference computation it replaces.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { AuthCache, CacheMac } from '../daemon/cache';
import { canonicalBytes, hmac } from '../daemon/password';
import { Authority, byName, profileOf, type Decision } from '../daemon/authority';
import { decisionBody, decisionJson } from '../daemon/query-socket';
import { auditLogger, isoTime, makeLogger, writeAudit, type AuditFields } from '../daemon/log';
import { declaredLength } from '../daemon/http-util';
import { jsonString } from '../daemon/json-text';
import { Store, encodeStore, emptyStore, type Account } from '../daemon/store';
import { mkdirSync, writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { loadConfig } from '../daemon/config';
import { prng } from './fuzz/mutate';
import { testConfig } from './helpers/daemon';
import { ROOT, authenticate, cleanup, startDaemon } from './helpers/daemon';
import { waitForMatch } from './helpers/wait';
import { floodPoolNice, loopNice, poolSize, poolThreads } from '../daemon/loop-priority';

const PASSWORDS: Array<[string, Buffer]> = [
  ['ascii', Buffer.from('Correct-horse-1')],
  ['empty', Buffer.alloc(0)],
  ['NUL inside', Buffer.from('a\0b\0')],
  ['UTF-8 NFC', Buffer.from('Pässwörd-1', 'utf8')],
  ['UTF-8 NFD', Buffer.from('Pa\u0308sswo\u0308rd-1', 'utf8')],
  ['Latin-1 (not UTF-8)', Buffer.from([0x50, 0xe4, 0x73, 0x73, 0xff, 0x31])],
  ['emoji', Buffer.from('🔑-key-🔑', 'utf8')],
  ['long ASCII (past the reused buffer)', Buffer.alloc(5000, 0x61)],
  ['long UTF-8 (past the reused buffer)', Buffer.from('ä'.repeat(1500), 'utf8')],
  ['DEL and controls', Buffer.from([0x7f, 0x01, 0x1f, 0x41])],
];

t.test('CacheMac is HMAC-SHA256(key, name, canonical password), as password.ts computes it', async (t) => {
  const key = Buffer.from('0123456789abcdef0123456789abcdef');
  const mac = new CacheMac(key);
  for (const name of ['alice', 'bench0', 'a'.repeat(32), 'ünïcode']) {
    for (const [what, pw] of PASSWORDS) {
      const before = Buffer.from(pw);
      const want = hmac(key, name, canonicalBytes(pw));
      t.same(mac.of(name, pw), want, `${name} / ${what}`);
      t.same(pw, before, `${what}: the caller's bytes are left as they were`);
    }
  }
  t.same(Buffer.from(mac.of('alice', Buffer.from('Pässwörd-1'))), mac.of('alice', Buffer.from('Pa\u0308sswo\u0308rd-1')), 'NFC and NFD of one password give one MAC');
  t.not(mac.of('alice', Buffer.from('x')).toString('hex'), mac.of('alicx', Buffer.from('')).toString('hex'), 'name and password cannot be shifted into each other');
  t.ok((mac as unknown as { inner: Buffer }).inner.subarray(64).every((b) => b === 0), 'no password bytes are left in the reused buffer');
});

t.test('AuthCache: a hit needs the same password and version, within the TTL; bounded', async (t) => {
  let now = 1000;
  const c = new AuthCache(60_000, 3, true, () => now);
  const pw = Buffer.from('Correct-horse-1');
  c.put(1, 'alice', pw, 1);
  t.ok(c.check(1, 'alice', pw, 1), 'same password, same version: hit');
  t.notOk(c.check(1, 'alice', Buffer.from('Correct-horse-2'), 1), 'another password: miss');
  t.ok(c.check(1, 'alice', Buffer.from('Correct-horse-1'), 1), 'the entry survives a wrong guess');
  t.notOk(c.check(1, 'alice', pw, 2), 'another version: miss');
  t.notOk(c.check(1, 'alice', pw, 1), 'and the stale entry is gone');
  c.put(2, 'bob', Buffer.from('Pässwörd-1'), 1);
  t.ok(c.check(2, 'bob', Buffer.from('Pa\u0308sswo\u0308rd-1'), 1), 'NFD form of the proven NFC password: hit');
  now += 60_000;
  t.notOk(c.check(2, 'bob', Buffer.from('Pässwörd-1'), 1), 'expired: miss');
  for (const [i, n] of ['a', 'b', 'c', 'd'].entries()) c.put(10 + i, n, pw, 1);
  t.equal(c.size, 3, 'bounded by max_entries');
  t.notOk(c.check(10, 'a', pw, 1), 'least recently used entry went first');
  const off = new AuthCache(60_000, 3, false, () => now);
  off.put(1, 'alice', pw, 1);
  t.notOk(off.check(1, 'alice', pw, 1), 'disabled cache never hits');
  c.put(20, 'carol', pw, 1);
  t.notOk(c.check(21, 'carol', pw, 1), 'another identity with the same name and version: miss');
});

const account = (over: Partial<Account> = {}): Account => ({
  name: 'alice', uid: 2000, gid: 100, rid: 1000, role: 'user', email: 'alice@example.com', full_name: 'Alice "A" Ä',
  enabled: true, services: ['smb', 'dashboard'], groups: ['staff'], verifiers: { scrypt: 'x', nt: 'y' },
  must_change_password: false, password_changed_at: 1_700_000_000_123, lockout_until: null, created_at: 1, version: 3, ...over,
});

t.test('profileOf: made once per account object and version, frozen, with the same content', async (t) => {
  const a = account();
  const p = profileOf(a);
  t.same(p, {
    name: 'alice', uid: 2000, gid: 100, role: 'user', email: 'alice@example.com', full_name: 'Alice "A" Ä',
    services: ['smb', 'dashboard'], groups: ['staff'], password_changed_at: new Date(1_700_000_000_123).toISOString(), must_change_password: false, source: 'local',
  });
  t.equal(profileOf(a), p, 'the same object for the same account');
  t.ok(Object.isFrozen(p) && Object.isFrozen(p.services) && Object.isFrozen(p.groups), 'frozen, so no caller can change what others see');
  const b = { ...a, email: null, version: 4 };
  t.equal(profileOf(b).email, null, 'a changed account (new object) has its own profile');
  (a as { version: number }).version = 5; // an edit in place would also bump the version
  t.not(profileOf(a), p, 'a new version of the same object is not served the old profile');
  t.equal(profileOf(account({ password_changed_at: null })).password_changed_at, null);
});

t.test('decisionJson is JSON.stringify(decisionBody(d)), byte for byte', async (t) => {
  const p = profileOf(account());
  const cases: Decision[] = [
    { reason: 'ok', message: 'accepted', profile: p, cached: true },
    { reason: 'ok', message: 'accepted', profile: p, cached: false },
    { reason: 'ok', message: 'accepted', profile: { ...p } }, // not frozen: not memoised, same text
    { reason: 'bad_credentials', message: 'incorrect user name or password' },
    { reason: 'locked_out', message: 'locked "out" \\ for now\n', retry_after: 42 },
    { reason: 'busy', message: 'busy', retry_after: 1, cached: false },
    { reason: 'service_denied', message: 'ünïcode 🔑 \u2028', profile: profileOf(account({ name: 'bob', version: 9 })), cached: true },
    { reason: 'must_change_password', message: 'change it', profile: p },
  ];
  for (const d of cases) {
    t.equal(decisionJson(d), JSON.stringify(decisionBody(d)), `${d.reason}${d.retry_after !== undefined ? ' with retry_after' : ''}${d.profile ? ' with profile' : ''}`);
    t.equal(decisionJson(d), JSON.stringify(decisionBody(d)), 'again (from the memo)');
  }
});

function capture() {
  const lines: string[] = [];
  const sink = new Writable({ write(c, _e, cb) { lines.push(...String(c).split('\n').filter(Boolean)); cb(); } });
  return { lines, sink };
}

t.test('writeAudit writes the line pino writes for the same fields', async (t) => {
  const { lines, sink } = capture();
  const log = makeLogger('info', null, sink);
  const audit = auditLogger(log);
  const strings = ['alice', 'quote " and \\ backslash', 'ctl \u0001 \n \t', 'ünïcode 🔑', 'x'.repeat(150), '', '\u2028\u2029', '<script>'];
  const samples: AuditFields[] = [];
  for (const s of strings) {
    samples.push({ audit: 'authenticate', user: s, service: 'dashboard', source: s.slice(0, 20), channel: 'query', reason: 'ok', cached: true });
    samples.push({ audit: 'authorize', user: 'bob', service: s, source: 'pam:sshd', channel: 'pam', reason: 'service_denied', cached: false });
  }
  for (const f of samples) {
    writeAudit(audit, f);
    audit.info(f);
  }
  await new Promise((r) => setImmediate(r));
  t.equal(lines.length, samples.length * 2, 'one line per call');
  const noTime = (l: string) => l.replace(/,"time":"[^"]+"/, '');
  for (let i = 0; i < samples.length; i++) {
    t.equal(noTime(lines[2 * i]), noTime(lines[2 * i + 1]), `sample ${i}: the same line`);
    t.match(lines[2 * i], /^\{"level":"info","time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z","svc":"nasauthd","audit":/, 'level, time and bindings first');
  }
  audit.level = 'warn';
  writeAudit(audit, samples[0]);
  await new Promise((r) => setImmediate(r));
  t.equal(lines.length, samples.length * 2, 'nothing written below the logger level');
});

t.test('isoTime is pino\'s isoTime, formatted once per millisecond', async (t) => {
  const a = isoTime();
  t.match(a, /^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
  const ms = Date.parse(JSON.parse(`{${a.slice(1)}}`).time);
  t.ok(Math.abs(ms - Date.now()) < 1000, 'it is now');
  t.equal(pino.stdTimeFunctions.isoTime().length, a.length, 'same shape as pino\'s');
});

t.test('jsonString is JSON.stringify for every string', async (t) => {
  const samples = ['', 'plain', 'a"b', 'a\\b', 'tab\t', '\u0000', '\u001f', ' ~', '\u007f', 'é', '🔑', '\ud800', '\udc00x', '\u2028', 'x'.repeat(96), 'x'.repeat(97), '"'.repeat(200)];
  for (let c = 0; c < 0x3000; c += 7) samples.push(`a${String.fromCharCode(c)}b`);
  for (const s of samples) if (jsonString(s) !== JSON.stringify(s)) t.fail(`differs for ${JSON.stringify(s)}`);
  t.pass(`${samples.length} strings agree`);
});

t.test('declaredLength reads Content-Length from rawHeaders, any case', async (t) => {
  const req = (raw: string[]) => ({ rawHeaders: raw }) as never;
  t.equal(declaredLength(req(['Host', 'nas', 'Content-Length', '42'])), 42);
  t.equal(declaredLength(req(['content-length', '7', 'Host', 'nas'])), 7);
  t.equal(declaredLength(req(['CONTENT-LENGTH', '99999'])), 99999);
  t.equal(declaredLength(req(['Host', 'nas'])), 0, 'none declared');
  t.equal(declaredLength(req(['Content-Lengthx', '5'])), 0, 'another header');
});

t.test('the event loop runs above the thread pool (loop-priority.ts), as root', async (t) => {
  t.equal(loopNice({}), -5, 'default');
  t.equal(loopNice({ NASAUTH_LOOP_NICE: '0' }), 0, 'turned off');
  t.equal(loopNice({ NASAUTH_LOOP_NICE: '-10' }), -10);
  for (const bad of ['5', '-21', 'x', '']) t.equal(loopNice({ NASAUTH_LOOP_NICE: bad }), -5, `ignored: ${JSON.stringify(bad)}`);
  if (process.getuid?.() !== 0) { t.comment('not root: the daemon keeps the ordinary priority (checked as root)'); return; }
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  const ready = await waitForMatch('the ready line', d.logs, /"event":"ready".*"loop_nice":(-?\d+)/);
  t.equal(Number(ready[1]), -5, 'the ready line says the event loop runs at nice -5');
  const niceOf = (tid: string) => Number(readFileSync(`/proc/${d.pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ')[16]);
  const tids = readdirSync(`/proc/${d.pid}/task`);
  t.equal(niceOf(String(d.pid)), -5, 'main thread: nice -5');
  t.ok(tids.filter((x) => x !== String(d.pid)).every((x) => niceOf(x) === 0), 'every other thread (the pool, V8\'s) keeps nice 0');
  const r = await authenticate(d, 'nobody', 'Wrong-pass-1', 'dashboard');
  t.equal(r.body.reason, 'bad_credentials', 'and it answers (a slow hash ran on the pool)');
});

t.test('the pool\'s threads are found by the job that starts it (loop-priority.ts)', async (t) => {
  t.equal(floodPoolNice({}), 19, 'during a flood: the lowest priority');
  t.equal(floodPoolNice({ NASAUTH_FLOOD_POOL_NICE: '0' }), 0, 'turned off');
  t.equal(floodPoolNice({ NASAUTH_FLOOD_POOL_NICE: '10' }), 10);
  for (const bad of ['-1', '20', 'x', '']) t.equal(floodPoolNice({ NASAUTH_FLOOD_POOL_NICE: bad }), 19, `ignored: ${JSON.stringify(bad)}`);
  t.equal(poolSize({}), 4, 'libuv default');
  t.equal(poolSize({ UV_THREADPOOL_SIZE: '8' }), 8);
  t.equal(poolSize({ UV_THREADPOOL_SIZE: '0' }), 1, 'libuv starts at least one');
  t.equal(poolSize({ UV_THREADPOOL_SIZE: 'x' }), 1, 'atoi: 0, so one');
  t.equal(poolSize({ UV_THREADPOOL_SIZE: '5000' }), 1024, 'libuv caps it');
  t.same(poolThreads(['1', '2'], ['1', '2', '7', '8', '9', '10'], 4), [7, 8, 9, 10]);
  t.same(poolThreads(['1', '2'], ['1', '2', '7', '8', '9'], 4), [], 'not the pool\'s size: another thread, or the pool started earlier');
  t.same(poolThreads(['1', '2'], ['1', '2'], 4), [], 'nothing new: the pool was already running');
  t.same(poolThreads(['1'], ['1', '7', '8', '9', '10', '11'], 4), [], 'one thread too many: not trusted');
});

t.test('during a flood of wrong passwords the pool\'s threads run at nice 19, and go back after it, as root', async (t) => {
  if (process.getuid?.() !== 0) { t.comment('not root: the daemon keeps the ordinary priority (checked as root)'); return; }
  const d = await startDaemon({ config: { scrypt: { log_n: 12, max_in_flight: 2, max_queued: 8 }, rate_limit: { tracked_names: 200, tracked_sources: 50 } } });
  t.teardown(async () => { await d.stop(); cleanup(d); });
  const ready = await waitForMatch('the ready line', d.logs, /"event":"ready".*"pool_threads":(\d+)/);
  t.equal(Number(ready[1]), poolSize(), 'the ready line counts the pool\'s threads it found');
  const stat = (tid: string) => readFileSync(`/proc/${d.pid}/task/${tid}/stat`, 'utf8').split(') ')[1].split(' ');
  const nice = (tid: string) => Number(stat(tid)[16]);
  const ticks = (tid: string) => Number(stat(tid)[11]) + Number(stat(tid)[12]);
  const others = () => readdirSync(`/proc/${d.pid}/task`).filter((x) => x !== String(d.pid));
  t.ok(others().every((x) => nice(x) === 0), 'before the flood every thread but the event loop\'s has nice 0');
  const before = new Map(others().map((x) => [x, ticks(x)]));
  let wave = 0;
  while (!/"event":"hash_flood"/.test(d.logs()) && wave < 50) {
    await Promise.all(Array.from({ length: 40 }, (_, i) => authenticate(d, `flood${wave}x${i}`, 'guess-guess', 'smb', `203.0.113.${i + 1}`)));
    wave++;
  }
  t.match(d.logs(), /"event":"hash_flood","hashes_at_once":1,"pool_nice":19/, 'the flood line says the pool runs at nice 19');
  // keep it flooded while looking
  const more = Promise.all(Array.from({ length: 40 }, (_, i) => authenticate(d, `more${i}`, 'guess-guess', 'smb', `198.51.100.${i + 1}`)));
  const low = others().filter((x) => nice(x) === 19);
  t.equal(low.length, poolSize(), 'the pool\'s threads, and only they, run at nice 19');
  t.equal(nice(String(d.pid)), -5, 'the event loop keeps nice -5');
  await more;
  const spent = (xs: string[]) => xs.reduce((n, x) => n + ticks(x) - (before.get(x) ?? 0), 0);
  const rest = others().filter((x) => !low.includes(x));
  t.ok(spent(low) > spent(rest), `the lowered threads are the ones that hashed (CPU ticks: ${spent(low)} lowered, ${spent(rest)} the other threads)`);
  // the flood is over when the queue has been empty 2 s: the next check says so
  await new Promise((r) => setTimeout(r, 2200));
  await authenticate(d, 'after-flood', 'guess-guess', 'smb', '192.0.2.1');
  await waitForMatch('the flood-over line', d.logs, /"event":"hash_flood_over","hashes_at_once":2,"pool_nice":0/);
  t.ok(others().every((x) => nice(x) === 0), 'after the flood every thread but the event loop\'s has nice 0 again');
});

t.test('serviceGroups: one pass in name order gives what one filtered, sorted copy per group gave', async (t) => {
  const names = ['alice', 'Bob', 'bob', 'zoë', 'émile', 'a', 'ab', 'a-b', 'a_b', 'z9', 'Z10', '_x', 'ä', 'ａ'];
  for (const seed of [1, 2, 3, 42, 99]) {
    const r = prng(seed);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)];
    const dir = mkdtempSync(join(tmpdir(), 'nasauth-sg-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'nasauth.yaml');
    // three service groups, one of them for a service only admins may use
    writeFileSync(file, stringify(testConfig(dir, { nss: { enabled: false }, service_groups: { smb: { name: 'g-smb', gid: 60530 }, timemachine: { name: 'g-tm', gid: 60531 }, ssh: { name: 'g-ssh', gid: 60532 } } })));
    const cfg = loadConfig(file);
    const d = emptyStore();
    const n = 50 + Math.floor(r() * 300);
    for (let i = 0; i < n; i++) {
      const name = `${pick(names)}${Math.floor(r() * 1000)}`.toLowerCase();
      if (d.accounts[name]) continue;
      const services = ['smb', 'timemachine', 'afp', 'dashboard', 'ssh'].filter(() => r() < 0.6);
      d.accounts[name] = {
        name, uid: 2000 + i, gid: 100, rid: 2000 + i, role: r() < 0.2 ? 'admin' : 'user', email: null, full_name: '', enabled: r() < 0.85,
        services, groups: [], verifiers: {}, must_change_password: false, password_changed_at: null, lockout_until: null, created_at: 0, version: 1,
      };
    }
    mkdirSync(cfg.state_dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(cfg.state_dir, 'store.json'), encodeStore(d), { mode: 0o600 });
    const { store } = Store.open(cfg.state_dir);
    const auth = new Authority(cfg, store, pino({ level: 'silent' }) as never);
    // what serviceGroups did before: a filtered copy per group, each sorted
    const mayUse = (a: Account, s: string) => a.enabled && a.services.includes(s) && (cfg.services[s]?.roles.includes(a.role) ?? false);
    const want = Object.entries(cfg.service_groups).map(([service, g]) => ({ name: g.name, gid: g.gid, service, members: store.accounts().filter((a) => mayUse(a, service)).map((a) => a.name).sort() }));
    t.same(auth.serviceGroups(), want, `seed ${seed}: ${Object.keys(d.accounts).length} accounts in random order`);
  }
  const list = [{ name: 'b' }, { name: 'a' }, { name: 'B' }, { name: 'ä' }] as Account[];
  t.same(byName(list).map((a) => a.name), list.map((a) => a.name).sort(), 'byName sorts as Array#sort sorts strings');
  const sorted = [...list].sort((x, y) => (x.name < y.name ? -1 : 1));
  t.equal(byName(sorted), sorted, 'a list in name order is returned as it is');
});
