// 10,000 directory users: the refresh reads them with paged searches (the directory
// refuses to send that many in one plain search), every one reaches NSS and logs in,
// and the refresh stays bounded (upstream.refresh.max_users: past it nothing changes).
// Time and memory are measured by the bench (npm run bench:directory), not here.
import t from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { authenticate, cleanup, cli, startDaemon, testConfig, type Daemon } from './helpers/daemon';
import { tempDir } from './helpers/tmp';
import { canRun } from './helpers/env';
import { PEOPLE, posixGroupLdif, slapdMissing, startSlapd, upstreamConfig, userLdif, writeSecret, type Slapd } from './helpers/slapd';
import { waitFor } from './helpers/wait';

const USERS = 10_000;
const LIMIT = 500;

if (!canRun(t, slapdMissing())) {
  // reported by canRun
} else {
  const tmp = tempDir('nasauth-upscale-');
  let s: Slapd;
  let d: Daemon;
  t.teardown(async () => {
    await d?.stop();
    if (d) cleanup(d);
    await s?.stop();
    s?.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  });
  const name = (i: number) => `user${String(i).padStart(5, '0')}`;
  const cfg = (maxUsers: number) => upstreamConfig(s, {
    secretFile: writeSecret(tmp),
    extra: { refresh: { interval_seconds: 3600, jitter_seconds: 60, page_size: 500, max_users: maxUsers, max_groups: 1000 } },
  });

  t.before(async () => {
    const seed: string[] = [];
    for (let i = 0; i < USERS; i++) seed.push(userLdif({ name: name(i), uid: 100_000 + i, password: `Pass-${i}-x`, samba: i % 2 === 0, mail: `${name(i)}@example.org` }));
    seed.push(posixGroupLdif('everyone', 40001, Array.from({ length: 2000 }, (_, i) => name(i))));
    s = await startSlapd({ seed: seed.join(''), sizeLimit: LIMIT });
    d = await startDaemon({ config: cfg(50_000) });
  });

  t.test('the directory itself refuses one plain search for all of them', async (t) => {
    const r = s.searchAsService(PEOPLE, '(objectClass=posixAccount)');
    t.not(r.code, 0, 'ldapsearch without paging fails');
    t.match(r.out, /Size limit exceeded/);
  });

  t.test('the refresh reads all 10,000 with paged searches', async (t) => {
    await waitFor('the first refresh', () => /"upstream":"refresh","why":"schedule","ok":true/.test(d.logs()), 120_000, 200);
    const line = /"upstream":"refresh","why":"schedule","ok":true,"ms":(\d+),"users":(\d+),"groups":(\d+),"created":(\d+)/.exec(d.logs())!;
    t.equal(Number(line[2]), USERS, 'every user read');
    t.equal(Number(line[4]), USERS, 'every user made an account');
    t.comment(`first refresh of ${USERS} users: ${line[1]} ms (measured properly by npm run bench:directory)`);
    const passwd = readFileSync(join(d.dir, 'nss', 'passwd'), 'utf8').trim().split('\n');
    t.equal(passwd.length, USERS, 'NSS has all of them');
    t.match(readFileSync(join(d.dir, 'nss', 'group'), 'utf8'), /^everyone:x:40001:user00000,user00001,/m);
    const srch = (s.log().match(/SRCH base="ou=people,dc=example,dc=org" scope=2 deref=0 filter="\(objectClass=posixAccount\)"/g) ?? []).length;
    t.ok(srch >= USERS / 500, `${srch} page requests of at most 500`);
  });

  t.test('any of them signs in', async (t) => {
    for (const i of [0, 4321, USERS - 1]) t.equal((await authenticate(d, name(i), `Pass-${i}-x`)).body.reason, 'ok', name(i));
    t.equal((await authenticate(d, name(7), 'Pass-8-x')).body.reason, 'bad_credentials');
  });

  t.test('a second refresh with nothing new changes nothing, and writes nothing', async (t) => {
    const gen = async () => JSON.parse((await cli(d, ['--json', 'status'])).stdout).store.generation;
    const before = await gen();
    const r = await cli(d, ['directory', 'refresh']);
    t.match(r.stdout, /10000 users, 1 groups; 0 new, 0 changed, 0 removed/, r.stdout);
    t.equal(await gen(), before, 'the store was not rewritten');
  });

  t.test('past upstream.refresh.max_users the refresh stops and nothing changes', async (t) => {
    writeFileSync(d.config, stringify(testConfig(d.dir, cfg(5000))));
    const n = (d.logs().match(/"event":"reloaded"/g) ?? []).length;
    d.proc.kill('SIGHUP');
    await waitFor('the reload', () => (d.logs().match(/"event":"reloaded"/g) ?? []).length > n);
    const r = await cli(d, ['directory', 'refresh']);
    t.equal(r.code, 1);
    t.match(r.stdout, /the refresh failed: the directory holds more than 5000 users \(upstream\.refresh\.max_users\); nothing was changed/);
    t.equal(readFileSync(join(d.dir, 'nss', 'passwd'), 'utf8').trim().split('\n').length, USERS, 'every account is still there');
    t.equal((await authenticate(d, name(9999), 'Pass-9999-x')).body.reason, 'ok', 'and still signs in');
  });
}
