// nasauth doctor: one case per cause of a failed login, each in plain words with its fix
// (technical detail only with --verbose), an intended state (switched off on purpose, a
// service not allowed) as information with exit 0, and a clean bill of health (exit 0)
// when everything is in place.
import t from 'tap';
import { canRun, isRoot, needRoot } from './helpers/env';
import { tempDir } from './helpers/tmp';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addUser, authenticate, cleanup, cli, startDaemon, type Daemon } from './helpers/daemon';
import { mk } from './helpers/oldnas';

const root = isRoot;
let d: Daemon;
let etc: string;
let smbConf: string;

t.before(async () => {
  const dir = tempDir('nasauth-doc-');
  etc = join(dir, 'etc');
  mkdirSync(join(etc, 'pam.d'), { recursive: true });
  mkdirSync(join(dir, 'nss'), { recursive: true });
  writeFileSync(join(etc, 'nsswitch.conf'), 'passwd: files extrausers\ngroup: files extrausers\nshadow: files\n');
  const ldap = join(dir, 'run', 'ldapi.sock');
  smbConf = `[global]\n  netbios name = NAS\n  passdb backend = ldapsam:ldapi://${encodeURIComponent(ldap)}\n`;
  writeFileSync(join(etc, 'smb.conf'), `[global]\n  netbios name = NAS\n  passdb backend = ldapsam:ldapi://${encodeURIComponent(ldap)}\n`);
  d = await startDaemon({
    dir,
    config: {
      sockets: { ldap: { enabled: true } },
      integration: { smb_conf: join(etc, 'smb.conf'), pam_dir: join(etc, 'pam.d') },
      rate_limit: { backoff_after: 2, backoff_base_ms: 60000, backoff_max_ms: 60000, lockout_after: 50 },
    },
    // the daemon sees its own NSS files the way smbd would on the device
    binds: root ? [[join(etc, 'nsswitch.conf'), '/etc/nsswitch.conf'], [join(dir, 'nss'), '/var/lib/extrausers']] : undefined,
  });
  writeFileSync(join(etc, 'pam.d', 'netatalk'), `auth required pam_nasauth.so socket=${d.pam}\naccount required pam_nasauth.so socket=${d.pam}\n`);
  writeFileSync(join(etc, 'pam.d', 'sshd'), `auth required pam_nasauth.so socket=${d.pam}\n`);
  await addUser(d, 'alice', 'Correct-horse-1');
});
t.teardown(async () => { await d.stop(); cleanup(d); });

async function doctor(...args: string[]) {
  const r = await cli(d, ['doctor', ...args]);
  return { code: r.code, out: r.stdout + r.stderr };
}

