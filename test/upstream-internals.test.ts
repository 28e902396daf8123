// daemon/upstream/ from the inside: the upstream: config (strict, errors that name the
// file and the key), docs/directory.md's YAML, the filter a name becomes (structured, so
// a real slapd finds nothing for "*"), the Password Modify encoding, how entries become
// accounts, and how failures are put into words.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvalidCredentialsError, type Entry } from 'ldapts';
import { loadConfig } from '../daemon/config';
import { NasauthError } from '../daemon/errors';
import { Directory, classify, escapeFilterValue, passwordModifyValue, userFilter, userFilterText } from '../daemon/upstream/directory';
import { changedAt, roleAndServices, toGroup, toUser } from '../daemon/upstream/mapping';
import { DAEMON, ROOT } from './helpers/daemon';
import { tempDir } from './helpers/tmp';
import { canRun } from './helpers/env';
import { PEOPLE, SERVICE_DN, SERVICE_PW, slapdMissing, startSlapd, userLdif, type Slapd } from './helpers/slapd';

const scratch = tempDir('nasauth-upint-');
t.teardown(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
const conf = (yaml: string) => {
  const f = join(scratch, `c${n++}.yaml`);
  writeFileSync(f, `version: 1\nstate_dir: ${scratch}/state\nrun_dir: ${scratch}/run\n${yaml}`);
  return f;
};
writeFileSync(join(scratch, 'secret'), 'x\n', { mode: 0o600 });
const good = `upstream:\n  enabled: true\n  urls: [ldaps://ldap.home.lan]\n  bind_dn: cn=nas,dc=home,dc=lan\n  bind_secret_file: ${scratch}/secret\n  user_base: ou=people,dc=home,dc=lan\n`;

t.test('the upstream: block is checked like the rest of the config', async (t) => {
  t.equal(loadConfig(null).upstream.enabled, false, 'off in the embedded default');
  const c = loadConfig(conf(good));
  t.equal(c.upstream.enabled, true);
  t.equal(c.upstream.user_filter, '(objectClass=posixAccount)', 'defaults fill the rest');
  t.same(c.upstream.attributes.full_name, ['displayName', 'cn']);
  const bad: Array<[string, string, RegExp]> = [
    ['unknown key', 'upstream: { enabled: false, binddn: x }\n', /c\d+\.yaml: upstream\.binddn: expected no such key/],
    ['no URL', 'upstream: { enabled: true, user_base: "ou=p,dc=x" }\n', /upstream\.urls: expected at least one directory URL/],
    ['not an LDAP URL', good.replace('ldaps://ldap.home.lan', 'http://ldap.home.lan'), /upstream\.urls\[0\]: expected an ldap:\/\/HOST\[:PORT\], ldaps:\/\/HOST\[:PORT\] or ldapi:\/\/PATH URL/],
    ['bind DN without its secret', good.replace(`  bind_secret_file: ${scratch}/secret\n`, ''), /upstream\.bind_secret_file: expected bind_dn and bind_secret_file together/],
    ['missing secret file', good.replace(`${scratch}/secret`, `${scratch}/nope`), /upstream\.bind_secret_file: expected an existing file/],
    ['missing CA file', `${good}  ca_file: ${scratch}/ca.pem\n`, /upstream\.ca_file: expected an existing PEM file/],
    ['a timeout PAM would not wait for', `${good}  timeout_ms: 9000\n`, /upstream\.timeout_ms: expected an integer from 100 to 8000/],
    ['unbalanced filter', `${good}  user_filter: "(&(objectClass=posixAccount)"\n`, /upstream\.user_filter: expected an LDAP filter with balanced parentheses/],
    ['filter without parentheses', `${good}  user_filter: objectClass=posixAccount\n`, /upstream\.user_filter: expected an LDAP filter in parentheses/],
    ['unknown service', `${good}  service_groups: { telnet: [g] }\n`, /upstream\.service_groups\.telnet: expected a service listed under services/],
    ['no user base', good.replace('  user_base: ou=people,dc=home,dc=lan\n', ''), /upstream\.user_base: expected the DN under which the directory keeps its users/],
    ['membership model', `${good}  group_membership: groupOfNames\n`, /upstream\.group_membership: expected one of member_uid, member, member_of/],
    ['jitter not below the interval', `${good}  refresh: { interval_seconds: 60, jitter_seconds: 60 }\n`, /upstream\.refresh\.jitter_seconds: expected a value below/],
  ];
  for (const [name, yaml, re] of bad) {
    let err: unknown = null;
    try { loadConfig(conf(yaml)); } catch (e) { err = e; }
    t.ok(err instanceof NasauthError, `${name}: refused`);
    t.match((err as Error)?.message, re, name);
  }
  const r = spawnSync(process.execPath, [DAEMON, '--config', conf(good.replace('ldaps://', 'ftp://')), '--check-config'], { encoding: 'utf8' });
  t.equal(r.status, 2, 'nasauthd --check-config: exit 2');
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
});

t.test('every YAML example in docs/directory.md validates', async (t) => {
  const doc = readFileSync(join(ROOT, 'docs', 'directory.md'), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([^`]*)```/g)].map((m) => m[1].replace(/^ {3}/gm, ''));
  t.ok(blocks.length >= 1, 'the guide has a config example');
  const etc = join(scratch, 'etc');
  mkdirSync(etc, { recursive: true });
  writeFileSync(join(etc, 'directory.secret'), 'x\n', { mode: 0o600 });
  writeFileSync(join(etc, 'directory-ca.pem'), '-----BEGIN CERTIFICATE-----\n');
  for (const b of blocks) {
    const c = loadConfig(conf(b.replace(/\/etc\/nasauth/g, etc)));
    t.equal(c.upstream.enabled, true, 'parses and validates');
  }
});

t.test('a name is an assertion value, never filter syntax', async (t) => {
  t.equal(escapeFilterValue('a*b(c)d\\e\0f'), 'a\\2ab\\28c\\29d\\5ce\\00f', 'RFC 4515 escapes for log lines');
  const cfg = loadConfig(conf(good)).upstream;
  t.equal(userFilterText(cfg, 'x)(uid=*'), '(&(objectClass=posixAccount)(uid=x\\29\\28uid=\\2a))');
  const f = userFilter(cfg, '*') as unknown as { filters: Array<{ attribute?: string; value?: string }> };
  t.equal(f.filters[1].attribute, 'uid');
  t.equal(f.filters[1].value, '*', 'a star is a literal value in an equality filter, not a presence test');
});

t.test('Password Modify request value (RFC 3062)', async (t) => {
  const v = passwordModifyValue('uid=a,dc=x', Buffer.from('old'), Buffer.from('new-pw'));
  t.same([...v], [0x30, 0x19, 0x80, 10, ...Buffer.from('uid=a,dc=x'), 0x81, 3, ...Buffer.from('old'), 0x82, 6, ...Buffer.from('new-pw')]);
  const w = passwordModifyValue('uid=a,dc=x', null, Buffer.alloc(200, 0x61));
  t.same([...w.subarray(0, 4)], [0x30, 0x81, 12 + 3 + 200, 0x80], 'long form lengths, no old password');
});

t.test('entries become accounts, or say why not', async (t) => {
  const cfg = loadConfig(conf(good));
  const u = cfg.upstream;
  const e = (o: Record<string, unknown>) => ({ dn: 'uid=X,ou=p', ...o }) as unknown as Entry;
  const ok = toUser(e({ uid: 'Alice', uidNumber: '20001', gidNumber: '100', displayName: 'Alice: A\nB', sambaNTPassword: 'aabbccddeeff00112233445566778899', sambaAcctFlags: '[U          ]' }), u, Date.now());
  t.match(ok, { name: 'alice', uid: 20001, full_name: 'Alice  A B', nt: 'AABBCCDDEEFF00112233445566778899', disabled: false });
  t.match(toUser(e({ uid: 'root', uidNumber: '20002', gidNumber: '1' }), u, 0), { why: /reserved/ });
  t.match(toUser(e({ uid: 'bob', uidNumber: '999', gidNumber: '1' }), u, 0), { why: /from 1000/ });
  t.match(toUser(e({ uid: 'bo b', uidNumber: '20003', gidNumber: '1' }), u, 0), { why: /not a valid account name/ });
  t.match(toUser(e({ uid: 'carl', uidNumber: '20004', gidNumber: '1', sambaAcctFlags: '[UD         ]' }), u, 0), { disabled: true });
  t.match(toUser(e({ uid: 'dora', uidNumber: '20005', gidNumber: '1', shadowExpire: '1' }), u, Date.now()), { disabled: true }, 'shadowExpire in the past');
  t.match(toUser(e({ uid: 'dora', uidNumber: '20005', gidNumber: '1', shadowExpire: '99999' }), u, Date.now()), { disabled: false });
  t.match(toUser(e({ uid: 'eve', uidNumber: '20006', gidNumber: '1', sambaNTPassword: '00000000000000000000000000000000' }), u, 0), { nt: null }, 'an all-zero hash is no hash');
  t.match(toGroup(e({ cn: 'Staff', gidNumber: '3000', memberUid: ['Alice', 'bob'] }), u), { name: 'staff', gid: 3000, member_uids: ['alice', 'bob'] });
  t.equal(changedAt('1700000000'), 1_700_000_000_000, 'sambaPwdLastSet');
  t.equal(changedAt('20240102030405Z'), Date.UTC(2024, 0, 2, 3, 4, 5), 'pwdChangedTime');
  t.equal(changedAt('garbage'), null);
  const c2 = loadConfig(conf(`${good}  admin_groups: [NAS-Admins]\n  service_groups: { ssh: [shell] }\n`));
  t.same(roleAndServices(c2, ['nas-admins']), { role: 'admin', services: ['afp', 'dashboard', 'smb', 'ssh', 'timemachine'] });
  t.same(roleAndServices(c2, ['shell']), { role: 'user', services: ['afp', 'dashboard', 'smb', 'ssh', 'timemachine'] });
  t.same(roleAndServices(c2, []), { role: 'user', services: ['afp', 'dashboard', 'smb', 'timemachine'] });
});

t.test('failures in words an admin can act on', async (t) => {
  t.match(classify(Object.assign(new Error('unable to verify the first certificate'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }), 'ldaps://h', 'connect'), { kind: 'tls', message: /TLS failed: .*upstream\.ca_file/ });
  t.match(classify(new InvalidCredentialsError('x'), 'ldap://h', 'service_bind'), { kind: 'service_bind', message: /check upstream\.bind_secret_file/ });
  t.match(classify(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'ldap://h', 'op'), { kind: 'unreachable', message: 'ldap://h: cannot connect: ECONNREFUSED' });
  t.match(classify(new Error('Connection timeout'), 'ldap://h', 'connect'), { kind: 'unreachable', message: /no connection within upstream\.connect_timeout_ms/ });
});

t.test('against a real slapd: hostile names match nothing, the real one matches once', async (t) => {
  if (!canRun(t, slapdMissing())) return;
  let s: Slapd | null = null;
  t.teardown(async () => { await s?.stop(); s?.cleanup(); });
  s = await startSlapd({ seed: userLdif({ name: 'alice', uid: 20001, password: 'Pass-a-one-1' }) + userLdif({ name: 'alicia', uid: 20002, password: 'Pass-b-one-1' }) });
  const cfg = loadConfig(conf(`upstream:\n  enabled: true\n  urls: ["${s.ldapiUrl}"]\n  bind_dn: ${SERVICE_DN}\n  bind_secret_file: ${scratch}/secret\n  user_base: ${PEOPLE}\n`)).upstream;
  const dir = new Directory({ cfg, secret: SERVICE_PW, ca: null });
  t.teardown(() => dir.close());
  const find = async (name: string) => (await dir.search({ base: PEOPLE, filter: userFilter(cfg, name), attributes: ['uid'], sizeLimit: 5 }, Date.now() + 5000)).map((x) => x.uid);
  t.same(await find('alice'), ['alice']);
  for (const hostile of ['*', 'ali*', 'alice)(uid=*', '*)(|(uid=*', 'alice\\2a', 'ALICE*', '\0']) t.same(await find(hostile), [], JSON.stringify(hostile));
  t.ok(await dir.checkPassword(`uid=alice,${PEOPLE}`, 'Pass-a-one-1', Date.now() + 5000), 'a bind as the user');
  t.notOk(await dir.checkPassword(`uid=alice,${PEOPLE}`, 'Pass-b-one-1', Date.now() + 5000), 'a wrong password is a plain no');
});

t.test('anonymous search (no bind_dn): the directory is asked without a service identity', async (t) => {
  if (!canRun(t, slapdMissing())) return;
  let s: Slapd | null = null;
  t.teardown(async () => { await s?.stop(); s?.cleanup(); });
  s = await startSlapd({ anonymousRead: true, seed: userLdif({ name: 'alice', uid: 20001, password: 'Pass-a-one-1' }) });
  const cfg = loadConfig(conf(`upstream:\n  enabled: true\n  urls: ["${s.ldapiUrl}"]\n  user_base: ${PEOPLE}\n`)).upstream;
  t.equal(cfg.bind_dn, null);
  const dir = new Directory({ cfg, secret: null, ca: null });
  t.teardown(() => dir.close());
  const found = await dir.search({ base: PEOPLE, filter: userFilter(cfg, 'alice'), attributes: ['uid'], sizeLimit: 2 }, Date.now() + 5000);
  t.same(found.map((x) => x.uid), ['alice'], 'found anonymously');
  t.ok(await dir.checkPassword(`uid=alice,${PEOPLE}`, 'Pass-a-one-1', Date.now() + 5000), 'and the password checked by a bind as the user');
  t.match(s.log(), /BIND dn="" method=128/, 'the search connection bound anonymously');
});
