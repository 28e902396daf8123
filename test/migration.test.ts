// The migration keeps everything (issue 13), end to end: an old firmware's /etc with a
// low-uid owner and a disabled built-in admin beside it, a uid used twice, an upper-case
// name, a non-ASCII password whose NT hash an old Samba made from the wrong bytes, a
// primary gid 0, group and user names the new system already has, an empty-password NT
// hash and Samba's "no password required" flag; imported into a daemon whose system
// (private /etc in a mount namespace) has users of its own, with smbd on a renamed box.
// Every importable user then logs in with the old password over SMB (real smbd), PAM
// (pamtester through pam_nasauth.so) and the query socket; every e-mail arrives; the
// report names each choice; doctor says each case in plain words.
import t from 'tap';
import { tempDir } from './helpers/tmp';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { authenticate, cleanup, cli, readStore, startDaemon, type Daemon } from './helpers/daemon';
import { canRun, needRoot } from './helpers/env';
import { mk, ntOf } from './helpers/oldnas';
import { daemonPamDir, outcome, pamtester, rmrf } from './helpers/pam';
import { sambaMissing, smbclient, startSamba, type Samba } from './helpers/samba';
import { waitForMatch } from './helpers/wait';
import { md4 } from '../daemon/md4';

const EMPTY_NT = '31D6CFE0D16AE931B73C59D7E0C089C0';
/** What an old Samba stored for a non-ASCII password: the UTF-8 bytes read as Latin-1. */
const wrongBytesNt = (pw: string) => md4(Buffer.from(Buffer.from(pw, 'utf8').toString('latin1'), 'utf16le')).toString('hex').toUpperCase();

interface Person { name: string; login: string; nas: string; password: string; email?: string }

/** A private /etc for the daemon: the host's users and groups plus what a firmware adds. */
function systemEtc(extraPasswd: string[], extraGroup: string[]) {
  const dir = tempDir('nasauth-sysetc-');
  writeFileSync(join(dir, 'passwd'), readFileSync('/etc/passwd', 'utf8') + extraPasswd.map((l) => `${l}\n`).join(''));
  writeFileSync(join(dir, 'group'), readFileSync('/etc/group', 'utf8') + extraGroup.map((l) => `${l}\n`).join(''));
  writeFileSync(join(dir, 'nsswitch.conf'), 'passwd: files extrausers\ngroup: files extrausers\nshadow: files\n');
  return dir;
}

