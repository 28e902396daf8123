// Import from an old NAS: every user logs in with the old password, e-mails arrive,
// conflicts are reported per account, dry runs change nothing, a second run changes
// nothing, and broken inputs are refused whole with the file and line named.
import t from 'tap';
import { appendFileSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { authenticate, cleanup, cli, readStore, startDaemon } from './helpers/daemon';
import { buildOldNas } from './helpers/oldnas';

t.test('a full migration', async (t) => {
  const old = buildOldNas();
  const d = await startDaemon({ config: { scrypt: { log_n: 10, max_in_flight: 2, max_queued: 64 } } });
  t.teardown(async () => { await d.stop(); cleanup(d); });

  const gen0 = readStore(d).generation;
  const dry = await cli(d, ['import', '--from', old.dir, '--dry-run']);
  t.equal(dry.code, 0, dry.stderr);
  t.match(dry.stdout, /dry run: nothing was changed/);
  t.equal(readStore(d).generation, gen0, 'dry run changed nothing');

  const run = await cli(d, ['--json', 'import', '--from', old.dir]);
  t.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout).report;
  const by = Object.fromEntries(report.accounts.map((a: { name: string }) => [a.name, a]));
  t.same(report.summary, { create: 8, update: 0, unchanged: 0, skip: 2 }, 'alice bob carol dave erin jurgen henry ivy created; frank and Gina skipped');
  // conflicts, per account, with what was done
  t.equal(by.frank.outcome, 'skip');
  t.match(by.frank.notes.join(' '), /uid 1001 is also used by "alice"/);
  t.equal(by.gina?.outcome ?? by.Gina.outcome, 'skip');
  t.match((by.Gina ?? by.gina).notes.join(' '), /not a valid account name/);
  t.match(by.henry.notes.join(' '), /in smbpasswd but not in passwd: imported with uid 1008/);
  t.match(by.ivy.notes.join(' '), /traditional DES crypt/);
  t.match(by.ivy.notes.join(' '), /no usable password: the admin must set one/);
  t.match(by.ivy.notes.join(' '), /e-mail "not an email" is not valid/);
  t.match(by.dave.notes.join(' '), /locked .* imported disabled/);
  t.match(by.bob.notes.join(' '), /no NT hash: SMB will fail until this user logs in once elsewhere/);
  t.notMatch(run.stdout, /\$6\$|\$y\$|\$2b\$|[0-9A-F]{32}/, 'the report never shows a hash');
  t.notOk(readStore(d).accounts.root, 'system accounts are not imported');

  // every user logs in with the old password
  for (const u of old.users) {
    const r = await authenticate(d, u.name, u.password, 'smb');
    t.equal(r.body.reason, u.disabled ? 'account_disabled' : 'ok', `${u.name} (${u.kind})`);
    if (u.email) t.equal(r.body.user.email, u.email, `${u.name}'s e-mail arrived`);
    t.equal((await authenticate(d, u.name, u.password + 'x', 'smb')).body.reason, 'bad_credentials', `${u.name}: a wrong password fails`);
  }
  t.equal((await authenticate(d, 'henry', old.henry.password, 'smb')).body.reason, 'ok', 'smbpasswd-only user');
  const s = readStore(d);
  t.equal(s.accounts.alice.role, 'admin', 'role from the metadata');
  t.same(s.accounts.bob.services, ['smb', 'timemachine', 'afp']);
  t.equal(s.accounts.jurgen.full_name, 'Jürgen Müller', 'non-ASCII full name');
  t.same(s.groups.family.members, ['alice', 'bob', 'carol'], 'group members that exist');

  // lazy upgrade: the first correct login replaced the legacy verifier and filled the NT hash
  t.ok(s.accounts.bob.verifiers.scrypt && s.accounts.bob.verifiers.nt, 'bob: yescrypt → scrypt + NT hash');
  t.notOk(s.accounts.bob.verifiers.legacy, 'no legacy verifier left for bob');
  const st = await cli(d, ['--json', 'status']);
  const status = JSON.parse(st.stdout);
  t.same(status.verifiers.without_nt_hash, ['ivy'], 'every account that logged in has an NT hash now; ivy has no password at all');
  t.equal(status.verifiers.legacy, 0, 'every legacy verifier was upgraded by its first login (even disabled dave\'s)');

  // the import is idempotent, and keeps what nasauth changed since
  await cli(d, ['user', 'set', 'erin', '--email', 'erin@new.example']);
  const gen1 = readStore(d).generation;
  const again = JSON.parse((await cli(d, ['--json', 'import', '--from', old.dir])).stdout).report;
  t.same(again.summary, { create: 0, update: 0, unchanged: 8, skip: 2 }, 'second run changes nothing');
  t.equal(readStore(d).generation, gen1, 'not even the store generation');
  t.match(again.accounts.find((a: { name: string }) => a.name === 'erin').notes.join(' '), /./);
  t.equal(readStore(d).accounts.erin.email, 'erin@new.example', 'an e-mail changed in nasauth is not overwritten');
});