t.test('all is well', async (t) => {
  if (!canRun(t, needRoot())) return;
  for (const svc of ['smb', 'afp', 'dashboard']) {
    const r = await doctor('alice', svc);
    t.equal(r.code, 0, `${svc}: exit 0\n${r.out}`);
    t.match(r.out, /alice can log in to .*, as far as nasauth can tell/);
    t.notMatch(r.out, /FAIL|NT_STATUS|must_change_password|LDAP view|\[U/, 'no jargon without --verbose');
  }
});

t.test('one cause each', async (t) => {
  await addUser(d, 'bert', 'Correct-horse-2', ['--disabled']);
  await cli(d, ['user', 'add', 'carol', '--no-password']);
  await addUser(d, 'dave', 'Correct-horse-4', ['--must-change']);
  await addUser(d, 'erin', 'Correct-horse-5', ['--services', 'smb']);
  await addUser(d, 'frank', 'Correct-horse-6', ['--services', 'ssh']);
  await addUser(d, 'gina', 'Correct-horse-7');
  for (let i = 0; i < 3; i++) await authenticate(d, 'gina', 'wrong-' + i, 'smb', '192.0.2.44');
  // an imported user whose old system had only a yescrypt hash (no smbpasswd entry)
  const old = tempDir('oldnas-kim-');
  mkdirSync(join(old, 'etc'));
  writeFileSync(join(old, 'etc', 'passwd'), 'kim:x:2001:100:Kim:/home/kim:/bin/sh\nalice:x:2002:100:Other Alice:/home/alice:/bin/sh\n');
  writeFileSync(join(old, 'etc', 'shadow'), `kim:${mk('yescrypt', 'Kims-old-pass1')}:19000:0:99999:7:::\nalice:*:19000:0:99999:7:::\n`);
  const imp = await cli(d, ['import', '--from', old]);
  t.match(imp.stdout, /skip\s+alice\s*\n\s+- an account "alice" was created in nasauth/, 'the import does not take over an account made in nasauth');
  // broken: FAIL, the fix, exit 1
  const broken: Array<[string[], RegExp, RegExp]> = [
    [['nosuch', 'smb'], /there is no account named "nosuch"/, /fix: check the spelling \(nasauth user list\), or create it: nasauth user add nosuch/],
    [['root', 'smb'], /"root" is one of this box's own system accounts, not a NAS account/, /fix: give the person a NAS account of another name/],
    [['carol', 'smb'], /carol has no password yet, so carol cannot sign in anywhere/, /fix: nasauth user passwd carol/],
    [['kim', 'smb'], /kim cannot use file sharing \(SMB\) or Time Machine yet: the old system did not hand over the form of the password/, /fix: kim signs in once on the NAS web page with the same password \(that repairs it\)/],
    [['alice', 'teleport'], /"teleport" is not a service nasauth knows/, /fix: use one of: smb, timemachine/],
  ];
  for (const [args, re, fix] of broken) {
    const r = await doctor(...args);
    t.equal(r.code, 1, `${args.join(' ')}: exit 1`);
    t.match(r.out, re, args.join(' '));
    t.match(r.out, fix, `${args.join(' ')}: the one fix`);
    t.match(r.out, /FAIL/, `${args.join(' ')}: a failing check is marked`);
    t.match(r.out, /cannot log in.*: the problems? above needs? fixing/);
  }
  // the imported account without an NT hash hears one story, not two that disagree, and is
  // not sent to ssh, which its role cannot use
  const kim = await doctor('kim', 'smb');
  t.equal((kim.out.match(/fix:/g) ?? []).length, 1, `one fix for kim:\n${kim.out}`);
  t.notMatch(kim.out, /ssh/);
  // as the admin intended: info, the way to change it, exit 0
  const intended: Array<[string[], RegExp, RegExp]> = [
    [['bert', 'smb'], /bert's account is switched off on purpose: after the right password bert is told "this account is disabled"/, /to change it: nasauth user set bert --enable/],
    [['dave', 'dashboard'], /dave must choose a new password first: the next sign-in asks for it/, /to change it: dave signs in on the NAS web page and chooses a new password/],
    [['erin', 'afp'], /erin may not use Mac file sharing \(AFP\): the admin has not allowed it \(erin may use file sharing \(SMB\)\)/, /to change it: nasauth service allow erin afp/],
    [['frank', 'ssh'], /the command line \(ssh\) is only for administrators, and frank is a user/, /to change it: only if frank should be an administrator: nasauth user set frank --role admin/],
    [['alice', 'ssh'], /alice may not use the command line \(ssh\)/, /nasauth service allow alice ssh/],
  ];
  for (const [args, re, fix] of intended) {
    const r = await doctor(...args);
    t.equal(r.code, 0, `${args.join(' ')}: exit 0, nothing is broken\n${r.out}`);
    t.match(r.out, re, args.join(' '));
    t.match(r.out, fix, `${args.join(' ')}: how to change it`);
    t.match(r.out, /^info/m);
    t.match(r.out, /cannot log in to .*, as the admin intended/);
    t.notMatch(r.out, /must_change_password|NT_STATUS|service_denied|\[U/, 'no jargon without --verbose');
  }
  // --verbose: the technical detail behind the words
  const v = await doctor('bert', 'smb', '--verbose');
  t.match(v.out, /detail: enabled: false; SMB answers NT_STATUS_ACCOUNT_DISABLED/);
  const j = JSON.parse((await cli(d, ['--json', 'doctor', 'dave', 'dashboard'])).stdout).diagnosis;
  t.match(j.checks.find((c: { id: string }) => c.id === 'must_change'), { level: 'info', blocks: true, detail: /must_change_password/ }, '--json keeps the machine-readable codes');
});

t.test('recent failures are a warning, with the audit trail', async (t) => {
  const r = await doctor('gina', 'smb', '--verbose');
  t.match(r.out, /warn\s+recent wrong passwords for gina: the next try must wait/);
  t.match(r.out, /the last refused sign-ins of gina: .*file sharing \(SMB\) from 192\.0\.2\.44/);
  t.match(r.out, /detail: reasons: smb: bad_credentials/);
});

t.test('smb: what smbd sees through the LDAP view', async (t) => {
  let r = await doctor('alice', 'smb', '--verbose');
  t.match(r.out, /ok\s+file sharing \(SMB\) sees alice as nasauth does\n\s+detail: what smbd reads from the LDAP view: flags \[U[A-Z ]*\], uid \d+, SID S-1-5-21-/);
  r = await doctor('bert', 'smb', '--verbose');
  t.match(r.out, /file sharing \(SMB\) tells bert "account disabled"/);
  t.match(r.out, /flags \[U[A-Z ]+\].*NT_STATUS_ACCOUNT_DISABLED/);
  r = await doctor('carol', 'smb', '--verbose');
  t.match(r.out, /file sharing \(SMB\) sees carol as nasauth does \(without a password form, see above\)\n\s+detail: .*NT hash absent/);
});

t.test('lockout', async (t) => {
  const d2 = await startDaemon({ config: { rate_limit: { backoff_after: 3, backoff_base_ms: 0, backoff_max_ms: 0, lockout_after: 3 } } });
  t.teardown(async () => { await d2.stop(); cleanup(d2); });
  await addUser(d2, 'hank', 'Correct-horse-8');
  for (let i = 0; i < 3; i++) await authenticate(d2, 'hank', 'bad-' + i);
  const r = await cli(d2, ['doctor', 'hank']);
  t.match(r.stdout, /hank is locked out until .* after too many wrong passwords.*\n\s+fix: nasauth unlock hank/);
  t.equal(r.code, 1);
});

t.test('the services around the daemon', async (t) => {
  // smbd pointed elsewhere, or using its own tdbsam
  writeFileSync(join(etc, 'smb.conf'), '[global]\n  passdb backend = tdbsam\n');
  let r = await doctor('alice', 'smb', '--verbose');
  t.match(r.out, /file sharing \(SMB\) asks somewhere else for passwords, not nasauth/);
  t.match(r.out, /detail: smbd is pointed elsewhere: .*tdbsam/);
  writeFileSync(join(etc, 'smb.conf'), '[global]\n  workgroup = WG\n');
  r = await doctor('alice', 'smb', '--verbose');
  t.match(r.out, /file sharing \(SMB\) keeps passwords of its own instead of asking nasauth/);
  t.match(r.out, /fix: in .*smb\.conf \[global\]: passdb backend = ldapsam:ldapi:\/\//);
  t.match(r.out, /no "passdb backend" line: smbd uses its own tdbsam/);
  // PAM profile missing, not using the module, or on the wrong socket
  r = await doctor('alice', 'ftp', '--verbose');
  t.match(r.out, /FTP is not set up to ask nasauth/);
  t.match(r.out, /pam\.d\/vsftpd is missing/);
  r = await doctor('alice', 'ssh');
  t.match(r.out, /may not use the command line \(ssh\)/);
  await cli(d, ['user', 'set', 'alice', '--role', 'admin', '--services', 'smb,afp,ssh,dashboard,timemachine']);
  writeFileSync(join(etc, 'pam.d', 'sshd'), 'auth required pam_unix.so\n');
  r = await doctor('alice', 'ssh', '--verbose');
  t.match(r.out, /the command line \(ssh\) checks passwords somewhere else, not with nasauth/);
  t.match(r.out, /pam\.d\/sshd does not use pam_nasauth\.so/);
  writeFileSync(join(etc, 'pam.d', 'netatalk'), 'auth required pam_nasauth.so socket=/run/elsewhere.sock\n');
  r = await doctor('alice', 'afp', '--verbose');
  t.match(r.out, /Mac file sharing \(AFP\) asks nasauth at the wrong address, so every sign-in fails/);
  t.match(r.out, /points pam_nasauth\.so at \/run\/elsewhere\.sock, but the daemon listens on/);
});

t.test('without the NSS line the system does not see NAS users', async (t) => {
  if (!canRun(t, needRoot())) return;
  const d3 = await startDaemon();
  t.teardown(async () => { await d3.stop(); cleanup(d3); });
  await addUser(d3, 'ivan', 'Correct-horse-9');
  const r = await cli(d3, ['doctor', 'ivan', 'smb']);
  t.match(r.stdout, /the system does not see NAS accounts such as ivan, so file sharing refuses them before even asking for the password\n\s+fix: add "extrausers" to the passwd and group lines/);
});

t.test('--all: one line per account', async (t) => {
  writeFileSync(join(etc, 'smb.conf'), smbConf);
  const r = await cli(d, ['doctor', '--all', 'smb']);
  t.equal(r.code, 1, 'some accounts have problems');
  t.match(r.stdout, /^bert\s+as intended: bert's account is switched off on purpose/m);
  t.match(r.stdout, /^carol\s+FAIL: carol has no password yet.* → nasauth user passwd carol/m);
  t.match(r.stdout, /accounts need fixing \(nasauth doctor NAME says how\)/);
});

t.test('--all exits 0 when every account is as the admin intended', async (t) => {
  const d4 = await startDaemon();
  t.teardown(async () => { await d4.stop(); cleanup(d4); });
  await addUser(d4, 'lena', 'Correct-horse-10');
  await addUser(d4, 'mona', 'Correct-horse-11', ['--disabled']);
  await addUser(d4, 'nico', 'Correct-horse-12', ['--services', 'smb']);
  const r = await cli(d4, ['doctor', '--all', 'dashboard']);
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.match(r.stdout, /^lena\s+ok/m);
  t.match(r.stdout, /^mona\s+as intended: mona's account is switched off on purpose/m);
  t.match(r.stdout, /^nico\s+as intended: nico may not use the NAS web page/m);
  t.match(r.stdout, /all 3 accounts are as the admin intended/);
});