function buildFirmware() {
  const dir = tempDir('oldfw-');
  mkdirSync(join(dir, 'etc', 'samba'), { recursive: true });
  const people: Person[] = [
    { name: 'jane', login: 'jane', nas: 'jane', password: 'Jane-owner-1', email: 'jane@example.com' }, // the owner, uid 501
    { name: 'tom', login: 'tom', nas: 'tom', password: 'Tom-pass-22', email: 'tom@example.org' },
    { name: 'tim', login: 'tim', nas: 'tim', password: 'Tim-pass-33', email: 'tim@example.org' }, // same uid as tom
    { name: 'Ulla', login: 'Ulla', nas: 'ulla', password: 'Ulla-pass-44', email: 'ulla@example.net' }, // upper case
    { name: 'jose', login: 'jose', nas: 'jose', password: 'José-Pässwörd5', email: 'jose@example.es' }, // stale NT hash, gid 0
    { name: 'www', login: 'webmaster', nas: 'webmaster', password: 'Www-pass-66', email: 'www@example.com' }, // the system has a user www
  ];
  const pw = (n: string) => people.find((p) => p.name === n)!;
  const passwd = [
    'root:x:0:0:root:/root:/bin/sh',
    'sshd:x:105:65534::/run/sshd:/usr/sbin/nologin',
    'admin:x:500:1000:built-in admin:/shares/admin:/bin/sh', // disabled, not the owner
    'jane:x:501:1000:Jane Owner:/shares/jane:/bin/sh',
    'tom:x:1001:1000:Tom:/shares/tom:/bin/sh',
    'tim:x:1001:1000:Tim (same uid as tom):/shares/tim:/bin/sh',
    'Ulla:x:1003:1000:Ulla Upper:/shares/Ulla:/bin/sh',
    'jose:x:1004:0:José:/shares/jose:/bin/sh',
    'www:x:1005:1000:Web:/shares/www:/bin/sh',
    'svc:x:1006:1000:backup service:/shares/svc:/bin/sh',
    'guest2:x:1007:1000:guest:/shares/guest2:/bin/sh',
  ];
  const shadow = [
    'root:*:19000:0:99999:7:::',
    `admin:!${mk('sha512crypt', 'Builtin-admin-0')}:19000:0:99999:7:::`,
    ...people.map((p) => `${p.name}:${mk('sha512crypt', p.password)}:19500:0:99999:7:::`),
    'svc::19500:0:99999:7:::',
    'guest2:*:19500:0:99999:7:::',
  ];
  const group = ['root:x:0:', 'users:x:1000:tom,tim,Ulla,jose,www', 'administrators:x:1010:jane', 'www:x:1011:tom,www', 'family:x:1012:jane,tom,Ulla'];
  const smb = [
    `admin:500:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:${ntOf('Builtin-admin-0')}:[UD         ]:LCT-5F5E1000:`,
    ...people.map((p) => `${p.name}:${passwd.find((l) => l.startsWith(`${p.name}:`))!.split(':')[2]}:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:${p.name === 'jose' ? wrongBytesNt(p.password) : ntOf(p.password)}:[U          ]:LCT-5F5E1000:`),
    `svc:1006:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:${EMPTY_NT}:[U          ]:LCT-5F5E1000:`,
    `guest2:1007:XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX:${ntOf('Guest-pass-77')}:[UN         ]:LCT-5F5E1000:`,
  ];
  const meta = `users:
  jane: { email: jane@example.com, role: admin, full_name: "Jane Owner" }
${people.filter((p) => p.name !== 'jane').map((p) => `  ${p.name}: { email: ${p.email} }`).join('\n')}
  svc: { email: svc@example.com }
`;
  writeFileSync(join(dir, 'etc', 'passwd'), passwd.join('\n') + '\n');
  writeFileSync(join(dir, 'etc', 'shadow'), shadow.join('\n') + '\n');
  writeFileSync(join(dir, 'etc', 'group'), group.join('\n') + '\n');
  writeFileSync(join(dir, 'etc', 'samba', 'smbpasswd'), smb.join('\n') + '\n');
  writeFileSync(join(dir, 'nasauth-users.yaml'), meta);
  return { dir, people, pw };
}

