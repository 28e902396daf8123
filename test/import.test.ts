// Import from an old NAS: every user logs in with the old password, e-mails arrive,
// conflicts are reported per account, dry runs change nothing, a second run changes
// nothing, and broken inputs are refused whole with the file and line named.
import t from 'tap';
import { tempDir } from './helpers/tmp';
import { appendFileSync, existsSync, writeFileSync, readFileSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { authenticate, cleanup, cli, http, oneTimePassword, readStore, startDaemon } from './helpers/daemon';
import { buildOldNas, mk } from './helpers/oldnas';

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
  t.same(report.summary, { create: 10, update: 0, unchanged: 0, skip: 0 }, 'everybody created: the conflicts are solved by reported choices');
  // conflicts, per account, with the choice the import made
  t.equal(by.frank.outcome, 'create');
  t.match(by.frank.notes.join(' '), /uid 1001 is also used by "alice" on the old system: imported with uid \d+ \(choose another with --uid frank=N/);
  t.not(by.frank.uid, 1001, 'frank got another uid');
  t.equal(by.Gina.outcome, 'create');
  t.equal(by.Gina.as, 'gina', 'upper-case name imported in lower case');
  t.match(by.Gina.notes.join(' '), /imported as "gina"; Gina still logs in as "Gina"/);
  t.same(report.emails_not_carried, [{ name: 'ivy', email: 'not an email', why: 'not a valid e-mail address' }], 'the only e-mail not carried over is the invalid one, and it is listed');
  t.match(report.owner, { name: 'alice', why: /role admin in/ }, 'alice (role admin) is recognised as the old owner');
  t.match(by.henry.notes.join(' '), /in smbpasswd but not in passwd: imported with uid 1008/);
  t.match(by.ivy.notes.join(' '), /traditional DES crypt/);
  t.match(by.ivy.notes.join(' '), /no usable password: nobody can log in as ivy until the admin sets one/);
  t.match(by.ivy.notes.join(' '), /e-mail "not an email" is not valid/);
  t.match(by.dave.notes.join(' '), /locked .* imported disabled/);
  t.match(by.bob.notes.join(' '), /no NT hash: SMB and Time Machine work after bob has logged in once on the web page/);
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
  t.same(status.verifiers.without_nt_hash, ['frank', 'gina', 'ivy'], 'every account that logged in has an NT hash now; frank, gina and ivy have no password at all');
  t.equal(status.verifiers.legacy, 0, 'every legacy verifier was upgraded by its first login (even disabled dave\'s)');

  // the import is idempotent, and keeps what nasauth changed since
  await cli(d, ['user', 'set', 'erin', '--email', 'erin@new.example']);
  const gen1 = readStore(d).generation;
  const again = JSON.parse((await cli(d, ['--json', 'import', '--from', old.dir])).stdout).report;
  t.same(again.summary, { create: 0, update: 0, unchanged: 10, skip: 0 }, 'second run changes nothing');
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
  t.match(st.stdout, /no NT hash\s+bob, frank, gina, ivy: SMB will fail until this user logs in once elsewhere/);
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
  // an option that names nobody is refused, not ignored
  const old = buildOldNas();
  for (const [args, re] of [
    [['--rename', 'zed=zoe'], /--rename zed=…: the old system has no account "zed"/],
    [['--uid', 'zed=2000'], /--uid zed=…: the old system has no account "zed"/],
    [['--rename-group', 'nogroup=x'], /--rename-group nogroup=…: the old system has no group "nogroup"/],
    [['--owner', 'zed'], /--owner zed: the old system has no account "zed"/],
    [['--uid', 'alice=abc'], /--uid alice=abc must be a number/],
    [['--rename', 'alice'], /--rename alice: expected OLD=NEW/],
  ] as Array<[string[], RegExp]>) {
    const x = await cli(d, ['import', '--from', old.dir, ...args]);
    t.not(x.code, 0, args.join(' '));
    t.match(x.stderr, re, args.join(' '));
  }
  // the same options sent raw to the admin socket, malformed
  const sources = { dir: old.dir, files: {}, passwd: [], shadow: [], group: [], smb: [], meta: [] };
  for (const [body, re] of [
    [{ rename: ['alice'] }, /"rename" must be an object/],
    [{ rename: { alice: 7 } }, /"rename.alice" must be a name/],
    [{ uid: { alice: -1 } }, /"uid.alice" must be a uid/],
    [{ uid: { alice: 1.5 } }, /"uid.alice" must be a uid/],
    [{ rename_group: { x: 'y'.repeat(65) } }, /"rename_group.x" must be a name/],
    [{ owner: 42 }, /"owner" must be an account name/],
  ] as Array<[Record<string, unknown>, RegExp]>) {
    const x = await http(d.admin, 'POST', '/v1/admin/import', { sources, dry_run: true, ...body });
    t.equal(x.status, 400, JSON.stringify(body));
    t.match(x.body.error.message, re);
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

t.test('a WD-style owner: "admin" with uid 500 and an e-mail, carried over onto the first-start admin', async (t) => {
  const dir = tempDir('oldnas-wd-');
  mkdirSync(join(dir, 'etc', 'samba'), { recursive: true });
  writeFileSync(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nadmin:x:500:1000::/shares/admin:/bin/sh\nbob:x:1001:1000:Bob:/shares/bob:/bin/sh\n');
  writeFileSync(join(dir, 'etc', 'shadow'), `admin:${mk('sha512crypt', 'Wd-admin-pass1')}:19000:0:99999:7:::\nbob:${mk('sha512crypt', 'Bob-pass-2')}:19000:0:99999:7:::\n`);
  writeFileSync(join(dir, 'etc', 'group'), 'administrators:x:1000:admin\n');
  writeFileSync(join(dir, 'nasauth-users.yaml'), 'users:\n  admin: { email: owner@example.com }\n  bob: { email: bob@example.com }\n');
  const d = await startDaemon({ createAdmin: true });
  t.teardown(async () => { await d.stop(); cleanup(d); rmSync(dir, { recursive: true, force: true }); });
  const oneTime = oneTimePassword(d);
  t.ok(oneTime, 'the first start left a one-time password for root');
  const before = readStore(d).accounts.admin;
  const r = await cli(d, ['--json', 'import', '--from', dir]);
  t.equal(r.code, 0, r.stderr);
  const rep = JSON.parse(r.stdout).report;
  t.match(rep.owner, { name: 'admin', carried_onto: 'admin', why: /member of the old admin group "administrators"/ });
  t.same(rep.emails_not_carried, []);
  const a = readStore(d).accounts.admin;
  t.equal(a.rid, before.rid, 'the same account (RID) as the first-start admin');
  t.equal(a.email, 'owner@example.com', 'the owner\'s e-mail is on the admin account');
  t.equal(a.must_change_password, false, 'no must-change on the owner\'s real password');
  t.ok(a.uid >= 1000 && a.uid !== 1001, `a NAS uid that is not bob's (${a.uid})`);
  t.same(a.groups, ['administrators']);
  const q = await authenticate(d, 'admin', 'Wd-admin-pass1', 'dashboard');
  t.equal(q.body.reason, 'ok', 'the old admin password works');
  t.equal(q.body.user.email, 'owner@example.com');
  t.equal((await authenticate(d, 'admin', oneTime!, 'dashboard')).body.reason, 'bad_credentials', 'the one-time password no longer does');
  t.equal(readStore(d).accounts.bob.uid, 1001, 'bob keeps his uid');
  // a second import: nothing changes, the owner is not carried twice
  const again = JSON.parse((await cli(d, ['--json', 'import', '--from', dir])).stdout).report;
  t.same(again.summary, { create: 0, update: 0, unchanged: 2, skip: 0 });
});

t.test('a shadow hash of the empty password is not a password', async (t) => {
  const old = buildOldNas();
  appendFileSync(join(old.dir, 'etc', 'passwd'), 'zed:x:1020:100:Zed:/shares/zed:/bin/sh\n');
  appendFileSync(join(old.dir, 'etc', 'shadow'), `zed:${mk('sha512crypt', '')}:19500:0:99999:7:::\n`);
  const d = await startDaemon();
  t.teardown(async () => { await d.stop(); cleanup(d); rmSync(old.dir, { recursive: true, force: true }); });
  const rep = JSON.parse((await cli(d, ['--json', 'import', '--from', old.dir])).stdout).report;
  const zed = rep.accounts.find((a: { name: string }) => a.name === 'zed');
  t.match(zed.notes.join(' '), /the shadow hash is that of an empty password: not imported/);
  t.match(zed.notes.join(' '), /no usable password: nobody can log in as zed until the admin sets one/);
  t.same(readStore(d).accounts.zed.verifiers, {});
  t.equal((await authenticate(d, 'zed', '', 'dashboard')).body.reason, 'bad_credentials');
});
