// nasauth doctor: one case per cause of a failed login, each named in plain words, and
// a clean bill of health (exit 0) when everything is in place.
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

t.before(async () => {
  const dir = tempDir('nasauth-doc-');
  etc = join(dir, 'etc');
  mkdirSync(join(etc, 'pam.d'), { recursive: true });
  mkdirSync(join(dir, 'nss'), { recursive: true });
  writeFileSync(join(etc, 'nsswitch.conf'), 'passwd: files extrausers\ngroup: files extrausers\nshadow: files\n');
  const ldap = join(dir, 'run', 'ldapi.sock');
  writeFileSync(join(etc, 'smb.conf'), `[global]\n  passdb backend = ldapsam:ldapi://${encodeURIComponent(ldap)}\n`);
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
  writeFileSync(join(etc, 'pam.d', 'sshd'), 'auth required pam_unix.so\n');
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
    t.match(r.out, new RegExp(`alice can log in to ${svc}`));
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
  const cases: Array<[string[], RegExp]> = [
    [['nosuch', 'smb'], /there is no account named "nosuch"/],
    [['root', 'smb'], /not a NAS account but a system account \(uid 0\)/],
    [['bert', 'smb'], /the account is disabled/],
    [['carol', 'smb'], /no password is set/],
    [['dave', 'dashboard'], /must be changed first/],
    [['erin', 'afp'], /erin may not use afp \(allowed: smb\)/],
    [['frank', 'ssh'], /ssh is only for the roles admin, and frank is a user/],
    [['kim', 'smb'], /no NT hash: SMB and Time Machine will fail until kim logs in once elsewhere/],
    [['alice', 'teleport'], /"teleport" is not a service nasauth knows/],
    [['alice', 'ssh'], /alice may not use ssh/],
  ];
  for (const [args, re] of cases) {
    const r = await doctor(...args);
    t.equal(r.code, 1, `${args.join(' ')}: exit 1`);
    t.match(r.out, re, args.join(' '));
    t.match(r.out, /FAIL/, `${args.join(' ')}: a failing check is marked`);
  }
});

t.test('recent failures are a warning, with the audit trail', async (t) => {
  const r = await doctor('gina', 'smb');
  t.match(r.out, /warn\s+recent failed attempts: the next try must wait/);
  t.match(r.out, /last refusals: .*smb from 192\.0\.2\.44: bad_credentials/);
});

t.test('smb: what smbd sees through the LDAP view', async (t) => {
  let r = await doctor('alice', 'smb');
  t.match(r.out, /ok\s+smbd sees alice through the LDAP view: flags \[U[A-Z ]*\], uid \d+, SID S-1-5-21-/);
  r = await doctor('bert', 'smb');
  t.match(r.out, /smbd sees the account disabled \(\[[A-Z ]+\]\): NT_STATUS_ACCOUNT_DISABLED/);
  r = await doctor('carol', 'smb');
  t.match(r.out, /smbd gets no NT hash from the LDAP view/);
});

t.test('lockout', async (t) => {
  const d2 = await startDaemon({ config: { rate_limit: { backoff_after: 3, backoff_base_ms: 0, backoff_max_ms: 0, lockout_after: 3 } } });
  t.teardown(async () => { await d2.stop(); cleanup(d2); });
  await addUser(d2, 'hank', 'Correct-horse-8');
  for (let i = 0; i < 3; i++) await authenticate(d2, 'hank', 'bad-' + i);
  const r = await cli(d2, ['doctor', 'hank']);
  t.match(r.stdout, /locked out until .* \(nasauth unlock hank\)/);
  t.equal(r.code, 1);
});

t.test('the services around the daemon', async (t) => {
  // smbd pointed elsewhere, or using its own tdbsam
  writeFileSync(join(etc, 'smb.conf'), '[global]\n  passdb backend = tdbsam\n');
  let r = await doctor('alice', 'smb');
  t.match(r.out, /smbd is pointed elsewhere: .*tdbsam/);
  writeFileSync(join(etc, 'smb.conf'), '[global]\n  workgroup = WG\n');
  r = await doctor('alice', 'smb');
  t.match(r.out, /no "passdb backend" line: smbd uses its own tdbsam/);
  // PAM profile missing, not using the module, or on the wrong socket
  r = await doctor('alice', 'ftp');
  t.match(r.out, /pam\.d\/vsftpd is missing/);
  r = await doctor('alice', 'ssh');
  t.match(r.out, /may not use ssh/);
  await cli(d, ['user', 'set', 'alice', '--role', 'admin', '--services', 'smb,afp,ssh,dashboard,timemachine']);
  r = await doctor('alice', 'ssh');
  t.match(r.out, /pam\.d\/sshd does not use pam_nasauth\.so/);
  writeFileSync(join(etc, 'pam.d', 'netatalk'), 'auth required pam_nasauth.so socket=/run/elsewhere.sock\n');
  r = await doctor('alice', 'afp');
  t.match(r.out, /points pam_nasauth\.so at \/run\/elsewhere\.sock, but the daemon listens on/);
});

t.test('without the NSS line the system does not see NAS users', async (t) => {
  if (!canRun(t, needRoot())) return;
  const d3 = await startDaemon();
  t.teardown(async () => { await d3.stop(); cleanup(d3); });
  await addUser(d3, 'ivan', 'Correct-horse-9');
  const r = await cli(d3, ['doctor', 'ivan', 'smb']);
  t.match(r.stdout, /the system does not see ivan .* add "extrausers" to the passwd and group lines/);
});

t.test('--all: one line per account', async (t) => {
  const r = await cli(d, ['doctor', '--all', 'smb']);
  t.equal(r.code, 1, 'some accounts have problems');
  t.match(r.stdout, /^bert\s+the account is disabled/m);
  t.match(r.stdout, /^carol\s+.*no password is set/m);
});