if (!canRun(t, needRoot()) || !canRun(t, sambaMissing())) {
  // reported by canRun
} else {
  t.test('an old firmware, imported whole', async (t) => {
    const fw = buildFirmware();
    const etc = systemEtc(['www:x:990:990:system web server:/var/www:/usr/sbin/nologin'], ['www:x:990:']);
    const nss = tempDir('nasauth-nss-');
    const smbConf = join(etc, 'smb.conf');
    const d: Daemon = await startDaemon({
      createAdmin: true,
      config: {
        sockets: { ldap: { enabled: true } }, netbios_name: 'NAS', nss: { enabled: true, dir: nss },
        integration: { smb_conf: smbConf },
        rate_limit: { backoff_after: 50, lockout_after: 100, source_failures: 10000 },
      },
      binds: [[join(etc, 'passwd'), '/etc/passwd'], [join(etc, 'group'), '/etc/group'], [join(etc, 'nsswitch.conf'), '/etc/nsswitch.conf'], [nss, '/var/lib/extrausers']],
    });
    let s: Samba | undefined;
    let pamd: string | undefined;
    t.teardown(async () => { await s?.stop(); await d.stop(); cleanup(d); for (const x of [fw.dir, etc, nss]) rmSync(x, { recursive: true, force: true }); if (pamd) rmrf(pamd); });
    t.ok(readStore(d).accounts.admin?.must_change_password, 'the first start made "admin" with a one-time password');

    // a dry run without options: every choice the import would make on its own, named
    const dry = JSON.parse((await cli(d, ['--json', 'import', '--from', fw.dir, '--dry-run'])).stdout).report;
    const by = (r: { accounts: Array<{ name: string }> }) => Object.fromEntries(r.accounts.map((a) => [a.name, a])) as unknown as Record<string, { outcome: string; notes: string[]; as?: string; uid?: number; owner?: boolean }>;
    let a = by(dry);
    t.match(dry.owner, { name: 'jane', why: /role admin in .*member of the old admin group "administrators"/, carried_onto: 'admin' }, 'the owner is jane (admin role and group), not the disabled built-in admin');
    t.match(a.jane.notes[0], /the old owner .*carried over onto the first-start admin "admin": password, e-mail, full name, groups; the one-time password no longer works; the account is now named "jane"/);
    t.match(a.jane.notes.join(' '), /uid 501 is (below|outside) the NAS range/);
    t.match(a.tim.notes.join(' '), /uid 1001 is also used by "tom" on the old system: imported with uid \d+ \(choose another with --uid tim=N/);
    t.match(a.Ulla, { as: 'ulla', notes: [/imported as "ulla"; Ulla still logs in as "Ulla"/] });
    t.match(a.jose.notes.join(' '), /primary gid 0 \(the system's group "root"\) is not a NAS group: mapped to the NAS default group \(gid 100\); gid 0 is root's group/);
    t.match(a.www, { outcome: 'skip', notes: [/the system already has a user "www" \(uid 990\).*--rename www=NEWNAME/] });
    t.match(a.svc.notes.join(' '), /the NT hash is that of an empty password .*not imported/);
    t.match(a.svc.notes.join(' '), /no usable password: nobody can log in as svc until the admin sets one/);
    t.match(a.guest2.notes.join(' '), /Samba's "no password required" flag \(\[N\]\)/);
    t.equal(a.admin.outcome, 'create');
    t.match(a.admin.notes.join(' '), /uid 500 is outside the NAS range .*imported with uid \d+.*disabled in Samba \(\[D\]\): imported disabled/, 'the disabled built-in admin keeps its state, as a disabled account');
    t.same(dry.emails_not_carried, [{ name: 'www', email: 'www@example.com', why: a.www.notes[0] }], 'the one e-mail that would not arrive is listed, with why');
    const groups = Object.fromEntries(dry.groups.map((g: { name: string }) => [g.name, g]));
    t.match(groups.users.notes.join(' '), /the system already has a group "users" \(gid 100\), and it is the NAS default group .* merged into it/);
    t.match(groups.www, { outcome: 'skip', notes: [/the system already has a group "www" \(gid 990\).*--rename-group www=NEWNAME/] });
    const human = await cli(d, ['import', '--from', fw.dir, '--dry-run']);
    t.match(human.stdout, /old owner: jane \(role admin .*\), carried over onto the first-start admin "admin"/);
    t.match(human.stdout, /e-mails NOT carried over \(1\):\n\s+- www: www@example.com/);

    // the import, with the admin's choices for what the import cannot choose itself
    const run = await cli(d, ['--json', 'import', '--from', fw.dir, '--rename', 'www=webmaster', '--rename-group', 'www=webteam', '--uid', 'tim=1500']);
    t.equal(run.code, 0, run.stderr);
    const rep = JSON.parse(run.stdout).report;
    a = by(rep);
    t.same(rep.emails_not_carried, [], 'every e-mail is carried over');
    t.match(a.www, { outcome: 'create', as: 'webmaster', notes: [/renamed to "webmaster" \(--rename www=webmaster\)/] });
    t.match(a.tim, { uid: 1500, notes: [/uid 1500 \(--uid tim=1500; it had 1001/] });
    t.notMatch(run.stdout, /\$6\$|[0-9A-F]{32}/, 'no hash in the report');
    const st = readStore(d);
    t.notOk(st.accounts.admin?.first_start, 'the first-start admin is not left behind untouched');
    t.equal(st.accounts.jane.role, 'admin');
    t.equal(st.accounts.jane.must_change_password, false, 'the owner\'s real password does not inherit must-change');
    t.equal(st.accounts.jane.full_name, 'Jane Owner');
    t.ok(st.accounts.jane.uid >= 1000, 'the owner has a uid in the NAS range');
    t.same(st.accounts.jane.groups, ['administrators', 'family'], 'the owner\'s groups came with her');
    t.equal(st.accounts.admin.enabled, false, 'the old built-in admin came over disabled, under its own name');
    t.same(st.groups.webteam.members, ['tom', 'webmaster']);
    t.notOk(st.groups.users, 'no NAS group "users" beside the system\'s');
    t.equal(st.accounts.jose.gid, 100, 'gid 0 mapped to the default group');
    for (const p of fw.people) t.equal(st.accounts[p.nas].email, p.email, `${p.name}'s e-mail arrived`);
    t.equal(st.accounts.svc.email, 'svc@example.com');
    t.same(st.accounts.svc.verifiers, {}, 'svc has no password at all');

    // real smbd, on a box renamed to OLDNAS while nasauth.yaml says NAS
    const secret = readFileSync(join(d.stateDir, 'ldap-bind.secret'), 'utf8').trim();
    s = await startSamba({ ldapi: d.ldap, bindSecret: secret, nssDir: nss, global: { 'netbios name': 'OLDNAS' } });
    writeFileSync(smbConf, `[global]\n  netbios name = OLDNAS\n  passdb backend = ldapsam:ldapi://${encodeURIComponent(d.ldap)}\n`);
    pamd = daemonPamDir(d);
    const pam = (user: string, password: string) => pamtester({ pamd: pamd!, service: 'netatalk', user, ops: ['authenticate'], input: [password] }).then(outcome);

    // every importable user, the old password, every service (SMB first: no plaintext login has happened yet)
    for (const p of fw.people) {
      const r = await smbclient(s, 'Public', p.login, p.password);
      if (p.name === 'jose') {
        t.match(r.out, /NT_STATUS_LOGON_FAILURE/, 'jose: SMB refuses the right password while the stale NT hash is there');
        const doc = await cli(d, ['doctor', 'jose', 'smb']);
        t.match(doc.stdout, /warn\s+file sharing \(SMB\) should take jose's old password, but that is not proven yet/);
        t.match(doc.stdout, /fix: if SMB refuses the right password: jose signs in once on the NAS web page/);
      } else t.equal(r.code, 0, `${p.name}: SMB with the old password\n${r.out}`);
      t.equal(await pam(p.login, p.password), 'ok', `${p.name}: PAM (afp) with the old password`);
      const q = await authenticate(d, p.login, p.password, 'dashboard');
      t.equal(q.body.reason, 'ok', `${p.name}: query socket (dashboard) with the old password`);
      t.equal(q.body.user.email, p.email, `${p.name}: the profile has the e-mail`);
      t.equal((await authenticate(d, p.login, p.password + 'x', 'dashboard')).body.reason, 'bad_credentials', `${p.name}: a wrong password fails`);
    }
    // the plaintext login proved jose's shadow hash and replaced the stale NT hash: SMB now works
    await waitForMatch('nt_hash_replaced for jose', () => d.logs(), /"audit":"nt_hash_replaced","user":"jose"/);
    t.equal((await smbclient(s, 'Public', 'jose', 'José-Pässwörd5')).code, 0, 'jose: SMB works after one plaintext login');
    t.notMatch(d.logs(), /José-Pässwörd5|Jos\\u00e9/, 'no password in the log');
    t.equal(readStore(d).accounts.jose.nt_confirmed, true);
    t.equal(readStore(d).accounts.tom.nt_confirmed, true, 'tom\'s imported NT hash was confirmed by his first plaintext login');
    t.match(d.logs(), /smbd asks for the domain \\"OLDNAS\\" but netbios_name is \\"NAS\\"/, 'the renamed box is logged once, with the fix');

    // no empty password anywhere: svc (empty NT hash) and guest2 ([N])
    for (const u of ['svc', 'guest2', 'jane']) {
      t.match((await smbclient(s, 'Public', u, '')).out, /NT_STATUS_LOGON_FAILURE|NT_STATUS_ACCESS_DENIED|NT_STATUS_ACCOUNT_DISABLED/, `${u}: SMB refuses an empty password`);
      t.not((await smbclient(s, 'Public', u, '')).code, 0);
      t.equal(await pam(u, ''), 'AUTH_ERR', `${u}: PAM refuses an empty password`);
      t.equal((await authenticate(d, u, '', 'dashboard')).body.reason, 'bad_credentials', `${u}: the query socket refuses an empty password`);
    }
    t.same(readStore(d).accounts.svc.verifiers, {}, 'and nothing was stored for it');

    // doctor, in words, for each case
    const doc = async (...args: string[]) => { const r = await cli(d, ['doctor', ...args]); return { code: r.code, out: r.stdout }; };
    let r = await doc('svc', 'smb');
    t.equal(r.code, 1);
    t.match(r.out, /FAIL\s+svc has no password yet, so svc cannot sign in anywhere/);
    t.match(r.out, /fix: nasauth user passwd svc/);
    r = await doc('admin', 'smb');
    t.equal(r.code, 0, 'the built-in admin is switched off on purpose: not a failure');
    t.match(r.out, /admin's account is switched off on purpose/);
    r = await doc('jane', 'smb');
    t.match(r.out, /warn\s+the NAS has two names: Samba calls it "OLDNAS", nasauth "NAS"/);
    t.match(r.out, /fix: set netbios_name: OLDNAS in nasauth.yaml/);
    t.match(r.out, /jane can log in to file sharing \(SMB\), as far as nasauth can tell/);
    for (const u of ['ulla', 'tim', 'webmaster', 'jose']) {
      r = await doc(u, 'smb');
      t.equal(r.code, 0, `doctor ${u}: nothing broken\n${r.out}`);
    }
    const all = await cli(d, ['doctor', '--all', 'dashboard']);
    t.match(all.stdout, /^svc\s+FAIL: svc has no password yet/m);
    t.match(all.stdout, /^guest2\s+FAIL: guest2 has no password yet/m);
    t.match(all.stdout, /^admin\s+as intended: admin's account is switched off on purpose/m);
    t.match(all.stdout, /^jane\s+ok/m);

    // a second import changes nothing
    const gen = readStore(d).generation;
    const again = JSON.parse((await cli(d, ['--json', 'import', '--from', fw.dir, '--rename', 'www=webmaster', '--rename-group', 'www=webteam', '--uid', 'tim=1500'])).stdout).report;
    t.equal(again.summary.create + again.summary.update, 0, `second run: ${JSON.stringify(again.summary)}`);
    t.equal(readStore(d).generation, gen, 'not even the store generation');
  });

  t.test('names and ids the system already has', async (t) => {
    // a firmware with its own system "admin": the first start must not take that name
    const etc = systemEtc(['admin:x:500:500:firmware admin:/home/admin:/bin/sh', 'backupd:x:1234:1234::/:/usr/sbin/nologin'], ['admin:x:500:', 'media:x:1300:']);
    const binds: Array<[string, string]> = [[join(etc, 'passwd'), '/etc/passwd'], [join(etc, 'group'), '/etc/group'], [join(etc, 'nsswitch.conf'), '/etc/nsswitch.conf']];
    const d1 = await startDaemon({ createAdmin: true, binds });
    t.teardown(async () => { await d1.stop(); cleanup(d1); });
    t.notOk(readStore(d1).accounts.admin, 'no NAS account "admin" beside the system\'s');
    t.match(d1.stderr(), /the admin account "admin" was not created: the system already has a user "admin" \(uid 500, from \/etc\/passwd\).*Set first_start.admin_name/);
    const d2 = await startDaemon({ createAdmin: true, binds, config: { first_start: { admin_name: 'nasadmin' } } });
    t.teardown(async () => { await d2.stop(); cleanup(d2); rmSync(etc, { recursive: true, force: true }); });
    t.ok(readStore(d2).accounts.nasadmin?.must_change_password, 'first_start.admin_name names the first admin');
    t.match(readFileSync(join(d2.stateDir, 'initial-admin-password'), 'utf8'), /one-time password of the account "nasadmin"/, 'its one-time password is left for root');

    const add = (args: string[]) => cli(d2, args, 'Correct-horse-1\n');
    let r = await add(['user', 'add', 'admin']);
    t.equal(r.code, 1);
    t.match(r.stderr, /the system already has a user "admin" \(uid 500, from \/etc\/passwd\).*choose another account name/);
    r = await add(['user', 'add', 'zoe', '--uid', '1234']);
    t.match(r.stderr, /uid 1234 already belongs to the system's user "backupd".*choose another uid/);
    r = await add(['user', 'add', 'zoe']);
    t.equal(r.code, 0, r.stderr);
    t.not(readStore(d2).accounts.zoe.uid, 1234);
    r = await cli(d2, ['user', 'set', 'zoe', '--uid', '1234']);
    t.match(r.stderr, /uid 1234 already belongs to the system's user "backupd"/);
    r = await cli(d2, ['group', 'add', 'admin']);
    t.match(r.stderr, /the system already has a group "admin" \(gid 500/);
    r = await cli(d2, ['group', 'add', 'photos', '--gid', '1300']);
    t.match(r.stderr, /gid 1300 already belongs to the system's group "media"/);
    r = await cli(d2, ['group', 'add', 'photos']);
    t.equal(r.code, 0, r.stderr);
    t.not(readStore(d2).groups.photos.gid, 1300);
  });
}

t.test('a store from before the fix: the NT hash of "" is removed at start', async (t) => {
  const d = await startDaemon();
  await d.stop();
  // write an account the way an old import stored it: NT hash of the empty password
  const file = join(d.stateDir, 'store.json');
  const buf = readFileSync(file);
  const data = JSON.parse(buf.subarray(buf.indexOf(10) + 1).toString('utf8'));
  data.accounts.old = { name: 'old', uid: 1100, gid: 100, rid: 1000, role: 'user', email: 'old@example.com', full_name: '', enabled: true, services: ['smb', 'dashboard'], groups: [], verifiers: { nt: EMPTY_NT }, must_change_password: false, password_changed_at: null, lockout_until: null, created_at: 1, version: 1 };
  const body = Buffer.from(JSON.stringify(data));
  const head = JSON.stringify({ format: 'nasauth-store', schema: 1, sha256: createHash('sha256').update(body).digest('hex'), length: body.length });
  writeFileSync(file, Buffer.concat([Buffer.from(head + '\n'), body]), { mode: 0o600 });
  const d2 = await startDaemon({ dir: d.dir });
  t.teardown(async () => { await d2.stop(); cleanup(d2); });
  t.same(readStore(d2).accounts.old.verifiers, {}, 'the empty-password hash is gone');
  t.match(d2.logs(), /"audit":"empty_password_removed","user":"old"/);
  t.equal((await authenticate(d2, 'old', '', 'dashboard')).body.reason, 'bad_credentials');
  const r = await cli(d2, ['doctor', 'old', 'dashboard']);
  t.match(r.stdout, /old has no password yet/);
});