t.test('status before any login: legacy verifiers and missing NT hashes are counted', async (t) => {
  const old = buildOldNas();
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  await cli(d, ['import', '--from', old.dir]);
  const st = await cli(d, ['status']);
  t.match(st.stdout, /5 legacy/);
  t.match(st.stdout, /no NT hash\s+bob, ivy: SMB will fail until this user logs in once elsewhere/);
});

t.test('broken inputs are refused whole, naming the file and line', async (t) => {
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  const gen = readStore(d).generation;
  const cases: Array<[string, (dir: string) => void, RegExp]> = [
    ['truncated passwd line', (dir) => appendFileSync(join(dir, 'etc', 'passwd'), 'zoe:x:1010:100\n'), /etc\/passwd:\d+: passwd lines have 7 fields/],
    ['wrong shadow field count', (dir) => appendFileSync(join(dir, 'etc', 'shadow'), 'zoe:$6$x$y\n'), /etc\/shadow:\d+: shadow lines have 9 fields/],
    ['binary garbage', (dir) => writeFileSync(join(dir, 'etc', 'group'), Buffer.from([0x72, 0x6f, 0x6f, 0x74, 0x0a, 0x00, 0xff, 0x13])), /etc\/group:2: binary data/],
    ['bad NT hash', (dir) => appendFileSync(join(dir, 'etc', 'samba', 'smbpasswd'), 'zoe:1010:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:NOTHEX:[U          ]:LCT-00000000:\n'), /smbpasswd:\d+: the NT hash field must be 32 hex digits/],
    ['non-numeric uid', (dir) => appendFileSync(join(dir, 'etc', 'passwd'), 'zoe:x:ten:100::/:/bin/sh\n'), /etc\/passwd:\d+: uid "ten" is not a number/],
    ['metadata unknown key', (dir) => writeFileSync(join(dir, 'nasauth-users.yaml'), 'users:\n  alice: { mail: a@b.c }\n'), /nasauth-users\.yaml:2: users\.alice\.mail: unknown key/],
    ['metadata not YAML', (dir) => writeFileSync(join(dir, 'nasauth-users.yaml'), 'users: [\n'), /nasauth-users\.yaml:\d+: not valid YAML/],
    ['huge file', (dir) => writeFileSync(join(dir, 'etc', 'passwd'), Buffer.alloc(9 * 1024 * 1024, 0x61)), /larger than 8 MiB/],
  ];
  for (const [name, damage, re] of cases) {
    const old = buildOldNas();
    damage(old.dir);
    const r = await cli(d, ['import', '--from', old.dir]);
    t.equal(r.code, 1, name);
    t.match(r.stderr, re, name);
    t.match(r.stderr, /nothing was imported/, name);
  }
  const r = await cli(d, ['import', '--from', '/nonexistent/old-root']);
  t.match(r.stderr, /not a directory/);
  t.equal(readStore(d).generation, gen, 'nothing was imported half-way');
});

t.test('CSV metadata, as spreadsheets write it', async (t) => {
  const old = buildOldNas();
  writeFileSync(join(old.dir, 'nasauth-users.yaml'), 'users: {}\n');
  require('node:fs').unlinkSync(join(old.dir, 'nasauth-users.yaml'));
  writeFileSync(join(old.dir, 'nasauth-users.csv'), 'name,email,full_name,role,services\nalice,alice@example.com,"Alice, the ""Admin""",admin,smb;dashboard\ncarol,carol@example.com,Carol,user,\n');
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); });
  const r = await cli(d, ['import', '--from', old.dir]);
  t.equal(r.code, 0, r.stderr);
  const s = readStore(d);
  t.equal(s.accounts.alice.full_name, 'Alice, the "Admin"');
  t.same(s.accounts.alice.services, ['smb', 'dashboard']);
  t.equal(s.accounts.carol.email, 'carol@example.com');
});
